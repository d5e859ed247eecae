/*
 * index: the SQLite index of a ledger — creation, recovery, catch-up by tree diffs, the
 * deterministic dump, and the queries behind find, log, blame and stats. It owns index.db
 * (and its -wal/-shm files) and nothing else: everything it holds can be rebuilt from the
 * repository, which this module only reads.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <git2.h>
#include <sqlite3.h>

#include "err.h"
#include "history.h"
#include "index.h"
#include "ledger.h"
#include "util.h"

#define INDEX_BUSY_MS 30000

/* Secondary indexes. A rebuild drops the ones whose keys arrive in random order and
 * creates them after the load (sorting once is cheaper than a million random B-tree
 * inserts); records_type and changes_time stay, their keys arrive nearly in order
 * (few types and statuses, then the row number; commit times), and so does records_key:
 * upserts need it. */
static const char index_secondary_sql[] =
    "CREATE INDEX IF NOT EXISTS records_type ON records(type, status);"
    "CREATE INDEX IF NOT EXISTS fields_value ON fields(type, field, value);"
    "CREATE INDEX IF NOT EXISTS persons_idnum ON persons(id_number);"
    "CREATE INDEX IF NOT EXISTS changes_record ON changes(branch, record);"
    "CREATE INDEX IF NOT EXISTS changes_time ON changes(time);";

static const char index_drop_secondary_sql[] = "DROP INDEX IF EXISTS fields_value;"
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
    "CREATE TABLE sync_state(peer TEXT NOT NULL, branch TEXT NOT NULL, local_head TEXT,"
    " remote_head TEXT, time INTEGER, error TEXT, PRIMARY KEY(peer, branch));";

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

struct index {
	sqlite3 *db;		    /* the open index.db */
	char *path;		    /* its path */
	bool corrupt;		    /* a call met SQLITE_CORRUPT / SQLITE_NOTADB */
	sqlite3_stmt *st[ST_COUNT]; /* catch-up statements, prepared on first use */
};

/* --- errors and statements ----------------------------------------------------------- */

static bool code_is_corrupt(int code)
{
	code &= 0xff;
	return code == SQLITE_CORRUPT || code == SQLITE_NOTADB;
}

/* Set the message for a failed SQLite call on ix; marks ix corrupt when it is. */
static int ix_fail(struct index *ix, int code, const char *what)
{
	if (code_is_corrupt(code))
		ix->corrupt = true;
	if ((code & 0xff) == SQLITE_BUSY)
		return err_set(ERR_IO, "index '%s' is busy (another caseledger is updating it)",
			       ix->path);
	return err_set(ERR_IO, "index '%s': %s: %s", ix->path, what,
		       ix->db ? sqlite3_errmsg(ix->db) : sqlite3_errstr(code));
}

static int ix_exec(struct index *ix, const char *sql)
{
	int rc = sqlite3_exec(ix->db, sql, NULL, NULL, NULL);

	return rc == SQLITE_OK ? 0 : ix_fail(ix, rc, "cannot update");
}

static int ix_prepare(sqlite3_stmt **out, struct index *ix, const char *sql)
{
	int rc = sqlite3_prepare_v2(ix->db, sql, -1, out, NULL);

	return rc == SQLITE_OK ? 0 : ix_fail(ix, rc, "cannot query");
}

static int ix_stmt(sqlite3_stmt **out, struct index *ix, int which)
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
static int ix_done(struct index *ix, sqlite3_stmt *st)
{
	int rc;

	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		;
	rc = rc == SQLITE_DONE ? 0 : ix_fail(ix, rc, "cannot update");
	sqlite3_reset(st);
	return rc;
}

static void ix_finalize_all(struct index *ix)
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

/* --- tree diff ------------------------------------------------------------------------ */

/* A record-shaped path that changed: old/new blob ids (NULL when absent). */
typedef int (*diff_cb)(const char *path, const git_oid *old, const git_oid *new, void *payload);

struct diff {
	git_repository *repo;
	char path[RECORD_PATH_MAX * 2];
	size_t len;
	diff_cb cb;
	void *payload;
};

#define DIFF_MAX_DEPTH 4 /* type / h1 / h2 / id.json */

static int diff_trees(struct diff *d, git_tree *a, git_tree *b, int depth);

/* One side of an entry pair (the other absent, or of another kind). */
static int diff_side(struct diff *d, const git_tree_entry *e, bool is_old, int depth)
{
	git_tree *t = NULL;
	int rc;

	if (git_tree_entry_type(e) == GIT_OBJECT_BLOB)
		return d->cb(d->path, is_old ? git_tree_entry_id(e) : NULL,
			     is_old ? NULL : git_tree_entry_id(e), d->payload);
	if (git_tree_entry_type(e) != GIT_OBJECT_TREE || depth + 1 >= DIFF_MAX_DEPTH)
		return 0;
	if (git_tree_lookup(&t, d->repo, git_tree_entry_id(e)) < 0)
		return err_git(ERR_IO, "cannot read tree '%s'", d->path);
	rc = is_old ? diff_trees(d, t, NULL, depth + 1) : diff_trees(d, NULL, t, depth + 1);
	git_tree_free(t);
	return rc;
}

static int diff_pair(struct diff *d, const git_tree_entry *x, const git_tree_entry *y, int depth)
{
	git_tree *tx = NULL, *ty = NULL;
	git_object_t kx = git_tree_entry_type(x), ky = git_tree_entry_type(y);
	int rc = 0;

	if (git_oid_equal(git_tree_entry_id(x), git_tree_entry_id(y)))
		return 0;
	if (kx == GIT_OBJECT_BLOB && ky == GIT_OBJECT_BLOB)
		return d->cb(d->path, git_tree_entry_id(x), git_tree_entry_id(y), d->payload);
	if (kx == GIT_OBJECT_TREE && ky == GIT_OBJECT_TREE) {
		if (depth + 1 >= DIFF_MAX_DEPTH)
			return 0;
		if (git_tree_lookup(&tx, d->repo, git_tree_entry_id(x)) < 0 ||
		    git_tree_lookup(&ty, d->repo, git_tree_entry_id(y)) < 0)
			rc = err_git(ERR_IO, "cannot read tree '%s'", d->path);
		else
			rc = diff_trees(d, tx, ty, depth + 1);
		git_tree_free(tx);
		git_tree_free(ty);
		return rc;
	}
	if ((rc = diff_side(d, x, true, depth)) < 0)
		return rc;
	return diff_side(d, y, false, depth);
}

/* Walk two trees (either may be NULL) in git's entry order, descending only where ids
 * differ, and call d->cb for every blob that was added, removed or changed. */
static int diff_trees(struct diff *d, git_tree *a, git_tree *b, int depth)
{
	size_t na = a ? git_tree_entrycount(a) : 0, nb = b ? git_tree_entrycount(b) : 0;
	size_t i = 0, j = 0, saved = d->len;
	int rc = 0;

	while (rc == 0 && (i < na || j < nb)) {
		const git_tree_entry *x = i < na ? git_tree_entry_byindex(a, i) : NULL;
		const git_tree_entry *y = j < nb ? git_tree_entry_byindex(b, j) : NULL;
		const git_tree_entry *e;
		int cmp = !x ? 1 : !y ? -1 : git_tree_entry_cmp(x, y);
		size_t n;

		e = cmp <= 0 ? x : y;
		n = strlen(git_tree_entry_name(e));
		if (saved + n + 2 > sizeof(d->path)) {
			i += cmp <= 0;
			j += cmp >= 0;
			continue; /* not a record path */
		}
		memcpy(d->path + saved, git_tree_entry_name(e), n);
		d->path[saved + n] = git_tree_entry_type(e) == GIT_OBJECT_TREE ? '/' : '\0';
		d->path[saved + n + 1] = '\0';
		d->len = saved + n + (git_tree_entry_type(e) == GIT_OBJECT_TREE);
		if (cmp < 0) {
			rc = diff_side(d, x, true, depth);
			i++;
		} else if (cmp > 0) {
			rc = diff_side(d, y, false, depth);
			j++;
		} else {
			rc = diff_pair(d, x, y, depth);
			i++;
			j++;
		}
		d->len = saved;
		d->path[saved] = '\0';
	}
	return rc;
}

/* --- catch-up: a walk that reads git, a writer that fills SQLite ---------------------- */

/*
 * A catch-up is a plan (which branch goes from which indexed commit to which head), a
 * walk and a writer. The walk reads commits, trees and blobs, decodes records and writes
 * the change-log text: it touches only the repository. The writer turns what the walk
 * found into rows: it alone touches SQLite. The walk runs on a thread of its own and
 * hands the writer batches of ops in order; the writer hands each batch back when done,
 * and the walk releases what it held before filling it again (so a batch's memory is
 * allocated and freed on one thread, and at most PIPE_BATCHES are in flight).
 */

enum op_kind {
	OP_CHANGE, /* a change-log row */
	OP_STORE,  /* a record's row, with its field and person rows */
	OP_FORGET, /* a record gone from the branch */
	OP_BRANCH, /* the branch is now indexed at oid */
};

