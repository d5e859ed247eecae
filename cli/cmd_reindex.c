/*
 * caseledger reindex: rebuild the index from the repository, or check it against a fresh
 * rebuild. The repository is never written.
 */
#include "config.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "cmd.h"
#include "err.h"
#include "out.h"

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int check(struct cmd_ctx *ctx, bool json)
{
	char *diff = NULL;
	json_t *doc;
	bool same;
	int rc;

	if ((rc = index_catch_up(ctx->index, ctx->ledger, NULL)) < 0 ||
	    (rc = index_check(&same, &diff, ctx->index, ctx->ledger)) < 0)
		return rc;
	if (json) {
		doc = json_pack("{s:b, s:s?}", "same", same, "difference", diff);
		rc = doc ? out_json(doc) : err_set(ERR_NOMEM, "out of memory");
		json_decref(doc);
	} else if (same) {
		printf("the index matches a rebuild from the repository\n");
	}
	if (rc == 0 && !same)
		rc = err_set(ERR_GENERIC,
			     "the index differs from a rebuild (%s); run 'caseledger "
			     "reindex'",
			     diff ? diff : "?");
	free(diff);
	return rc;
}

static int run(struct cmd_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"json", no_argument, NULL, 'j'},
	    {"check", no_argument, NULL, 'c'},
	    {0},
	};
	struct index_progress p;
	bool json = false, only_check = false;
	double t0;
	json_t *doc;
	int c, rc;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'j':
			json = true;
			break;
		case 'c':
			only_check = true;
			break;
		default:
			return cmd_usage_error(&cmd_reindex_entry, "unknown option");
		}
	}
	if (optind != argc)
		return cmd_usage_error(&cmd_reindex_entry, "reindex takes no arguments");
	if (only_check)
		return check(ctx, json);
	t0 = now_s();
	if ((rc = index_rebuild(ctx->index, ctx->ledger, &p)) < 0)
		return rc;
	if (json) {
		doc = json_pack("{s:I, s:I, s:I, s:I, s:f}", "branches", (json_int_t)p.branches,
				"commits", (json_int_t)p.commits, "changes", (json_int_t)p.changes,
				"records", (json_int_t)p.records, "seconds", now_s() - t0);
		rc = doc ? out_json(doc) : err_set(ERR_NOMEM, "out of memory");
		json_decref(doc);
		return rc;
	}
	printf("reindexed %zu branch%s: %zu commits, %zu changes, %zu record writes in %.2f s\n",
	       p.branches, p.branches == 1 ? "" : "es", p.commits, p.changes, p.records,
	       now_s() - t0);
	return 0;
}

const struct cmd_entry cmd_reindex_entry = {
    .name = "reindex",
    .usage = "reindex [--check] [--json]\n"
	     "\n"
	     "  --check   build a fresh index in a temporary file and compare it with the\n"
	     "            current one; exit 1 when they differ (nothing is changed)\n"
	     "  --json    print the counts (or {\"same\", \"difference\"}) as JSON",
    .summary = "rebuild the index from the repository",
    .flags = CMD_LEDGER | CMD_INDEX | CMD_NO_CATCH_UP,
    .run = run,
};
