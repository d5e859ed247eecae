/*
 * schema: the record types of a ledger, read from an INI file, and the checks every
 * record passes before it enters a ledger (schema_validate).
 *
 * This module owns struct schema (the types, their fields, the source text) and every
 * string and array hanging off it; all of it is freed by schema_free. Parsing runs in
 * two steps: inih calls on_key for each key, which checks the key on its own (known key,
 * well-formed value) and remembers what was written; resolve() then checks everything
 * that involves more than one key (values named by order, transitions, initial and
 * role.X; ref targets; kind_field; checks; defaults; merge rules).
 *
 * File format (etc/schema/social-assistance.ini is the annotated reference):
 *
 *   [schema]           name = TEXT, version = N (both required)
 *   [type NAME]        prefix = 1-3 upper-case letters, unique (ids are PREFIX-OFFICE-SUFFIX)
 *                      title = TEXT, doc = TEXT, check = FIELD OP FIELD (repeatable;
 *                      OP one of <= < >= > ==; both fields int or money)
 *   [NAME.FIELD]       the keys listed in schema.h; the [type NAME] section must come first
 *
 * Names: types and fields [a-z][a-z0-9_]* (at most 32 characters; fields not one of
 * schema_reserved), enum values [a-z0-9][a-z0-9_-]* (at most 40). Field order is the
 * order of the sections. The keys doc, values, order, transitions and initial may be
 * continued on indented lines (or repeated): the pieces are joined with a space. Every
 * other key may appear once per section, except check. Lines are limited to 197
 * characters and section names to 48 (inih's buffers); a ';' after white space starts a
 * comment, except on a continuation line.
 */
#include "config.h"

#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ini.h>

#include "buf.h"
#include "err.h"
#include "record.h"
#include "schema.h"

#define NAME_MAX_LEN	 32 /* type and field names */
#define VALUE_MAX_LEN	 40 /* enum values (so role.VALUE fits inih's key buffer) */
#define SECTION_MAX_LEN	 48 /* inih cuts section names at 49 characters */
#define LINE_MAX_LEN	 (INI_MAX_LINE - 3)
#define TEXT_MAX_DEFAULT 2000
#define SUFFIX_MAX_LEN	 32
#define DOCNUM_MAX_LEN	 40 /* identity documents other than resident IDs */
#define SCHEMA_FILE_MAX	 (4 << 20)
#define SHOW_MAX	 80 /* a value as quoted in a message */
#define NO_INDEX	 SIZE_MAX

struct schema {
	char *name;
	int version;
	struct schema_type *types; /* in the order of their [type] sections */
	size_t ntypes;
	char *text; /* the source, NUL-terminated */
	size_t len; /* its length without the NUL */
};

const char *const schema_reserved[] = {"id", "type", "hlc", "void", "void_reason", NULL};

static const char *const kind_names[] = {
    [FIELD_TEXT] = "text", [FIELD_INT] = "int",	  [FIELD_MONEY] = "money",
    [FIELD_DATE] = "date", [FIELD_ENUM] = "enum", [FIELD_BOOL] = "bool",
    [FIELD_REF] = "ref",   [FIELD_LIST] = "list", [FIELD_IDNUM] = "idnum",
};

static const char *const merge_names[] = {
    [MERGE_LWW] = "lww",     [MERGE_AUTHORITY] = "authority", [MERGE_WORKFLOW] = "workflow",
    [MERGE_UNION] = "union", [MERGE_MANUAL] = "manual",
};

static const char *const check_ops[] = {"<=", "<", ">=", ">", "==", NULL};

/* Pseudo-fields for the reserved keys that carry values, checked like fields. */
static const struct schema_field hlc_field = {
    .name = "hlc", .kind = FIELD_TEXT, .has_min = true, .min = 1, .has_max = true, .max = 64};
static const struct schema_field void_field = {.name = "void", .kind = FIELD_BOOL};
static const struct schema_field void_reason_field = {.name = "void_reason",
						      .kind = FIELD_TEXT,
						      .has_min = true,
						      .min = 1,
						      .has_max = true,
						      .max = 500};

/* --- small helpers -------------------------------------------------------------------- */

static bool is_lower(int c)
{
	return c >= 'a' && c <= 'z';
}

static bool is_digit(int c)
{
	return c >= '0' && c <= '9';
}

static bool is_upper(int c)
{
	return c >= 'A' && c <= 'Z';
}

/* A type or field name: [a-z][a-z0-9_]*, at most NAME_MAX_LEN characters. */
static bool is_name(const char *s)
{
	size_t n;

	if (!is_lower(s[0]))
		return false;
	for (n = 1; is_lower(s[n]) || is_digit(s[n]) || s[n] == '_'; n++)
		;
	return s[n] == '\0' && n <= NAME_MAX_LEN;
}

/* An enum value of n bytes: [a-z0-9][a-z0-9_-]*, at most VALUE_MAX_LEN characters. */
static bool is_value_name(const char *s, size_t n)
{
	size_t i;

	if (n == 0 || n > VALUE_MAX_LEN || !(is_lower(s[0]) || is_digit(s[0])))
		return false;
	for (i = 1; i < n; i++)
		if (!is_lower(s[i]) && !is_digit(s[i]) && s[i] != '_' && s[i] != '-')
			return false;
	return true;
}

static bool is_prefix(const char *s)
{
	size_t n;

	for (n = 0; is_upper(s[n]); n++)
		;
	return s[n] == '\0' && n >= 1 && n <= 3;
}

/* Decimal integer with an optional '-', nothing else; false on overflow. */
static bool parse_ll(const char *s, long long *out)
{
	char *end;
	const char *p = s[0] == '-' ? s + 1 : s;

	if (!is_digit(*p))
		return false;
	errno = 0;
	*out = strtoll(s, &end, 10);
	return errno == 0 && *end == '\0';
}

static bool parse_bool(const char *s, bool *out)
{
	static const char *const yes[] = {"yes", "true", "1"}, *const no[] = {"no", "false", "0"};
	size_t i;

	for (i = 0; i < 3; i++) {
		if (strcmp(s, yes[i]) == 0 || strcmp(s, no[i]) == 0) {
			*out = strcmp(s, yes[i]) == 0;
			return true;
		}
	}
	return false;
}

static bool parse_kind(const char *s, enum field_kind *out)
{
	size_t i;

	for (i = 0; i < sizeof(kind_names) / sizeof(kind_names[0]); i++) {
		if (strcmp(s, kind_names[i]) == 0) {
			*out = (enum field_kind)i;
			return true;
		}
	}
	return false;
}

static bool parse_merge(const char *s, enum merge_rule *out)
{
	size_t i;

	for (i = 0; i < sizeof(merge_names) / sizeof(merge_names[0]); i++) {
		if (strcmp(s, merge_names[i]) == 0) {
			*out = (enum merge_rule)i;
			return true;
		}
	}
	return false;
}

/* The next token of *sp separated by white space (and seps); NULL at the end. */
static const char *token(const char **sp, size_t *len, const char *seps)
{
	const char *s = *sp + strspn(*sp, seps);
	size_t n = strcspn(s, seps);

	*sp = s + n;
	*len = n;
	return n ? s : NULL;
}

