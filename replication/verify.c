/*
 * verify: commit validity on a branch — signature, certificate, scope, identity, time,
 * stamps, records, role rules, and merges recomputed. See verify.h for the rules; this
 * file owns nothing beyond one call.
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "merge.h"
#include "record.h"
#include "trust.h"
#include "util.h"
#include "verify.h"
#include "xfer.h"

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
	unsigned flags;		 /* verify_commit's */
	git_commit *commit;
	struct hlc stamp;		   /* its Caseledger-HLC trailer, parsed */
	char stamp_text[HLC_TEXT_MAX + 8]; /* and as written */
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

/* --- identity: what an auditor is shown is the signer ------------------------------------ */

/* The header lines caseledger writes; anything else could say what the signature does not. */
static int check_headers(struct vc *v)
{
	static const char *const known[] = {"tree ", "parent ", "author ", "committer ", "gpgsig "};
	const char *h = git_commit_raw_header(v->commit), *eol;
	size_t i, n;

	for (; h && *h; h = *eol ? eol + 1 : eol) {
		eol = strchr(h, '\n');
		if (!eol)
			eol = h + strlen(h);
		if (*h == ' ')
			continue; /* a continuation of the signature */
		for (i = 0; i < sizeof(known) / sizeof(known[0]); i++)
			if (strncmp(h, known[i], strlen(known[i])) == 0)
				break;
		if (i == sizeof(known) / sizeof(known[0])) {
			n = strcspn(h, " \n");
			return deny(v, VERIFY_INVALID, "identity",
				    "its header '%.*s' is not one caseledger writes",
				    (int)(n < 40 ? n : 40), h);
		}
	}
	return 0;
}

/* Author and committer: "<operator> <<signer>@caseledger>", one time for both. */
static int check_people(struct vc *v)
{
	const git_signature *a = git_commit_author(v->commit), *c = git_commit_committer(v->commit);
	char email[OFFICE_CODE_MAX + 16];

	snprintf(email, sizeof(email), "%s@caseledger", v->out->signer);
	if (!a || !c || strcmp(a->email, email) != 0 || strcmp(c->email, email) != 0)
		return deny(v, VERIFY_DENIED, "identity",
			    "its author or committer is '%s', not the signer's office ('%s')",
			    a && strcmp(a->email, email) != 0 ? a->email
			    : c				      ? c->email
							      : "",
			    email);
	if (strcmp(a->name, c->name) != 0 || a->when.time != c->when.time)
		return deny(v, VERIFY_INVALID, "identity",
			    "its author and committer differ (caseledger writes one operator and "
			    "one time for both)");
	return 0;
}

