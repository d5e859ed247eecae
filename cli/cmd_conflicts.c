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
#include "out.h"

struct walk {
	struct ledger *l;
	bool all;
	json_t *list;
	int rc;
};

static int visit(const char *root, const git_tree_entry *e, void *payload)
{
	struct walk *w = payload;
	const char *name = git_tree_entry_name(e);
	size_t n = strlen(name);
	char id[RECORD_ID_MAX];
	json_t *rec = NULL;
	git_blob *blob = NULL;
	const char *status;

	if (git_tree_entry_type(e) != GIT_OBJECT_BLOB)
		return 0;
	if (n <= 5 || n - 5 >= sizeof(id) || strcmp(name + n - 5, ".json") != 0) {
		w->rc = err_set(ERR_INVALID, "'conflict/%s%s' is not a record file", root, name);
		return -1;
	}
	memcpy(id, name, n - 5);
	id[n - 5] = '\0';
	if (git_blob_lookup(&blob, w->l->repo, git_tree_entry_id(e)) < 0) {
		w->rc = err_git(ERR_IO, "cannot read conflict '%s'", id);
		return -1;
	}
	w->rc = record_decode(&rec, git_blob_rawcontent(blob), (size_t)git_blob_rawsize(blob),
			      false, id);
	git_blob_free(blob);
	if (w->rc < 0)
		return -1;
	status = json_string_value(json_object_get(rec, "status"));
	if (w->all || (status && strcmp(status, "open") == 0))
		json_array_append(w->list, rec);
	json_decref(rec);
	return 0;
}

static int by_id(const void *a, const void *b)
{
	return strcmp(json_string_value(json_object_get(*(json_t *const *)a, "id")),
		      json_string_value(json_object_get(*(json_t *const *)b, "id")));
}

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

		printf("%s  %s  %s '%s'\n", json_string_value(json_object_get(c, "id")),
		       json_string_value(json_object_get(c, "status")),
		       json_string_value(json_object_get(c, "record")),
		       json_string_value(json_object_get(c, "field")));
		printf("    ours (kept)  %s\n    theirs       %s\n    base         %s\n",
		       ours ? ours : "(absent)", theirs ? theirs : "(absent)",
		       base ? base : "(absent)");
		if (json_object_get(c, "resolution"))
			printf("    resolution   %s\n",
			       json_string_value(json_object_get(c, "resolution")));
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
	struct walk w = {.l = ctx->ledger};
	const char *branch = ctx->ledger->office;
	git_commit *head = NULL;
	git_tree *tree = NULL, *sub = NULL;
	git_tree_entry *e = NULL;
	bool json = false;
	int c, rc;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'j':
			json = true;
			break;
		case 'a':
			w.all = true;
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
	if (!(w.list = json_array()))
		return err_set(ERR_NOMEM, "out of memory");
	if ((rc = ledger_resolve(&head, ctx->ledger, branch)) < 0)
		goto out;
	if (git_commit_tree(&tree, head) < 0) {
		rc = err_git(ERR_IO, "cannot read branch '%s'", branch);
		goto out;
	}
	if (git_tree_entry_bypath(&e, tree, "conflict") == 0 &&
	    git_tree_entry_type(e) == GIT_OBJECT_TREE) {
		if (git_tree_lookup(&sub, ctx->ledger->repo, git_tree_entry_id(e)) < 0) {
			rc = err_git(ERR_IO, "cannot read the conflicts of '%s'", branch);
			goto out;
		}
		if (git_tree_walk(sub, GIT_TREEWALK_PRE, visit, &w) < 0 && w.rc == 0)
			w.rc = err_git(ERR_IO, "cannot walk the conflicts of '%s'", branch);
		if ((rc = w.rc) < 0)
			goto out;
	}
	err_clear();
	{
		/* sort by id: a stable listing */
		size_t n = json_array_size(w.list), i;
		json_t **items = calloc(n + 1, sizeof(*items)), *sorted = json_array();

		if (!items || !sorted) {
			free(items);
			json_decref(sorted);
			rc = err_set(ERR_NOMEM, "out of memory");
			goto out;
		}
		for (i = 0; i < n; i++)
			items[i] = json_array_get(w.list, i);
		qsort(items, n, sizeof(*items), by_id);
		for (i = 0; i < n; i++)
			json_array_append(sorted, items[i]);
		free(items);
		json_decref(w.list);
		w.list = sorted;
	}
	if (json)
		rc = out_json(w.list) < 0 ? err_set(ERR_IO, "cannot write the output") : 0;
	else
		show_text(w.list);
out:
	json_decref(w.list);
	git_tree_entry_free(e);
	git_tree_free(sub);
	git_tree_free(tree);
	git_commit_free(head);
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
