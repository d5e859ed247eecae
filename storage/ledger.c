/*
 * ledger: the ledger directory, reading records, and writing them as signed commits
 * moved into place by compare-and-swap. See ledger.h for the layout and guarantees.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sys/file.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <git2/sys/mempack.h>
#include <git2/sys/odb_backend.h>

#include "err.h"
#include "index.h"
#include "ledger.h"
#include "trust.h"
#include "util.h"

/* Transactions with more changes than this write one pack instead of loose objects. */
#define LEDGER_PACK_THRESHOLD 512

extern const char default_schema_text[];
extern const size_t default_schema_len;

static int lib_refs; /* under lib_mu: ledgers are opened and freed on many threads */
static pthread_mutex_t lib_mu = PTHREAD_MUTEX_INITIALIZER;

/* libgit2 set-up, once per process: durable writes, strict objects, big tree cache. */
static int ledger_lib_init(void)
{
	int rc = 0;

	pthread_mutex_lock(&lib_mu);
	if (lib_refs++ == 0 && git_libgit2_init() < 0) {
		lib_refs--;
		rc = err_git(ERR_GENERIC, "cannot initialise libgit2");
	} else if (lib_refs == 1) {
		git_libgit2_opts(GIT_OPT_ENABLE_FSYNC_GITDIR, 1);
		git_libgit2_opts(GIT_OPT_ENABLE_STRICT_OBJECT_CREATION, 1);
		/* Shard trees are 8–25 KB; the default only caches trees under 4 KB. */
		git_libgit2_opts(GIT_OPT_SET_CACHE_OBJECT_LIMIT, GIT_OBJECT_TREE, (size_t)1 << 20);
		git_libgit2_opts(GIT_OPT_SET_CACHE_MAX_SIZE, (ssize_t)512 << 20);
	}
	pthread_mutex_unlock(&lib_mu);
	return rc;
}

static void ledger_lib_release(void)
{
	pthread_mutex_lock(&lib_mu);
	if (lib_refs > 0 && --lib_refs == 0)
		git_libgit2_shutdown();
	pthread_mutex_unlock(&lib_mu);
}

int ledger_ref_name(char out[LEDGER_REF_MAX], const char *branch)
{
	if (strcmp(branch, "trust") != 0 && office_level(branch) < 0)
		return err_set(ERR_INVALID, "branch '%s' is not an office code or 'trust'", branch);
	snprintf(out, LEDGER_REF_MAX, "refs/heads/%s", branch);
	return 0;
}

int ledger_operator(const char **out, struct ledger *l, const char *given)
{
	const char *op = given;

	if (!op || !*op)
		op = getenv("CASELEDGER_OPERATOR");
	if ((!op || !*op) && l)
		op = l->operator_default;
	if (!op || !*op)
		op = getenv("USER");
	if (!op || !*op)
		op = "operator";
	if (strpbrk(op, "<>\n\r") || strlen(op) > 100)
		return err_set(
		    ERR_INVALID,
		    "operator name '%s' is not valid: at most 100 characters, no '<', '>' "
		    "or line breaks",
		    op);
	*out = op;
	return 0;
}

int ledger_message(struct buf *out, struct ledger *l, const char *subject, const char *reason,
		   const char *operator, const char * hlc)
{
	struct buf esc = BUF_INIT;
	int rc;

	if (strchr(subject, '\n'))
		return err_set(ERR_INVALID, "commit subject must be one line");
	/* what an auditor's terminal would obey: no control or bidirectional characters
	 * (the reason may span lines) */
	if ((rc = util_escape(&esc, subject, strlen(subject), NULL)) == 0 &&
	    esc.len != strlen(subject))
		rc = err_set(ERR_INVALID, "commit subject '%s' holds control characters", esc.ptr);
	buf_reset(&esc);
	if (rc == 0 && reason && (rc = util_escape(&esc, reason, strlen(reason), "\n\t")) == 0 &&
	    esc.len != strlen(reason))
		rc = err_set(ERR_INVALID,
			     "reason '%s' holds control characters (only line breaks and tabs "
			     "are allowed) or bidirectional controls",
			     esc.ptr);
	buf_release(&esc);
	if (rc < 0)
		return rc;
	if ((rc = buf_printf(out, "%s\n\n", subject)) < 0)
		return rc;
	if (reason && *reason) {
		size_t n = strlen(reason);

		while (n > 0 && (reason[n - 1] == '\n' || reason[n - 1] == ' '))
			n--;
		if ((rc = buf_add(out, reason, n)) < 0 || (rc = buf_adds(out, "\n\n")) < 0)
			return rc;
	}
	return buf_printf(out, "%s: %s\n%s: %s\n%s: %s\n", LEDGER_TRAILER_OFFICE, l->office,
			  LEDGER_TRAILER_OPERATOR, operator, LEDGER_TRAILER_HLC, hlc);
}

static int local_offset_minutes(int64_t epoch)
{
	time_t t = (time_t)epoch;
	struct tm tm;

	if (!localtime_r(&t, &tm))
		return 0;
	return (int)(tm.tm_gmtoff / 60);
}

/*
 * Writers of one ledger serialise their ref updates on an flock of DIR/write.lock. The
 * kernel drops an flock when its process dies, so a git "<ref>.lock" file found while we
 * hold ours was left by a writer killed mid-update: it is stale, and removed.
 */
