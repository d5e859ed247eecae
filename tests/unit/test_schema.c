/*
 * test_schema: the default schema (etc/schema/social-assistance.ini) parses, and every
 * rule of schema_validate, schema_value_parse and the schema file checks holds, with the
 * exact error code and a message that names what is wrong.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "err.h"
#include "schema.h"

static struct schema *S; /* the default schema, loaded once */

static const char *const CASE = "{\"id\": \"C-120112001001-1A\", \"type\": \"case\", "
				"\"subject\": \"P-120112001001-1\", \"programme\": \"temporary\", "
				"\"status\": \"draft\"}";
static const char *const PERSON = "{\"id\": \"P-120112001001-1\", \"type\": \"person\", "
				  "\"name\": \"Wang Fang\", \"id_type\": \"resident-id\", "
				  "\"id_number\": \"11010519491231002X\"}";
static const char *const MEDICAL = "{\"id\": \"M-120112-7\", \"type\": \"medical\", "
				   "\"person\": \"P-120112001001-1\", \"hospital\": \"Jinnan\", "
				   "\"total\": 1000000, \"insured\": 600000, "
				   "\"self_paid\": 400000, \"assisted\": 320000}";
static const char *const HOUSEHOLD = "{\"id\": \"H-120112001001-2\", \"type\": \"household\", "
				     "\"address\": \"1 Main St\", \"members\": "
				     "[\"P-120112001001-1\", \"P-120112001001-2\"]}";
static const char *const VISIT = "{\"id\": \"V-120112001001-3\", \"type\": \"visit\", "
				 "\"date\": \"2024-02-29\", \"worker\": \"Li\", "
				 "\"kind\": \"home\", \"follow_up\": \"2024-03-15\"}";

/* --- helpers -------------------------------------------------------------------------- */

static json_t *J(const char *text)
{
	json_error_t e;
	json_t *v = json_loads(text, JSON_DECODE_ANY, &e);

	if (!v)
		fail_msg("bad JSON in test: %s: %s", e.text, text);
	return v;
}

/* base with key set to the JSON value (NULL: key removed). */
static json_t *with(const char *base, const char *key, const char *value)
{
	json_t *r = J(base);

	if (value)
		json_object_set_new(r, key, J(value));
	else
		json_object_del(r, key);
	return r;
}

static void expect(int rc, int want, const char *needle)
{
	if (rc != want)
		fail_msg("got %d (%s), want %d; message: %s", rc, err_name(rc), want, err_msg());
	if (needle && !strstr(err_msg(), needle))
		fail_msg("message '%s' does not contain '%s'", err_msg(), needle);
}

/* Validate a new record (no old) made at a community office. */
static int check_new(json_t *rec)
{
	int rc = schema_validate(S, NULL, rec, LEVEL_COMMUNITY);

	json_decref(rec);
	return rc;
}

static int check_change(json_t *old, json_t *rec, enum office_level level)
{
	int rc = schema_validate(S, old, rec, level);

	json_decref(old);
	json_decref(rec);
	return rc;
}

static const struct schema_field *field(const char *type, const char *name)
{
	const struct schema_type *t = schema_type_find(S, type);
	const struct schema_field *f = t ? schema_field_find(t, name) : NULL;

	if (!f)
		fail_msg("no field %s.%s", type, name);
	return f;
}

/* schema_value_parse for type.name; *out gets the value (or NULL). */
static int vparse(json_t **out, const char *type, const char *name, const char *text)
{
	return schema_value_parse(out, schema_type_find(S, type), field(type, name), text);
}

static char *repeat(const char *unit, size_t n)
{
	size_t len = strlen(unit);
	char *s = malloc(len * n + 3);
	size_t i;

	assert_non_null(s);
	s[0] = '"';
	for (i = 0; i < n; i++)
		memcpy(s + 1 + i * len, unit, len);
	s[1 + n * len] = '"';
	s[2 + n * len] = '\0';
	return s;
}

static int parse_text(const char *text)
{
	struct schema *s = NULL;
	int rc = schema_parse(&s, text, strlen(text), "t.ini");

	if (rc == 0)
		assert_non_null(s);
	else
		assert_null(s);
	schema_free(s);
	return rc;
}

static int setup(void **state)
{
	const char *top = getenv("top_srcdir");
	char path[4096];

	(void)state;
	snprintf(path, sizeof(path), "%s/etc/schema/social-assistance.ini", top ? top : ".");
	if (schema_load_file(&S, path) < 0) {
		fprintf(stderr, "cannot load the default schema: %s\n", err_msg());
		return -1;
	}
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	schema_free(S);
	S = NULL;
	return 0;
}

/* --- the default schema --------------------------------------------------------------- */

static void test_default_schema(void **state)
{
	static const char *const types[][2] = {
	    {"household", "H"}, {"person", "P"}, {"case", "C"},
	    {"request", "R"},	{"visit", "V"},	 {"payment", "Y"},
	    {"medical", "M"},	{"health", "E"}, {"conflict", "X"},
	};
	const struct schema_type *t;
	size_t i, len;
	const char *text;

	(void)state;
	assert_string_equal(schema_name(S), "social-assistance");
	assert_int_equal(schema_version(S), 1);
	assert_int_equal(schema_ntypes(S), 9);
	for (i = 0; i < 9; i++) {
		t = schema_type_at(S, i);
		assert_non_null(t);
		assert_string_equal(t->name, types[i][0]);
		assert_string_equal(t->prefix, types[i][1]);
		assert_ptr_equal(schema_type_find(S, types[i][0]), t);
		assert_non_null(t->title);
	}
	assert_null(schema_type_at(S, 9));
	assert_null(schema_type_find(S, "nope"));
	assert_ptr_equal(schema_type_by_id(S, "C-120112001001-1"), schema_type_find(S, "case"));
	assert_null(schema_type_by_id(S, "CX-12-1"));
	assert_null(schema_type_by_id(S, "C"));
	assert_null(schema_type_by_id(S, "Z-12-1"));

	t = schema_type_find(S, "case");
	assert_string_equal(t->fields[0].name, "subject");
	assert_string_equal(t->fields[3].name, "status");
	assert_int_equal(field("case", "status")->merge, MERGE_WORKFLOW);
	assert_int_equal(
	    field("case", "status")->role[schema_value_index(field("case", "status"), "approved")],
	    LEVEL_DISTRICT);
	assert_int_equal(field("household", "members")->kind, FIELD_LIST);
	assert_int_equal(field("household", "members")->item, FIELD_REF);
	assert_string_equal(field("household", "members")->ref_type, "person");
	assert_int_equal(field("household", "members")->merge, MERGE_UNION);
	assert_int_equal(field("person", "id_number")->merge, MERGE_MANUAL);
	assert_true(field("person", "id_number")->search);
	assert_true(field("person", "id_number")->required);
	assert_string_equal(field("person", "id_number")->kind_field, "id_type");
	assert_string_equal(field("person", "id_type")->def, "resident-id");
	assert_int_equal(schema_type_find(S, "medical")->nchecks, 4);
	assert_non_null(strstr(field("household", "relations")->doc, "spouse"));

	text = schema_text(S, &len);
	assert_int_equal(strlen(text), len);
	assert_non_null(strstr(text, "[type conflict]"));
}

