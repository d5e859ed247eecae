/*
 * prop_merge: property tests of the merge over generated histories.
 *
 * Each history starts from a few records (people, cases, households, medical bills) on one
 * branch, copies it to two or three branches of the same repository (office-code names, so
 * merge_branches works on them as on any branch), then runs random steps: amendments by a
 * community, street or district office (the ledger's office code is switched for the
 * transaction, so authority has levels to compare), resolutions of open conflicts, voids,
 * and merges of one copy into another in random order. After every merge:
 *   symmetry     merging the other way gives the same tree;
 *   idempotence  merging the same commit again changes nothing;
 *   validity     every record of the result passes schema_check;
 *   nothing lost every value a side changed (relative to every merge base) is in the
 *                merged record, in a conflict record, or on a "discarded" line of the
 *                merge message; every item a side added to a union list is kept;
 *   recomputed   the verifier's merge_check accepts the merge commit as written, and
 *                refuses the same commit with any one record of its tree changed,
 *                naming that record's path.
 * At the end every copy merges every other until no head moves:
 *   convergence  all copies end with the same tree.
 *
 * PROP_SEED=N replays a run, PROP_HISTORIES=N sets how many histories (default 200).
 * The seed is printed first. fsync is switched off: this tests merge semantics.
 */
#include "config.h"

#include <ftw.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "err.h"
#include "ledger.h"
#include "merge.h"
#include "record.h"

/* These histories are forged on purpose (offices signing with one key): the merge rules
 * are under test here, verification has tests of its own. */
static const struct merge_opts forged = {.verified = true};

#define MAX_COPIES  3
#define MAX_RECORDS 8

static const char *const OFFICES[] = {"120112001001", "120112001", "120112"};
static const char *const NAMES[] = {"Wang Fang", "Wang Fan", "Wong Fang", "Li Na", "Zhao Lei"};
static const char *const PHONES[] = {"100", "200", "300", "400"};
static const char *const CATEGORIES[] = {"minimum-living-guarantee", "special-hardship",
					 "low-income", "marginal", "none"};
static const char *const CONDITIONS[] = {"asthma", "diabetes", "hypertension", "copd"};
static const char *const MEMBERS[] = {"P-120112001001-1", "P-120112001001-2", "P-120112001001-3",
				      "P-120112001001-4", "P-120112001001-5"};
static const char *const ADDRESSES[] = {"1 Main St", "2 Main St", "3 Side Rd"};
static const char *const REASONS[] = {"income", "illness", "flood", "moved"};
static const long long AMOUNTS[] = {0, 50000, 120000, 300000, 400000, 500000};

static unsigned long long rng_state;
static unsigned long long seed;
static struct ledger *L;
static char dir[64];
static size_t stat_merges, stat_merged, stat_conflicts, stat_discarded, stat_notes, stat_criss,
    stat_steps, stat_skipped, stat_tampered;
static int history_no;

static unsigned rnd(unsigned n)
{
	/* xorshift64* */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return (unsigned)((rng_state * 2685821657736338717ULL) >> 33) % n;
}

#define PICK(a) (a[rnd(sizeof(a) / sizeof(a[0]))])

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "prop_merge: FAIL (seed %llu, history %d): ", seed, history_no);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n  last error: %s\n  ledger kept in %s\n", err_msg(), dir);
	exit(1);
}

struct history {
	char copy[MAX_COPIES][OFFICE_CODE_MAX + 1]; /* branch names */
	int ncopies;
	char ids[MAX_RECORDS][RECORD_ID_MAX];
	int nids;
};

static git_oid head_of(const char *branch)
{
	git_oid id;

	if (ledger_head(&id, L, branch) < 0)
		die("head of %s", branch);
	return id;
}

static git_tree *tree_of(const git_oid *commit)
{
	git_commit *c = NULL;
	git_tree *t = NULL;

	if (git_commit_lookup(&c, L->repo, commit) < 0 || git_commit_tree(&t, c) < 0)
		die("tree of %s", git_oid_tostr_s(commit));
	git_commit_free(c);
	return t;
}

