/*
 * index_query: reading the index — the deterministic dump, dates on the command line,
 * and the queries behind find, log, blame and stats.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sqlite3.h>

#include "err.h"
#include "index.h"
#include "index_int.h"
#include "ledger.h"
#include "util.h"

/* --- dump and check ------------------------------------------------------------------- */

static int dump_query(struct buf *out, struct index *ix, const char *title, const char *sql)
{
	sqlite3_stmt *st = NULL;
	int rc, step, i, ncol;

	if ((rc = ix_prepare(&st, ix, sql)) < 0)
		return rc;
	ncol = sqlite3_column_count(st);
	rc = buf_printf(out, "[%s]\n", title);
	while (rc == 0 && (step = sqlite3_step(st)) == SQLITE_ROW) {
		for (i = 0; rc == 0 && i < ncol; i++) {
			const char *sep = i ? "|" : "";

			switch (sqlite3_column_type(st, i)) {
			case SQLITE_NULL:
				rc = buf_printf(out, "%sNULL", sep);
				break;
			case SQLITE_INTEGER:
				rc = buf_printf(out, "%s%lld", sep, sqlite3_column_int64(st, i));
				break;
			default: {
				const char *s = (const char *)sqlite3_column_text(st, i);
				size_t k;

				rc = buf_printf(out, "%s'", sep);
				for (k = 0; rc == 0 && s && s[k]; k++)
					rc = s[k] == '\n'   ? buf_adds(out, "\\n")
					     : s[k] == '\'' ? buf_adds(out, "''")
							    : buf_addch(out, s[k]);
				if (rc == 0)
					rc = buf_addch(out, '\'');
			}
			}
		}
		if (rc == 0)
			rc = buf_addch(out, '\n');
	}
	if (rc == 0 && step != SQLITE_DONE)
		rc = ix_fail(ix, step, "cannot read");
	sqlite3_finalize(st);
	return rc;
}

int index_dump(struct buf *out, struct index *ix)
{
	int rc;

	if ((rc = dump_query(out, ix, "meta", "SELECT key, value FROM meta ORDER BY key")) < 0 ||
	    (rc = dump_query(out, ix, "branches",
			     "SELECT branch, head FROM branches ORDER BY branch")) < 0 ||
	    (rc = dump_query(out, ix, "records",
			     "SELECT branch, id, type, status, office, void, hlc, blob, json"
			     " FROM records ORDER BY branch, id")) < 0 ||
	    (rc = dump_query(out, ix, "fields",
			     "SELECT r.branch, r.id, f.field, typeof(f.value), f.value, f.type"
			     " FROM fields f JOIN records r ON r.rec = f.rec"
			     " ORDER BY r.branch, r.id, f.field, f.value")) < 0 ||
	    (rc = dump_query(out, ix, "persons",
			     "SELECT p.id_number, p.id_type, r.branch, r.id"
			     " FROM persons p JOIN records r ON r.rec = p.rec"
			     " ORDER BY p.id_number, r.branch, r.id")) < 0 ||
	    (rc =
		 dump_query(out, ix, "changes",
			    "SELECT branch, commit_id, record, time, tz, office, operator, subject,"
			    " reason, hlc, type, kind, fields FROM changes"
			    " ORDER BY branch, commit_id, record")) < 0)
		return rc;
	return dump_query(out, ix, "refused",
			  "SELECT branch, head, message FROM refused ORDER BY branch");
}

/* --- time ----------------------------------------------------------------------------- */

static int64_t days_from_civil(int y, int m, int d)
{
	int era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return (int64_t)era * 146097 + doe - 719468;
}