static void test_valid_records(void **state)
{
	(void)state;
	expect(check_new(J(CASE)), 0, NULL);
	expect(check_new(J(PERSON)), 0, NULL);
	expect(check_new(J(MEDICAL)), 0, NULL);
	expect(check_new(J(HOUSEHOLD)), 0, NULL);
	expect(check_new(J(VISIT)), 0, NULL);
	expect(check_new(with(CASE, "hlc", "\"1700000000000.00001-120112001001\"")), 0, NULL);
}

/* --- kinds ---------------------------------------------------------------------------- */

static void test_text(void **state)
{
	char *s;

	(void)state;
	s = repeat("a", 100);
	expect(check_new(with(PERSON, "name", s)), 0, NULL);
	free(s);
	s = repeat("a", 101);
	expect(check_new(with(PERSON, "name", s)), ERR_INVALID, "field 'name' is too long");
	free(s);
	s = repeat("\xe7\x8e\x8b", 100); /* code points, not bytes */
	expect(check_new(with(PERSON, "name", s)), 0, NULL);
	free(s);
	s = repeat("\xe7\x8e\x8b", 101);
	expect(check_new(with(PERSON, "name", s)), ERR_INVALID, "(101 characters, at most 100)");
	free(s);
	s = repeat("a", 2001); /* no max: 2000 */
	expect(check_new(with(CASE, "reason", s)), ERR_INVALID, "field 'reason' is too long");
	free(s);
	/* one-line text: no line break (a fake field line under show); tab is fine */
	expect(check_new(with(CASE, "reason", "\"line one\\nline\\ttwo\"")), ERR_INVALID,
	       "field 'reason' is one line");
	expect(check_new(with(CASE, "reason", "\"one\\ttwo\"")), 0, NULL);
	expect(check_new(with(CASE, "reason", "\"a \\u202e b\"")), ERR_INVALID,
	       "bidirectional control");
	expect(check_new(with(CASE, "reason", "\"a \\u2066 b\"")), ERR_INVALID,
	       "bidirectional control");
	expect(check_new(with(CASE, "reason", "\"bell\\u0007\"")), ERR_INVALID,
	       "field 'reason' contains a control character");
	expect(check_new(with(CASE, "reason", "\"cr\\r\"")), ERR_INVALID, "'reason'");
	expect(check_new(with(CASE, "reason", "\"c1\\u0085\"")), ERR_INVALID, "'reason'");
	expect(check_new(with(CASE, "reason", "12")), ERR_INVALID, "field 'reason' wants text");
}

static void test_int(void **state)
{
	(void)state;
	expect(check_new(with(MEDICAL, "rate_percent", "100")), 0, NULL);
	expect(check_new(with(MEDICAL, "rate_percent", "0")), 0, NULL);
	expect(check_new(with(MEDICAL, "rate_percent", "101")), ERR_INVALID,
	       "field 'rate_percent' must be at most 100, got 101");
	expect(check_new(with(MEDICAL, "rate_percent", "-1")), ERR_INVALID,
	       "field 'rate_percent' must be at least 0");
	expect(check_new(with(MEDICAL, "rate_percent", "80.5")), ERR_INVALID,
	       "field 'rate_percent' wants an integer, got 80.5");
	expect(check_new(with(MEDICAL, "rate_percent", "\"80\"")), ERR_INVALID, "'rate_percent'");
}

static void test_money(void **state)
{
	(void)state;
	expect(check_new(with(CASE, "monthly_amount", "5000000")), 0, NULL);
	expect(check_new(with(CASE, "monthly_amount", "5000001")), ERR_INVALID,
	       "field 'monthly_amount' must be at most 5000000");
	expect(check_new(with(CASE, "monthly_amount", "-5")), ERR_INVALID, "'monthly_amount'");
	expect(check_new(with(CASE, "monthly_amount", "12.5")), ERR_INVALID,
	       "field 'monthly_amount' wants an integer amount in fen, got 12.5");
	expect(check_new(with(CASE, "monthly_amount", "\"100\"")), ERR_INVALID, "in fen");
	expect(check_new(with(MEDICAL, "advance", "2000001")), ERR_INVALID, "'advance'");
}

static void test_date(void **state)
{
	(void)state;
	expect(check_new(with(VISIT, "date", "\"2024-02-29\"")), 0, NULL);
	expect(check_new(with(VISIT, "date", "\"2000-02-29\"")), 0, NULL);
	expect(check_new(with(VISIT, "date", "\"2023-02-29\"")), ERR_INVALID,
	       "field 'date' wants a date YYYY-MM-DD, got '2023-02-29'");
	expect(check_new(with(VISIT, "date", "\"1900-02-29\"")), ERR_INVALID, "'1900-02-29'");
	expect(check_new(with(VISIT, "date", "\"2023-13-01\"")), ERR_INVALID, "'date'");
	expect(check_new(with(VISIT, "date", "\"2023-04-31\"")), ERR_INVALID, "'date'");
	expect(check_new(with(VISIT, "date", "\"2023-1-01\"")), ERR_INVALID, "'date'");
	expect(check_new(with(VISIT, "date", "\"2023-01-01T00\"")), ERR_INVALID, "'date'");
	expect(check_new(with(VISIT, "date", "20230101")), ERR_INVALID, "'date'");
}

