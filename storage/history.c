/*
 * history: commit metadata, signature checks and per-record history from the git
 * history, which is the only source of truth.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "err.h"
#include "history.h"
#include "trust.h"

const char *history_sig_name(enum history_sig_status s)
{
	switch (s) {
	case HISTORY_SIG_GOOD:
		return "good";
	case HISTORY_SIG_NONE:
		return "unsigned";
	case HISTORY_SIG_BAD:
		return "bad";
	case HISTORY_SIG_UNTRUSTED:
		return "untrusted";
	}
	return "bad";
}

static char *dup_n(const char *s, size_t n)
{
	char *p = malloc(n + 1);

	if (p) {
		memcpy(p, s, n);
		p[n] = '\0';
	}
	return p;
}

/* The body without its last paragraph when that paragraph holds our trailers. */
static char *body_reason(const char *body)
{
	const char *end, *cut;
	size_t n;

	if (!body)
		return dup_n("", 0);
	n = strlen(body);
	while (n > 0 && body[n - 1] == '\n')
		n--;
	end = body + n;
	cut = NULL;
	for (const char *p = body; p + 1 < end; p++)
		if (p[0] == '\n' && p[1] == '\n')
			cut = p;
	if (strncmp(cut ? cut + 2 : body, "Caseledger-", 11) == 0)
		n = cut ? (size_t)(cut - body) : 0;
	return dup_n(body, n);
}

int history_info(struct history_info *out, git_commit *c)
{
	git_message_trailer_array tr = {0};
	const git_signature *author = git_commit_author(c);
	const char *subject = git_commit_summary(c);
	size_t i;
	int rc = 0;

	memset(out, 0, sizeof(*out));
	git_oid_cpy(&out->id, git_commit_id(c));
	out->time = (int64_t)git_commit_time(c);
	out->offset = git_commit_time_offset(c);
	out->nparents = git_commit_parentcount(c);
	out->subject = strdup(subject ? subject : "");
	out->reason = body_reason(git_commit_body(c));
	if (git_message_trailers(&tr, git_commit_message(c)) == 0) {
		for (i = 0; i < tr.count; i++) {
			char **slot = NULL;

			if (strcmp(tr.trailers[i].key, LEDGER_TRAILER_OFFICE) == 0)
				slot = &out->office;
			else if (strcmp(tr.trailers[i].key, LEDGER_TRAILER_OPERATOR) == 0)
				slot = &out->operator;
			else if (strcmp(tr.trailers[i].key, LEDGER_TRAILER_HLC) == 0)
				slot = &out->hlc;
			if (slot && !*slot)
				*slot = strdup(tr.trailers[i].value);
		}
		git_message_trailer_array_free(&tr);
	}
	if (!out->office)
		out->office = strdup("");
	if (!out->operator)
		out->operator= strdup(author && author->name ? author->name : "");
	if (!out->hlc)
		out->hlc = strdup("");
	if (!out->subject || !out->reason || !out->office || !out->operator|| !out->hlc) {
		history_info_release(out);
		rc = err_set(ERR_NOMEM, "out of memory");
	}
	return rc;
}

void history_info_release(struct history_info *info)
{
	free(info->subject);
	free(info->reason);
	free(info->office);
	free(info->operator);
	free(info->hlc);
	memset(info, 0, sizeof(*info));
}

/* The keys trusted until certificates arrive: this office's own key. */
static bool key_trusted(struct ledger *l, const unsigned char pub[SIG_PUBKEY_LEN], char *principal)
{
	if (memcmp(pub, l->pub, SIG_PUBKEY_LEN) != 0)
		return false;
	snprintf(principal, OFFICE_CODE_MAX + 1, "%s", l->office);
	return true;
}

int history_check_sig(struct history_sig *out, struct ledger *l, const git_oid *commit)
{
	return history_check_sig_branch(out, l, commit, NULL);
}

/*
 * A key the ledger's trust certifies for the commit's time; a revoked certificate's only
 * for the history the city accepted from it (its cut-off on branch, or on any branch
 * when branch is NULL).
 */