static json_t *read_rec(git_tree *tree, const char *id)
{
	json_t *rec = NULL;
	int rc = ledger_read(&rec, L, tree, id);

	if (rc == ERR_NOTFOUND) {
		err_clear();
		return NULL;
	}
	if (rc < 0)
		die("read %s", id);
	return rec;
}

/* --- generating changes ---------------------------------------------------------------- */

static json_t *new_record(int i, char id[RECORD_ID_MAX])
{
	switch (i % 4) {
	case 0:
		snprintf(id, RECORD_ID_MAX, "P-120112001001-%d", i + 1);
		return json_pack("{s:s, s:s, s:s, s:s, s:s, s:[s]}", "id", id, "type", "person",
				 "name", PICK(NAMES), "id_number", "11010519491231002X", "phone",
				 PICK(PHONES), "conditions", PICK(CONDITIONS));
	case 1:
		snprintf(id, RECORD_ID_MAX, "C-120112001001-%d", i + 1);
		return json_pack("{s:s, s:s, s:s, s:s, s:s}", "id", id, "type", "case", "subject",
				 MEMBERS[0], "programme", "temporary", "status", "applied");
	case 2:
		snprintf(id, RECORD_ID_MAX, "H-120112001001-%d", i + 1);
		return json_pack("{s:s, s:s, s:s, s:[s, s]}", "id", id, "type", "household",
				 "address", PICK(ADDRESSES), "members", MEMBERS[0], MEMBERS[1]);
	default:
		snprintf(id, RECORD_ID_MAX, "M-120112001001-%d", i + 1);
		return json_pack("{s:s, s:s, s:s, s:s, s:I, s:I, s:I}", "id", id, "type", "medical",
				 "person", MEMBERS[0], "hospital", "Jinnan", "total",
				 (json_int_t)1000000, "self_paid", (json_int_t)400000, "assisted",
				 (json_int_t)300000);
	}
}

static void list_toggle(json_t *rec, const char *key, const char *item)
{
	json_t *list = json_object_get(rec, key), *copy;
	size_t i;

	copy = list ? json_copy(list) : json_array();
	for (i = 0; i < json_array_size(copy); i++)
		if (strcmp(json_string_value(json_array_get(copy, i)), item) == 0)
			break;
	if (i < json_array_size(copy))
		json_array_remove(copy, i);
	else
		json_array_append_new(copy, json_string(item));
	if (json_array_size(copy) == 0) {
		json_object_del(rec, key);
		json_decref(copy);
	} else {
		json_object_set_new(rec, key, copy);
	}
}

/* One random edit of rec (the schema may still refuse it: then the step is skipped). */
static void edit(json_t *rec)
{
	const char *type = json_string_value(json_object_get(rec, "type"));
	const struct schema_field *f;
	unsigned k = rnd(100);

	if (k < 3) {
		json_object_set_new(rec, "void", json_true());
		json_object_set_new(rec, "void_reason", json_string("duplicate"));
		return;
	}
	if (strcmp(type, "person") == 0) {
		switch (rnd(6)) {
		case 0:
			json_object_set_new(rec, "name", json_string(PICK(NAMES)));
			break;
		case 1:
			json_object_set_new(rec, "phone", json_string(PICK(PHONES)));
			break;
		case 2:
			json_object_del(rec, "phone");
			break;
		case 3:
			json_object_set_new(rec, "category", json_string(PICK(CATEGORIES)));
			break;
		default:
			list_toggle(rec, "conditions", PICK(CONDITIONS));
		}
	} else if (strcmp(type, "case") == 0) {
		switch (rnd(4)) {
		case 0:
		case 1: {
			const char *st = json_string_value(json_object_get(rec, "status"));
			size_t i, n = 0, pick[16];

			f = schema_field_find(schema_type_find(L->schema, "case"), "status");
			for (i = 0; i < f->ntrans; i++)
				if (f->trans[i].from == schema_value_index(f, st) && n < 16)
					pick[n++] = i;
			if (n)
				json_object_set_new(
				    rec, "status",
				    json_string(f->values[f->trans[pick[rnd((unsigned)n)]].to]));
			break;
		}
		case 2:
			json_object_set_new(rec, "monthly_amount", json_integer(PICK(AMOUNTS)));
			break;
		default:
			json_object_set_new(rec, "reason", json_string(PICK(REASONS)));
		}
	} else if (strcmp(type, "household") == 0) {
		if (rnd(3) == 0)
			json_object_set_new(rec, "address", json_string(PICK(ADDRESSES)));
		else
			list_toggle(rec, "members", PICK(MEMBERS));
	} else if (strcmp(type, "medical") == 0) {
		static const char *const money[] = {"self_paid", "assisted", "insured"};

		json_object_set_new(rec, PICK(money), json_integer(PICK(AMOUNTS)));
	} else if (strcmp(type, "conflict") == 0) {
		json_object_set_new(rec, "resolution", json_string(PICK(REASONS)));
	}
}

