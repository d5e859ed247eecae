/*
 * merge: the record-level three-way merge (see merge.h for the rules and outcomes).
 *
 * A merge works in an overlay (overlay.h) over the ledger's repository — or over whatever
 * repository l->repo is at the time, such as a receive-pack quarantine whose merge commit a
 * verifier recomputes: every tree and blob it builds, including virtual bases, goes to
 * memory first. When the result is to be kept, the objects are written as one pack
 * (fsync'ed) before the merge commit; otherwise they vanish with the overlay.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "err.h"
#include "merge.h"
#include "overlay.h"
#include "verify.h"
#include "xfer.h"
#include "util.h"

/* Virtual bases nest this deep at most (a criss-cross of criss-crosses of …). */
#define MERGE_MAX_DEPTH 16

static const char crockford[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/* One merge: the repository handle with the in-memory object store. */
struct mctx {
	struct ledger *l;
	const struct schema *schema; /* the schema in force (verify_schema) */
	struct overlay ov;	     /* reads l->repo, writes to memory */
	git_repository *repo;	     /* ov.repo */
	size_t nwritten;	     /* objects written to memory */
};

/* One three-way merge of trees (the top one, or one building a virtual base). */
struct m3 {
	struct mctx *c;
	const git_oid *commit[2]; /* heads of ours [0] and theirs [1]; NULL: virtual */
	json_t *discarded;	  /* as merge_result.discarded */
	json_t *conflicts;	  /* as merge_result.conflicts */
	json_t *records;	  /* conflict records to add: id -> record */
	json_t *notes;		  /* as merge_result.notes */
	size_t nrecords;
	json_t *changes[2]; /* per side, built when lww first needs it: path -> [commit ids,
			       newest first] of the side's own non-merge commits changing it */
	bool virtual;	    /* building a virtual base: no conflict records (see merge3) */
};

/* One record changed on both sides. */
struct rm {
	struct m3 *m;
	const char *id;
	const char *path; /* the record's path in the trees */
	const struct schema_type *type;
	json_t *base;	   /* NULL: added on both sides */
	json_t *side[2];   /* ours, theirs */
	char *enc[2];	   /* their canonical encodings */
	struct hlc hlc[2]; /* their stamps */
	char hlc_max[HLC_TEXT_MAX];
	int winner;	   /* the lww winner: 0 or 1 */
	json_t *discarded; /* this record's, moved to m when it is done */
	json_t *conflicts;
	json_t *records;
};

const char *merge_outcome_name(enum merge_outcome o)
{
	switch (o) {
	case MERGE_UP_TO_DATE:
		return "up-to-date";
	case MERGE_FAST_FORWARD:
		return "fast-forward";
	case MERGE_MERGED:
		return "merged";
	}
	return "unknown";
}

void merge_result_release(struct merge_result *r)
{
	if (!r)
		return;
	json_decref(r->discarded);
	json_decref(r->conflicts);
	json_decref(r->notes);
	free(r->message);
	memset(r, 0, sizeof(*r));
}

static int nomem(void)
{
	return err_set(ERR_NOMEM, "out of memory");
}

/* Compact JSON text of v (NULL: ""); caller frees. NULL only when out of memory. */
static char *dump(const json_t *v)
{
	if (!v)
		return strdup("");
	return json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
}

static bool same_value(const json_t *a, const json_t *b)
{
	return (!a && !b) || (a && b && json_equal(a, b));
}

static bool same_entry(const git_tree_entry *a, const git_tree_entry *b)
{
	if (!a || !b)
		return !a && !b;
	return git_oid_equal(git_tree_entry_id(a), git_tree_entry_id(b)) &&
	       git_tree_entry_filemode(a) == git_tree_entry_filemode(b);
}

/* --- the in-memory object store ------------------------------------------------------- */

static int mctx_open(struct mctx *c, struct ledger *l)
{
	int rc;

	memset(c, 0, sizeof(*c));
	c->l = l;
	if ((rc = verify_schema(&c->schema, l)) < 0 || (rc = overlay_open(&c->ov, l->repo)) < 0)
		return rc;
	c->repo = c->ov.repo;
	return 0;
}

/* Write what the merged tree needs into the repository as one pack, durably. */
static int mctx_flush(struct mctx *c, const git_oid *tree)
{
	if (c->nwritten == 0)
		return 0;
	return ledger_pack_tree(c->l, c->repo, tree, NULL);
}

static void mctx_close(struct mctx *c)
{
	overlay_release(&c->ov);
	memset(c, 0, sizeof(*c));
}

static int write_blob(git_oid *out, struct mctx *c, const char *data, size_t len)
{
	if (git_blob_create_from_buffer(out, c->repo, data, len) < 0)
		return err_git(ERR_IO, "cannot write a merged record");
	c->nwritten++;
	return 0;
}

/* --- small pieces ----------------------------------------------------------------------- */

int merge_conflict_id(char out[RECORD_ID_MAX], const char *record, const char *field, const char *a,
		      const char *b)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	char office[13], suffix[33];
	const char *lo = strcmp(a, b) <= 0 ? a : b, *hi = lo == a ? b : a;
	EVP_MD_CTX *h = EVP_MD_CTX_new();
	int i, ok;

	ok = h && EVP_DigestInit_ex(h, EVP_sha256(), NULL) == 1 &&
	     EVP_DigestUpdate(h, record, strlen(record) + 1) == 1 &&
	     EVP_DigestUpdate(h, field, strlen(field) + 1) == 1 &&
	     EVP_DigestUpdate(h, lo, strlen(lo) + 1) == 1 &&
	     EVP_DigestUpdate(h, hi, strlen(hi) + 1) == 1 && EVP_DigestFinal_ex(h, md, &mdlen) == 1;
	EVP_MD_CTX_free(h);
	if (!ok)
		return err_ssl(ERR_GENERIC, "cannot hash a conflict id");
	/* 32 digits of 5 bits: the first 160 bits of the hash */
	for (i = 0; i < 32; i++) {
		int bit = i * 5, byte = bit / 8, shift = bit % 8;
		unsigned v = ((unsigned)md[byte] << 8 | md[byte + 1]) >> (11 - shift);

		suffix[i] = crockford[v & 31];
	}
	suffix[32] = '\0';
	record_id_office(office, record);
	snprintf(out, RECORD_ID_MAX, "X-%s-%s", office, suffix);
	return record_id_check(out);
}

/* The "Caseledger-HLC" trailer of commit id; zero when it has none or cannot be read. */
static void commit_stamp(struct hlc *out, git_repository *repo, const git_oid *id)
{
	git_commit *c = NULL;

	memset(out, 0, sizeof(*out));
	if (git_commit_lookup(&c, repo, id) == 0 && ledger_commit_stamp(out, c) < 0)
		memset(out, 0, sizeof(*out));
	git_commit_free(c);
	err_clear();
}

/* --- when a side last changed a field ------------------------------------------------- */

/* Append id to changes[path] (an array, made on first use). */
static int changes_add(json_t *changes, const char *path, const git_oid *id)
{
	json_t *list = json_object_get(changes, path);

	if (!list && (!(list = json_array()) || json_object_set_new(changes, path, list) < 0))
		return nomem();
	return json_array_append_new(list, json_string(git_oid_tostr_s(id))) < 0 ? nomem() : 0;
}

/*
 * m->changes[s]: for every path, side s's own non-merge commits that changed it (not
 * reachable from the other side's head), newest first in topological order — from the
 * commits alone, so both directions of a merge see the same lists.
 */
