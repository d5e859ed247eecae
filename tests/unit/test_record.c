/*
 * Unit tests for record: canonical codec, ids, paths, clock stamps.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "err.h"
#include "record.h"

static const char canonical[] = "{\n"
				"  \"amount\": 120000,\n"
				"  \"id\": \"C-120112001001-0KZ3M9Q2WA7F1C\",\n"
				"  \"members\": [\n"
				"    \"P-120112001001-0KZ3M9Q2WA7F1D\",\n"
				"    \"P-120112001001-0KZ3M9Q2WA7F1E\"\n"
				"  ],\n"
				"  \"name\": \"韩女士 \\\"Han\\\"\",\n"
				"  \"type\": \"case\"\n"
				"}\n";

static void encode_sorts_keys_one_per_line(void **state)
{
	json_t *rec =
	    json_pack("{s:s, s:s, s:I, s:[s,s], s:s}", "type", "case", "name", "韩女士 \"Han\"",
		      "amount", (json_int_t)120000, "members", "P-120112001001-0KZ3M9Q2WA7F1D",
		      "P-120112001001-0KZ3M9Q2WA7F1E", "id", "C-120112001001-0KZ3M9Q2WA7F1C");
	struct buf b = BUF_INIT;

	assert_int_equal(record_encode(&b, rec), 0);
	assert_string_equal(b.ptr, canonical);
	json_decref(rec);
	buf_release(&b);
}

static void round_trip_is_byte_identical(void **state)
{
	json_t *rec = NULL;
	struct buf b = BUF_INIT;

	assert_int_equal(record_decode(&rec, canonical, strlen(canonical), true, "r"), 0);
	assert_int_equal(record_encode(&b, rec), 0);
	assert_int_equal(b.len, strlen(canonical));
	assert_memory_equal(b.ptr, canonical, b.len);
	assert_string_equal(json_string_value(json_object_get(rec, "name")), "韩女士 \"Han\"");
	json_decref(rec);
	buf_release(&b);
}

static void same_content_same_bytes_whatever_the_order(void **state)
{
	const char *a = "{\"b\": 1, \"a\": [1, 2], \"c\": {\"y\": 1, \"x\": 2}}";
	const char *b = "{\"c\": {\"x\": 2, \"y\": 1}, \"a\": [1,2], \"b\": 1}";
	struct buf ea = BUF_INIT, eb = BUF_INIT;
	json_t *ra, *rb;

	assert_int_equal(record_decode(&ra, a, strlen(a), false, "a"), 0);
	assert_int_equal(record_decode(&rb, b, strlen(b), false, "b"), 0);
	assert_int_equal(record_encode(&ea, ra), 0);
	assert_int_equal(record_encode(&eb, rb), 0);
	assert_string_equal(ea.ptr, eb.ptr);
	json_decref(ra);
	json_decref(rb);
	buf_release(&ea);
	buf_release(&eb);
}

static void strict_decode_rejects_non_canonical(void **state)
{
	const char *compact = "{\"a\":1}";
	const char *unsorted = "{\n  \"b\": 1,\n  \"a\": 2\n}\n";
	const char *no_newline = "{\n  \"a\": 1\n}";
	json_t *rec = NULL;

	assert_int_equal(record_decode(&rec, compact, strlen(compact), true, "blob x"),
			 ERR_INVALID);
	assert_non_null(strstr(err_msg(), "blob x"));
	assert_non_null(strstr(err_msg(), "canonical"));
	assert_int_equal(record_decode(&rec, unsorted, strlen(unsorted), true, "r"), ERR_INVALID);
	assert_int_equal(record_decode(&rec, no_newline, strlen(no_newline), true, "r"),
			 ERR_INVALID);
	assert_null(rec);
	/* lenient decoding accepts them */
	assert_int_equal(record_decode(&rec, compact, strlen(compact), false, "r"), 0);
	json_decref(rec);
}

static void decode_rejects_bad_input(void **state)
{
	static const char *bad[] = {
	    "",
	    "[1,2]",
	    "\"text\"",
	    "{\"a\": 1",
	    "{\"a\": 1, \"a\": 2}",
	    "{\"a\": 1.5}",
	    "{\"a\": [1, {\"b\": 2.0}]}",
	    "{\"a\": tru}",
	    "{} {}",
	};
	json_t *rec = NULL;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(record_decode(&rec, bad[i], strlen(bad[i]), false, "rec"),
				 ERR_INVALID);
		assert_null(rec);
		assert_non_null(strstr(err_msg(), "rec"));
	}
	/* an embedded NUL */
	assert_int_equal(record_decode(&rec, "{\"a\":\0 1}", 9, false, "rec"), ERR_INVALID);
	assert_non_null(strstr(err_msg(), "NUL"));
}

static void decode_rejects_oversized(void **state)
{
	size_t n = RECORD_MAX_BYTES + 1;
	char *big = malloc(n);
	json_t *rec = NULL;

	assert_non_null(big);
	memset(big, ' ', n);
	assert_int_equal(record_decode(&rec, big, n, false, "big"), ERR_INVALID);
	assert_non_null(strstr(err_msg(), "limit"));
	free(big);
}

