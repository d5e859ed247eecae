/*
 * caseledger bundle: offline transfer. `bundle create` writes the office's branches and
 * the trust branch (or those asked for) to a git bundle file; `bundle apply` brings one
 * in at any office: every commit is verified as a fetch would verify it, then each branch
 * is fast-forwarded or merged (replication/bundle.h).
 */
#include "config.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bundle.h"
#include "cmd.h"
#include "err.h"
#include "office.h"
#include "out.h"
#include "sync.h"

#define BRANCHES_MAX 64

/* The branches a bundle carries by default: the office's own (when it has one), trust. */
static int default_branches(char **out, size_t *n, struct ledger *l)
{
	git_oid head;

	*n = 0;
	if (ledger_head(&head, l, l->office) == 0)
		out[(*n)++] = l->office;
	err_clear();
	if (ledger_head(&head, l, "trust") == 0)
		out[(*n)++] = "trust";
	err_clear();
	return *n ? 0 : err_set(ERR_NOTFOUND, "this ledger has no branch to bundle");
}

/* --since BUNDLE: its heads this ledger holds are the new bundle's prerequisites. */
static int since_heads(git_oid **out, size_t *n, struct ledger *l, const char *path)
{
	struct bundle old;
	git_odb *odb = NULL;
	size_t i;
	int rc;

	*out = NULL;
	*n = 0;
	if ((rc = bundle_read(&old, path)) < 0)
		goto out;
	if (git_repository_odb(&odb, l->repo) < 0) {
		rc = err_git(ERR_IO, "cannot open the object database");
		goto out;
	}
	if (!(*out = calloc(old.nrefs, sizeof(**out)))) {
		rc = err_set(ERR_NOMEM, "out of memory");
		goto out;
	}
	for (i = 0; i < old.nrefs; i++)
		if (git_odb_exists(odb, &old.refs[i].oid))
			git_oid_cpy(&(*out)[(*n)++], &old.refs[i].oid);
out:
	git_odb_free(odb);
	bundle_release(&old);
	return rc;
}

static int run_create(struct cmd_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"branch", required_argument, NULL, 'b'},
	    {"since", required_argument, NULL, 's'},
	    {"json", no_argument, NULL, 'j'},
	    {0},
	};
	char *branches[BRANCHES_MAX];
	const char *since = NULL;
	git_oid *hide = NULL;
	size_t n = 0, nhide = 0, nobjects = 0, i;
	bool json = false;
	json_t *doc;
	int c, rc;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == 'b') {
			if (n == BRANCHES_MAX)
				return cmd_usage_error(&cmd_bundle_entry, "at most %d --branch",
						       BRANCHES_MAX);
			if (strcmp(optarg, "trust") != 0 && office_level(optarg) < 0) {
				err_clear();
				return cmd_usage_error(&cmd_bundle_entry,
						       "'%s' is not an office branch or 'trust'",
						       optarg);
			}
			branches[n++] = optarg;
		} else if (c == 's') {
			since = optarg;
		} else if (c == 'j') {
			json = true;
		} else {
			return cmd_usage_error(&cmd_bundle_entry, "unknown option");
		}
	}
	if (optind + 1 != argc)
		return cmd_usage_error(&cmd_bundle_entry, "bundle create takes one FILE");
	if (n == 0 && (rc = default_branches(branches, &n, ctx->ledger)) < 0)
		return rc;
	for (i = 0; i < n; i++)
		if ((rc = cmd_check_served(ctx, branches[i])) < 0)
			return rc;
	if (since && (rc = since_heads(&hide, &nhide, ctx->ledger, since)) < 0)
		return rc;
	rc = bundle_write(ctx->ledger, argv[optind], branches, n, hide, nhide, &nobjects);
	free(hide);
	if (rc < 0)
		return rc;
	if (!json) {
		printf("wrote %s: %zu branch%s, %zu objects, %zu prerequisite%s\n",
		       out_esc(argv[optind]), n, n == 1 ? "" : "es", nobjects, nhide,
		       nhide == 1 ? "" : "s");
		return 0;
	}
	if (!(doc = json_pack("{s:s, s:[], s:i, s:i}", "file", argv[optind], "branches", "objects",
			      (int)nobjects, "prerequisites", (int)nhide)))
		return err_set(ERR_NOMEM, "out of memory");
	for (i = 0; i < n; i++)
		json_array_append_new(json_object_get(doc, "branches"), json_string(branches[i]));
	rc = out_json(doc);
	json_decref(doc);
	return rc;
}

/* May this office apply branch: trust, in its scope, or one it already holds. */
static bool wanted(struct ledger *l, const char *branch)
{
	git_oid head;
	bool held;

	if (strcmp(branch, "trust") == 0 || office_in_scope(l->office, branch))
		return true;
	held = ledger_head(&head, l, branch) == 0;
	err_clear();
	return held;
}