/* The trailers: one each of office (the signer), operator (the author) and stamp. */
static int check_trailers(struct vc *v)
{
	git_message_trailer_array tr = {0};
	const char *office = NULL, *operator= NULL, *hlc = NULL;
	size_t i;
	int rc = 0;

	if (git_message_trailers(&tr, git_commit_message(v->commit)) < 0) {
		git_error_clear();
		return deny(v, VERIFY_INVALID, "identity", "its message has no trailers");
	}
	for (i = 0; i < tr.count && rc == 0; i++) {
		const char *k = tr.trailers[i].key, *val = tr.trailers[i].value;
		const char **slot =
		    strcmp(k, LEDGER_TRAILER_OFFICE) == 0 ? &office
							  : strcmp(k, LEDGER_TRAILER_OPERATOR) == 0
			? &operator: strcmp(k, LEDGER_TRAILER_HLC) == 0 ? &hlc : NULL;

		if (!slot && strncasecmp(k, "Caseledger-", 11) == 0)
			rc = deny(v, VERIFY_INVALID, "identity", "unknown trailer '%.40s'", k);
		else if (slot && *slot)
			rc = deny(v, VERIFY_INVALID, "identity", "trailer '%s' appears twice", k);
		else if (slot)
			*slot = val;
	}
	if (rc == 0 && (!office || !operator|| !hlc))
		rc = deny(v, VERIFY_INVALID, "identity", "it lacks the trailer '%s'",
			  !office    ? LEDGER_TRAILER_OFFICE
			  : !operator? LEDGER_TRAILER_OPERATOR
				     : LEDGER_TRAILER_HLC);
	if (rc == 0 && strcmp(office, v->out->signer) != 0)
		rc = deny(v, VERIFY_DENIED, "identity",
			  "its trailer claims office '%.20s', but office %s signed it", office,
			  v->out->signer);
	if (rc == 0 && strcmp(operator, git_commit_author(v->commit)->name) != 0)
		rc = deny(v, VERIFY_INVALID, "identity",
			  "its operator trailer '%.100s' is not its author '%.100s'", operator,
			  git_commit_author(v->commit)->name);
	if (rc == 0) {
		snprintf(v->stamp_text, sizeof(v->stamp_text), "%s", hlc);
		if (strlen(hlc) >= HLC_TEXT_MAX || hlc_parse(&v->stamp, hlc) < 0) {
			err_clear();
			rc = deny(v, VERIFY_INVALID, "stamp",
				  "its clock stamp '%.40s' is not valid", hlc);
		}
	}
	git_message_trailer_array_free(&tr);
	return rc;
}

static int check_identity(struct vc *v)
{
	int rc;

	if ((rc = check_headers(v)) == 0 && (rc = check_people(v)) == 0)
		rc = check_trailers(v);
	return rc;
}

/* --- time: stamps rise along a branch and name their signer -------------------------------- */

