/*
 * index_int: what the parts of the index share (index_db.c, index_walk.c, index_query.c)
 * and nothing outside storage/index*.c may use: the open database, its prepared
 * statements, and the helpers that turn SQLite failures into err messages.
 */
#ifndef CASELEDGER_INDEX_INT_H
#define CASELEDGER_INDEX_INT_H

#include <stdbool.h>

#include <sqlite3.h>

#include "index.h"

/* The secondary indexes: a rebuild drops them, loads, and creates them again. */
extern const char index_secondary_sql[];
extern const char index_drop_secondary_sql[];

/* The catch-up statements, prepared on first use (ix_stmt). */
enum {
	ST_RECORD_PUT,
	ST_RECORD_ADD,
	ST_RECORD_GET,
	ST_RECORD_DEL,
	ST_FIELDS_DEL,
	ST_FIELDS_GET,
	ST_FIELD_DEL,
	ST_FIELD_PUT,
	ST_PERSONS_DEL,
	ST_PERSONS_GET,
	ST_PERSON_PUT,
	ST_CHANGE_PUT,
	ST_BRANCH_PUT,
	ST_COUNT
};

struct index {
	sqlite3 *db;		    /* the open index.db */
	char *path;		    /* its path */
	bool corrupt;		    /* a call met SQLITE_CORRUPT / SQLITE_NOTADB */
	sqlite3_stmt *st[ST_COUNT]; /* catch-up statements, prepared on first use */
	index_verify_fn verify;	    /* decides new commits before they are indexed, or NULL */
	void *verify_payload;
};

/* Set the message for a failed SQLite call on ix; marks ix corrupt when it is. */
int ix_fail(struct index *ix, int code, const char *what);
int ix_exec(struct index *ix, const char *sql);
int ix_prepare(sqlite3_stmt **out, struct index *ix, const char *sql);
/* The prepared statement which (reset, bindings cleared). */
int ix_stmt(sqlite3_stmt **out, struct index *ix, int which);
/* Step a statement that returns no row (or whose rows are not wanted). */
int ix_done(struct index *ix, sqlite3_stmt *st);
void ix_finalize_all(struct index *ix);

#endif