/* Run a transaction on branch as office; false when the schema refused it. */
static bool amend(const char *branch, const char *office, json_t *recs, bool create)
{
	struct ledger_commit_info info = {"prop change", NULL, "prop"};
	char saved[OFFICE_CODE_MAX + 1];
	enum office_level level = L->level;
	struct ledger_txn t;
	json_t *rec;
	git_oid id;
	size_t i;
	bool ok = true;
	int rc = 0;

	memcpy(saved, L->office, sizeof(saved));
	snprintf(L->office, sizeof(L->office), "%s", office);
	L->level = (enum office_level)office_level(office);
	if (ledger_txn_begin(&t, L, branch) < 0)
		die("begin on %s", branch);
	json_array_foreach (recs, i, rec)
		if ((rc = ledger_txn_put(&t, rec, create, NULL)) < 0)
			break;
	if (rc == ERR_INVALID || rc == ERR_DENIED || (rc == 0 && t.nchanges == 0)) {
		err_clear();
		ok = false;
	} else if (rc < 0) {
		die("put on %s", branch);
	} else if (ledger_txn_commit(&t, &info, &id) < 0) {
		die("commit on %s", branch);
	}
	ledger_txn_release(&t);
	memcpy(L->office, saved, sizeof(saved));
	L->level = level;
	return ok;
}

static void step_amend(struct history *h)
{
	const char *branch = h->copy[rnd((unsigned)h->ncopies)];
	git_oid head = head_of(branch);
	git_tree *tree = tree_of(&head);
	json_t *rec = read_rec(tree, h->ids[rnd(4) ? rnd(4) : rnd((unsigned)h->nids)]), *recs;
	unsigned n = 1 + rnd(2), i;

	if (!rec)
		die("record missing");
	for (i = 0; i < n; i++)
		edit(rec);
	recs = json_pack("[o]", rec);
	if (!amend(branch, PICK(OFFICES), recs, false))
		stat_skipped++;
	json_decref(recs);
	git_tree_free(tree);
}

struct collect {
	json_t *list;
};

static int collect_cb(const char *root, const git_tree_entry *e, void *payload)
{
	struct collect *c = payload;
	git_blob *blob = NULL;
	json_t *rec = NULL;
	char what[300];

	if (git_tree_entry_type(e) != GIT_OBJECT_BLOB)
		return 0;
	snprintf(what, sizeof(what), "%s%s", root, git_tree_entry_name(e));
	if (git_blob_lookup(&blob, L->repo, git_tree_entry_id(e)) < 0 ||
	    record_decode(&rec, git_blob_rawcontent(blob), (size_t)git_blob_rawsize(blob), true,
			  what) < 0)
		die("record %s unreadable", what);
	git_blob_free(blob);
	json_array_append_new(c->list, rec);
	return 0;
}