static int check_time(struct vc *v)
{
	int64_t when = (int64_t)git_commit_committer(v->commit)->when.time;
	int64_t now = (int64_t)(util_now_ms() / 1000);
	unsigned i, np = git_commit_parentcount(v->commit);
	char a[TRUST_TIME_MAX], b[TRUST_TIME_MAX];
	int rc = 0;

	if (strcmp(v->stamp.office, v->out->signer) != 0)
		return deny(v, VERIFY_DENIED, "stamp",
			    "its clock stamp '%s' names office %s, not the signer", v->stamp_text,
			    v->stamp.office);
	if ((int64_t)(v->stamp.ms / 1000) != when)
		return deny(v, VERIFY_INVALID, "time",
			    "its commit time %lld is not the second of its clock stamp '%s'",
			    (long long)when, v->stamp_text);
	if ((v->flags & VERIFY_INCOMING) && when > now + VERIFY_SKEW) {
		trust_time_format(a, when);
		trust_time_format(b, now);
		return deny(v, VERIFY_INVALID, "time",
			    "it is dated %s, more than %d s after this office's clock (%s): check "
			    "the clock of office %s",
			    a, VERIFY_SKEW, b, v->out->signer);
	}
	for (i = 0; i < np && rc == 0; i++) {
		git_commit *p = NULL;
		struct hlc ps;

		if (git_commit_parent(&p, v->commit, i) < 0)
			return err_git(ERR_IO, "cannot read the parents of commit %s",
				       v->out->commit);
		if (ledger_commit_stamp(&ps, p) == 0 && hlc_cmp(&v->stamp, &ps) <= 0) {
			char pt[HLC_TEXT_MAX];

			hlc_format(pt, &ps);
			trust_time_format(a, when);
			rc = deny(v, VERIFY_INVALID, "time",
				  "it goes back in time: its stamp '%s' (%s) is not later than its "
				  "parent %.12s's '%s'",
				  v->stamp_text, a, git_oid_tostr_s(git_commit_id(p)), pt);
		}
		err_clear();
		git_commit_free(p);
	}
	return rc;
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

/*
 * A record a commit (not a merge) changes: at its path, canonical, its id, stamped with
 * the commit's stamp (later than the version before), valid against that version.
 */
static int check_record(struct vc *v, const git_diff_delta *d)
{
	const char *path = d->new_file.path;
	const struct schema_type *type;
	json_t *rec = NULL, *old = NULL;
	const char *id_in, *stamp;
	char id[RECORD_ID_MAX], what[RECORD_PATH_MAX + 16];
	struct hlc os;
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
	id_in = json_string_value(json_object_get(rec, "id"));
	if (!id_in || strcmp(id_in, id) != 0) {
		rc = deny(v, VERIFY_INVALID, "record", "'%s' holds a record whose id is not '%s'",
			  path, id);
		goto out;
	}
	stamp = json_string_value(json_object_get(rec, "hlc"));
	if (!stamp || strcmp(stamp, v->stamp_text) != 0) {
		rc = deny(v, VERIFY_INVALID, "stamp",
			  "record '%s' is stamped '%.40s', not with its commit's stamp '%s'", id,
			  stamp ? stamp : "(none)", v->stamp_text);
		goto out;
	}
	if (d->status != GIT_DELTA_ADDED &&
	    (rc = load_json(&old, v->l, &d->old_file.id, false, what)) < 0) {
		if (rc != ERR_IO)
			rc = deny(v, VERIFY_INVALID, "record", "the previous version: %s",
				  err_msg());
		goto out;
	}
	if (old && json_string_value(json_object_get(old, "hlc")) &&
	    hlc_parse(&os, json_string_value(json_object_get(old, "hlc"))) == 0 &&
	    hlc_cmp(&v->stamp, &os) <= 0) {
		rc = deny(v, VERIFY_INVALID, "stamp",
			  "record '%s' is stamped '%s', not later than its previous stamp '%s'", id,
			  v->stamp_text, json_string_value(json_object_get(old, "hlc")));
		goto out;
	}
	err_clear();
	if ((rc = schema_validate(v->schema, old, rec, v->level)) < 0)
		rc = deny(v, rc == ERR_DENIED ? VERIFY_DENIED : VERIFY_INVALID,
			  rc == ERR_DENIED ? "role" : "schema", "%s", err_msg());
out:
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
			const git_tree *new, const char *prefix, unsigned depth);

/*
 * Recurse into the subtrees old and new (either NULL: empty) at prefix/name, depth levels
 * down. A ledger's trees have a fixed shape (<type>/<h1>/<h2>/<id>.json; certs/NAME on the
 * trust branch): a tree deeper than VERIFY_TREE_DEPTH is refused before it is read.
 */
static int subtree_changes(struct changes *c, git_repository *repo, const char *prefix,
			   const git_tree_entry *old, const git_tree_entry *new, unsigned depth)
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
	if (depth > VERIFY_TREE_DEPTH) {
		rc = err_set(ERR_INVALID,
			     "'%.200s' is a directory %u levels deep; a ledger's records lie at "
			     "<type>/<h1>/<h2>/<id>.json",
			     path, depth);
		goto out;
	}
	if ((old && git_tree_lookup(&ot, repo, git_tree_entry_id(old)) < 0) ||
	    (new &&git_tree_lookup(&nt, repo, git_tree_entry_id(new)) < 0)) {
		rc = err_git(ERR_INVALID, "missing or bad tree '%.200s'", path);
		goto out;
	}
	rc = tree_changes(c, repo, ot, nt, path, depth);
out:
	git_tree_free(nt);
	git_tree_free(ot);
	free(path);
	return rc;
}

static int tree_changes(struct changes *c, git_repository *repo, const git_tree *old,
			const git_tree *new, const char *prefix, unsigned depth)
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
			rc = subtree_changes(c, repo, prefix, otree ? oe : NULL, e, depth + 1);
			if (rc == 0 && oe && !otree)
				rc = changes_add(c, prefix, oe, NULL);
		} else {
			if (otree)
				rc = subtree_changes(c, repo, prefix, oe, NULL, depth + 1);
			if (rc == 0)
				rc = changes_add(c, prefix, otree ? NULL : oe, e);
		}
	}
	for (i = 0; rc == 0 && i < on; i++) {
		const git_tree_entry *oe = git_tree_entry_byindex(old, i);

		if (new &&git_tree_entry_byname(new, git_tree_entry_name(oe)))
			continue;
		if (git_tree_entry_type(oe) == GIT_OBJECT_TREE)
			rc = subtree_changes(c, repo, prefix, oe, NULL, depth + 1);
		else
			rc = changes_add(c, prefix, oe, NULL);
	}
	return rc;
}