struct op {
	enum op_kind kind;
	const char *branch;		 /* the plan's name, valid through the catch-up */
	const struct schema_type *t;	 /* OP_CHANGE, OP_STORE */
	char id[RECORD_ID_MAX];		 /* OP_CHANGE, OP_STORE, OP_FORGET */
	const struct history_info *info; /* OP_CHANGE: the commit (in the batch) */
	const char *change;		 /* OP_CHANGE: "create", "amend" or "delete" */
	size_t text, len; /* OP_CHANGE: the change-log JSON, OP_STORE: the record's bytes;
			     offset and length in the batch's text */
	size_t val, nval; /* OP_STORE: its values (VAL_STATUS, VAL_HLC, then the rest in
			     schema order), in the batch's vals */
	bool is_void;	  /* OP_STORE: the record is void */
	git_oid oid;	  /* OP_STORE: the record's blob; OP_BRANCH: the head */
	bool fresh;	  /* OP_STORE: the branch had nothing at the record's path */
};

/* A value of a record the writer stores, taken out of the decoded record. */
enum val_role {
	VAL_STATUS, /* the records row's status */
	VAL_HLC,    /* its hlc */
	VAL_FIELD,  /* a fields row (one per item of a list) */
	VAL_IDNUM,  /* a persons row's number; the next value is its id type */
	VAL_IDTYPE,
};

struct val {
	enum val_role role;
	const char *field; /* VAL_FIELD: the schema's field name */
	int type;	   /* SQLITE_TEXT, SQLITE_INTEGER or SQLITE_NULL */
	sqlite3_int64 i;   /* SQLITE_INTEGER (booleans are 0 and 1) */
	size_t text, len;  /* SQLITE_TEXT: offset and length in the batch's text */
};

#define BATCH_OPS    256
#define PIPE_BATCHES 4

struct batch {
	struct op op[BATCH_OPS];
	size_t n;
	struct history_info info[BATCH_OPS]; /* copies of the commits OP_CHANGE ops log */
	size_t ninfo;
	struct val *vals; /* the values OP_STORE ops point into */
	size_t nvals, capvals;
	struct buf text;    /* the texts ops and values point into (by offset: it grows) */
	struct batch *next; /* in the pipe's queues */
};

static void batch_clear(struct batch *b)
{
	size_t i;

	for (i = 0; i < b->ninfo; i++)
		history_info_release(&b->info[i]);
	b->n = b->ninfo = b->nvals = 0;
	buf_reset(&b->text);
}

/* Batches between the two threads: full ones to the writer in order, used ones back. */
struct pipe {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct batch *full, **full_tail; /* walk -> writer, oldest first */
	struct batch *used;		 /* writer -> walk */
	bool walk_done;			 /* the walk has ended, with walk_rc */
	bool stop;			 /* the writer failed: the walk gives up */
	int walk_rc;
	char walk_err[1024]; /* the walk's message when walk_rc < 0 */
	struct batch *all;   /* PIPE_BATCHES of them */
};

/* What one branch's catch-up is to do. */
struct plan {
	const char *branch;
	git_oid indexed; /* valid when has_indexed */
	bool has_indexed;
	git_oid head;
};

/* The walk's state: the thread that reads the repository. */
struct walk {
	struct ledger *l;
	git_odb *odb; /* the repository's, for blobs */
	struct pipe *pipe;
	const struct plan *plan;
	size_t nplan;
	struct batch *b;		     /* being filled; NULL before the first op */
	const char *branch;		     /* the plan entry being walked */
	struct history_info commit;	     /* the commit being logged */
	const struct history_info *in_batch; /* its copy in b, or NULL */
	bool log;			     /* write change-log rows */
	bool apply;			     /* apply changes to records */
	size_t commits;			     /* commits read */
};

/* The writer's state: the thread that owns SQLite. */
struct writer {
	struct index *ix;
	struct index_progress *progress;
};

/* --- the walk ------------------------------------------------------------------------- */

/* Hand the batch being filled to the writer and take a used one (waiting for it). */
static int walk_flush(struct walk *w)
{
	struct pipe *p = w->pipe;
	int rc = 0;

	pthread_mutex_lock(&p->mu);
	if (w->b) {
		*p->full_tail = w->b;
		p->full_tail = &w->b->next;
		w->b = NULL;
		pthread_cond_broadcast(&p->cv);
	}
	while (!p->used && !p->stop)
		pthread_cond_wait(&p->cv, &p->mu);
	if (p->stop) {
		rc = ERR_GENERIC; /* the writer holds the message */
	} else {
		w->b = p->used;
		p->used = w->b->next;
		w->b->next = NULL;
	}
	pthread_mutex_unlock(&p->mu);
	if (rc == 0) {
		batch_clear(w->b);
		w->in_batch = NULL;
	}
	return rc;
}

/* The next op of the batch being filled (zeroed, with the branch set). */
static int walk_op(struct op **out, struct walk *w, enum op_kind kind)
{
	int rc;

	if ((!w->b || w->b->n == BATCH_OPS) && (rc = walk_flush(w)) < 0)
		return rc;
	*out = &w->b->op[w->b->n++];
	memset(*out, 0, sizeof(**out));
	(*out)->kind = kind;
	(*out)->branch = w->branch;
	return 0;
}

static int info_copy(struct history_info *out, const struct history_info *in)
{
	*out = *in;
	out->subject = strdup(in->subject);
	out->reason = strdup(in->reason);
	out->office = strdup(in->office);
	out->operator= strdup(in->operator);
	out->hlc = strdup(in->hlc);
	if (!out->subject || !out->reason || !out->office || !out->operator|| !out->hlc) {
		history_info_release(out);
		return err_set(ERR_NOMEM, "out of memory");
	}
	return 0;
}

/* Decode a record blob; a bad one is reported on stderr and left out (*out NULL). On
 * success with keep, the blob is left in *keep for its bytes. */
static int load_record(json_t **out, git_odb_object **keep, struct walk *w, const git_oid *oid,
		       const char *id, const char *path)
{
	char what[RECORD_ID_MAX + 16] = "record '";
	size_t n = strlen(id);
	git_odb_object *b = NULL;

	*out = NULL;
	if (git_odb_read(&b, w->odb, oid) < 0 || git_odb_object_type(b) != GIT_OBJECT_BLOB) {
		git_odb_object_free(b);
		return err_git(ERR_IO, "cannot read record '%s' (blob %s)", id,
			       git_oid_tostr_s(oid));
	}
	memcpy(what + 8, id, n);
	memcpy(what + 8 + n, "'", 2);
	if (record_decode(out, git_odb_object_data(b), git_odb_object_size(b), false, what) < 0) {
		fprintf(stderr, "caseledger: index: branch '%s' %s: %s; not indexed\n", w->branch,
			path, err_msg());
		err_clear();
		*out = NULL;
	}
	if (keep && *out)
		*keep = b;
	else
		git_odb_object_free(b);
	return 0;
}

/* kind: "create", "amend" or "delete" (by the blobs, whatever could be decoded). */
static int walk_change(struct walk *w, const struct schema_type *t, const char *id,
		       const char *kind, const json_t *old, const json_t *rec)
{
	struct op *op;
	int rc;

	if ((rc = walk_op(&op, w, OP_CHANGE)) < 0)
		return rc;
	if (!w->in_batch) {
		if ((rc = info_copy(&w->b->info[w->b->ninfo], &w->commit)) < 0) {
			w->b->n--;
			return rc;
		}
		w->in_batch = &w->b->info[w->b->ninfo++];
	}
	op->t = t;
	memcpy(op->id, id, strlen(id) + 1);
	op->info = w->in_batch;
	op->change = kind;
	op->text = w->b->text.len;
	rc = history_field_changes_text(&w->b->text, old, rec);
	op->len = w->b->text.len - op->text;
	return rc;
}

/* Add v (typed as SQLite will bind it) to the batch's values, for the last op. */
static int walk_val(struct walk *w, enum val_role role, const char *field, const json_t *v)
{
	struct batch *b = w->b;
	struct val *x;

	if (b->nvals == b->capvals) {
		size_t cap = b->capvals ? b->capvals * 2 : 1024;

		if (!(x = realloc(b->vals, cap * sizeof(*x))))
			return err_set(ERR_NOMEM, "out of memory");
		b->vals = x;
		b->capvals = cap;
	}
	x = &b->vals[b->nvals++];
	b->op[b->n - 1].nval++;
	x->role = role;
	x->field = field;
	x->type = SQLITE_NULL;
	if (json_is_string(v)) {
		x->type = SQLITE_TEXT;
		x->text = b->text.len;
		x->len = json_string_length(v);
		return buf_add(&b->text, json_string_value(v), x->len);
	}
	if (json_is_integer(v) || json_is_boolean(v)) {
		x->type = SQLITE_INTEGER;
		x->i = json_is_boolean(v) ? json_is_true(v) : (sqlite3_int64)json_integer_value(v);
	}
	return 0;
}

/* What the writer needs of rec: its values, in the order it writes rows. */
static int walk_vals(struct walk *w, const struct schema_type *t, const json_t *rec)
{
	size_t i, k;
	int rc;

	if ((rc = walk_val(w, VAL_STATUS, NULL, json_object_get(rec, "status"))) < 0 ||
	    (rc = walk_val(w, VAL_HLC, NULL, json_object_get(rec, "hlc"))) < 0)
		return rc;
	for (i = 0; i < t->nfields; i++) {
		const struct schema_field *f = &t->fields[i];
		const json_t *v = json_object_get(rec, f->name);

		if (!v)
			continue;
		if (f->kind == FIELD_IDNUM && json_is_string(v) &&
		    ((rc = walk_val(w, VAL_IDNUM, NULL, v)) < 0 ||
		     (rc = walk_val(w, VAL_IDTYPE, NULL,
				    f->kind_field ? json_object_get(rec, f->kind_field) : NULL)) <
			 0))
			return rc;
		if (!f->search)
			continue;
		if (!json_is_array(v)) {
			if ((rc = walk_val(w, VAL_FIELD, f->name, v)) < 0)
				return rc;
			continue;
		}
		for (k = 0; k < json_array_size(v); k++)
			if ((rc = walk_val(w, VAL_FIELD, f->name, json_array_get(v, k))) < 0)
				return rc;
	}
	return 0;
}