static void ids(void **state)
{
	char id[RECORD_ID_MAX], id2[RECORD_ID_MAX], office[13];

	assert_int_equal(record_id_new(id, "C", "120112001001"), 0);
	assert_int_equal(record_id_check(id), 0);
	assert_int_equal(strncmp(id, "C-120112001001-", 15), 0);
	assert_int_equal(strlen(id), 15 + RECORD_ID_SUFFIX_LEN);
	record_id_office(office, id);
	assert_string_equal(office, "120112001001");
	assert_int_equal(record_id_new(id2, "C", "120112001001"), 0);
	assert_string_not_equal(id, id2);
	/* a burst in one millisecond never repeats, and keeps the order it was made in */
	for (int i = 0; i < 20000; i++) {
		assert_int_equal(record_id_new(id, "C", "120112001001"), 0);
		assert_true(strcmp(id2, id) < 0);
		memcpy(id2, id, sizeof(id));
	}

	assert_int_equal(record_id_check("P-120112-ABC123"), 0);
	assert_int_equal(record_id_check("p-120112-ABC"), ERR_INVALID);
	assert_int_equal(record_id_check("C-12011-ABC"), ERR_INVALID);	 /* 5 digits */
	assert_int_equal(record_id_check("C-120112-abc"), ERR_INVALID);	 /* lower case */
	assert_int_equal(record_id_check("C-120112-../x"), ERR_INVALID); /* path */
	assert_int_equal(record_id_check("C-120112-"), ERR_INVALID);	 /* empty suffix */
	assert_int_equal(record_id_check("ABCD-120112-X"), ERR_INVALID); /* long prefix */
	assert_int_equal(record_id_check("C-120112-X/Y"), ERR_INVALID);
	assert_non_null(strstr(err_msg(), "C-120112-X/Y"));
}

static void paths_are_sharded_and_stable(void **state)
{
	char p[RECORD_PATH_MAX];

	assert_int_equal(record_path(p, "case", "C-120112001001-0KZ3M9Q2WA7F1C"), 0);
	/* The layout is part of the on-disk format: this must never change. */
	assert_string_equal(p, "case/b5/c7/C-120112001001-0KZ3M9Q2WA7F1C.json");
	assert_int_equal(strlen(p), strlen("case/xx/yy/") + 29 + 5);
}

static void hlc(void **state)
{
	struct hlc a, b, c, parsed;
	char text[HLC_TEXT_MAX];

	hlc_next(&a, NULL, 1000, "120112001001");
	assert_int_equal(a.ms, 1000);
	assert_int_equal(a.counter, 0);
	hlc_next(&b, &a, 900, "120112001001"); /* the wall clock went back */
	assert_int_equal(b.ms, 1000);
	assert_int_equal(b.counter, 1);
	assert_true(hlc_cmp(&a, &b) < 0);
	hlc_next(&c, &b, 2000, "120112");
	assert_true(hlc_cmp(&b, &c) < 0);
	hlc_format(text, &b);
	assert_string_equal(text, "0000000001000.00001-120112001001");
	assert_int_equal(hlc_parse(&parsed, text), 0);
	assert_int_equal(hlc_cmp(&parsed, &b), 0);
	/* the office breaks ties */
	hlc_next(&a, NULL, 5, "120112001001");
	hlc_next(&b, NULL, 5, "120112001002");
	assert_true(hlc_cmp(&a, &b) < 0);
	assert_int_equal(hlc_parse(&parsed, "12.3-120112"), 0);
	assert_int_equal(hlc_parse(&parsed, "x"), ERR_INVALID);
	assert_int_equal(hlc_parse(&parsed, "0000000001000.00001-1201"), 0);
	assert_int_equal(hlc_parse(&parsed, "0000000001000.00001-12011"), ERR_INVALID);
	assert_int_equal(hlc_parse(&parsed, "0000000001000.00001-120112001001junk"), ERR_INVALID);
	/* digits only: sscanf's %llu took these ("-1" read as 2^64 - 1, found by fuzzing) */
	assert_int_equal(hlc_parse(&parsed, "-1.00000-1201"), ERR_INVALID);
	assert_int_equal(hlc_parse(&parsed, " 12.3-1201"), ERR_INVALID);
	assert_int_equal(hlc_parse(&parsed, "+12.3-1201"), ERR_INVALID);
	assert_int_equal(hlc_parse(&parsed, "12.-3-1201"), ERR_INVALID);
	assert_int_equal(hlc_parse(&parsed, "12.3-+1201"), ERR_INVALID);
	assert_int_equal(hlc_parse(&parsed, "12.3-"), ERR_INVALID);
	/* the counter never outgrows its five digits */
	a.counter = 99999;
	hlc_next(&b, &a, 0, "12");
	assert_int_equal(b.ms, a.ms + 1);
	assert_int_equal(b.counter, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(encode_sorts_keys_one_per_line),
	    cmocka_unit_test(round_trip_is_byte_identical),
	    cmocka_unit_test(same_content_same_bytes_whatever_the_order),
	    cmocka_unit_test(strict_decode_rejects_non_canonical),
	    cmocka_unit_test(decode_rejects_bad_input),
	    cmocka_unit_test(decode_rejects_oversized),
	    cmocka_unit_test(ids),
	    cmocka_unit_test(paths_are_sharded_and_stable),
	    cmocka_unit_test(hlc),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