/* Every record of a tree (decoded strictly: merged blobs must be canonical). */
static json_t *all_records(const git_oid *tree_id)
{
	struct collect c = {json_array()};
	git_tree *tree = NULL;

	if (git_tree_lookup(&tree, L->repo, tree_id) < 0 ||
	    git_tree_walk(tree, GIT_TREEWALK_PRE, collect_cb, &c) < 0)
		die("walk tree %s", git_oid_tostr_s(tree_id));
	git_tree_free(tree);
	return c.list;
}

static void step_resolve(struct history *h)
{
	const char *branch = h->copy[rnd((unsigned)h->ncopies)];
	git_oid head = head_of(branch);
	git_tree *tree = tree_of(&head);
	json_t *recs = all_records(git_tree_id(tree)), *rec, *x = NULL, *target = NULL, *v = NULL;
	const char *take;
	size_t i;

	json_array_foreach (recs, i, rec) {
		const char *st = json_string_value(json_object_get(rec, "status"));

		if (strncmp(json_string_value(json_object_get(rec, "id")), "X-", 2) == 0 && st &&
		    strcmp(st, "open") == 0 && (!x || rnd(2)))
			x = rec;
	}
	if (!x) {
		stat_skipped++;
		goto out;
	}
	take = rnd(2) ? "ours" : "theirs";
	target = read_rec(tree, json_string_value(json_object_get(x, "record")));
	if (json_object_get(x, take))
		v = json_loads(json_string_value(json_object_get(x, take)), JSON_DECODE_ANY, NULL);
	if (v)
		json_object_set_new(target, json_string_value(json_object_get(x, "field")), v);
	else
		json_object_del(target, json_string_value(json_object_get(x, "field")));
	x = json_deep_copy(x);
	json_object_set_new(x, "status", json_string("resolved"));
	json_object_set_new(x, "resolution", json_string(take));
	{
		json_t *both = json_pack("[O, o]", target, x);

		if (!amend(branch, PICK(OFFICES), both, false)) {
			/* the record may not take that value (transition): resolve alone */
			json_t *only = json_pack("[O]", json_array_get(both, 1));

			if (!amend(branch, PICK(OFFICES), only, false))
				stat_skipped++;
			json_decref(only);
		}
		json_decref(both);
	}
out:
	json_decref(target);
	json_decref(recs);
	git_tree_free(tree);
}

/* --- checking a merge ------------------------------------------------------------------- */

static json_t *find_id(json_t *recs, const char *id)
{
	json_t *rec;
	size_t i;

	json_array_foreach (recs, i, rec)
		if (strcmp(json_string_value(json_object_get(rec, "id")), id) == 0)
			return rec;
	return NULL;
}

static bool same(const json_t *a, const json_t *b)
{
	return (!a && !b) || (a && b && json_equal(a, b));
}

static bool in_list(const json_t *list, const json_t *item)
{
	size_t i;

	for (i = 0; i < json_array_size(list); i++)
		if (json_equal(json_array_get(list, i), item))
			return true;
	return false;
}

/* Is value v of (id, field) kept somewhere: a conflict record or the message? */
static bool accounted(json_t *merged, const char *message, const char *id, const char *field,
		      const json_t *v)
{
	char *text =
	    v ? json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY) : strdup("(absent)");
	char needle[1200];
	json_t *rec;
	size_t i;
	bool found = false;

	json_array_foreach (merged, i, rec) {
		const char *r = json_string_value(json_object_get(rec, "record"));
		const char *f = json_string_value(json_object_get(rec, "field"));
		const char *o = json_string_value(json_object_get(rec, "ours"));
		const char *t = json_string_value(json_object_get(rec, "theirs"));

		if (!r || !f || strcmp(r, id) != 0 || strcmp(f, field) != 0)
			continue;
		if (v ? ((o && !strcmp(o, text)) || (t && !strcmp(t, text))) : (!o || !t))
			found = true;
	}
	snprintf(needle, sizeof(needle), "discarded %s '%s' %s;", id, field, text);
	if (!found && message && strstr(message, needle))
		found = true;
	free(text);
	return found;
}

