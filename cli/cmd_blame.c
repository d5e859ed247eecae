/*
 * caseledger blame: for each field of a record, the change that set its current value —
 * commit, time, office, operator, reason — and whether that commit's signature is good.
 */
#include "config.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cmd.h"
#include "err.h"
#include "history.h"
#include "out.h"

static void print_text(const char *id, const struct schema_type *t, const json_t *entries)
{
	struct buf v = BUF_INIT;
	const json_t *e;
	size_t i;

	printf("%s %s\n", t->name, id);
	json_array_foreach (entries, i, e) {
		const char *field = json_string_value(json_object_get(e, "field"));
		const char *sig = json_string_value(json_object_get(e, "signature"));
		const char *reason = json_string_value(json_object_get(e, "reason"));

		buf_reset(&v);
		out_value(&v, json_object_get(e, "value"), schema_field_find(t, field));
		printf("  %-16s %s\n", field, v.ptr);
		if (!json_object_get(e, "commit")) {
			printf("  %-16s   (no change in the index sets this value)\n", "");
			continue;
		}
		printf("  %-16s   %.12s %s office %s operator %s signature %s%s%s\n", "",
		       out_esc(json_string_value(json_object_get(e, "commit"))),
		       out_esc(json_string_value(json_object_get(e, "time"))),
		       out_esc(json_string_value(json_object_get(e, "office"))),
		       out_esc(json_string_value(json_object_get(e, "operator"))), out_esc(sig),
		       strcmp(sig, "good") ? ": " : "",
		       strcmp(sig, "good")
			   ? out_esc(json_string_value(json_object_get(e, "signature_error")))
			   : "");
		printf("  %-16s   %s%s\n", "", reason && *reason ? "reason: " : "subject: ",
		       out_esc(reason && *reason
				   ? reason
				   : json_string_value(json_object_get(e, "subject"))));
	}
	buf_release(&v);
}

static int run(struct cmd_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"json", no_argument, NULL, 'j'},
	    {"branch", required_argument, NULL, 'b'},
	    {0},
	};
	const struct schema_type *t;
	const char *branch = ctx->ledger->office;
	json_t *entries = NULL, *doc = NULL;
	bool json = false;
	int c, rc;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'j':
			json = true;
			break;
		case 'b':
			branch = optarg;
			break;
		default:
			return cmd_usage_error(&cmd_blame_entry, "unknown option");
		}
	}
	if (optind + 1 != argc)
		return cmd_usage_error(&cmd_blame_entry, "give one record id");
	if ((rc = ledger_type_of(&t, ctx->ledger, argv[optind])) < 0 ||
	    (rc = ledger_ref_name((char[LEDGER_REF_MAX]){0}, branch)) < 0 ||
	    (rc = cmd_check_served(ctx, branch)) < 0)
		return rc;
	if ((rc = index_blame(&entries, ctx->index, branch, argv[optind])) < 0 ||
	    (rc = cmd_add_signatures(entries, ctx->ledger)) < 0)
		goto out;
	if (json) {
		doc = json_pack("{s:s, s:s, s:s, s:O}", "id", argv[optind], "type", t->name,
				"branch", branch, "fields", entries);
		rc = !doc		 ? err_set(ERR_NOMEM, "out of memory")
		     : out_json(doc) < 0 ? err_set(ERR_IO, "cannot write the output")
					 : 0;
	} else {
		print_text(argv[optind], t, entries);
	}
out:
	json_decref(entries);
	json_decref(doc);
	return rc;
}

const struct cmd_entry cmd_blame_entry = {
    .name = "blame",
    .usage = "blame ID [--branch BRANCH] [--json]\n"
	     "\n"
	     "  --branch BRANCH  the branch to read (default: the office's own)\n"
	     "  --json           print {\"id\", \"type\", \"branch\", \"fields\": [{\"field\",\n"
	     "                   \"value\", \"commit\", \"time\", \"office\", \"operator\",\n"
	     "                   \"reason\", \"subject\", \"signature\", …}]}",
    .summary = "show who set each field of a record, when, why, and the signature",
    .flags = CMD_LEDGER | CMD_INDEX,
    .run = run,
};