/* A record to store, decoded (rec) from blob. */
static int walk_store(struct walk *w, const struct schema_type *t, const char *id,
		      const git_oid *oid, const json_t *rec, git_odb_object *blob, bool fresh)
{
	struct op *op;
	int rc;

	if ((rc = walk_op(&op, w, OP_STORE)) < 0)
		return rc;
	op->t = t;
	memcpy(op->id, id, strlen(id) + 1);
	git_oid_cpy(&op->oid, oid);
	op->fresh = fresh;
	op->is_void = json_is_true(json_object_get(rec, "void"));
	op->text = w->b->text.len;
	op->len = git_odb_object_size(blob);
	if ((rc = buf_add(&w->b->text, git_odb_object_data(blob), op->len)) < 0)
		return rc;
	op->val = w->b->nvals;
	return walk_vals(w, t, rec);
}

static int walk_delta(const char *path, const git_oid *old, const git_oid *new, void *payload)
{
	struct walk *w = payload;
	const struct schema_type *t;
	char id[RECORD_ID_MAX];
	json_t *was = NULL, *now = NULL;
	git_odb_object *keep = NULL;
	struct op *op;
	int rc = 0;

	if (!schema_record_at(&t, id, w->l->schema, path))
		return 0;
	if (w->log && old && (rc = load_record(&was, NULL, w, old, id, path)) < 0)
		goto out;
	if (new && (rc = load_record(&now, &keep, w, new, id, path)) < 0)
		goto out;
	/* An undecodable new blob was reported: it is not logged, and not indexed. */
	if (w->log && (!new || now) &&
	    (rc = walk_change(w, t, id,
			      !old   ? "create"
			      : !new ? "delete"
				     : "amend",
			      was, now)) < 0)
		goto out;
	if (!w->apply)
		goto out;
	if (now)
		rc = walk_store(w, t, id, new, now, keep, old == NULL);
	else if ((rc = walk_op(&op, w, OP_FORGET)) == 0) {
		memcpy(op->id, id, strlen(id) + 1);
	}
out:
	git_odb_object_free(keep);
	json_decref(was);
	json_decref(now);
	return rc;
}

static int tree_of(git_tree **out, struct ledger *l, const git_oid *commit)
{
	git_commit *c = NULL;
	int rc = 0;

	*out = NULL;
	if (!commit)
		return 0;
	if (git_commit_lookup(&c, l->repo, commit) < 0 || git_commit_tree(out, c) < 0)
		rc = err_git(ERR_IO, "cannot read commit %s", git_oid_tostr_s(commit));
	git_commit_free(c);
	return rc;
}

static int diff_commits(struct walk *w, const git_oid *from, const git_oid *to)
{
	struct diff d = {.repo = w->l->repo, .cb = walk_delta, .payload = w};
	git_tree *a = NULL, *b = NULL;
	int rc;

	if ((rc = tree_of(&a, w->l, from)) == 0 && (rc = tree_of(&b, w->l, to)) == 0)
		rc = diff_trees(&d, a, b, 0);
	git_tree_free(a);
	git_tree_free(b);
	return rc;
}

/* Log one commit against its first parent; apply it too when that parent is *state. */
static int walk_commit(struct walk *w, const git_oid *oid, git_oid *state, bool *has_state)
{
	git_commit *c = NULL;
	const git_oid *parent;
	int rc;

	if (git_commit_lookup(&c, w->l->repo, oid) < 0)
		return err_git(ERR_IO, "cannot read commit %s", git_oid_tostr_s(oid));
	parent = git_commit_parentcount(c) > 0 ? git_commit_parent_id(c, 0) : NULL;
	w->apply =
	    (!parent && !*has_state) || (parent && *has_state && git_oid_equal(parent, state));
	w->log = true;
	if ((rc = history_info(&w->commit, c)) == 0) {
		w->in_batch = NULL;
		rc = diff_commits(w, parent, oid);
		w->in_batch = NULL;
		history_info_release(&w->commit);
	}
	if (rc == 0 && w->apply) {
		git_oid_cpy(state, oid);
		*has_state = true;
	}
	w->commits++;
	git_commit_free(c);
	return rc;
}

/*
 * Bring one branch from indexed to head. Commits are logged oldest first, each against
 * its first parent; records follow along while each commit's first parent is the state
 * they reflect, and one direct diff to head settles the rest (merges).
 */
static int walk_branch(struct walk *w, const struct plan *p)
{
	git_revwalk *walk = NULL;
	git_oid state, oid;
	bool has_state = p->has_indexed;
	struct op *op;
	int rc = 0;

	w->branch = p->branch;
	if (p->has_indexed)
		git_oid_cpy(&state, &p->indexed);
	if (git_revwalk_new(&walk, w->l->repo) < 0 ||
	    git_revwalk_sorting(walk, GIT_SORT_TOPOLOGICAL | GIT_SORT_REVERSE) < 0 ||
	    git_revwalk_push(walk, &p->head) < 0 ||
	    (p->has_indexed && git_revwalk_hide(walk, &p->indexed) < 0)) {
		rc = err_git(ERR_IO, "cannot walk branch '%s'", p->branch);
		goto out;
	}
	while (rc == 0 && git_revwalk_next(&oid, walk) == 0)
		rc = walk_commit(w, &oid, &state, &has_state);
	if (rc < 0)
		goto out;
	if (!has_state || !git_oid_equal(&state, &p->head)) {
		w->apply = true;
		w->log = false;
		if ((rc = diff_commits(w, has_state ? &state : NULL, &p->head)) < 0)
			goto out;
	}
	if ((rc = walk_op(&op, w, OP_BRANCH)) == 0)
		git_oid_cpy(&op->oid, &p->head);
out:
	git_revwalk_free(walk);
	return rc;
}

/* The walk thread: every plan entry, then the last batch; the outcome in the pipe. */
static void *walk_main(void *arg)
{
	struct walk *w = arg;
	struct pipe *p = w->pipe;
	size_t i;
	int rc = 0;

	if (git_repository_odb(&w->odb, w->l->repo) < 0)
		rc = err_git(ERR_IO, "cannot open the objects of '%s'", w->l->dir);
	for (i = 0; rc == 0 && i < w->nplan; i++)
		rc = walk_branch(w, &w->plan[i]);
	git_odb_free(w->odb);
	w->odb = NULL;
	pthread_mutex_lock(&p->mu);
	if (w->b) {
		*p->full_tail = w->b;
		p->full_tail = &w->b->next;
		w->b = NULL;
	}
	p->walk_done = true;
	p->walk_rc = rc;
	if (rc < 0)
		snprintf(p->walk_err, sizeof(p->walk_err), "%s", err_msg());
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
	return NULL;
}

/* --- the writer ----------------------------------------------------------------------- */

/* Bind a value the walk took out of a record. */
static void bind_val(sqlite3_stmt *st, int col, const struct batch *b, const struct val *v)
{
	if (v->type == SQLITE_TEXT)
		sqlite3_bind_text(st, col, b->text.ptr + v->text, (int)v->len, SQLITE_STATIC);
	else if (v->type == SQLITE_INTEGER)
		sqlite3_bind_int64(st, col, v->i);
	else
		sqlite3_bind_null(st, col);
}

static int put_field(struct index *ix, sqlite3_int64 rec, const char *type, const struct batch *b,
		     const struct val *v)
{
	sqlite3_stmt *st;
	int rc;

	if ((rc = ix_stmt(&st, ix, ST_FIELD_PUT)) < 0)
		return rc;
	sqlite3_bind_int64(st, 1, rec);
	sqlite3_bind_text(st, 2, v->field, -1, SQLITE_STATIC);
	bind_val(st, 3, b, v);
	sqlite3_bind_text(st, 4, type, -1, SQLITE_STATIC);
	return ix_done(ix, st);
}

static int put_person(struct index *ix, sqlite3_int64 rec, const struct batch *b,
		      const struct val *number, const struct val *type)
{
	sqlite3_stmt *st;
	int rc;

	if ((rc = ix_stmt(&st, ix, ST_PERSON_PUT)) < 0)
		return rc;
	sqlite3_bind_int64(st, 1, rec);
	bind_val(st, 2, b, number);
	bind_val(st, 3, b, type);
	return ix_done(ix, st);
}

/* Delete the field and person rows of record row rec. */
static int rows_forget(struct index *ix, sqlite3_int64 rec)
{
	sqlite3_stmt *st;
	int rc;

	if ((rc = ix_stmt(&st, ix, ST_FIELDS_DEL)) < 0)
		return rc;
	sqlite3_bind_int64(st, 1, rec);
	if ((rc = ix_done(ix, st)) < 0 || (rc = ix_stmt(&st, ix, ST_PERSONS_DEL)) < 0)
		return rc;
	sqlite3_bind_int64(st, 1, rec);
	return ix_done(ix, st);
}