static void check_nothing_lost(const struct merge_result *r, const git_oid *o, const git_oid *t)
{
	git_oidarray bases = {0};
	json_t *merged = all_records(&r->tree), *base_recs[8] = {0}, *side;
	const git_oid *sides[2] = {o, t};
	size_t nb = 0, i, s, j;

	if (git_merge_bases(&bases, L->repo, o, t) == 0)
		for (nb = 0; nb < bases.count && nb < 8; nb++) {
			git_tree *bt = tree_of(&bases.ids[nb]);

			base_recs[nb] = all_records(git_tree_id(bt));
			git_tree_free(bt);
		}
	/* several bases: merge used a virtual base, their merge; count its values too */
	for (j = 1; j < bases.count && nb < 8; j++) {
		struct merge_result vb = {0};

		if (merge_commits(&vb, L, &bases.ids[0], &bases.ids[j], true) < 0)
			die("virtual base");
		base_recs[nb++] = all_records(&vb.tree);
		merge_result_release(&vb);
	}
	for (s = 0; s < 2; s++) {
		git_tree *st = tree_of(sides[s]);
		json_t *rec;

		side = all_records(git_tree_id(st));
		git_tree_free(st);
		json_array_foreach (side, i, rec) {
			const char *id = json_string_value(json_object_get(rec, "id"));
			json_t *m = find_id(merged, id), *v;
			const char *key;
			const struct schema_type *type = schema_type_by_id(L->schema, id);

			if (!m) {
				char so[GIT_OID_HEXSZ + 1], ot[GIT_OID_HEXSZ + 1];

				git_oid_tostr(so, sizeof(so), o);
				git_oid_tostr(ot, sizeof(ot), t);
				die("record %s lost by merging %s and %s (tree %s)", id, so, ot,
				    git_oid_tostr_s(&r->tree));
			}
			/* every field this side has or cleared */
			json_t *keys = json_object();

			json_object_foreach (rec, key, v)
				json_object_set(keys, key, json_null());
			json_object_foreach (m, key, v)
				json_object_set(keys, key, json_null());
			json_object_foreach (keys, key, v) {
				const json_t *sv = json_object_get(rec, key);
				const json_t *mv = json_object_get(m, key);
				const struct schema_field *f = schema_field_find(type, key);
				bool in_base = false;

				if (!strcmp(key, "hlc") || same(sv, mv))
					continue;
				for (j = 0; j < nb; j++) {
					json_t *br = find_id(base_recs[j], id);

					if (br && same(json_object_get(br, key), sv))
						in_base = true;
				}
				if (in_base)
					continue; /* this side did not change it */
				/* union lists: items, unless void against edit kept the void side
				 * whole */
				if (f && f->merge == MERGE_UNION &&
				    json_is_true(json_object_get(m, "void")) ==
					json_is_true(json_object_get(rec, "void"))) {
					size_t k;

					for (k = 0; k < json_array_size(sv); k++) {
						json_t *item = json_array_get(sv, k);
						bool was = false;

						for (j = 0; j < nb; j++) {
							json_t *br = find_id(base_recs[j], id);

							if (br &&
							    in_list(json_object_get(br, key), item))
								was = true;
						}
						if (!was && !in_list(mv, item) &&
						    !accounted(merged, r->message, id, key, sv))
							die("item added to %s.%s lost", id, key);
					}
					continue;
				}
				if (!accounted(merged, r->message, id, key, sv)) {
					char *text = json_dumps(sv, JSON_ENCODE_ANY);

					die("value %s of %s.%s lost; message:\n%s",
					    text ? text : "(absent)", id, key, r->message);
				}
			}
			json_decref(keys);
		}
		json_decref(side);
	}
	for (j = 0; j < nb; j++)
		json_decref(base_recs[j]);
	git_oidarray_dispose(&bases);
	json_decref(merged);
}

