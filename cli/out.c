/*
 * out: JSON and text output for the CLI.
 */
#include "config.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "out.h"
#include "util.h"

/* --- what reaches the terminal --------------------------------------------------- */

struct filter {
	FILE *to;	       /* the real stdout */
	unsigned char part[4]; /* the start of a UTF-8 sequence a write cut */
	size_t npart;
};

/* UTF-8 sequence length announced by a lead byte (1 for anything else). */
static size_t lead_len(unsigned char c)
{
	return c >= 0xf0 && c <= 0xf4 ? 4 : c >= 0xe0 ? (c <= 0xef ? 3 : 1) : c >= 0xc2 ? 2 : 1;
}

/* Set by out_csv: CSV rows end in CR LF (a CR inside a cell is escaped by out_csv). */
static bool csv_mode;

static ssize_t filter_write(void *cookie, const char *data, size_t n)
{
	struct filter *f = cookie;
	struct buf in = BUF_INIT, out = BUF_INIT;
	size_t keep = 0, i;
	ssize_t rc = (ssize_t)n;

	if (buf_add(&in, f->part, f->npart) < 0 || buf_add(&in, data, n) < 0) {
		rc = -1;
		goto out;
	}
	/* hold back a sequence the next write completes */
	for (i = in.len; i > 0 && in.len - i < 3; i--) {
		unsigned char c = (unsigned char)in.ptr[i - 1];
		if ((c & 0xc0) == 0x80)
			continue;
		if (c >= 0xc2 && lead_len(c) > in.len - (i - 1))
			keep = in.len - (i - 1);
		break;
	}
	f->npart = keep;
	memcpy(f->part, in.ptr + in.len - keep, keep);
	if (util_escape(&out, in.ptr, in.len - keep, csv_mode ? "\n\t\r" : "\n\t") < 0 ||
	    fwrite(out.ptr, 1, out.len, f->to) != out.len)
		rc = -1;
out:
	buf_release(&in);
	buf_release(&out);
	return rc;
}

static int filter_close(void *cookie)
{
	struct filter *f = cookie;
	struct buf out = BUF_INIT;
	int rc = 0;

	if (f->npart && (util_escape(&out, (const char *)f->part, f->npart, NULL) < 0 ||
			 fwrite(out.ptr, 1, out.len, f->to) != out.len))
		rc = EOF;
	if (fflush(f->to) != 0 || ferror(f->to))
		rc = EOF;
	buf_release(&out);
	free(f);
	return rc;
}

int out_filter_stdout(void)
{
	cookie_io_functions_t io = {NULL, filter_write, NULL, filter_close};
	struct filter *f = calloc(1, sizeof(*f));
	FILE *s;

	if (!f)
		return -1;
	f->to = stdout;
	if (!(s = fopencookie(f, "w", io))) {
		free(f);
		return -1;
	}
	stdout = s;
	return 0;
}

const char *out_esc(const char *s)
{
	static struct buf ring[8];
	static size_t next;
	struct buf *b = &ring[next++ % 8];

	buf_reset(b);
	if (!s)
		return "-";
	if (util_escape(b, s, strlen(s), NULL) < 0)
		return "?";
	return b->ptr;
}

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
		return util_escape(b, json_string_value(v), json_string_length(v), NULL);
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
	printf("%-*s  %s\n", width, out_esc(label), out_esc(value));
}

/* One CSV cell of v: text as is, null empty, anything else compact JSON; quoted (quotes
 * doubled) when it holds a comma, a quote or a line break; control characters escaped. */
static int csv_cell(struct buf *line, const json_t *v, bool first)
{
	struct buf esc = BUF_INIT;
	char *dump = NULL;
	const char *s = "";
	size_t i;
	int rc;

	if (v && json_is_string(v))
		s = json_string_value(v);
	else if (v && !json_is_null(v) &&
		 !(s = dump = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY)))
		return err_set(ERR_NOMEM, "out of memory");
	rc = (first ? 0 : buf_adds(line, ",")) < 0 || util_escape(&esc, s, strlen(s), "\n\t") < 0
		 ? -1
		 : 0;
	if (rc == 0 && !strpbrk(esc.ptr, ",\"\n")) {
		rc = buf_add(line, esc.ptr, esc.len);
	} else if (rc == 0) {
		rc = buf_adds(line, "\"");
		for (i = 0; rc == 0 && i < esc.len; i++)
			rc = esc.ptr[i] == '"' ? buf_adds(line, "\"\"")
					       : buf_add(line, &esc.ptr[i], 1);
		if (rc == 0)
			rc = buf_adds(line, "\"");
	}
	free(dump);
	buf_release(&esc);
	return rc < 0 ? err_set(ERR_NOMEM, "out of memory") : 0;
}

int out_csv(const json_t *rows, const char *const *cols)
{
	struct buf line = BUF_INIT;
	const json_t *row;
	size_t i, k;
	int rc = 0;

	csv_mode = true;
	for (k = 0; cols[k] && rc == 0; k++) /* names: letters and underscores */
		rc = (k ? buf_adds(&line, ",") : 0) < 0 ? -1 : buf_adds(&line, cols[k]);
	json_array_foreach (rows, i, row) {
		if (rc < 0 || (rc = buf_adds(&line, "\r\n")) < 0)
			break;
		for (k = 0; cols[k] && rc == 0; k++)
			rc = csv_cell(&line, json_object_get(row, cols[k]), k == 0);
	}
	if (rc == 0 && (rc = buf_adds(&line, "\r\n")) == 0 &&
	    fwrite(line.ptr, 1, line.len, stdout) != line.len)
		rc = err_set(ERR_IO, "cannot write the output");
	buf_release(&line);
	return rc < 0 ? rc : 0;
}
