/*
 * test_index: the index on real ledgers in temporary directories — incremental catch-up
 * across a merge equals a rebuild and reflects the merge result (not a side commit), the
 * time and condition parsers, a deleted branch leaving the index, reindex on a ledger of
 * many commits, branches, voids and a merge equal to the index built step by step (the
 * walk and the writer run on two threads), a walk's failure reaching the caller, and the
 * change-log text equal to jansson's dump of the same changes.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "err.h"
#include "history.h"
#include "index.h"
#include "ledger.h"

#define OFFICE "120112001001"
#define SIDE   "120112001002"
#define PID    "P-120112001001-TEST1"

struct fixture {
	char top[256]; /* the temporary directory */
	char dir[256]; /* the ledger in it */
	struct ledger *l;
	struct index *ix;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct ledger_init_opts o = {0};
	char tmpl[] = "/tmp/caseledger-test-index.XXXXXX";

	assert_non_null(f);
	assert_non_null(mkdtemp(tmpl));
	snprintf(f->top, sizeof(f->top), "%s", tmpl);
	snprintf(f->dir, sizeof(f->dir), "%s/l", tmpl);
	o.dir = f->dir;
	o.office = OFFICE;
	o.operator= "tester";
	assert_int_equal(ledger_init(&o), 0);
	assert_int_equal(ledger_open(&f->l, f->dir), 0);
	assert_int_equal(index_open(&f->ix, f->l), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[600];

	index_free(f->ix);
	ledger_free(f->l);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->top);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

/* Put rec (JSON text) on branch in one commit. */
static void put(struct fixture *f, const char *branch, const char *text, bool create, git_oid *out)
{
	struct ledger_commit_info info = {"test change", "because", "tester"};
	struct ledger_txn t;
	json_t *rec = json_loads(text, 0, NULL);
	git_oid id;

	assert_non_null(rec);
	assert_int_equal(ledger_txn_begin(&t, f->l, branch), 0);
	assert_int_equal(ledger_txn_put(&t, rec, create, NULL), 0);
	assert_int_equal(ledger_txn_commit(&t, &info, out ? out : &id), 0);
	ledger_txn_release(&t);
	json_decref(rec);
}

static char *dump(struct index *ix)
{
	struct buf b = BUF_INIT;

	assert_int_equal(index_dump(&b, ix), 0);
	return buf_detach(&b, NULL);
}

static const char *field_of(struct fixture *f, const char *branch, const char *field)
{
	static char value[128];
	struct index_cond c = {"id", INDEX_EQ, PID};
	json_t *rows = NULL;

	assert_int_equal(index_find(&rows, f->ix, f->l, "person", &c, 1, branch, 0), 0);
	assert_int_equal(json_array_size(rows), 1);
	snprintf(value, sizeof(value), "%s",
		 json_string_value(
		     json_object_get(json_object_get(json_array_get(rows, 0), "record"), field)));
	json_decref(rows);
	return value;
}

/* A merge commit of ours and theirs on the office branch (at ours) keeping ours's tree. */
static void merge_keeping_ours(git_oid *out, struct fixture *f, const git_oid *ours,
			       const git_oid *theirs)
{
	git_commit *pm = NULL, *ps = NULL;
	const git_commit *parents[2];
	char msg[256];

	assert_int_equal(git_commit_lookup(&pm, f->l->repo, ours), 0);
	assert_int_equal(git_commit_lookup(&ps, f->l->repo, theirs), 0);
	parents[0] = pm;
	parents[1] = ps;
	snprintf(msg, sizeof(msg), "merge\n\nCaseledger-Office: %s\n", OFFICE);
	assert_int_equal(ledger_commit_tree(out, f->l, "refs/heads/" OFFICE, ours,
					    git_commit_tree_id(pm), parents, 2, msg, "tester",
					    1767312000000ull),
			 0);
	git_commit_free(pm);
	git_commit_free(ps);
}

