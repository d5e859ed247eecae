/*
 * caseledger find: records of one type matching conditions on any of its fields, answered
 * from the index (searchable fields through their index, the others from the stored JSON).
 */
#include "config.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "err.h"
#include "out.h"

/* A CSV cell: quoted when it holds a comma, quote or line break. */
static void csv_cell(const char *s, bool first)
{
	if (!first)
		fputc(',', stdout);
	if (!strpbrk(s, ",\"\r\n")) {
		fputs(s, stdout);
		return;
	}
	fputc('"', stdout);
	for (; *s; s++) {
		if (*s == '"')
			fputc('"', stdout);
		fputc(*s, stdout);
	}
	fputc('"', stdout);
}

static void print_csv(const struct schema_type *t, const json_t *rows)
{
	struct buf v = BUF_INIT;
	const json_t *row;
	size_t i, k;

	csv_cell("id", true);
	csv_cell("branch", false);
	for (k = 0; k < t->nfields; k++)
		csv_cell(t->fields[k].name, false);
	csv_cell("void", false);
	fputc('\n', stdout);
	json_array_foreach (rows, i, row) {
		const json_t *rec = json_object_get(row, "record");

		csv_cell(json_string_value(json_object_get(rec, "id")), true);
		csv_cell(json_string_value(json_object_get(row, "branch")), false);
		for (k = 0; k < t->nfields; k++) {
			const json_t *val = json_object_get(rec, t->fields[k].name);
			const json_t *item;
			size_t j;

			buf_reset(&v);
			if (json_is_array(val)) {
				json_array_foreach (val, j, item) {
					if (j)
						buf_addch(&v, ';');
					out_value(&v, item, NULL);
				}
			} else if (json_is_integer(val)) {
				buf_printf(&v, "%" JSON_INTEGER_FORMAT, json_integer_value(val));
			} else if (val) {
				out_value(&v, val, NULL);
			}
			csv_cell(v.ptr, false);
		}
		csv_cell(json_is_true(json_object_get(rec, "void")) ? "yes" : "no", false);
		fputc('\n', stdout);
	}
	buf_release(&v);
}

/* Text: one line per record — id, branch, then the type's searchable fields. */
static void print_text(const struct schema_type *t, const json_t *rows)
{
	struct buf v = BUF_INIT;
	const json_t *row;
	size_t i, k;

	json_array_foreach (rows, i, row) {
		const json_t *rec = json_object_get(row, "record");

		printf("%s  %s%s", json_string_value(json_object_get(rec, "id")),
		       json_string_value(json_object_get(row, "branch")),
		       json_is_true(json_object_get(rec, "void")) ? "  [VOID]" : "");
		for (k = 0; k < t->nfields; k++) {
			const json_t *val = json_object_get(rec, t->fields[k].name);

			if (!val || (!t->fields[k].search && strcmp(t->fields[k].name, "status")))
				continue;
			buf_reset(&v);
			out_value(&v, val, NULL);
			printf("  %s=%s", t->fields[k].name, v.ptr);
		}
		fputc('\n', stdout);
	}
	printf("%zu record%s\n", json_array_size(rows), json_array_size(rows) == 1 ? "" : "s");
	buf_release(&v);
}

static int run(struct cmd_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"json", no_argument, NULL, 'j'},
	    {"csv", no_argument, NULL, 'c'},
	    {"branch", required_argument, NULL, 'b'},
	    {"limit", required_argument, NULL, 'n'},
	    {0},
	};
	struct index_cond *conds = NULL;
	const struct schema_type *t;
	const char *branch = NULL;
	json_t *rows = NULL, *recs = NULL, *row;
	bool json = false, csv = false;
	long limit = 0;
	size_t i, n = 0;
	char *end;
	int c, rc = 0;

	while ((c = getopt_long(argc, argv, "n:", opts, NULL)) != -1) {
		switch (c) {
		case 'j':
			json = true;
			break;
		case 'c':
			csv = true;
			break;
		case 'b':
			branch = optarg;
			break;
		case 'n':
			limit = strtol(optarg, &end, 10);
			if (*end || limit <= 0)
				return cmd_usage_error(&cmd_find_entry,
						       "--limit wants a positive number");
			break;
		default:
			return cmd_usage_error(&cmd_find_entry, "unknown option");
		}
	}
	if (json && csv)
		return cmd_usage_error(&cmd_find_entry, "give --json or --csv, not both");
	if (optind >= argc)
		return cmd_usage_error(&cmd_find_entry, "give a record type");
	if (!(t = schema_type_find(ctx->ledger->schema, argv[optind])))
		return err_set(ERR_INVALID, "no record type '%s' (see 'caseledger schema')",
			       argv[optind]);
	if (branch && (rc = ledger_ref_name((char[LEDGER_REF_MAX]){0}, branch)) < 0)
		return rc;
	if (!(conds = calloc((size_t)(argc - optind), sizeof(*conds))))
		return err_set(ERR_NOMEM, "out of memory");
	for (i = (size_t)optind + 1; i < (size_t)argc; i++)
		if ((rc = index_cond_parse(&conds[n++], argv[i])) < 0)
			goto out;
	if (branch && (rc = cmd_check_served(ctx, branch)) < 0)
		goto out;
	if (!branch)
		cmd_warn_refused(ctx);
	if ((rc = index_find(&rows, ctx->index, ctx->ledger, t->name, conds, n, branch, limit)) < 0)
		goto out;
	if (csv) {
		print_csv(t, rows);
	} else if (json) {
		if (!(recs = json_array())) {
			rc = err_set(ERR_NOMEM, "out of memory");
			goto out;
		}
		json_array_foreach (rows, i, row)
			json_array_append(recs, json_object_get(row, "record"));
		rc = out_json(recs) < 0 ? err_set(ERR_IO, "cannot write the output") : 0;
	} else {
		print_text(t, rows);
	}
out:
	json_decref(rows);
	json_decref(recs);
	free(conds);
	return rc;
}

const struct cmd_entry cmd_find_entry = {
    .name = "find",
    .usage = "find TYPE [COND…] [--branch BRANCH] [-n|--limit N] [--json|--csv]\n"
	     "\n"
	     "  COND             field=value   equal (lists: holds the item)\n"
	     "                   field~prefix  starts with\n"
	     "                   field<value, field>value, field<=value, field>=value\n"
	     "                   (numbers compare as numbers, dates and text as text)\n"
	     "                   any field of TYPE, or id and void; all must hold\n"
	     "  --branch BRANCH  only this branch (default: every branch in the ledger)\n"
	     "  -n, --limit N    at most N records\n"
	     "  --json           print an array of the records\n"
	     "  --csv            print CSV: id, branch, every field of TYPE, void",
    .summary = "search records by any field, from the index",
    .flags = CMD_LEDGER | CMD_INDEX,
    .run = run,
};