static int record_forget(struct writer *wr, const struct op *op)
{
	struct index *ix = wr->ix;
	sqlite3_stmt *st;
	sqlite3_int64 rec;
	int rc, step;

	if ((rc = ix_stmt(&st, ix, ST_RECORD_GET)) < 0)
		return rc;
	sqlite3_bind_text(st, 1, op->branch, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, op->id, -1, SQLITE_STATIC);
	step = sqlite3_step(st);
	if (step == SQLITE_DONE) {
		sqlite3_reset(st);
		return 0;
	}
	if (step != SQLITE_ROW)
		return ix_fail(ix, step, "cannot read");
	rec = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	if ((rc = rows_forget(ix, rec)) < 0 || (rc = ix_stmt(&st, ix, ST_RECORD_DEL)) < 0)
		return rc;
	sqlite3_bind_int64(st, 1, rec);
	return ix_done(ix, st);
}

/* The record's row: inserted when fresh, else upserted; its rowid in *row. */
static int record_row(sqlite3_int64 *row, struct writer *wr, const struct batch *b,
		      const struct op *op)
{
	struct index *ix = wr->ix;
	char office[13];
	sqlite3_stmt *st;
	int rc, step;

	if ((rc = ix_stmt(&st, ix, op->fresh ? ST_RECORD_ADD : ST_RECORD_PUT)) < 0)
		return rc;
	record_id_office(office, op->id);
	sqlite3_bind_text(st, 1, op->branch, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, op->id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, op->t->name, -1, SQLITE_STATIC);
	bind_val(st, 4, b, &b->vals[op->val + VAL_STATUS]);
	sqlite3_bind_text(st, 5, office, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int(st, 6, op->is_void);
	bind_val(st, 7, b, &b->vals[op->val + VAL_HLC]);
	sqlite3_bind_text(st, 8, git_oid_tostr_s(&op->oid), -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 9, b->text.ptr + op->text, (int)op->len, SQLITE_STATIC);
	if (op->fresh) {
		if ((rc = ix_done(ix, st)) == 0)
			*row = sqlite3_last_insert_rowid(ix->db);
		return rc;
	}
	step = sqlite3_step(st);
	if (step != SQLITE_ROW) {
		rc = ix_fail(ix, step, "cannot store a record");
		sqlite3_reset(st);
		return rc;
	}
	*row = sqlite3_column_int64(st, 0);
	return ix_done(ix, st);
}

/* Does the fields row (field, value) of st's current row hold new value v? */
static bool same_field(sqlite3_stmt *st, const struct batch *b, const struct val *v)
{
	const char *field = (const char *)sqlite3_column_text(st, 0);
	int type = sqlite3_column_type(st, 1);

	if (!field || strcmp(field, v->field) != 0 || type != v->type)
		return false;
	if (type == SQLITE_INTEGER)
		return sqlite3_column_int64(st, 1) == v->i;
	if (type == SQLITE_TEXT)
		return (size_t)sqlite3_column_bytes(st, 1) == v->len &&
		       memcmp(sqlite3_column_text(st, 1), b->text.ptr + v->text, v->len) == 0;
	return type == SQLITE_NULL;
}

/*
 * Bring record row rec's field rows to the values in [v, end): only the rows that
 * differ are deleted and inserted. An amendment changes a field or two; rewriting all
 * of them dirtied a page of the fields_value index per field, scattered across a
 * large index: most of what a catch-up wrote on a big ledger.
 */
static int fields_update(struct index *ix, sqlite3_int64 rec, const char *type,
			 const struct batch *b, const struct val *v, const struct val *end)
{
	bool keep[64] = {0};
	const struct val *x;
	sqlite3_stmt *st, *del;
	size_t i;
	int rc, step;

	if (end - v > 64) { /* many list items: rewrite them all */
		if ((rc = ix_stmt(&st, ix, ST_FIELDS_DEL)) < 0)
			return rc;
		sqlite3_bind_int64(st, 1, rec);
		if ((rc = ix_done(ix, st)) < 0)
			return rc;
		for (x = v; x < end; x++)
			if (x->role == VAL_FIELD && (rc = put_field(ix, rec, type, b, x)) < 0)
				return rc;
		return 0;
	}
	if ((rc = ix_stmt(&st, ix, ST_FIELDS_GET)) < 0 ||
	    (rc = ix_stmt(&del, ix, ST_FIELD_DEL)) < 0)
		return rc;
	sqlite3_bind_int64(st, 1, rec);
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		bool found = false;

		for (x = v, i = 0; x < end && !found; x++, i++)
			if (x->role == VAL_FIELD && same_field(st, b, x))
				found = keep[i] = true;
		if (found)
			continue;
		sqlite3_bind_int64(del, 1, rec);
		sqlite3_bind_value(del, 2, sqlite3_column_value(st, 0));
		sqlite3_bind_value(del, 3, sqlite3_column_value(st, 1));
		if ((rc = ix_done(ix, del)) < 0) {
			sqlite3_reset(st);
			return rc;
		}
	}
	sqlite3_reset(st);
	if (step != SQLITE_DONE)
		return ix_fail(ix, step, "cannot read");
	for (x = v, i = 0; x < end; x++, i++)
		if (x->role == VAL_FIELD && !keep[i] && (rc = put_field(ix, rec, type, b, x)) < 0)
			return rc;
	return 0;
}

/* Do the persons rows of record row rec hold exactly the numbers in [v, end)? */
static int persons_same(bool *same, struct index *ix, sqlite3_int64 rec, const struct batch *b,
			const struct val *v, const struct val *end)
{
	const struct val *x;
	sqlite3_stmt *st;
	size_t old = 0, now = 0;
	int rc, step;

	*same = true;
	for (x = v; x < end; x++)
		now += x->role == VAL_IDNUM && x + 1 < end;
	if ((rc = ix_stmt(&st, ix, ST_PERSONS_GET)) < 0)
		return rc;
	sqlite3_bind_int64(st, 1, rec);
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		bool found = false;

		old++;
		for (x = v; x + 1 < end && !found; x++)
			found = x->role == VAL_IDNUM && x[1].role == VAL_IDTYPE &&
				(size_t)sqlite3_column_bytes(st, 0) == x->len &&
				memcmp(sqlite3_column_text(st, 0), b->text.ptr + x->text, x->len) ==
				    0 &&
				sqlite3_column_type(st, 1) == x[1].type &&
				(x[1].type != SQLITE_TEXT ||
				 ((size_t)sqlite3_column_bytes(st, 1) == x[1].len &&
				  memcmp(sqlite3_column_text(st, 1), b->text.ptr + x[1].text,
					 x[1].len) == 0));
		*same = *same && found;
	}
	sqlite3_reset(st);
	if (step != SQLITE_DONE)
		return ix_fail(ix, step, "cannot read");
	*same = *same && old == now;
	return 0;
}

/* Store a record's row and its field and person rows. A fresh record (the branch's
 * indexed state had nothing at its path) has no old rows to delete; an amended one has
 * only the rows that changed replaced. */
static int record_store(struct writer *wr, const struct batch *b, const struct op *op)
{
	const struct val *v = &b->vals[op->val] + VAL_HLC + 1, *end = &b->vals[op->val + op->nval];
	const struct val *x;
	sqlite3_stmt *st;
	sqlite3_int64 row = 0;
	bool same = false;
	int rc;

	if (wr->progress)
		wr->progress->records++;
	if ((rc = record_row(&row, wr, b, op)) < 0)
		return rc;
	if (op->fresh) {
		for (x = v; rc == 0 && x < end; x++)
			if (x->role == VAL_FIELD)
				rc = put_field(wr->ix, row, op->t->name, b, x);
	} else if ((rc = fields_update(wr->ix, row, op->t->name, b, v, end)) == 0 &&
		   (rc = persons_same(&same, wr->ix, row, b, v, end)) == 0 && !same &&
		   (rc = ix_stmt(&st, wr->ix, ST_PERSONS_DEL)) == 0) {
		sqlite3_bind_int64(st, 1, row);
		rc = ix_done(wr->ix, st);
	}
	for (x = v; rc == 0 && !same && x < end; x++)
		if (x->role == VAL_IDNUM && x + 1 < end)
			rc = put_person(wr->ix, row, b, x, x + 1);
	return rc;
}

static int change_put(struct writer *wr, const struct op *op, const char *text)
{
	const struct history_info *info = op->info;
	sqlite3_stmt *st;
	int rc;

	if (wr->progress)
		wr->progress->changes++;
	if ((rc = ix_stmt(&st, wr->ix, ST_CHANGE_PUT)) < 0)
		return rc;
	sqlite3_bind_text(st, 1, op->branch, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, git_oid_tostr_s(&info->id), -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 3, info->time);
	sqlite3_bind_int(st, 4, info->offset);
	sqlite3_bind_text(st, 5, info->office, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 6, info->operator, - 1, SQLITE_STATIC);
	sqlite3_bind_text(st, 7, info->subject, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 8, info->reason, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 9, info->hlc, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 10, op->id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 11, op->t->name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 12, op->change, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 13, text, (int)op->len, SQLITE_STATIC);
	return ix_done(wr->ix, st);
}

static int branch_put(struct writer *wr, const struct op *op)
{
	sqlite3_stmt *st;
	int rc;

	if ((rc = ix_stmt(&st, wr->ix, ST_BRANCH_PUT)) < 0)
		return rc;
	sqlite3_bind_text(st, 1, op->branch, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, git_oid_tostr_s(&op->oid), -1, SQLITE_TRANSIENT);
	if ((rc = ix_done(wr->ix, st)) == 0 && wr->progress)
		wr->progress->branches++;
	return rc;
}

static int write_batch(struct writer *wr, const struct batch *b)
{
	size_t i;
	int rc = 0;

	for (i = 0; rc == 0 && i < b->n; i++) {
		const struct op *op = &b->op[i];
		const char *text = b->text.ptr + op->text;

		switch (op->kind) {
		case OP_CHANGE:
			rc = change_put(wr, op, text);
			break;
		case OP_STORE:
			rc = record_store(wr, b, op);
			break;
		case OP_FORGET:
			rc = record_forget(wr, op);
			break;
		case OP_BRANCH:
			rc = branch_put(wr, op);
			break;
		}
	}
	return rc;
}