static void test_enum(void **state)
{
	(void)state;
	expect(check_new(with(CASE, "programme", "\"special-fund\"")), 0, NULL);
	expect(check_new(with(CASE, "programme", "\"housing\"")), ERR_INVALID,
	       "field 'programme' wants one of 'minimum-living-guarantee', 'special-hardship'");
	expect(check_new(with(CASE, "programme", "\"Temporary\"")), ERR_INVALID, "'Temporary'");
	expect(check_new(with(CASE, "programme", "1")), ERR_INVALID, "'programme'");
}

static void test_bool(void **state)
{
	(void)state;
	expect(check_new(with(MEDICAL, "green_channel", "true")), 0, NULL);
	expect(check_new(with(MEDICAL, "green_channel", "false")), 0, NULL);
	expect(check_new(with(MEDICAL, "green_channel", "\"yes\"")), ERR_INVALID,
	       "field 'green_channel' wants true or false, got 'yes'");
	expect(check_new(with(MEDICAL, "green_channel", "1")), ERR_INVALID, "'green_channel'");
}

static void test_ref(void **state)
{
	(void)state;
	expect(check_new(with(CASE, "subject", "\"P-12-Z\"")), 0, NULL);
	expect(check_new(with(CASE, "subject", "\"H-120112001001-2\"")), ERR_INVALID,
	       "field 'subject' wants the id of a person (P-OFFICE-SUFFIX), got "
	       "'H-120112001001-2'");
	expect(check_new(with(CASE, "subject", "\"P-123-1\"")), ERR_INVALID, "'subject'");
	expect(check_new(with(CASE, "subject", "\"P-120112001001-abc\"")), ERR_INVALID,
	       "'subject'");
	expect(check_new(with(CASE, "subject", "\"P-120112001001-\"")), ERR_INVALID, "'subject'");
	expect(check_new(
		   with(CASE, "subject", "\"P-120112001001-123456789012345678901234567890123\"")),
	       ERR_INVALID, "'subject'");
	expect(
	    check_new(with(CASE, "subject", "\"P-120112001001-12345678901234567890123456789012\"")),
	    0, NULL);
	expect(check_new(with(CASE, "subject", "7")), ERR_INVALID, "'subject'");
}

static void test_id(void **state)
{
	(void)state;
	expect(check_new(with(CASE, "id", "\"C-123-1\"")), ERR_INVALID,
	       "field 'id' wants C-OFFICE-SUFFIX");
	expect(check_new(with(CASE, "id", "\"C-120112001001-\"")), ERR_INVALID, "'id'");
	expect(check_new(with(CASE, "id", "\"C-120112001001-ab\"")), ERR_INVALID, "'id'");
	expect(check_new(with(CASE, "id", "\"C-120112001001-1-2\"")), ERR_INVALID, "'id'");
	expect(check_new(with(CASE, "id", "\"C-12-1\"")), 0, NULL);
	expect(check_new(with(CASE, "id", "\"P-120112001001-1\"")), ERR_INVALID,
	       "case 'P-120112001001-1': field 'id' must start with 'C-'");
	expect(check_new(with(CASE, "id", "\"Q-120112001001-1\"")), ERR_INVALID,
	       "must start with 'C-'");
	expect(check_new(with(CASE, "id", "5")), ERR_INVALID, "field 'id' wants a string");
	expect(check_new(with(CASE, "id", NULL)), ERR_INVALID, "record has no 'id'");
}

static void test_type(void **state)
{
	(void)state;
	expect(check_new(with(CASE, "type", "\"person\"")), ERR_INVALID,
	       "person 'C-120112001001-1A': field 'id' must start with 'P-'");
	expect(check_new(with(CASE, "type", "\"nope\"")), ERR_INVALID, "unknown type 'nope'");
	expect(check_new(with(CASE, "type", NULL)), ERR_INVALID, "has no 'type'");
	expect(check_new(with(CASE, "type", "3")), ERR_INVALID, "field 'type' wants a string");
	expect(check_new(J("[1, 2]")), ERR_INVALID, "not a JSON object");
	expect(schema_validate(S, NULL, NULL, LEVEL_COMMUNITY), ERR_INVALID, "not a JSON object");
}

static void test_idnum(void **state)
{
	json_t *r;

	(void)state;
	expect(check_new(with(PERSON, "id_number", "\"11010519491231002X\"")), 0, NULL);
	expect(check_new(with(PERSON, "id_number", "\"110105194912310021\"")), ERR_INVALID,
	       "field 'id_number' wants an 18-character resident ID number");
	expect(check_new(with(PERSON, "id_number", "\"11010519491231002x\"")), ERR_INVALID,
	       "'id_number'");
	/* id_type absent: its default, resident-id, applies */
	r = with(PERSON, "id_type", NULL);
	json_object_set_new(r, "id_number", json_string("E12345678"));
	expect(check_new(r), ERR_INVALID, "'id_number'");
	r = with(PERSON, "id_type", "\"passport\"");
	json_object_set_new(r, "id_number", json_string("E12345678"));
	expect(check_new(r), 0, NULL);
	r = with(PERSON, "id_type", "\"passport\"");
	json_object_set_new(r, "id_number", json_string("E 1234/5678"));
	expect(check_new(r), ERR_INVALID, "field 'id_number' wants a document number");
	r = with(PERSON, "id_type", "\"other\"");
	json_object_set_new(r, "id_number",
			    json_string("12345678901234567890123456789012345678901"));
	expect(check_new(r), ERR_INVALID, "'id_number'");

	assert_true(schema_idnum_valid("11010519491231002X"));
	assert_true(schema_idnum_valid("120112200002291230")); /* 2000-02-29 */
	assert_true(schema_idnum_valid("12011220240101001X"));
	assert_false(schema_idnum_valid("110105194912310021"));	 /* check digit */
	assert_false(schema_idnum_valid("11010519491231002x"));	 /* lower-case x */
	assert_false(schema_idnum_valid("110105194902310026"));	 /* 1949-02-31 */
	assert_false(schema_idnum_valid("120112190002291234"));	 /* 1900-02-29 */
	assert_false(schema_idnum_valid("110105189912310023"));	 /* 1899 */
	assert_false(schema_idnum_valid("11010519491231002"));	 /* 17 characters */
	assert_false(schema_idnum_valid("11010519491231002X0")); /* 19 characters */
	assert_false(schema_idnum_valid("1101051949123100AX"));
	assert_false(schema_idnum_valid(""));
	assert_false(schema_idnum_valid(NULL));
}

