/*
 * caseledger conflicts: the conflict records of the office's branch that are still open
 * (or all of them), as written by merge.
 */
#include "config.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "err.h"
#include "merge.h"
#include "out.h"

static void show_text(const json_t *list)
{
	const json_t *c;
	size_t i;

	if (json_array_size(list) == 0) {
		printf("no open conflicts\n");
		return;
	}
	json_array_foreach (list, i, c) {
		const char *base = json_string_value(json_object_get(c, "base"));
		const char *ours = json_string_value(json_object_get(c, "ours"));
		const char *theirs = json_string_value(json_object_get(c, "theirs"));

		printf("%s  %s  %s '%s'\n", out_esc(json_string_value(json_object_get(c, "id"))),
		       out_esc(json_string_value(json_object_get(c, "status"))),
		       out_esc(json_string_value(json_object_get(c, "record"))),
		       out_esc(json_string_value(json_object_get(c, "field"))));
		printf("    ours (kept)  %s\n    theirs       %s\n    base         %s\n",
		       ours ? out_esc(ours) : "(absent)", theirs ? out_esc(theirs) : "(absent)",
		       base ? out_esc(base) : "(absent)");
		if (json_object_get(c, "resolution"))
			printf("    resolution   %s\n",
			       out_esc(json_string_value(json_object_get(c, "resolution"))));
	}
}

static int run(struct cmd_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"json", no_argument, NULL, 'j'},
	    {"all", no_argument, NULL, 'a'},
	    {"branch", required_argument, NULL, 'b'},
	    {0},
	};
	const char *branch = ctx->ledger->office;
	json_t *list = NULL;
	bool json = false, all = false;
	int c, rc;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'j':
			json = true;
			break;
		case 'a':
			all = true;
			break;
		case 'b':
			branch = optarg;
			break;
		default:
			return cmd_usage_error(&cmd_conflicts_entry, "unknown option");
		}
	}
	if (optind != argc)
		return cmd_usage_error(&cmd_conflicts_entry, "no arguments expected");
	if ((rc = cmd_check_served(ctx, branch)) < 0 ||
	    (rc = merge_conflicts(&list, ctx->ledger, branch, all)) < 0)
		return rc;
	if (json)
		rc = out_json(list) < 0 ? err_set(ERR_IO, "cannot write the output") : 0;
	else
		show_text(list);
	json_decref(list);
	return rc;
}

const struct cmd_entry cmd_conflicts_entry = {
    .name = "conflicts",
    .usage = "conflicts [--all] [--branch BRANCH] [--json]\n"
	     "\n"
	     "  --all            resolved conflicts too\n"
	     "  --branch BRANCH  read from this branch (default: the office's own)\n"
	     "  --json           print the conflict records as an array (sorted by id)\n"
	     "\n"
	     "  In a conflict record, \"ours\" is the value merge kept in the record and\n"
	     "  \"theirs\" the value it set aside (both as JSON).",
    .summary = "list conflicts merge left for a person to settle",
    .flags = CMD_LEDGER,
    .run = run,
};