static void check_valid(const git_oid *tree)
{
	json_t *recs = all_records(tree), *rec;
	size_t i;

	json_array_foreach (recs, i, rec)
		if (schema_check(L->schema, rec) < 0)
			die("invalid record after merge: %s", err_msg());
	json_decref(recs);
}

/* Walking a tree: count its blobs, or stop at blob number n (walk order). */
struct pick {
	unsigned seen, n;
	char path[300];
	git_oid blob;
};

static int pick_cb(const char *root, const git_tree_entry *e, void *payload)
{
	struct pick *p = payload;

	if (git_tree_entry_type(e) != GIT_OBJECT_BLOB || p->seen++ != p->n)
		return 0;
	snprintf(p->path, sizeof(p->path), "%s%s", root, git_tree_entry_name(e));
	git_oid_cpy(&p->blob, git_tree_entry_id(e));
	return 1;
}

/* rec as stored text, with one field changed by edit() (or its stamp when edit changes
 * nothing in 20 tries). */
static char *edited(json_t *rec)
{
	char *before = json_dumps(rec, JSON_SORT_KEYS | JSON_INDENT(2)), *after = NULL;
	int tries;

	for (tries = 0; tries < 20; tries++) {
		free(after);
		edit(rec);
		after = json_dumps(rec, JSON_SORT_KEYS | JSON_INDENT(2));
		if (!before || !after || strcmp(before, after) != 0)
			break;
	}
	if (tries == 20) {
		free(after);
		json_object_set_new(rec, "hlc", json_string("0000000000001.00000-1201"));
		after = json_dumps(rec, JSON_SORT_KEYS | JSON_INDENT(2));
	}
	free(before);
	return after;
}

/* A copy of merge commit c whose tree has one random record edited (unsigned: the
 * verifier's merge_check looks at the tree, the parents and the message). */
static git_commit *tamper(git_commit *c, char path[300])
{
	struct pick p = {.n = UINT_MAX};
	git_tree_update up = {.action = GIT_TREE_UPDATE_UPSERT, .filemode = GIT_FILEMODE_BLOB};
	git_commit *parent0 = NULL, *parent1 = NULL, *out = NULL;
	git_tree *tree = NULL, *changed = NULL;
	git_blob *blob = NULL;
	json_t *rec = NULL;
	git_oid tid, cid;
	char *text;

	if (git_commit_tree(&tree, c) < 0 || git_commit_parent(&parent0, c, 0) < 0 ||
	    git_commit_parent(&parent1, c, 1) < 0 ||
	    git_tree_walk(tree, GIT_TREEWALK_PRE, pick_cb, &p) < 0 || p.seen == 0)
		die("tamper: read %s", git_oid_tostr_s(git_commit_id(c)));
	p.n = rnd(p.seen);
	p.seen = 0;
	if (git_tree_walk(tree, GIT_TREEWALK_PRE, pick_cb, &p) < 0 || !p.path[0] ||
	    git_blob_lookup(&blob, L->repo, &p.blob) < 0 ||
	    record_decode(&rec, git_blob_rawcontent(blob), (size_t)git_blob_rawsize(blob), false,
			  p.path) < 0)
		die("tamper: read record %u of %s", p.n, git_oid_tostr_s(git_commit_id(c)));
	text = edited(rec);
	up.path = p.path;
	if (!text || git_blob_create_from_buffer(&up.id, L->repo, text, strlen(text)) < 0 ||
	    git_tree_create_updated(&tid, L->repo, tree, 1, &up) < 0 ||
	    git_tree_lookup(&changed, L->repo, &tid) < 0 ||
	    git_commit_create_v(&cid, L->repo, NULL, git_commit_author(c), git_commit_committer(c),
				NULL, git_commit_message(c), changed, 2, parent0, parent1) < 0 ||
	    git_commit_lookup(&out, L->repo, &cid) < 0)
		die("tamper: write");
	snprintf(path, 300, "%s", p.path);
	free(text);
	json_decref(rec);
	git_blob_free(blob);
	git_tree_free(changed);
	git_tree_free(tree);
	git_commit_free(parent0);
	git_commit_free(parent1);
	return out;
}

