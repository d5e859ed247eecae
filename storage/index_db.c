/*
 * index_db: the index database itself — its tables, its statements, turning SQLite
 * failures into messages, creating, opening, recovering a damaged file, and checking an
 * index against a fresh rebuild. The catch-up is index_walk.c, the queries index_query.c.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "err.h"
#include "index.h"
#include "index_int.h"
#include "ledger.h"
#include "util.h"

#define INDEX_BUSY_MS 30000

/* Secondary indexes. A rebuild drops the ones whose keys arrive in random order and
 * creates them after the load (sorting once is cheaper than a million random B-tree
 * inserts); records_type and changes_time stay, their keys arrive nearly in order
 * (few types and statuses, then the row number; commit times), and so does records_key:
 * upserts need it. */
const char index_secondary_sql[] =
    "CREATE INDEX IF NOT EXISTS records_type ON records(type, status);"
    "CREATE INDEX IF NOT EXISTS fields_value ON fields(type, field, value);"
    "CREATE INDEX IF NOT EXISTS persons_idnum ON persons(id_number);"
    "CREATE INDEX IF NOT EXISTS changes_record ON changes(branch, record);"
    "CREATE INDEX IF NOT EXISTS changes_time ON changes(time);";

const char index_drop_secondary_sql[] = "DROP INDEX IF EXISTS fields_value;"
					"DROP INDEX IF EXISTS persons_idnum;"
					"DROP INDEX IF EXISTS changes_record;";

static const char index_tables_sql[] =
    "CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
    "CREATE TABLE branches(branch TEXT PRIMARY KEY, head TEXT NOT NULL);"
    "CREATE TABLE records(rec INTEGER PRIMARY KEY, branch TEXT NOT NULL, id TEXT NOT NULL,"
    " type TEXT NOT NULL, status TEXT, office TEXT NOT NULL, void INTEGER NOT NULL,"
    " hlc TEXT, blob TEXT NOT NULL, json TEXT NOT NULL);"
    "CREATE UNIQUE INDEX records_key ON records(branch, id);"
    "CREATE TABLE fields(rec INTEGER NOT NULL, field TEXT NOT NULL, value, type TEXT NOT NULL,"
    " PRIMARY KEY(rec, field, value)) WITHOUT ROWID;"
    "CREATE TABLE persons(rec INTEGER NOT NULL, id_number TEXT NOT NULL, id_type TEXT,"
    " PRIMARY KEY(rec, id_number)) WITHOUT ROWID;"
    "CREATE TABLE changes(seq INTEGER PRIMARY KEY, branch TEXT NOT NULL,"
    " commit_id TEXT NOT NULL, time INTEGER NOT NULL, tz INTEGER NOT NULL,"
    " office TEXT NOT NULL, operator TEXT NOT NULL, subject TEXT NOT NULL,"
    " reason TEXT NOT NULL, hlc TEXT NOT NULL, record TEXT NOT NULL, type TEXT NOT NULL,"
    " kind TEXT NOT NULL, fields TEXT NOT NULL);"
    "CREATE TABLE refused(branch TEXT PRIMARY KEY, head TEXT NOT NULL, message TEXT NOT NULL);"
    "CREATE TABLE sync_state(peer TEXT NOT NULL, branch TEXT NOT NULL, local_head TEXT,"
    " remote_head TEXT, time INTEGER, error TEXT, PRIMARY KEY(peer, branch));";