static int writer_lock(int *fd, struct ledger *l, const char *ref)
{
	struct buf path = BUF_INIT;
	int rc = 0;

	if ((rc = util_join(&path, l->dir, "write.lock")) < 0)
		return rc;
	/* never through a symlink: one planted there would be created or truncated */
	*fd = open(path.ptr, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (*fd < 0) {
		rc = err_errno(ERR_IO, "cannot open '%s'", path.ptr);
		goto out;
	}
	while (flock(*fd, LOCK_EX) < 0) {
		if (errno != EINTR) {
			rc = err_errno(ERR_IO, "cannot lock '%s'", path.ptr);
			close(*fd);
			*fd = -1;
			goto out;
		}
	}
	buf_reset(&path);
	if ((rc = buf_printf(&path, "%s/%s.lock", l->dir, ref)) == 0 && unlink(path.ptr) == 0)
		fprintf(stderr,
			"caseledger: removed stale lock '%s' left by an interrupted writer\n",
			path.ptr);
out:
	buf_release(&path);
	return rc;
}

static void writer_unlock(int fd)
{
	if (fd >= 0)
		close(fd); /* releases the flock */
}

/* Move ref from expected (NULL: must not exist) to id; ERR_CONFLICT when it moved. */
static int ref_cas(git_repository *repo, const char *ref, const git_oid *id,
		   const git_oid *expected)
{
	git_reference *r = NULL;
	int rc;

	if (expected)
		rc = git_reference_create_matching(&r, repo, ref, id, 1, expected, "caseledger");
	else
		rc = git_reference_create(&r, repo, ref, id, 0, "caseledger");
	git_reference_free(r);
	if (rc == GIT_EMODIFIED || rc == GIT_EEXISTS || rc == GIT_ELOCKED)
		return err_set(ERR_CONFLICT,
			       "branch '%s' moved while this change was written; "
			       "nothing was changed, try again",
			       ref + strlen("refs/heads/"));
	if (rc < 0)
		return err_git(ERR_IO, "cannot update '%s'", ref);
	return 0;
}

/* Build, sign and write a commit object into repo (which may be a second handle). */
static int commit_write(git_oid *out, struct ledger *l, git_repository *repo,
			const git_oid *tree_id, const git_commit **parents, size_t nparents,
			const char *message, const char *operator, uint64_t when_ms)
{
	git_signature *who = NULL;
	git_tree *tree = NULL;
	git_buf body = GIT_BUF_INIT;
	struct buf email = BUF_INIT, armored = BUF_INIT;
	int64_t when = (int64_t)(when_ms / 1000);
	int rc;

	if ((rc = buf_printf(&email, "%s@caseledger", l->office)) < 0)
		goto out;
	if (git_tree_lookup(&tree, repo, tree_id) < 0) {
		rc = err_git(ERR_IO, "cannot read the new tree");
		goto out;
	}
	if (git_signature_new(&who, operator, email.ptr, when, local_offset_minutes(when)) < 0) {
		rc = err_git(ERR_INVALID, "operator '%s'", operator);
		goto out;
	}
	if (git_commit_create_buffer(&body, repo, who, who, NULL, message, tree, nparents,
				     parents) < 0) {
		rc = err_git(ERR_IO, "cannot build the commit");
		goto out;
	}
	if ((rc = sig_sign(&armored, l->key, body.ptr, body.size)) < 0)
		goto out;
	if (git_commit_create_with_signature(out, repo, body.ptr, armored.ptr, "gpgsig") < 0)
		rc = err_git(ERR_IO, "cannot write the commit");
out:
	git_signature_free(who);
	git_tree_free(tree);
	git_buf_dispose(&body);
	buf_release(&email);
	buf_release(&armored);
	return rc;
}

int ledger_ref_cas(struct ledger *l, const char *ref, const git_oid *expected, const git_oid *id)
{
	int lock = -1, rc;

	if ((rc = writer_lock(&lock, l, ref)) < 0)
		return rc;
	rc = ref_cas(l->repo, ref, id, expected);
	writer_unlock(lock);
	return rc;
}

int ledger_commit_tree(git_oid *out, struct ledger *l, const char *ref, const git_oid *expected,
		       const git_oid *tree_id, const git_commit **parents, size_t nparents,
		       const char *message, const char *operator, uint64_t when_ms)
{
	int rc;

	if ((rc = commit_write(out, l, l->repo, tree_id, parents, nparents, message, operator,
			       when_ms)) < 0)
		return rc;
	return ledger_ref_cas(l, ref, expected, out);
}

/* --- opening ------------------------------------------------------------------------- */

static int config_string(char **out, git_config *cfg, const char *key, bool required,
			 const char *dir)
{
	git_buf v = GIT_BUF_INIT;
	int rc;

	*out = NULL;
	rc = git_config_get_string_buf(&v, cfg, key);
	if (rc == GIT_ENOTFOUND && !required)
		return 0;
	if (rc < 0)
		return err_set(ERR_NOTFOUND,
			       "'%s' is not a caseledger ledger (no %s in its config)", dir, key);
	*out = strdup(v.ptr);
	git_buf_dispose(&v);
	return *out ? 0 : err_set(ERR_NOMEM, "out of memory");
}

static int ledger_load_config(struct ledger *l)
{
	git_config *cfg = NULL;
	char *office = NULL;
	int32_t format = 0;
	int rc;

	if (git_repository_config_snapshot(&cfg, l->repo) < 0) {
		rc = err_git(ERR_IO, "cannot read the config of '%s'", l->dir);
		goto out;
	}
	if ((rc = config_string(&office, cfg, "caseledger.office", true, l->dir)) < 0)
		goto out;
	if ((rc = office_level(office)) < 0)
		goto out;
	l->level = (enum office_level)rc;
	snprintf(l->office, sizeof(l->office), "%s", office);
	if (git_config_get_int32(&format, cfg, "caseledger.format") < 0 ||
	    format != LEDGER_FORMAT) {
		rc = err_set(ERR_INVALID,
			     "ledger '%s' has format %d; this caseledger reads format %d", l->dir,
			     (int)format, LEDGER_FORMAT);
		goto out;
	}
	if ((rc = config_string(&l->name, cfg, "caseledger.name", false, l->dir)) < 0)
		goto out;
	if (!l->name && !(l->name = strdup(""))) {
		rc = err_set(ERR_NOMEM, "out of memory");
		goto out;
	}
	if ((rc = config_string(&l->operator_default, cfg, "caseledger.operator", false, l->dir)) <
	    0)
		goto out;
	rc = config_string(&l->timezone, cfg, "caseledger.timezone", false, l->dir);
out:
	free(office);
	git_config_free(cfg);
	return rc;
}

int ledger_open(struct ledger **out, const char *dir)
{
	struct ledger *l = NULL;
	struct buf path = BUF_INIT;
	int rc;

	*out = NULL;
	if ((rc = ledger_lib_init()) < 0)
		return rc;
	if (!(l = calloc(1, sizeof(*l))) || !(l->dir = strdup(dir))) {
		rc = err_set(ERR_NOMEM, "out of memory");
		goto out;
	}
	if (git_repository_open_ext(&l->repo, dir,
				    GIT_REPOSITORY_OPEN_NO_SEARCH | GIT_REPOSITORY_OPEN_BARE,
				    NULL) < 0) {
		rc = err_git(ERR_NOTFOUND, "'%s' is not a ledger directory", dir);
		goto out;
	}
	if ((rc = ledger_load_config(l)) < 0)
		goto out;
	if ((rc = util_join(&path, dir, "schema.ini")) < 0 ||
	    (rc = schema_load_file(&l->schema, path.ptr)) < 0)
		goto out;
	buf_reset(&path);
	if ((rc = util_join(&path, dir, "office.key")) < 0 ||
	    (rc = sig_key_load(&l->key, path.ptr)) < 0)
		goto out;
	sig_key_public(l->key, l->pub);
	*out = l;
	l = NULL;
out:
	buf_release(&path);
	if (l)
		ledger_free(l);
	return rc;
}

void ledger_free(struct ledger *l)
{
	if (!l)
		return;
	trust_free(l->trust);
	git_repository_free(l->repo);
	schema_free(l->schema);
	sig_key_free(l->key);
	free(l->dir);
	free(l->name);
	free(l->operator_default);
	free(l->timezone);
	free(l);
	ledger_lib_release();
}

/* --- reading ------------------------------------------------------------------------- */

int ledger_head(git_oid *out, struct ledger *l, const char *branch)
{
	char ref[LEDGER_REF_MAX];
	int rc;

	if ((rc = ledger_ref_name(ref, branch)) < 0)
		return rc;
	rc = git_reference_name_to_id(out, l->repo, ref);
	if (rc == GIT_ENOTFOUND)
		return err_set(ERR_NOTFOUND, "branch '%s' does not exist in this ledger", branch);
	if (rc < 0)
		return err_git(ERR_IO, "cannot read branch '%s'", branch);
	return 0;
}

int ledger_type_of(const struct schema_type **out, struct ledger *l, const char *id)
{
	int rc;

	if ((rc = record_id_check(id)) < 0)
		return rc;
	*out = schema_type_by_id(l->schema, id);
	if (!*out)
		return err_set(ERR_INVALID, "record id '%s' has no known type prefix", id);
	return 0;
}

int ledger_read(json_t **out, struct ledger *l, git_tree *tree, const char *id)
{
	const struct schema_type *type;
	char path[RECORD_PATH_MAX], what[RECORD_ID_MAX + 16];
	git_tree_entry *entry = NULL;
	git_blob *blob = NULL;
	int rc;

	*out = NULL;
	if ((rc = ledger_type_of(&type, l, id)) < 0 || (rc = record_path(path, type->name, id)) < 0)
		return rc;
	if (!tree || git_tree_entry_bypath(&entry, tree, path) < 0)
		return err_set(ERR_NOTFOUND, "no record '%s'", id);
	if (git_tree_entry_type(entry) != GIT_OBJECT_BLOB ||
	    git_blob_lookup(&blob, l->repo, git_tree_entry_id(entry)) < 0) {
		rc = err_git(ERR_IO, "cannot read record '%s'", id);
		goto out;
	}
	snprintf(what, sizeof(what), "record '%s'", id);
	rc = record_decode(out, git_blob_rawcontent(blob), (size_t)git_blob_rawsize(blob), false,
			   what);
out:
	git_blob_free(blob);
	git_tree_entry_free(entry);
	return rc;
}

int ledger_resolve(git_commit **out, struct ledger *l, const char *rev)
{
	git_object *obj = NULL;
	char ref[LEDGER_REF_MAX];
	int rc;

	*out = NULL;
	if (office_level(rev) > 0 || strcmp(rev, "trust") == 0) {
		ledger_ref_name(ref, rev);
		rev = ref;
	}
	err_clear();
	if (git_revparse_single(&obj, l->repo, rev) < 0)
		return err_set(ERR_NOTFOUND, "no commit or branch '%s'", rev);
	rc = git_object_peel((git_object **)out, obj, GIT_OBJECT_COMMIT);
	git_object_free(obj);
	if (rc < 0)
		return err_set(ERR_NOTFOUND, "'%s' is not a commit", rev);
	return 0;
}

/* --- transactions -------------------------------------------------------------------- */

int ledger_commit_stamp(struct hlc *out, git_commit *c)
{
	git_message_trailer_array tr = {0};
	size_t i;
	int rc = ERR_NOTFOUND;

	memset(out, 0, sizeof(*out));
	if (git_message_trailers(&tr, git_commit_message(c)) < 0)
		return ERR_NOTFOUND;
	for (i = 0; i < tr.count; i++)
		if (strcmp(tr.trailers[i].key, LEDGER_TRAILER_HLC) == 0)
			rc = hlc_parse(out, tr.trailers[i].value);
	git_message_trailer_array_free(&tr);
	return rc;
}

int ledger_txn_begin(struct ledger_txn *t, struct ledger *l, const char *branch)
{
	git_commit *head = NULL;
	struct hlc last;
	int rc;

	memset(t, 0, sizeof(*t));
	t->ledger = l;
	snprintf(t->branch, sizeof(t->branch), "%s", branch ? branch : l->office);
	rc = ledger_head(&t->head, l, t->branch);
	if (rc == ERR_NOTFOUND) {
		hlc_next(&t->stamp, NULL, util_now_ms(), l->office);
		rc = 0;
		goto out;
	}
	if (rc < 0)
		goto out;
	t->has_head = true;
	if (git_commit_lookup(&head, l->repo, &t->head) < 0 ||
	    git_commit_tree(&t->tree, head) < 0) {
		rc = err_git(ERR_IO, "cannot read the head of branch '%s'", t->branch);
		goto out;
	}
	if (ledger_commit_stamp(&last, head) < 0)
		memset(&last, 0, sizeof(last));
	hlc_next(&t->stamp, &last, util_now_ms(), l->office);
out:
	hlc_format(t->stamp_text, &t->stamp);
	git_commit_free(head);
	return rc;
}

/* The change table: open addressing over indexes into changes (+1; 0 = empty). */
static struct ledger_change *txn_find(struct ledger_txn *t, const char *id)
{
	size_t i;

	if (!t->nslots)
		return NULL;
	for (i = record_id_hash(id) & (t->nslots - 1); t->slots[i]; i = (i + 1) & (t->nslots - 1))
		if (strcmp(t->changes[t->slots[i] - 1].id, id) == 0)
			return &t->changes[t->slots[i] - 1];
	return NULL;
}

static void slot_insert(size_t *slots, size_t nslots, const char *id, size_t index)
{
	size_t i;

	for (i = record_id_hash(id) & (nslots - 1); slots[i]; i = (i + 1) & (nslots - 1))
		;
	slots[i] = index + 1;
}

/* Keep the table at most half full. */
static int txn_index(struct ledger_txn *t, size_t index)
{
	size_t n = t->nslots ? t->nslots : 16, i;
	size_t *slots;

	if (2 * (t->nchanges + 1) <= t->nslots) {
		slot_insert(t->slots, t->nslots, t->changes[index].id, index);
		return 0;
	}
	while (2 * (t->nchanges + 1) > n)
		n *= 2;
	if (!(slots = calloc(n, sizeof(*slots))))
		return err_set(ERR_NOMEM, "out of memory");
	for (i = 0; i < t->nchanges; i++)
		slot_insert(slots, n, t->changes[i].id, i);
	slot_insert(slots, n, t->changes[index].id, index);
	free(t->slots);
	t->slots = slots;
	t->nslots = n;
	return 0;
}

int ledger_txn_get(json_t **out, struct ledger_txn *t, const char *id)
{
	struct ledger_change *c = txn_find(t, id);

	if (c) {
		*out = json_incref(c->rec);
		return 0;
	}
	return ledger_read(out, t->ledger, t->tree, id);
}

static int txn_grow(struct ledger_txn *t)
{
	size_t cap = t->cap ? t->cap * 2 : 8;
	struct ledger_change *c;

	if (t->nchanges < t->cap)
		return 0;
	c = realloc(t->changes, cap * sizeof(*c));
	if (!c)
		return err_set(ERR_NOMEM, "out of memory");
	t->changes = c;
	t->cap = cap;
	return 0;
}

/* Equal apart from the clock stamp. */
static bool same_content(const json_t *a, const json_t *b)
{
	json_t *x = json_deep_copy(a), *y = json_deep_copy(b);
	bool same = false;

	if (x && y) {
		json_object_del(x, "hlc");
		json_object_del(y, "hlc");
		same = json_equal(x, y);
	}
	json_decref(x);
	json_decref(y);
	return same;
}

int ledger_txn_put(struct ledger_txn *t, const json_t *rec, bool create, bool *changed)
{
	const struct schema_type *type;
	struct ledger_change *c;
	json_t *copy = NULL, *prev = NULL;
	const char *id = json_string_value(json_object_get(rec, "id"));
	int rc;

	if (changed)
		*changed = false;
	if (!id)
		return err_set(ERR_INVALID, "record has no string field 'id'");
	if ((rc = ledger_type_of(&type, t->ledger, id)) < 0)
		return rc;
	c = txn_find(t, id);
	if (c)
		prev = json_incref(c->rec);
	else if ((rc = ledger_read(&prev, t->ledger, t->tree, id)) < 0 && rc != ERR_NOTFOUND)
		return rc;
	if (create && prev) {
		rc = err_set(ERR_EXISTS, "record '%s' already exists", id);
		goto out;
	}
	if (!create && !prev) {
		rc = err_set(ERR_NOTFOUND, "no record '%s' on branch '%s'", id, t->branch);
		goto out;
	}
	if (!(copy = json_deep_copy(rec)) ||
	    json_object_set_new(copy, "hlc", json_string(t->stamp_text)) < 0) {
		rc = err_set(ERR_NOMEM, "out of memory");
		goto out;
	}
	if (prev && same_content(prev, copy)) {
		rc = 0;
		goto out;
	}
	if ((rc = schema_validate(t->ledger->schema, prev, copy, t->ledger->level)) < 0)
		goto out;
	if (c) {
		json_decref(c->rec);
		c->rec = copy;
	} else {
		if ((rc = txn_grow(t)) < 0)
			goto out;
		c = &t->changes[t->nchanges];
		memset(c, 0, sizeof(*c));
		snprintf(c->id, sizeof(c->id), "%s", id);
		if ((rc = record_path(c->path, type->name, id)) < 0)
			goto out;
		c->old = prev;
		prev = NULL;
		c->rec = copy;
		if ((rc = txn_index(t, t->nchanges)) < 0) {
			c->rec = NULL;
			json_decref(c->old);
			goto out;
		}
		t->nchanges++;
	}
	copy = NULL;
	if (changed)
		*changed = true;
out:
	json_decref(prev);
	json_decref(copy);
	return rc;
}

/* Write blobs and the updated trees into repo; the new root tree id into out. */
static int txn_write_objects(git_oid *out, struct ledger_txn *t, git_repository *repo)
{
	git_tree_update *updates = NULL;
	git_tree *base = NULL;
	struct buf enc = BUF_INIT;
	size_t i;
	int rc = 0;

	if (!(updates = calloc(t->nchanges, sizeof(*updates))))
		return err_set(ERR_NOMEM, "out of memory");
	for (i = 0; i < t->nchanges; i++) {
		struct ledger_change *c = &t->changes[i];

		buf_reset(&enc);
		if ((rc = record_encode(&enc, c->rec)) < 0)
			goto out;
		if (git_blob_create_from_buffer(&updates[i].id, repo, enc.ptr, enc.len) < 0) {
			rc = err_git(ERR_IO, "cannot write record '%s'", c->id);
			goto out;
		}
		updates[i].action = GIT_TREE_UPDATE_UPSERT;
		updates[i].filemode = GIT_FILEMODE_BLOB;
		updates[i].path = c->path;
	}
	if (t->has_head && git_tree_lookup(&base, repo, git_tree_id(t->tree)) < 0) {
		rc = err_git(ERR_IO, "cannot read the branch tree");
		goto out;
	}
	if (git_tree_create_updated(out, repo, base, t->nchanges, updates) < 0)
		rc = err_git(ERR_IO, "cannot write the updated trees");
out:
	git_tree_free(base);
	buf_release(&enc);
	free(updates);
	return rc;
}

struct oid_list {
	git_oid *ids;
	size_t n, cap;
};

/* Collect id (of type type) and, for a tree, what it reaches, unless the ledger has it. */
static int pack_collect(struct oid_list *out, git_odb *have, git_repository *from,
			const git_oid *id, git_object_t type)
{
	git_tree *tree = NULL;
	size_t i;
	int rc = 0;

	if (git_odb_exists_ext(have, id, GIT_ODB_LOOKUP_NO_REFRESH))
		return 0; /* and so does everything it reaches */
	if (out->n == out->cap) {
		size_t cap = out->cap ? out->cap * 2 : 64;
		git_oid *ids = realloc(out->ids, cap * sizeof(*ids));

		if (!ids)
			return err_set(ERR_NOMEM, "out of memory");
		out->ids = ids;
		out->cap = cap;
	}
	out->ids[out->n++] = *id;
	if (type != GIT_OBJECT_TREE)
		return 0;
	if (git_tree_lookup(&tree, from, id) < 0)
		return err_git(ERR_IO, "cannot read tree %s", git_oid_tostr_s(id));
	for (i = 0; i < git_tree_entrycount(tree) && rc == 0; i++) {
		const git_tree_entry *e = git_tree_entry_byindex(tree, i);

		rc = pack_collect(out, have, from, git_tree_entry_id(e), git_tree_entry_type(e));
	}
	git_tree_free(tree);
	return rc;
}

/* Few objects: loose files, as an amendment writes them. */
static int copy_loose(git_odb *to, git_repository *from, const struct oid_list *list)
{
	git_odb *src = NULL;
	git_odb_object *obj = NULL;
	git_oid id;
	size_t i;
	int rc = 0;

	if (git_repository_odb(&src, from) < 0)
		return err_git(ERR_IO, "cannot read the new objects");
	for (i = 0; i < list->n && rc == 0; i++) {
		if (git_odb_read(&obj, src, &list->ids[i]) < 0 ||
		    git_odb_write(&id, to, git_odb_object_data(obj), git_odb_object_size(obj),
				  git_odb_object_type(obj)) < 0)
			rc = err_git(ERR_IO, "cannot write object %s",
				     git_oid_tostr_s(&list->ids[i]));
		git_odb_object_free(obj);
		obj = NULL;
	}
	git_odb_free(src);
	return rc;
}

int ledger_pack_tree(struct ledger *l, git_repository *from, const git_oid *tree, size_t *nobjects)
{
	struct oid_list list = {0};
	git_packbuilder *pb = NULL;
	git_odb *odb = NULL;
	git_odb_writepack *wp = NULL;
	git_indexer_progress stats = {0};
	git_buf pack = GIT_BUF_INIT;
	size_t i;
	int rc;

	if (git_repository_odb(&odb, l->repo) < 0) {
		rc = err_git(ERR_IO, "cannot open the object database");
		goto out;
	}
	if ((rc = pack_collect(&list, odb, from, tree, GIT_OBJECT_TREE)) < 0 || list.n == 0)
		goto out;
	if (list.n <= LEDGER_PACK_THRESHOLD) {
		rc = copy_loose(odb, from, &list);
		goto out;
	}
	if (git_packbuilder_new(&pb, from) < 0) {
		rc = err_git(ERR_IO, "cannot prepare a pack");
		goto out;
	}
	git_packbuilder_set_threads(pb, 1);
	for (i = 0; i < list.n; i++)
		if (git_packbuilder_insert(pb, &list.ids[i], NULL) < 0) {
			rc =
			    err_git(ERR_IO, "cannot pack object %s", git_oid_tostr_s(&list.ids[i]));
			goto out;
		}
	if (git_packbuilder_write_buf(&pack, pb) < 0 ||
	    git_odb_write_pack(&wp, odb, NULL, NULL) < 0 ||
	    wp->append(wp, pack.ptr, pack.size, &stats) < 0 || wp->commit(wp, &stats) < 0) {
		rc = err_git(ERR_IO, "cannot write a pack of %zu objects", list.n);
		goto out;
	}
	/* This handle must see the new pack before it writes a commit. */
	git_odb_refresh(odb);
	if (ledger_pack_maintain(l, NULL) < 0)
		err_clear(); /* only an optimisation: the pack is stored */
out:
	if (nobjects)
		*nobjects = list.n;
	if (wp)
		wp->free(wp);
	git_buf_dispose(&pack);
	git_packbuilder_free(pb);
	git_odb_free(odb);
	free(list.ids);
	return rc;
}

/* The number of packs in dir ("*.idx"), and of packs its multi-pack-index covers. */
static int count_packs(size_t *packs, size_t *indexed, const char *dir)
{
	unsigned char hdr[12];
	struct dirent *e;
	char path[4300];
	DIR *d;
	int fd;

	*packs = *indexed = 0;
	if (!(d = opendir(dir)))
		return err_errno(ERR_IO, "cannot read '%s'", dir);
	while ((e = readdir(d))) {
		size_t n = strlen(e->d_name);
		*packs += n > 4 && strcmp(e->d_name + n - 4, ".idx") == 0;
	}
	closedir(d);
	snprintf(path, sizeof(path), "%s/multi-pack-index", dir);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return 0;
	/* "MIDX", version, hash version, chunks, base files, then the pack count */
	if (read(fd, hdr, sizeof(hdr)) == (ssize_t)sizeof(hdr) && memcmp(hdr, "MIDX", 4) == 0)
		*indexed =
		    (size_t)hdr[8] << 24 | (size_t)hdr[9] << 16 | (size_t)hdr[10] << 8 | hdr[11];
	close(fd);
	return 0;
}

int ledger_pack_maintain(struct ledger *l, bool *written)
{
	char dir[4200];
	git_odb *odb = NULL;
	size_t packs, indexed;
	int rc;

	if (written)
		*written = false;
	snprintf(dir, sizeof(dir), "%s/objects/pack", l->dir);
	if ((rc = count_packs(&packs, &indexed, dir)) < 0 || packs < indexed + LEDGER_MIDX_SLACK)
		return rc;
	if (git_repository_odb(&odb, l->repo) < 0 || git_odb_refresh(odb) < 0 ||
	    git_odb_write_multi_pack_index(odb) < 0)
		rc = err_git(ERR_IO, "cannot write the multi-pack-index of '%s'", l->dir);
	else if ((rc = util_fsync_dir(dir)) == 0 && written)
		*written = true;
	git_odb_free(odb);
	return rc;
}

/*
 * Large transactions: build every object in memory (mempack) on a second handle of the
 * repository, then store what the new tree adds as one pack (ledger_pack_tree), so an
 * import does not create a loose file per record. The second handle is dropped, so later
 * writes go to the normal backends.
 */
static int txn_write_pack(git_oid *out, struct ledger_txn *t)
{
	git_repository *repo = NULL;
	git_odb *odb = NULL;
	git_odb_backend *mem = NULL;
	bool owned = false; /* mem belongs to odb once added */
	int rc;

	if (git_repository_open_bare(&repo, t->ledger->dir) < 0 ||
	    git_repository_odb(&odb, repo) < 0 || git_mempack_new(&mem) < 0 ||
	    !(owned = git_odb_add_backend(odb, mem, 1000) == 0)) {
		rc = err_git(ERR_IO, "cannot prepare a pack for %zu records", t->nchanges);
		goto out;
	}
	if ((rc = txn_write_objects(out, t, repo)) < 0)
		goto out;
	/* git_mempack_dump packs only what commits in the store reach: walk the tree. */
	rc = ledger_pack_tree(t->ledger, repo, out, NULL);
out:
	if (mem && owned)
		git_mempack_reset(mem);
	else if (mem)
		mem->free(mem);
	git_odb_free(odb);
	git_repository_free(repo);
	return rc;
}

int ledger_txn_commit(struct ledger_txn *t, const struct ledger_commit_info *info, git_oid *out)
{
	struct ledger *l = t->ledger;
	git_commit *parent = NULL;
	const git_commit *parents[1];
	struct buf msg = BUF_INIT;
	char ref[LEDGER_REF_MAX];
	const char *op;
	git_oid tree;
	int rc;

	if (t->nchanges == 0)
		return err_set(ERR_INVALID, "nothing to commit");
	if ((rc = ledger_ref_name(ref, t->branch)) < 0 ||
	    (rc = ledger_operator(&op, l, info->operator)) < 0 ||
	    (rc = ledger_message(&msg, l, info->subject, info->reason, op, t->stamp_text)) < 0)
		goto out;
	rc = t->nchanges > LEDGER_PACK_THRESHOLD ? txn_write_pack(&tree, t)
						 : txn_write_objects(&tree, t, l->repo);
	if (rc < 0)
		goto out;
	if (t->has_head) {
		if (git_commit_lookup(&parent, l->repo, &t->head) < 0) {
			rc = err_git(ERR_IO, "cannot read the branch head");
			goto out;
		}
		parents[0] = parent;
	}
	rc = ledger_commit_tree(out, l, ref, t->has_head ? &t->head : NULL, &tree, parents,
				t->has_head ? 1 : 0, msg.ptr, op, t->stamp.ms);
out:
	git_commit_free(parent);
	buf_release(&msg);
	return rc;
}

void ledger_txn_release(struct ledger_txn *t)
{
	size_t i;

	for (i = 0; i < t->nchanges; i++) {
		json_decref(t->changes[i].old);
		json_decref(t->changes[i].rec);
	}
	free(t->changes);
	free(t->slots);
	git_tree_free(t->tree);
	memset(t, 0, sizeof(*t));
}

/* --- creating a ledger ---------------------------------------------------------------- */

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static void rm_tree(const char *path)
{
	nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static int dir_state(const char *dir)
{
	struct stat st;
	int n = 0;
	DIR *d;
	struct dirent *e;

	if (stat(dir, &st) < 0)
		return errno == ENOENT ? 0 : err_errno(ERR_IO, "cannot look at '%s'", dir);
	if (!S_ISDIR(st.st_mode))
		return err_set(ERR_EXISTS, "'%s' exists and is not a directory", dir);
	if (!(d = opendir(dir)))
		return err_errno(ERR_IO, "cannot read '%s'", dir);
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			n++;
	closedir(d);
	return n ? err_set(ERR_EXISTS, "'%s' exists and is not empty", dir) : 0;
}

static int init_config(git_repository *repo, const struct ledger_init_opts *o)
{
	git_config *cfg = NULL;
	int rc = 0;

	if (git_repository_config(&cfg, repo) < 0 ||
	    git_config_set_string(cfg, "caseledger.office", o->office) < 0 ||
	    git_config_set_int32(cfg, "caseledger.format", LEDGER_FORMAT) < 0 ||
	    (o->name && git_config_set_string(cfg, "caseledger.name", o->name) < 0) ||
	    (o->operator&& git_config_set_string(cfg, "caseledger.operator", o->operator) < 0) ||
	    git_config_set_string(cfg, "gpg.format", "ssh") < 0)
		rc = err_git(ERR_IO, "cannot write the ledger config");
	git_config_free(cfg);
	return rc;
}

static int init_schema(const char *tmp, const struct ledger_init_opts *o)
{
	struct buf text = BUF_INIT, path = BUF_INIT;
	struct schema *s = NULL;
	int rc;

	if (o->schema_path) {
		if ((rc = util_read_file(&text, o->schema_path, 4 << 20)) < 0)
			goto out;
	} else if ((rc = buf_add(&text, default_schema_text, default_schema_len)) < 0)
		goto out;
	if ((rc = schema_parse(&s, text.ptr, text.len,
			       o->schema_path ? o->schema_path : "default schema")) < 0)
		goto out;
	if ((rc = util_join(&path, tmp, "schema.ini")) < 0)
		goto out;
	rc = util_write_file(path.ptr, text.ptr, text.len, 0644);
out:
	schema_free(s);
	buf_release(&text);
	buf_release(&path);
	return rc;
}

static int init_key(struct sig_key **key, const char *tmp, const struct ledger_init_opts *o)
{
	struct buf path = BUF_INIT;
	int rc;

	rc = o->key_path ? sig_key_load(key, o->key_path) : sig_key_generate(key);
	if (rc < 0)
		return rc;
	if ((rc = util_join(&path, tmp, "office.key")) == 0)
		rc = sig_key_save(*key, path.ptr);
	buf_release(&path);
	return rc;
}

/* The first commit: an empty tree, signed, on the office's branch. */
static int init_first_commit(struct ledger *l, const char *operator)
{
	struct buf msg = BUF_INIT, subject = BUF_INIT;
	git_treebuilder *tb = NULL;
	struct hlc stamp;
	char stamp_text[HLC_TEXT_MAX], ref[LEDGER_REF_MAX];
	git_oid tree, commit;
	const char *op;
	int rc;

	hlc_next(&stamp, NULL, util_now_ms(), l->office);
	hlc_format(stamp_text, &stamp);
	if ((rc = ledger_operator(&op, l, operator)) < 0 ||
	    (rc = ledger_ref_name(ref, l->office)) < 0)
		goto out;
	if (git_treebuilder_new(&tb, l->repo, NULL) < 0 || git_treebuilder_write(&tree, tb) < 0) {
		rc = err_git(ERR_IO, "cannot write the empty tree");
		goto out;
	}
	if ((rc = buf_printf(&subject, "open ledger of office %s%s%s", l->office,
			     *l->name ? " " : "", l->name)) < 0 ||
	    (rc = ledger_message(&msg, l, subject.ptr, NULL, op, stamp_text)) < 0)
		goto out;
	rc = ledger_commit_tree(&commit, l, ref, NULL, &tree, NULL, 0, msg.ptr, op, stamp.ms);
out:
	git_treebuilder_free(tb);
	buf_release(&msg);
	buf_release(&subject);
	return rc;
}

static int init_setup(const char *tmp, const struct ledger_init_opts *o)
{
	struct ledger *l = NULL;
	int rc;

	if ((rc = ledger_open(&l, tmp)) == 0)
		rc = o->setup(l, o->setup_payload);
	ledger_free(l);
	return rc;
}

static int init_in(const char *tmp, const struct ledger_init_opts *o)
{
	git_repository_init_options gopts;
	struct ledger l = {0};
	struct buf path = BUF_INIT;
	int rc;

	git_repository_init_options_init(&gopts, GIT_REPOSITORY_INIT_OPTIONS_VERSION);
	gopts.flags = GIT_REPOSITORY_INIT_BARE | GIT_REPOSITORY_INIT_NO_REINIT;
	gopts.initial_head = o->office;
	gopts.description = "caseledger office ledger";
	if (git_repository_init_ext(&l.repo, tmp, &gopts) < 0) {
		rc = err_git(ERR_IO, "cannot create a repository in '%s'", tmp);
		goto out;
	}
	if ((rc = init_config(l.repo, o)) < 0 || (rc = init_schema(tmp, o)) < 0 ||
	    (rc = init_key(&l.key, tmp, o)) < 0)
		goto out;
	snprintf(l.office, sizeof(l.office), "%s", o->office);
	l.level = (enum office_level)office_level(o->office);
	l.name = (char *)(o->name ? o->name : "");
	l.dir = (char *)tmp;
	if ((rc = util_join(&path, tmp, "index.db")) < 0 || (rc = index_create(path.ptr)) < 0)
		goto out;
	if ((rc = init_first_commit(&l, o->operator)) < 0)
		goto out;
	if (o->setup && (rc = init_setup(tmp, o)) < 0)
		goto out;
	rc = util_fsync_dir(tmp);
out:
	git_repository_free(l.repo);
	sig_key_free(l.key);
	buf_release(&path);
	return rc;
}

static int parent_dir(struct buf *out, const char *path)
{
	const char *slash = strrchr(path, '/');

	if (!slash)
		return buf_adds(out, ".");
	if (slash == path)
		return buf_adds(out, "/");
	return buf_add(out, path, (size_t)(slash - path));
}

int ledger_init(const struct ledger_init_opts *o)
{
	struct buf tmp = BUF_INIT, parent = BUF_INIT;
	const char *op;
	size_t n;
	int rc;

	if ((rc = ledger_lib_init()) < 0)
		return rc;
	if ((rc = office_level(o->office)) < 0)
		goto out_lib;
	if ((rc = ledger_operator(&op, NULL, o->operator)) < 0)
		goto out_lib;
	if (o->name && strpbrk(o->name, "\n\r")) {
		rc = err_set(ERR_INVALID, "office name must be one line");
		goto out_lib;
	}
	if ((rc = dir_state(o->dir)) < 0)
		goto out_lib;
	n = strlen(o->dir);
	while (n > 1 && o->dir[n - 1] == '/')
		n--;
	if ((rc = buf_add(&tmp, o->dir, n)) < 0 || (rc = buf_adds(&tmp, ".init-XXXXXX")) < 0)
		goto out;
	if (!mkdtemp(tmp.ptr)) {
		rc = err_errno(ERR_IO, "cannot create a directory next to '%s'", o->dir);
		buf_reset(&tmp);
		goto out;
	}
	if ((rc = init_in(tmp.ptr, o)) < 0)
		goto out;
	if (rename(tmp.ptr, o->dir) < 0) {
		rc = err_errno(ERR_IO, "cannot move the new ledger to '%s'", o->dir);
		goto out;
	}
	buf_reset(&tmp);
	if ((rc = parent_dir(&parent, o->dir)) == 0)
		rc = util_fsync_dir(parent.ptr);
out:
	if (tmp.len)
		rm_tree(tmp.ptr);
	buf_release(&tmp);
	buf_release(&parent);
out_lib:
	ledger_lib_release();
	return rc;
}
