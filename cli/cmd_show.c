/*
 * caseledger show: one record as it stands on the office branch.
 */
#include "config.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cmd.h"
#include "err.h"
#include "out.h"

static void show_text(const struct schema_type *t, const json_t *rec)
{
	struct buf v = BUF_INIT;
	size_t i;

	printf("%s %s%s\n", t->name, json_string_value(json_object_get(rec, "id")),
	       json_is_true(json_object_get(rec, "void")) ? "  [VOID]" : "");
	for (i = 0; i < t->nfields; i++) {
		const struct schema_field *f = &t->fields[i];
		const json_t *val = json_object_get(rec, f->name);

		if (!val)
			continue;
		buf_reset(&v);
		out_value(&v, val, f);
		out_pair(f->name, 16, v.ptr);
	}
	if (json_is_true(json_object_get(rec, "void")))
		out_pair("void_reason", 16, json_string_value(json_object_get(rec, "void_reason")));
	out_pair("hlc", 16, json_string_value(json_object_get(rec, "hlc")));
	buf_release(&v);
}

static int run(struct cmd_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"json", no_argument, NULL, 'j'},
	    {"branch", required_argument, NULL, 'b'},
	    {0},
	};
	struct ledger *l = ctx->ledger;
	const struct schema_type *t;
	const char *branch = l->office;
	git_commit *head = NULL;
	git_tree *tree = NULL;
	json_t *rec = NULL;
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
			return cmd_usage_error(&cmd_show_entry, "unknown option");
		}
	}
	if (optind + 1 != argc)
		return cmd_usage_error(&cmd_show_entry, "give one record id");
	if ((rc = ledger_type_of(&t, l, argv[optind])) < 0 ||
	    (rc = ledger_resolve(&head, l, branch)) < 0)
		return rc;
	if (git_commit_tree(&tree, head) < 0) {
		rc = err_git(ERR_IO, "cannot read branch '%s'", branch);
		goto out;
	}
	if ((rc = ledger_read(&rec, l, tree, argv[optind])) < 0) {
		if (rc == ERR_NOTFOUND)
			err_set(rc, "no record '%s' on branch '%s'", argv[optind], branch);
		goto out;
	}
	if (json)
		rc = out_json(rec) < 0 ? err_set(ERR_IO, "cannot write the output") : 0;
	else
		show_text(t, rec);
out:
	json_decref(rec);
	git_tree_free(tree);
	git_commit_free(head);
	return rc;
}

const struct cmd_entry cmd_show_entry = {
    .name = "show",
    .usage = "show ID [--branch BRANCH] [--json]\n"
	     "\n"
	     "  --branch BRANCH  read from this branch (default: the office's own)\n"
	     "  --json           print the record as stored (canonical JSON)",
    .summary = "print a record",
    .flags = CMD_LEDGER,
    .run = run,
};