/* Write every batch the walk sends until it ends; stop it on the first failure. */
static int write_all(struct writer *wr, struct pipe *p)
{
	struct batch *b;
	int rc = 0;

	for (;;) {
		pthread_mutex_lock(&p->mu);
		while (!p->full && !p->walk_done)
			pthread_cond_wait(&p->cv, &p->mu);
		b = p->walk_rc < 0 ? NULL : p->full;
		if (b && (p->full = b->next) == NULL)
			p->full_tail = &p->full;
		pthread_mutex_unlock(&p->mu);
		if (!b)
			break;
		rc = write_batch(wr, b);
		pthread_mutex_lock(&p->mu);
		b->next = p->used;
		p->used = b;
		p->stop = rc < 0;
		pthread_cond_broadcast(&p->cv);
		pthread_mutex_unlock(&p->mu);
		if (rc < 0)
			return rc;
	}
	if (p->walk_rc < 0)
		return err_set(p->walk_rc, "%s", p->walk_err);
	return 0;
}

/* --- the plan and the two threads ----------------------------------------------------- */

static int pipe_init(struct pipe *p)
{
	size_t i;

	memset(p, 0, sizeof(*p));
	p->full_tail = &p->full;
	if (!(p->all = calloc(PIPE_BATCHES, sizeof(*p->all))))
		return err_set(ERR_NOMEM, "out of memory");
	for (i = 0; i < PIPE_BATCHES; i++) {
		p->all[i].text = (struct buf)BUF_INIT;
		p->all[i].next = p->used;
		p->used = &p->all[i];
	}
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->cv, NULL);
	return 0;
}

static void pipe_release(struct pipe *p)
{
	size_t i;

	for (i = 0; p->all && i < PIPE_BATCHES; i++) {
		batch_clear(&p->all[i]);
		free(p->all[i].vals);
		buf_release(&p->all[i].text);
	}
	free(p->all);
	pthread_mutex_destroy(&p->mu);
	pthread_cond_destroy(&p->cv);
}

/* Carry out the plan: the walk on a thread of its own, the writer on this one. */
static int run_plan(struct index *ix, struct ledger *l, const struct plan *plan, size_t n,
		    struct index_progress *progress)
{
	struct writer wr = {.ix = ix, .progress = progress};
	struct walk w = {.l = l, .plan = plan, .nplan = n};
	struct pipe p;
	pthread_t thread;
	int rc, err;

	if (n == 0)
		return 0;
	if ((rc = pipe_init(&p)) < 0)
		return rc;
	w.pipe = &p;
	if ((err = pthread_create(&thread, NULL, walk_main, &w)) != 0) {
		errno = err;
		rc = err_errno(ERR_GENERIC, "index: cannot start a thread");
		goto out;
	}
	rc = write_all(&wr, &p);
	pthread_join(thread, NULL);
	if (progress)
		progress->commits += w.commits;
out:
	pipe_release(&p);
	return rc;
}

static int branch_forget(struct index *ix, const char *branch)
{
	static const char *const sql[] = {
	    "DELETE FROM fields WHERE rec IN (SELECT rec FROM records WHERE branch = ?1)",
	    "DELETE FROM persons WHERE rec IN (SELECT rec FROM records WHERE branch = ?1)",
	    "DELETE FROM records WHERE branch = ?1",
	    "DELETE FROM changes WHERE branch = ?1",
	    "DELETE FROM branches WHERE branch = ?1",
	};
	sqlite3_stmt *st = NULL;
	size_t i;
	int rc = 0;

	for (i = 0; rc == 0 && i < sizeof(sql) / sizeof(sql[0]); i++) {
		if ((rc = ix_prepare(&st, ix, sql[i])) < 0)
			break;
		sqlite3_bind_text(st, 1, branch, -1, SQLITE_STATIC);
		rc = ix_done(ix, st);
		sqlite3_finalize(st);
		st = NULL;
	}
	return rc;
}

/* The branches of the repository that hold records: name and head, sorted by name. */
struct branch_head {
	char name[OFFICE_CODE_MAX + 1];
	git_oid head;
};

static int cmp_branch(const void *a, const void *b)
{
	return strcmp(((const struct branch_head *)a)->name, ((const struct branch_head *)b)->name);
}

static int list_heads(struct branch_head **out, size_t *n, struct ledger *l)
{
	git_reference_iterator *it = NULL;
	git_reference *ref;
	struct branch_head *v = NULL, *grown;
	size_t cap = 0;
	int rc = 0, step;

	*out = NULL;
	*n = 0;
	if (git_reference_iterator_glob_new(&it, l->repo, "refs/heads/*") < 0)
		return err_git(ERR_IO, "cannot list the branches of '%s'", l->dir);
	while ((step = git_reference_next(&ref, it)) == 0) {
		const char *name = git_reference_name(ref) + strlen("refs/heads/");
		git_object *obj = NULL;

		if (strlen(name) <= OFFICE_CODE_MAX && office_level(name) > 0) {
			if (git_reference_peel(&obj, ref, GIT_OBJECT_COMMIT) < 0) {
				rc = err_git(ERR_IO, "cannot read branch '%s'", name);
			} else if (*n == cap) {
				cap = cap ? cap * 2 : 8;
				if (!(grown = realloc(v, cap * sizeof(*v))))
					rc = err_set(ERR_NOMEM, "out of memory");
				else
					v = grown;
			}
			if (rc == 0) {
				snprintf(v[*n].name, sizeof(v[*n].name), "%s", name);
				git_oid_cpy(&v[*n].head, git_object_id(obj));
				(*n)++;
			}
			git_object_free(obj);
		}
		err_clear();
		git_reference_free(ref);
		if (rc < 0)
			break;
	}
	git_reference_iterator_free(it);
	if (rc == 0 && step != GIT_ITEROVER)
		rc = err_git(ERR_IO, "cannot list the branches of '%s'", l->dir);
	if (rc < 0) {
		free(v);
		*n = 0;
		return rc;
	}
	if (*n)
		qsort(v, *n, sizeof(*v), cmp_branch);
	*out = v;
	return 0;
}

/* Branch -> indexed head, as stored; NULL head text when not indexed. */
static int indexed_heads(json_t **out, struct index *ix)
{
	sqlite3_stmt *st = NULL;
	int rc, step;

	*out = json_object();
	if (!*out)
		return err_set(ERR_NOMEM, "out of memory");
	if ((rc = ix_prepare(&st, ix, "SELECT branch, head FROM branches")) < 0)
		return rc;
	while ((step = sqlite3_step(st)) == SQLITE_ROW)
		json_object_set_new(*out, (const char *)sqlite3_column_text(st, 0),
				    json_string((const char *)sqlite3_column_text(st, 1)));
	if (step != SQLITE_DONE)
		rc = ix_fail(ix, step, "cannot read");
	sqlite3_finalize(st);
	return rc;
}

/* Drop the branches gone from the repository; plan the others that moved, dropping
 * the ones whose indexed commit is no longer in their history. */
static int make_plan(struct plan *plan, size_t *nplan, struct index *ix, struct ledger *l,
		     const struct branch_head *heads, size_t n)
{
	json_t *have = NULL, *v;
	const char *name;
	void *tmp;
	size_t i;
	int rc;

	*nplan = 0;
	if ((rc = indexed_heads(&have, ix)) < 0)
		goto out;
	json_object_foreach_safe (have, tmp, name, v) {
		bool found = false;

		for (i = 0; i < n && !found; i++)
			found = strcmp(heads[i].name, name) == 0;
		if (!found && (rc = branch_forget(ix, name)) < 0)
			goto out;
	}
	for (i = 0; i < n; i++) {
		const char *text = json_string_value(json_object_get(have, heads[i].name));
		struct plan *p = &plan[*nplan];

		p->has_indexed = text && git_oid_fromstr(&p->indexed, text) == 0;
		if (p->has_indexed && git_oid_equal(&p->indexed, &heads[i].head))
			continue;
		if (p->has_indexed &&
		    git_graph_descendant_of(l->repo, &heads[i].head, &p->indexed) != 1) {
			fprintf(
			    stderr,
			    "caseledger: index: branch '%s' was rewritten (indexed commit %.12s "
			    "is not in its history); re-indexing the branch\n",
			    heads[i].name, text);
			if ((rc = branch_forget(ix, heads[i].name)) < 0)
				goto out;
			p->has_indexed = false;
		}
		p->branch = heads[i].name;
		git_oid_cpy(&p->head, &heads[i].head);
		(*nplan)++;
	}
out:
	json_decref(have);
	return rc;
}

/* Catch up inside an open write transaction. */
static int catch_up_locked(struct index *ix, struct ledger *l, struct index_progress *progress,
			   const struct branch_head *heads, size_t n)
{
	struct plan *plan = NULL;
	size_t nplan;
	int rc;

	if (n && !(plan = calloc(n, sizeof(*plan))))
		return err_set(ERR_NOMEM, "out of memory");
	if ((rc = make_plan(plan, &nplan, ix, l, heads, n)) == 0)
		rc = run_plan(ix, l, plan, nplan, progress);
	free(plan);
	return rc;
}

