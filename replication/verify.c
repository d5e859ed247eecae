/*
 * verify: commit validity on a branch — signature, certificate, scope, records, role
 * rules. See verify.h for the rules; this file owns nothing beyond one call.
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "record.h"
#include "trust.h"
#include "verify.h"

const char *verify_status_name(enum verify_status s)
{
	switch (s) {
	case VERIFY_OK:
		return "ok";
	case VERIFY_UNSIGNED:
		return "unsigned";
	case VERIFY_BAD:
		return "bad";
	case VERIFY_UNTRUSTED:
		return "untrusted";
	case VERIFY_DENIED:
		return "denied";
	case VERIFY_INVALID:
		return "invalid";
	}
	return "invalid";
}

/* What one verify_commit call works with. */
struct vc {
	struct ledger *l;
	struct trust *trust;	     /* NULL: standalone */
	const struct schema *schema; /* the trust branch's, else the ledger's */
	const char *branch;
	enum office_level level; /* the signer's */
	git_commit *commit;
	struct verify_result *out;
};

static void finish(struct verify_result *out)
{
	snprintf(out->why, sizeof(out->why), "commit %s %s", out->commit, out->detail);
}

/* Fail with status and rule; the detail names the signer. */
static int deny(struct vc *v, enum verify_status status, const char *rule, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int deny(struct vc *v, enum verify_status status, const char *rule, const char *fmt, ...)
{
	struct verify_result *out = v->out;
	char msg[640];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	out->status = status;
	snprintf(out->rule, sizeof(out->rule), "%s", rule);
	snprintf(out->detail, sizeof(out->detail), "signed by office %s (key %s): rule '%s': %s",
		 out->signer, out->fingerprint, rule, msg);
	finish(out);
	return 1; /* a verdict, not an error */
}

/* --- scope ------------------------------------------------------------------------------ */

static int check_scope(struct vc *v)
{
	const char *signer = v->out->signer;

	if (strcmp(v->branch, "trust") == 0) {
		if (!v->trust)
			return deny(v, VERIFY_DENIED, "scope",
				    "this ledger has no CA, so no one may write branch 'trust'");
		if (strcmp(signer, v->trust->city) != 0)
			return deny(v, VERIFY_DENIED, "scope",
				    "only the city office %s may write branch 'trust'",
				    v->trust->city);
		return 0;
	}
	if (!office_in_scope(signer, v->branch))
		return deny(v, VERIFY_DENIED, "scope",
			    "office %s may write only branches within its scope (%s…), not '%s'",
			    signer, signer, v->branch);
	return 0;
}

/* --- records ------------------------------------------------------------------------- */

static int load_json(json_t **out, struct ledger *l, const git_oid *blob, bool strict,
		     const char *what)
{
	git_blob *b = NULL;
	int rc;

	*out = NULL;
	if (git_blob_lookup(&b, l->repo, blob) < 0)
		return err_git(ERR_IO, "cannot read %s", what);
	rc = record_decode(out, git_blob_rawcontent(b), (size_t)git_blob_rawsize(b), strict, what);
	git_blob_free(b);
	return rc;
}

/* The blob at path in parent i of the commit; false when absent. */
static bool parent_blob(git_oid *out, git_commit *c, unsigned i, const char *path)
{
	git_commit *p = NULL;
	git_tree *tree = NULL;
	git_tree_entry *e = NULL;
	bool found = false;

	if (git_commit_parent(&p, c, i) == 0 && git_commit_tree(&tree, p) == 0 &&
	    git_tree_entry_bypath(&e, tree, path) == 0 &&
	    git_tree_entry_type(e) == GIT_OBJECT_BLOB) {
		git_oid_cpy(out, git_tree_entry_id(e));
		found = true;
	}
	git_tree_entry_free(e);
	git_tree_free(tree);
	git_commit_free(p);
	return found;
}

/* Set key in synth to the value in base (or remove it when base has none). */
static int take_base(json_t *synth, const json_t *base, const char *key)
{
	json_t *bv = base ? json_object_get(base, key) : NULL;

	if (!bv) {
		json_object_del(synth, key);
		return 0;
	}
	return json_object_set(synth, key, bv) < 0 ? err_set(ERR_NOMEM, "out of memory") : 0;
}

static bool in_some(json_t *const *pv, size_t n, const char *key, const json_t *mv)
{
	size_t i;

	for (i = 0; i < n; i++) {
		const json_t *x = json_object_get(pv[i], key);

		if ((!x && !mv) || (x && mv && json_equal(x, mv)))
			return true;
	}
	return false;
}

/*
 * The "previous version" a merge result is checked against: the merged record, except
 * that a value found in no parent is compared with the first parent's (so transitions
 * and role rules apply to what the merger invented), and enum lists hold every item any
 * parent had. pv: the parents' versions (n >= 1).
 */
static int merge_base(json_t **out, const struct schema *s, const json_t *rec, json_t *const *pv,
		      size_t n)
{
	const struct schema_type *t;
	json_t *synth = json_deep_copy(rec), *all = NULL;
	const char *key;
	json_t *mv;
	void *iter;
	size_t i, j;
	int rc = 0;

	*out = NULL;
	if (!synth)
		return err_set(ERR_NOMEM, "out of memory");
	t = schema_type_find(s, json_string_value(json_object_get(rec, "type")));
	/* every key of the merged record and of the parents' versions */
	for (i = 0; i <= n && rc == 0; i++) {
		const json_t *obj = i == 0 ? rec : pv[i - 1];

		for (iter = json_object_iter((json_t *)obj); iter && rc == 0;
		     iter = json_object_iter_next((json_t *)obj, iter)) {
			const struct schema_field *f;

			key = json_object_iter_key(iter);
			if (strcmp(key, "hlc") == 0)
				continue;
			mv = json_object_get(rec, key);
			f = t ? schema_field_find(t, key) : NULL;
			if (f && f->kind == FIELD_LIST && mv && !in_some(pv, n, key, mv)) {
				if (!(all = json_array())) {
					rc = err_set(ERR_NOMEM, "out of memory");
					break;
				}
				for (j = 0; j < n; j++) {
					json_t *pl = json_object_get(pv[j], key);
					size_t k;

					for (k = 0; k < json_array_size(pl); k++)
						json_array_append(all, json_array_get(pl, k));
				}
				if (json_object_set_new(synth, key, all) < 0)
					rc = err_set(ERR_NOMEM, "out of memory");
				all = NULL;
				continue;
			}
			if (!in_some(pv, n, key, mv))
				rc = take_base(synth, pv[0], key);
		}
	}
	if (rc < 0) {
		json_decref(synth);
		return rc;
	}
	*out = synth;
	return 0;
}

static int check_record(struct vc *v, const git_diff_delta *d)
{
	const char *path = d->new_file.path;
	const struct schema_type *type;
	unsigned i, np = git_commit_parentcount(v->commit);
	json_t *rec = NULL, *old = NULL, *pv[16] = {0};
	char id[RECORD_ID_MAX], what[RECORD_PATH_MAX + 16];
	git_oid pid;
	size_t npv = 0;
	int rc = 0;

	if (d->status == GIT_DELTA_DELETED)
		return deny(v, VERIFY_INVALID, "record",
			    "it removes '%s' (records are never removed, only made void)",
			    d->old_file.path);
	if (d->new_file.mode != GIT_FILEMODE_BLOB || !schema_record_at(&type, id, v->schema, path))
		return deny(v, VERIFY_INVALID, "record",
			    "'%s' is not a record file at the path its id and type give", path);
	snprintf(what, sizeof(what), "record '%s'", id);
	if ((rc = load_json(&rec, v->l, &d->new_file.id, true, what)) < 0) {
		if (rc == ERR_IO)
			goto out;
		rc = deny(v, VERIFY_INVALID, "record", "%s", err_msg());
		goto out;
	}
	if (!json_string_value(json_object_get(rec, "id")) ||
	    strcmp(json_string_value(json_object_get(rec, "id")), id) != 0) {
		rc = deny(v, VERIFY_INVALID, "record", "'%s' holds a record whose id is not '%s'",
			  path, id);
		goto out;
	}
	if (np > 1) {
		for (i = 0; i < np; i++) {
			if (!parent_blob(&pid, v->commit, i, path))
				continue;
			if (git_oid_equal(&pid, &d->new_file.id))
				goto out; /* taken from a parent: not the merger's change */
			if (npv < sizeof(pv) / sizeof(pv[0]) &&
			    (rc = load_json(&pv[npv++], v->l, &pid, false, what)) < 0)
				goto out_decode;
		}
		if (npv && (rc = merge_base(&old, v->schema, rec, pv, npv)) < 0)
			goto out;
	} else if (d->status != GIT_DELTA_ADDED &&
		   (rc = load_json(&old, v->l, &d->old_file.id, false, what)) < 0) {
		goto out_decode;
	}
	if ((rc = schema_validate(v->schema, old, rec, v->level)) < 0)
		rc = deny(v, rc == ERR_DENIED ? VERIFY_DENIED : VERIFY_INVALID,
			  rc == ERR_DENIED ? "role" : "schema", "%s", err_msg());
	goto out;
out_decode:
	if (rc != ERR_IO)
		rc = deny(v, VERIFY_INVALID, "record", "the previous version: %s", err_msg());
out:
	for (i = 0; i < npv; i++)
		json_decref(pv[i]);
	json_decref(rec);
	json_decref(old);
	return rc;
}

/* --- the trust branch --------------------------------------------------------------------- */

static int check_trust_file(struct vc *v, const git_diff_delta *d)
{
	const char *path = d->new_file.path;
	struct trust_cert info;
	struct trust_revoked_entry re;
	struct schema *s = NULL;
	git_blob *b = NULL;
	X509 *x = NULL;
	const char *data;
	size_t len, n = strlen(path);
	int rc = 0;

	if (d->status == GIT_DELTA_DELETED)
		return deny(v, VERIFY_INVALID, "trust", "it removes '%s' from the trust branch",
			    d->old_file.path);
	if (d->new_file.mode != GIT_FILEMODE_BLOB ||
	    (strcmp(path, "ca.pem") && strcmp(path, "crl.pem") && strcmp(path, "schema.ini") &&
	     !(strncmp(path, "certs/", 6) == 0 && !strchr(path + 6, '/') && n > 10 &&
	       strcmp(path + n - 4, ".pem") == 0) &&
	     !(strncmp(path, "revoked/", 8) == 0 && !strchr(path + 8, '/') && n > 13 &&
	       strcmp(path + n - 5, ".json") == 0)))
		return deny(
		    v, VERIFY_INVALID, "trust",
		    "'%s' does not belong on the trust branch (ca.pem, crl.pem, schema.ini, "
		    "certs/*.pem, revoked/*.json)",
		    path);
	if (git_blob_lookup(&b, v->l->repo, &d->new_file.id) < 0)
		return err_git(ERR_IO, "cannot read '%s' on the trust branch", path);
	data = git_blob_rawcontent(b);
	len = (size_t)git_blob_rawsize(b);
	if (strcmp(path, "ca.pem") == 0) {
		if (trust_cert_parse(&x, data, len, "ca.pem") < 0 || X509_cmp(x, v->trust->ca) != 0)
			rc = deny(v, VERIFY_INVALID, "trust",
				  "ca.pem is not this ledger's CA certificate");
	} else if (strcmp(path, "schema.ini") == 0) {
		if (schema_parse(&s, data, len, "schema.ini") < 0)
			rc = deny(v, VERIFY_INVALID, "trust", "%s", err_msg());
	} else if (strncmp(path, "certs/", 6) == 0) {
		if (trust_cert_parse(&x, data, len, path) < 0 ||
		    trust_cert_info(&info, x, v->trust->ca, v->trust->city, path) < 0)
			rc = deny(v, VERIFY_INVALID, "trust", "%s", err_msg());
		else
			trust_cert_release(&info);
	} else if (strncmp(path, "revoked/", 8) == 0) {
		/* the cut-offs of one revoked certificate, named by its serial */
		if (trust_revoked_parse(&re, data, len, path) < 0) {
			rc = deny(v, VERIFY_INVALID, "trust", "%s", err_msg());
		} else {
			size_t k;

			if (strlen(re.serial) + 13 != n ||
			    strncmp(path + 8, re.serial, n - 13) != 0)
				rc = deny(v, VERIFY_INVALID, "trust",
					  "%s names serial %s, not its file name", path, re.serial);
			for (k = 0; rc == 0 && k < v->trust->ncerts; k++)
				if (strcmp(v->trust->certs[k].serial, re.serial) == 0 &&
				    strcmp(v->trust->certs[k].code, re.office) != 0)
					rc = deny(v, VERIFY_INVALID, "trust",
						  "%s names office %s, but certificate %s is of "
						  "office %s",
						  path, re.office, re.serial,
						  v->trust->certs[k].code);
			trust_revoked_release(&re);
		}
	}
	/* crl.pem: its signature is checked whenever the trust is loaded */
	err_clear();
	X509_free(x);
	schema_free(s);
	git_blob_free(b);
	return rc;
}

/* --- the commit ------------------------------------------------------------------------ */

/*
 * The files that differ between two trees, as git_diff_tree_to_tree reports them (added,
 * deleted, modified; a path that changes between file and directory is a deletion plus
 * additions), but skipping subtrees whose ids are equal: libgit2 1.5's tree diff expands
 * every subtree of both sides, which costs the size of the ledger on each commit.
 */
struct changes {
	git_diff_delta *d;
	size_t n, cap;
};

static void changes_release(struct changes *c)
{
	size_t i;

	for (i = 0; i < c->n; i++)
		free((char *)c->d[i].new_file.path);
	free(c->d);
	memset(c, 0, sizeof(*c));
}

/* Record one change of the file at prefix/name: old or new (not both) may be NULL. */
static int changes_add(struct changes *c, const char *prefix, const git_tree_entry *old,
		       const git_tree_entry *new)
{
	const char *name = git_tree_entry_name(new ? new : old);
	git_diff_delta *d;
	size_t len;
	char *path;

	if (c->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 16;
		git_diff_delta *g = realloc(c->d, cap * sizeof(*g));
		if (!g)
			return err_set(ERR_NOMEM, "out of memory");
		c->d = g;
		c->cap = cap;
	}
	len = (prefix ? strlen(prefix) + 1 : 0) + strlen(name) + 1;
	if (!(path = malloc(len)))
		return err_set(ERR_NOMEM, "out of memory");
	snprintf(path, len, "%s%s%s", prefix ? prefix : "", prefix ? "/" : "", name);
	d = &c->d[c->n++];
	memset(d, 0, sizeof(*d));
	d->status = !old ? GIT_DELTA_ADDED : !new ? GIT_DELTA_DELETED : GIT_DELTA_MODIFIED;
	d->nfiles = 2;
	d->old_file.path = d->new_file.path = path;
	if (old) {
		git_oid_cpy(&d->old_file.id, git_tree_entry_id(old));
		d->old_file.mode = (uint16_t)git_tree_entry_filemode(old);
	}
	if (new) {
		git_oid_cpy(&d->new_file.id, git_tree_entry_id(new));
		d->new_file.mode = (uint16_t)git_tree_entry_filemode(new);
	}
	return 0;
}

static int tree_changes(struct changes *c, git_repository *repo, const git_tree *old,
			const git_tree *new, const char *prefix);

/* Recurse into the subtrees old and new (either NULL: empty) at prefix/name. */
static int subtree_changes(struct changes *c, git_repository *repo, const char *prefix,
			   const git_tree_entry *old, const git_tree_entry *new)
{
	const char *name = git_tree_entry_name(new ? new : old);
	git_tree *ot = NULL, *nt = NULL;
	char *path = NULL;
	size_t len = (prefix ? strlen(prefix) + 1 : 0) + strlen(name) + 1;
	int rc = 0;

	if (!(path = malloc(len))) {
		rc = err_set(ERR_NOMEM, "out of memory");
		goto out;
	}
	snprintf(path, len, "%s%s%s", prefix ? prefix : "", prefix ? "/" : "", name);
	if ((old && git_tree_lookup(&ot, repo, git_tree_entry_id(old)) < 0) ||
	    (new &&git_tree_lookup(&nt, repo, git_tree_entry_id(new)) < 0)) {
		rc = err_git(ERR_INVALID, "missing or bad tree '%s'", path);
		goto out;
	}
	rc = tree_changes(c, repo, ot, nt, path);
out:
	git_tree_free(nt);
	git_tree_free(ot);
	free(path);
	return rc;
}

static int tree_changes(struct changes *c, git_repository *repo, const git_tree *old,
			const git_tree *new, const char *prefix)
{
	size_t i, n = new ? git_tree_entrycount(new) : 0, on = old ? git_tree_entrycount(old) : 0;
	int rc = 0;

	for (i = 0; rc == 0 && i < n; i++) {
		const git_tree_entry *e = git_tree_entry_byindex(new, i);
		const git_tree_entry *oe =
		    old ? git_tree_entry_byname(old, git_tree_entry_name(e)) : NULL;
		bool tree = git_tree_entry_type(e) == GIT_OBJECT_TREE;
		bool otree = oe && git_tree_entry_type(oe) == GIT_OBJECT_TREE;

		if (oe && git_oid_equal(git_tree_entry_id(oe), git_tree_entry_id(e)) &&
		    git_tree_entry_filemode(oe) == git_tree_entry_filemode(e))
			continue;
		if (tree) {
			rc = subtree_changes(c, repo, prefix, otree ? oe : NULL, e);
			if (rc == 0 && oe && !otree)
				rc = changes_add(c, prefix, oe, NULL);
		} else {
			if (otree)
				rc = subtree_changes(c, repo, prefix, oe, NULL);
			if (rc == 0)
				rc = changes_add(c, prefix, otree ? NULL : oe, e);
		}
	}
	for (i = 0; rc == 0 && i < on; i++) {
		const git_tree_entry *oe = git_tree_entry_byindex(old, i);

		if (new &&git_tree_entry_byname(new, git_tree_entry_name(oe)))
			continue;
		if (git_tree_entry_type(oe) == GIT_OBJECT_TREE)
			rc = subtree_changes(c, repo, prefix, oe, NULL);
		else
			rc = changes_add(c, prefix, oe, NULL);
	}
	return rc;
}

/* The changes from parent p of the commit (none: from nothing) to its tree, into diff. */
static int parent_changes(struct changes *diff, struct vc *v, unsigned p, const git_tree *tree)
{
	git_commit *parent = NULL;
	git_tree *ptree = NULL;
	int rc;

	changes_release(diff);
	if (p < git_commit_parentcount(v->commit) &&
	    (git_commit_parent(&parent, v->commit, p) < 0 || git_commit_tree(&ptree, parent) < 0))
		rc = err_git(ERR_IO, "cannot read the changes of commit %s", v->out->commit);
	else if ((rc = tree_changes(diff, v->l->repo, ptree, tree, NULL)) < 0)
		err_prefix("cannot read the changes of commit %s", v->out->commit);
	git_tree_free(ptree);
	git_commit_free(parent);
	return rc;
}

static int check_changes(struct vc *v)
{
	git_tree *tree = NULL;
	struct changes diff = {0};
	bool trust = strcmp(v->branch, "trust") == 0;
	unsigned p;
	size_t i;
	int rc;

	if (git_commit_tree(&tree, v->commit) < 0)
		return err_git(ERR_IO, "cannot read the changes of commit %s", v->out->commit);
	rc = parent_changes(&diff, v, 0, tree);
	for (i = 0; rc == 0 && i < diff.n; i++)
		rc = trust ? check_trust_file(v, &diff.d[i]) : check_record(v, &diff.d[i]);
	/* a merge must keep every file of every parent */
	for (p = 1; rc == 0 && p < git_commit_parentcount(v->commit); p++) {
		rc = parent_changes(&diff, v, p, tree);
		for (i = 0; rc == 0 && i < diff.n; i++)
			if (diff.d[i].status == GIT_DELTA_DELETED)
				rc = deny(v, VERIFY_INVALID, trust ? "trust" : "record",
					  "it drops '%s', which its parent %u has",
					  diff.d[i].old_file.path, p + 1);
	}
	changes_release(&diff);
	git_tree_free(tree);
	return rc;
}

static void sig_verdict(struct verify_result *out, const struct history_sig *sig)
{
	switch (sig->status) {
	case HISTORY_SIG_NONE:
		out->status = VERIFY_UNSIGNED;
		break;
	case HISTORY_SIG_BAD:
		out->status = VERIFY_BAD;
		break;
	default:
		out->status = VERIFY_UNTRUSTED;
		break;
	}
	snprintf(out->rule, sizeof(out->rule), "%s", sig->rule);
	snprintf(out->detail, sizeof(out->detail), "%s (rule '%s')", sig->why, sig->rule);
	finish(out);
}

int verify_commit(struct verify_result *out, struct ledger *l, const char *branch,
		  const git_oid *commit, unsigned flags)
{
	struct history_sig sig;
	struct vc v = {.l = l, .branch = branch, .out = out};
	char ref[LEDGER_REF_MAX];
	int rc;

	memset(out, 0, sizeof(*out));
	git_oid_tostr(out->commit, sizeof(out->commit), commit);
	if ((rc = history_check_sig_branch(&sig, l, commit, branch)) < 0)
		return rc;
	snprintf(out->fingerprint, sizeof(out->fingerprint), "%s", sig.fingerprint);
	if (sig.status != HISTORY_SIG_GOOD) {
		snprintf(out->signer, sizeof(out->signer), "%s", sig.signer);
		sig_verdict(out, &sig);
		return 0;
	}
	snprintf(out->signer, sizeof(out->signer), "%s", sig.signer);
	if (ledger_ref_name(ref, branch) < 0) {
		deny(&v, VERIFY_DENIED, "scope", "%s", err_msg());
		err_clear();
		return 0;
	}
	if ((rc = trust_get(&v.trust, l)) < 0)
		return rc;
	v.schema = v.trust && v.trust->schema ? v.trust->schema : l->schema;
	v.level = (enum office_level)office_level(out->signer);
	if (git_commit_lookup(&v.commit, l->repo, commit) < 0)
		return err_git(ERR_IO, "cannot read commit %s", out->commit);
	if ((rc = check_scope(&v)) == 0)
		rc = check_changes(&v);
	git_commit_free(v.commit);
	if (rc < 0)
		return rc;
	if (rc == 0) {
		out->status = VERIFY_OK;
		snprintf(out->detail, sizeof(out->detail), "signed by office %s (key %s): valid",
			 out->signer, out->fingerprint);
		finish(out);
	}
	err_clear();
	return 0;
}

int verify_received(git_repository *repo, const char *branch, const git_oid *commit,
		    const char *client, void *payload)
{
	struct ledger *l = payload;
	git_repository *own = l->repo;
	struct verify_result r;
	int rc;

	(void)client;
	l->repo = repo;
	rc = verify_commit(&r, l, branch, commit, VERIFY_INCOMING);
	l->repo = own;
	if (rc < 0)
		return rc;
	if (r.status != VERIFY_OK)
		return err_set(ERR_VERIFY, "%s", r.why);
	return 0;
}

/* --- every branch ---------------------------------------------------------------------- */

struct names {
	char **v;
	size_t n;
};

static int collect_branch(const char *name, void *payload)
{
	struct names *ns = payload;
	char **grown;

	if (strncmp(name, "refs/heads/", 11) != 0)
		return 0;
	if (!(grown = realloc(ns->v, (ns->n + 1) * sizeof(*grown))))
		return -1;
	ns->v = grown;
	if (!(ns->v[ns->n] = strdup(name + 11)))
		return -1;
	ns->n++;
	return 0;
}

static int verify_branch(struct ledger *l, const char *branch, unsigned flags, size_t *ncommits,
			 int (*bad)(const char *, const struct verify_result *, void *),
			 void *payload)
{
	struct verify_result r;
	git_revwalk *walk = NULL;
	char ref[LEDGER_REF_MAX + 8];
	git_oid oid;
	int rc = 0;

	snprintf(ref, sizeof(ref), "refs/heads/%s", branch);
	if (git_revwalk_new(&walk, l->repo) < 0 ||
	    git_revwalk_sorting(walk, GIT_SORT_TOPOLOGICAL | GIT_SORT_TIME) < 0 ||
	    git_revwalk_push_ref(walk, ref) < 0) {
		rc = err_git(ERR_IO, "cannot walk branch '%s'", branch);
		goto out;
	}
	while (rc == 0 && git_revwalk_next(&oid, walk) == 0) {
		if ((rc = verify_commit(&r, l, branch, &oid, flags)) < 0)
			break;
		(*ncommits)++;
		if (r.status != VERIFY_OK)
			rc = bad(branch, &r, payload);
	}
out:
	git_revwalk_free(walk);
	return rc;
}

int verify_all(struct ledger *l, unsigned flags, size_t *ncommits, size_t *nbranches,
	       int (*bad)(const char *branch, const struct verify_result *r, void *payload),
	       void *payload)
{
	struct names ns = {0};
	size_t i;
	int rc = 0;

	*ncommits = 0;
	*nbranches = 0;
	if (git_reference_foreach_name(l->repo, collect_branch, &ns) < 0) {
		rc = err_git(ERR_IO, "cannot list branches");
		goto out;
	}
	*nbranches = ns.n;
	for (i = 0; i < ns.n && rc == 0; i++)
		rc = verify_branch(l, ns.v[i], flags, ncommits, bad, payload);
out:
	for (i = 0; i < ns.n; i++)
		free(ns.v[i]);
	free(ns.v);
	return rc;
}
