/*
 * caseledger verify: check every commit on every branch with verify_commit — signature,
 * certificate, scope, records and role rules.
 */
#include "config.h"

#include <getopt.h>
#include <stdio.h>

#include "cmd.h"
#include "err.h"
#include "out.h"
#include "verify.h"

struct verify_state {
	bool json;
	size_t nbad;
	json_t *bad; /* JSON array, when json */
};

static int on_bad(const char *branch, const struct verify_result *r, void *payload)
{
	struct verify_state *s = payload;
	json_t *o;

	s->nbad++;
	if (!s->json) {
		printf("BAD %s: %s: %s\n", r->commit, verify_status_name(r->status), r->detail);
		return 0;
	}
	o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "commit", r->commit, "branch", branch,
		      "status", verify_status_name(r->status), "rule", r->rule, "signer", r->signer,
		      "error", r->detail);
	return o && json_array_append_new(s->bad, o) == 0 ? 0 : err_set(ERR_NOMEM, "out of memory");
}

static int run(struct cmd_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"json", no_argument, NULL, 'j'}, {"incoming", no_argument, NULL, 'i'}, {0}};
	struct verify_state s = {0};
	size_t ncommits, nbranches;
	unsigned flags = 0;
	json_t *doc;
	int c, rc;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == 'j')
			s.json = true;
		else if (c == 'i')
			flags |= VERIFY_INCOMING;
		else
			return cmd_usage_error(&cmd_verify_entry, "unknown option");
	}
	if (optind != argc)
		return cmd_usage_error(&cmd_verify_entry, "verify takes no arguments");
	if (s.json && !(s.bad = json_array()))
		return err_set(ERR_NOMEM, "out of memory");
	if ((rc = verify_all(ctx->ledger, flags, &ncommits, &nbranches, on_bad, &s)) < 0)
		goto out;
	if (s.json) {
		doc = json_pack("{s:I, s:I, s:O, s:b}", "commits", (json_int_t)ncommits, "branches",
				(json_int_t)nbranches, "bad", s.bad, "ok", s.nbad == 0);
		rc = doc ? out_json(doc) : err_set(ERR_NOMEM, "out of memory");
		json_decref(doc);
	} else if (s.nbad == 0) {
		printf("ok: %zu commits on %zu branch%s, every signature good, every change "
		       "allowed\n",
		       ncommits, nbranches, nbranches == 1 ? "" : "es");
	}
	if (rc == 0 && s.nbad)
		rc =
		    err_set(ERR_VERIFY, "%zu of %zu commits failed verification", s.nbad, ncommits);
out:
	json_decref(s.bad);
	return rc;
}

const struct cmd_entry cmd_verify_entry = {
    .name = "verify",
    .usage = "verify [--incoming] [--json]\n"
	     "\n"
	     "Checks every commit of every branch: its signature; that the key's certificate\n"
	     "from the city CA was valid at the commit's time and, if revoked, that the\n"
	     "commit is the branch's cut-off or an ancestor of it (a standalone ledger\n"
	     "trusts only its own key); that the signer's office may write the branch;\n"
	     "that every record it changes passes the schema and the role rules for the\n"
	     "signer's level. Prints one line 'BAD COMMIT: STATUS: signed by …: rule …' per\n"
	     "failure and exits 7 when any fails.\n"
	     "\n"
	     "  --incoming   check as for commits new from the network (the same verdicts:\n"
	     "               revocation is decided by the cut-offs, not by when it is checked)\n"
	     "  --json       print {commits, branches, bad: [{commit, branch, status, rule,\n"
	     "               signer, error}], ok}",
    .summary = "check every commit: signature, certificate, scope, records, role rules",
    .flags = CMD_LEDGER,
    .run = run,
};