/* Do the indexed heads equal the repository's? (no lock taken) */
static int up_to_date(bool *same, struct index *ix, const struct branch_head *heads, size_t n)
{
	json_t *have = NULL;
	size_t i;
	int rc;

	*same = false;
	if ((rc = indexed_heads(&have, ix)) < 0)
		return rc;
	*same = json_object_size(have) == n;
	for (i = 0; i < n && *same; i++) {
		const char *text = json_string_value(json_object_get(have, heads[i].name));

		*same = text && strcmp(text, git_oid_tostr_s(&heads[i].head)) == 0;
	}
	json_decref(have);
	return 0;
}

int index_catch_up(struct index *ix, struct ledger *l, struct index_progress *progress)
{
	struct branch_head *heads = NULL;
	bool same;
	size_t n;
	int rc;

	if (progress)
		memset(progress, 0, sizeof(*progress));
	if ((rc = list_heads(&heads, &n, l)) < 0)
		return rc;
	if ((rc = up_to_date(&same, ix, heads, n)) < 0 || same)
		goto out;
	if ((rc = ix_exec(ix, "BEGIN IMMEDIATE")) < 0)
		goto out;
	rc = catch_up_locked(ix, l, progress, heads, n);
	if (rc == 0)
		rc = ix_exec(ix, "COMMIT");
	if (rc < 0)
		sqlite3_exec(ix->db, "ROLLBACK", NULL, NULL, NULL);
out:
	free(heads);
	return rc;
}

int index_rebuild(struct index *ix, struct ledger *l, struct index_progress *progress)
{
	struct branch_head *heads = NULL;
	size_t n;
	int rc;

	if (progress)
		memset(progress, 0, sizeof(*progress));
	if ((rc = list_heads(&heads, &n, l)) < 0)
		return rc;
	if ((rc = ix_exec(ix, "PRAGMA cache_size=-131072; BEGIN IMMEDIATE")) < 0)
		goto out;
	rc = ix_exec(ix, "DELETE FROM fields; DELETE FROM persons; DELETE FROM records;"
			 "DELETE FROM changes; DELETE FROM branches;");
	if (rc == 0)
		rc = ix_exec(ix, index_drop_secondary_sql);
	if (rc == 0)
		rc = catch_up_locked(ix, l, progress, heads, n);
	if (rc == 0)
		rc = ix_exec(ix, index_secondary_sql);
	if (rc == 0)
		rc = ix_exec(ix, "COMMIT");
	if (rc < 0)
		sqlite3_exec(ix->db, "ROLLBACK", NULL, NULL, NULL);
	sqlite3_exec(ix->db, "PRAGMA cache_size=-65536", NULL, NULL, NULL);
out:
	free(heads);
	return rc;
}

/* --- dump and check ------------------------------------------------------------------- */

static int dump_query(struct buf *out, struct index *ix, const char *title, const char *sql)
{
	sqlite3_stmt *st = NULL;
	int rc, step, i, ncol;

	if ((rc = ix_prepare(&st, ix, sql)) < 0)
		return rc;
	ncol = sqlite3_column_count(st);
	rc = buf_printf(out, "[%s]\n", title);
	while (rc == 0 && (step = sqlite3_step(st)) == SQLITE_ROW) {
		for (i = 0; rc == 0 && i < ncol; i++) {
			const char *sep = i ? "|" : "";

			switch (sqlite3_column_type(st, i)) {
			case SQLITE_NULL:
				rc = buf_printf(out, "%sNULL", sep);
				break;
			case SQLITE_INTEGER:
				rc = buf_printf(out, "%s%lld", sep, sqlite3_column_int64(st, i));
				break;
			default: {
				const char *s = (const char *)sqlite3_column_text(st, i);
				size_t k;

				rc = buf_printf(out, "%s'", sep);
				for (k = 0; rc == 0 && s && s[k]; k++)
					rc = s[k] == '\n'   ? buf_adds(out, "\\n")
					     : s[k] == '\'' ? buf_adds(out, "''")
							    : buf_addch(out, s[k]);
				if (rc == 0)
					rc = buf_addch(out, '\'');
			}
			}
		}
		if (rc == 0)
			rc = buf_addch(out, '\n');
	}
	if (rc == 0 && step != SQLITE_DONE)
		rc = ix_fail(ix, step, "cannot read");
	sqlite3_finalize(st);
	return rc;
}

int index_dump(struct buf *out, struct index *ix)
{
	int rc;

	if ((rc = dump_query(out, ix, "meta", "SELECT key, value FROM meta ORDER BY key")) < 0 ||
	    (rc = dump_query(out, ix, "branches",
			     "SELECT branch, head FROM branches ORDER BY branch")) < 0 ||
	    (rc = dump_query(out, ix, "records",
			     "SELECT branch, id, type, status, office, void, hlc, blob, json"
			     " FROM records ORDER BY branch, id")) < 0 ||
	    (rc = dump_query(out, ix, "fields",
			     "SELECT r.branch, r.id, f.field, typeof(f.value), f.value, f.type"
			     " FROM fields f JOIN records r ON r.rec = f.rec"
			     " ORDER BY r.branch, r.id, f.field, f.value")) < 0 ||
	    (rc = dump_query(out, ix, "persons",
			     "SELECT p.id_number, p.id_type, r.branch, r.id"
			     " FROM persons p JOIN records r ON r.rec = p.rec"
			     " ORDER BY p.id_number, r.branch, r.id")) < 0)
		return rc;
	return dump_query(out, ix, "changes",
			  "SELECT branch, commit_id, record, time, tz, office, operator, subject,"
			  " reason, hlc, type, kind, fields FROM changes"
			  " ORDER BY branch, commit_id, record");
}

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

/* --- time ----------------------------------------------------------------------------- */

static int64_t days_from_civil(int y, int m, int d)
{
	int era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return (int64_t)era * 146097 + doe - 719468;
}

int index_parse_time(int64_t *out, const char *text, bool end_of_day)
{
	int y, mo, d, h = 0, mi = 0, s = 0, oh = 0, om = 0, n = 0, k;
	char sign = 0;
	const char *p;
	bool has_time = false, has_zone = false;
	static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

	if (sscanf(text, "%4d-%2d-%2d%n", &y, &mo, &d, &n) != 3 || n != 10)
		goto bad;
	p = text + 10;
	if (*p == 'T' || *p == ' ') {
		has_time = true;
		if (sscanf(p + 1, "%2d:%2d%n", &h, &mi, &k) != 2 || k != 5)
			goto bad;
		p += 6;
		if (*p == ':') {
			if (sscanf(p + 1, "%2d%n", &s, &k) != 1 || k != 2)
				goto bad;
			p += 3;
		}
		if (*p == 'Z') {
			has_zone = true;
			p++;
		} else if (*p == '+' || *p == '-') {
			sign = *p;
			if (sscanf(p + 1, "%2d:%2d%n", &oh, &om, &k) != 2 || k != 5)
				goto bad;
			has_zone = true;
			p += 6;
		}
	}
	if (*p || mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] ||
	    (mo == 2 && d == 29 && !((y % 4 == 0 && y % 100 != 0) || y % 400 == 0)) || h > 23 ||
	    mi > 59 || s > 60 || oh > 23 || om > 59)
		goto bad;
	if (!has_time && end_of_day) {
		h = 23;
		mi = 59;
		s = 59;
	}
	if (has_zone) {
		*out = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s -
		       (sign == '-' ? -1 : 1) * (oh * 3600 + om * 60);
	} else {
		struct tm tm = {0};

		tm.tm_year = y - 1900;
		tm.tm_mon = mo - 1;
		tm.tm_mday = d;
		tm.tm_hour = h;
		tm.tm_min = mi;
		tm.tm_sec = s;
		tm.tm_isdst = -1;
		*out = (int64_t)mktime(&tm);
	}
	return 0;
bad:
	return err_set(ERR_INVALID,
		       "'%s' is not a date or time (want YYYY-MM-DD or YYYY-MM-DDTHH:MM[:SS] with "
		       "an optional Z or +HH:MM)",
		       text);
}

/* --- queries -------------------------------------------------------------------------- */

int index_cond_parse(struct index_cond *out, char *word)
{
	size_t n = strspn(word, "abcdefghijklmnopqrstuvwxyz0123456789_");
	char *p = word + n;

	memset(out, 0, sizeof(*out));
	if (n == 0)
		goto bad;
	if (p[0] == '=') {
		out->op = INDEX_EQ;
		out->value = p + 1;
	} else if (p[0] == '~') {
		out->op = INDEX_PREFIX;
		out->value = p + 1;
	} else if (p[0] == '<' || p[0] == '>') {
		bool eq = p[1] == '=';

		out->op = p[0] == '<' ? (eq ? INDEX_LE : INDEX_LT) : (eq ? INDEX_GE : INDEX_GT);
		out->value = p + 1 + eq;
	} else {
		goto bad;
	}
	*p = '\0';
	out->field = word;
	return 0;
bad:
	return err_set(ERR_USAGE,
		       "'%s' is not a condition (field=value, field~prefix, field<value, "
		       "field>value, field<=value, field>=value)",
		       word);
}

static const char *op_sql(enum index_op op)
{
	switch (op) {
	case INDEX_LT:
		return "<";
	case INDEX_GT:
		return ">";
	case INDEX_LE:
		return "<=";
	case INDEX_GE:
		return ">=";
	default:
		return "=";
	}
}