static int side_changes(struct m3 *m, int s)
{
	git_repository *repo = m->c->repo;
	git_revwalk *w = NULL;
	git_commit *c = NULL, *p = NULL;
	git_tree *ct = NULL, *pt = NULL;
	git_diff *d = NULL;
	git_diff_options o;
	git_oid id;
	size_t i, n;
	int rc = 0, g;

	git_diff_options_init(&o, GIT_DIFF_OPTIONS_VERSION);
	if (!(m->changes[s] = json_object()))
		return nomem();
	if (git_revwalk_new(&w, repo) < 0 ||
	    git_revwalk_sorting(w, GIT_SORT_TOPOLOGICAL | GIT_SORT_TIME) < 0 ||
	    git_revwalk_push(w, m->commit[s]) < 0 || git_revwalk_hide(w, m->commit[!s]) < 0) {
		rc = err_git(ERR_IO, "cannot walk the history of commit %s",
			     git_oid_tostr_s(m->commit[s]));
		goto out;
	}
	while ((g = git_revwalk_next(&id, w)) == 0) {
		if (git_commit_lookup(&c, repo, &id) < 0) {
			rc = err_git(ERR_IO, "cannot read commit %s", git_oid_tostr_s(&id));
			goto out;
		}
		if (git_commit_parentcount(c) <= 1) { /* a merge authors no field */
			if ((git_commit_parentcount(c) == 1 &&
			     (git_commit_parent(&p, c, 0) < 0 || git_commit_tree(&pt, p) < 0)) ||
			    git_commit_tree(&ct, c) < 0 ||
			    git_diff_tree_to_tree(&d, repo, pt, ct, &o) < 0) {
				rc = err_git(ERR_IO, "cannot read the changes of commit %s",
					     git_oid_tostr_s(&id));
				goto out;
			}
			n = git_diff_num_deltas(d);
			for (i = 0; i < n && rc == 0; i++)
				rc = changes_add(m->changes[s],
						 git_diff_get_delta(d, i)->new_file.path, &id);
			git_diff_free(d);
			git_tree_free(ct);
			git_tree_free(pt);
			git_commit_free(p);
			d = NULL;
			ct = pt = NULL;
			p = NULL;
			if (rc < 0)
				goto out;
		}
		git_commit_free(c);
		c = NULL;
	}
	if (g != GIT_ITEROVER)
		rc = err_git(ERR_IO, "cannot walk the history of commit %s",
			     git_oid_tostr_s(m->commit[s]));
out:
	git_diff_free(d);
	git_tree_free(ct);
	git_tree_free(pt);
	git_commit_free(p);
	git_commit_free(c);
	git_revwalk_free(w);
	return rc;
}

/* The record at path in commit id (NULL: absent), decoded. */
static int record_in(json_t **out, git_repository *repo, const git_oid *id, const char *path)
{
	git_commit *c = NULL;
	git_tree *t = NULL;
	git_tree_entry *e = NULL;
	git_blob *b = NULL;
	char what[600];
	int rc = 0;

	*out = NULL;
	if (git_commit_lookup(&c, repo, id) < 0 || git_commit_tree(&t, c) < 0) {
		rc = err_git(ERR_IO, "cannot read commit %s", git_oid_tostr_s(id));
		goto out;
	}
	if (git_tree_entry_bypath(&e, t, path) < 0) {
		git_error_clear();
		goto out; /* not there */
	}
	if (git_blob_lookup(&b, repo, git_tree_entry_id(e)) < 0) {
		rc = err_git(ERR_IO, "cannot read '%s' in commit %s", path, git_oid_tostr_s(id));
		goto out;
	}
	snprintf(what, sizeof(what), "'%s' in commit %.12s", path, git_oid_tostr_s(id));
	rc = record_decode(out, git_blob_rawcontent(b), (size_t)git_blob_rawsize(b), false, what);
out:
	git_blob_free(b);
	git_tree_entry_free(e);
	git_tree_free(t);
	git_commit_free(c);
	return rc;
}

/*
 * *out = when side s last set field to its value v: the record stamp of the newest of
 * the side's own non-merge commits whose record has v there and whose parent's does not.
 * Without a commit (a virtual base) or such a commit (the value is older than the fork),
 * the side's record stamp.
 */
static int field_stamp(struct hlc *out, struct rm *r, int s, const char *field, const json_t *v)
{
	struct m3 *m = r->m;
	json_t *list, *item;
	size_t i;
	int rc = 0;

	*out = r->hlc[s];
	if (!m->commit[0] || !m->commit[1])
		return 0;
	if (!m->changes[s] && (rc = side_changes(m, s)) < 0)
		return rc;
	list = json_object_get(m->changes[s], r->path);
	json_array_foreach (list, i, item) {
		json_t *rec = NULL, *prev = NULL, *hv;
		git_commit *c = NULL;
		git_oid id;
		bool set;

		if (git_oid_fromstr(&id, json_string_value(item)) < 0 ||
		    git_commit_lookup(&c, m->c->repo, &id) < 0)
			return err_git(ERR_IO, "cannot read commit %s", json_string_value(item));
		if ((rc = record_in(&rec, m->c->repo, &id, r->path)) == 0 &&
		    git_commit_parentcount(c) == 1)
			rc = record_in(&prev, m->c->repo, git_commit_parent_id(c, 0), r->path);
		git_commit_free(c);
		set = rc == 0 && rec && same_value(json_object_get(rec, field), v) &&
		      !(prev && same_value(json_object_get(prev, field), v));
		hv = rec ? json_object_get(rec, "hlc") : NULL;
		if (set && json_is_string(hv) && hlc_parse(out, json_string_value(hv)) < 0) {
			err_clear();
			*out = r->hlc[s];
		}
		json_decref(rec);
		json_decref(prev);
		if (rc < 0 || set)
			return rc;
	}
	return 0;
}

/*
 * The lww winner of field (values v): the side that set its value later (field_stamp),
 * the record's lww winner when the stamps are equal. Symmetric in the two sides, and
 * from the commits alone.
 */
static int field_winner(int *out, struct rm *r, const char *field, const json_t *v[2])
{
	struct hlc t[2];
	int s, rc, c;

	for (s = 0; s < 2; s++)
		if ((rc = field_stamp(&t[s], r, s, field, v[s])) < 0)
			return rc;
	c = hlc_cmp(&t[0], &t[1]);
	*out = c > 0 ? 0 : c < 0 ? 1 : r->winner;
	return 0;
}

/* --- one record changed on both sides ------------------------------------------------- */

static const char *side_name(int s)
{
	return s == 0 ? "ours" : "theirs";
}

static int rm_load(struct rm *r, git_repository *repo, const git_tree_entry *e, int s, json_t **out)
{
	git_blob *blob = NULL;
	char what[RECORD_ID_MAX + 64];
	int rc;

	if (s >= 0 && r->m->commit[s])
		snprintf(what, sizeof(what), "record '%s' in commit %.12s", r->id,
			 git_oid_tostr_s(r->m->commit[s]));
	else
		snprintf(what, sizeof(what), "record '%s' (%s)", r->id,
			 s < 0 ? "merge base" : side_name(s));
	if (git_blob_lookup(&blob, repo, git_tree_entry_id(e)) < 0)
		return err_git(ERR_IO, "cannot read %s", what);
	rc = record_decode(out, git_blob_rawcontent(blob), (size_t)git_blob_rawsize(blob), false,
			   what);
	git_blob_free(blob);
	return rc;
}

/* Record that side s's value v of field was set aside (kept: what stays). */
static int rm_discard(struct rm *r, const char *field, const json_t *v, const json_t *kept,
		      const char *rule)
{
	json_t *d = json_pack("{s:s, s:s, s:O?, s:O?, s:s}", "record", r->id, "field", field,
			      "value", v, "kept", kept, "rule", rule);

	if (!d || json_array_append_new(r->discarded, d) < 0)
		return nomem();
	return 0;
}