static void test_list(void **state)
{
	json_t *r;
	char item[32];
	int i;

	(void)state;
	expect(check_new(with(HOUSEHOLD, "members", "[]")), 0, NULL);
	expect(
	    check_new(with(HOUSEHOLD, "members", "[\"P-120112001001-1\", \"P-120112001001-1\"]")),
	    ERR_INVALID, "field 'members' has 'P-120112001001-1' twice");
	expect(check_new(with(HOUSEHOLD, "members", "[\"P-120112001001-1\", 5]")), ERR_INVALID,
	       "field 'members' wants the id of a person");
	expect(check_new(with(HOUSEHOLD, "members", "[\"H-120112001001-1\"]")), ERR_INVALID,
	       "'members'");
	expect(check_new(with(HOUSEHOLD, "members", "\"P-120112001001-1\"")), ERR_INVALID,
	       "field 'members' wants a list");
	r = J(HOUSEHOLD);
	json_object_set_new(r, "members", json_array());
	for (i = 0; i < 51; i++) {
		snprintf(item, sizeof(item), "P-120112001001-%d", i);
		json_array_append_new(json_object_get(r, "members"), json_string(item));
	}
	expect(check_new(r), ERR_INVALID, "field 'members' has 51 items, at most 50 allowed");
	expect(check_new(with(PERSON, "conditions", "[\"diabetes\", \"asthma\"]")), 0, NULL);
	expect(check_new(with(PERSON, "conditions", "[\"diabetes\", \"\"]")), ERR_INVALID,
	       "'conditions'");
	expect(check_new(with(PERSON, "conditions", "[[\"a\"]]")), ERR_INVALID, "'conditions'");
}

/* --- record rules --------------------------------------------------------------------- */

static void test_unknown_and_null(void **state)
{
	(void)state;
	expect(check_new(with(CASE, "colour", "\"red\"")), ERR_INVALID,
	       "case 'C-120112001001-1A': unknown field 'colour'");
	expect(check_new(with(CASE, "reason", "null")), ERR_INVALID,
	       "case 'C-120112001001-1A': field 'reason' is null");
	expect(check_new(with(CASE, "hlc", "null")), ERR_INVALID, "field 'hlc' is null");
	expect(check_new(with(CASE, "programme", NULL)), ERR_INVALID,
	       "case 'C-120112001001-1A': field 'programme' is required");
	expect(check_new(with(PERSON, "id_number", NULL)), ERR_INVALID,
	       "field 'id_number' is required");
}

static void test_hlc(void **state)
{
	char *s;

	(void)state;
	expect(check_new(with(CASE, "hlc", "\"\"")), ERR_INVALID, "field 'hlc'");
	expect(check_new(with(CASE, "hlc", "12")), ERR_INVALID, "field 'hlc'");
	s = repeat("1", 65);
	expect(check_new(with(CASE, "hlc", s)), ERR_INVALID, "field 'hlc'");
	free(s);
	s = repeat("1", 64);
	expect(check_new(with(CASE, "hlc", s)), 0, NULL);
	free(s);
}

static void test_checks(void **state)
{
	(void)state;
	expect(check_new(with(MEDICAL, "assisted", "500000")), ERR_INVALID,
	       "medical 'M-120112-7': field 'assisted' (500000) must be <= field 'self_paid' "
	       "(400000)");
	expect(check_new(with(MEDICAL, "assisted", "400000")), 0, NULL);
	expect(check_new(with(MEDICAL, "insured", "1000001")), ERR_INVALID,
	       "field 'insured' (1000001) must be <= field 'total' (1000000)");
	expect(check_new(with(MEDICAL, "advance", "1000001")), ERR_INVALID, "'advance'");
	/* a check applies only when both fields are there */
	expect(check_new(with(MEDICAL, "self_paid", NULL)), 0, NULL);
}

static void test_transitions(void **state)
{
	(void)state;
	expect(check_change(J(CASE), with(CASE, "status", "\"applied\""), LEVEL_COMMUNITY), 0,
	       NULL);
	expect(check_change(J(CASE), with(CASE, "status", "\"active\""), LEVEL_CITY), ERR_INVALID,
	       "case 'C-120112001001-1A': field 'status' cannot go from 'draft' to 'active' "
	       "(from 'draft' it may go to 'applied')");
	expect(check_change(with(CASE, "status", "\"applied\""), with(CASE, "status", "\"draft\""),
			    LEVEL_CITY),
	       ERR_INVALID, "(from 'applied' it may go to 'reviewed', 'rejected')");
	expect(check_change(with(CASE, "status", "\"closed\""), with(CASE, "status", "\"active\""),
			    LEVEL_CITY),
	       ERR_INVALID, "(from 'closed' it cannot change)");
	expect(check_change(with(CASE, "status", "\"active\""),
			    with(CASE, "status", "\"suspended\""), LEVEL_COMMUNITY),
	       0, NULL);
	/* unchanged status: nothing to check, even where the role would deny it */
	expect(check_change(with(CASE, "status", "\"approved\""),
			    with(CASE, "status", "\"approved\""), LEVEL_COMMUNITY),
	       0, NULL);
	expect(check_change(J(CASE), with(CASE, "status", NULL), LEVEL_CITY), ERR_INVALID,
	       "field 'status' is required");
	expect(check_change(with(CASE, "id", "\"C-12-2\""), J(CASE), LEVEL_CITY), ERR_INVALID,
	       "field 'id' cannot change");
}

static void test_initial(void **state)
{
	(void)state;
	expect(check_new(with(CASE, "status", "\"applied\"")), 0, NULL);
	expect(check_new(with(CASE, "status", "\"active\"")), ERR_INVALID,
	       "case 'C-120112001001-1A': field 'status' cannot be created as 'active' (it may "
	       "start as 'draft', 'applied')");
	expect(check_change(NULL, with(CASE, "status", "\"approved\""), LEVEL_CITY), ERR_INVALID,
	       "cannot be created as 'approved'");
}