/* A condition's value, typed for the field's kind: into v (a JSON scalar). */
static int cond_value(json_t **out, const struct schema_type *t, const struct schema_field *f,
		      const struct index_cond *c)
{
	enum field_kind k = f ? (f->kind == FIELD_LIST ? f->item : f->kind) : FIELD_TEXT;
	char *end;
	long long n;

	*out = NULL;
	if (c->op == INDEX_PREFIX) {
		if (k == FIELD_INT || k == FIELD_MONEY || k == FIELD_BOOL)
			return err_set(ERR_INVALID, "%s: field '%s' is a number; '~' wants text",
				       t->name, c->field);
		*out = json_string(c->value);
	} else if (k == FIELD_INT || k == FIELD_MONEY) {
		errno = 0;
		n = strtoll(c->value, &end, 10);
		if (!*c->value || *end || errno)
			return err_set(ERR_INVALID, "%s: field '%s' wants an integer%s, got '%s'",
				       t->name, c->field, k == FIELD_MONEY ? " amount in fen" : "",
				       c->value);
		*out = json_integer(n);
	} else if (k == FIELD_BOOL) {
		if (!strcmp(c->value, "yes") || !strcmp(c->value, "true"))
			*out = json_true();
		else if (!strcmp(c->value, "no") || !strcmp(c->value, "false"))
			*out = json_false();
		else
			return err_set(ERR_INVALID, "%s: field '%s' wants yes or no, got '%s'",
				       t->name, c->field, c->value);
	} else {
		*out = json_string(c->value);
	}
	return *out ? 0 : err_set(ERR_NOMEM, "out of memory");
}

/* The smallest string greater than every string starting with p; false when none. */
static bool prefix_upper(struct buf *out, const char *p)
{
	size_t n = strlen(p);

	while (n > 0 && (unsigned char)p[n - 1] == 0xff)
		n--;
	if (n == 0)
		return false;
	buf_reset(out);
	if (buf_add(out, p, n) < 0)
		return false;
	out->ptr[n - 1] = (char)((unsigned char)out->ptr[n - 1] + 1);
	return true;
}

struct binds {
	json_t *values; /* array of values bound in order */
};

/* Bind a JSON scalar as a typed SQLite value. */
static void bind_json(sqlite3_stmt *st, int col, const json_t *v)
{
	if (json_is_string(v))
		sqlite3_bind_text(st, col, json_string_value(v), -1, SQLITE_TRANSIENT);
	else if (json_is_integer(v))
		sqlite3_bind_int64(st, col, (sqlite3_int64)json_integer_value(v));
	else if (json_is_boolean(v))
		sqlite3_bind_int(st, col, json_is_true(v));
	else
		sqlite3_bind_null(st, col);
}

static int bind_all(sqlite3_stmt *st, json_t *values)
{
	size_t i;

	for (i = 0; i < json_array_size(values); i++)
		bind_json(st, (int)i + 1, json_array_get(values, i));
	return 0;
}

int index_find(json_t **out, struct index *ix, struct ledger *l, const char *type,
	       const struct index_cond *conds, size_t nconds, const char *branch, long limit)
{
	const struct schema_type *t = schema_type_find(l->schema, type);
	struct buf sql = BUF_INIT, upper = BUF_INIT;
	json_t *values = json_array(), *v = NULL;
	sqlite3_stmt *st = NULL;
	bool driven = false;
	size_t i;
	int rc = 0, step;

	*out = NULL;
	if (!values)
		return err_set(ERR_NOMEM, "out of memory");
	if (!t) {
		rc = err_set(ERR_INVALID, "no record type '%s' (see 'caseledger schema')", type);
		goto out;
	}
	/* When a searchable field's index can drive the query, keep the planner off the
	 * records_type index (without statistics it would scan every record of the type). */
	for (i = 0; i < nconds && !driven; i++) {
		const struct schema_field *f = schema_field_find(t, conds[i].field);

		driven = f && f->search;
	}
	if ((rc = buf_printf(&sql, "SELECT r.branch, r.json FROM records r WHERE %sr.type = ?",
			     driven ? "+" : "")) < 0)
		goto out;
	json_array_append_new(values, json_string(type));
	if (branch) {
		rc = buf_adds(&sql, " AND r.branch = ?");
		json_array_append_new(values, json_string(branch));
	}
	for (i = 0; rc == 0 && i < nconds; i++) {
		const struct index_cond *c = &conds[i];
		const struct schema_field *f = schema_field_find(t, c->field);
		bool is_id = strcmp(c->field, "id") == 0, is_void = strcmp(c->field, "void") == 0;
		bool is_list = f && f->kind == FIELD_LIST;
		char col[160];

		if (!f && !is_id && !is_void) {
			rc = err_set(ERR_INVALID,
				     "%s has no field '%s' (see 'caseledger schema %s')", t->name,
				     c->field, t->name);
			break;
		}
		if (is_void) {
			static const struct schema_field void_field = {.kind = FIELD_BOOL};

			f = &void_field;
		}
		if ((rc = cond_value(&v, t, f, c)) < 0)
			break;
		if (is_id)
			snprintf(col, sizeof(col), "r.id");
		else if (is_void)
			snprintf(col, sizeof(col), "r.void");
		else if (f->search)
			snprintf(col, sizeof(col), "f.value");
		else if (is_list)
			snprintf(col, sizeof(col), "j.value");
		else
			snprintf(col, sizeof(col), "json_extract(r.json, '$.%s')", f->name);
		if (f && f->search && !is_void && !is_id) {
			rc = buf_adds(&sql, " AND r.rec IN (SELECT f.rec FROM fields f WHERE"
					    " f.type = ? AND f.field = ? AND ");
			json_array_append_new(values, json_string(type));
			json_array_append_new(values, json_string(f->name));
		} else if (is_list) {
			rc = buf_printf(&sql,
					" AND EXISTS (SELECT 1 FROM json_each(r.json, '$.%s') j"
					" WHERE ",
					f->name);
		} else {
			rc = buf_adds(&sql, " AND ");
		}
		if (rc < 0)
			break;
		if (c->op == INDEX_PREFIX) {
			bool has_upper = prefix_upper(&upper, c->value);

			rc = buf_printf(&sql, "%s >= ?%s%s%s", col, has_upper ? " AND " : "",
					has_upper ? col : "", has_upper ? " < ?" : "");
			json_array_append(values, v);
			if (has_upper)
				json_array_append_new(values, json_string(upper.ptr));
		} else {
			rc = buf_printf(&sql, "%s %s ?", col, op_sql(c->op));
			json_array_append(values, v);
		}
		json_decref(v);
		v = NULL;
		if (rc == 0 && ((f && f->search && !is_void && !is_id) || is_list))
			rc = buf_adds(&sql, ")");
	}
	if (rc < 0)
		goto out;
	if ((rc = buf_adds(&sql, " ORDER BY r.branch, r.id")) < 0)
		goto out;
	if (limit > 0 && (rc = buf_printf(&sql, " LIMIT %ld", limit)) < 0)
		goto out;
	if ((rc = ix_prepare(&st, ix, sql.ptr)) < 0)
		goto out;
	bind_all(st, values);
	if (!(*out = json_array())) {
		rc = err_set(ERR_NOMEM, "out of memory");
		goto out;
	}
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		json_t *rec = NULL, *row;

		if ((rc = record_decode(&rec, (const char *)sqlite3_column_text(st, 1),
					(size_t)sqlite3_column_bytes(st, 1), false,
					"indexed record")) < 0)
			break;
		row = json_pack("{s:s, s:o}", "branch", (const char *)sqlite3_column_text(st, 0),
				"record", rec);
		if (!row || json_array_append_new(*out, row) < 0) {
			rc = err_set(ERR_NOMEM, "out of memory");
			break;
		}
	}
	if (rc == 0 && step != SQLITE_DONE)
		rc = ix_fail(ix, step, "cannot search");
out:
	if (rc < 0) {
		json_decref(*out);
		*out = NULL;
	}
	json_decref(v);
	json_decref(values);
	sqlite3_finalize(st);
	buf_release(&sql);
	buf_release(&upper);
	return rc;
}

/* One change-log row (columns in the order of CHANGE_COLUMNS) as a JSON object. */
#define CHANGE_COLUMNS                                                                             \
	"branch, commit_id, time, tz, office, operator, subject, reason, hlc, record, type, "      \
	"kind, fields"

static json_t *change_row(sqlite3_stmt *st)
{
	char when[UTIL_ISO_MAX];
	json_t *o, *changes;
	const char *text = (const char *)sqlite3_column_text(st, 12);

	util_iso_time(when, sqlite3_column_int64(st, 2), sqlite3_column_int(st, 3));
	changes = json_loads(text ? text : "[]", 0, NULL);
	o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:o*}", "branch",
		      sqlite3_column_text(st, 0), "commit", sqlite3_column_text(st, 1), "time",
		      when, "office", sqlite3_column_text(st, 4), "operator",
		      sqlite3_column_text(st, 5), "subject", sqlite3_column_text(st, 6), "reason",
		      sqlite3_column_text(st, 7), "hlc", sqlite3_column_text(st, 8), "record",
		      sqlite3_column_text(st, 9), "type", sqlite3_column_text(st, 10), "kind",
		      sqlite3_column_text(st, 11), "changes", changes);
	return o;
}