/* A conflict record for field: kept came from side ks, other from the other side. */
static int rm_conflict(struct rm *r, const char *field, const json_t *kept, const json_t *other,
		       const json_t *base, int ks, const char *rule)
{
	char id[RECORD_ID_MAX];
	char *k = dump(kept), *o = dump(other), *b = base ? dump(base) : NULL;
	const git_oid *kc = r->m->commit[ks], *oc = r->m->commit[!ks];
	json_t *rec = NULL;
	int rc;

	if (!k || !o || (base && !b)) {
		rc = nomem();
		goto out;
	}
	/* no conflicts about conflict records: their rules settle them */
	if (strcmp(r->type->name, "conflict") == 0) {
		rc = rm_discard(r, field, other, kept, rule);
		goto out;
	}
	if ((rc = merge_conflict_id(id, r->id, field, k, o)) < 0)
		goto out;
	rec = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "id", id, "type", "conflict", "record",
			r->id, "field", field, "status", "open", "hlc", r->hlc_max);
	if (!rec || (kept && json_object_set_new(rec, "ours", json_string(k)) < 0) ||
	    (other && json_object_set_new(rec, "theirs", json_string(o)) < 0) ||
	    (base && json_object_set_new(rec, "base", json_string(b)) < 0) ||
	    (kc && json_object_set_new(rec, "ours_commit", json_string(git_oid_tostr_s(kc))) < 0) ||
	    (oc &&
	     json_object_set_new(rec, "theirs_commit", json_string(git_oid_tostr_s(oc))) < 0)) {
		rc = nomem();
		goto out;
	}
	if (schema_check(r->m->c->schema, rec) < 0) {
		/* e.g. a value longer than a conflict record holds: the message keeps it */
		err_clear();
		rc = rm_discard(r, field, other, kept, rule);
		goto out;
	}
	if (json_object_set(r->records, id, rec) < 0 ||
	    json_array_append_new(r->conflicts,
				  json_pack("{s:s, s:s, s:s, s:s}", "id", id, "record", r->id,
					    "field", field, "rule", rule)) < 0)
		rc = nomem();
out:
	json_decref(rec);
	free(k);
	free(o);
	free(b);
	return rc;
}

/* The side whose value a rule keeps: 0 or 1; lw: the field's lww winner. */
static int rule_winner(struct rm *r, const struct schema_field *f, const json_t *v[2], int lw,
		       bool *conflict, const char **rule)
{
	enum merge_rule mr = f ? f->merge : MERGE_LWW;
	int a, b;

	*conflict = false;
	*rule = schema_merge_name(mr);
	switch (mr) {
	case MERGE_AUTHORITY:
		a = office_level(r->hlc[0].office);
		b = office_level(r->hlc[1].office);
		err_clear();
		if (a > 0 && b > 0 && a != b)
			return a < b ? 0 : 1;
		return lw;
	case MERGE_WORKFLOW:
		a = json_is_string(v[0]) ? schema_rank(f, json_string_value(v[0])) : -1;
		b = json_is_string(v[1]) ? schema_rank(f, json_string_value(v[1])) : -1;
		if (a != b)
			return a > b ? 0 : 1;
		*conflict = true;
		return lw;
	case MERGE_MANUAL:
		*conflict = true;
		return lw;
	case MERGE_LWW:
	case MERGE_UNION:
		break;
	}
	return lw;
}

static bool list_has(const json_t *list, const json_t *item)
{
	size_t i;

	for (i = 0; i < json_array_size(list); i++)
		if (json_equal(json_array_get(list, i), item))
			return true;
	return false;
}

struct text_item {
	char *text;
	json_t *item;
};

static int text_item_cmp(const void *a, const void *b)
{
	return strcmp(((const struct text_item *)a)->text, ((const struct text_item *)b)->text);
}

/* Three-way set merge: base items both sides kept, in base order, then the items either
 * side added, in the order of their JSON text. NULL lists are empty. *out NULL: empty. */
static int union_merge(json_t **out, const json_t *b, const json_t *o, const json_t *t)
{
	struct text_item *add = NULL;
	size_t nadd = 0, i, j;
	json_t *res = json_array(), *item;
	const json_t *sides[2] = {o, t};
	int rc = 0;

	*out = NULL;
	if (!res || !(add = calloc(json_array_size(o) + json_array_size(t) + 1, sizeof(*add)))) {
		rc = nomem();
		goto out;
	}
	json_array_foreach (b, i, item)
		if (list_has(o, item) && list_has(t, item) && !list_has(res, item))
			json_array_append(res, item);
	for (j = 0; j < 2; j++) {
		json_array_foreach (sides[j], i, item) {
			size_t k;

			if (list_has(b, item))
				continue;
			for (k = 0; k < nadd && !json_equal(add[k].item, item); k++)
				;
			if (k < nadd)
				continue;
			add[nadd].item = item;
			if (!(add[nadd++].text = dump(item))) {
				rc = nomem();
				goto out;
			}
		}
	}
	qsort(add, nadd, sizeof(*add), text_item_cmp);
	for (i = 0; i < nadd; i++)
		if (json_array_append(res, add[i].item) < 0) {
			rc = nomem();
			goto out;
		}
	if (json_array_size(res) > 0) {
		*out = res;
		res = NULL;
	}
out:
	for (i = 0; add && i < nadd; i++)
		free(add[i].text);
	free(add);
	json_decref(res);
	return rc;
}

/* The field names either side has, but id, type and hlc (settled apart): new object. */
static json_t *merge_keys(const struct rm *r)
{
	json_t *keys = json_object(), *v;
	const char *key;
	int s;

	for (s = 0; keys && s < 2; s++)
		json_object_foreach (r->side[s], key, v)
			if (strcmp(key, "id") && strcmp(key, "type") && strcmp(key, "hlc"))
				json_object_set(keys, key, json_null());
	return keys;
}

/* Field by field into merged (a copy of nothing but id, type). */
static int rm_fields(struct rm *r, json_t *merged)
{
	json_t *keys = merge_keys(r), *v;
	const char *key;
	int rc = 0;

	if (!keys)
		return nomem();
	json_object_foreach (keys, key, v) {
		const struct schema_field *f = schema_field_find(r->type, key);
		const json_t *sv[2] = {json_object_get(r->side[0], key),
				       json_object_get(r->side[1], key)};
		const json_t *bv = r->base ? json_object_get(r->base, key) : NULL;
		json_t *res = NULL;
		const char *rule;
		bool conflict;
		int w;

		if (same_value(sv[0], sv[1]) || same_value(sv[1], bv)) {
			res = json_incref((json_t *)sv[0]);
		} else if (same_value(sv[0], bv)) {
			res = json_incref((json_t *)sv[1]);
		} else if (f && f->merge == MERGE_UNION && (!sv[0] || json_is_array(sv[0])) &&
			   (!sv[1] || json_is_array(sv[1])) && (!bv || json_is_array(bv))) {
			if ((rc = union_merge(&res, bv, sv[0], sv[1])) < 0)
				goto out;
		} else {
			int lw;

			if ((rc = field_winner(&lw, r, key, sv)) < 0)
				goto out;
			w = rule_winner(r, f, sv, lw, &conflict, &rule);
			res = json_incref((json_t *)sv[w]);
			rc = conflict ? rm_conflict(r, key, sv[w], sv[!w], bv, w, rule)
				      : rm_discard(r, key, sv[!w], sv[w], rule);
			if (rc < 0) {
				json_decref(res);
				goto out;
			}
		}
		if (res && json_object_set_new(merged, key, res) < 0) {
			rc = nomem();
			goto out;
		}
	}
out:
	json_decref(keys);
	return rc;
}