static bool leap_year(long y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* n digits at s as a number, or -1 when one is not a digit. */
static long digits(const char *s, size_t n)
{
	long v = 0;
	size_t i;

	for (i = 0; i < n; i++) {
		if (!is_digit(s[i]))
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v;
}

/* YYYY MM DD at y, m, d (already split) form a real calendar date. */
static bool ymd_valid(long y, long m, long d)
{
	static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

	if (y < 1 || m < 1 || m > 12 || d < 1)
		return false;
	return d <= mdays[m - 1] + (m == 2 && leap_year(y));
}

/* "YYYY-MM-DD" (exactly n == 10 bytes), a real calendar date. */
static bool date_valid(const char *s, size_t n)
{
	if (n != 10 || s[4] != '-' || s[7] != '-')
		return false;
	return ymd_valid(digits(s, 4), digits(s + 5, 2), digits(s + 8, 2));
}

/* PREFIX-OFFICE-SUFFIX; with prefix NULL any 1-3 upper-case letters. */
static bool id_valid(const char *id, const char *prefix)
{
	const char *p = id;
	size_t n;

	if (prefix) {
		n = strlen(prefix);
		if (strncmp(p, prefix, n) != 0)
			return false;
	} else {
		for (n = 0; is_upper(p[n]); n++)
			;
		if (n < 1 || n > 3)
			return false;
	}
	p += n;
	if (*p != '-')
		return false;
	n = strspn(++p, "0123456789");
	if (n != 2 && n != 4 && n != 6 && n != 9 && n != 12)
		return false;
	p += n;
	if (*p != '-')
		return false;
	n = strspn(++p, "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ");
	return n >= 1 && n <= SUFFIX_MAX_LEN && p[n] == '\0';
}

/* Document numbers other than resident IDs: 1-40 of [A-Za-z0-9-]. */
static bool docnum_valid(const char *s, size_t n)
{
	size_t i;

	if (n < 1 || n > DOCNUM_MAX_LEN)
		return false;
	for (i = 0; i < n; i++)
		if (!is_lower(s[i]) && !is_upper(s[i]) && !is_digit(s[i]) && s[i] != '-')
			return false;
	return true;
}

/* Length of the UTF-8 sequence that starts with byte c (1 for anything malformed). */
static size_t utf8_len(unsigned char c)
{
	if (c >= 0xf0 && c < 0xf8)
		return 4;
	if (c >= 0xe0)
		return c < 0xf0 ? 3 : 1;
	if (c >= 0xc0)
		return 2;
	return 1;
}

/* s (n bytes) in single quotes for a one-line message: controls as '?', long text cut. */
static const char *show_str(char out[SHOW_MAX], const char *s, size_t n)
{
	size_t i = 0, o = 0, k, step;

	out[o++] = '\'';
	while (i < n) {
		unsigned char c = (unsigned char)s[i];

		step = utf8_len(c);
		if (step > n - i)
			step = n - i;
		if (o + step > SHOW_MAX - 6)
			break;
		for (k = 0; k < step; k++)
			out[o++] = (c < 0x20 || c == 0x7f) ? '?' : s[i + k];
		i += step;
	}
	if (i < n) {
		memcpy(out + o, "\xe2\x80\xa6", 3); /* … */
		o += 3;
	}
	out[o++] = '\'';
	out[o] = '\0';
	return out;
}

/* A JSON value for a message: strings as show_str, anything else compact JSON. */
static const char *show_json(char out[SHOW_MAX], const json_t *v)
{
	char *dump;
	size_t n;

	if (json_is_string(v))
		return show_str(out, json_string_value(v), json_string_length(v));
	dump = v ? json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;
	if (!dump) {
		snprintf(out, SHOW_MAX, "%s", v ? "(a JSON value)" : "nothing");
		return out;
	}
	n = strlen(dump);
	if (n > SHOW_MAX - 4)
		snprintf(out, SHOW_MAX, "%.*s\xe2\x80\xa6", SHOW_MAX - 4, dump);
	else
		snprintf(out, SHOW_MAX, "%s", dump);
	free(dump);
	return out;
}

/* The string value of v when it is a string without NUL bytes; else NULL. */
static const char *plain_string(const json_t *v)
{
	const char *s = json_string_value(v);

	return s && strlen(s) == json_string_length(v) ? s : NULL;
}

/* "'a', 'b', 'c'" for f's values at the given indexes (all values when idx is NULL). */
static int list_values(struct buf *b, const struct schema_field *f, const int *idx, size_t n)
{
	size_t i;
	int rc = 0;

	for (i = 0; i < n && rc == 0; i++)
		rc = buf_printf(b, "%s'%s'", i ? ", " : "", f->values[idx ? idx[i] : (int)i]);
	return rc;
}

/* --- parsing: what on_key remembers --------------------------------------------------- */

enum section_kind { SEC_NONE, SEC_SCHEMA, SEC_TYPE, SEC_FIELD };

/* One key as written, kept until resolve() has checked the whole file. */
struct entry {
	size_t type;  /* index into the types; NO_INDEX in [schema] */
	size_t field; /* index into that type's fields; NO_INDEX in [type NAME] */
	char *key;
	char *value; /* continuation lines and repeats of appending keys joined with a space */
};

struct parse {
	struct schema *s;     /* being built */
	const char *origin;   /* names the text in messages */
	char *section;	      /* the last section name seen, to notice a new one */
	enum section_kind in; /* what that section is */
	size_t type, field;   /* where its keys go (NO_INDEX when not applicable) */
	bool seen_schema;     /* a [schema] section was seen */
	struct entry *entries;
	size_t nentries;
	int rc;	       /* first error, 0 while none */
	char msg[640]; /* its message, without origin and line */
};

static int parse_fail(struct parse *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int parse_fail(struct parse *p, const char *fmt, ...)
{
	va_list ap;

	if (p->rc)
		return p->rc;
	va_start(ap, fmt);
	vsnprintf(p->msg, sizeof(p->msg), fmt, ap);
	va_end(ap);
	p->rc = ERR_INVALID;
	return p->rc;
}

static int parse_nomem(struct parse *p)
{
	if (!p->rc) {
		snprintf(p->msg, sizeof(p->msg), "out of memory");
		p->rc = ERR_NOMEM;
	}
	return p->rc;
}

static void parse_release(struct parse *p)
{
	size_t i;

	for (i = 0; i < p->nentries; i++) {
		free(p->entries[i].key);
		free(p->entries[i].value);
	}
	free(p->entries);
	free(p->section);
}

static struct entry *entry_find(const struct parse *p, size_t type, size_t field, const char *key)
{
	size_t i;

	for (i = p->nentries; i-- > 0;) {
		struct entry *e = &p->entries[i];

		if (e->type == type && e->field == field && strcmp(e->key, key) == 0)
			return e;
	}
	return NULL;
}

static const char *entry_value(const struct parse *p, size_t type, size_t field, const char *key)
{
	const struct entry *e = entry_find(p, type, field, key);

	return e ? e->value : NULL;
}

static bool key_appends(const char *key)
{
	static const char *const keys[] = {"doc",	  "values",  "order",
					   "transitions", "initial", NULL};
	size_t i;

	for (i = 0; keys[i]; i++)
		if (strcmp(key, keys[i]) == 0)
			return true;
	return false;
}

/* Remember key = value for the current section; refuse a repeated single key. */
static int note_key(struct parse *p, const char *key, const char *value)
{
	struct entry *e = entry_find(p, p->type, p->field, key);
	struct entry *grown;
	size_t n;
	char *v;

	if (e && key_appends(key)) {
		n = strlen(e->value);
		if (!(v = realloc(e->value, n + strlen(value) + 2)))
			return parse_nomem(p);
		e->value = v;
		snprintf(v + n, strlen(value) + 2, " %s", value);
		return 0;
	}
	if (e && strcmp(key, "check") != 0)
		return parse_fail(p, "duplicate key '%s' in [%s]", key, p->section);
	if (!(grown = realloc(p->entries, (p->nentries + 1) * sizeof(*grown))))
		return parse_nomem(p);
	p->entries = grown;
	e = &grown[p->nentries];
	e->type = p->type;
	e->field = p->field;
	e->key = strdup(key);
	e->value = strdup(value);
	if (!e->key || !e->value) {
		free(e->key);
		free(e->value);
		return parse_nomem(p);
	}
	p->nentries++;
	return 0;
}

static int set_string(struct parse *p, char **slot, const char *value)
{
	char *copy = strdup(value);

	if (!copy)
		return parse_nomem(p);
	free(*slot);
	*slot = copy;
	return 0;
}

/* --- parsing: sections ---------------------------------------------------------------- */

static struct schema_type *type_find_mut(const struct schema *s, const char *name)
{
	size_t i;

	for (i = 0; i < s->ntypes; i++)
		if (strcmp(s->types[i].name, name) == 0)
			return &s->types[i];
	return NULL;
}

static int add_type(struct parse *p, const char *name)
{
	struct schema *s = p->s;
	struct schema_type *grown = realloc(s->types, (s->ntypes + 1) * sizeof(*grown));

	if (!grown)
		return parse_nomem(p);
	s->types = grown;
	memset(&grown[s->ntypes], 0, sizeof(*grown));
	p->type = s->ntypes++;
	p->field = NO_INDEX;
	if (!(grown[p->type].name = strdup(name)))
		return parse_nomem(p);
	return 0;
}

static int add_field(struct parse *p, struct schema_type *t, const char *name)
{
	struct schema_field *grown = realloc(t->fields, (t->nfields + 1) * sizeof(*grown));

	if (!grown)
		return parse_nomem(p);
	t->fields = grown;
	memset(&grown[t->nfields], 0, sizeof(*grown));
	grown[t->nfields].merge = MERGE_LWW;
	p->field = t->nfields++;
	if (!(grown[p->field].name = strdup(name)))
		return parse_nomem(p);
	return 0;
}

static int enter_type(struct parse *p, const char *section)
{
	const char *name = section + 4 + strspn(section + 4, " \t");

	if (!is_name(name))
		return parse_fail(p,
				  "bad type name '%s' in [%s] (want [a-z][a-z0-9_]*, at most %d "
				  "characters)",
				  name, section, NAME_MAX_LEN);
	if (type_find_mut(p->s, name))
		return parse_fail(p, "duplicate section [%s]", section);
	p->in = SEC_TYPE;
	return add_type(p, name);
}

static int enter_field(struct parse *p, const char *section, const char *dot)
{
	char tname[SECTION_MAX_LEN + 1];
	const char *fname = dot + 1;
	struct schema_type *t;
	size_t n = (size_t)(dot - section);

	memcpy(tname, section, n);
	tname[n] = '\0';
	if (!is_name(tname))
		return parse_fail(p, "bad type name '%s' in [%s]", tname, section);
	if (!(t = type_find_mut(p->s, tname)))
		return parse_fail(p, "[%s] comes before [type %s]: declare the type first", section,
				  tname);
	if (!is_name(fname))
		return parse_fail(p,
				  "bad field name '%s' in [%s] (want [a-z][a-z0-9_]*, at most %d "
				  "characters)",
				  fname, section, NAME_MAX_LEN);
	if (schema_is_reserved(fname))
		return parse_fail(p,
				  "field name '%s' in [%s] is reserved (id, type, hlc, void and "
				  "void_reason belong to every record)",
				  fname, section);
	if (schema_field_find(t, fname))
		return parse_fail(p, "duplicate section [%s]", section);
	p->in = SEC_FIELD;
	p->type = (size_t)(t - p->s->types);
	return add_field(p, t, fname);
}

/* Called with every key: notice a new section and set p->in, p->type, p->field. */
static int enter_section(struct parse *p, const char *section, const char *key)
{
	const char *dot;

	if (p->section && strcmp(p->section, section) == 0)
		return 0;
	free(p->section);
	if (!(p->section = strdup(section)))
		return parse_nomem(p);
	p->in = SEC_NONE;
	p->type = p->field = NO_INDEX;
	if (section[0] == '\0')
		return parse_fail(p, "key '%s' comes before any section", key);
	if (strlen(section) > SECTION_MAX_LEN)
		return parse_fail(p, "section name [%s...] is too long (at most %d characters)",
				  section, SECTION_MAX_LEN);
	if (strcmp(section, "schema") == 0) {
		if (p->seen_schema)
			return parse_fail(p, "duplicate section [schema]");
		p->seen_schema = true;
		p->in = SEC_SCHEMA;
		return 0;
	}
	if (strncmp(section, "type", 4) == 0 && (section[4] == ' ' || section[4] == '\t'))
		return enter_type(p, section);
	if ((dot = strchr(section, '.')))
		return enter_field(p, section, dot);
	return parse_fail(p, "unknown section [%s] (want [schema], [type NAME] or [TYPE.FIELD])",
			  section);
}

/* --- parsing: keys -------------------------------------------------------------------- */

static int schema_key(struct parse *p, const char *key, const char *value)
{
	long long v;
	int rc;

	if (strcmp(key, "name") != 0 && strcmp(key, "version") != 0)
		return parse_fail(p, "unknown key '%s' in [schema]", key);
	if ((rc = note_key(p, key, value)) < 0)
		return rc;
	if (strcmp(key, "name") == 0) {
		if (value[0] == '\0')
			return parse_fail(p, "empty name in [schema]");
		return set_string(p, &p->s->name, value);
	}
	if (!parse_ll(value, &v) || v < 1 || v > INT_MAX)
		return parse_fail(p, "version '%s' in [schema] is not a positive integer", value);
	p->s->version = (int)v;
	return 0;
}

static int check_key(struct parse *p, struct schema_type *t, const char *value)
{
	const char *rest = value, *tok[4];
	size_t len[4], i, n;
	struct schema_check *grown, *c;

	for (n = 0; n < 4 && (tok[n] = token(&rest, &len[n], " \t")); n++)
		;
	if (n != 3 || len[0] > NAME_MAX_LEN || len[2] > NAME_MAX_LEN)
		return parse_fail(p, "check '%s' in [%s] is not FIELD OP FIELD", value, p->section);
	for (i = 0; check_ops[i]; i++)
		if (strlen(check_ops[i]) == len[1] && strncmp(check_ops[i], tok[1], len[1]) == 0)
			break;
	if (!check_ops[i])
		return parse_fail(p,
				  "check '%s' in [%s]: operator must be one of <= < >= > ==", value,
				  p->section);
	if (!(grown = realloc(t->checks, (t->nchecks + 1) * sizeof(*grown))))
		return parse_nomem(p);
	t->checks = grown;
	c = &grown[t->nchecks++];
	c->left = strndup(tok[0], len[0]);
	c->op = strdup(check_ops[i]);
	c->right = strndup(tok[2], len[2]);
	if (!c->left || !c->op || !c->right)
		return parse_nomem(p);
	if (!is_name(c->left) || !is_name(c->right))
		return parse_fail(p, "check '%s' in [%s] does not name two fields", value,
				  p->section);
	return 0;
}

static int type_key(struct parse *p, const char *key, const char *value)
{
	struct schema_type *t = &p->s->types[p->type];
	size_t i;
	int rc;

	if (strcmp(key, "prefix") != 0 && strcmp(key, "title") != 0 && strcmp(key, "doc") != 0 &&
	    strcmp(key, "check") != 0)
		return parse_fail(p, "unknown key '%s' in [%s]", key, p->section);
	if ((rc = note_key(p, key, value)) < 0)
		return rc;
	if (strcmp(key, "check") == 0)
		return check_key(p, t, value);
	if (strcmp(key, "title") == 0)
		return set_string(p, &t->title, value);
	if (strcmp(key, "prefix") != 0)
		return 0; /* doc: taken whole in resolve() */
	if (!is_prefix(value))
		return parse_fail(p, "prefix '%s' in [%s] is not 1 to 3 upper-case letters", value,
				  p->section);
	for (i = 0; i < p->s->ntypes; i++)
		if (p->s->types[i].prefix && strcmp(p->s->types[i].prefix, value) == 0)
			return parse_fail(p, "prefix '%s' in [%s] is already used by type '%s'",
					  value, p->section, p->s->types[i].name);
	return set_string(p, &t->prefix, value);
}

/* w (n bytes) is names separated by sep: exactly want of them, or any number when 0. */
static bool word_ok(const char *w, size_t n, char sep, size_t want)
{
	size_t i, start = 0, parts = 0;

	for (i = 0; i <= n; i++) {
		if (i < n && (sep == '\0' || w[i] != sep))
			continue;
		if (!is_value_name(w + start, i - start))
			return false;
		parts++;
		start = i + 1;
	}
	return want == 0 || parts == want;
}

/* values, initial: names; order: names joined by '|'; transitions: FROM>TO. */
static int words_key(struct parse *p, const char *key, const char *value)
{
	bool trans = strcmp(key, "transitions") == 0, order = strcmp(key, "order") == 0;
	const char *rest = value, *w;
	size_t n;

	while ((w = token(&rest, &n, " \t"))) {
		if (word_ok(w, n, trans ? '>' : order ? '|' : '\0', order ? 0 : trans ? 2 : 1))
			continue;
		return parse_fail(p, "bad %s '%.*s' in [%s] (values are [a-z0-9][a-z0-9_-]*%s)",
				  key, (int)n, w, p->section,
				  trans	  ? "; a transition is FROM>TO"
				  : order ? "; '|' joins values of equal rank"
					  : "");
	}
	return 0;
}

static int role_key(struct parse *p, const char *key, const char *value)
{
	const char *v = key + 5;

	if (!is_value_name(v, strlen(v)))
		return parse_fail(p, "bad value '%s' in key '%s' in [%s]", v, key, p->section);
	if (office_level_parse(value) == LEVEL_NONE)
		return parse_fail(
		    p,
		    "unknown level '%s' for %s in [%s] (want province, city, district, "
		    "street or community)",
		    value, key, p->section);
	return 0;
}

static int limit_key(struct parse *p, const char *key, const char *value, bool *has,
		     long long *slot)
{
	if (!parse_ll(value, slot))
		return parse_fail(p, "%s '%s' in [%s] is not an integer", key, value, p->section);
	*has = true;
	return 0;
}

static int kind_key(struct parse *p, const char *key, const char *value, enum field_kind *slot)
{
	if (!parse_kind(value, slot))
		return parse_fail(
		    p,
		    "unknown %s '%s' in [%s] (want text, int, money, date, enum, bool, "
		    "ref, list or idnum)",
		    key, value, p->section);
	if (strcmp(key, "item") == 0 && *slot == FIELD_LIST)
		return parse_fail(p, "item 'list' in [%s]: a list cannot hold lists", p->section);
	return 0;
}

static bool field_key_known(const char *key)
{
	static const char *const keys[] = {
	    "type",  "item",	    "required",	  "search",    "doc",	"min",
	    "max",   "values",	    "ref",	  "default",   "order", "initial",
	    "merge", "transitions", "kind_field", "multiline", NULL};
	size_t i;

	if (strncmp(key, "role.", 5) == 0)
		return true;
	for (i = 0; keys[i]; i++)
		if (strcmp(key, keys[i]) == 0)
			return true;
	return false;
}

static int field_key(struct parse *p, const char *key, const char *value)
{
	struct schema_field *f = &p->s->types[p->type].fields[p->field];
	int rc;

	if (!field_key_known(key))
		return parse_fail(p, "unknown key '%s' in [%s]", key, p->section);
	if ((rc = note_key(p, key, value)) < 0)
		return rc;
	if (strcmp(key, "type") == 0)
		return kind_key(p, key, value, &f->kind);
	if (strcmp(key, "item") == 0)
		return kind_key(p, key, value, &f->item);
	if (strcmp(key, "required") == 0 || strcmp(key, "search") == 0 ||
	    strcmp(key, "multiline") == 0) {
		if (!parse_bool(value, key[0] == 'r'   ? &f->required
				       : key[0] == 's' ? &f->search
						       : &f->multiline))
			return parse_fail(p, "%s '%s' in [%s] is not yes or no", key, value,
					  p->section);
		return 0;
	}
	if (strcmp(key, "min") == 0)
		return limit_key(p, key, value, &f->has_min, &f->min);
	if (strcmp(key, "max") == 0)
		return limit_key(p, key, value, &f->has_max, &f->max);
	if (strcmp(key, "ref") == 0 || strcmp(key, "kind_field") == 0) {
		if (!is_name(value))
			return parse_fail(p, "%s '%s' in [%s] is not a %s name", key, value,
					  p->section, key[0] == 'r' ? "type" : "field");
		return set_string(p, key[0] == 'r' ? &f->ref_type : &f->kind_field, value);
	}
	if (strcmp(key, "default") == 0)
		return set_string(p, &f->def, value);
	if (strcmp(key, "merge") == 0) {
		if (!parse_merge(value, &f->merge))
			return parse_fail(p,
					  "unknown merge '%s' in [%s] (want lww, authority, "
					  "workflow, union or manual)",
					  value, p->section);
		return 0;
	}
	if (strncmp(key, "role.", 5) == 0)
		return role_key(p, key, value);
	if (strcmp(key, "doc") == 0)
		return 0; /* taken whole in resolve() */
	return words_key(p, key, value);
}

static int on_key(void *user, const char *section, const char *key, const char *value)
{
	struct parse *p = user;

	if (p->rc || enter_section(p, section, key) < 0)
		return 0;
	switch (p->in) {
	case SEC_SCHEMA:
		schema_key(p, key, value);
		break;
	case SEC_TYPE:
		type_key(p, key, value);
		break;
	case SEC_FIELD:
		field_key(p, key, value);
		break;
	case SEC_NONE:
		break;
	}
	return p->rc == 0;
}

static int on_any_key(void *user, const char *section, const char *key, const char *value)
{
	(void)user, (void)section, (void)key, (void)value;
	return 1;
}

/* The section name on a line that opens a section ("[name]" at the start), or NULL. */
static const char *section_at(const char *line, size_t n, size_t *len)
{
	const char *end;

	if (n < 2 || line[0] != '[' || !(end = memchr(line, ']', n)))
		return NULL;
	*len = (size_t)(end - line - 1);
	return line + 1;
}

/*
 * Line checks inih cannot make: a line it would split silently (too long), and a section
 * that appears twice (inih hands over keys, not section headers).
 */
static int scan_lines(const char *text, const char *origin)
{
	const char **names = NULL, **grown, *p, *nl, *name;
	size_t *lens = NULL, *glens, nnames = 0, n, len, i;
	int line = 1, rc = 0;

	for (p = text; *p; p = nl + 1, line++) {
		nl = strchr(p, '\n');
		n = nl ? (size_t)(nl - p) : strlen(p);
		if (n > 0 && p[n - 1] == '\r')
			n--;
		if (n > LINE_MAX_LEN) {
			rc = err_set(ERR_INVALID,
				     "%s:%d: line is longer than %d characters (continue a long "
				     "value on an indented line)",
				     origin, line, LINE_MAX_LEN);
			goto out;
		}
		if ((name = section_at(p, n, &len))) {
			for (i = 0; i < nnames; i++) {
				if (lens[i] == len && memcmp(names[i], name, len) == 0) {
					rc = err_set(ERR_INVALID, "%s:%d: duplicate section [%.*s]",
						     origin, line, (int)len, name);
					goto out;
				}
			}
			grown = realloc(names, (nnames + 1) * sizeof(*names));
			if (grown)
				names = grown;
			glens = grown ? realloc(lens, (nnames + 1) * sizeof(*lens)) : NULL;
			if (!glens) {
				rc = err_set(ERR_NOMEM, "out of memory");
				goto out;
			}
			lens = glens;
			names[nnames] = name;
			lens[nnames++] = len;
		}
		if (!nl)
			break;
	}
out:
	free(names);
	free(lens);
	return rc;
}

/* --- resolving: checks across keys ---------------------------------------------------- */

static int resolve_fail(const struct parse *p, const char *section, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int resolve_fail(const struct parse *p, const char *section, const char *fmt, ...)
{
	char msg[640];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return err_set(ERR_INVALID, "%s: [%s]: %s", p->origin, section, msg);
}

static int value_index_n(const struct schema_field *f, const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < f->nvalues; i++)
		if (strlen(f->values[i]) == n && strncmp(f->values[i], s, n) == 0)
			return (int)i;
	return -1;
}

/* Index of the value named by s (n bytes), or an error naming what refers to it. */
static int need_value(const struct parse *p, const char *sec, const struct schema_field *f,
		      const char *what, const char *s, size_t n)
{
	int i = value_index_n(f, s, n);

	if (i < 0)
		return resolve_fail(p, sec, "%s names '%.*s', which is not one of the values", what,
				    (int)n, s);
	return i;
}

static int resolve_values(const struct parse *p, const char *sec, struct schema_field *f,
			  const char *text)
{
	const char *rest = text, *w;
	size_t n, count = 0;

	while (token(&rest, &n, " \t"))
		count++;
	if (!(f->values = calloc(count ? count : 1, sizeof(*f->values))))
		return err_set(ERR_NOMEM, "out of memory");
	rest = text;
	while ((w = token(&rest, &n, " \t"))) {
		if (value_index_n(f, w, n) >= 0)
			return resolve_fail(p, sec, "value '%.*s' is listed twice", (int)n, w);
		if (!(f->values[f->nvalues] = strndup(w, n)))
			return err_set(ERR_NOMEM, "out of memory");
		f->nvalues++;
	}
	return 0;
}

static int resolve_order(const struct parse *p, const char *sec, struct schema_field *f,
			 const char *text)
{
	const char *rest = text, *w, *part, *bar;
	size_t n, i;
	int rank = 0, v;

	if (!(f->rank = malloc(f->nvalues * sizeof(*f->rank))))
		return err_set(ERR_NOMEM, "out of memory");
	for (i = 0; i < f->nvalues; i++)
		f->rank[i] = -1;
	while ((w = token(&rest, &n, " \t"))) {
		for (part = w; part < w + n; part = bar + 1) {
			if (!(bar = memchr(part, '|', (size_t)(w + n - part))))
				bar = w + n;
			if ((v = need_value(p, sec, f, "order", part, (size_t)(bar - part))) < 0)
				return v;
			if (f->rank[v] >= 0)
				return resolve_fail(p, sec, "order names '%s' twice", f->values[v]);
			f->rank[v] = rank;
		}
		rank++;
	}
	return 0;
}

static int resolve_transitions(const struct parse *p, const char *sec, struct schema_field *f,
			       const char *text)
{
	const char *rest = text, *w, *gt;
	size_t n, count = 0, i;
	int from, to;

	while (token(&rest, &n, " \t"))
		count++;
	if (!(f->trans = calloc(count ? count : 1, sizeof(*f->trans))))
		return err_set(ERR_NOMEM, "out of memory");
	rest = text;
	while ((w = token(&rest, &n, " \t"))) {
		gt = memchr(w, '>', n);
		if ((from = need_value(p, sec, f, "transitions", w, (size_t)(gt - w))) < 0 ||
		    (to = need_value(p, sec, f, "transitions", gt + 1, (size_t)(w + n - gt - 1))) <
			0)
			return from < 0 ? from : to;
		if (from == to)
			return resolve_fail(p, sec, "transition '%.*s' goes nowhere", (int)n, w);
		for (i = 0; i < f->ntrans; i++)
			if (f->trans[i].from == from && f->trans[i].to == to)
				return resolve_fail(p, sec, "transition '%.*s' is listed twice",
						    (int)n, w);
		f->trans[f->ntrans].from = from;
		f->trans[f->ntrans].to = to;
		f->ntrans++;
	}
	return 0;
}

static int resolve_initial(const struct parse *p, const char *sec, struct schema_field *f,
			   const char *text)
{
	const char *rest = text, *w;
	size_t n, count = 0, i;
	int v;

	while (token(&rest, &n, " \t"))
		count++;
	if (!(f->initial = calloc(count ? count : 1, sizeof(*f->initial))))
		return err_set(ERR_NOMEM, "out of memory");
	rest = text;
	while ((w = token(&rest, &n, " \t"))) {
		if ((v = need_value(p, sec, f, "initial", w, n)) < 0)
			return v;
		for (i = 0; i < f->ninitial; i++)
			if (f->initial[i] == v)
				return resolve_fail(p, sec, "initial names '%s' twice",
						    f->values[v]);
		f->initial[f->ninitial++] = v;
	}
	return 0;
}

static int resolve_roles(const struct parse *p, const char *sec, size_t ti, size_t fi,
			 struct schema_field *f)
{
	size_t i;
	int v;

	for (i = 0; i < p->nentries; i++) {
		const struct entry *e = &p->entries[i];

		if (e->type != ti || e->field != fi || strncmp(e->key, "role.", 5) != 0)
			continue;
		if (!f->role)
			return resolve_fail(p, sec, "%s: role rules apply to enum fields only",
					    e->key);
		if ((v = need_value(p, sec, f, e->key, e->key + 5, strlen(e->key + 5))) < 0)
			return v;
		f->role[v] = (unsigned char)office_level_parse(e->value);
	}
	return 0;
}

/* Keys that only make sense for some kinds. */
static int resolve_kind_keys(const struct parse *p, const char *sec, const struct schema_type *t,
			     const struct schema_field *f, size_t ti, size_t fi)
{
	enum field_kind k = f->kind == FIELD_LIST ? f->item : f->kind;
	const struct schema_field *kf;

	if (f->kind == FIELD_LIST && !entry_find(p, ti, fi, "item"))
		return resolve_fail(p, sec, "a list needs 'item' (the kind of its items)");
	if (f->kind != FIELD_LIST && entry_find(p, ti, fi, "item"))
		return resolve_fail(p, sec, "'item' applies to lists only");
	if (k == FIELD_ENUM && !entry_find(p, ti, fi, "values"))
		return resolve_fail(p, sec, "an enum needs 'values'");
	if (k != FIELD_ENUM && entry_find(p, ti, fi, "values"))
		return resolve_fail(p, sec, "'values' applies to enums only");
	if (k == FIELD_REF && !f->ref_type)
		return resolve_fail(p, sec, "a ref needs 'ref' (the type it points to)");
	if (k != FIELD_REF && f->ref_type)
		return resolve_fail(p, sec, "'ref' applies to refs only");
	if (f->ref_type && !type_find_mut(p->s, f->ref_type))
		return resolve_fail(p, sec, "ref names unknown type '%s'", f->ref_type);
	if ((f->has_min || f->has_max) && f->kind != FIELD_INT && f->kind != FIELD_MONEY &&
	    f->kind != FIELD_TEXT && f->kind != FIELD_LIST)
		return resolve_fail(p, sec, "min and max apply to int, money, text and list only");
	if (f->has_min && f->has_max && f->min > f->max)
		return resolve_fail(p, sec, "min %lld is greater than max %lld", f->min, f->max);
	if ((f->kind == FIELD_TEXT || f->kind == FIELD_LIST) &&
	    ((f->has_min && f->min < 0) || (f->has_max && f->max < 0)))
		return resolve_fail(p, sec, "min and max of a %s cannot be negative",
				    kind_names[f->kind]);
	if (f->kind != FIELD_ENUM &&
	    (entry_find(p, ti, fi, "order") || entry_find(p, ti, fi, "transitions") ||
	     entry_find(p, ti, fi, "initial")))
		return resolve_fail(p, sec, "order, transitions and initial apply to enums only");
	if (f->multiline && f->kind != FIELD_TEXT)
		return resolve_fail(p, sec, "'multiline' applies to text fields only");
	if (f->kind_field && f->kind != FIELD_IDNUM)
		return resolve_fail(p, sec, "'kind_field' applies to idnum fields only");
	if (f->kind_field &&
	    (!(kf = schema_field_find(t, f->kind_field)) || kf->kind != FIELD_ENUM))
		return resolve_fail(p, sec, "kind_field '%s' is not an enum field of type '%s'",
				    f->kind_field, t->name);
	return 0;
}

static int resolve_merge_default(const struct parse *p, const char *sec,
				 const struct schema_type *t, const struct schema_field *f)
{
	json_t *v = NULL;
	size_t i;
	int rc = 0, idx;

	if (f->merge == MERGE_UNION && f->kind != FIELD_LIST)
		return resolve_fail(p, sec, "merge 'union' applies to lists only");
	if (f->merge == MERGE_WORKFLOW && (f->kind != FIELD_ENUM || !f->rank))
		return resolve_fail(p, sec, "merge 'workflow' needs an enum with an 'order'");
	if (!f->def)
		return 0;
	if ((rc = schema_value_parse(&v, t, f, f->def)) < 0) {
		char inner[512];

		snprintf(inner, sizeof(inner), "%s", err_msg());
		rc = rc == ERR_INVALID ? resolve_fail(p, sec, "bad default: %s", inner) : rc;
		goto out;
	}
	if (f->ninitial && (idx = schema_value_index(f, f->def)) >= 0) {
		for (i = 0; i < f->ninitial && f->initial[i] != idx; i++)
			;
		if (i == f->ninitial)
			rc = resolve_fail(p, sec, "default '%s' is not one of the initial values",
					  f->def);
	}
out:
	json_decref(v);
	return rc;
}

static int resolve_field(const struct parse *p, size_t ti, size_t fi)
{
	struct schema_type *t = &p->s->types[ti];
	struct schema_field *f = &t->fields[fi];
	enum field_kind k = f->kind == FIELD_LIST ? f->item : f->kind;
	char sec[2 * NAME_MAX_LEN + 2];
	const char *text;
	int rc;

	snprintf(sec, sizeof(sec), "%s.%s", t->name, f->name);
	if (!entry_find(p, ti, fi, "type"))
		return resolve_fail(p, sec, "field has no 'type'");
	if ((rc = resolve_kind_keys(p, sec, t, f, ti, fi)) < 0)
		return rc;
	if ((text = entry_value(p, ti, fi, "doc")) && !(f->doc = strdup(text)))
		return err_set(ERR_NOMEM, "out of memory");
	if ((text = entry_value(p, ti, fi, "values")) && (rc = resolve_values(p, sec, f, text)) < 0)
		return rc;
	if (k == FIELD_ENUM && f->nvalues == 0)
		return resolve_fail(p, sec, "an enum needs 'values'");
	if (k == FIELD_ENUM && !(f->role = calloc(f->nvalues, sizeof(*f->role))))
		return err_set(ERR_NOMEM, "out of memory");
	if ((text = entry_value(p, ti, fi, "order")) && (rc = resolve_order(p, sec, f, text)) < 0)
		return rc;
	if ((text = entry_value(p, ti, fi, "transitions")) &&
	    (rc = resolve_transitions(p, sec, f, text)) < 0)
		return rc;
	if ((text = entry_value(p, ti, fi, "initial")) &&
	    (rc = resolve_initial(p, sec, f, text)) < 0)
		return rc;
	if ((rc = resolve_roles(p, sec, ti, fi, f)) < 0)
		return rc;
	return resolve_merge_default(p, sec, t, f);
}

static int resolve_type(const struct parse *p, size_t ti)
{
	struct schema_type *t = &p->s->types[ti];
	const struct schema_field *l, *r;
	char sec[NAME_MAX_LEN + 8];
	const char *doc;
	size_t i;
	int rc;

	snprintf(sec, sizeof(sec), "type %s", t->name);
	if (!t->prefix)
		return resolve_fail(p, sec, "type has no 'prefix'");
	if ((doc = entry_value(p, ti, NO_INDEX, "doc")) && !(t->doc = strdup(doc)))
		return err_set(ERR_NOMEM, "out of memory");
	for (i = 0; i < t->nfields; i++)
		if ((rc = resolve_field(p, ti, i)) < 0)
			return rc;
	for (i = 0; i < t->nchecks; i++) {
		const struct schema_check *c = &t->checks[i];

		l = schema_field_find(t, c->left);
		r = schema_field_find(t, c->right);
		if (!l || !r)
			return resolve_fail(p, sec, "check '%s %s %s' names unknown field '%s'",
					    c->left, c->op, c->right, l ? c->right : c->left);
		if ((l->kind != FIELD_INT && l->kind != FIELD_MONEY) ||
		    (r->kind != FIELD_INT && r->kind != FIELD_MONEY))
			return resolve_fail(
			    p, sec,
			    "check '%s %s %s': field '%s' is not an int or money "
			    "field",
			    c->left, c->op, c->right,
			    l->kind != FIELD_INT && l->kind != FIELD_MONEY ? c->left : c->right);
	}
	return 0;
}

static int resolve(const struct parse *p)
{
	size_t i;
	int rc;

	if (!p->s->name || !p->s->version)
		return err_set(ERR_INVALID, "%s: [schema] needs a name and a version", p->origin);
	if (p->s->ntypes == 0)
		return err_set(ERR_INVALID, "%s: defines no [type NAME]", p->origin);
	for (i = 0; i < p->s->ntypes; i++)
		if ((rc = resolve_type(p, i)) < 0)
			return rc;
	return 0;
}

/* --- the schema ----------------------------------------------------------------------- */

int schema_parse(struct schema **out, const char *text, size_t len, const char *origin)
{
	struct parse p = {.type = NO_INDEX, .field = NO_INDEX};
	struct schema *s = NULL;
	int rc = 0, line;

	*out = NULL;
	origin = origin ? origin : "schema";
	if (!(s = calloc(1, sizeof(*s))) || !(s->text = malloc(len + 1))) {
		rc = err_set(ERR_NOMEM, "out of memory");
		goto out;
	}
	if (len)
		memcpy(s->text, text, len);
	s->text[len] = '\0';
	s->len = len;
	if (memchr(s->text, '\0', len)) {
		rc = err_set(ERR_INVALID, "%s: contains a NUL byte", origin);
		goto out;
	}
	if ((rc = scan_lines(s->text, origin)) < 0)
		goto out;
	if ((line = ini_parse_string(s->text, on_any_key, NULL)) != 0) {
		rc = line < 0 ? err_set(ERR_NOMEM, "out of memory")
			      : err_set(ERR_INVALID,
					"%s:%d: cannot parse line (want [section], key = value or "
					"a comment)",
					origin, line);
		goto out;
	}
	p.s = s;
	p.origin = origin;
	line = ini_parse_string(s->text, on_key, &p);
	if (p.rc) {
		rc = p.rc == ERR_NOMEM ? err_set(ERR_NOMEM, "out of memory")
				       : err_set(p.rc, "%s:%d: %s", origin, line, p.msg);
		goto out;
	}
	if ((rc = resolve(&p)) < 0)
		goto out;
	*out = s;
	s = NULL;
out:
	parse_release(&p);
	schema_free(s);
	return rc;
}

int schema_load_file(struct schema **out, const char *path)
{
	struct buf text = BUF_INIT;
	char chunk[8192];
	FILE *f = NULL;
	size_t n;
	int rc = 0;

	*out = NULL;
	buf_init(&text, SCHEMA_FILE_MAX);
	if (!(f = fopen(path, "rb"))) {
		rc = err_errno(errno == ENOENT ? ERR_NOTFOUND : ERR_IO, "cannot open schema '%s'",
			       path);
		goto out;
	}
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		if ((rc = buf_add(&text, chunk, n)) < 0) {
			rc = err_set(rc, "schema '%s' is larger than %d bytes", path,
				     SCHEMA_FILE_MAX);
			goto out;
		}
	if (ferror(f)) {
		rc = err_errno(ERR_IO, "cannot read schema '%s'", path);
		goto out;
	}
	rc = schema_parse(out, text.ptr, text.len, path);
out:
	if (f)
		fclose(f);
	buf_release(&text);
	return rc;
}

static void field_release(struct schema_field *f)
{
	size_t i;

	free(f->name);
	free(f->ref_type);
	for (i = 0; i < f->nvalues; i++)
		free(f->values[i]);
	free(f->values);
	free(f->rank);
	free(f->role);
	free(f->trans);
	free(f->initial);
	free(f->def);
	free(f->kind_field);
	free(f->doc);
}

static void type_release(struct schema_type *t)
{
	size_t i;

	free(t->name);
	free(t->prefix);
	free(t->title);
	free(t->doc);
	for (i = 0; i < t->nfields; i++)
		field_release(&t->fields[i]);
	free(t->fields);
	for (i = 0; i < t->nchecks; i++) {
		free(t->checks[i].left);
		free(t->checks[i].op);
		free(t->checks[i].right);
	}
	free(t->checks);
}

void schema_free(struct schema *s)
{
	size_t i;

	if (!s)
		return;
	for (i = 0; i < s->ntypes; i++)
		type_release(&s->types[i]);
	free(s->types);
	free(s->name);
	free(s->text);
	free(s);
}

bool schema_is_reserved(const char *key)
{
	size_t i;

	for (i = 0; schema_reserved[i]; i++)
		if (strcmp(key, schema_reserved[i]) == 0)
			return true;
	return false;
}

const char *schema_name(const struct schema *s)
{
	return s->name;
}

int schema_version(const struct schema *s)
{
	return s->version;
}

const char *schema_text(const struct schema *s, size_t *len)
{
	if (len)
		*len = s->len;
	return s->text;
}

size_t schema_ntypes(const struct schema *s)
{
	return s->ntypes;
}

const struct schema_type *schema_type_at(const struct schema *s, size_t i)
{
	return i < s->ntypes ? &s->types[i] : NULL;
}

const struct schema_type *schema_type_find(const struct schema *s, const char *name)
{
	return type_find_mut(s, name);
}

const struct schema_type *schema_type_by_id(const struct schema *s, const char *id)
{
	size_t i, n;

	for (i = 0; i < s->ntypes; i++) {
		n = strlen(s->types[i].prefix);
		if (strncmp(id, s->types[i].prefix, n) == 0 && id[n] == '-')
			return &s->types[i];
	}
	return NULL;
}

bool schema_record_at(const struct schema_type **type, char *id, const struct schema *s,
		      const char *path)
{
	const char *base = strrchr(path, '/');
	char want[RECORD_PATH_MAX];
	size_t n = base ? strlen(base + 1) : 0;
	bool ok;

	if (n <= 5 || n - 5 >= RECORD_ID_MAX || strcmp(base + 1 + n - 5, ".json") != 0)
		return false;
	memcpy(id, base + 1, n - 5);
	id[n - 5] = '\0';
	ok = record_id_check(id) == 0 && (*type = schema_type_by_id(s, id)) &&
	     record_path(want, (*type)->name, id) == 0 && strcmp(want, path) == 0;
	err_clear();
	return ok;
}

const struct schema_field *schema_field_find(const struct schema_type *t, const char *name)
{
	size_t i;

	for (i = 0; i < t->nfields; i++)
		if (strcmp(t->fields[i].name, name) == 0)
			return &t->fields[i];
	return NULL;
}

int schema_rank(const struct schema_field *f, const char *value)
{
	int i = schema_value_index(f, value);

	return i >= 0 && f->rank ? f->rank[i] : -1;
}

int schema_value_index(const struct schema_field *f, const char *value)
{
	return value ? value_index_n(f, value, strlen(value)) : -1;
}

const char *schema_kind_name(enum field_kind k)
{
	return (size_t)k < sizeof(kind_names) / sizeof(kind_names[0]) ? kind_names[k] : "unknown";
}

const char *schema_merge_name(enum merge_rule r)
{
	return (size_t)r < sizeof(merge_names) / sizeof(merge_names[0]) ? merge_names[r]
									: "unknown";
}

bool schema_idnum_valid(const char *s)
{
	static const int weight[17] = {7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2};
	long y;
	int i, sum = 0;

	if (!s || strlen(s) != 18)
		return false;
	for (i = 0; i < 17; i++) {
		if (!is_digit(s[i]))
			return false;
		sum += (s[i] - '0') * weight[i];
	}
	y = digits(s + 6, 4);
	if (y < 1900 || y > 2099 || !ymd_valid(y, digits(s + 10, 2), digits(s + 12, 2)))
		return false;
	return s[17] == "10X98765432"[sum % 11];
}

/* --- checking values ------------------------------------------------------------------ */

/* What a value is checked in: the messages' subject, and the record for kind_field. */
struct vctx {
	const struct schema *s;		       /* for ref prefixes; NULL in schema_value_parse */
	const struct schema_type *t;	       /* the record's type */
	const json_t *rec;		       /* the record; NULL in schema_value_parse */
	char who[SHOW_MAX + NAME_MAX_LEN + 8]; /* "case 'C-…'", or "case" */
};

static int vfail(const struct vctx *c, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int vfail(const struct vctx *c, int code, const char *fmt, ...)
{
	char msg[900];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return err_set(code, "%s: %s", c->who, msg);
}

static int check_text(const struct vctx *c, const struct schema_field *f, const json_t *v,
		      bool item)
{
	const unsigned char *s = (const unsigned char *)json_string_value(v);
	size_t n = json_string_length(v), i, chars = 0;
	long long min = item ? 1 : f->has_min ? f->min : 0;
	long long max = item || !f->has_max ? TEXT_MAX_DEFAULT : f->max;
	char shown[SHOW_MAX];

	if (!s)
		return vfail(c, ERR_INVALID, "field '%s' wants text, got %s", f->name,
			     show_json(shown, v));
	for (i = 0; i < n; i++) {
		if ((s[i] == '\n' || s[i] == '\r') && !(f->multiline && !item))
			return vfail(c, ERR_INVALID,
				     "field '%s' is one line: it cannot hold a line break, got %s",
				     f->name, show_json(shown, v));
		if ((s[i] < 0x20 && s[i] != '\n' && s[i] != '\t') || s[i] == 0x7f ||
		    (s[i] == 0xc2 && i + 1 < n && s[i + 1] >= 0x80 && s[i + 1] <= 0x9f))
			return vfail(c, ERR_INVALID,
				     "field '%s' contains a control character (only newline and "
				     "tab are allowed), got %s",
				     f->name, show_json(shown, v));
		/* bidi embeddings, overrides, isolates and marks reorder what an auditor
		 * reads (U+202A-202E, U+2066-2069, U+200E-200F, U+061C) */
		if ((s[i] == 0xe2 && i + 2 < n && s[i + 1] == 0x80 &&
		     ((s[i + 2] >= 0xaa && s[i + 2] <= 0xae) || s[i + 2] == 0x8e ||
		      s[i + 2] == 0x8f)) ||
		    (s[i] == 0xe2 && i + 2 < n && s[i + 1] == 0x81 && s[i + 2] >= 0xa6 &&
		     s[i + 2] <= 0xa9) ||
		    (s[i] == 0xd8 && i + 1 < n && s[i + 1] == 0x9c))
			return vfail(c, ERR_INVALID,
				     "field '%s' contains a bidirectional control character, got "
				     "%s",
				     f->name, show_json(shown, v));
		if ((s[i] & 0xc0) != 0x80)
			chars++;
	}
	if ((long long)chars > max)
		return vfail(c, ERR_INVALID,
			     "field '%s' is too long (%zu characters, at most %lld), got %s",
			     f->name, chars, max, show_json(shown, v));
	if ((long long)chars < min)
		return vfail(c, ERR_INVALID,
			     "field '%s' is too short (%zu characters, at least %lld), got %s",
			     f->name, chars, min, show_json(shown, v));
	return 0;
}

static int check_integer(const struct vctx *c, const struct schema_field *f, enum field_kind k,
			 const json_t *v, bool item)
{
	char shown[SHOW_MAX];
	long long n;

	if (!json_is_integer(v))
		return vfail(c, ERR_INVALID, "field '%s' wants %s, got %s", f->name,
			     k == FIELD_MONEY ? "an integer amount in fen" : "an integer",
			     show_json(shown, v));
	n = json_integer_value(v);
	if (!item && f->has_min && n < f->min)
		return vfail(c, ERR_INVALID, "field '%s' must be at least %lld, got %lld", f->name,
			     f->min, n);
	if (!item && f->has_max && n > f->max)
		return vfail(c, ERR_INVALID, "field '%s' must be at most %lld, got %lld", f->name,
			     f->max, n);
	return 0;
}

static int check_enum(const struct vctx *c, const struct schema_field *f, const json_t *v)
{
	const char *s = plain_string(v);
	struct buf list = BUF_INIT;
	char shown[SHOW_MAX];
	int rc = 0;

	if (s && schema_value_index(f, s) >= 0)
		return 0;
	if ((rc = list_values(&list, f, NULL, f->nvalues)) == 0)
		rc = vfail(c, ERR_INVALID, "field '%s' wants one of %s, got %s", f->name, list.ptr,
			   show_json(shown, v));
	buf_release(&list);
	return rc;
}

/* The document type that applies to idnum field f: resident IDs unless kind_field says. */
static bool wants_resident_id(const struct vctx *c, const struct schema_field *f)
{
	const struct schema_field *kf;
	const char *kind;

	if (!f->kind_field)
		return true;
	if (!c->rec)
		return false; /* schema_value_parse: the record decides later */
	kind = plain_string(json_object_get(c->rec, f->kind_field));
	if (!kind && (kf = schema_field_find(c->t, f->kind_field)))
		kind = kf->def;
	return !kind || strcmp(kind, "resident-id") == 0;
}

static int check_item(const struct vctx *c, const struct schema_field *f, enum field_kind k,
		      const json_t *v, bool item)
{
	const struct schema_type *rt;
	const char *s = plain_string(v), *prefix = NULL;
	char shown[SHOW_MAX];

	switch (k) {
	case FIELD_TEXT:
		return check_text(c, f, v, item);
	case FIELD_INT:
	case FIELD_MONEY:
		return check_integer(c, f, k, v, item);
	case FIELD_ENUM:
		return check_enum(c, f, v);
	case FIELD_DATE:
		if (s && date_valid(s, strlen(s)))
			return 0;
		return vfail(c, ERR_INVALID, "field '%s' wants a date YYYY-MM-DD, got %s", f->name,
			     show_json(shown, v));
	case FIELD_BOOL:
		if (json_is_boolean(v))
			return 0;
		return vfail(c, ERR_INVALID, "field '%s' wants true or false, got %s", f->name,
			     show_json(shown, v));
	case FIELD_REF:
		if (c->s && (rt = schema_type_find(c->s, f->ref_type)))
			prefix = rt->prefix;
		if (s && id_valid(s, prefix))
			return 0;
		return vfail(c, ERR_INVALID,
			     "field '%s' wants the id of a %s (%s-OFFICE-SUFFIX), got %s", f->name,
			     f->ref_type, prefix ? prefix : "PREFIX", show_json(shown, v));
	case FIELD_IDNUM:
		if (wants_resident_id(c, f)) {
			if (s && schema_idnum_valid(s))
				return 0;
			return vfail(c, ERR_INVALID,
				     "field '%s' wants an 18-character resident ID number with a "
				     "valid birth date and check digit, got %s",
				     f->name, show_json(shown, v));
		}
		if (s && docnum_valid(s, strlen(s)))
			return 0;
		return vfail(c, ERR_INVALID,
			     "field '%s' wants a document number of 1 to %d letters, digits or "
			     "'-', got %s",
			     f->name, DOCNUM_MAX_LEN, show_json(shown, v));
	case FIELD_LIST:
		break;
	}
	return vfail(c, ERR_INVALID, "field '%s': a list cannot hold lists", f->name);
}

static int check_list(const struct vctx *c, const struct schema_field *f, const json_t *v)
{
	char shown[SHOW_MAX];
	size_t i, j, n;
	int rc;

	if (!json_is_array(v))
		return vfail(c, ERR_INVALID, "field '%s' wants a list, got %s", f->name,
			     show_json(shown, v));
	n = json_array_size(v);
	for (i = 0; i < n; i++)
		if ((rc = check_item(c, f, f->item, json_array_get(v, i), true)) < 0)
			return rc;
	for (i = 0; i < n; i++)
		for (j = i + 1; j < n; j++)
			if (json_equal(json_array_get(v, i), json_array_get(v, j)))
				return vfail(c, ERR_INVALID, "field '%s' has %s twice", f->name,
					     show_json(shown, json_array_get(v, i)));
	if (f->has_min && (long long)n < f->min)
		return vfail(c, ERR_INVALID, "field '%s' has %zu items, at least %lld needed",
			     f->name, n, f->min);
	if (f->has_max && (long long)n > f->max)
		return vfail(c, ERR_INVALID, "field '%s' has %zu items, at most %lld allowed",
			     f->name, n, f->max);
	return 0;
}

static int check_value(const struct vctx *c, const struct schema_field *f, const json_t *v)
{
	if (f->kind == FIELD_LIST)
		return check_list(c, f, v);
	return check_item(c, f, f->kind, v, false);
}

/* --- command-line values -------------------------------------------------------------- */

static int parse_item(json_t **out, const struct vctx *c, const struct schema_field *f,
		      enum field_kind k, const char *text)
{
	char shown[SHOW_MAX];
	long long n;
	bool b;

	switch (k) {
	case FIELD_INT:
	case FIELD_MONEY:
		if (!parse_ll(text, &n))
			return vfail(c, ERR_INVALID, "field '%s' wants %s, got %s", f->name,
				     k == FIELD_MONEY ? "an integer amount in fen" : "an integer",
				     show_str(shown, text, strlen(text)));
		*out = json_integer(n);
		break;
	case FIELD_BOOL:
		if (!parse_bool(text, &b))
			return vfail(c, ERR_INVALID,
				     "field '%s' wants yes, no, true, false, 1 or 0, got %s",
				     f->name, show_str(shown, text, strlen(text)));
		*out = json_boolean(b);
		break;
	default:
		if ((*out = json_string(text)))
			break;
		if (!(*out = json_string_nocheck(text)))
			break; /* out of memory */
		json_decref(*out);
		*out = NULL;
		return vfail(c, ERR_INVALID, "field '%s' is not valid UTF-8, got %s", f->name,
			     show_str(shown, text, strlen(text)));
	}
	return *out ? 0 : err_set(ERR_NOMEM, "out of memory");
}

static int parse_list(json_t **out, const struct vctx *c, const struct schema_field *f,
		      const char *text)
{
	const char *p = text, *comma;
	json_t *list = json_array(), *item = NULL;
	char shown[SHOW_MAX], *word = NULL;
	size_t n;
	int rc = 0;

	if (!list) {
		rc = err_set(ERR_NOMEM, "out of memory");
		goto out;
	}
	while (p[strspn(p, " \t")] != '\0' || (p != text && p[-1] == ',')) {
		comma = strchr(p, ',');
		n = comma ? (size_t)(comma - p) : strlen(p);
		while (n > 0 && (*p == ' ' || *p == '\t'))
			p++, n--;
		while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
			n--;
		if (n == 0) {
			rc = vfail(c, ERR_INVALID, "field '%s' has an empty item in %s", f->name,
				   show_str(shown, text, strlen(text)));
			goto out;
		}
		if (!(word = strndup(p, n))) {
			rc = err_set(ERR_NOMEM, "out of memory");
			goto out;
		}
		if ((rc = parse_item(&item, c, f, f->item, word)) < 0)
			goto out;
		if (json_array_append_new(list, item) < 0) {
			item = NULL;
			rc = err_set(ERR_NOMEM, "out of memory");
			goto out;
		}
		item = NULL;
		free(word);
		word = NULL;
		if (!comma)
			break;
		p = comma + 1;
	}
	*out = list;
	list = NULL;
out:
	free(word);
	json_decref(list);
	return rc;
}

int schema_value_parse(json_t **out, const struct schema_type *t, const struct schema_field *f,
		       const char *text)
{
	struct vctx c = {.t = t};
	json_t *v = NULL;
	int rc;

	*out = NULL;
	snprintf(c.who, sizeof(c.who), "%s", t->name);
	if (f->kind == FIELD_LIST)
		rc = parse_list(&v, &c, f, text);
	else
		rc = parse_item(&v, &c, f, f->kind, text);
	if (rc < 0 || (rc = check_value(&c, f, v)) < 0)
		goto out;
	*out = v;
	v = NULL;
out:
	json_decref(v);
	return rc;
}

int schema_apply_defaults(const struct schema_type *t, json_t *rec)
{
	const struct schema_field *f;
	json_t *v;
	size_t i;
	int rc;

	assert(json_is_object(rec));
	for (i = 0; i < t->nfields; i++) {
		f = &t->fields[i];
		if (!f->def || json_object_get(rec, f->name))
			continue;
		if ((rc = schema_value_parse(&v, t, f, f->def)) < 0)
			return rc;
		if (json_object_set_new(rec, f->name, v) < 0)
			return err_set(ERR_NOMEM, "out of memory");
	}
	return 0;
}

/* --- checking records ----------------------------------------------------------------- */

/* id and type: present, known, agreeing, well formed. Fills c->t and c->who. */
static int check_head(struct vctx *c, const json_t *rec)
{
	const json_t *idv, *typev;
	const char *id, *type;
	char shown[SHOW_MAX], tshown[SHOW_MAX];

	if (!json_is_object(rec))
		return err_set(ERR_INVALID, "record is not a JSON object");
	idv = json_object_get(rec, "id");
	typev = json_object_get(rec, "type");
	if (!idv)
		return err_set(ERR_INVALID, "record has no 'id'");
	if (!(id = plain_string(idv)))
		return err_set(ERR_INVALID, "record: field 'id' wants a string, got %s",
			       show_json(shown, idv));
	show_str(shown, id, strlen(id));
	if (!typev)
		return err_set(ERR_INVALID, "record %s has no 'type'", shown);
	if (!(type = plain_string(typev)))
		return err_set(ERR_INVALID, "record %s: field 'type' wants a string, got %s", shown,
			       show_json(tshown, typev));
	if (!(c->t = schema_type_find(c->s, type)))
		return err_set(ERR_INVALID, "record %s: unknown type %s", shown,
			       show_str(tshown, type, strlen(type)));
	snprintf(c->who, sizeof(c->who), "%s %s", c->t->name, shown);
	if (schema_type_by_id(c->s, id) != c->t)
		return vfail(c, ERR_INVALID,
			     "field 'id' must start with '%s-' (the prefix of type '%s'), got %s",
			     c->t->prefix, c->t->name, shown);
	if (!id_valid(id, c->t->prefix))
		return vfail(c, ERR_INVALID,
			     "field 'id' wants %s-OFFICE-SUFFIX (an office code of 2, 4, 6, 9 or "
			     "12 digits, a suffix of 1 to %d digits or upper-case letters), got %s",
			     c->t->prefix, SUFFIX_MAX_LEN, shown);
	return 0;
}

/* old and rec are the same record, and a void record stays as it is. */
static int check_old(const struct vctx *c, const json_t *old, const json_t *rec)
{
	char shown[SHOW_MAX];

	if (!json_is_object(old))
		return vfail(c, ERR_INVALID, "the previous version is not a JSON object");
	if (!json_equal(json_object_get(old, "id"), json_object_get(rec, "id")))
		return vfail(c, ERR_INVALID, "field 'id' cannot change (it was %s)",
			     show_json(shown, json_object_get(old, "id")));
	if (!json_equal(json_object_get(old, "type"), json_object_get(rec, "type")))
		return vfail(c, ERR_INVALID, "field 'type' cannot change (it was %s)",
			     show_json(shown, json_object_get(old, "type")));
	if (json_is_true(json_object_get(old, "void")) && !json_equal(old, rec))
		return err_set(ERR_INVALID, "%s is void and cannot be amended", c->who);
	return 0;
}

/* Every key known, none null; the reserved keys well formed. */
static int check_keys(const struct vctx *c, const json_t *rec)
{
	const char *key;
	json_t *v;
	char shown[SHOW_MAX];
	int rc;

	json_object_foreach ((json_t *)rec, key, v) {
		bool reserved = schema_is_reserved(key);

		if (!reserved && !schema_field_find(c->t, key))
			return vfail(c, ERR_INVALID, "unknown field %s",
				     show_str(shown, key, strlen(key)));
		if (json_is_null(v))
			return vfail(c, ERR_INVALID,
				     "field '%s' is null (leave a cleared field out)", key);
		if (strcmp(key, "hlc") == 0 && (rc = check_value(c, &hlc_field, v)) < 0)
			return rc;
		if (strcmp(key, "void") == 0 && (rc = check_value(c, &void_field, v)) < 0)
			return rc;
		if (strcmp(key, "void_reason") == 0 &&
		    (rc = check_value(c, &void_reason_field, v)) < 0)
			return rc;
	}
	if (json_is_true(json_object_get(rec, "void")) && !json_object_get(rec, "void_reason"))
		return vfail(c, ERR_INVALID,
			     "field 'void_reason' is required when the record is void");
	if (!json_is_true(json_object_get(rec, "void")) && json_object_get(rec, "void_reason"))
		return vfail(c, ERR_INVALID,
			     "field 'void_reason' is set but the record is not void");
	return 0;
}

static bool check_holds(long long a, const char *op, long long b)
{
	if (strcmp(op, "<=") == 0)
		return a <= b;
	if (strcmp(op, "<") == 0)
		return a < b;
	if (strcmp(op, ">=") == 0)
		return a >= b;
	if (strcmp(op, ">") == 0)
		return a > b;
	return a == b;
}

static int check_fields(const struct vctx *c, const json_t *rec)
{
	const struct schema_type *t = c->t;
	const json_t *v, *l, *r;
	size_t i;
	int rc;

	for (i = 0; i < t->nfields; i++) {
		v = json_object_get(rec, t->fields[i].name);
		if (!v && t->fields[i].required)
			return vfail(c, ERR_INVALID, "field '%s' is required", t->fields[i].name);
		if (v && (rc = check_value(c, &t->fields[i], v)) < 0)
			return rc;
	}
	for (i = 0; i < t->nchecks; i++) {
		const struct schema_check *k = &t->checks[i];

		l = json_object_get(rec, k->left);
		r = json_object_get(rec, k->right);
		if (!l || !r || check_holds(json_integer_value(l), k->op, json_integer_value(r)))
			continue;
		return vfail(c, ERR_INVALID,
			     "field '%s' (%" JSON_INTEGER_FORMAT ") must be %s field '%s' "
			     "(%" JSON_INTEGER_FORMAT ")",
			     k->left, json_integer_value(l), k->op, k->right,
			     json_integer_value(r));
	}
	return 0;
}

/* Workflow: the first value is one of initial; a change is one of transitions. */
static int check_transition(const struct vctx *c, const struct schema_field *f, const char *ov,
			    const char *nv, bool is_new)
{
	struct buf b = BUF_INIT;
	int to[64];
	size_t i, n = 0;
	int rc = 0, from = schema_value_index(f, ov), dest = schema_value_index(f, nv);

	if (!nv && ov && f->ntrans)
		return vfail(c, ERR_INVALID, "field '%s' cannot be cleared (it is '%s')", f->name,
			     ov);
	if (nv && !ov && f->ninitial) {
		for (i = 0; i < f->ninitial && f->initial[i] != dest; i++)
			;
		if (i < f->ninitial)
			return 0;
		if ((rc = list_values(&b, f, f->initial, f->ninitial)) == 0)
			rc = vfail(c, ERR_INVALID, "field '%s' cannot %s '%s' (it may start as %s)",
				   f->name, is_new ? "be created as" : "be set to", nv, b.ptr);
		goto out;
	}
	if (!nv || !ov || !f->ntrans)
		goto out;
	for (i = 0; i < f->ntrans; i++) {
		if (f->trans[i].from != from)
			continue;
		if (f->trans[i].to == dest)
			goto out;
		if (n < sizeof(to) / sizeof(to[0]))
			to[n++] = f->trans[i].to;
	}
	if ((rc = list_values(&b, f, to, n)) == 0)
		rc = vfail(c, ERR_INVALID,
			   "field '%s' cannot go from '%s' to '%s' (from '%s' it %s%s)", f->name,
			   ov, nv, ov, n ? "may go to " : "cannot change", b.ptr);
out:
	buf_release(&b);
	return rc;
}

/* Role: a value whose role needs more authority than level may not be set by it. */
static int check_role(const struct vctx *c, const struct schema_field *f, const char *ov,
		      const char *nv, bool is_new, enum office_level level)
{
	int i = schema_value_index(f, nv);
	const char *need;

	if (!f->role || i < 0 || f->role[i] == LEVEL_NONE || level <= f->role[i])
		return 0;
	need = office_level_name((enum office_level)f->role[i]);
	if (f->kind == FIELD_LIST)
		return vfail(c, ERR_DENIED, "field '%s' cannot %s '%s' (needs a %s office)",
			     f->name, is_new ? "be created with" : "gain", nv, need);
	if (ov)
		return vfail(c, ERR_DENIED,
			     "field '%s' cannot go from '%s' to '%s' (needs a %s office)", f->name,
			     ov, nv, need);
	return vfail(c, ERR_DENIED, "field '%s' cannot %s '%s' (needs a %s office)", f->name,
		     is_new ? "be created as" : "be set to", nv, need);
}

static bool list_has(const json_t *list, const json_t *item)
{
	size_t i;

	for (i = 0; i < json_array_size(list); i++)
		if (json_equal(json_array_get(list, i), item))
			return true;
	return false;
}

static int check_changes(const struct vctx *c, const json_t *old, const json_t *rec,
			 enum office_level level)
{
	const struct schema_field *f;
	const json_t *ov, *nv, *item;
	size_t i, j;
	int rc;

	for (i = 0; i < c->t->nfields; i++) {
		f = &c->t->fields[i];
		ov = old ? json_object_get(old, f->name) : NULL;
		nv = json_object_get(rec, f->name);
		if (f->kind == FIELD_ENUM && !json_equal(ov, nv)) {
			if ((rc = check_transition(c, f, plain_string(ov), plain_string(nv),
						   !old)) < 0 ||
			    (rc = check_role(c, f, plain_string(ov), plain_string(nv), !old,
					     level)) < 0)
				return rc;
		}
		if (f->kind != FIELD_LIST || f->item != FIELD_ENUM || !nv)
			continue;
		for (j = 0; j < json_array_size(nv); j++) {
			item = json_array_get(nv, j);
			if (json_is_array(ov) && list_has(ov, item))
				continue;
			if ((rc = check_role(c, f, NULL, plain_string(item), !old, level)) < 0)
				return rc;
		}
	}
	return 0;
}

int schema_validate(const struct schema *s, const json_t *old, const json_t *rec,
		    enum office_level level)
{
	struct vctx c = {.s = s, .rec = rec};
	int rc;

	if ((rc = check_head(&c, rec)) < 0)
		return rc;
	if (old && (rc = check_old(&c, old, rec)) < 0)
		return rc;
	if ((rc = check_keys(&c, rec)) < 0 || (rc = check_fields(&c, rec)) < 0)
		return rc;
	return check_changes(&c, old, rec, level);
}

int schema_check(const struct schema *s, const json_t *rec)
{
	struct vctx c = {.s = s, .rec = rec};
	int rc;

	if ((rc = check_head(&c, rec)) < 0 || (rc = check_keys(&c, rec)) < 0)
		return rc;
	return check_fields(&c, rec);
}
