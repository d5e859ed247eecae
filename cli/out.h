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

#endif