/* The void side is kept whole; the edit side's changed values are listed. */
static int rm_void(struct rm *r, json_t *merged, int vs)
{
	json_t *keys = merge_keys(r), *v;
	const char *key;
	int rc = 0;

	if (!keys || json_object_update(merged, r->side[vs]) < 0) {
		rc = nomem();
		goto out;
	}
	json_object_foreach (keys, key, v) {
		const json_t *e = json_object_get(r->side[!vs], key);
		const json_t *k = json_object_get(r->side[vs], key);
		const json_t *b = r->base ? json_object_get(r->base, key) : NULL;

		if (!same_value(e, k) && !same_value(e, b) &&
		    (rc = rm_discard(r, key, e, k, "void")) < 0)
			goto out;
	}
out:
	json_decref(keys);
	return rc;
}

/* The merged record would be invalid: keep the lww winner whole, conflicts for the rest. */
static int rm_fallback(struct rm *r, json_t **merged, const char *why)
{
	json_t *keys = merge_keys(r), *v, *note = NULL;
	const char *key;
	int rc = 0, w = r->winner;

	json_array_clear(r->discarded);
	json_array_clear(r->conflicts);
	json_object_clear(r->records);
	if ((rc = schema_check(r->m->c->schema, r->side[w])) < 0) {
		err_prefix("cannot merge: %s side%s%.12s", side_name(w),
			   r->m->commit[w] ? ", commit " : "",
			   r->m->commit[w] ? git_oid_tostr_s(r->m->commit[w]) : "");
		goto out;
	}
	json_decref(*merged);
	if (!keys || !(*merged = json_deep_copy(r->side[w])) ||
	    json_object_set_new(*merged, "hlc", json_string(r->hlc_max)) < 0) {
		rc = nomem();
		goto out;
	}
	note = json_sprintf("record '%s': the merged version would be invalid (%s); kept the "
			    "version stamped %s whole",
			    r->id, why, r->hlc_max);
	if (!note || json_array_append_new(r->m->notes, note) < 0) {
		rc = nomem();
		goto out;
	}
	json_object_foreach (keys, key, v) {
		const json_t *lv = json_object_get(r->side[!w], key);
		const json_t *wv = json_object_get(r->side[w], key);
		const json_t *bv = r->base ? json_object_get(r->base, key) : NULL;

		if (!same_value(lv, wv) && !same_value(lv, bv) &&
		    (rc = rm_conflict(r, key, wv, lv, bv, w, "invalid")) < 0)
			goto out;
	}
out:
	json_decref(keys);
	return rc;
}

/* Move the record's findings to the merge. */
static int rm_publish(struct rm *r)
{
	if (json_array_extend(r->m->discarded, r->discarded) < 0 ||
	    json_array_extend(r->m->conflicts, r->conflicts) < 0 ||
	    json_object_update(r->m->records, r->records) < 0)
		return nomem();
	return 0;
}

static int rm_release(struct rm *r, int rc)
{
	int s;

	json_decref(r->base);
	for (s = 0; s < 2; s++) {
		json_decref(r->side[s]);
		free(r->enc[s]);
	}
	json_decref(r->discarded);
	json_decref(r->conflicts);
	json_decref(r->records);
	return rc;
}

static int merge_record(struct m3 *m, git_oid *out, const char *path, const git_tree_entry *b,
			const git_tree_entry *o, const git_tree_entry *t)
{
	struct mctx *c = m->c;
	struct rm r = {.m = m};
	char id[RECORD_ID_MAX];
	const git_tree_entry *e[2] = {o, t};
	struct buf enc = BUF_INIT;
	json_t *merged = NULL, *hv;
	int rc, s, vs;

	if (!schema_record_at(&r.type, id, c->schema, path))
		return err_set(ERR_INVALID,
			       "path '%s' differs on both sides and is not where a record of a "
			       "known type lives",
			       path);
	r.id = id;
	r.path = path;
	if (!(r.discarded = json_array()) || !(r.conflicts = json_array()) ||
	    !(r.records = json_object()))
		return rm_release(&r, nomem());
	if (b && git_tree_entry_type(b) == GIT_OBJECT_BLOB &&
	    (rc = rm_load(&r, c->repo, b, -1, &r.base)) < 0)
		return rm_release(&r, rc);
	for (s = 0; s < 2; s++) {
		buf_reset(&enc);
		if ((rc = rm_load(&r, c->repo, e[s], s, &r.side[s])) < 0)
			goto out;
		if (!json_is_string(json_object_get(r.side[s], "id")) ||
		    strcmp(json_string_value(json_object_get(r.side[s], "id")), id) != 0) {
			rc = err_set(ERR_INVALID,
				     "record at '%s' on the %s side does not have id '%s'", path,
				     side_name(s), id);
			goto out;
		}
		if ((rc = record_encode(&enc, r.side[s])) < 0)
			goto out;
		r.enc[s] = buf_detach(&enc, NULL);
		hv = json_object_get(r.side[s], "hlc");
		if (!json_is_string(hv) || hlc_parse(&r.hlc[s], json_string_value(hv)) < 0) {
			rc = err_set(ERR_INVALID,
				     "record '%s' on the %s side has no valid 'hlc' stamp", id,
				     side_name(s));
			goto out;
		}
	}
	m->nrecords++;
	s = hlc_cmp(&r.hlc[0], &r.hlc[1]);
	if (s == 0)
		s = strcmp(r.enc[0], r.enc[1]);
	r.winner = s >= 0 ? 0 : 1;
	hlc_format(r.hlc_max, &r.hlc[r.winner]);
	if (!(merged = json_pack("{s:O, s:O}", "id", json_object_get(r.side[r.winner], "id"),
				 "type", json_object_get(r.side[r.winner], "type")))) {
		rc = nomem();
		goto out;
	}
	vs = json_is_true(json_object_get(r.side[0], "void"));
	if (vs != json_is_true(json_object_get(r.side[1], "void")))
		rc = rm_void(&r, merged, vs ? 0 : 1);
	else
		rc = rm_fields(&r, merged);
	if (rc < 0)
		goto out;
	if (json_object_set_new(merged, "hlc", json_string(r.hlc_max)) < 0) {
		rc = nomem();
		goto out;
	}
	if (schema_check(c->schema, merged) < 0) {
		char why[512];

		snprintf(why, sizeof(why), "%s", err_msg());
		err_clear();
		if ((rc = rm_fallback(&r, &merged, why)) < 0)
			goto out;
	}
	if ((rc = rm_publish(&r)) < 0)
		goto out;
	buf_reset(&enc);
	if ((rc = record_encode(&enc, merged)) < 0)
		goto out;
	rc = write_blob(out, c, enc.ptr, enc.len);
out:
	buf_release(&enc);
	json_decref(merged);
	return rm_release(&r, rc);
}

/* --- the tree walk -------------------------------------------------------------------- */

static int merge_tree(struct m3 *m, git_oid *out, const char *path, git_tree *b, git_tree *o,
		      git_tree *t);