static const char *const stmt_sql[ST_COUNT] = {
    [ST_RECORD_PUT] = "INSERT INTO records(branch, id, type, status, office, void, hlc, blob, json)"
		      " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) ON CONFLICT(branch, id) DO"
		      " UPDATE SET type = ?3, status = ?4, office = ?5, void = ?6, hlc = ?7,"
		      " blob = ?8, json = ?9 RETURNING rec",
    [ST_RECORD_ADD] = "INSERT INTO records(branch, id, type, status, office, void, hlc, blob, json)"
		      " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    [ST_RECORD_GET] = "SELECT rec FROM records WHERE branch = ?1 AND id = ?2",
    [ST_RECORD_DEL] = "DELETE FROM records WHERE rec = ?1",
    [ST_FIELDS_DEL] = "DELETE FROM fields WHERE rec = ?1",
    [ST_FIELDS_GET] = "SELECT field, value FROM fields WHERE rec = ?1",
    [ST_FIELD_DEL] = "DELETE FROM fields WHERE rec = ?1 AND field = ?2 AND value IS ?3",
    [ST_FIELD_PUT] = "INSERT OR IGNORE INTO fields(rec, field, value, type) VALUES(?1, ?2, ?3, ?4)",
    [ST_PERSONS_DEL] = "DELETE FROM persons WHERE rec = ?1",
    [ST_PERSONS_GET] = "SELECT id_number, id_type FROM persons WHERE rec = ?1",
    [ST_PERSON_PUT] = "INSERT OR IGNORE INTO persons(rec, id_number, id_type) VALUES(?1, ?2, ?3)",
    [ST_CHANGE_PUT] = "INSERT INTO changes(branch, commit_id, time, tz, office, operator, subject,"
		      " reason, hlc, record, type, kind, fields)"
		      " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
    [ST_BRANCH_PUT] = "INSERT OR REPLACE INTO branches(branch, head) VALUES(?1, ?2)",
};

/* --- errors and statements ----------------------------------------------------------- */

static bool code_is_corrupt(int code)
{
	code &= 0xff;
	return code == SQLITE_CORRUPT || code == SQLITE_NOTADB;
}

/* Set the message for a failed SQLite call on ix; marks ix corrupt when it is. */
int ix_fail(struct index *ix, int code, const char *what)
{
	if (code_is_corrupt(code))
		ix->corrupt = true;
	if ((code & 0xff) == SQLITE_BUSY)
		return err_set(ERR_IO, "index '%s' is busy (another caseledger is updating it)",
			       ix->path);
	return err_set(ERR_IO, "index '%s': %s: %s", ix->path, what,
		       ix->db ? sqlite3_errmsg(ix->db) : sqlite3_errstr(code));
}

int ix_exec(struct index *ix, const char *sql)
{
	int rc = sqlite3_exec(ix->db, sql, NULL, NULL, NULL);

	return rc == SQLITE_OK ? 0 : ix_fail(ix, rc, "cannot update");
}

int ix_prepare(sqlite3_stmt **out, struct index *ix, const char *sql)
{
	int rc = sqlite3_prepare_v2(ix->db, sql, -1, out, NULL);

	return rc == SQLITE_OK ? 0 : ix_fail(ix, rc, "cannot query");
}

int ix_stmt(sqlite3_stmt **out, struct index *ix, int which)
{
	int rc;

	if (!ix->st[which] && (rc = ix_prepare(&ix->st[which], ix, stmt_sql[which])) < 0)
		return rc;
	sqlite3_reset(ix->st[which]);
	sqlite3_clear_bindings(ix->st[which]);
	*out = ix->st[which];
	return 0;
}

/* Step a statement that returns no row (or whose rows are not wanted). */
int ix_done(struct index *ix, sqlite3_stmt *st)
{
	int rc;

	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		;
	rc = rc == SQLITE_DONE ? 0 : ix_fail(ix, rc, "cannot update");
	sqlite3_reset(st);
	return rc;
}

void ix_finalize_all(struct index *ix)
{
	size_t i;

	for (i = 0; i < ST_COUNT; i++) {
		sqlite3_finalize(ix->st[i]);
		ix->st[i] = NULL;
	}
}

/* --- creating, opening, recovering ---------------------------------------------------- */

int index_create(const char *path)
{
	sqlite3 *db = NULL;
	char sql[128];
	struct stat st;
	int rc = 0;

	if (stat(path, &st) == 0)
		return err_set(ERR_EXISTS, "index '%s' already exists", path);
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
	    SQLITE_OK) {
		rc = err_set(ERR_IO, "cannot create index '%s': %s", path, sqlite3_errmsg(db));
		goto out;
	}
	snprintf(sql, sizeof(sql), "INSERT INTO meta VALUES('format', '%d');", INDEX_FORMAT);
	if (sqlite3_exec(db, "PRAGMA journal_mode=WAL; BEGIN", NULL, NULL, NULL) != SQLITE_OK ||
	    sqlite3_exec(db, index_tables_sql, NULL, NULL, NULL) != SQLITE_OK ||
	    sqlite3_exec(db, index_secondary_sql, NULL, NULL, NULL) != SQLITE_OK ||
	    sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK ||
	    sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
		rc = err_set(ERR_IO, "cannot set up index '%s': %s", path, sqlite3_errmsg(db));
out:
	sqlite3_close(db);
	return rc;
}