/* The verifier recomputes merge commit head: it accepts it, and refuses it tampered. */
static void check_recomputed(const char *branch, const git_oid *head)
{
	git_commit *c = NULL, *bad;
	char why[512], path[300];

	if (git_commit_lookup(&c, L->repo, head) < 0 ||
	    merge_check(why, sizeof(why), L, branch, c) < 0)
		die("merge_check %s: %s", git_oid_tostr_s(head), err_msg());
	if (why[0])
		die("recomputed: the engine's merge %s is refused: %s", git_oid_tostr_s(head), why);
	bad = tamper(c, path);
	if (merge_check(why, sizeof(why), L, branch, bad) < 0)
		die("merge_check of the tampered %s: %s", git_oid_tostr_s(head), err_msg());
	if (!why[0])
		die("recomputed: merge %s with %s changed is accepted", git_oid_tostr_s(head),
		    path);
	if (!strstr(why, path))
		die("recomputed: the refusal of %s does not name %s: %s", git_oid_tostr_s(head),
		    path, why);
	stat_tampered++;
	git_commit_free(bad);
	git_commit_free(c);
}

/* Merge copy b into copy a and check the properties. Returns true when a's head moved. */
static bool step_merge(struct history *h, int a, int b)
{
	struct merge_result r = {0}, back = {0}, again = {0};
	git_oid o = head_of(h->copy[a]), t = head_of(h->copy[b]), nh;
	git_tree *tt;
	bool moved;

	if (merge_commits(&back, L, &t, &o, false) < 0)
		die("merge %s into %s", h->copy[a], h->copy[b]);
	if (merge_branches_ext(&r, L, h->copy[a], &t, &forged) < 0)
		die("merge %s into %s", h->copy[b], h->copy[a]);
	stat_merges++;
	nh = head_of(h->copy[a]);
	moved = !git_oid_equal(&nh, &o);
	tt = tree_of(&nh);
	if (!git_oid_equal(git_tree_id(tt), &back.tree))
		die("symmetry: %s<-%s gives tree %s, the other way %s", h->copy[a], h->copy[b],
		    git_oid_tostr_s(git_tree_id(tt)), git_oid_tostr_s(&back.tree));
	if (r.outcome == MERGE_MERGED) {
		stat_merged++;
		stat_conflicts += json_array_size(r.conflicts);
		stat_discarded += json_array_size(r.discarded);
		stat_notes += json_array_size(r.notes);
		if (r.nbases > 1)
			stat_criss++;
		check_valid(&r.tree);
		check_nothing_lost(&r, &o, &t);
		check_recomputed(h->copy[a], &nh);
	}
	if (merge_branches_ext(&again, L, h->copy[a], &t, &forged) < 0 ||
	    again.outcome != MERGE_UP_TO_DATE)
		die("idempotence: merging %s into %s again did something", h->copy[b], h->copy[a]);
	git_tree_free(tt);
	merge_result_release(&r);
	merge_result_release(&back);
	merge_result_release(&again);
	return moved;
}