/* The merged entry for one name; *out NULL: absent. Entries are borrowed. */
static int merge_entry(struct m3 *m, git_oid *id, git_filemode_t *mode, bool *present,
		       const char *path, const git_tree_entry *b, const git_tree_entry *o,
		       const git_tree_entry *t)
{
	git_repository *repo = m->c->repo;
	git_tree *bt = NULL, *ot = NULL, *tt = NULL;
	const git_tree_entry *take = NULL;
	int rc = 0;

	/* records are never deleted: a side without the entry keeps the base's */
	if (!o)
		o = b;
	if (!t)
		t = b;
	if (same_entry(o, t) || same_entry(t, b) || same_entry(o, b)) {
		take = same_entry(o, b) && !same_entry(t, b) ? t : o;
		*present = take != NULL;
		if (take) {
			*id = *git_tree_entry_id(take);
			*mode = git_tree_entry_filemode(take);
		}
		return 0;
	}
	/* from here on both sides have the entry and both changed it */
	*present = true;
	if (git_tree_entry_type(o) == GIT_OBJECT_TREE &&
	    git_tree_entry_type(t) == GIT_OBJECT_TREE) {
		if ((b && git_tree_entry_type(b) == GIT_OBJECT_TREE &&
		     git_tree_lookup(&bt, repo, git_tree_entry_id(b)) < 0) ||
		    git_tree_lookup(&ot, repo, git_tree_entry_id(o)) < 0 ||
		    git_tree_lookup(&tt, repo, git_tree_entry_id(t)) < 0) {
			rc = err_git(ERR_IO, "cannot read tree '%s'", path);
			goto out;
		}
		*mode = GIT_FILEMODE_TREE;
		rc = merge_tree(m, id, path, bt, ot, tt);
		goto out;
	}
	if (git_tree_entry_filemode(o) == GIT_FILEMODE_BLOB &&
	    git_tree_entry_filemode(t) == GIT_FILEMODE_BLOB) {
		*mode = GIT_FILEMODE_BLOB;
		rc = merge_record(m, id, path,
				  b && git_tree_entry_filemode(b) == GIT_FILEMODE_BLOB ? b : NULL,
				  o, t);
		goto out;
	}
	rc = err_set(ERR_INVALID, "path '%s' is a different kind of entry on each side", path);
out:
	git_tree_free(bt);
	git_tree_free(ot);
	git_tree_free(tt);
	return rc;
}

static int merge_name(struct m3 *m, git_treebuilder *bld, struct buf *path, size_t plen,
		      const char *name, git_tree *b, const git_tree_entry *o,
		      const git_tree_entry *t)
{
	const git_tree_entry *be = b ? git_tree_entry_byname(b, name) : NULL;
	git_filemode_t mode = GIT_FILEMODE_UNREADABLE; /* set whenever present is */
	bool present = false;
	git_oid id;
	int rc;

	buf_truncate(path, plen);
	if ((rc = buf_printf(path, "%s%s", plen ? "/" : "", name)) < 0)
		return rc;
	if ((rc = merge_entry(m, &id, &mode, &present, path->ptr, be, o, t)) < 0)
		return rc;
	if (o && present && git_oid_equal(&id, git_tree_entry_id(o)) &&
	    mode == git_tree_entry_filemode(o))
		return 0; /* the builder starts from ours */
	if (present && git_treebuilder_insert(NULL, bld, name, &id, mode) < 0)
		return err_git(ERR_IO, "cannot build tree '%s'", path->ptr);
	return 0;
}

static int merge_tree(struct m3 *m, git_oid *out, const char *path, git_tree *b, git_tree *o,
		      git_tree *t)
{
	git_treebuilder *bld = NULL;
	struct buf sub = BUF_INIT;
	size_t i, n, plen = strlen(path);
	int rc;

	if ((rc = buf_adds(&sub, path)) < 0)
		return rc;
	if (git_treebuilder_new(&bld, m->c->repo, o) < 0) {
		rc = err_git(ERR_IO, "cannot build tree '%s'", path);
		goto out;
	}
	n = git_tree_entrycount(o);
	for (i = 0; i < n; i++) {
		const git_tree_entry *oe = git_tree_entry_byindex(o, i);
		const char *name = git_tree_entry_name(oe);

		if ((rc = merge_name(m, bld, &sub, plen, name, b, oe,
				     git_tree_entry_byname(t, name))) < 0)
			goto out;
	}
	n = git_tree_entrycount(t);
	for (i = 0; i < n; i++) {
		const git_tree_entry *te = git_tree_entry_byindex(t, i);
		const char *name = git_tree_entry_name(te);

		if (git_tree_entry_byname(o, name))
			continue;
		if ((rc = merge_name(m, bld, &sub, plen, name, b, NULL, te)) < 0)
			goto out;
	}
	if (git_treebuilder_write(out, bld) < 0) {
		rc = err_git(ERR_IO, "cannot write tree '%s'", path);
		goto out;
	}
	m->c->nwritten++;
out:
	git_treebuilder_free(bld);
	buf_release(&sub);
	return rc;
}

/* Add the conflict records to the merged tree; those already there go to the message. */
static int add_conflicts(struct m3 *m, git_oid *tree_id)
{
	git_tree_update *up = NULL;
	git_tree *tree = NULL;
	git_tree_entry *have = NULL;
	char(*paths)[RECORD_PATH_MAX] = NULL;
	size_t n = json_object_size(m->records), k = 0, i;
	struct buf enc = BUF_INIT;
	const char *id;
	json_t *rec;
	int rc = 0;

	if (n == 0)
		return 0;
	if (!(up = calloc(n, sizeof(*up))) || !(paths = calloc(n, sizeof(*paths)))) {
		rc = nomem();
		goto out;
	}
	if (git_tree_lookup(&tree, m->c->repo, tree_id) < 0) {
		rc = err_git(ERR_IO, "cannot read the merged tree");
		goto out;
	}
	json_object_foreach (m->records, id, rec) {
		if ((rc = record_path(paths[k], "conflict", id)) < 0)
			goto out;
		if (git_tree_entry_bypath(&have, tree, paths[k]) == 0) {
			/* recorded before: the set-aside value goes to the message */
			git_tree_entry_free(have);
			have = NULL;
			for (i = 0; i < json_array_size(m->conflicts); i++) {
				json_t *cf = json_array_get(m->conflicts, i);
				json_t *v = NULL, *kv = NULL;
				const char *ot = json_string_value(json_object_get(rec, "theirs"));
				const char *ok = json_string_value(json_object_get(rec, "ours"));

				if (strcmp(json_string_value(json_object_get(cf, "id")), id) != 0)
					continue;
				if (ot)
					v = json_loads(ot, JSON_DECODE_ANY, NULL);
				if (ok)
					kv = json_loads(ok, JSON_DECODE_ANY, NULL);
				json_array_append_new(
				    m->discarded,
				    json_pack("{s:O, s:O, s:o?, s:o?, s:s}", "record",
					      json_object_get(rec, "record"), "field",
					      json_object_get(rec, "field"), "value", v, "kept", kv,
					      "rule", "conflict already recorded"));
				json_array_remove(m->conflicts, i);
				break;
			}
			err_clear();
			continue;
		}
		err_clear();
		buf_reset(&enc);
		if ((rc = record_encode(&enc, rec)) < 0 ||
		    (rc = write_blob(&up[k].id, m->c, enc.ptr, enc.len)) < 0)
			goto out;
		up[k].action = GIT_TREE_UPDATE_UPSERT;
		up[k].filemode = GIT_FILEMODE_BLOB;
		up[k].path = paths[k];
		k++;
	}
	if (k > 0) {
		if (git_tree_create_updated(tree_id, m->c->repo, tree, k, up) < 0) {
			rc = err_git(ERR_IO, "cannot add the conflict records");
			goto out;
		}
		m->c->nwritten++;
	}
out:
	git_tree_free(tree);
	buf_release(&enc);
	free(up);
	free(paths);
	return rc;
}

