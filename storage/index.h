/*
 * index: the SQLite file beside the repository (index.db), derived entirely from it.
 *
 * The repository is the truth; the index only makes it fast to question. It records, per
 * branch, the commit it reflects. index_catch_up brings every branch to its head by
 * diffing trees (identical subtrees are skipped by id, so the cost follows the change, not
 * the ledger); a crash between a commit and its index update heals on the next catch-up.
 * A missing, garbage or corrupt index file is moved aside and rebuilt (index_open,
 * index_recover); nothing in the repository is ever written here.
 *
 * Tables (format 2):
 *   meta(key, value)                 format
 *   branches(branch, head)           the commit each branch is indexed at
 *   records(rec, branch, id, type, status, office, void, hlc, blob, json)
 *   fields(rec, field, value, type)  searchable fields (schema `search = yes`), one row
 *                                    per value (per item for lists); typed SQLite values
 *   persons(id_number, id_type, rec) every identity number, across branches
 *   changes(seq, branch, commit_id, time, tz, office, operator, subject, reason, hlc,
 *           record, type, kind, fields)  one row per record per commit; fields is a
 *                                    JSON array of {"field", "old", "new"}
 *   refused(branch, head, message)   a branch whose head did not verify: it stays indexed
 *                                    at its last verified commit, and is not served
 *   sync_state(peer, branch, …)      per peer and branch; empty until sync exists
 *
 * The index holds only verified states. Commits reach the repository by caseledger's own
 * checked paths — and by any other (a stock `git fetch`, a copied directory): catch-up
 * verifies, through the verifier the caller installs (index_set_verifier), every commit
 * of a branch after its indexed head before indexing it. A branch whose new commits do
 * not all verify stays where it was and gets a refused row naming the commit, signer and
 * rule; commands that read a branch ask index_refused first.
 */
#ifndef CASELEDGER_INDEX_H
#define CASELEDGER_INDEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "buf.h"

#define INDEX_FORMAT 3

struct ledger;
struct index; /* opaque: the open database and its prepared statements */
struct git_oid;

/*
 * Decides for branch the commits reachable from head and not from from (NULL: its whole
 * history): 0 when every one is valid; ERR_VERIFY, with the message naming the commit,
 * its signer and the rule, when one is not; another negative ERR_* when it cannot tell.
 */
typedef int (*index_verify_fn)(struct ledger *l, const char *branch, const struct git_oid *head,
			       const struct git_oid *from, void *payload);

/* Create an empty index database at path (WAL mode, every table). ERR_EXISTS if present. */
int index_create(const char *path);

/*
 * Open the ledger's index (DIR/index.db). A missing file is created; a file that is not a
 * database, is corrupt or has another format is moved aside (index.db.corrupt-<time>) and
 * replaced by an empty one, with a message on stderr. The new index is empty: the caller
 * catches it up (index_catch_up). *out is owned by the caller (index_free).
 */
int index_open(struct index **out, struct ledger *l);

void index_free(struct index *ix);

/* Verify what catch-up indexes with fn (NULL: index without verifying: tests, benches). */
void index_set_verifier(struct index *ix, index_verify_fn fn, void *payload);

/*
 * Is branch refused? *msg gets NULL when it is served, else a malloc'ed message: the
 * commit that failed, its signer and the rule, and the commit the index holds it at.
 * With branch NULL: one such line for every refused branch, or NULL when none is.
 */
int index_refused(char **msg, struct index *ix, const char *branch);

/* True once any query on ix met SQLITE_CORRUPT or SQLITE_NOTADB: call index_recover. */
bool index_is_corrupt(const struct index *ix);

/* Move the corrupt file aside, create a new one and rebuild it, saying so on stderr. */
int index_recover(struct index *ix, struct ledger *l);

struct index_progress {
	size_t branches; /* branches brought up to date */
	size_t commits;	 /* commits read */
	size_t changes;	 /* change-log rows written */
	size_t records;	 /* records written or removed */
};