int index_parse_time(int64_t *out, const char *text, bool end_of_day)
{
	int y, mo, d, h = 0, mi = 0, s = 0, oh = 0, om = 0, n = 0, k;
	char sign = 0;
	const char *p;
	bool has_time = false, has_zone = false;
	static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

	if (sscanf(text, "%4d-%2d-%2d%n", &y, &mo, &d, &n) != 3 || n != 10)
		goto bad;
	p = text + 10;
	if (*p == 'T' || *p == ' ') {
		has_time = true;
		if (sscanf(p + 1, "%2d:%2d%n", &h, &mi, &k) != 2 || k != 5)
			goto bad;
		p += 6;
		if (*p == ':') {
			if (sscanf(p + 1, "%2d%n", &s, &k) != 1 || k != 2)
				goto bad;
			p += 3;
		}
		if (*p == 'Z') {
			has_zone = true;
			p++;
		} else if (*p == '+' || *p == '-') {
			sign = *p;
			if (sscanf(p + 1, "%2d:%2d%n", &oh, &om, &k) != 2 || k != 5)
				goto bad;
			has_zone = true;
			p += 6;
		}
	}
	if (*p || mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] ||
	    (mo == 2 && d == 29 && !((y % 4 == 0 && y % 100 != 0) || y % 400 == 0)) || h > 23 ||
	    mi > 59 || s > 60 || oh > 23 || om > 59)
		goto bad;
	if (!has_time && end_of_day) {
		h = 23;
		mi = 59;
		s = 59;
	}
	if (has_zone) {
		*out = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s -
		       (sign == '-' ? -1 : 1) * (oh * 3600 + om * 60);
	} else {
		struct tm tm = {0};

		tm.tm_year = y - 1900;
		tm.tm_mon = mo - 1;
		tm.tm_mday = d;
		tm.tm_hour = h;
		tm.tm_min = mi;
		tm.tm_sec = s;
		tm.tm_isdst = -1;
		*out = (int64_t)mktime(&tm);
	}
	return 0;
bad:
	return err_set(ERR_INVALID,
		       "'%s' is not a date or time (want YYYY-MM-DD or YYYY-MM-DDTHH:MM[:SS] with "
		       "an optional Z or +HH:MM)",
		       text);
}

/* --- queries -------------------------------------------------------------------------- */

int index_cond_parse(struct index_cond *out, char *word)
{
	size_t n = strspn(word, "abcdefghijklmnopqrstuvwxyz0123456789_");
	char *p = word + n;

	memset(out, 0, sizeof(*out));
	if (n == 0)
		goto bad;
	if (p[0] == '=') {
		out->op = INDEX_EQ;
		out->value = p + 1;
	} else if (p[0] == '~') {
		out->op = INDEX_PREFIX;
		out->value = p + 1;
	} else if (p[0] == '<' || p[0] == '>') {
		bool eq = p[1] == '=';

		out->op = p[0] == '<' ? (eq ? INDEX_LE : INDEX_LT) : (eq ? INDEX_GE : INDEX_GT);
		out->value = p + 1 + eq;
	} else {
		goto bad;
	}
	*p = '\0';
	out->field = word;
	return 0;
bad:
	return err_set(ERR_USAGE,
		       "'%s' is not a condition (field=value, field~prefix, field<value, "
		       "field>value, field<=value, field>=value)",
		       word);
}

static const char *op_sql(enum index_op op)
{
	switch (op) {
	case INDEX_LT:
		return "<";
	case INDEX_GT:
		return ">";
	case INDEX_LE:
		return "<=";
	case INDEX_GE:
		return ">=";
	default:
		return "=";
	}
}

/* A condition's value, typed for the field's kind: into v (a JSON scalar). */
static int cond_value(json_t **out, const struct schema_type *t, const struct schema_field *f,
		      const struct index_cond *c)
{
	enum field_kind k = f ? (f->kind == FIELD_LIST ? f->item : f->kind) : FIELD_TEXT;
	char *end;
	long long n;

	*out = NULL;
	if (c->op == INDEX_PREFIX) {
		if (k == FIELD_INT || k == FIELD_MONEY || k == FIELD_BOOL)
			return err_set(ERR_INVALID, "%s: field '%s' is a number; '~' wants text",
				       t->name, c->field);
		*out = json_string(c->value);
	} else if (k == FIELD_INT || k == FIELD_MONEY) {
		errno = 0;
		n = strtoll(c->value, &end, 10);
		if (!*c->value || *end || errno)
			return err_set(ERR_INVALID, "%s: field '%s' wants an integer%s, got '%s'",
				       t->name, c->field, k == FIELD_MONEY ? " amount in fen" : "",
				       c->value);
		*out = json_integer(n);
	} else if (k == FIELD_BOOL) {
		if (!strcmp(c->value, "yes") || !strcmp(c->value, "true"))
			*out = json_true();
		else if (!strcmp(c->value, "no") || !strcmp(c->value, "false"))
			*out = json_false();
		else
			return err_set(ERR_INVALID, "%s: field '%s' wants yes or no, got '%s'",
				       t->name, c->field, c->value);
	} else {
		*out = json_string(c->value);
	}
	return *out ? 0 : err_set(ERR_NOMEM, "out of memory");
}