static void test_roles(void **state)
{
	const char *reviewed = "\"reviewed\"", *approved = "\"approved\"";

	(void)state;
	expect(check_change(with(CASE, "status", "\"applied\""), with(CASE, "status", reviewed),
			    LEVEL_COMMUNITY),
	       ERR_DENIED,
	       "field 'status' cannot go from 'applied' to 'reviewed' (needs a street "
	       "office)");
	expect(check_change(with(CASE, "status", "\"applied\""), with(CASE, "status", reviewed),
			    LEVEL_STREET),
	       0, NULL);
	expect(check_change(with(CASE, "status", reviewed), with(CASE, "status", approved),
			    LEVEL_COMMUNITY),
	       ERR_DENIED,
	       "case 'C-120112001001-1A': field 'status' cannot go from 'reviewed' to 'approved' "
	       "(needs a district office)");
	expect(check_change(with(CASE, "status", reviewed), with(CASE, "status", approved),
			    LEVEL_STREET),
	       ERR_DENIED, "(needs a district office)");
	expect(check_change(with(CASE, "status", reviewed), with(CASE, "status", approved),
			    LEVEL_DISTRICT),
	       0, NULL);
	expect(check_change(with(CASE, "status", reviewed), with(CASE, "status", approved),
			    LEVEL_CITY),
	       0, NULL);
	expect(check_change(with(CASE, "status", reviewed), with(CASE, "status", "\"rejected\""),
			    LEVEL_STREET),
	       ERR_DENIED, "to 'rejected' (needs a district office)");
	/* an invalid transition is reported before the role */
	expect(check_change(J(CASE), with(CASE, "status", approved), LEVEL_COMMUNITY), ERR_INVALID,
	       "cannot go from 'draft' to 'approved'");
	expect(check_change(with(CASE, "status", "\"active\""), with(CASE, "status", "\"closed\""),
			    LEVEL_COMMUNITY),
	       0, NULL);
}

static void test_roles_create_and_lists(void **state)
{
	static const char text[] = "[schema]\nname = t\nversion = 1\n"
				   "[type job]\nprefix = J\n"
				   "[job.state]\ntype = enum\nvalues = a b c\nrole.c = district\n"
				   "[job.tags]\ntype = list\nitem = enum\nvalues = x y z\n"
				   "role.z = city\nmerge = union\n";
	struct schema *s = NULL;
	json_t *old, *rec;

	(void)state;
	expect(schema_parse(&s, text, strlen(text), "t.ini"), 0, NULL);
	rec = J("{\"id\": \"J-12-1\", \"type\": \"job\", \"state\": \"c\"}");
	expect(schema_validate(s, NULL, rec, LEVEL_STREET), ERR_DENIED,
	       "job 'J-12-1': field 'state' cannot be created as 'c' (needs a district office)");
	expect(schema_validate(s, NULL, rec, LEVEL_DISTRICT), 0, NULL);
	old = J("{\"id\": \"J-12-1\", \"type\": \"job\"}");
	expect(schema_validate(s, old, rec, LEVEL_STREET), ERR_DENIED,
	       "field 'state' cannot be set to 'c'");
	json_decref(rec);
	rec = J("{\"id\": \"J-12-1\", \"type\": \"job\", \"tags\": [\"x\", \"z\"]}");
	expect(schema_validate(s, old, rec, LEVEL_DISTRICT), ERR_DENIED,
	       "field 'tags' cannot gain 'z' (needs a city office)");
	expect(schema_validate(s, NULL, rec, LEVEL_DISTRICT), ERR_DENIED,
	       "field 'tags' cannot be created with 'z'");
	expect(schema_validate(s, old, rec, LEVEL_CITY), 0, NULL);
	json_decref(old);
	/* z was there already: keeping it needs no authority */
	old = J("{\"id\": \"J-12-1\", \"type\": \"job\", \"tags\": [\"z\"]}");
	expect(schema_validate(s, old, rec, LEVEL_COMMUNITY), 0, NULL);
	json_decref(old);
	json_decref(rec);
	schema_free(s);
}

static void test_void(void **state)
{
	const char *reason = "\"entered twice\"";
	json_t *v;
	char *s;

	(void)state;
	expect(check_new(with(CASE, "void", "true")), ERR_INVALID,
	       "case 'C-120112001001-1A': field 'void_reason' is required");
	v = with(CASE, "void", "true");
	json_object_set_new(v, "void_reason", J(reason));
	expect(check_change(J(CASE), v, LEVEL_COMMUNITY), 0, NULL); /* voiding is a change */
	expect(check_new(with(CASE, "void_reason", reason)), ERR_INVALID,
	       "field 'void_reason' is set but the record is not void");
	expect(check_new(with(CASE, "void", "\"yes\"")), ERR_INVALID, "field 'void' wants true");
	expect(check_new(with(CASE, "void", "false")), 0, NULL);
	v = with(CASE, "void", "true");
	s = repeat("a", 501);
	json_object_set_new(v, "void_reason", J(s));
	free(s);
	expect(check_new(v), ERR_INVALID, "field 'void_reason' is too long");

	/* a void record cannot change */
	v = with(CASE, "void", "true");
	json_object_set_new(v, "void_reason", J(reason));
	expect(check_change(json_deep_copy(v), json_deep_copy(v), LEVEL_COMMUNITY), 0, NULL);
	expect(check_change(json_deep_copy(v), with(CASE, "status", "\"applied\""), LEVEL_CITY),
	       ERR_INVALID, "case 'C-120112001001-1A' is void and cannot be amended");
	json_object_set_new(v, "reason", json_string("late"));
	expect(check_change(json_deep_copy(v), json_deep_copy(v), LEVEL_CITY), 0, NULL);
	json_decref(v);
}

/* --- command-line values -------------------------------------------------------------- */

static void parses_to(const char *type, const char *name, const char *text, const char *json)
{
	json_t *v = NULL, *want = J(json);
	int rc = vparse(&v, type, name, text);

	if (rc < 0)
		fail_msg("%s.%s '%s': %s", type, name, text, err_msg());
	if (!json_equal(v, want))
		fail_msg("%s.%s '%s' did not give %s", type, name, text, json);
	json_decref(v);
	json_decref(want);
}

static void parse_fails(const char *type, const char *name, const char *text, const char *needle)
{
	json_t *v = (json_t *)1;

	expect(vparse(&v, type, name, text), ERR_INVALID, needle);
	assert_null(v);
}

