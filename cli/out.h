/*
 * out: what the CLI prints — JSON documents and human-readable values.
 */
#ifndef CASELEDGER_OUT_H
#define CASELEDGER_OUT_H

#include <jansson.h>

#include "buf.h"
#include "schema.h"

/* Print v to stdout as indented JSON with sorted keys and a newline. */
int out_json(const json_t *v);

/* Append a human-readable form of v (a field of kind f, or NULL) to b. Money shows
 * as fen with yuan: "120000 (1200.00 yuan)"; lists comma-separated; absent as "-". */
int out_value(struct buf *b, const json_t *v, const struct schema_field *f);

/* Print "  label  value" lines with labels padded to width. */
void out_pair(const char *label, int width, const char *value);

/*
 * Put a filter on stdout that escapes what a terminal would obey (control characters
 * but newline and tab, bidirectional controls, bytes that are not UTF-8; util_escape),
 * for every command's output. fclose/fflush of stdout reach the real one.
 */
int out_filter_stdout(void);

/* s with every control character escaped, newlines too (util_escape): for one line of
 * human output. Valid until 8 more calls; NULL gives "-". */
const char *out_esc(const char *s);

/*
 * Print rows (an array of objects) as CSV, RFC 4180: a header row of cols (NULL-ended),
 * then one row per object with its value under each column (text as is, null or absent
 * empty, anything else compact JSON), rows ending in CR LF, cells quoted when they hold
 * a comma, a quote or a line break. Control characters in values are escaped as
 * everywhere else (util_escape), so a cell never holds a raw CR. UTF-8.
 */
int out_csv(const json_t *rows, const char *const *cols);

#endif