static int cert_trusted(struct history_sig *out, struct ledger *l, struct trust *t,
			const git_oid *commit, const unsigned char pub[SIG_PUBKEY_LEN],
			const char *branch)
{
	static const char *const rules[] = {"", "certificate", "validity", "revocation"};
	const struct trust_cert *cert;
	enum trust_verdict v;
	git_commit *c = NULL;
	bool accepted;
	char why[400];
	int rc;

	if (git_commit_lookup(&c, l->repo, commit) < 0)
		return err_git(ERR_IO, "cannot read commit %s", git_oid_tostr_s(commit));
	v = trust_signer(&cert, t, pub, (int64_t)git_commit_committer(c)->when.time, why,
			 sizeof(why));
	git_commit_free(c);
	if (cert) {
		snprintf(out->signer, sizeof(out->signer), "%s", cert->code);
		out->not_after = cert->not_after;
	}
	if (v == TRUST_REVOKED) {
		if ((rc = trust_cutoff_accepts(&accepted, cert, l->repo, commit, branch, why,
					       sizeof(why))) < 0)
			return rc;
		if (accepted)
			v = TRUST_OK;
	}
	if (v == TRUST_OK) {
		out->status = HISTORY_SIG_GOOD;
		return 0;
	}
	out->status = HISTORY_SIG_UNTRUSTED;
	snprintf(out->rule, sizeof(out->rule), "%s", rules[v]);
	snprintf(out->why, sizeof(out->why), "signed by key %s%s%s: %s", out->fingerprint,
		 cert ? " of office " : "", cert ? cert->code : "", why);
	return 0;
}

int history_check_sig_branch(struct history_sig *out, struct ledger *l, const git_oid *commit,
			     const char *branch)
{
	git_buf sig = GIT_BUF_INIT, data = GIT_BUF_INIT;
	unsigned char pub[SIG_PUBKEY_LEN];
	struct trust *t = NULL;
	int rc;

	memset(out, 0, sizeof(*out));
	rc = git_commit_extract_signature(&sig, &data, l->repo, (git_oid *)commit, "gpgsig");
	if (rc == GIT_ENOTFOUND) {
		out->status = HISTORY_SIG_NONE;
		snprintf(out->rule, sizeof(out->rule), "signature");
		snprintf(out->why, sizeof(out->why), "commit is not signed");
		rc = 0;
		goto out;
	}
	if (rc < 0) {
		rc = err_git(ERR_IO, "cannot read commit %s", git_oid_tostr_s(commit));
		goto out;
	}
	rc = 0;
	if (sig_verify(pub, sig.ptr, sig.size, data.ptr, data.size) < 0) {
		out->status = HISTORY_SIG_BAD;
		snprintf(out->rule, sizeof(out->rule), "signature");
		snprintf(out->why, sizeof(out->why), "%s", err_msg());
		err_clear();
		goto out;
	}
	sig_fingerprint(out->fingerprint, pub);
	if ((rc = trust_get(&t, l)) < 0)
		goto out;
	if (t) {
		rc = cert_trusted(out, l, t, commit, pub, branch);
		goto out;
	}
	if (!key_trusted(l, pub, out->signer)) {
		out->status = HISTORY_SIG_UNTRUSTED;
		snprintf(out->rule, sizeof(out->rule), "key");
		snprintf(out->why, sizeof(out->why),
			 "signed by key %s, which this ledger does not trust", out->fingerprint);
		goto out;
	}
	out->status = HISTORY_SIG_GOOD;
out:
	git_buf_dispose(&sig);
	git_buf_dispose(&data);
	return rc;
}

static bool field_equal(const json_t *a, const json_t *b)
{
	if (!a || !b)
		return a == b;
	return json_equal(a, b);
}

static int add_change(json_t *arr, const char *key, json_t *a, json_t *b)
{
	json_t *o = json_pack("{s:s, s:O?, s:O?}", "field", key, "old", a, "new", b);

	return o ? json_array_append_new(arr, o) : -1;
}