static int m3_init(struct m3 *m, struct mctx *c, const git_oid *ours, const git_oid *theirs)
{
	memset(m, 0, sizeof(*m));
	m->c = c;
	m->commit[0] = ours;
	m->commit[1] = theirs;
	if (!(m->discarded = json_array()) || !(m->conflicts = json_array()) ||
	    !(m->records = json_object()) || !(m->notes = json_array()))
		return nomem();
	return 0;
}

static void m3_release(struct m3 *m)
{
	json_decref(m->changes[0]);
	json_decref(m->changes[1]);
	json_decref(m->discarded);
	json_decref(m->conflicts);
	json_decref(m->records);
	json_decref(m->notes);
}

/* Merge trees o and t over base b (NULL: empty) into out. */
static int merge3(struct m3 *m, git_oid *out, const git_oid *b, const git_oid *o, const git_oid *t)
{
	git_tree *bt = NULL, *ot = NULL, *tt = NULL;
	int rc = 0;

	if (git_oid_equal(o, t) || (b && git_oid_equal(t, b))) {
		*out = *o;
		return 0;
	}
	if (b && git_oid_equal(o, b)) {
		*out = *t;
		return 0;
	}
	if ((b && git_tree_lookup(&bt, m->c->repo, b) < 0) ||
	    git_tree_lookup(&ot, m->c->repo, o) < 0 || git_tree_lookup(&tt, m->c->repo, t) < 0) {
		rc = err_git(ERR_IO, "cannot read the trees to merge");
		goto out;
	}
	if ((rc = merge_tree(m, out, "", bt, ot, tt)) < 0)
		goto out;
	/*
	 * A virtual base stands for the real bases and holds no record that is not in one of
	 * them: every side then has every base entry (records are never removed), which the
	 * shortcuts above and in merge_entry rely on. A conflict record the virtual merge
	 * would add is in a side only if that side made the same merge; in the base it would
	 * make the other side look as if it had removed it.
	 */
	if (!m->virtual)
		rc = add_conflicts(m, out);
out:
	git_tree_free(bt);
	git_tree_free(ot);
	git_tree_free(tt);
	return rc;
}

static int commit_tree_id(git_oid *out, git_repository *repo, const git_oid *commit)
{
	git_commit *c = NULL;

	if (git_commit_lookup(&c, repo, commit) < 0)
		return err_git(ERR_NOTFOUND, "cannot read commit %s", git_oid_tostr_s(commit));
	*out = *git_commit_tree_id(c);
	git_commit_free(c);
	return 0;
}

static int oid_cmp(const void *a, const void *b)
{
	return git_oid_cmp(a, b);
}

/*
 * The tree standing for the merge bases ids[0..n): one base's tree, or the bases merged
 * in the order of their ids, each over the bases it shares with those merged before it.
 */
static int virtual_base(git_oid *out, struct mctx *c, git_oid *ids, size_t n, int depth)
{
	git_oid *input = NULL, acc, next, vb;
	git_oidarray bases = {0};
	struct m3 m;
	size_t i;
	int rc;

	if (depth > MERGE_MAX_DEPTH)
		return err_set(ERR_INVALID, "merge bases nest deeper than %d levels",
			       MERGE_MAX_DEPTH);
	qsort(ids, n, sizeof(*ids), oid_cmp);
	if ((rc = commit_tree_id(&acc, c->repo, &ids[0])) < 0)
		return rc;
	if (!(input = calloc(n, sizeof(*input))))
		return nomem();
	for (i = 1; i < n; i++) {
		bool has_base;

		input[0] = ids[i];
		memcpy(input + 1, ids, i * sizeof(*ids));
		rc = git_merge_bases_many(&bases, c->repo, i + 1, input);
		if (rc < 0 && rc != GIT_ENOTFOUND) {
			rc = err_git(ERR_IO, "cannot find the merge bases of the merge bases");
			goto out;
		}
		has_base = rc == 0 && bases.count > 0;
		if (has_base && (rc = virtual_base(&vb, c, bases.ids, bases.count, depth + 1)) < 0)
			goto out;
		git_oidarray_dispose(&bases);
		memset(&bases, 0, sizeof(bases));
		if ((rc = commit_tree_id(&next, c->repo, &ids[i])) < 0)
			goto out;
		if ((rc = m3_init(&m, c, i == 1 ? &ids[0] : NULL, &ids[i])) == 0) {
			m.virtual = true;
			rc = merge3(&m, &acc, has_base ? &vb : NULL, &acc, &next);
		}
		m3_release(&m);
		if (rc < 0)
			goto out;
	}
	*out = acc;
	rc = 0;
out:
	git_oidarray_dispose(&bases);
	free(input);
	return rc;
}

/* The merge of ours and theirs, computed in c (open): see merge_commits. */
static int merge_in(struct merge_result *out, struct mctx *c, const git_oid *ours,
		    const git_oid *theirs)
{
	git_repository *repo = c->l->repo;
	struct m3 m = {0};
	git_oidarray bases = {0};
	git_oid base, tree_o, tree_t;
	bool has_base = false;
	int rc;

	memset(out, 0, sizeof(*out));
	out->head = *ours;
	if (!(out->discarded = json_array()) || !(out->conflicts = json_array()) ||
	    !(out->notes = json_array()))
		return nomem();
	if ((rc = commit_tree_id(&tree_o, repo, ours)) < 0 ||
	    (rc = commit_tree_id(&tree_t, repo, theirs)) < 0)
		return rc;
	if (git_oid_equal(ours, theirs) || git_graph_descendant_of(repo, ours, theirs) == 1) {
		out->outcome = MERGE_UP_TO_DATE;
		out->tree = tree_o;
		return 0;
	}
	if (git_graph_descendant_of(repo, theirs, ours) == 1) {
		out->outcome = MERGE_FAST_FORWARD;
		out->tree = tree_t;
		return 0;
	}
	err_clear();
	out->outcome = MERGE_MERGED;
	rc = git_merge_bases(&bases, c->repo, ours, theirs);
	if (rc < 0 && rc != GIT_ENOTFOUND) {
		rc = err_git(ERR_IO, "cannot find the merge base");
		goto out;
	}
	out->nbases = rc == 0 ? bases.count : 0;
	if (out->nbases > 0) {
		if ((rc = virtual_base(&base, c, bases.ids, bases.count, 0)) < 0)
			goto out;
		has_base = true;
	}
	if ((rc = m3_init(&m, c, ours, theirs)) < 0 ||
	    (rc = merge3(&m, &out->tree, has_base ? &base : NULL, &tree_o, &tree_t)) < 0)
		goto out;
	out->nrecords = m.nrecords;
	if (json_array_extend(out->discarded, m.discarded) < 0 ||
	    json_array_extend(out->conflicts, m.conflicts) < 0 ||
	    json_array_extend(out->notes, m.notes) < 0)
		rc = nomem();
out:
	m3_release(&m);
	git_oidarray_dispose(&bases);
	return rc;
}

int merge_commits(struct merge_result *out, struct ledger *l, const git_oid *ours,
		  const git_oid *theirs, bool write)
{
	struct mctx c = {0};
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = mctx_open(&c, l)) < 0)
		return rc;
	rc = merge_in(out, &c, ours, theirs);
	if (rc == 0 && write && out->outcome == MERGE_MERGED)
		rc = mctx_flush(&c, &out->tree);
	mctx_close(&c);
	return rc;
}

/* --- the merge commit --------------------------------------------------------------- */

static int add_value(struct buf *b, const json_t *v)
{
	char *s;
	int rc;

	if (!v || json_is_null(v))
		return buf_adds(b, "(absent)");
	if (!(s = dump(v)))
		return nomem();
	rc = buf_adds(b, s);
	free(s);
	return rc;
}