static void test_value_parse(void **state)
{
	(void)state;
	parses_to("case", "reason", "no income", "\"no income\"");
	parses_to("case", "reason", "", "\"\"");
	parse_fails("person", "name", "a\x01", "field 'name' contains a control character");
	parse_fails("person", "name", "\xff\xfe", "field 'name' is not valid UTF-8");

	parses_to("medical", "rate_percent", "80", "80");
	parse_fails("medical", "rate_percent", "8x", "field 'rate_percent' wants an integer");
	parse_fails("medical", "rate_percent", "99999999999999999999",
		    "'rate_percent' wants an integer");
	parse_fails("medical", "rate_percent", "101", "must be at most 100");
	parse_fails("medical", "rate_percent", " 80", "'rate_percent'");

	parses_to("case", "monthly_amount", "123456", "123456");
	parse_fails("case", "monthly_amount", "12.5",
		    "case: field 'monthly_amount' wants an integer amount in fen, got "
		    "'12.5'");
	parse_fails("case", "monthly_amount", "5000001", "must be at most 5000000");
	parse_fails("case", "monthly_amount", "-1", "must be at least 0");
	parse_fails("case", "monthly_amount", "", "in fen");

	parses_to("medical", "green_channel", "yes", "true");
	parses_to("medical", "green_channel", "true", "true");
	parses_to("medical", "green_channel", "1", "true");
	parses_to("medical", "green_channel", "no", "false");
	parses_to("medical", "green_channel", "false", "false");
	parses_to("medical", "green_channel", "0", "false");
	parse_fails("medical", "green_channel", "maybe",
		    "field 'green_channel' wants yes, no, true, false, 1 or 0, got 'maybe'");

	parses_to("visit", "date", "2024-02-29", "\"2024-02-29\"");
	parse_fails("visit", "date", "2023-02-29", "field 'date' wants a date YYYY-MM-DD");

	parses_to("case", "status", "applied", "\"applied\"");
	parse_fails("case", "status", "done", "field 'status' wants one of 'draft'");

	parses_to("case", "subject", "P-120112001001-1", "\"P-120112001001-1\"");
	parse_fails("case", "subject", "P-1-1", "field 'subject' wants the id of a person");

	parses_to("person", "id_number", "E12345678", "\"E12345678\""); /* id_type decides */
	parse_fails("person", "id_number", "E 123", "'id_number'");

	parses_to("person", "conditions", "diabetes, asthma ,  gout",
		  "[\"diabetes\", \"asthma\", \"gout\"]");
	parses_to("person", "conditions", "", "[]");
	parses_to("person", "conditions", "diabetes", "[\"diabetes\"]");
	parse_fails("person", "conditions", "a,,b", "field 'conditions' has an empty item");
	parse_fails("person", "conditions", "a,", "empty item");
	parse_fails("person", "conditions", "a, a", "field 'conditions' has 'a' twice");
	parses_to("household", "members", "P-12-1,P-12-2", "[\"P-12-1\", \"P-12-2\"]");
	parse_fails("household", "members", "P-12-1,nobody", "field 'members' wants the id");
}

static void test_defaults(void **state)
{
	const struct schema_type *t = schema_type_find(S, "case");
	json_t *r = with(CASE, "status", NULL);

	(void)state;
	expect(schema_apply_defaults(t, r), 0, NULL);
	assert_string_equal(json_string_value(json_object_get(r, "status")), "draft");
	json_decref(r);
	r = with(CASE, "status", "\"applied\"");
	expect(schema_apply_defaults(t, r), 0, NULL);
	assert_string_equal(json_string_value(json_object_get(r, "status")), "applied");
	json_decref(r);
	r = with(PERSON, "id_type", NULL);
	expect(schema_apply_defaults(schema_type_find(S, "person"), r), 0, NULL);
	assert_string_equal(json_string_value(json_object_get(r, "id_type")), "resident-id");
	assert_string_equal(json_string_value(json_object_get(r, "category")), "none");
	assert_null(json_object_get(r, "sex"));
	json_decref(r);
}

static void test_rank_and_names(void **state)
{
	const struct schema_field *st = field("case", "status");

	(void)state;
	assert_int_equal(schema_rank(st, "draft"), 0);
	assert_int_equal(schema_rank(st, "approved"), 3);
	assert_int_equal(schema_rank(st, "rejected"), 3);
	assert_int_equal(schema_rank(st, "closed"), 6);
	assert_int_equal(schema_rank(st, "nope"), -1);
	assert_int_equal(schema_rank(field("person", "sex"), "male"), -1);
	assert_int_equal(schema_value_index(st, "draft"), 0);
	assert_int_equal(schema_value_index(st, "rejected"), 7);
	assert_int_equal(schema_value_index(st, "dra"), -1);
	assert_int_equal(schema_value_index(st, NULL), -1);
	assert_string_equal(schema_kind_name(FIELD_IDNUM), "idnum");
	assert_string_equal(schema_kind_name(FIELD_MONEY), "money");
	assert_string_equal(schema_merge_name(MERGE_UNION), "union");
	assert_string_equal(schema_merge_name(MERGE_MANUAL), "manual");
	assert_true(schema_is_reserved("void_reason"));
	assert_true(schema_is_reserved("id"));
	assert_false(schema_is_reserved("name"));
	assert_null(schema_reserved[5]);
	schema_free(NULL);
}

/* --- schema files --------------------------------------------------------------------- */

#define HEAD "[schema]\nname = t\nversion = 1\n[type thing]\nprefix = T\n"

static void test_schema_minimal(void **state)
{
	static const char text[] = HEAD "[thing.a]\ntype = enum\nvalues = one two\n"
					"  three four\n"
					"[thing.b]\ntype = int\n";
	struct schema *s = NULL;
	const struct schema_field *f;

	(void)state;
	expect(schema_parse(&s, text, strlen(text), "t.ini"), 0, NULL);
	f = schema_field_find(schema_type_find(s, "thing"), "a");
	assert_int_equal(f->nvalues, 4);
	assert_string_equal(f->values[2], "three");
	assert_int_equal(f->merge, MERGE_LWW);
	assert_null(f->rank);
	assert_null(f->trans);
	assert_non_null(f->role);
	schema_free(s);
}