static void test_merge_catch_up_equals_rebuild(void **state)
{
	struct fixture *f = *state;
	git_oid c1, m1, s1, merge;
	git_reference *r = NULL;
	char *incremental, *rebuilt;
	struct index_progress p;
	bool same;
	char *diff = NULL;

	put(f, NULL,
	    "{\"id\": \"" PID "\", \"type\": \"person\", \"name\": \"Han Mei\","
	    " \"id_number\": \"11010519491231002X\", \"phone\": \"100\"}",
	    true, &c1);
	assert_int_equal(index_catch_up(f->ix, f->l, &p), 0);
	assert_int_equal(p.changes, 1);
	/* a side branch from c1 changes the phone; the office branch changes the name */
	assert_int_equal(git_reference_create(&r, f->l->repo, "refs/heads/" SIDE, &c1, 0, "t"), 0);
	git_reference_free(r);
	put(f, SIDE,
	    "{\"id\": \"" PID "\", \"type\": \"person\", \"name\": \"Han Mei\","
	    " \"id_number\": \"11010519491231002X\", \"phone\": \"200\"}",
	    false, &s1);
	put(f, NULL,
	    "{\"id\": \"" PID "\", \"type\": \"person\", \"name\": \"Han Meiling\","
	    " \"id_number\": \"11010519491231002X\", \"phone\": \"100\"}",
	    false, &m1);
	assert_int_equal(index_catch_up(f->ix, f->l, &p), 0);
	assert_string_equal(field_of(f, SIDE, "phone"), "200");
	assert_string_equal(field_of(f, OFFICE, "name"), "Han Meiling");
	/* a merge that keeps the office branch's tree: the side's phone is NOT taken */
	merge_keeping_ours(&merge, f, &m1, &s1);
	assert_int_equal(index_catch_up(f->ix, f->l, &p), 0);
	assert_int_equal(p.commits, 2); /* the merge and the side commit it brings in */
	assert_string_equal(field_of(f, OFFICE, "phone"), "100");
	assert_string_equal(field_of(f, OFFICE, "name"), "Han Meiling");

	incremental = dump(f->ix);
	assert_int_equal(index_check(&same, &diff, f->ix, f->l), 0);
	assert_true(same);
	assert_int_equal(index_rebuild(f->ix, f->l, &p), 0);
	assert_int_equal(p.branches, 2);
	rebuilt = dump(f->ix);
	assert_string_equal(incremental, rebuilt);
	assert_non_null(strstr(rebuilt, "[changes]\n"));
	free(incremental);
	free(rebuilt);
	free(diff);

	/* a branch gone from the repository leaves the index */
	assert_int_equal(git_reference_lookup(&r, f->l->repo, "refs/heads/" SIDE), 0);
	assert_int_equal(git_reference_delete(r), 0);
	git_reference_free(r);
	assert_int_equal(index_catch_up(f->ix, f->l, NULL), 0);
	rebuilt = dump(f->ix);
	assert_null(strstr(rebuilt, SIDE));
	free(rebuilt);
}

/* Many person records on branch in one commit: a pack, and more ops than the pipe holds. */
static void put_many(struct fixture *f, const char *branch, size_t from, size_t to)
{
	struct ledger_commit_info info = {"test import", "many at once", "tester"};
	struct ledger_txn t;
	git_oid id;
	size_t i;

	assert_int_equal(ledger_txn_begin(&t, f->l, branch), 0);
	for (i = from; i < to; i++) {
		json_t *rec = json_pack("{s:s, s:s, s:s, s:s, s:s, s:[s, s]}", "id", "", "type",
					"person", "name", "", "id_type", "other", "phone", "100",
					"conditions", "a", "b");
		char id_text[64], name[64], idnum[32];

		snprintf(id_text, sizeof(id_text), "P-%s-M%06zu", branch ? branch : OFFICE, i);
		snprintf(name, sizeof(name), "Li \"Lei\" \\ %zu \xe6\x9d\x8e", i);
		json_object_set_new(rec, "id", json_string(id_text));
		json_object_set_new(rec, "name", json_string(name));
		snprintf(idnum, sizeof(idnum), "E%08zu", i);
		json_object_set_new(rec, "id_number", json_string(idnum));
		assert_int_equal(ledger_txn_put(&t, rec, true, NULL), 0);
		json_decref(rec);
	}
	assert_int_equal(ledger_txn_commit(&t, &info, &id), 0);
	ledger_txn_release(&t);
}

