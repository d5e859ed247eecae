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

static int run(struct cmd_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"json", no_argument, NULL, 'j'},
	    {"by", required_argument, NULL, 'b'},
	    {0},
	};
	const char *by = NULL;
	json_t *doc = NULL, *g;
	bool json = false;
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
		default:
			return cmd_usage_error(&cmd_stats_entry, "unknown option");
		}
	}
	if (optind != argc)
		return cmd_usage_error(&cmd_stats_entry, "stats takes no arguments");
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
    .usage = "stats [--by type|status|programme|office|month] [--json]\n"
	     "\n"
	     "  --by KEY   group by record type, status, case programme, the office that\n"
	     "             created the record, or the month it was created in\n"
	     "  --json     print {\"by\", \"groups\": [{\"key\", \"count\", \"void\", \"sums\"}],\n"
	     "             \"total\"}; sums are in fen, per TYPE.FIELD money field\n"
	     "\n"
	     "Void records are counted apart and left out of the sums.",
    .summary = "count records and sum money fields, from the index",
    .flags = CMD_LEDGER | CMD_INDEX,
    .run = run,
};