/* The changes from the commit's first parent (none: from nothing) to its tree, into diff. */
static int parent_changes(struct changes *diff, struct vc *v, const git_tree *tree)
{
	git_commit *parent = NULL;
	git_tree *ptree = NULL;
	int rc;

	if (git_commit_parentcount(v->commit) > 0 &&
	    (git_commit_parent(&parent, v->commit, 0) < 0 || git_commit_tree(&ptree, parent) < 0))
		rc = err_git(ERR_IO, "cannot read the changes of commit %s", v->out->commit);
	else
		rc = tree_changes(diff, v->l->repo, ptree, tree, NULL, 0);
	git_tree_free(ptree);
	git_commit_free(parent);
	return rc;
}

/* A commit that is not a merge: every file it changes against its first parent. */
static int check_changes(struct vc *v)
{
	git_tree *tree = NULL;
	struct changes diff = {0};
	bool trust = strcmp(v->branch, "trust") == 0;
	size_t i;
	int rc;

	if (git_commit_tree(&tree, v->commit) < 0)
		return err_git(ERR_IO, "cannot read the changes of commit %s", v->out->commit);
	if ((rc = parent_changes(&diff, v, tree)) == ERR_INVALID)
		rc = deny(v, VERIFY_INVALID, "shape", "%s", err_msg());
	for (i = 0; rc == 0 && i < diff.n; i++)
		rc = trust ? check_trust_file(v, &diff.d[i]) : check_record(v, &diff.d[i]);
	changes_release(&diff);
	git_tree_free(tree);
	return rc;
}

