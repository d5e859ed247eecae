/*
 * caseledger show: one record as it stands on the office branch, or as it stood at a
 * commit or a date (--at).
 */
#include "config.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cmd.h"
#include "err.h"
#include "out.h"
#include "util.h"

/* A reference (or a list of them): each id with the name of the record it names. */
static void show_refs(const char *field, const json_t *val)
{
	const json_t *item;
	size_t i;

	if (json_is_string(val)) {
		printf("%-16s  %s\n", out_esc(field), cmd_record_label(json_string_value(val)));
		return;
	}
	printf("%-16s  ", out_esc(field));
	json_array_foreach (val, i, item)
		printf("%s%s", i ? ", " : "",
		       json_is_string(item) ? cmd_record_label(json_string_value(item)) : "?");
	printf("%s\n", json_array_size(val) ? "" : "-");
}

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
		if (f->ref_type && (json_is_string(val) || json_is_array(val))) {
			show_refs(f->name, val);
			continue;
		}
		out_value(&v, val, f);
		out_pair(f->name, 16, v.ptr);
	}
	if (json_is_true(json_object_get(rec, "void")))
		out_pair("void_reason", 16, json_string_value(json_object_get(rec, "void_reason")));
	out_pair("hlc", 16, json_string_value(json_object_get(rec, "hlc")));
	buf_release(&v);
}

/* Does text start like a date (YYYY-MM-DD)? Then --at means a time, not a revision. */
static bool looks_like_date(const char *text)
{
	return strlen(text) >= 10 && strspn(text, "0123456789") == 4 && text[4] == '-' &&
	       strspn(text + 5, "0123456789") == 2 && text[7] == '-' &&
	       strspn(text + 8, "0123456789") == 2;
}

/* The last commit on branch made at or before when. */
static int commit_at(git_commit **out, struct ledger *l, const char *branch, const char *text,
		     int64_t when)
{
	git_revwalk *walk = NULL;
	git_oid head, oid;
	int rc;

	*out = NULL;
	if ((rc = ledger_head(&head, l, branch)) < 0)
		return rc;
	if (git_revwalk_new(&walk, l->repo) < 0 ||
	    git_revwalk_sorting(walk, GIT_SORT_TOPOLOGICAL | GIT_SORT_TIME) < 0 ||
	    git_revwalk_push(walk, &head) < 0) {
		rc = err_git(ERR_IO, "cannot walk branch '%s'", branch);
		goto out;
	}
	rc = err_set(ERR_NOTFOUND, "branch '%s' has no commit at or before '%s'", branch, text);
	while (git_revwalk_next(&oid, walk) == 0) {
		if (git_commit_lookup(out, l->repo, &oid) < 0) {
			rc = err_git(ERR_IO, "cannot read commit %s", git_oid_tostr_s(&oid));
			break;
		}
		if ((int64_t)git_commit_time(*out) <= when) {
			err_clear();
			rc = 0;
			break;
		}
		git_commit_free(*out);
		*out = NULL;
	}
out:
	git_revwalk_free(walk);
	return rc;
}

static int run(struct cmd_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"json", no_argument, NULL, 'j'},
	    {"branch", required_argument, NULL, 'b'},
	    {"at", required_argument, NULL, 'a'},
	    {0},
	};
	struct ledger *l = ctx->ledger;
	const struct schema_type *t;
	const char *branch = l->office;
	char own[OFFICE_CODE_MAX + 1];
	bool branch_given = false;
	git_commit *head = NULL;
	git_tree *tree = NULL;
	json_t *rec = NULL;
	const char *at = NULL;
	bool json = false;
	int64_t when;
	int c, rc;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'j':
			json = true;
			break;
		case 'b':
			branch = optarg;
			branch_given = true;
			break;
		case 'a':
			at = optarg;
			break;
		default:
			return cmd_usage_error(&cmd_show_entry, "unknown option");
		}
	}
	if (optind + 1 != argc)
		return cmd_usage_error(&cmd_show_entry, "give one record id");
	if (!branch_given) {
		cmd_record_branch(ctx, own, argv[optind]);
		branch = own;
	}
	if ((rc = ledger_type_of(&t, l, argv[optind])) < 0)
		return rc;
	if ((rc = cmd_check_served(ctx, branch)) < 0)
		return rc;
	if (at && looks_like_date(at)) {
		if ((rc = cmd_parse_time(&when, "--at", at, true)) < 0 ||
		    (rc = commit_at(&head, l, branch, at, when)) < 0)
			return rc;
	} else if ((rc = ledger_resolve(&head, l, at ? at : branch)) < 0) {
		return rc;
	}
	if (git_commit_tree(&tree, head) < 0) {
		rc = err_git(ERR_IO, "cannot read branch '%s'", branch);
		goto out;
	}
	if ((rc = ledger_read(&rec, l, tree, argv[optind])) < 0) {
		if (rc == ERR_NOTFOUND && at)
			err_set(rc, "no record '%s' at '%s' (commit %.12s)", argv[optind], at,
				git_oid_tostr_s(git_commit_id(head)));
		else if (rc == ERR_NOTFOUND)
			err_set(rc, "no record '%s' on branch '%s'", argv[optind], branch);
		goto out;
	}
	if (at && !json) {
		char iso[UTIL_ISO_MAX];

		util_iso_local(iso, (int64_t)git_commit_time(head));
		printf("as of commit %.12s (%s)\n", git_oid_tostr_s(git_commit_id(head)), iso);
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
    .usage = "show ID [--branch BRANCH] [--at REV|DATE] [--json]\n"
	     "\n"
	     "  --branch BRANCH  read from this branch (default: the branch of the office\n"
	     "                   that created the record, when this ledger holds it; else\n"
	     "                   the office's own)\n"
	     "  --at REV|DATE    the record as it stood at a commit (any git revision), or\n"
	     "                   at the last commit on the branch at or before DATE\n"
	     "                   (YYYY-MM-DD: the end of that day, or an ISO 8601 time)\n"
	     "  --json           print the record as stored (canonical JSON)",
    .summary = "print a record",
    .flags = CMD_LEDGER,
    .run = run,
};
