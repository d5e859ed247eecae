/*
 * caseledger conflicts: the conflict records still open (or all of them), as written by
 * merge, on every branch this ledger holds in the office's scope (or one branch), grouped
 * by branch.
 */
#include "config.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "err.h"
#include "merge.h"
#include "office.h"
#include "out.h"

static void show_text(const json_t *list, bool all)
{
	const char *branch = NULL;
	const json_t *c;
	size_t i;

	if (json_array_size(list) == 0) {
		printf("no %sconflicts\n", all ? "" : "open ");
		return;
	}
	json_array_foreach (list, i, c) {
		const char *b = json_string_value(json_object_get(c, "branch"));

		if (!branch || strcmp(branch, b) != 0)
			printf("%sbranch %s\n", branch ? "\n" : "", out_esc(b));
		branch = b;
		const char *base = json_string_value(json_object_get(c, "base"));
		const char *ours = json_string_value(json_object_get(c, "ours"));
		const char *theirs = json_string_value(json_object_get(c, "theirs"));

		printf("  %s  %s  %s '%s'\n", out_esc(json_string_value(json_object_get(c, "id"))),
		       out_esc(json_string_value(json_object_get(c, "status"))),
		       out_esc(json_string_value(json_object_get(c, "record"))),
		       out_esc(json_string_value(json_object_get(c, "field"))));
		printf("      ours (kept)  %s\n      theirs       %s\n      base         %s\n",
		       ours ? out_esc(ours) : "(absent)", theirs ? out_esc(theirs) : "(absent)",
		       base ? out_esc(base) : "(absent)");
		if (json_object_get(c, "resolution"))
			printf("      resolution   %s\n",
			       out_esc(json_string_value(json_object_get(c, "resolution"))));
	}
}

struct scope {
	const char *office;
	char **names;
	size_t n;
};

static int scope_add(const char *ref, void *payload)
{
	struct scope *s = payload;
	const char *name = ref + strlen("refs/heads/");
	char **g;

	if (strncmp(ref, "refs/heads/", 11) != 0 || office_level(name) < 0 ||
	    !office_in_scope(s->office, name)) {
		err_clear();
		return 0;
	}
	if (!(g = realloc(s->names, (s->n + 1) * sizeof(*g))))
		return -1;
	s->names = g;
	if (!(g[s->n] = strdup(name)))
		return -1;
	s->n++;
	return 0;
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/*
 * The conflicts of every branch in the office's scope, each tagged with its branch. The
 * office's own branch must be served (ERR_VERIFY otherwise); another branch that is not
 * is left out with a warning, as in every command that reads across branches.
 */
static int scope_conflicts(json_t **out, struct cmd_ctx *ctx, bool all)
{
	struct scope s = {ctx->ledger->office, NULL, 0};
	json_t *list = NULL, *c;
	size_t i, j;
	int rc = 0;

	if (!(*out = json_array()))
		return err_set(ERR_NOMEM, "out of memory");
	if (git_reference_foreach_name(ctx->ledger->repo, scope_add, &s) < 0) {
		rc = err_set(ERR_NOMEM, "cannot list the branches");
		goto out;
	}
	qsort(s.names, s.n, sizeof(*s.names), name_cmp);
	for (i = 0; i < s.n && rc == 0; i++) {
		if ((rc = cmd_check_served(ctx, s.names[i])) < 0) {
			if (!strcmp(s.names[i], ctx->ledger->office))
				break; /* the office's own branch: refused, as for --branch */
			fprintf(stderr, "caseledger: warning: %s\n", err_msg());
			err_clear();
			rc = 0;
			continue;
		}
		if ((rc = merge_conflicts(&list, ctx->ledger, s.names[i], all)) < 0)
			break;
		json_array_foreach (list, j, c)
			json_object_set_new(c, "branch", json_string(s.names[i]));
		json_array_extend(*out, list);
		json_decref(list);
		list = NULL;
	}
out:
	for (i = 0; i < s.n; i++)
		free(s.names[i]);
	free(s.names);
	if (rc < 0) {
		json_decref(*out);
		*out = NULL;
	}
	return rc;
}

static const char *const csv_cols[] = {"branch", "id",	   "status", "record",	   "field",
				       "ours",	 "theirs", "base",   "resolution", NULL};

static int run(struct cmd_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"json", no_argument, NULL, 'j'},
	    {"all", no_argument, NULL, 'a'},
	    {"branch", required_argument, NULL, 'b'},
	    {"csv", no_argument, NULL, 'c'},
	    {0},
	};
	const char *branch = NULL;
	json_t *list = NULL, *c0;
	bool json = false, all = false, csv = false;
	size_t i;
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
		case 'c':
			csv = true;
			break;
		default:
			return cmd_usage_error(&cmd_conflicts_entry, "unknown option");
		}
	}
	if (optind != argc)
		return cmd_usage_error(&cmd_conflicts_entry, "no arguments expected");
	if (json && csv)
		return cmd_usage_error(&cmd_conflicts_entry, "give --json or --csv, not both");
	if (branch) {
		if ((rc = cmd_check_served(ctx, branch)) < 0 ||
		    (rc = merge_conflicts(&list, ctx->ledger, branch, all)) < 0)
			return rc;
		json_array_foreach (list, i, c0)
			json_object_set_new(c0, "branch", json_string(branch));
	} else if ((rc = scope_conflicts(&list, ctx, all)) < 0) {
		return rc;
	}
	if (json)
		rc = out_json(list) < 0 ? err_set(ERR_IO, "cannot write the output") : 0;
	else if (csv)
		rc = out_csv(list, csv_cols);
	else
		show_text(list, all);
	json_decref(list);
	return rc;
}

const struct cmd_entry cmd_conflicts_entry = {
    .name = "conflicts",
    .usage = "conflicts [--all] [--branch BRANCH] [--json|--csv]\n"
	     "\n"
	     "  --all            resolved conflicts too\n"
	     "  --branch BRANCH  only this branch (default: every branch this ledger\n"
	     "                   holds in the office's scope, grouped by branch)\n"
	     "  --json           print the conflict records as an array (by branch, then\n"
	     "                   id), each with its \"branch\"\n"
	     "  --csv            print CSV (RFC 4180, header row): branch, id, status,\n"
	     "                   record, field, ours, theirs, base, resolution\n"
	     "\n"
	     "  In a conflict record, \"ours\" is the value merge kept in the record and\n"
	     "  \"theirs\" the value it set aside (both as JSON).",
    .summary = "list conflicts merge left for a person to settle",
    .flags = CMD_LEDGER,
    .run = run,
};