/* The smallest string greater than every string starting with p; false when none. */
static bool prefix_upper(struct buf *out, const char *p)
{
	size_t n = strlen(p);

	while (n > 0 && (unsigned char)p[n - 1] == 0xff)
		n--;
	if (n == 0)
		return false;
	buf_reset(out);
	if (buf_add(out, p, n) < 0)
		return false;
	out->ptr[n - 1] = (char)((unsigned char)out->ptr[n - 1] + 1);
	return true;
}

struct binds {
	json_t *values; /* array of values bound in order */
};

/* Bind a JSON scalar as a typed SQLite value. */
static void bind_json(sqlite3_stmt *st, int col, const json_t *v)
{
	if (json_is_string(v))
		sqlite3_bind_text(st, col, json_string_value(v), -1, SQLITE_TRANSIENT);
	else if (json_is_integer(v))
		sqlite3_bind_int64(st, col, (sqlite3_int64)json_integer_value(v));
	else if (json_is_boolean(v))
		sqlite3_bind_int(st, col, json_is_true(v));
	else
		sqlite3_bind_null(st, col);
}

static int bind_all(sqlite3_stmt *st, json_t *values)
{
	size_t i;

	for (i = 0; i < json_array_size(values); i++)
		bind_json(st, (int)i + 1, json_array_get(values, i));
	return 0;
}