/* Amend (phone, id number, list), void or clear a field of person i on branch, one
 * commit each. */
static void amend_one(struct fixture *f, const char *branch, size_t i, const char *how)
{
	struct ledger_commit_info info = {"test amend", "because", "tester"};
	struct ledger_txn t;
	json_t *rec = NULL;
	char id[64];
	git_oid commit;

	snprintf(id, sizeof(id), "P-%s-M%06zu", branch ? branch : OFFICE, i);
	assert_int_equal(ledger_txn_begin(&t, f->l, branch), 0);
	assert_int_equal(ledger_txn_get(&rec, &t, id), 0);
	if (strcmp(how, "void") == 0) {
		json_object_set_new(rec, "void", json_true());
		json_object_set_new(rec, "void_reason", json_string("duplicate"));
	} else if (strcmp(how, "clear") == 0) {
		json_object_del(rec, "phone");
	} else if (strcmp(how, "idnum") == 0) { /* the persons row changes */
		char idnum[32];
		snprintf(idnum, sizeof(idnum), "F%08zu", i);
		json_object_set_new(rec, "id_number", json_string(idnum));
	} else if (strcmp(how, "list") == 0) { /* one item kept, one dropped, one added */
		json_object_set_new(rec, "conditions", json_pack("[s, s]", "b", "c"));
	} else {
		json_object_set_new(rec, "phone", json_string(how));
	}
	assert_int_equal(ledger_txn_put(&t, rec, false, NULL), 0);
	assert_int_equal(ledger_txn_commit(&t, &info, &commit), 0);
	ledger_txn_release(&t);
	json_decref(rec);
}

static void test_reindex_equals_catch_up_at_scale(void **state)
{
	struct fixture *f = *state;
	git_oid head, side, merge;
	git_reference *r = NULL;
	struct index_progress p;
	char *incremental, *rebuilt, *diff = NULL;
	bool same;
	size_t i;

	put_many(f, NULL, 0, 1500);
	assert_int_equal(index_catch_up(f->ix, f->l, &p), 0);
	assert_int_equal(p.changes, 1500);
	assert_int_equal(ledger_head(&head, f->l, OFFICE), 0);
	assert_int_equal(git_reference_create(&r, f->l->repo, "refs/heads/" SIDE, &head, 0, "t"),
			 0);
	git_reference_free(r);
	for (i = 0; i < 28; i++) {
		static const char *const how[] = {"void", "clear", "555", "idnum", "list", "556",
						  "idnum"};
		amend_one(f, NULL, i * 7, how[i % 7]);
	}
	assert_int_equal(index_catch_up(f->ix, f->l, &p), 0);
	assert_int_equal(p.commits, 28 + 2); /* and the new side branch: two commits */
	put_many(f, SIDE, 0, 700);
	amend_one(f, SIDE, 3, "777");
	amend_one(f, NULL, 3, "888");
	/* the office branch merges the side branch, keeping its own tree */
	assert_int_equal(ledger_head(&head, f->l, OFFICE), 0);
	assert_int_equal(ledger_head(&side, f->l, SIDE), 0);
	merge_keeping_ours(&merge, f, &head, &side);
	assert_int_equal(index_catch_up(f->ix, f->l, &p), 0);

	incremental = dump(f->ix);
	/* absolute, not only equal to a rebuild: the persons rows follow the id numbers */
	{
		const char *persons = strstr(incremental, "[persons]\n"),
			   *changes = strstr(incremental, "[changes]\n");
		size_t rows = 0;
		const char *q;

		assert_non_null(persons);
		assert_non_null(changes);
		for (q = persons; q && q < changes; q = strchr(q + 1, '\n'))
			rows++;
		/* one per record, each with a number: the office's 1,500, and the side's same
		 * 1,500 and 700 more (rows counted the title and its newline too) */
		assert_int_equal(rows - 2, 1500 + 1500 + 700);
		assert_non_null(strstr(persons, "'F00000021'|'other'|'" OFFICE "'|'P-" OFFICE
						"-M000021'"));
		q = strstr(persons, "'E00000021'|'other'|'" OFFICE "'");
		assert_true(q == NULL || q > changes);
		assert_non_null(strstr(persons, "'E00000022'|'other'|'" OFFICE "'"));
	}

	assert_int_equal(index_check(&same, &diff, f->ix, f->l), 0);
	assert_null(diff);
	assert_true(same);
	assert_int_equal(index_rebuild(f->ix, f->l, &p), 0);
	assert_int_equal(p.branches, 2);
	rebuilt = dump(f->ix);
	assert_string_equal(incremental, rebuilt);
	assert_non_null(strstr(rebuilt, "\"field\":\"void\",\"new\":true,\"old\":null"));
	assert_non_null(strstr(rebuilt, "\"field\":\"phone\",\"new\":null,\"old\":\"100\""));
	free(incremental);
	free(rebuilt);
}