static void test_schema_errors(void **state)
{
	static const struct {
		const char *text;
		const char *needle;
	} bad[] = {
	    {HEAD "[thing.a]\ntype = int\ncolour = red\n",
	     "t.ini:8: unknown key 'colour' in [thing.a]"},
	    {HEAD "[thing.a]\ntype = blob\n", "t.ini:7: unknown type 'blob' in [thing.a]"},
	    {HEAD "[thing.a]\ntype = list\nitem = list\n", "t.ini:8: item 'list'"},
	    {HEAD "[other.a]\ntype = int\n", "t.ini:7: [other.a] comes before [type other]"},
	    {HEAD "[thing.a]\nrequired = yes\n", "t.ini: [thing.a]: field has no 'type'"},
	    {HEAD "[thing.a]\ntype = int\nrequired = maybe\n", "t.ini:8: required 'maybe'"},
	    {HEAD "[thing.a]\ntype = int\nmin = x\n", "t.ini:8: min 'x' in [thing.a]"},
	    {HEAD "[thing.a]\ntype = int\nmin = 5\nmax = 1\n", "[thing.a]: min 5 is greater"},
	    {HEAD "[thing.a]\ntype = enum\n", "[thing.a]: an enum needs 'values'"},
	    {HEAD "[thing.a]\ntype = int\nvalues = a b\n", "[thing.a]: 'values' applies to enums"},
	    {HEAD "[thing.a]\ntype = enum\nvalues = a b a\n", "value 'a' is listed twice"},
	    {HEAD "[thing.a]\ntype = enum\nvalues = a B\n", "t.ini:8: bad values 'B'"},
	    {HEAD "[thing.a]\ntype = list\n", "[thing.a]: a list needs 'item'"},
	    {HEAD "[thing.a]\ntype = int\nitem = int\n", "'item' applies to lists only"},
	    {HEAD "[thing.a]\ntype = enum\nvalues = a b\ndefault = c\n",
	     "[thing.a]: bad default: thing: field 'a' wants one of 'a', 'b', got 'c'"},
	    {HEAD "[thing.a]\ntype = int\ndefault = 1.5\n", "[thing.a]: bad default"},
	    {HEAD "[thing.a]\ntype = date\ndefault = 2023-02-29\n", "[thing.a]: bad default"},
	    {HEAD "[thing.a]\ntype = enum\nvalues = a b\ntransitions = a>x\n",
	     "[thing.a]: transitions names 'x', which is not one of the values"},
	    {HEAD "[thing.a]\ntype = enum\nvalues = a b\ntransitions = a-b\n",
	     "t.ini:9: bad transitions 'a-b'"},
	    {HEAD "[thing.a]\ntype = enum\nvalues = a b\ntransitions = a>a\n", "goes nowhere"},
	    {HEAD "[thing.a]\ntype = enum\nvalues = a b\ninitial = c\n",
	     "[thing.a]: initial names 'c'"},
	    {HEAD "[thing.a]\ntype = enum\nvalues = a b\ninitial = a\ndefault = b\n",
	     "default 'b' is not one of the initial values"},
	    {HEAD "[thing.a]\ntype = enum\nvalues = a b\norder = a|c\n",
	     "[thing.a]: order names 'c'"},
	    {HEAD "[thing.a]\ntype = enum\nvalues = a b\norder = a a|b\n", "order names 'a' twice"},
	    {HEAD "[thing.a]\ntype = enum\nvalues = a b\nrole.c = city\n",
	     "[thing.a]: role.c names 'c'"},
	    {HEAD "[thing.a]\ntype = enum\nvalues = a b\nrole.a = village\n",
	     "t.ini:9: unknown level 'village' for role.a in [thing.a]"},
	    {HEAD "[thing.a]\ntype = int\nrole.a = city\n", "role rules apply to enum fields"},
	    {HEAD "[thing.a]\ntype = int\norder = a b\n", "apply to enums only"},
	    {HEAD "[thing.a]\ntype = ref\nref = nobody\n",
	     "[thing.a]: ref names unknown type 'nobody'"},
	    {HEAD "[thing.a]\ntype = ref\n", "[thing.a]: a ref needs 'ref'"},
	    {HEAD "[thing.a]\ntype = int\nref = thing\n", "'ref' applies to refs only"},
	    {HEAD "[thing.a]\ntype = idnum\nkind_field = b\n[thing.b]\ntype = text\n",
	     "[thing.a]: kind_field 'b' is not an enum field"},
	    {HEAD "[thing.a]\ntype = idnum\nkind_field = zz\n", "kind_field 'zz'"},
	    {HEAD "[thing.a]\ntype = text\nkind_field = b\n", "'kind_field' applies to idnum"},
	    {HEAD "[type other]\nprefix = T\n",
	     "t.ini:7: prefix 'T' in [type other] is already used by type 'thing'"},
	    {HEAD "[type other]\nprefix = t\n",
	     "t.ini:7: prefix 't' in [type other] is not 1 to 3"},
	    {HEAD "[type other]\nprefix = ABCD\n", "prefix 'ABCD'"},
	    {HEAD "[type other]\ntitle = Other\n", "t.ini: [type other]: type has no 'prefix'"},
	    {HEAD "check = a <= b\n[thing.a]\ntype = int\n",
	     "[type thing]: check 'a <= b' names unknown field 'b'"},
	    {HEAD "check = a <= b\n[thing.a]\ntype = int\n[thing.b]\ntype = text\n",
	     "[type thing]: check 'a <= b': field 'b' is not an int or money field"},
	    {HEAD "check = a != b\n", "t.ini:6: check 'a != b' in [type thing]: operator"},
	    {HEAD "check = a <=\n", "is not FIELD OP FIELD"},
	    {HEAD "[thing.a]\ntype = int\nmerge = union\n",
	     "[thing.a]: merge 'union' applies to lists"},
	    {HEAD "[thing.a]\ntype = enum\nvalues = a b\nmerge = workflow\n",
	     "[thing.a]: merge 'workflow' needs an enum with an 'order'"},
	    {HEAD "[thing.a]\ntype = text\nmerge = workflow\n", "merge 'workflow'"},
	    {HEAD "[thing.a]\ntype = text\nmerge = newest\n", "t.ini:8: unknown merge 'newest'"},
	    {HEAD "[thing.Colour]\ntype = text\n",
	     "t.ini:7: bad field name 'Colour' in [thing.Colour]"},
	    {HEAD "[thing.id]\ntype = text\n", "field name 'id' in [thing.id] is reserved"},
	    {HEAD "[thing.void_reason]\ntype = text\n", "is reserved"},
	    {"[schema]\nname = t\nversion = 1\n[type Thing]\nprefix = T\n",
	     "t.ini:5: bad type name 'Thing'"},
	    {HEAD "[thing.a]\ntype = int\ntype = text\n",
	     "t.ini:8: duplicate key 'type' in [thing.a]"},
	    {HEAD "[thing.a]\ntype = int\n[thing.b]\ntype = int\n[thing.a]\ntype = int\n",
	     "t.ini:10: duplicate section [thing.a]"},
	    {HEAD "[type thing]\nprefix = U\n", "t.ini:6: duplicate section [type thing]"},
	    {"name = t\n[schema]\n", "t.ini:1: key 'name' comes before any section"},
	    {HEAD "[foo]\nx = 1\n", "t.ini:7: unknown section [foo]"},
	    {HEAD "[thing.a]\ngarbage\n", "t.ini:7: cannot parse line"},
	    {HEAD "[thing.a\ntype = int\n", "t.ini:6: cannot parse line"},
	    {"[type thing]\nprefix = T\n[thing.a]\ntype = int\n",
	     "t.ini: [schema] needs a name and a version"},
	    {"[schema]\nname = t\n[type thing]\nprefix = T\n", "needs a name and a version"},
	    {"[schema]\nname = t\nversion = 0\n", "t.ini:3: version '0' in [schema]"},
	    {"[schema]\nname = t\nversion = 1\n", "t.ini: defines no [type NAME]"},
	    {"[schema]\nname = t\nversion = 1\ncolour = red\n",
	     "t.ini:4: unknown key 'colour' in [schema]"},
	    {HEAD "[thing.abcdefghijklmnopqrstuvwxyz_abcdefghijklmnopqrstuvwxyz]\ntype = int\n",
	     "is too long (at most 48 characters)"},
	};
	struct schema *s = NULL;
	char *long_line;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int rc = parse_text(bad[i].text);

		if (rc != ERR_INVALID || !strstr(err_msg(), bad[i].needle))
			fail_msg("case %zu: got %d '%s', want '%s'", i, rc, err_msg(),
				 bad[i].needle);
	}

	long_line = malloc(400);
	assert_non_null(long_line);
	snprintf(long_line, 400, HEAD "[thing.a]\ntype = text\ndoc = %0250d\n", 0);
	expect(parse_text(long_line), ERR_INVALID, "t.ini:8: line is longer than 197 characters");
	free(long_line);
	expect(schema_parse(&s, "[schema]\0x", 10, "t.ini"), ERR_INVALID,
	       "t.ini: contains a NUL byte");
	assert_null(s);
}

