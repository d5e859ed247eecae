/*
 * test_merge: each defined outcome of the record-level merge, on real ledgers (a bare git
 * repository per test, signed commits). Two copies of a branch are two branches of one
 * repository (120112001001 is "ours", 120112001002 "theirs"); another office's change is
 * made by switching the ledger's office code for that transaction. Every merge is also run
 * the other way round, and the two trees must be identical.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ftw.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "err.h"
#include "ledger.h"
#include "merge.h"

/* These histories are forged on purpose (offices signing with one key): the merge rules
 * are under test here, verification has tests of its own. */
static const struct merge_opts forged = {.verified = true};

#define OURS   "120112001001"
#define THEIRS "120112001002"
#define P1     "P-120112001001-1"
#define P2     "P-120112001001-2"
#define P3     "P-120112001001-3"
#define P4     "P-120112001001-4"

struct fixture {
	char dir[64];
	struct ledger *l;
};

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct ledger_init_opts o = {0};

	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "/tmp/test_merge.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	rmdir(f->dir);
	o.dir = f->dir;
	o.office = OURS;
	o.operator= "tester";
	if (ledger_init(&o) < 0 || ledger_open(&f->l, f->dir) < 0)
		fail_msg("ledger: %s", err_msg());
	/* merge semantics only here: durability is tested elsewhere */
	git_libgit2_opts(GIT_OPT_ENABLE_FSYNC_GITDIR, 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	ledger_free(f->l);
	nftw(f->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(f);
	return 0;
}

static json_t *J(const char *text)
{
	json_error_t e;
	json_t *v = json_loads(text, JSON_DECODE_ANY, &e);

	if (!v)
		fail_msg("bad JSON in test: %s: %s", e.text, text);
	return v;
}

/* Write records (a JSON array, or one object) on branch as office; returns the commit. */
static git_oid put_as(struct ledger *l, const char *branch, const char *office, const char *json,
		      bool create)
{
	struct ledger_commit_info info = {"test change", NULL, "tester"};
	char saved[OFFICE_CODE_MAX + 1];
	enum office_level level = l->level;
	struct ledger_txn t;
	json_t *v = J(json), *item;
	git_oid id;
	size_t i;

	memcpy(saved, l->office, sizeof(saved));
	snprintf(l->office, sizeof(l->office), "%s", office);
	l->level = (enum office_level)office_level(office);
	if (ledger_txn_begin(&t, l, branch) < 0)
		fail_msg("begin: %s", err_msg());
	if (json_is_object(v)) {
		json_t *a = json_array();

		json_array_append_new(a, v);
		v = a;
	}
	json_array_foreach (v, i, item) {
		json_t *rec = NULL;

		if (!create &&
		    ledger_txn_get(&rec, &t, json_string_value(json_object_get(item, "id"))) == 0) {
			json_object_update(rec, item);
			/* null clears */
			const char *k;
			json_t *x;
			void *tmp;
			json_object_foreach_safe (rec, tmp, k, x)
				if (json_is_null(x))
					json_object_del(rec, k);
		} else {
			rec = json_incref(item);
		}
		if (ledger_txn_put(&t, rec, create, NULL) < 0)
			fail_msg("put %s: %s", json_dumps(item, 0), err_msg());
		json_decref(rec);
	}
	if (ledger_txn_commit(&t, &info, &id) < 0)
		fail_msg("commit: %s", err_msg());
	ledger_txn_release(&t);
	json_decref(v);
	memcpy(l->office, saved, sizeof(saved));
	l->level = level;
	return id;
}

static git_oid put(struct ledger *l, const char *branch, const char *json, bool create)
{
	return put_as(l, branch, OURS, json, create);
}

static git_oid head(struct ledger *l, const char *branch)
{
	git_oid id;

	if (ledger_head(&id, l, branch) < 0)
		fail_msg("head: %s", err_msg());
	return id;
}

/* theirs := a copy of ours */
static void fork_branch(struct ledger *l)
{
	git_reference *r = NULL;
	git_oid h = head(l, OURS);

	assert_int_equal(git_reference_create(&r, l->repo, "refs/heads/" THEIRS, &h, 1, "test"), 0);
	git_reference_free(r);
}

/* Merge theirs into ours, after checking that the other direction gives the same tree. */
static void merge(struct ledger *l, struct merge_result *r, enum merge_outcome want)
{
	struct merge_result back = {0};
	git_oid o = head(l, OURS), t = head(l, THEIRS);
	int rc;

	if (merge_commits(&back, l, &t, &o, false) < 0)
		fail_msg("merge the other way: %s", err_msg());
	if ((rc = merge_branches_ext(r, l, OURS, &t, &forged)) < 0)
		fail_msg("merge: %s", err_msg());
	assert_int_equal(r->outcome, want);
	if (want == MERGE_MERGED)
		assert_true(git_oid_equal(&r->tree, &back.tree));
	merge_result_release(&back);
}

static json_t *get(struct ledger *l, const char *branch, const char *id)
{
	git_commit *c = NULL;
	git_tree *tree = NULL;
	json_t *rec = NULL;

	if (ledger_resolve(&c, l, branch) < 0 || git_commit_tree(&tree, c) < 0 ||
	    ledger_read(&rec, l, tree, id) < 0)
		fail_msg("read %s: %s", id, err_msg());
	git_tree_free(tree);
	git_commit_free(c);
	return rec;
}

static const char *str(const json_t *rec, const char *key)
{
	return json_string_value(json_object_get(rec, key));
}

/* The merge message lists record, field and value (as JSON) on one line. */
static void assert_discarded(const struct merge_result *r, const char *id, const char *field,
			     const char *value_json)
{
	char needle[256];
	const char *line;

	snprintf(needle, sizeof(needle), "discarded %s '%s' %s;", id, field, value_json);
	line = r->message ? strstr(r->message, needle) : NULL;
	if (!line)
		fail_msg("message lacks '%s':\n%s", needle, r->message ? r->message : "(none)");
}

static const char *PERSON = "{\"id\": \"" P1 "\", \"type\": \"person\", \"name\": \"Wang Fang\", "
			    "\"id_number\": \"11010519491231002X\", \"phone\": \"100\"}";

static void test_one_side_and_same_value(void **state)
{
	struct fixture *f = *state;
	struct merge_result r = {0};
	json_t *rec;

	put(f->l, OURS, PERSON, true);
	fork_branch(f->l);
	put(f->l, OURS, "{\"id\": \"" P1 "\", \"phone\": \"200\", \"disability\": \"grade 2\"}",
	    false);
	put(f->l, THEIRS, "{\"id\": \"" P1 "\", \"phone\": \"200\", \"conditions\": [\"asthma\"]}",
	    false);
	merge(f->l, &r, MERGE_MERGED);
	rec = get(f->l, OURS, P1);
	assert_string_equal(str(rec, "phone"), "200");		/* same value both sides */
	assert_string_equal(str(rec, "disability"), "grade 2"); /* field added on one side */
	assert_string_equal(
	    json_string_value(json_array_get(json_object_get(rec, "conditions"), 0)), "asthma");
	assert_int_equal(json_array_size(r.discarded), 0);
	assert_int_equal(json_array_size(r.conflicts), 0);
	assert_int_equal(r.nrecords, 1);
	json_decref(rec);
	merge_result_release(&r);
	/* merging again changes nothing */
	merge(f->l, &r, MERGE_UP_TO_DATE);
	merge_result_release(&r);
}

static void test_lww(void **state)
{
	struct fixture *f = *state;
	struct merge_result r = {0};
	json_t *rec;

	put(f->l, OURS, PERSON, true);
	fork_branch(f->l);
	put(f->l, OURS, "{\"id\": \"" P1 "\", \"phone\": \"111\"}", false);
	put(f->l, THEIRS, "{\"id\": \"" P1 "\", \"phone\": \"222\"}", false);
	put(f->l, THEIRS, "{\"id\": \"" P1 "\", \"disability\": \"none\"}", false);
	merge(f->l, &r, MERGE_MERGED);
	rec = get(f->l, OURS, P1);
	/* theirs has the later stamp (two commits after the fork) */
	assert_string_equal(str(rec, "phone"), "222");
	assert_discarded(&r, P1, "phone", "\"111\"");
	assert_int_equal(json_array_size(r.conflicts), 0);
	{
		json_t *t = get(f->l, THEIRS, P1);

		assert_string_equal(str(rec, "hlc"), str(t, "hlc")); /* max of the stamps */
		json_decref(t);
	}
	json_decref(rec);
	merge_result_release(&r);
}

/*
 * lww is per field: ours set the phone first, theirs set it later, then ours edited
 * another field (its record stamp is now the later one). Theirs' phone wins: it was
 * written last. The same either way round (merge() checks), and the record's "hlc" is
 * still the larger stamp.
 */
static void test_lww_per_field(void **state)
{
	struct fixture *f = *state;
	struct merge_result r = {0};
	json_t *rec, *o;

	put(f->l, OURS, PERSON, true);
	fork_branch(f->l);
	put(f->l, OURS, "{\"id\": \"" P1 "\", \"phone\": \"111\"}", false); /* t1 */
	put(f->l, THEIRS, "{\"id\": \"" P1 "\", \"disability\": \"none\"}", false);
	put(f->l, THEIRS, "{\"id\": \"" P1 "\", \"phone\": \"222\"}", false);	      /* t2 */
	put(f->l, OURS, "{\"id\": \"" P1 "\", \"conditions\": [\"asthma\"]}", false); /* t3 */
	put(f->l, OURS, "{\"id\": \"" P1 "\", \"conditions\": [\"gout\"]}", false);
	merge(f->l, &r, MERGE_MERGED);
	rec = get(f->l, OURS, P1);
	assert_string_equal(str(rec, "phone"), "222");
	assert_discarded(&r, P1, "phone", "\"111\"");
	assert_string_equal(str(rec, "disability"), "none");
	assert_string_equal(
	    json_string_value(json_array_get(json_object_get(rec, "conditions"), 0)), "gout");
	o = get(f->l, OURS "~1", P1); /* ours before the merge: the larger stamp */
	assert_string_equal(str(rec, "hlc"), str(o, "hlc"));
	json_decref(o);
	json_decref(rec);
	merge_result_release(&r);
}

static void test_authority(void **state)
{
	struct fixture *f = *state;
	struct merge_result r = {0};
	json_t *rec;

	put(f->l, OURS, PERSON, true);
	fork_branch(f->l);
	/* the district sets the category first; a community later sets another */
	put_as(f->l, OURS, "120112", "{\"id\": \"" P1 "\", \"category\": \"special-hardship\"}",
	       false);
	put(f->l, THEIRS, "{\"id\": \"" P1 "\", \"category\": \"low-income\"}", false);
	put(f->l, THEIRS, "{\"id\": \"" P1 "\", \"phone\": \"300\"}", false);
	merge(f->l, &r, MERGE_MERGED);
	rec = get(f->l, OURS, P1);
	assert_string_equal(str(rec, "category"), "special-hardship");
	assert_string_equal(str(rec, "phone"), "300");
	assert_discarded(&r, P1, "category", "\"low-income\"");
	json_decref(rec);
	merge_result_release(&r);
}

static const char *CASE = "{\"id\": \"C-120112001001-1\", \"type\": \"case\", \"subject\": "
			  "\"" P1 "\", \"programme\": \"temporary\", \"status\": \"applied\"}";

static void test_workflow(void **state)
{
	struct fixture *f = *state;
	struct merge_result r = {0};
	json_t *rec;

	put(f->l, OURS, CASE, true);
	fork_branch(f->l);
	put_as(f->l, OURS, "120112001", "{\"id\": \"C-120112001001-1\", \"status\": \"reviewed\"}",
	       false);
	put_as(f->l, OURS, "120112", "{\"id\": \"C-120112001001-1\", \"status\": \"approved\"}",
	       false);
	put_as(f->l, THEIRS, "120112", "{\"id\": \"C-120112001001-1\", \"status\": \"rejected\"}",
	       false);
	put_as(f->l, THEIRS, "120112", "{\"id\": \"C-120112001001-1\", \"reason\": \"income\"}",
	       false);
	put_as(f->l, THEIRS, "120112", "{\"id\": \"C-120112001001-1\", \"reason\": \"income!\"}",
	       false);
	merge(f->l, &r, MERGE_MERGED);
	rec = get(f->l, OURS, "C-120112001001-1");
	/* approved|rejected have one rank: lww winner (theirs, later) and a conflict */
	assert_string_equal(str(rec, "status"), "rejected");
	assert_int_equal(json_array_size(r.conflicts), 1);
	{
		json_t *c = json_array_get(r.conflicts, 0);
		json_t *x = get(f->l, OURS, str(c, "id"));

		assert_string_equal(str(x, "record"), "C-120112001001-1");
		assert_string_equal(str(x, "field"), "status");
		assert_string_equal(str(x, "ours"), "\"rejected\"");
		assert_string_equal(str(x, "theirs"), "\"approved\"");
		assert_string_equal(str(x, "base"), "\"applied\"");
		assert_string_equal(str(x, "status"), "open");
		json_decref(x);
	}
	json_decref(rec);
	merge_result_release(&r);
}

static void test_workflow_rank(void **state)
{
	struct fixture *f = *state;
	struct merge_result r = {0};
	json_t *rec;

	put(f->l, OURS, CASE, true);
	fork_branch(f->l);
	put_as(f->l, OURS, "120112", "{\"id\": \"C-120112001001-1\", \"status\": \"rejected\"}",
	       false);
	put_as(f->l, THEIRS, "120112001",
	       "{\"id\": \"C-120112001001-1\", \"status\": \"reviewed\"}", false);
	put(f->l, THEIRS, "{\"id\": \"C-120112001001-1\", \"reason\": \"later\"}", false);
	merge(f->l, &r, MERGE_MERGED);
	rec = get(f->l, OURS, "C-120112001001-1");
	assert_string_equal(str(rec, "status"), "rejected"); /* further along, though older */
	assert_discarded(&r, "C-120112001001-1", "status", "\"reviewed\"");
	assert_int_equal(json_array_size(r.conflicts), 0);
	json_decref(rec);
	merge_result_release(&r);
}

static void test_union(void **state)
{
	struct fixture *f = *state;
	struct merge_result r = {0};
	json_t *rec, *m;

	put(f->l, OURS,
	    "{\"id\": \"H-120112001001-1\", \"type\": \"household\", \"address\": \"1 Main St\", "
	    "\"members\": [\"" P1 "\", \"" P2 "\"]}",
	    true);
	fork_branch(f->l);
	put(f->l, OURS, "{\"id\": \"H-120112001001-1\", \"members\": [\"" P1 "\", \"" P4 "\"]}",
	    false);
	put(f->l, THEIRS,
	    "{\"id\": \"H-120112001001-1\", \"members\": [\"" P3 "\", \"" P2 "\", \"" P1 "\"]}",
	    false);
	merge(f->l, &r, MERGE_MERGED);
	rec = get(f->l, OURS, "H-120112001001-1");
	m = json_object_get(rec, "members");
	/* P2 removed on one side stays removed; P3 and P4 added on either side are kept */
	assert_int_equal(json_array_size(m), 3);
	assert_string_equal(json_string_value(json_array_get(m, 0)), P1);
	assert_string_equal(json_string_value(json_array_get(m, 1)), P3);
	assert_string_equal(json_string_value(json_array_get(m, 2)), P4);
	assert_int_equal(json_array_size(r.discarded), 0);
	json_decref(rec);
	merge_result_release(&r);
}

static void test_manual(void **state)
{
	struct fixture *f = *state;
	struct merge_result r = {0};
	json_t *rec, *x;
	char id[RECORD_ID_MAX];

	put(f->l, OURS, PERSON, true);
	fork_branch(f->l);
	put(f->l, OURS, "{\"id\": \"" P1 "\", \"name\": \"Wang Fan\"}", false);
	put(f->l, THEIRS, "{\"id\": \"" P1 "\", \"name\": \"Wong Fang\"}", false);
	merge(f->l, &r, MERGE_MERGED);
	assert_int_equal(json_array_size(r.conflicts), 1);
	assert_int_equal(merge_conflict_id(id, P1, "name", "\"Wang Fan\"", "\"Wong Fang\""), 0);
	assert_string_equal(str(json_array_get(r.conflicts, 0), "id"), id);
	{
		char id2[RECORD_ID_MAX];

		assert_int_equal(
		    merge_conflict_id(id2, P1, "name", "\"Wong Fang\"", "\"Wang Fan\""), 0);
		assert_string_equal(id, id2);
	}
	rec = get(f->l, OURS, P1);
	x = get(f->l, OURS, id);
	{
		char *kept = json_dumps(json_object_get(rec, "name"), JSON_ENCODE_ANY);

		assert_string_equal(str(x, "ours"), kept); /* "ours" is the value kept */
		assert_string_not_equal(str(x, "theirs"), kept);
		free(kept);
	}
	assert_string_equal(str(x, "base"), "\"Wang Fang\"");
	assert_non_null(str(x, "ours_commit"));
	assert_non_null(str(x, "theirs_commit"));
	assert_string_not_equal(str(x, "ours_commit"), str(x, "theirs_commit"));
	assert_non_null(strstr(r.message, id));
	json_decref(rec);
	json_decref(x);
	merge_result_release(&r);
}

static void test_void_vs_edit(void **state)
{
	struct fixture *f = *state;
	struct merge_result r = {0};
	json_t *rec;

	put(f->l, OURS, PERSON, true);
	fork_branch(f->l);
	put(f->l, OURS, "{\"id\": \"" P1 "\", \"void\": true, \"void_reason\": \"duplicate\"}",
	    false);
	put(f->l, THEIRS, "{\"id\": \"" P1 "\", \"phone\": \"999\"}", false);
	put(f->l, THEIRS, "{\"id\": \"" P1 "\", \"disability\": \"grade 1\"}", false);
	merge(f->l, &r, MERGE_MERGED);
	rec = get(f->l, OURS, P1);
	assert_true(json_is_true(json_object_get(rec, "void")));
	assert_string_equal(str(rec, "phone"), "100");
	assert_null(json_object_get(rec, "disability"));
	assert_discarded(&r, P1, "phone", "\"999\"");
	assert_discarded(&r, P1, "disability", "\"grade 1\"");
	json_decref(rec);
	merge_result_release(&r);
}

static void test_add_add(void **state)
{
	struct fixture *f = *state;
	struct merge_result r = {0};
	json_t *rec;
	const char *p2 = "{\"id\": \"" P2 "\", \"type\": \"person\", \"name\": \"Li Na\", "
			 "\"id_number\": \"11010519491231002X\"}";

	put(f->l, OURS, PERSON, true);
	fork_branch(f->l);
	/* the same id added on both sides: identical content, different stamps */
	put(f->l, OURS, p2, true);
	put(f->l, THEIRS, p2, true);
	put(f->l, THEIRS,
	    "{\"id\": \"" P3 "\", \"type\": \"person\", \"name\": \"Zhao Lei\", "
	    "\"id_number\": \"11010519491231002X\", \"phone\": \"1\"}",
	    true);
	put(f->l, OURS,
	    "{\"id\": \"" P3 "\", \"type\": \"person\", \"name\": \"Zhao Lei\", "
	    "\"id_number\": \"11010519491231002X\", \"phone\": \"2\", \"sex\": \"male\"}",
	    true);
	merge(f->l, &r, MERGE_MERGED);
	rec = get(f->l, OURS, P2);
	assert_string_equal(str(rec, "name"), "Li Na");
	json_decref(rec);
	rec = get(f->l, OURS, P3);
	/* field by field with an empty base: sex only on ours, phone by lww */
	assert_string_equal(str(rec, "sex"), "male");
	assert_int_equal(json_array_size(r.conflicts), 0);
	assert_int_equal(json_array_size(r.discarded), 1);
	json_decref(rec);
	merge_result_release(&r);
}

static void test_invalid_after_merge(void **state)
{
	struct fixture *f = *state;
	struct merge_result r = {0};
	json_t *rec;
	size_t i;
	bool seen = false;

	put(f->l, OURS,
	    "{\"id\": \"M-120112001001-1\", \"type\": \"medical\", \"person\": \"" P1 "\", "
	    "\"hospital\": \"Jinnan\", \"total\": 1000000, \"self_paid\": 400000, "
	    "\"assisted\": 300000}",
	    true);
	fork_branch(f->l);
	put(f->l, OURS, "{\"id\": \"M-120112001001-1\", \"assisted\": 400000}", false);
	put(f->l, THEIRS, "{\"id\": \"M-120112001001-1\", \"self_paid\": 350000}", false);
	put(f->l, THEIRS, "{\"id\": \"M-120112001001-1\", \"hospital\": \"Jinnan No. 2\"}", false);
	merge(f->l, &r, MERGE_MERGED);
	rec = get(f->l, OURS, "M-120112001001-1");
	/* assisted 400000 > self_paid 350000 would break a check: theirs (later) kept whole */
	assert_int_equal(json_integer_value(json_object_get(rec, "assisted")), 300000);
	assert_int_equal(json_integer_value(json_object_get(rec, "self_paid")), 350000);
	assert_int_equal(json_array_size(r.conflicts), 1);
	assert_string_equal(str(json_array_get(r.conflicts, 0), "field"), "assisted");
	assert_string_equal(str(json_array_get(r.conflicts, 0), "rule"), "invalid");
	assert_int_equal(json_array_size(r.notes), 1);
	assert_non_null(strstr(r.message, "would be invalid"));
	for (i = 0; i < json_array_size(r.conflicts); i++) {
		json_t *x = get(f->l, OURS, str(json_array_get(r.conflicts, i), "id"));

		seen = seen || strcmp(str(x, "theirs"), "400000") == 0;
		json_decref(x);
	}
	assert_true(seen);
	json_decref(rec);
	merge_result_release(&r);
}

static void test_fast_forward_and_up_to_date(void **state)
{
	struct fixture *f = *state;
	struct merge_result r = {0};
	git_oid t;

	put(f->l, OURS, PERSON, true);
	fork_branch(f->l);
	t = put(f->l, THEIRS, "{\"id\": \"" P1 "\", \"phone\": \"5\"}", false);
	merge(f->l, &r, MERGE_FAST_FORWARD);
	assert_true(git_oid_equal(&r.head, &t));
	{
		git_oid h = head(f->l, OURS);

		assert_true(git_oid_equal(&h, &t));
	}
	merge_result_release(&r);
	merge(f->l, &r, MERGE_UP_TO_DATE);
	merge_result_release(&r);
}

/* A criss-cross: each side merged the other's old head, then changed more. */
static void test_criss_cross(void **state)
{
	struct fixture *f = *state;
	struct merge_result r = {0};
	git_oid a0, b0, ma, mb;
	json_t *rec;

	put(f->l, OURS, PERSON, true);
	fork_branch(f->l);
	a0 = put(f->l, OURS, "{\"id\": \"" P1 "\", \"phone\": \"A\"}", false);
	b0 = put(f->l, THEIRS, "{\"id\": \"" P1 "\", \"disability\": \"B\"}", false);
	/* ours merges b0; theirs merges a0 (both see the same two heads) */
	assert_int_equal(merge_branches_ext(&r, f->l, OURS, &b0, &forged), 0);
	ma = r.head;
	merge_result_release(&r);
	assert_int_equal(merge_branches_ext(&r, f->l, THEIRS, &a0, &forged), 0);
	mb = r.head;
	assert_int_equal(r.outcome, MERGE_MERGED);
	merge_result_release(&r);
	{
		git_commit *ca, *cb;

		assert_int_equal(git_commit_lookup(&ca, f->l->repo, &ma), 0);
		assert_int_equal(git_commit_lookup(&cb, f->l->repo, &mb), 0);
		assert_true(git_oid_equal(git_commit_tree_id(ca), git_commit_tree_id(cb)));
		git_commit_free(ca);
		git_commit_free(cb);
	}
	put(f->l, OURS, "{\"id\": \"" P1 "\", \"phone\": \"A2\"}", false);
	put(f->l, THEIRS, "{\"id\": \"" P1 "\", \"sex\": \"female\"}", false);
	put(f->l, THEIRS, "{\"id\": \"" P1 "\", \"phone\": \"B2\", \"disability\": \"B2\"}", false);
	merge(f->l, &r, MERGE_MERGED);
	assert_int_equal(r.nbases, 2);
	rec = get(f->l, OURS, P1);
	assert_string_equal(str(rec, "phone"), "B2"); /* lww: theirs is later */
	assert_string_equal(str(rec, "sex"), "female");
	assert_string_equal(str(rec, "disability"), "B2");
	assert_discarded(&r, P1, "phone", "\"A2\"");
	json_decref(rec);
	merge_result_release(&r);
}

/*
 * A criss-cross over a conflict: theirs merged ours's first change and recorded a conflict;
 * ours changed the field again, then merged theirs's first change (another conflict). The
 * two merge bases, merged, would hold the first conflict record too; built with it, the
 * virtual base made ours look as if it had removed that record, and the merge dropped it.
 */
static void test_criss_cross_conflict(void **state)
{
	struct fixture *f = *state;
	struct merge_result r = {0};
	char x1[RECORD_ID_MAX], x2[RECORD_ID_MAX];
	git_oid a0, b0;
	json_t *rec;

	put(f->l, OURS, PERSON, true);
	fork_branch(f->l);
	a0 = put(f->l, OURS, "{\"id\": \"" P1 "\", \"name\": \"Wang Fan\"}", false);
	b0 = put(f->l, THEIRS, "{\"id\": \"" P1 "\", \"name\": \"Wong Fang\"}", false);
	assert_int_equal(merge_branches_ext(&r, f->l, THEIRS, &a0, &forged), 0);
	assert_int_equal(json_array_size(r.conflicts), 1);
	snprintf(x1, sizeof(x1), "%s", str(json_array_get(r.conflicts, 0), "id"));
	merge_result_release(&r);
	put(f->l, OURS, "{\"id\": \"" P1 "\", \"name\": \"Li Na\"}", false);
	assert_int_equal(merge_branches_ext(&r, f->l, OURS, &b0, &forged), 0);
	assert_int_equal(json_array_size(r.conflicts), 1);
	snprintf(x2, sizeof(x2), "%s", str(json_array_get(r.conflicts, 0), "id"));
	assert_string_not_equal(x1, x2);
	merge_result_release(&r);

	merge(f->l, &r, MERGE_MERGED);
	assert_int_equal(r.nbases, 2);
	rec = get(f->l, OURS, x1); /* fails the test when the record is gone */
	assert_string_equal(str(rec, "record"), P1);
	json_decref(rec);
	rec = get(f->l, OURS, x2);
	assert_string_equal(str(rec, "record"), P1);
	json_decref(rec);
	merge_result_release(&r);
}

/* A malformed record changed on both sides: a clear error, and nothing moves. */
static void test_malformed_input(void **state)
{
	struct fixture *f = *state;
	struct merge_result r = {0};
	git_oid before, t, blob, tree, c;
	git_commit *parent = NULL;
	git_tree *ptree = NULL, *ntree = NULL;
	git_signature *who = NULL;
	git_tree_update up = {0};
	git_reference *ref = NULL;
	char path[RECORD_PATH_MAX];
	const char bad[] = "{\"id\": \"" P1 "\", \"name\": ";

	put(f->l, OURS, PERSON, true);
	fork_branch(f->l);
	put(f->l, OURS, "{\"id\": \"" P1 "\", \"phone\": \"1\"}", false);
	t = head(f->l, THEIRS);
	record_path(path, "person", P1);
	assert_int_equal(git_blob_create_from_buffer(&blob, f->l->repo, bad, strlen(bad)), 0);
	up.action = GIT_TREE_UPDATE_UPSERT;
	up.filemode = GIT_FILEMODE_BLOB;
	up.id = blob;
	up.path = path;
	assert_int_equal(git_commit_lookup(&parent, f->l->repo, &t), 0);
	assert_int_equal(git_commit_tree(&ptree, parent), 0);
	assert_int_equal(git_tree_create_updated(&tree, f->l->repo, ptree, 1, &up), 0);
	assert_int_equal(git_tree_lookup(&ntree, f->l->repo, &tree), 0);
	assert_int_equal(git_signature_now(&who, "intruder", "x@y"), 0);
	assert_int_equal(git_commit_create(&c, f->l->repo, NULL, who, who, NULL, "broken", ntree, 1,
					   (const git_commit **)&parent),
			 0);
	assert_int_equal(git_reference_create(&ref, f->l->repo, "refs/heads/" THEIRS, &c, 1, "t"),
			 0);
	before = head(f->l, OURS);
	assert_int_equal(merge_branches_ext(&r, f->l, OURS, &c, &forged), ERR_INVALID);
	assert_non_null(strstr(err_msg(), P1));
	assert_non_null(strstr(err_msg(), "malformed JSON"));
	{
		git_oid after = head(f->l, OURS);

		assert_true(git_oid_equal(&before, &after));
	}
	merge_result_release(&r);
	git_reference_free(ref);
	git_signature_free(who);
	git_tree_free(ntree);
	git_tree_free(ptree);
	git_commit_free(parent);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_one_side_and_same_value, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_lww, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_lww_per_field, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_authority, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_workflow, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_workflow_rank, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_union, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_manual, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_void_vs_edit, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_add_add, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_invalid_after_merge, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_fast_forward_and_up_to_date, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_criss_cross, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_criss_cross_conflict, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_malformed_input, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