/* A blob the walk cannot read: the catch-up fails with the walk's message, unchanged. */
static void test_walk_failure_reaches_the_caller(void **state)
{
	struct fixture *f = *state;
	git_object *tree = NULL;
	git_tree_entry *e = NULL;
	char path[600], spec[RECORD_PATH_MAX], hex[GIT_OID_HEXSZ + 1];
	char *before, *after;

	assert_int_equal(index_catch_up(f->ix, f->l, NULL), 0);
	before = dump(f->ix);
	put(f, NULL,
	    "{\"id\": \"" PID "\", \"type\": \"person\", \"name\": \"Han Mei\","
	    " \"id_number\": \"11010519491231002X\"}",
	    true, NULL);
	assert_int_equal(git_revparse_single(&tree, f->l->repo, "refs/heads/" OFFICE "^{tree}"), 0);
	assert_int_equal(record_path(spec, "person", PID), 0);
	assert_int_equal(git_tree_entry_bypath(&e, (git_tree *)tree, spec), 0);
	git_oid_tostr(hex, sizeof(hex), git_tree_entry_id(e));
	git_tree_entry_free(e);
	git_object_free(tree);
	snprintf(path, sizeof(path), "%s/objects/%.2s/%s", f->dir, hex, hex + 2);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(index_catch_up(f->ix, f->l, NULL), ERR_IO);
	assert_non_null(strstr(err_msg(), "cannot read record '" PID "'"));
	after = dump(f->ix);
	assert_string_equal(before, after);
	free(before);
	free(after);
}

/* The change-log text is what jansson writes for the same changes, byte for byte. */
static void test_change_text_matches_jansson(void **state)
{
	static const char *const pairs[][2] = {
	    {NULL, "{\"id\": \"P-1\", \"name\": \"Han \\\"Mei\\\" \\\\ \\u00e9\\u674e\", \"hlc\": "
		   "\"9\"}"},
	    {"{\"a\": 1, \"b\": [1, \"x\", {\"z\": 1, \"y\": null}], \"c\": true, \"hlc\": \"1\"}",
	     "{\"a\": 2, \"b\": [1, \"x\", {\"y\": null, \"z\": 1}], \"d\": false, \"hlc\": "
	     "\"2\"}"},
	    {"{\"t\": \"tab\\there\\u0001/\\u007f\", \"n\": -9007199254740993}",
	     "{\"t\": \"new\\nline\", \"n\": 0, \"\\u00e9k\\\"ey\": \"v\"}"},
	    {"{\"gone\": \"x\", \"hlc\": \"1\"}", NULL},
	    {"{\"same\": \"x\"}", "{\"same\": \"x\"}"},
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++) {
		json_t *old = pairs[i][0] ? json_loads(pairs[i][0], 0, NULL) : NULL;
		json_t *new = pairs[i][1] ? json_loads(pairs[i][1], 0, NULL) : NULL;
		json_t *empty = json_object(), *changes;
		struct buf text = BUF_INIT;
		char *want;

		assert_true(!pairs[i][0] || old);
		assert_true(!pairs[i][1] || new);
		changes = history_field_changes(old, new ? new : empty);
		want = json_dumps(changes, JSON_COMPACT | JSON_SORT_KEYS);
		assert_int_equal(history_field_changes_text(&text, old, new), 0);
		assert_string_equal(text.ptr, want);
		free(want);
		buf_release(&text);
		json_decref(changes);
		json_decref(empty);
		json_decref(old);
		json_decref(new);
	}
}