static int run_apply(struct cmd_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {{"json", no_argument, NULL, 'j'}, {0}};
	struct sync_peer peer = {0};
	struct sync_branch_result r;
	struct bundle b;
	json_t *doc = NULL, *one;
	bool json = false, first_trust;
	size_t i, k, failed = 0, changed = 0;
	int c, rc;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c != 'j')
			return cmd_usage_error(&cmd_bundle_entry, "unknown option");
		json = true;
	}
	if (optind + 1 != argc)
		return cmd_usage_error(&cmd_bundle_entry, "bundle apply takes one FILE");
	if ((rc = bundle_read(&b, argv[optind])) < 0 || (rc = bundle_unpack(ctx->ledger, &b)) < 0)
		goto out;
	peer.url = b.path;
	peer.name = "bundle";
	peer.bundle = &b;
	if (!(doc = json_array())) {
		rc = err_set(ERR_NOMEM, "out of memory");
		goto out;
	}
	/* trust first: every other branch is verified against it */
	for (k = 0; k < 2; k++)
		for (i = 0; i < b.nrefs; i++) {
			const char *branch = b.refs[i].name + 11;

			first_trust = strcmp(branch, "trust") == 0;
			if (first_trust != (k == 0))
				continue;
			if (!wanted(ctx->ledger, branch)) {
				one = json_pack("{s:s, s:s}", "branch", branch, "outcome",
						"skipped: outside this office's scope");
			} else {
				if (sync_branch(&r, ctx->ledger, &peer, branch) < 0) {
					err_clear();
					failed++;
				}
				changed += r.outcome == SYNC_FETCHED || r.outcome == SYNC_MERGED;
				one = json_pack("{s:s, s:s, s:i, s:i, s:i, s:s?}", "branch", branch,
						"outcome", sync_outcome_name(r.outcome), "ahead",
						(int)r.ahead, "behind", (int)r.behind, "conflicts",
						(int)r.conflicts, "error",
						r.error[0] ? r.error : NULL);
			}
			if (!one || json_array_append_new(doc, one) < 0) {
				rc = err_set(ERR_NOMEM, "out of memory");
				goto out;
			}
		}
	if (json) {
		rc = out_json(doc);
	} else {
		json_array_foreach (doc, i, one) {
			const char *err = json_string_value(json_object_get(one, "error"));

			printf("%-14s %s%s%s\n",
			       out_esc(json_string_value(json_object_get(one, "branch"))),
			       out_esc(json_string_value(json_object_get(one, "outcome"))),
			       err ? ": " : "", err ? out_esc(err) : "");
		}
		if (!failed && !changed)
			printf("nothing new: this ledger already holds everything in %s\n",
			       out_esc(b.path));
	}
	if (changed == 0)
		bundle_discard(ctx->ledger, &b); /* nothing came of it: keep none of it */
	if (rc == 0 && failed)
		rc = err_set(ERR_VERIFY, "bundle '%s': %zu branch%s refused (nothing of %s moved)",
			     b.path, failed, failed == 1 ? "" : "es", failed == 1 ? "it" : "them");
out:
	json_decref(doc);
	bundle_release(&b);
	return rc;
}

static int run(struct cmd_ctx *ctx, int argc, char **argv)
{
	if (argc < 2)
		return cmd_usage_error(&cmd_bundle_entry, "give a subcommand: create or apply");
	if (strcmp(argv[1], "create") == 0)
		return run_create(ctx, argc - 1, argv + 1);
	if (strcmp(argv[1], "apply") == 0)
		return run_apply(ctx, argc - 1, argv + 1);
	return cmd_usage_error(&cmd_bundle_entry, "no subcommand '%s' (create or apply)", argv[1]);
}

const struct cmd_entry cmd_bundle_entry = {
    .name = "bundle",
    .usage = "bundle create FILE [--branch BRANCH]… [--since BUNDLE] [--json]\n"
	     "       bundle apply FILE [--json]\n"
	     "\n"
	     "  create  write the office's branch and the trust branch (or each --branch)\n"
	     "          to FILE, a git bundle (stock `git bundle verify` reads it)\n"
	     "  --since BUNDLE  only what BUNDLE did not carry: the receiver must have\n"
	     "          applied BUNDLE first\n"
	     "  apply   verify every commit FILE brings exactly as a fetch would (scope,\n"
	     "          signatures, revocation, role rules, merges recomputed), then\n"
	     "          fast-forward or merge each branch in this office's scope; a\n"
	     "          refused branch does not move\n"
	     "\n"
	     "For an office with no link: carry the file both ways (USB stick, mail).",
    .summary = "carry branches to and from an office without a network",
    .flags = CMD_LEDGER,
    .run = run,
};
