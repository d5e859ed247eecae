/*
 * caseledger sync: ask the office's caseledgerd to sync with its parent now, and with
 * --wait report the outcome per branch.
 */
#include "config.h"

#include <getopt.h>
#include <stdio.h>
#include <unistd.h>

#include "cmd.h"
#include "err.h"
#include "out.h"

static int run(struct cmd_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {{"json", no_argument, NULL, 'j'},
					     {"wait", no_argument, NULL, 'w'},
					     {"socket", required_argument, NULL, 's'},
					     {0}};
	const char *sock = NULL;
	json_t *req = NULL, *rep = NULL;
	bool json = false, wait = false;
	int c, rc;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == 'j')
			json = true;
		else if (c == 'w')
			wait = true;
		else if (c == 's')
			sock = optarg;
		else
			return cmd_usage_error(&cmd_sync_entry, "unknown option");
	}
	if (optind != argc)
		return cmd_usage_error(&cmd_sync_entry, "sync takes no arguments");
	if (!(req = json_pack("{s:s, s:b}", "cmd", "sync", "wait", wait)))
		return err_set(ERR_NOMEM, "out of memory");
	if (wait && !json && isatty(STDERR_FILENO))
		fprintf(stderr, "syncing with the parent...\n");
	if ((rc = cmd_ctl_request(&rep, ctx, sock, req)) < 0)
		goto out;
	if (json)
		rc = out_json(rep);
	else if (!wait)
		printf("sync requested\n");
	else
		cmd_print_branches(json_object_get(rep, "branches"));
	if (rc == 0 && !json_is_true(json_object_get(rep, "ok")))
		rc = err_set(ERR_NETWORK, "sync failed: %s",
			     json_string_value(json_object_get(rep, "error"))
				 ? json_string_value(json_object_get(rep, "error"))
				 : "unknown error");
out:
	json_decref(req);
	json_decref(rep);
	return rc;
}

const struct cmd_entry cmd_sync_entry = {
    .name = "sync",
    .usage = "sync [--wait] [--json] [--socket PATH]\n"
	     "\n"
	     "Ask the office's caseledgerd to sync every branch with its parent now.\n"
	     "--wait waits for the round to finish and shows each branch's outcome;\n"
	     "it exits 1 when any branch failed or needs a merge.",
    .summary = "sync with the parent office now (through caseledgerd)",
    .flags = 0,
    .run = run,
};