int index_find(json_t **out, struct index *ix, struct ledger *l, const char *type,
	       const struct index_cond *conds, size_t nconds, const char *branch, long limit)
{
	const struct schema_type *t = schema_type_find(l->schema, type);
	struct buf sql = BUF_INIT, upper = BUF_INIT;
	json_t *values = json_array(), *v = NULL;
	sqlite3_stmt *st = NULL;
	bool driven = false;
	size_t i;
	int rc = 0, step;

	*out = NULL;
	if (!values)
		return err_set(ERR_NOMEM, "out of memory");
	if (!t) {
		rc = err_set(ERR_INVALID, "no record type '%s' (see 'caseledger schema')", type);
		goto out;
	}
	/* When a searchable field's index can drive the query, keep the planner off the
	 * records_type index (without statistics it would scan every record of the type). */
	for (i = 0; i < nconds && !driven; i++) {
		const struct schema_field *f = schema_field_find(t, conds[i].field);

		driven = f && f->search;
	}
	if ((rc = buf_printf(&sql, "SELECT r.branch, r.json FROM records r WHERE %sr.type = ?",
			     driven ? "+" : "")) < 0)
		goto out;
	json_array_append_new(values, json_string(type));
	if (branch) {
		rc = buf_adds(&sql, " AND r.branch = ?");
		json_array_append_new(values, json_string(branch));
	}
	for (i = 0; rc == 0 && i < nconds; i++) {
		const struct index_cond *c = &conds[i];
		const struct schema_field *f = schema_field_find(t, c->field);
		bool is_id = strcmp(c->field, "id") == 0, is_void = strcmp(c->field, "void") == 0;
		bool is_list = f && f->kind == FIELD_LIST;
		char col[160];

		if (!f && !is_id && !is_void) {
			rc = err_set(ERR_INVALID,
				     "%s has no field '%s' (see 'caseledger schema %s')", t->name,
				     c->field, t->name);
			break;
		}
		if (is_void) {
			static const struct schema_field void_field = {.kind = FIELD_BOOL};

			f = &void_field;
		}
		if ((rc = cond_value(&v, t, f, c)) < 0)
			break;
		if (is_id)
			snprintf(col, sizeof(col), "r.id");
		else if (is_void)
			snprintf(col, sizeof(col), "r.void");
		else if (f->search)
			snprintf(col, sizeof(col), "f.value");
		else if (is_list)
			snprintf(col, sizeof(col), "j.value");
		else
			snprintf(col, sizeof(col), "json_extract(r.json, '$.%s')", f->name);
		if (f && f->search && !is_void && !is_id) {
			rc = buf_adds(&sql, " AND r.rec IN (SELECT f.rec FROM fields f WHERE"
					    " f.type = ? AND f.field = ? AND ");
			json_array_append_new(values, json_string(type));
			json_array_append_new(values, json_string(f->name));
		} else if (is_list) {
			rc = buf_printf(&sql,
					" AND EXISTS (SELECT 1 FROM json_each(r.json, '$.%s') j"
					" WHERE ",
					f->name);
		} else {
			rc = buf_adds(&sql, " AND ");
		}
		if (rc < 0)
			break;
		if (c->op == INDEX_PREFIX) {
			bool has_upper = prefix_upper(&upper, c->value);

			rc = buf_printf(&sql, "%s >= ?%s%s%s", col, has_upper ? " AND " : "",
					has_upper ? col : "", has_upper ? " < ?" : "");
			json_array_append(values, v);
			if (has_upper)
				json_array_append_new(values, json_string(upper.ptr));
		} else {
			rc = buf_printf(&sql, "%s %s ?", col, op_sql(c->op));
			json_array_append(values, v);
		}
		json_decref(v);
		v = NULL;
		if (rc == 0 && ((f && f->search && !is_void && !is_id) || is_list))
			rc = buf_adds(&sql, ")");
	}
	if (rc < 0)
		goto out;
	if ((rc = buf_adds(&sql, " ORDER BY r.branch, r.id")) < 0)
		goto out;
	if (limit > 0 && (rc = buf_printf(&sql, " LIMIT %ld", limit)) < 0)
		goto out;
	if ((rc = ix_prepare(&st, ix, sql.ptr)) < 0)
		goto out;
	bind_all(st, values);
	if (!(*out = json_array())) {
		rc = err_set(ERR_NOMEM, "out of memory");
		goto out;
	}
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		json_t *rec = NULL, *row;

		if ((rc = record_decode(&rec, (const char *)sqlite3_column_text(st, 1),
					(size_t)sqlite3_column_bytes(st, 1), false,
					"indexed record")) < 0)
			break;
		row = json_pack("{s:s, s:o}", "branch", (const char *)sqlite3_column_text(st, 0),
				"record", rec);
		if (!row || json_array_append_new(*out, row) < 0) {
			rc = err_set(ERR_NOMEM, "out of memory");
			break;
		}
	}
	if (rc == 0 && step != SQLITE_DONE)
		rc = ix_fail(ix, step, "cannot search");
out:
	if (rc < 0) {
		json_decref(*out);
		*out = NULL;
	}
	json_decref(v);
	json_decref(values);
	sqlite3_finalize(st);
	buf_release(&sql);
	buf_release(&upper);
	return rc;
}

/* One change-log row (columns in the order of CHANGE_COLUMNS) as a JSON object. */
#define CHANGE_COLUMNS                                                                             \
	"branch, commit_id, time, tz, office, operator, subject, reason, hlc, record, type, "      \
	"kind, fields"

static json_t *change_row(sqlite3_stmt *st)
{
	char when[UTIL_ISO_MAX];
	json_t *o, *changes;
	const char *text = (const char *)sqlite3_column_text(st, 12);

	util_iso_local(when, sqlite3_column_int64(st, 2));
	changes = json_loads(text ? text : "[]", 0, NULL);
	o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:o*}", "branch",
		      sqlite3_column_text(st, 0), "commit", sqlite3_column_text(st, 1), "time",
		      when, "office", sqlite3_column_text(st, 4), "operator",
		      sqlite3_column_text(st, 5), "subject", sqlite3_column_text(st, 6), "reason",
		      sqlite3_column_text(st, 7), "hlc", sqlite3_column_text(st, 8), "record",
		      sqlite3_column_text(st, 9), "type", sqlite3_column_text(st, 10), "kind",
		      sqlite3_column_text(st, 11), "changes", changes);
	return o;
}

