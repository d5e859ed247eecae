/*
 * caseledger stats: counts and money sums of the records in the index, in total or by
 * type, status, programme, office or month of creation.
 */
#include "config.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cmd.h"
#include "err.h"
#include "out.h"

static void print_group(const json_t *g, const char *label)
{
	struct buf v = BUF_INIT;
	const json_t *sum;
	const char *name;

	printf("%-26s %8" JSON_INTEGER_FORMAT " records", label,
	       json_integer_value(json_object_get(g, "count")));
	if (json_integer_value(json_object_get(g, "void")))
		printf(" (+%" JSON_INTEGER_FORMAT " void)",
		       json_integer_value(json_object_get(g, "void")));
	fputc('\n', stdout);
	json_object_foreach ((json_t *)json_object_get(g, "sums"), name, sum) {
		static const struct schema_field money = {.kind = FIELD_MONEY};

		buf_reset(&v);
		out_value(&v, sum, &money);
		printf("  %-24s %s\n", name, v.ptr);
	}
	buf_release(&v);
}

/*
 * One CSV row per group and one for the total (key "total"): key, count, void, then a
 * column per money field summed anywhere (TYPE.FIELD, in fen).
 */
static int stats_csv(const json_t *doc)
{
	json_t *rows = json_array(), *cols = json_array(), *row, *sums, *v, *g;
	const char **names = NULL;
	const char *k;
	size_t i, n;
	int rc = err_set(ERR_NOMEM, "out of memory");

	if (!rows || !cols || json_array_extend(rows, json_object_get(doc, "groups")) < 0 ||
	    !(row = json_deep_copy(json_object_get(doc, "total"))) ||
	    json_object_set_new(row, "key", json_string("total")) < 0 ||
	    json_array_append_new(rows, row) < 0)
		goto out;
	json_array_foreach (rows, i, g) {
		json_object_foreach ((sums = json_object_get(g, "sums")), k, v) {
			size_t j;
			for (j = 0; j < json_array_size(cols); j++)
				if (!strcmp(json_string_value(json_array_get(cols, j)), k))
					break;
			if (j == json_array_size(cols))
				json_array_append_new(cols, json_string(k));
		}
	}
	n = json_array_size(cols);
	if (!(names = calloc(n + 4, sizeof(*names))))
		goto out;
	names[0] = "key";
	names[1] = "count";
	names[2] = "void";
	for (i = 0; i < n; i++)
		names[3 + i] = json_string_value(json_array_get(cols, i));
	/* a row's sums, flattened next to its counts */
	json_array_foreach (rows, i, g) {
		json_t *flat = json_deep_copy(g);
		if (!flat)
			goto out;
		json_object_update(flat, json_object_get(g, "sums"));
		json_array_set_new(rows, i, flat);
	}
	rc = out_csv(rows, names);
out:
	free(names);
	json_decref(rows);
	json_decref(cols);
	return rc;
}

static int run(struct cmd_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"json", no_argument, NULL, 'j'},
	    {"by", required_argument, NULL, 'b'},
	    {"csv", no_argument, NULL, 'c'},
	    {0},
	};
	const char *by = NULL;
	json_t *doc = NULL, *g;
	bool json = false, csv = false;
	size_t i;
	int c, rc;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'j':
			json = true;
			break;
		case 'b':
			by = optarg;
			break;
		case 'c':
			csv = true;
			break;
		default:
			return cmd_usage_error(&cmd_stats_entry, "unknown option");
		}
	}
	if (optind != argc)
		return cmd_usage_error(&cmd_stats_entry, "stats takes no arguments");
	if (json && csv)
		return cmd_usage_error(&cmd_stats_entry, "give --json or --csv, not both");
	if (by && strcmp(by, "type") && strcmp(by, "status") && strcmp(by, "programme") &&
	    strcmp(by, "office") && strcmp(by, "month"))
		return cmd_usage_error(&cmd_stats_entry,
				       "--by wants type, status, programme, office or month, not "
				       "'%s'",
				       by);
	cmd_warn_refused(ctx);
	if ((rc = index_stats(&doc, ctx->index, ctx->ledger, by)) < 0)
		return rc;
	if (json) {
		rc = out_json(doc) < 0 ? err_set(ERR_IO, "cannot write the output") : 0;
	} else if (csv) {
		rc = stats_csv(doc);
	} else {
		if (by)
			json_array_foreach (json_object_get(doc, "groups"), i, g) {
				const char *key = json_string_value(json_object_get(g, "key"));

				print_group(g, key ? key : "(none)");
			}
		print_group(json_object_get(doc, "total"), "total");
	}
	json_decref(doc);
	return rc;
}

const struct cmd_entry cmd_stats_entry = {
    .name = "stats",
    .usage = "stats [--by type|status|programme|office|month] [--json|--csv]\n"
	     "\n"
	     "  --by KEY   group by record type, status, case programme, the office that\n"
	     "             created the record, or the month it was created in\n"
	     "  --json     print {\"by\", \"groups\": [{\"key\", \"count\", \"void\", \"sums\"}],\n"
	     "             \"total\"}; sums are in fen, per TYPE.FIELD money field\n"
	     "  --csv      print CSV (RFC 4180, header row): key, count, void, and a column\n"
	     "             per TYPE.FIELD sum; the last row is the total\n"
	     "\n"
	     "Void records are counted apart and left out of the sums.",
    .summary = "count records and sum money fields, from the index",
    .flags = CMD_LEDGER | CMD_INDEX,
    .run = run,
};