static void history(int n)
{
	struct history h = {0};
	json_t *recs = json_array();
	git_reference *ref = NULL;
	git_oid start;
	int i, j, steps, round;
	bool moved;

	history_no = n;
	h.ncopies = 2 + (int)rnd(2);
	for (i = 0; i < h.ncopies; i++)
		snprintf(h.copy[i], sizeof(h.copy[i]), "1201120%02u%03u",
			 (unsigned)(10 + (n / 300) % 90),
			 (unsigned)((n % 300) * 3 + i + 1) % 1000u);
	h.nids = 4 + (int)rnd(MAX_RECORDS - 4);
	for (i = 0; i < h.nids; i++)
		json_array_append_new(recs, new_record(i, h.ids[i]));
	if (!amend(h.copy[0], OFFICES[0], recs, true))
		die("initial records refused");
	json_decref(recs);
	start = head_of(h.copy[0]);
	for (i = 1; i < h.ncopies; i++) {
		char name[LEDGER_REF_MAX];

		ledger_ref_name(name, h.copy[i]);
		if (git_reference_create(&ref, L->repo, name, &start, 1, "prop") < 0)
			die("copy");
		git_reference_free(ref);
	}
	steps = 8 + (int)rnd(20);
	for (i = 0; i < steps; i++) {
		unsigned k = rnd(10);

		stat_steps++;
		if (k < 5)
			step_amend(&h);
		else if (k < 6)
			step_resolve(&h);
		else {
			int a = (int)rnd((unsigned)h.ncopies),
			    b = (int)rnd((unsigned)h.ncopies - 1);

			step_merge(&h, a, b >= a ? b + 1 : b);
		}
	}
	/* convergence: everyone merges everyone, in random order, until nothing moves */
	for (round = 0, moved = true; moved; round++) {
		int order[MAX_COPIES * MAX_COPIES], np = 0;

		if (round > 2 * h.ncopies)
			die("convergence: heads still moving after %d rounds", round);
		moved = false;
		for (i = 0; i < h.ncopies; i++)
			for (j = 0; j < h.ncopies; j++)
				if (i != j)
					order[np++] = i * MAX_COPIES + j;
		for (i = np - 1; i > 0; i--) {
			int k = (int)rnd((unsigned)i + 1), tmp = order[i];

			order[i] = order[k];
			order[k] = tmp;
		}
		for (i = 0; i < np; i++)
			moved |= step_merge(&h, order[i] / MAX_COPIES, order[i] % MAX_COPIES);
	}
	for (i = 1; i < h.ncopies; i++) {
		git_oid a = head_of(h.copy[0]), b = head_of(h.copy[i]);
		git_tree *ta = tree_of(&a), *tb = tree_of(&b);

		if (!git_oid_equal(git_tree_id(ta), git_tree_id(tb)))
			die("convergence: %s and %s differ", h.copy[0], h.copy[i]);
		git_tree_free(ta);
		git_tree_free(tb);
	}
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

int main(void)
{
	struct ledger_init_opts o = {0};
	const char *s = getenv("PROP_SEED"), *hs = getenv("PROP_HISTORIES");
	int n = hs ? atoi(hs) : 200, i;
	struct timespec ts;
	time_t t0 = time(NULL);

	clock_gettime(CLOCK_REALTIME, &ts);
	seed = s ? strtoull(s, NULL, 10) : (unsigned long long)ts.tv_nsec ^ (unsigned long long)t0;
	if (seed == 0)
		seed = 1;
	rng_state = seed;
	printf("prop_merge: seed %llu (PROP_SEED=%llu replays), %d histories\n", seed, seed, n);
	fflush(stdout);
	/* stamps: a fixed clock, so the seed decides every tie */
	setenv("CASELEDGER_FAKE_TIME", "1790000000", 1);
	snprintf(dir, sizeof(dir), "/tmp/prop_merge.XXXXXX");
	if (!mkdtemp(dir))
		die("temp dir");
	rmdir(dir);
	o.dir = dir;
	o.office = OFFICES[0];
	o.operator= "prop";
	if (ledger_init(&o) < 0 || ledger_open(&L, dir) < 0)
		die("ledger");
	git_libgit2_opts(GIT_OPT_ENABLE_FSYNC_GITDIR, 0);
	for (i = 0; i < n; i++)
		history(i);
	printf("prop_merge: ok: %d histories, %zu steps (%zu refused by the schema and skipped), "
	       "%zu merges (%zu merge commits, %zu with several bases), %zu conflicts, "
	       "%zu values set aside, %zu invalid merges turned into conflicts, %zu merge "
	       "commits recomputed and refused with one record changed, %ld s\n",
	       n, stat_steps, stat_skipped, stat_merges, stat_merged, stat_criss, stat_conflicts,
	       stat_discarded, stat_notes, stat_tampered, (long)(time(NULL) - t0));
	ledger_free(L);
	nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	return 0;
}