int index_log(json_t **out, struct index *ix, const struct index_log_filter *f)
{
	struct buf sql = BUF_INIT;
	json_t *values = json_array();
	sqlite3_stmt *st = NULL;
	int rc, step;

	*out = NULL;
	if (!values)
		return err_set(ERR_NOMEM, "out of memory");
	rc = buf_adds(&sql,
		      "SELECT " CHANGE_COLUMNS " FROM changes c WHERE time >= ? AND time <= ?");
	json_array_append_new(values, json_integer(f->since));
	json_array_append_new(values, json_integer(f->until));
	if (rc == 0 && f->branch) {
		rc = buf_adds(&sql, " AND branch = ?");
		json_array_append_new(values, json_string(f->branch));
	}
	if (rc == 0 && f->office && f->office_exact) {
		rc = buf_adds(&sql, " AND office = ?");
		json_array_append_new(values, json_string(f->office));
	} else if (rc == 0 && f->office) {
		/* office codes nest by prefix: the office and everything in its scope */
		rc = buf_adds(&sql, " AND substr(office, 1, length(?)) = ?");
		json_array_append_new(values, json_string(f->office));
		json_array_append_new(values, json_string(f->office));
	}
	if (rc == 0 && f->operator) {
		rc = buf_adds(&sql, " AND operator = ?");
		json_array_append_new(values, json_string(f->operator));
	}
	if (rc == 0 && f->record) {
		rc = buf_adds(&sql, " AND record = ?");
		json_array_append_new(values, json_string(f->record));
	}
	if (rc == 0 && f->field) {
		rc = buf_adds(&sql, " AND EXISTS (SELECT 1 FROM json_each(c.fields) j"
				    " WHERE json_extract(j.value, '$.field') = ?)");
		json_array_append_new(values, json_string(f->field));
	}
	if (rc == 0)
		rc = buf_adds(&sql, " ORDER BY time DESC, seq DESC");
	if (rc == 0 && f->limit > 0)
		rc = buf_printf(&sql, " LIMIT %ld", f->limit);
	if (rc < 0 || (rc = ix_prepare(&st, ix, sql.ptr)) < 0)
		goto out;
	bind_all(st, values);
	if (!(*out = json_array())) {
		rc = err_set(ERR_NOMEM, "out of memory");
		goto out;
	}
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		json_t *o = change_row(st);

		if (!o || json_array_append_new(*out, o) < 0) {
			rc = err_set(ERR_NOMEM, "out of memory");
			break;
		}
	}
	if (rc == 0 && step != SQLITE_DONE)
		rc = ix_fail(ix, step, "cannot read the change log");
out:
	if (rc < 0) {
		json_decref(*out);
		*out = NULL;
	}
	json_decref(values);
	sqlite3_finalize(st);
	buf_release(&sql);
	return rc;
}

