/*
 * out: JSON and text output for the CLI.
 */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
	if (util_escape(&out, in.ptr, in.len - keep, "\n\t") < 0 ||
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