/* The body: what was merged, and every value a rule set aside. */
static int merge_body(struct buf *b, const struct merge_result *r, const char *reason)
{
	json_t *d;
	size_t i;
	int rc = 0;

	if (reason && *reason && (rc = buf_printf(b, "%s\n\n", reason)) < 0)
		return rc;
	if ((rc = buf_printf(b, "Merged %zu record%s changed on both sides (%zu merge base%s).\n",
			     r->nrecords, r->nrecords == 1 ? "" : "s", r->nbases,
			     r->nbases == 1 ? "" : "s")) < 0)
		return rc;
	if (json_array_size(r->discarded) > 0)
		rc = buf_adds(b,
			      "\nSet aside by a merge rule (record, field, value; kept, rule):\n");
	json_array_foreach (r->discarded, i, d) {
		if (rc < 0 ||
		    (rc = buf_printf(b, "  discarded %s '%s' ",
				     json_string_value(json_object_get(d, "record")),
				     json_string_value(json_object_get(d, "field")))) < 0 ||
		    (rc = add_value(b, json_object_get(d, "value"))) < 0 ||
		    (rc = buf_adds(b, "; kept ")) < 0 ||
		    (rc = add_value(b, json_object_get(d, "kept"))) < 0)
			return rc;
		rc = buf_printf(b, ", %s\n", json_string_value(json_object_get(d, "rule")));
	}
	if (rc == 0 && json_array_size(r->conflicts) > 0)
		rc = buf_adds(b, "\nConflicts recorded for a person to settle:\n");
	json_array_foreach (r->conflicts, i, d) {
		if (rc < 0)
			return rc;
		rc = buf_printf(b, "  conflict %s: %s '%s' (%s)\n",
				json_string_value(json_object_get(d, "id")),
				json_string_value(json_object_get(d, "record")),
				json_string_value(json_object_get(d, "field")),
				json_string_value(json_object_get(d, "rule")));
	}
	if (rc == 0 && json_array_size(r->notes) > 0)
		rc = buf_adds(b, "\nNotes:\n");
	json_array_foreach (r->notes, i, d) {
		if (rc < 0)
			return rc;
		rc = buf_printf(b, "  %s\n", json_string_value(d));
	}
	return rc;
}

int merge_branches(struct merge_result *out, struct ledger *l, const char *branch,
		   const git_oid *their_commit)
{
	return merge_branches_ext(out, l, branch, their_commit, NULL);
}

/*
 * Nothing unverified enters a branch: every commit their_commit brings (reachable from it,
 * not from the branch or its tracking refs, which hold only what was verified for it)
 * must pass verify_commit as a commit new from elsewhere.
 */
static int verify_incoming(struct ledger *l, const char *branch, const git_oid *their_commit)
{
	struct verify_result v;
	git_oid *hide = NULL;
	size_t nhide = 0;
	int rc;

	if ((rc = xfer_branch_heads(&hide, &nhide, l->repo, branch)) == 0 &&
	    (rc = verify_range(&v, NULL, l, branch, their_commit, hide, nhide, VERIFY_INCOMING)) ==
		0 &&
	    v.status != VERIFY_OK)
		rc = err_set(ERR_VERIFY, "refusing to merge: %s", v.why);
	free(hide);
	return rc;
}

int merge_branches_ext(struct merge_result *out, struct ledger *l, const char *branch,
		       const git_oid *their_commit, const struct merge_opts *opts)
{
	struct buf body = BUF_INIT, msg = BUF_INIT, subject = BUF_INIT;
	git_commit *parents[2] = {NULL, NULL};
	char ref[LEDGER_REF_MAX], stamp_text[HLC_TEXT_MAX];
	struct hlc s0, s1, stamp;
	const char *op;
	git_oid ours;
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = ledger_ref_name(ref, branch)) < 0 || (rc = ledger_head(&ours, l, branch)) < 0 ||
	    (rc = ledger_operator(&op, l, opts ? opts->operator : NULL)) < 0 ||
	    (!(opts && opts->verified) &&
	     (rc = verify_incoming(l, branch, their_commit)) < 0))
		return rc;
	if ((rc = merge_commits(out, l, &ours, their_commit, true)) < 0)
		goto out;
	if (out->outcome == MERGE_UP_TO_DATE)
		goto out;
	if (out->outcome == MERGE_FAST_FORWARD) {
		if ((rc = ledger_ref_cas(l, ref, &ours, their_commit)) == 0)
			out->head = *their_commit;
		goto out;
	}
	commit_stamp(&s0, l->repo, &ours);
	commit_stamp(&s1, l->repo, their_commit);
	hlc_next(&stamp, hlc_cmp(&s0, &s1) >= 0 ? &s0 : &s1, util_now_ms(), l->office);
	hlc_format(stamp_text, &stamp);
	if ((rc = buf_printf(&subject, "merge %.12s into %s", git_oid_tostr_s(their_commit),
			     branch)) < 0 ||
	    (rc = merge_body(&body, out, opts ? opts->reason : NULL)) < 0 ||
	    (rc = ledger_message(&msg, l, subject.ptr, body.ptr, op, stamp_text)) < 0)
		goto out;
	if (git_commit_lookup(&parents[0], l->repo, &ours) < 0 ||
	    git_commit_lookup(&parents[1], l->repo, their_commit) < 0) {
		rc = err_git(ERR_IO, "cannot read the commits to merge");
		goto out;
	}
	if ((rc = ledger_commit_tree(&out->head, l, ref, &ours, &out->tree,
				     (const git_commit **)parents, 2, msg.ptr, op, stamp.ms)) < 0)
		goto out;
	out->message = buf_detach(&msg, NULL);
	if (!out->message)
		rc = nomem();
out:
	git_commit_free(parents[0]);
	git_commit_free(parents[1]);
	buf_release(&body);
	buf_release(&msg);
	buf_release(&subject);
	return rc;
}

/* --- checking a merge commit ---------------------------------------------------------- */

/*
 * The first path below prefix at which tree a (the commit's) and tree b (the recomputed
 * one) differ, into path. Descends only where both hold a tree with different ids, so the
 * depth is bounded by b's, which the merge built.
 */
static int tree_first_diff(struct buf *path, git_repository *repo, const git_oid *a,
			   const git_oid *b)
{
	git_tree *ta = NULL, *tb = NULL;
	size_t i, na, nb, plen = path->len;
	int rc = 0;

	if (git_tree_lookup(&ta, repo, a) < 0 || git_tree_lookup(&tb, repo, b) < 0) {
		rc = err_git(ERR_INVALID, "missing or bad tree under '%s'", path->ptr);
		goto out;
	}
	na = git_tree_entrycount(ta);
	nb = git_tree_entrycount(tb);
	for (i = 0; i < na + nb; i++) {
		const git_tree_entry *e =
		    git_tree_entry_byindex(i < na ? ta : tb, i < na ? i : i - na);
		const char *name = git_tree_entry_name(e);
		const git_tree_entry *o = git_tree_entry_byname(i < na ? tb : ta, name);

		if (i >= na && o)
			continue; /* compared from a's side */
		if (o && same_entry(e, o))
			continue;
		if ((rc = buf_printf(path, "%s%s", plen ? "/" : "", name)) < 0)
			goto out;
		if (o && git_tree_entry_type(e) == GIT_OBJECT_TREE &&
		    git_tree_entry_type(o) == GIT_OBJECT_TREE)
			rc =
			    tree_first_diff(path, repo, git_tree_entry_id(e), git_tree_entry_id(o));
		goto out;
	}
out:
	git_tree_free(ta);
	git_tree_free(tb);
	return rc;
}

/* Trailing line breaks and spaces of text[0..n) cut off: the new length. */
static size_t trimmed(const char *text, size_t n)
{
	while (n > 0 && (text[n - 1] == '\n' || text[n - 1] == ' '))
		n--;
	return n;
}