int index_blame(json_t **out, struct index *ix, const char *branch, const char *id)
{
	sqlite3_stmt *st = NULL;
	json_t *rec = NULL, *seen = NULL, *touched = NULL, *v;
	const char *key;
	int rc, step;

	*out = NULL;
	if ((rc = ix_prepare(&st, ix, "SELECT json FROM records WHERE branch = ? AND id = ?")) < 0)
		return rc;
	sqlite3_bind_text(st, 1, branch, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
	step = sqlite3_step(st);
	if (step == SQLITE_DONE) {
		rc = err_set(ERR_NOTFOUND, "no record '%s' on branch '%s'", id, branch);
		goto out;
	}
	if (step != SQLITE_ROW) {
		rc = ix_fail(ix, step, "cannot read");
		goto out;
	}
	if ((rc = record_decode(&rec, (const char *)sqlite3_column_text(st, 0),
				(size_t)sqlite3_column_bytes(st, 0), false, "indexed record")) < 0)
		goto out;
	sqlite3_finalize(st);
	st = NULL;
	if (!(seen = json_object()) || !(*out = json_array())) {
		rc = err_set(ERR_NOMEM, "out of memory");
		goto out;
	}
	if ((rc =
		 ix_prepare(&st, ix,
			    "SELECT " CHANGE_COLUMNS " FROM changes WHERE branch = ? AND record = ?"
			    " ORDER BY seq DESC")) < 0)
		goto out;
	sqlite3_bind_text(st, 1, branch, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
	/*
	 * Newest first: the newest change that gave a field its current value set it (two
	 * sides may have changed it before a merge kept one of them); failing that, the
	 * newest change that touched it.
	 */
	if (!(touched = json_object())) {
		rc = err_set(ERR_NOMEM, "out of memory");
		goto out;
	}
	while ((step = sqlite3_step(st)) == SQLITE_ROW &&
	       json_object_size(seen) + 1 < json_object_size(rec)) {
		json_t *row = change_row(st), *c;
		size_t i;

		if (!row) {
			rc = err_set(ERR_NOMEM, "out of memory");
			break;
		}
		json_array_foreach (json_object_get(row, "changes"), i, c) {
			const char *field = json_string_value(json_object_get(c, "field"));
			json_t *now = field ? json_object_get(rec, field) : NULL;

			if (!now || json_object_get(seen, field))
				continue;
			if (json_equal(json_object_get(c, "new"), now))
				json_object_set(seen, field, row);
			else if (!json_object_get(touched, field))
				json_object_set(touched, field, row);
		}
		json_decref(row);
	}
	json_object_update_missing(seen, touched);
	if (rc == 0 && step != SQLITE_DONE && step != SQLITE_ROW)
		rc = ix_fail(ix, step, "cannot read the change log");
	/* In the record's (sorted) key order; the stamp is not a field anyone sets. */
	json_object_foreach (rec, key, v) {
		json_t *row = json_object_get(seen, key), *o;

		if (rc < 0 || strcmp(key, "hlc") == 0)
			continue;
		o = json_pack(
		    "{s:s, s:O, s:s?, s:s?, s:s?, s:s?, s:s?, s:s?}", "field", key, "value", v,
		    "commit", row ? json_string_value(json_object_get(row, "commit")) : NULL,
		    "time", row ? json_string_value(json_object_get(row, "time")) : NULL, "office",
		    row ? json_string_value(json_object_get(row, "office")) : NULL, "operator",
		    row ? json_string_value(json_object_get(row, "operator")) : NULL, "reason",
		    row ? json_string_value(json_object_get(row, "reason")) : NULL, "subject",
		    row ? json_string_value(json_object_get(row, "subject")) : NULL);
		if (!o || json_array_append_new(*out, o) < 0)
			rc = err_set(ERR_NOMEM, "out of memory");
	}
out:
	if (rc < 0) {
		json_decref(*out);
		*out = NULL;
	}
	json_decref(rec);
	json_decref(seen);
	json_decref(touched);
	sqlite3_finalize(st);
	return rc;
}

int index_record_name(char **out, struct index *ix, const char *id)
{
	sqlite3_stmt *st = NULL;
	json_t *rec = NULL, *v;
	int rc, step;

	*out = NULL;
	if ((rc = ix_prepare(&st, ix, "SELECT json FROM records WHERE id = ? LIMIT 1")) < 0)
		return rc;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	if ((step = sqlite3_step(st)) == SQLITE_ROW &&
	    record_decode(&rec, (const char *)sqlite3_column_text(st, 0),
			  (size_t)sqlite3_column_bytes(st, 0), false, "indexed record") == 0 &&
	    ((v = json_object_get(rec, "name")) || (v = json_object_get(rec, "address"))) &&
	    json_is_string(v) && !(*out = strdup(json_string_value(v))))
		rc = err_set(ERR_NOMEM, "out of memory");
	else if (step != SQLITE_ROW && step != SQLITE_DONE)
		rc = ix_fail(ix, step, "cannot read");
	if (rc == 0)
		err_clear(); /* an undecodable copy has no name to show */
	json_decref(rec);
	sqlite3_finalize(st);
	return rc;
}

int index_stats(json_t **out, struct index *ix, struct ledger *l, const char *by)
{
	struct buf sql = BUF_INIT;
	json_t *groups = NULL, *total = NULL, *money = NULL;
	sqlite3_stmt *st = NULL;
	const char *key;
	size_t i, j, nmoney;
	int rc = 0, step;

	*out = NULL;
	if (!by)
		key = "'all'";
	else if (!strcmp(by, "type"))
		key = "r.type";
	else if (!strcmp(by, "status"))
		key = "r.status";
	else if (!strcmp(by, "programme"))
		key = "json_extract(r.json, '$.programme')";
	else if (!strcmp(by, "office"))
		key = "r.office";
	else if (!strcmp(by, "month"))
		key = "(SELECT strftime('%Y-%m', min(c.time), 'unixepoch') FROM changes c"
		      " WHERE c.branch = r.branch AND c.record = r.id)";
	else
		return err_set(ERR_USAGE,
			       "cannot group by '%s' (type, status, programme, office, month)", by);
	if (!(money = json_array()) || !(groups = json_array())) {
		rc = err_set(ERR_NOMEM, "out of memory");
		goto out;
	}
	rc = buf_printf(&sql, "SELECT %s AS k, sum(r.void = 0), sum(r.void != 0)", key);
	for (i = 0; rc == 0 && i < schema_ntypes(l->schema); i++) {
		const struct schema_type *t = schema_type_at(l->schema, i);

		for (j = 0; rc == 0 && j < t->nfields; j++) {
			if (t->fields[j].kind != FIELD_MONEY)
				continue;
			rc = buf_printf(&sql,
					", sum(CASE WHEN r.type = '%s' AND r.void = 0 THEN"
					" json_extract(r.json, '$.%s') END)",
					t->name, t->fields[j].name);
			json_array_append_new(money,
					      json_sprintf("%s.%s", t->name, t->fields[j].name));
		}
	}
	if (rc == 0)
		rc = buf_adds(&sql, " FROM records r GROUP BY k ORDER BY k");
	if (rc < 0 || (rc = ix_prepare(&st, ix, sql.ptr)) < 0)
		goto out;
	nmoney = json_array_size(money);
	if (!(total = json_pack("{s:i, s:i, s:{}}", "count", 0, "void", 0, "sums"))) {
		rc = err_set(ERR_NOMEM, "out of memory");
		goto out;
	}
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		json_t *sums = json_object(), *g;
		json_int_t count = sqlite3_column_int64(st, 1), nvoid = sqlite3_column_int64(st, 2);

		for (j = 0; sums && j < nmoney; j++) {
			const char *name = json_string_value(json_array_get(money, j));
			json_t *tsums = json_object_get(total, "sums");
			json_int_t sum = sqlite3_column_int64(st, (int)j + 3);

			if (sqlite3_column_type(st, (int)j + 3) == SQLITE_NULL)
				continue;
			json_object_set_new(sums, name, json_integer(sum));
			json_object_set_new(
			    tsums, name,
			    json_integer(json_integer_value(json_object_get(tsums, name)) + sum));
		}
		g = json_pack("{s:s?, s:I, s:I, s:o}", "key",
			      (const char *)sqlite3_column_text(st, 0), "count", count, "void",
			      nvoid, "sums", sums);
		if (!g || json_array_append_new(groups, g) < 0) {
			rc = err_set(ERR_NOMEM, "out of memory");
			break;
		}
		json_object_set_new(
		    total, "count",
		    json_integer(json_integer_value(json_object_get(total, "count")) + count));
		json_object_set_new(
		    total, "void",
		    json_integer(json_integer_value(json_object_get(total, "void")) + nvoid));
	}
	if (rc == 0 && step != SQLITE_DONE)
		rc = ix_fail(ix, step, "cannot count");
	if (rc == 0 && !(*out = json_pack("{s:s, s:O, s:O}", "by", by ? by : "all", "groups",
					  groups, "total", total)))
		rc = err_set(ERR_NOMEM, "out of memory");
out:
	json_decref(groups);
	json_decref(total);
	json_decref(money);
	sqlite3_finalize(st);
	buf_release(&sql);
	return rc;
}