/* A merge carries no discretion: it must be the merge the engine computes from its parents. */
static int check_merge(struct vc *v)
{
	char why[512];
	int rc;

	if (strcmp(v->branch, "trust") == 0)
		return deny(v, VERIFY_INVALID, "merge", "the trust branch has no merges");
	if ((rc = merge_check(why, sizeof(why), v->l, v->branch, v->commit)) < 0)
		return rc;
	if (why[0])
		return deny(v, VERIFY_INVALID, "merge", "%s", why);
	return 0;
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

int verify_schema(const struct schema **out, struct ledger *l)
{
	struct trust *t = NULL;
	int rc;

	*out = NULL;
	if ((rc = trust_get(&t, l)) < 0)
		return rc;
	*out = t && t->schema ? t->schema : l->schema;
	return 0;
}

/* An expired key adds nothing new: the head of what arrives must not be signed by one. */
static int check_tip(struct vc *v, const struct history_sig *sig)
{
	int64_t now = (int64_t)(util_now_ms() / 1000);
	char a[TRUST_TIME_MAX];

	if (!sig->not_after || now <= sig->not_after)
		return 0;
	trust_time_format(a, sig->not_after);
	return deny(v, VERIFY_UNTRUSTED, "validity",
		    "its certificate expired at %s: an expired key adds nothing new (what it "
		    "signed in time is accepted below a commit by a current key)",
		    a);
}

int verify_commit(struct verify_result *out, struct ledger *l, const char *branch,
		  const git_oid *commit, unsigned flags)
{
	struct history_sig sig;
	struct vc v = {.l = l, .branch = branch, .flags = flags, .out = out};
	char ref[LEDGER_REF_MAX];
	int rc;

	memset(out, 0, sizeof(*out));
	git_oid_tostr(out->commit, sizeof(out->commit), commit);
	if ((rc = history_check_sig_branch(&sig, l, commit, branch)) < 0)
		return rc;
	snprintf(out->fingerprint, sizeof(out->fingerprint), "%s", sig.fingerprint);
	snprintf(out->signer, sizeof(out->signer), "%s", sig.signer);
	if (sig.status != HISTORY_SIG_GOOD) {
		sig_verdict(out, &sig);
		return 0;
	}
	if (ledger_ref_name(ref, branch) < 0) {
		deny(&v, VERIFY_DENIED, "scope", "%s", err_msg());
		err_clear();
		return 0;
	}
	if ((rc = trust_get(&v.trust, l)) < 0 || (rc = verify_schema(&v.schema, l)) < 0)
		return rc;
	v.level = (enum office_level)office_level(out->signer);
	if (git_commit_lookup(&v.commit, l->repo, commit) < 0)
		return err_git(ERR_IO, "cannot read commit %s", out->commit);
	if ((rc = check_scope(&v)) == 0 && (flags & VERIFY_INCOMING) && (flags & VERIFY_TIP))
		rc = check_tip(&v, &sig);
	if (rc == 0 && (rc = check_identity(&v)) == 0 && (rc = check_time(&v)) == 0)
		rc = git_commit_parentcount(v.commit) > 1 ? check_merge(&v) : check_changes(&v);
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

int verify_received(git_repository *repo, const char *branch, const git_oid *commit, unsigned flags,
		    void *payload)
{
	struct ledger *l = payload;
	git_repository *own = l->repo;
	struct verify_result r;
	int rc;

	l->repo = repo;
	rc = verify_commit(&r, l, branch, commit,
			   VERIFY_INCOMING | ((flags & XFER_VERIFY_TIP) ? VERIFY_TIP : 0));
	l->repo = own;
	if (rc < 0)
		return rc;
	if (r.status != VERIFY_OK)
		return err_set(ERR_VERIFY, "%s", r.why);
	return 0;
}

int verify_range(struct verify_result *out, size_t *ncommits, struct ledger *l, const char *branch,
		 const git_oid *tip, const git_oid *hide, size_t nhide, unsigned flags)
{
	git_revwalk *walk = NULL;
	git_oid id;
	size_t i;
	int rc = 0, k;

	memset(out, 0, sizeof(*out));
	out->status = VERIFY_OK;
	if (ncommits)
		*ncommits = 0;
	if (git_revwalk_new(&walk, l->repo) < 0 || git_revwalk_push(walk, tip) < 0) {
		rc = err_git(ERR_IO, "cannot walk the commits of branch '%s'", branch);
		goto out;
	}
	for (i = 0; i < nhide; i++)
		if (git_revwalk_hide(walk, &hide[i]) < 0) {
			rc = err_git(ERR_IO, "cannot walk the commits of branch '%s'", branch);
			goto out;
		}
	while ((k = git_revwalk_next(&id, walk)) == 0) {
		bool at_tip = (flags & VERIFY_INCOMING) && git_oid_equal(&id, tip);

		if ((rc = verify_commit(out, l, branch, &id, flags | (at_tip ? VERIFY_TIP : 0))) <
		    0)
			goto out;
		if (ncommits)
			(*ncommits)++;
		if (out->status != VERIFY_OK)
			goto out;
	}
	if (k != GIT_ITEROVER)
		rc = err_git(ERR_IO, "cannot walk the commits of branch '%s'", branch);
out:
	git_revwalk_free(walk);
	return rc;
}

int verify_for_index(struct ledger *l, const char *branch, const git_oid *head, const git_oid *from,
		     void *payload)
{
	struct verify_result r;
	int rc;

	(void)payload;
	if ((rc = verify_range(&r, NULL, l, branch, head, from, from ? 1 : 0, 0)) < 0)
		return rc;
	return r.status == VERIFY_OK ? 0 : err_set(ERR_VERIFY, "%s", r.why);
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