/*
 * Is msg "<subject>\n\n[<reason>\n\n]<body>\n\n<trailers>", as merge_branches_ext
 * writes it (the reason, a person's note, is free; the body is what the merge did)?
 */
static bool merge_message_is(const char *msg, const char *subject, const char *body)
{
	size_t sl = strlen(subject), bl = trimmed(body, strlen(body)), tl;
	const char *text, *cut = NULL, *p;

	if (strncmp(msg, subject, sl) != 0 || strncmp(msg + sl, "\n\n", 2) != 0)
		return false;
	text = msg + sl + 2;
	for (p = text; (p = strstr(p, "\n\n")); p++)
		cut = p;
	if (!cut)
		return false;
	tl = trimmed(text, (size_t)(cut - text));
	if (tl < bl || memcmp(text + tl - bl, body, bl) != 0)
		return false;
	return tl == bl || (tl >= bl + 2 && memcmp(text + tl - bl - 2, "\n\n", 2) == 0);
}

int merge_check(char *why, size_t whylen, struct ledger *l, const char *branch, git_commit *commit)
{
	struct merge_result r = {0};
	struct buf subject = BUF_INIT, body = BUF_INIT, path = BUF_INIT;
	struct mctx c = {0};
	const git_oid *ours = git_commit_parent_id(commit, 0),
		      *theirs = git_commit_parent_id(commit, 1);
	int rc;

	why[0] = '\0';
	if (git_commit_parentcount(commit) != 2) {
		snprintf(why, whylen, "it has %u parents; a merge has two",
			 git_commit_parentcount(commit));
		return 0;
	}
	if ((rc = mctx_open(&c, l)) < 0)
		return rc;
	if ((rc = merge_in(&r, &c, ours, theirs)) < 0) {
		if (rc != ERR_IO && rc != ERR_NOMEM) {
			snprintf(why, whylen, "its parents cannot be merged: %s", err_msg());
			err_clear();
			rc = 0;
		}
		goto out;
	}
	if (r.outcome != MERGE_MERGED) {
		snprintf(why, whylen,
			 "one of its parents already contains the other; no merge "
			 "commit is written then");
		goto out;
	}
	if (!git_oid_equal(&r.tree, git_commit_tree_id(commit))) {
		if ((rc = tree_first_diff(&path, c.repo, git_commit_tree_id(commit), &r.tree)) <
		    0) {
			if (rc != ERR_INVALID)
				goto out;
			err_clear();
			rc = 0;
		}
		snprintf(why, whylen,
			 "its tree is not the merge of its parents (recomputed: %.12s, "
			 "first difference at '%s')",
			 git_oid_tostr_s(&r.tree), path.len ? path.ptr : "(top)");
		goto out;
	}
	if ((rc = buf_printf(&subject, "merge %.12s into %s", git_oid_tostr_s(theirs), branch)) <
		0 ||
	    (rc = merge_body(&body, &r, NULL)) < 0)
		goto out;
	if (!merge_message_is(git_commit_message(commit), subject.ptr, body.ptr))
		snprintf(why, whylen,
			 "its message does not say what the merge did (expected the subject "
			 "'%s' and the merge's own account of kept and set-aside values)",
			 subject.ptr);
out:
	mctx_close(&c);
	merge_result_release(&r);
	buf_release(&subject);
	buf_release(&body);
	buf_release(&path);
	return rc;
}

/* --- reading conflicts back ------------------------------------------------------------ */

struct conflict_walk {
	git_repository *repo;
	bool all;
	json_t *list;
	int rc;
};

static int conflict_visit(const char *root, const git_tree_entry *e, void *payload)
{
	struct conflict_walk *w = payload;
	const char *name = git_tree_entry_name(e), *status;
	size_t n = strlen(name);
	char id[RECORD_ID_MAX];
	git_blob *blob = NULL;
	json_t *rec = NULL;

	if (git_tree_entry_type(e) != GIT_OBJECT_BLOB)
		return 0;
	if (n <= 5 || n - 5 >= sizeof(id) || strcmp(name + n - 5, ".json") != 0) {
		w->rc = err_set(ERR_INVALID, "'conflict/%s%s' is not a record file", root, name);
		return -1;
	}
	memcpy(id, name, n - 5);
	id[n - 5] = '\0';
	if (git_blob_lookup(&blob, w->repo, git_tree_entry_id(e)) < 0) {
		w->rc = err_git(ERR_IO, "cannot read conflict '%s'", id);
		return -1;
	}
	w->rc = record_decode(&rec, git_blob_rawcontent(blob), (size_t)git_blob_rawsize(blob),
			      false, id);
	git_blob_free(blob);
	if (w->rc < 0)
		return -1;
	status = json_string_value(json_object_get(rec, "status"));
	if ((w->all || (status && strcmp(status, "open") == 0)) &&
	    json_array_append(w->list, rec) < 0)
		w->rc = err_set(ERR_NOMEM, "out of memory");
	json_decref(rec);
	return w->rc < 0 ? -1 : 0;
}

static int by_id(const void *a, const void *b)
{
	return strcmp(json_string_value(json_object_get(*(json_t *const *)a, "id")),
		      json_string_value(json_object_get(*(json_t *const *)b, "id")));
}

/* list, sorted by id, into a new array *out. */
static int sorted_by_id(json_t **out, const json_t *list)
{
	size_t n = json_array_size(list), i;
	json_t **items = calloc(n + 1, sizeof(*items));
	int rc = 0;

	if (!items || !(*out = json_array())) {
		free(items);
		return err_set(ERR_NOMEM, "out of memory");
	}
	for (i = 0; i < n; i++)
		items[i] = json_array_get(list, i);
	qsort(items, n, sizeof(*items), by_id);
	for (i = 0; i < n && rc == 0; i++)
		if (json_array_append(*out, items[i]) < 0)
			rc = err_set(ERR_NOMEM, "out of memory");
	free(items);
	if (rc < 0) {
		json_decref(*out);
		*out = NULL;
	}
	return rc;
}

int merge_conflicts(json_t **out, struct ledger *l, const char *branch, bool all)
{
	struct conflict_walk w = {l->repo, all, json_array(), 0};
	git_commit *head = NULL;
	git_tree *tree = NULL, *sub = NULL;
	git_tree_entry *e = NULL;
	int rc;

	*out = NULL;
	if (!w.list)
		return err_set(ERR_NOMEM, "out of memory");
	if ((rc = ledger_resolve(&head, l, branch)) < 0)
		goto out;
	if (git_commit_tree(&tree, head) < 0) {
		rc = err_git(ERR_IO, "cannot read branch '%s'", branch);
		goto out;
	}
	if (git_tree_entry_bypath(&e, tree, "conflict") == 0 &&
	    git_tree_entry_type(e) == GIT_OBJECT_TREE) {
		if (git_tree_lookup(&sub, l->repo, git_tree_entry_id(e)) < 0) {
			rc = err_git(ERR_IO, "cannot read the conflicts of '%s'", branch);
			goto out;
		}
		if (git_tree_walk(sub, GIT_TREEWALK_PRE, conflict_visit, &w) < 0 && w.rc == 0)
			w.rc = err_git(ERR_IO, "cannot walk the conflicts of '%s'", branch);
		if ((rc = w.rc) < 0)
			goto out;
	}
	git_error_clear();
	rc = sorted_by_id(out, w.list);
out:
	json_decref(w.list);
	git_tree_entry_free(e);
	git_tree_free(sub);
	git_tree_free(tree);
	git_commit_free(head);
	return rc;
}
