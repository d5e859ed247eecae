/*
 * out: JSON and text output for the CLI.
 */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "out.h"

int out_json(const json_t *v)
{
	if (json_dumpf(v, stdout, JSON_INDENT(2) | JSON_SORT_KEYS) < 0)
		return -1;
	return fputc('\n', stdout) == EOF ? -1 : 0;
}

int out_value(struct buf *b, const json_t *v, const struct schema_field *f)
{
	json_t *item;
	size_t i;
	int rc = 0;

	if (!v || json_is_null(v))
		return buf_adds(b, "-");
	if (json_is_string(v))
		return buf_adds(b, json_string_value(v));
	if (json_is_true(v))
		return buf_adds(b, "yes");
	if (json_is_false(v))
		return buf_adds(b, "no");
	if (json_is_integer(v)) {
		json_int_t n = json_integer_value(v);

		if (f && f->kind == FIELD_MONEY)
			return buf_printf(
			    b, "%" JSON_INTEGER_FORMAT " (%s%" JSON_INTEGER_FORMAT ".%02d yuan)", n,
			    n < 0 ? "-" : "", (n < 0 ? -n : n) / 100,
			    (int)((n < 0 ? -n : n) % 100));
		return buf_printf(b, "%" JSON_INTEGER_FORMAT, n);
	}
	if (json_is_array(v)) {
		json_array_foreach (v, i, item) {
			if (i && (rc = buf_adds(b, ", ")) < 0)
				return rc;
			if ((rc = out_value(b, item, NULL)) < 0)
				return rc;
		}
		return 0;
	}
	{
		char *s = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS);

		rc = s ? buf_adds(b, s) : -1;
		free(s);
	}
	return rc;
}

void out_pair(const char *label, int width, const char *value)
{
	printf("%-*s  %s\n", width, label, value);
}
