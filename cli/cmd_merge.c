/*
 * caseledger merge: merge any ref or commit into the office's branch, record by record
 * (see replication/merge.h): already up to date, a fast-forward, or a signed merge commit.
 */
#include "config.h"

#include <getopt.h>
#include <stdio.h>

#include "cmd.h"
#include "err.h"
#include "merge.h"
#include "out.h"

#define MERGE_TRIES 5

static int report(const struct merge_result *r, bool json)
{
	json_t *doc, *d;
	size_t i;
	int rc;

	if (json) {
		doc = json_pack("{s:s, s:s, s:s, s:I, s:I, s:O, s:O, s:O}", "outcome",
				merge_outcome_name(r->outcome), "head", git_oid_tostr_s(&r->head),
				"tree", git_oid_tostr_s(&r->tree), "bases", (json_int_t)r->nbases,
				"merged_records", (json_int_t)r->nrecords, "conflicts",
				r->conflicts, "discarded", r->discarded, "notes", r->notes);
		rc = doc ? out_json(doc) : err_set(ERR_NOMEM, "out of memory");
		json_decref(doc);
		return rc;
	}
	switch (r->outcome) {
	case MERGE_UP_TO_DATE:
		printf("already up to date\n");
		return 0;
	case MERGE_FAST_FORWARD:
		printf("fast-forward to %.12s\n", git_oid_tostr_s(&r->head));
		return 0;
	case MERGE_MERGED:
		break;
	}
	printf("merged in commit %.12s: %zu record%s merged field by field, %zu value%s set "
	       "aside by rule, %zu conflict%s recorded\n",
	       git_oid_tostr_s(&r->head), r->nrecords, r->nrecords == 1 ? "" : "s",
	       json_array_size(r->discarded), json_array_size(r->discarded) == 1 ? "" : "s",
	       json_array_size(r->conflicts), json_array_size(r->conflicts) == 1 ? "" : "s");
	json_array_foreach (r->conflicts, i, d)
		printf("conflict %s: %s '%s' (%s)\n", json_string_value(json_object_get(d, "id")),
		       json_string_value(json_object_get(d, "record")),
		       json_string_value(json_object_get(d, "field")),
		       json_string_value(json_object_get(d, "rule")));
	return 0;
}

static int run(struct cmd_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"json", no_argument, NULL, 'j'},
	    {"reason", required_argument, NULL, 'r'},
	    {0},
	};
	struct merge_opts mo = {.operator= ctx->operator};
	struct merge_result r = {0};
	git_commit *theirs = NULL;
	bool json = false;
	int c, rc, i;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'j':
			json = true;
			break;
		case 'r':
			mo.reason = optarg;
			break;
		default:
			return cmd_usage_error(&cmd_merge_entry, "unknown option");
		}
	}
	if (optind + 1 != argc)
		return cmd_usage_error(&cmd_merge_entry, "give one ref or commit to merge");
	if ((rc = cmd_check_served(ctx, NULL)) < 0 ||
	    (rc = ledger_resolve(&theirs, ctx->ledger, argv[optind])) < 0)
		return rc;
	rc = ERR_CONFLICT;
	for (i = 0; i < MERGE_TRIES && rc == ERR_CONFLICT; i++) {
		merge_result_release(&r);
		rc = merge_branches_ext(&r, ctx->ledger, ctx->ledger->office, git_commit_id(theirs),
					&mo);
	}
	if (rc == 0)
		rc = report(&r, json);
	merge_result_release(&r);
	git_commit_free(theirs);
	return rc;
}

const struct cmd_entry cmd_merge_entry = {
    .name = "merge",
    .usage = "merge REF [--reason TEXT] [--json]\n"
	     "\n"
	     "  REF            a branch, ref (refs/remotes/…) or commit id to merge into the\n"
	     "                 office's branch\n"
	     "  --reason TEXT  a paragraph for the merge commit's message\n"
	     "  --json         print {\"outcome\", \"head\", \"tree\", \"bases\",\n"
	     "                 \"merged_records\", \"conflicts\", \"discarded\", \"notes\"}",
    .summary = "merge another copy of the branch, record by record",
    .flags = CMD_LEDGER | CMD_WRITE,
    .run = run,
};