/* Remove path's -wal and -shm companions (a stale WAL must never meet a new file). */
static void remove_companions(const char *path, const char *aside)
{
	char a[4096], b[4096];

	snprintf(a, sizeof(a), "%s-wal", path);
	if (aside) {
		snprintf(b, sizeof(b), "%s-wal", aside);
		if (rename(a, b) < 0)
			unlink(a);
	} else {
		unlink(a);
	}
	snprintf(a, sizeof(a), "%s-shm", path);
	unlink(a);
}

/* Move path (and its WAL) aside as path.corrupt-<time>; the new name into aside. */
static int move_aside(const char *path, char *aside, size_t n)
{
	snprintf(aside, n, "%s.corrupt-%" PRIu64, path, util_now_ms() / 1000);
	if (rename(path, aside) < 0 && errno != ENOENT)
		return err_errno(ERR_IO, "cannot move the damaged index '%s' aside", path);
	remove_companions(path, aside);
	return 0;
}

/* Open path and check that it is an index of our format. */
static int ix_connect(struct index *ix, bool *bad, char *why, size_t whylen)
{
	sqlite3_stmt *st = NULL;
	int rc;

	*bad = false;
	rc = sqlite3_open_v2(ix->path, &ix->db, SQLITE_OPEN_READWRITE, NULL);
	if (rc != SQLITE_OK) {
		rc = err_set(ERR_IO, "cannot open index '%s': %s", ix->path,
			     ix->db ? sqlite3_errmsg(ix->db) : sqlite3_errstr(rc));
		goto out;
	}
	sqlite3_busy_timeout(ix->db, INDEX_BUSY_MS);
	rc = sqlite3_exec(ix->db, "PRAGMA synchronous=NORMAL; PRAGMA cache_size=-65536", NULL, NULL,
			  NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_prepare_v2(ix->db, "SELECT value FROM meta WHERE key = 'format'", -1,
					&st, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(st);
	if (code_is_corrupt(rc) || (rc == SQLITE_ERROR && !st)) {
		*bad = true;
		snprintf(why, whylen, "%s", sqlite3_errmsg(ix->db));
		rc = 0;
		goto out;
	}
	if (rc != SQLITE_ROW) {
		if (rc == SQLITE_DONE) {
			*bad = true;
			snprintf(why, whylen, "it has no format row");
			rc = 0;
		} else {
			rc = ix_fail(ix, rc, "cannot read");
		}
		goto out;
	}
	if (sqlite3_column_int(st, 0) != INDEX_FORMAT) {
		*bad = true;
		snprintf(why, whylen, "it has format %d, this caseledger uses %d",
			 sqlite3_column_int(st, 0), INDEX_FORMAT);
	}
	rc = 0;
out:
	sqlite3_finalize(st);
	if (rc < 0 || *bad) {
		sqlite3_close(ix->db);
		ix->db = NULL;
	}
	return rc;
}

/* Replace the file at ix->path by a new empty index, moving a damaged one aside. */
static int ix_replace(struct index *ix, const char *why)
{
	char aside[4096];
	struct stat st;
	int rc;

	ix_finalize_all(ix);
	sqlite3_close(ix->db);
	ix->db = NULL;
	ix->corrupt = false;
	if (stat(ix->path, &st) == 0) {
		if ((rc = move_aside(ix->path, aside, sizeof(aside))) < 0)
			return rc;
		fprintf(stderr,
			"caseledger: index '%s' is damaged (%s); moved it to '%s' and rebuilding "
			"it from the repository\n",
			ix->path, why, aside);
	} else {
		remove_companions(ix->path, NULL);
		fprintf(stderr,
			"caseledger: index '%s' is missing; rebuilding it from the repository\n",
			ix->path);
	}
	return index_create(ix->path);
}

int index_open(struct index **out, struct ledger *l)
{
	struct index *ix = NULL;
	struct buf path = BUF_INIT;
	struct stat st;
	char why[512];
	bool bad;
	int rc;

	*out = NULL;
	if (!(ix = calloc(1, sizeof(*ix)))) {
		rc = err_set(ERR_NOMEM, "out of memory");
		goto out;
	}
	if ((rc = util_join(&path, l->dir, "index.db")) < 0)
		goto out;
	ix->path = buf_detach(&path, NULL);
	if (stat(ix->path, &st) < 0 && (rc = ix_replace(ix, "missing")) < 0)
		goto out;
	if ((rc = ix_connect(ix, &bad, why, sizeof(why))) < 0)
		goto out;
	if (bad) {
		if ((rc = ix_replace(ix, why)) < 0 ||
		    (rc = ix_connect(ix, &bad, why, sizeof(why))) < 0)
			goto out;
		if (bad) {
			rc = err_set(ERR_IO, "new index '%s' cannot be read: %s", ix->path, why);
			goto out;
		}
	}
	*out = ix;
	ix = NULL;
out:
	buf_release(&path);
	index_free(ix);
	return rc;
}

void index_free(struct index *ix)
{
	if (!ix)
		return;
	ix_finalize_all(ix);
	sqlite3_close(ix->db);
	free(ix->path);
	free(ix);
}

bool index_is_corrupt(const struct index *ix)
{
	return ix && ix->corrupt;
}

int index_recover(struct index *ix, struct ledger *l)
{
	bool bad;
	char why[512];
	int rc;

	if ((rc = ix_replace(ix, "database disk image is malformed")) < 0 ||
	    (rc = ix_connect(ix, &bad, why, sizeof(why))) < 0)
		return rc;
	if (bad)
		return err_set(ERR_IO, "new index '%s' cannot be read: %s", ix->path, why);
	return index_catch_up(ix, l, NULL);
}

/* --- check ---------------------------------------------------------------------------- */

static char *first_difference(const char *a, const char *b)
{
	const char *la = a, *lb = b;
	size_t n;
	char *line;

	while (*a && *a == *b) {
		if (*a == '\n') {
			la = a + 1;
			lb = b + 1;
		}
		a++;
		b++;
	}
	n = strcspn(la, "\n");
	if (!(line = malloc(n + strcspn(lb, "\n") + 32)))
		return NULL;
	sprintf(line, "index: %.*s; repository: %.*s", (int)n, la, (int)strcspn(lb, "\n"), lb);
	return line;
}

int index_check(bool *same, char **first_diff, struct index *ix, struct ledger *l)
{
	struct index fresh = {0};
	struct buf tmp = BUF_INIT, mine = BUF_INIT, theirs = BUF_INIT;
	char why[512];
	bool bad;
	int rc;

	*same = false;
	if (first_diff)
		*first_diff = NULL;
	if ((rc = buf_printf(&tmp, "%s.check-%ld", ix->path, (long)getpid())) < 0)
		goto out;
	unlink(tmp.ptr);
	remove_companions(tmp.ptr, NULL);
	fresh.path = tmp.ptr;
	fresh.verify = ix->verify;
	fresh.verify_payload = ix->verify_payload;
	if ((rc = index_create(tmp.ptr)) < 0 ||
	    (rc = ix_connect(&fresh, &bad, why, sizeof(why))) < 0)
		goto out;
	if (bad) {
		rc = err_set(ERR_IO, "index '%s': %s", tmp.ptr, why);
		goto out;
	}
	if ((rc = index_rebuild(&fresh, l, NULL)) < 0 || (rc = index_dump(&theirs, &fresh)) < 0 ||
	    (rc = index_dump(&mine, ix)) < 0)
		goto out;
	*same = mine.len == theirs.len && memcmp(mine.ptr, theirs.ptr, mine.len) == 0;
	if (!*same && first_diff)
		*first_diff = first_difference(mine.ptr, theirs.ptr);
out:
	ix_finalize_all(&fresh);
	sqlite3_close(fresh.db);
	if (tmp.len) {
		unlink(tmp.ptr);
		remove_companions(tmp.ptr, NULL);
	}
	buf_release(&tmp);
	buf_release(&mine);
	buf_release(&theirs);
	return rc;
}