int index_log(json_t **out, struct index *ix, const struct index_log_filter *f)
{
	struct buf sql = BUF_INIT;
	json_t *values = json_array();
	sqlite3_stmt *st = NULL;
	int rc, step;

	*out = NULL;
	if (!values)
		return err_set(ERR_NOMEM, "out of memory");
	rc = buf_adds(&sql,
		      "SELECT " CHANGE_COLUMNS " FROM changes c WHERE time >= ? AND time <= ?");
	json_array_append_new(values, json_integer(f->since));
	json_array_append_new(values, json_integer(f->until));
	if (rc == 0 && f->branch) {
		rc = buf_adds(&sql, " AND branch = ?");
		json_array_append_new(values, json_string(f->branch));
	}
	if (rc == 0 && f->office) {
		rc = buf_adds(&sql, " AND office = ?");
		json_array_append_new(values, json_string(f->office));
	}
	if (rc == 0 && f->operator) {
		rc = buf_adds(&sql, " AND operator = ?");
		json_array_append_new(values, json_string(f->operator));
	}
	if (rc == 0 && f->record) {
		rc = buf_adds(&sql, " AND record = ?");
		json_array_append_new(values, json_string(f->record));
	}
	if (rc == 0 && f->field) {
		rc = buf_adds(&sql, " AND EXISTS (SELECT 1 FROM json_each(c.fields) j"
				    " WHERE json_extract(j.value, '$.field') = ?)");
		json_array_append_new(values, json_string(f->field));
	}
	if (rc == 0)
		rc = buf_adds(&sql, " ORDER BY time DESC, seq DESC");
	if (rc == 0 && f->limit > 0)
		rc = buf_printf(&sql, " LIMIT %ld", f->limit);
	if (rc < 0 || (rc = ix_prepare(&st, ix, sql.ptr)) < 0)
		goto out;
	bind_all(st, values);
	if (!(*out = json_array())) {
		rc = err_set(ERR_NOMEM, "out of memory");
		goto out;
	}
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		json_t *o = change_row(st);

		if (!o || json_array_append_new(*out, o) < 0) {
			rc = err_set(ERR_NOMEM, "out of memory");
			break;
		}
	}
	if (rc == 0 && step != SQLITE_DONE)
		rc = ix_fail(ix, step, "cannot read the change log");
out:
	if (rc < 0) {
		json_decref(*out);
		*out = NULL;
	}
	json_decref(values);
	sqlite3_finalize(st);
	buf_release(&sql);
	return rc;
}

int index_blame(json_t **out, struct index *ix, const char *branch, const char *id)
{
	sqlite3_stmt *st = NULL;
	json_t *rec = NULL, *seen = NULL, *v;
	const char *key;
	int rc, step;

	*out = NULL;
	if ((rc = ix_prepare(&st, ix, "SELECT json FROM records WHERE branch = ? AND id = ?")) < 0)
		return rc;
	sqlite3_bind_text(st, 1, branch, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
	step = sqlite3_step(st);
	if (step == SQLITE_DONE) {
		rc = err_set(ERR_NOTFOUND, "no record '%s' on branch '%s'", id, branch);
		goto out;
	}
	if (step != SQLITE_ROW) {
		rc = ix_fail(ix, step, "cannot read");
		goto out;
	}
	if ((rc = record_decode(&rec, (const char *)sqlite3_column_text(st, 0),
				(size_t)sqlite3_column_bytes(st, 0), false, "indexed record")) < 0)
		goto out;
	sqlite3_finalize(st);
	st = NULL;
	if (!(seen = json_object()) || !(*out = json_array())) {
		rc = err_set(ERR_NOMEM, "out of memory");
		goto out;
	}
	if ((rc =
		 ix_prepare(&st, ix,
			    "SELECT " CHANGE_COLUMNS " FROM changes WHERE branch = ? AND record = ?"
			    " ORDER BY seq DESC")) < 0)
		goto out;
	sqlite3_bind_text(st, 1, branch, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
	/* Newest first: the first change to touch a field set its current value. */
	while ((step = sqlite3_step(st)) == SQLITE_ROW &&
	       json_object_size(seen) + 1 < json_object_size(rec)) {
		json_t *row = change_row(st), *c;
		size_t i;

		if (!row) {
			rc = err_set(ERR_NOMEM, "out of memory");
			break;
		}
		json_array_foreach (json_object_get(row, "changes"), i, c) {
			const char *field = json_string_value(json_object_get(c, "field"));

			if (field && json_object_get(rec, field) && !json_object_get(seen, field))
				json_object_set(seen, field, row);
		}
		json_decref(row);
	}
	if (rc == 0 && step != SQLITE_DONE && step != SQLITE_ROW)
		rc = ix_fail(ix, step, "cannot read the change log");
	/* In the record's (sorted) key order; the stamp is not a field anyone sets. */
	json_object_foreach (rec, key, v) {
		json_t *row = json_object_get(seen, key), *o;

		if (rc < 0 || strcmp(key, "hlc") == 0)
			continue;
		o = json_pack(
		    "{s:s, s:O, s:s?, s:s?, s:s?, s:s?, s:s?, s:s?}", "field", key, "value", v,
		    "commit", row ? json_string_value(json_object_get(row, "commit")) : NULL,
		    "time", row ? json_string_value(json_object_get(row, "time")) : NULL, "office",
		    row ? json_string_value(json_object_get(row, "office")) : NULL, "operator",
		    row ? json_string_value(json_object_get(row, "operator")) : NULL, "reason",
		    row ? json_string_value(json_object_get(row, "reason")) : NULL, "subject",
		    row ? json_string_value(json_object_get(row, "subject")) : NULL);
		if (!o || json_array_append_new(*out, o) < 0)
			rc = err_set(ERR_NOMEM, "out of memory");
	}
out:
	if (rc < 0) {
		json_decref(*out);
		*out = NULL;
	}
	json_decref(rec);
	json_decref(seen);
	sqlite3_finalize(st);
	return rc;
}

int index_stats(json_t **out, struct index *ix, struct ledger *l, const char *by)
{
	struct buf sql = BUF_INIT;
	json_t *groups = NULL, *total = NULL, *money = NULL;
	sqlite3_stmt *st = NULL;
	const char *key;
	size_t i, j, nmoney;
	int rc = 0, step;

	*out = NULL;
	if (!by)
		key = "'all'";
	else if (!strcmp(by, "type"))
		key = "r.type";
	else if (!strcmp(by, "status"))
		key = "r.status";
	else if (!strcmp(by, "programme"))
		key = "json_extract(r.json, '$.programme')";
	else if (!strcmp(by, "office"))
		key = "r.office";
	else if (!strcmp(by, "month"))
		key = "(SELECT strftime('%Y-%m', min(c.time), 'unixepoch') FROM changes c"
		      " WHERE c.branch = r.branch AND c.record = r.id)";
	else
		return err_set(ERR_USAGE,
			       "cannot group by '%s' (type, status, programme, office, month)", by);
	if (!(money = json_array()) || !(groups = json_array())) {
		rc = err_set(ERR_NOMEM, "out of memory");
		goto out;
	}
	rc = buf_printf(&sql, "SELECT %s AS k, sum(r.void = 0), sum(r.void != 0)", key);
	for (i = 0; rc == 0 && i < schema_ntypes(l->schema); i++) {
		const struct schema_type *t = schema_type_at(l->schema, i);

		for (j = 0; rc == 0 && j < t->nfields; j++) {
			if (t->fields[j].kind != FIELD_MONEY)
				continue;
			rc = buf_printf(&sql,
					", sum(CASE WHEN r.type = '%s' AND r.void = 0 THEN"
					" json_extract(r.json, '$.%s') END)",
					t->name, t->fields[j].name);
			json_array_append_new(money,
					      json_sprintf("%s.%s", t->name, t->fields[j].name));
		}
	}
	if (rc == 0)
		rc = buf_adds(&sql, " FROM records r GROUP BY k ORDER BY k");
	if (rc < 0 || (rc = ix_prepare(&st, ix, sql.ptr)) < 0)
		goto out;
	nmoney = json_array_size(money);
	if (!(total = json_pack("{s:i, s:i, s:{}}", "count", 0, "void", 0, "sums"))) {
		rc = err_set(ERR_NOMEM, "out of memory");
		goto out;
	}
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		json_t *sums = json_object(), *g;
		json_int_t count = sqlite3_column_int64(st, 1), nvoid = sqlite3_column_int64(st, 2);

		for (j = 0; sums && j < nmoney; j++) {
			const char *name = json_string_value(json_array_get(money, j));
			json_t *tsums = json_object_get(total, "sums");
			json_int_t sum = sqlite3_column_int64(st, (int)j + 3);

			if (sqlite3_column_type(st, (int)j + 3) == SQLITE_NULL)
				continue;
			json_object_set_new(sums, name, json_integer(sum));
			json_object_set_new(
			    tsums, name,
			    json_integer(json_integer_value(json_object_get(tsums, name)) + sum));
		}
		g = json_pack("{s:s?, s:I, s:I, s:o}", "key",
			      (const char *)sqlite3_column_text(st, 0), "count", count, "void",
			      nvoid, "sums", sums);
		if (!g || json_array_append_new(groups, g) < 0) {
			rc = err_set(ERR_NOMEM, "out of memory");
			break;
		}
		json_object_set_new(
		    total, "count",
		    json_integer(json_integer_value(json_object_get(total, "count")) + count));
		json_object_set_new(
		    total, "void",
		    json_integer(json_integer_value(json_object_get(total, "void")) + nvoid));
	}
	if (rc == 0 && step != SQLITE_DONE)
		rc = ix_fail(ix, step, "cannot count");
	if (rc == 0 && !(*out = json_pack("{s:s, s:O, s:O}", "by", by ? by : "all", "groups",
					  groups, "total", total)))
		rc = err_set(ERR_NOMEM, "out of memory");
out:
	json_decref(groups);
	json_decref(total);
	json_decref(money);
	sqlite3_finalize(st);
	buf_release(&sql);
	return rc;
}