static void test_unchanged_catch_up_writes_nothing(void **state)
{
	struct fixture *f = *state;
	struct index_progress p;

	assert_int_equal(index_catch_up(f->ix, f->l, &p), 0);
	assert_int_equal(p.branches, 1); /* the first commit */
	assert_int_equal(index_catch_up(f->ix, f->l, &p), 0);
	assert_int_equal(p.branches + p.commits + p.changes + p.records, 0);
}

static void test_parse_time(void **state)
{
	int64_t t;

	(void)state;
	setenv("TZ", "UTC", 1);
	assert_int_equal(index_parse_time(&t, "2026-02-01T00:00:00Z", false), 0);
	assert_int_equal(t, 1769904000);
	assert_int_equal(index_parse_time(&t, "2026-02-01T08:00:00+08:00", false), 0);
	assert_int_equal(t, 1769904000);
	assert_int_equal(index_parse_time(&t, "2026-01-31T19:30-04:30", false), 0);
	assert_int_equal(t, 1769904000);
	assert_int_equal(index_parse_time(&t, "2026-02-01", false), 0);
	assert_int_equal(t, 1769904000);
	assert_int_equal(index_parse_time(&t, "2026-02-01", true), 0);
	assert_int_equal(t, 1769904000 + 86399);
	assert_int_equal(index_parse_time(&t, "2024-02-29", false), 0);
	assert_int_equal(index_parse_time(&t, "2026-02-29", false), ERR_INVALID);
	assert_non_null(strstr(err_msg(), "'2026-02-29' is not a date or time"));
	assert_int_equal(index_parse_time(&t, "2026-2-1", false), ERR_INVALID);
	assert_int_equal(index_parse_time(&t, "2026-02-01T25:00", false), ERR_INVALID);
	assert_int_equal(index_parse_time(&t, "2026-02-01T10:00+8", false), ERR_INVALID);
	assert_int_equal(index_parse_time(&t, "yesterday", false), ERR_INVALID);
}

static void test_cond_parse(void **state)
{
	struct index_cond c;
	char a[] = "name~Han", b[] = "monthly_amount<=5", d[] = "x>1", e[] = "name", g[] = "=x";

	(void)state;
	assert_int_equal(index_cond_parse(&c, a), 0);
	assert_string_equal(c.field, "name");
	assert_int_equal(c.op, INDEX_PREFIX);
	assert_string_equal(c.value, "Han");
	assert_int_equal(index_cond_parse(&c, b), 0);
	assert_int_equal(c.op, INDEX_LE);
	assert_string_equal(c.value, "5");
	assert_int_equal(index_cond_parse(&c, d), 0);
	assert_int_equal(c.op, INDEX_GT);
	assert_int_equal(index_cond_parse(&c, e), ERR_USAGE);
	assert_int_equal(index_cond_parse(&c, g), ERR_USAGE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_merge_catch_up_equals_rebuild, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_unchanged_catch_up_writes_nothing, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_reindex_equals_catch_up_at_scale, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_walk_failure_reaches_the_caller, setup, teardown),
	    cmocka_unit_test(test_change_text_matches_jansson),
	    cmocka_unit_test(test_parse_time),
	    cmocka_unit_test(test_cond_parse),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