/*
 * Bring every branch (refs/heads/<office code>) to its head, in one SQLite transaction:
 * new commits are verified (index_set_verifier: a branch that fails is held at its
 * indexed commit and refused, index_refused) and diffed against their first parent; a branch whose
 * indexed commit is no longer in its history is re-indexed (with a message on stderr); branches
 * gone from the repository are dropped. progress may be NULL. While it runs, a second thread reads
 * the repository (l->repo): the caller must not use l from another thread meanwhile.
 */
int index_catch_up(struct index *ix, struct ledger *l, struct index_progress *progress);

/* Rebuild everything from nothing, in one transaction (sync_state is kept). */
int index_rebuild(struct index *ix, struct ledger *l, struct index_progress *progress);

/*
 * Append a deterministic text dump of the derived contents (every table but sync_state,
 * without row numbers, sorted) to out: two indexes with equal dumps hold the same data.
 */
int index_dump(struct buf *out, struct index *ix);

/* Build a fresh index of l in a temporary file and compare its dump with ix's.
 * *same gets the verdict; *first_diff (may be NULL) a malloc'ed line that differs. */
int index_check(bool *same, char **first_diff, struct index *ix, struct ledger *l);

/* --- queries --------------------------------------------------------------------------- */

enum index_op { INDEX_EQ, INDEX_PREFIX, INDEX_LT, INDEX_GT, INDEX_LE, INDEX_GE };

struct index_cond {
	const char *field; /* a field of the type, or id / void */
	enum index_op op;
	const char *value; /* as typed on the command line */
};

/*
 * Parse "field=value", "field~prefix", "field<value", "field>value", "field<=value" or
 * "field>=value". field and value point into word (which is modified).
 */
int index_cond_parse(struct index_cond *out, char *word);

/*
 * Records of type matching every condition, on branch (NULL: all), ordered by branch and
 * id, at most limit (0: no limit). *out is a new array of {"branch", "record"} objects.
 * ERR_INVALID naming the field or value when a condition does not fit the schema.
 */
int index_find(json_t **out, struct index *ix, struct ledger *l, const char *type,
	       const struct index_cond *conds, size_t nconds, const char *branch, long limit);

struct index_log_filter {
	const char *branch;   /* NULL: all */
	int64_t since, until; /* commit time bounds, inclusive; INT64_MIN/INT64_MAX: none */
	const char *office;   /* NULL: any; else this office and every office in its scope */
	bool office_exact;    /* office only, not its scope */
	const char *operator; /* NULL: any */
	const char *field;    /* NULL: any; else changes touching this field */
	const char *record;   /* NULL: any */
	long limit;	      /* 0: no limit */
};

/*
 * The audit view from the change log, newest first: a new array of {"branch", "commit",
 * "time", "office", "operator", "subject", "reason", "hlc", "record", "type", "kind",
 * "changes"} objects ("time" is ISO 8601 with the commit's offset).
 */
int index_log(json_t **out, struct index *ix, const struct index_log_filter *f);

/*
 * For each field of record id's current content on branch, the change that set its
 * current value: a new array of {"field", "value", "commit", "time", "office", "operator",
 * "reason", "subject"} objects in the record's key order. ERR_NOTFOUND when the index does
 * not hold the record.
 */
int index_blame(json_t **out, struct index *ix, const char *branch, const char *id);

/*
 * What a person reads for record id, from its indexed copy on any branch: its "name"
 * (persons), else its "address" (households); *out a new string, or NULL when the index
 * holds no such record or it has neither.
 */
int index_record_name(char **out, struct index *ix, const char *id);

/*
 * Counts and money sums of the records not void, grouped by "type", "status", "programme",
 * "office" or "month" (of creation), or NULL for one total. *out is a new object
 * {"by", "groups": [{"key", "count", "void", "sums": {"type.field": fen}}], "total": {…}}.
 */
int index_stats(json_t **out, struct index *ix, struct ledger *l, const char *by);

/*
 * Parse a time given as YYYY-MM-DD (local midnight; with end_of_day, the last second of
 * that day) or ISO 8601 YYYY-MM-DDTHH:MM[:SS][Z|±HH:MM] (local time without an offset).
 * ERR_INVALID naming text otherwise.
 */
int index_parse_time(int64_t *out, const char *text, bool end_of_day);

#endif