json_t *history_field_changes(const json_t *old, const json_t *new)
{
	json_t *arr = json_array(), *v;
	const char *key;
	void *iter;

	if (!arr)
		return NULL;
	json_object_foreach ((json_t *)new, key, v) {
		json_t *was = old ? json_object_get(old, key) : NULL;

		if (strcmp(key, "hlc") == 0 || field_equal(was, v))
			continue;
		if (add_change(arr, key, was, v) < 0)
			goto fail;
	}
	if (old) {
		for (iter = json_object_iter((json_t *)old); iter;
		     iter = json_object_iter_next((json_t *)old, iter)) {
			key = json_object_iter_key(iter);
			if (strcmp(key, "hlc") != 0 && !json_object_get(new, key) &&
			    add_change(arr, key, json_object_iter_value(iter), NULL) < 0)
				goto fail;
		}
	}
	return arr;
fail:
	json_decref(arr);
	return NULL;
}

static int dump_to_buf(const char *data, size_t n, void *payload)
{
	return buf_add(payload, data, n) < 0 ? -1 : 0;
}

/* Is s written by jansson as itself between quotes (nothing to escape)? */
static bool plain_text(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == '"' || s[i] == '\\')
			return false;
	return true;
}

/* v as json_dumps writes it inside a JSON_COMPACT | JSON_SORT_KEYS dump. */
static int dump_value(struct buf *out, const json_t *v)
{
	const size_t flags = JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY;

	int rc;

	if (json_is_string(v) && plain_text(json_string_value(v), json_string_length(v))) {
		if ((rc = buf_addch(out, '"')) < 0 ||
		    (rc = buf_add(out, json_string_value(v), json_string_length(v))) < 0)
			return rc;
		return buf_addch(out, '"');
	}
	if (json_is_integer(v))
		return buf_printf(out, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
	if (json_dump_callback(v, dump_to_buf, out, flags) < 0)
		return err_set(ERR_NOMEM, "out of memory");
	return 0;
}

/* One {"field", "new", "old"} object (keys sorted; an absent side is null). */
static int dump_change(struct buf *out, bool *first, const char *key, const json_t *was,
		       const json_t *now)
{
	json_t *name = NULL;
	int rc;

	if ((rc = buf_adds(out, *first ? "[{\"field\":" : ",{\"field\":")) < 0)
		return rc;
	*first = false;
	if (plain_text(key, strlen(key))) {
		if ((rc = buf_addch(out, '"')) == 0 && (rc = buf_adds(out, key)) == 0)
			rc = buf_addch(out, '"');
	} else if (!(name = json_string(key))) {
		rc = err_set(ERR_NOMEM, "out of memory");
	} else {
		rc = dump_value(out, name);
		json_decref(name);
	}
	if (rc == 0 && (rc = buf_adds(out, ",\"new\":")) == 0)
		rc = now ? dump_value(out, now) : buf_adds(out, "null");
	if (rc == 0 && (rc = buf_adds(out, ",\"old\":")) == 0)
		rc = was ? dump_value(out, was) : buf_adds(out, "null");
	return rc < 0 ? rc : buf_addch(out, '}');
}

int history_field_changes_text(struct buf *out, const json_t *old, const json_t *new)
{
	const char *key;
	json_t *v;
	void *iter;
	bool first = true;
	int rc = 0;

	if (new) {
		json_object_foreach ((json_t *)new, key, v) {
			json_t *was = old ? json_object_get(old, key) : NULL;

			if (strcmp(key, "hlc") == 0 || field_equal(was, v))
				continue;
			if ((rc = dump_change(out, &first, key, was, v)) < 0)
				return rc;
		}
	}
	for (iter = old ? json_object_iter((json_t *)old) : NULL; iter;
	     iter = json_object_iter_next((json_t *)old, iter)) {
		key = json_object_iter_key(iter);
		if (strcmp(key, "hlc") != 0 && !(new &&json_object_get(new, key)) &&
		    (rc = dump_change(out, &first, key, json_object_iter_value(iter), NULL)) < 0)
			return rc;
	}
	return buf_adds(out, first ? "[]" : "]");
}

/* The blob id at path in commit c; false when absent. */
static bool blob_at(git_oid *out, git_commit *c, const char *path)
{
	git_tree *tree = NULL;
	git_tree_entry *e = NULL;
	bool found = false;

	if (git_commit_tree(&tree, c) == 0 && git_tree_entry_bypath(&e, tree, path) == 0) {
		git_oid_cpy(out, git_tree_entry_id(e));
		found = true;
	}
	git_tree_entry_free(e);
	git_tree_free(tree);
	return found;
}

static int load_blob(json_t **out, struct ledger *l, const git_oid *id, const char *what)
{
	git_blob *b = NULL;
	int rc;

	if (git_blob_lookup(&b, l->repo, id) < 0)
		return err_git(ERR_IO, "cannot read %s", what);
	rc = record_decode(out, git_blob_rawcontent(b), (size_t)git_blob_rawsize(b), false, what);
	git_blob_free(b);
	return rc;
}

static int walk_start(git_revwalk **out, struct ledger *l, const char *branch)
{
	git_oid head;
	int rc;

	if ((rc = ledger_head(&head, l, branch)) < 0)
		return rc;
	if (git_revwalk_new(out, l->repo) < 0 ||
	    git_revwalk_sorting(*out, GIT_SORT_TOPOLOGICAL | GIT_SORT_TIME) < 0 ||
	    git_revwalk_push(*out, &head) < 0) {
		git_revwalk_free(*out);
		*out = NULL;
		return err_git(ERR_IO, "cannot walk branch '%s'", branch);
	}
	return 0;
}

/* Did commit c change path? Sets now/was (was_set false when c created it). */
static bool changed_here(git_commit *c, const char *path, git_oid *now, git_oid *was, bool *was_set)
{
	unsigned i, n = git_commit_parentcount(c);
	bool differs_from_all = true;

	*was_set = false;
	if (!blob_at(now, c, path))
		return false;
	for (i = 0; i < n; i++) {
		git_commit *p = NULL;
		git_oid pid;
		bool has = false;

		if (git_commit_parent(&p, c, i) == 0)
			has = blob_at(&pid, p, path);
		git_commit_free(p);
		if (has && git_oid_equal(&pid, now))
			differs_from_all = false;
		if (i == 0 && has) {
			git_oid_cpy(was, &pid);
			*was_set = true;
		}
	}
	return differs_from_all;
}

json_t *history_merge_view(const json_t *was, const json_t *now, json_t *const *others,
			   size_t nothers, bool *carried)
{
	json_t *view = was ? json_deep_copy(was) : NULL, *v;
	const char *key;
	size_t i;

	*carried = false;
	for (i = 0; i < nothers; i++) {
		if (!others[i])
			continue;
		if (!view && !(view = json_object()))
			return NULL;
		json_object_foreach ((json_t *)now, key, v)
			if (json_equal(json_object_get(others[i], key), v))
				json_object_set(view, key, v);
	}
	if (view && now) {
		json_t *hlc = json_object_get(now, "hlc");

		if (hlc)
			json_object_set(view, "hlc", hlc);
		*carried = json_equal(view, now);
	}
	return view;
}

static int emit(struct ledger *l, git_commit *c, const json_t *old, const json_t *rec,
		history_cb cb, void *payload)
{
	struct history_entry e = {.old = old, .rec = rec};
	int rc;

	if ((rc = history_info(&e.info, c)) < 0)
		return rc;
	if ((rc = history_check_sig(&e.sig, l, git_commit_id(c))) == 0)
		rc = cb(&e, payload);
	history_info_release(&e.info);
	return rc;
}

/*
 * A merge that combined a record field by field: *old becomes history_merge_view of it
 * against the other parents' copies, so only what the merge decided itself is its change.
 */
static int merged_view(json_t **old, bool *carried, struct ledger *l, git_commit *c,
		       const char *path, const json_t *rec, const char *what)
{
	json_t *others[4] = {NULL}, *view;
	unsigned i, n = git_commit_parentcount(c);
	int rc = 0;

	for (i = 1; i < n && i <= 4 && rc == 0; i++) {
		git_commit *p = NULL;
		git_oid id;

		if (git_commit_parent(&p, c, i) == 0 && blob_at(&id, p, path))
			rc = load_blob(&others[i - 1], l, &id, what);
		git_commit_free(p);
	}
	if (rc == 0) {
		view = history_merge_view(*old, rec, others, 4, carried);
		json_decref(*old);
		*old = view;
	}
	for (i = 0; i < 4; i++)
		json_decref(others[i]);
	return rc;
}

int history_record(struct ledger *l, const char *branch, const char *id, history_cb cb,
		   void *payload)
{
	const struct schema_type *type;
	char path[RECORD_PATH_MAX], what[RECORD_ID_MAX + 16];
	git_revwalk *walk = NULL;
	git_oid oid, now, was;
	size_t found = 0;
	int rc;

	if ((rc = ledger_type_of(&type, l, id)) < 0 || (rc = record_path(path, type->name, id)) < 0)
		return rc;
	if ((rc = walk_start(&walk, l, branch)) < 0)
		return rc;
	snprintf(what, sizeof(what), "record '%s'", id);
	while (rc == 0 && git_revwalk_next(&oid, walk) == 0) {
		git_commit *c = NULL;
		json_t *old = NULL, *rec = NULL;
		bool was_set;

		if (git_commit_lookup(&c, l->repo, &oid) < 0) {
			rc = err_git(ERR_IO, "cannot read commit %s", git_oid_tostr_s(&oid));
			break;
		}
		if (changed_here(c, path, &now, &was, &was_set)) {
			bool carried = false;

			found++;
			rc = load_blob(&rec, l, &now, what);
			if (rc == 0 && was_set)
				rc = load_blob(&old, l, &was, what);
			if (rc == 0 && git_commit_parentcount(c) > 1)
				rc = merged_view(&old, &carried, l, c, path, rec, what);
			if (rc == 0 && !carried)
				rc = emit(l, c, old, rec, cb, payload);
		}
		json_decref(old);
		json_decref(rec);
		git_commit_free(c);
	}
	git_revwalk_free(walk);
	if (rc == 0 && found == 0)
		rc = err_set(ERR_NOTFOUND, "no record '%s' on branch '%s'", id, branch);
	return rc;
}

int history_branch(struct ledger *l, const char *branch, history_cb cb, void *payload)
{
	git_revwalk *walk = NULL;
	git_oid oid;
	int rc;

	if ((rc = walk_start(&walk, l, branch)) < 0)
		return rc;
	while (rc == 0 && git_revwalk_next(&oid, walk) == 0) {
		git_commit *c = NULL;

		if (git_commit_lookup(&c, l->repo, &oid) < 0) {
			rc = err_git(ERR_IO, "cannot read commit %s", git_oid_tostr_s(&oid));
			break;
		}
		rc = emit(l, c, NULL, NULL, cb, payload);
		git_commit_free(c);
	}
	git_revwalk_free(walk);
	return rc;
}

static int count_branch(const char *name, void *payload)
{
	if (strncmp(name, "refs/heads/", 11) == 0)
		(*(size_t *)payload)++;
	return 0;
}

int history_verify_all(struct ledger *l, size_t *ncommits, size_t *nbranches,
		       int (*bad)(const struct history_verify_bad *b, void *payload), void *payload)
{
	git_revwalk *walk = NULL;
	struct history_verify_bad b;
	git_oid oid;
	int rc = 0;

	*ncommits = 0;
	*nbranches = 0;
	if (git_reference_foreach_name(l->repo, count_branch, nbranches) < 0)
		return err_git(ERR_IO, "cannot list branches");
	if (git_revwalk_new(&walk, l->repo) < 0 ||
	    git_revwalk_push_glob(walk, "refs/heads/*") < 0) {
		rc = err_git(ERR_IO, "cannot walk the ledger's branches");
		goto out;
	}
	while (rc == 0 && git_revwalk_next(&oid, walk) == 0) {
		memset(&b, 0, sizeof(b));
		git_oid_cpy(&b.id, &oid);
		if ((rc = history_check_sig(&b.sig, l, &oid)) < 0)
			break;
		(*ncommits)++;
		if (b.sig.status != HISTORY_SIG_GOOD)
			rc = bad(&b, payload);
	}
out:
	git_revwalk_free(walk);
	return rc;
}
