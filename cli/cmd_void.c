/*
 * caseledger void: mark a record void. Nothing is ever deleted; a void record stays in
 * the ledger with the reason and can no longer be amended.
 */
#include "config.h"

#include <getopt.h>
#include <string.h>
#include <stdio.h>

#include "cmd.h"
#include "err.h"
#include "out.h"

struct void_req {
	const char *id;
	const char *reason;
};

static int stage(struct ledger_txn *t, void *payload)
{
	struct void_req *v = payload;
	json_t *rec = NULL;
	int rc;

	if ((rc = ledger_txn_get(&rec, t, v->id)) < 0)
		return rc;
	if (json_is_true(json_object_get(rec, "void"))) {
		rc = err_set(ERR_INVALID, "record '%s' is already void", v->id);
		goto out;
	}
	json_object_set_new(rec, "void", json_true());
	json_object_set_new(rec, "void_reason", json_string(v->reason));
	rc = ledger_txn_put(t, rec, false, NULL);
out:
	json_decref(rec);
	return rc;
}

static int run(struct cmd_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"reason", required_argument, NULL, 'r'},
	    {"json", no_argument, NULL, 'j'},
	    {"branch", required_argument, NULL, 'b'},
	    {0},
	};
	char own[OFFICE_CODE_MAX + 1];
	struct void_req v = {0};
	struct buf subject = BUF_INIT;
	bool json = false;
	git_oid commit;
	size_t n;
	json_t *doc;
	int c, rc;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'r':
			v.reason = optarg;
			break;
		case 'j':
			json = true;
			break;
		case 'b':
			if ((rc = cmd_set_branch(ctx, optarg)) < 0)
				return rc;
			break;
		default:
			return cmd_usage_error(&cmd_void_entry, "unknown option");
		}
	}
	if (optind + 1 != argc)
		return cmd_usage_error(&cmd_void_entry, "give one record id");
	if (!v.reason || !*v.reason)
		return cmd_usage_error(&cmd_void_entry, "--reason TEXT is required: say why");
	v.id = argv[optind];
	if (!ctx->branch) {
		cmd_record_branch(ctx, own, v.id);
		if (strcmp(own, ctx->ledger->office) != 0 && (rc = cmd_set_branch(ctx, own)) < 0)
			return rc;
	}
	if ((rc = buf_printf(&subject, "void %s", v.id)) < 0)
		return rc;
	rc = cmd_commit_retry(ctx, stage, &v, &subject, v.reason, &commit, &n);
	buf_release(&subject);
	if (rc < 0)
		return rc;
	if (!json) {
		printf("voided %s in commit %.12s\n", v.id, git_oid_tostr_s(&commit));
		return 0;
	}
	doc = json_pack("{s:s, s:s}", "voided", v.id, "commit", git_oid_tostr_s(&commit));
	rc = doc ? out_json(doc) : err_set(ERR_NOMEM, "out of memory");
	json_decref(doc);
	return rc;
}

const struct cmd_entry cmd_void_entry = {
    .name = "void",
    .usage = "void ID --reason TEXT [--branch BRANCH] [--json]\n"
	     "\n"
	     "  --reason TEXT   why the record is void (required; kept in the record)\n"
	     "  --branch BRANCH the branch holding it (default: the branch of the office that\n"
	     "                  created it, when this ledger holds it; else the office's own)\n"
	     "  --json          print {\"voided\": …, \"commit\": …}",
    .summary = "mark a record void (nothing is deleted)",
    .flags = CMD_LEDGER | CMD_WRITE,
    .run = run,
};
