/*
 * index_walk: catching the index up with the repository, by tree diffs — a walk thread
 * that reads git and a writer that fills SQLite — and rebuilding it from nothing.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <git2.h>
#include <sqlite3.h>

#include "err.h"
#include "history.h"
#include "index.h"
#include "index_int.h"
#include "ledger.h"
#include "util.h"

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
	git_tree *others[4];		     /* a merge's parents after the first */
	size_t nothers;
	size_t commits; /* commits read */
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

/*
 * A merge's change to a record, as history_merge_view sees it against the merge's other
 * parents: *skip when it only carried the record (blob, fields or removal) from one of
 * them, whose own commit is the author; else *view (new reference, NULL: created here).
 */
static int merge_view(json_t **view, bool *skip, struct walk *w, const char *path, const char *id,
		      const json_t *was, const git_oid *new, const json_t *now)
{
	json_t *others[4] = {NULL};
	size_t i;
	int rc = 0;

	*skip = false;
	*view = NULL;
	for (i = 0; i < w->nothers && rc == 0 && !*skip; i++) {
		git_tree_entry *e = NULL;

		if (git_tree_entry_bypath(&e, w->others[i], path) < 0) {
			git_error_clear();
			*skip = !new; /* removed on that side too */
		} else if (new &&git_oid_equal(git_tree_entry_id(e), new)) {
			*skip = true; /* the very blob */
		} else if (now) {
			rc = load_record(&others[i], NULL, w, git_tree_entry_id(e), id, path);
		}
		git_tree_entry_free(e);
	}
	if (rc == 0 && !*skip) {
		bool any = was != NULL;

		for (i = 0; i < w->nothers; i++)
			any = any || others[i];
		*view = history_merge_view(was, now, others, w->nothers, skip);
		if (!*view && any)
			rc = err_set(ERR_NOMEM, "out of memory");
	}
	for (i = 0; i < w->nothers; i++)
		json_decref(others[i]);
	return rc;
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
	if (w->log && (!new || now) && w->nothers) {
		json_t *view = NULL;
		bool skip;

		if ((rc = merge_view(&view, &skip, w, path, id, was, new, now)) == 0 && !skip)
			rc = walk_change(w, t, id,
					 !view	? "create"
					 : !new ? "delete"
						: "amend",
					 view, now);
		json_decref(view);
		if (rc < 0)
			goto out;
	} else if (w->log && (!new || now) &&
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
	unsigned i;
	int rc = 0;

	if (git_commit_lookup(&c, w->l->repo, oid) < 0)
		return err_git(ERR_IO, "cannot read commit %s", git_oid_tostr_s(oid));
	parent = git_commit_parentcount(c) > 0 ? git_commit_parent_id(c, 0) : NULL;
	/* a merge logs only what it decided itself, against each of its other parents */
	for (i = 1; i < git_commit_parentcount(c) && w->nothers < 4; i++)
		if ((rc = tree_of(&w->others[w->nothers], w->l, git_commit_parent_id(c, i))) < 0)
			goto out;
		else
			w->nothers++;
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
out:
	while (w->nothers)
		git_tree_free(w->others[--w->nothers]);
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
	    "DELETE FROM refused WHERE branch = ?1",
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

/* --- verifying before indexing --------------------------------------------------------- */

void index_set_verifier(struct index *ix, index_verify_fn fn, void *payload)
{
	ix->verify = fn;
	ix->verify_payload = payload;
}

/* The head branch was refused at: *has false when it is not refused. */
static int refused_head(bool *has, git_oid *head, struct index *ix, const char *branch)
{
	sqlite3_stmt *st = NULL;
	int rc, step;

	*has = false;
	if ((rc = ix_prepare(&st, ix, "SELECT head FROM refused WHERE branch = ?1")) < 0)
		return rc;
	sqlite3_bind_text(st, 1, branch, -1, SQLITE_STATIC);
	step = sqlite3_step(st);
	if (step == SQLITE_ROW)
		*has = git_oid_fromstr(head, (const char *)sqlite3_column_text(st, 0)) == 0;
	else if (step != SQLITE_DONE)
		rc = ix_fail(ix, step, "cannot read");
	sqlite3_finalize(st);
	return rc;
}

/* Record (message non-NULL) or lift the refusal of branch. */
static int refused_set(struct index *ix, const char *branch, const git_oid *head,
		       const char *message)
{
	sqlite3_stmt *st = NULL;
	int rc;

	rc = ix_prepare(&st, ix,
			message ? "INSERT OR REPLACE INTO refused(branch, head, message)"
				  " VALUES(?1, ?2, ?3)"
				: "DELETE FROM refused WHERE branch = ?1");
	if (rc < 0)
		return rc;
	sqlite3_bind_text(st, 1, branch, -1, SQLITE_STATIC);
	if (message) {
		sqlite3_bind_text(st, 2, git_oid_tostr_s(head), -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(st, 3, message, -1, SQLITE_STATIC);
	}
	rc = ix_done(ix, st);
	sqlite3_finalize(st);
	return rc;
}

/*
 * May p's branch be indexed from p->indexed (or nothing) to p->head? Every commit in
 * between is verified first; *ok is false when one fails (the refusal is recorded and
 * said once on stderr) or when the branch was refused at this very head before.
 */
static int plan_verify(bool *ok, struct index *ix, struct ledger *l, const struct plan *p)
{
	struct buf msg = BUF_INIT;
	git_oid was;
	bool has;
	int rc;

	*ok = true;
	if (!ix->verify)
		return 0;
	if ((rc = refused_head(&has, &was, ix, p->branch)) < 0)
		return rc;
	if (has && git_oid_equal(&was, &p->head)) {
		*ok = false;
		return 0;
	}
	rc = ix->verify(l, p->branch, &p->head, p->has_indexed ? &p->indexed : NULL,
			ix->verify_payload);
	if (rc == 0)
		return has ? refused_set(ix, p->branch, NULL, NULL) : 0;
	if (rc != ERR_VERIFY)
		return rc;
	*ok = false;
	if ((rc = util_escape(&msg, err_msg(), strlen(err_msg()), NULL)) == 0) {
		err_clear();
		rc = refused_set(ix, p->branch, &p->head, msg.ptr ? msg.ptr : "");
	}
	buf_release(&msg);
	return rc;
}

int index_refused(char **msg, struct index *ix, const char *branch)
{
	sqlite3_stmt *st = NULL;
	struct buf text = BUF_INIT;
	int rc, step = SQLITE_DONE;

	*msg = NULL;
	rc = ix_prepare(
	    &st, ix,
	    "SELECT r.branch, r.message, b.head FROM refused r LEFT JOIN branches b"
	    " ON b.branch = r.branch WHERE ?1 IS NULL OR r.branch = ?1 ORDER BY r.branch");
	if (rc < 0)
		return rc;
	sqlite3_bind_text(st, 1, branch, -1, SQLITE_STATIC);
	while (rc == 0 && (step = sqlite3_step(st)) == SQLITE_ROW) {
		const char *held = (const char *)sqlite3_column_text(st, 2);

		rc = buf_printf(&text, "%sbranch '%s' is not served: %s; ", text.len ? "\n" : "",
				(const char *)sqlite3_column_text(st, 0),
				(const char *)sqlite3_column_text(st, 1));
		if (rc == 0 && held)
			rc = buf_printf(&text, "its last verified commit is %.12s", held);
		else if (rc == 0)
			rc = buf_printf(&text, "no commit of it verified");
	}
	if (rc == 0 && step != SQLITE_DONE)
		rc = ix_fail(ix, step, "cannot read");
	if (rc == 0 && text.len)
		*msg = buf_detach(&text, NULL);
	sqlite3_finalize(st);
	buf_release(&text);
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
static int heads_from(json_t **out, struct index *ix, const char *sql)
{
	sqlite3_stmt *st = NULL;
	int rc, step;

	*out = json_object();
	if (!*out)
		return err_set(ERR_NOMEM, "out of memory");
	if ((rc = ix_prepare(&st, ix, sql)) < 0)
		return rc;
	while ((step = sqlite3_step(st)) == SQLITE_ROW)
		json_object_set_new(*out, (const char *)sqlite3_column_text(st, 0),
				    json_string((const char *)sqlite3_column_text(st, 1)));
	if (step != SQLITE_DONE)
		rc = ix_fail(ix, step, "cannot read");
	sqlite3_finalize(st);
	return rc;
}

/* Branch name -> indexed head, and branch name -> the head it was refused at. */
static int indexed_heads(json_t **have, json_t **refused, struct index *ix)
{
	int rc = heads_from(have, ix, "SELECT branch, head FROM branches");

	return rc < 0 ? rc : heads_from(refused, ix, "SELECT branch, head FROM refused");
}

static bool head_is(const json_t *heads, const char *branch, const git_oid *head)
{
	const char *text = json_string_value(json_object_get(heads, branch));

	return text && strcmp(text, git_oid_tostr_s(head)) == 0;
}

static bool in_heads(const struct branch_head *heads, size_t n, const char *name)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(heads[i].name, name) == 0)
			return true;
	return false;
}

/*
 * Drop the branches gone from the repository and the refusals of branches gone or back
 * at their indexed commit; plan the others that moved, dropping the ones whose indexed
 * commit is no longer in their history.
 */
static int make_plan(struct plan *plan, size_t *nplan, struct index *ix, struct ledger *l,
		     const struct branch_head *heads, size_t n)
{
	json_t *have = NULL, *refused = NULL, *v;
	const char *name;
	void *tmp;
	size_t i;
	bool ok;
	int rc;

	*nplan = 0;
	if ((rc = indexed_heads(&have, &refused, ix)) < 0)
		goto out;
	json_object_foreach_safe (have, tmp, name, v)
		if (!in_heads(heads, n, name) && (rc = branch_forget(ix, name)) < 0)
			goto out;
	json_object_foreach_safe (refused, tmp, name, v)
		if (!in_heads(heads, n, name) && (rc = refused_set(ix, name, NULL, NULL)) < 0)
			goto out;
	for (i = 0; i < n; i++) {
		const char *text = json_string_value(json_object_get(have, heads[i].name));
		struct plan *p = &plan[*nplan];

		p->has_indexed = text && git_oid_fromstr(&p->indexed, text) == 0;
		if (p->has_indexed && git_oid_equal(&p->indexed, &heads[i].head)) {
			if (json_object_get(refused, heads[i].name) &&
			    (rc = refused_set(ix, heads[i].name, NULL, NULL)) < 0)
				goto out;
			continue;
		}
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
		if ((rc = plan_verify(&ok, ix, l, p)) < 0)
			goto out;
		if (ok)
			(*nplan)++;
	}
out:
	json_decref(have);
	json_decref(refused);
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

/*
 * Is there nothing to do? Every branch of the repository is indexed at its head or was
 * refused at it, and nothing else is indexed or refused. (No lock taken.)
 */
static int up_to_date(bool *same, struct index *ix, const struct branch_head *heads, size_t n)
{
	json_t *have = NULL, *refused = NULL;
	const char *name;
	json_t *v;
	size_t i;
	int rc;

	*same = false;
	if ((rc = indexed_heads(&have, &refused, ix)) < 0)
		goto out;
	*same = true;
	for (i = 0; i < n && *same; i++)
		*same = head_is(refused, heads[i].name, &heads[i].head) ||
			(head_is(have, heads[i].name, &heads[i].head) &&
			 !json_object_get(refused, heads[i].name));
	json_object_foreach (have, name, v)
		*same = *same && in_heads(heads, n, name);
	json_object_foreach (refused, name, v)
		*same = *same && in_heads(heads, n, name);
out:
	json_decref(have);
	json_decref(refused);
	return rc;
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
			 "DELETE FROM changes; DELETE FROM branches; DELETE FROM refused;");
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