static void test_load_file(void **state)
{
	struct schema *s = (struct schema *)1;

	(void)state;
	expect(schema_load_file(&s, "/nonexistent/schema.ini"), ERR_NOTFOUND,
	       "'/nonexistent/schema.ini'");
	assert_null(s);
}

/* schema_check: structure only. Transitions and role rules are not its business. */
static void test_schema_check(void **state)
{
	json_t *r;

	r = J(CASE);
	expect(schema_check(S, r), 0, NULL);
	json_decref(r);
	/* approved by a community: schema_validate refuses it, schema_check does not */
	r = with(CASE, "status", "\"approved\"");
	expect(schema_validate(S, NULL, r, LEVEL_COMMUNITY), ERR_INVALID, NULL);
	expect(schema_check(S, r), 0, NULL);
	json_decref(r);
	r = with(CASE, "status", "\"pending\"");
	expect(schema_check(S, r), ERR_INVALID, "field 'status' wants one of");
	json_decref(r);
	r = with(CASE, "subject", NULL);
	expect(schema_check(S, r), ERR_INVALID, "field 'subject' is required");
	json_decref(r);
	r = with(CASE, "colour", "\"red\"");
	expect(schema_check(S, r), ERR_INVALID, "unknown field 'colour'");
	json_decref(r);
	r = with(MEDICAL, "assisted", "500000");
	expect(schema_check(S, r), ERR_INVALID,
	       "field 'assisted' (500000) must be <= field 'self_paid'");
	json_decref(r);
	r = with(CASE, "void", "true");
	expect(schema_check(S, r), ERR_INVALID, "'void_reason' is required");
	json_decref(r);
	r = with(CASE, "id", "\"P-120112001001-1\"");
	expect(schema_check(S, r), ERR_INVALID, "must start with 'C-'");
	json_decref(r);
	r = with(HOUSEHOLD, "members", "[\"P-120112001001-1\", \"P-120112001001-1\"]");
	expect(schema_check(S, r), ERR_INVALID, "twice");
	json_decref(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_default_schema),
	    cmocka_unit_test(test_valid_records),
	    cmocka_unit_test(test_text),
	    cmocka_unit_test(test_int),
	    cmocka_unit_test(test_money),
	    cmocka_unit_test(test_date),
	    cmocka_unit_test(test_enum),
	    cmocka_unit_test(test_bool),
	    cmocka_unit_test(test_ref),
	    cmocka_unit_test(test_id),
	    cmocka_unit_test(test_type),
	    cmocka_unit_test(test_idnum),
	    cmocka_unit_test(test_list),
	    cmocka_unit_test(test_unknown_and_null),
	    cmocka_unit_test(test_hlc),
	    cmocka_unit_test(test_checks),
	    cmocka_unit_test(test_transitions),
	    cmocka_unit_test(test_initial),
	    cmocka_unit_test(test_roles),
	    cmocka_unit_test(test_roles_create_and_lists),
	    cmocka_unit_test(test_void),
	    cmocka_unit_test(test_value_parse),
	    cmocka_unit_test(test_defaults),
	    cmocka_unit_test(test_rank_and_names),
	    cmocka_unit_test(test_schema_minimal),
	    cmocka_unit_test(test_schema_errors),
	    cmocka_unit_test(test_load_file),
	    cmocka_unit_test(test_schema_check),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
