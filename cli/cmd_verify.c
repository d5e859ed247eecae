/*
 * caseledger verify: check the signature of every commit on every branch.
 */
#include "config.h"

#include <getopt.h>
#include <stdio.h>

#include "cmd.h"
#include "err.h"
#include "history.h"
#include "out.h"

struct verify_state {
	bool json;
	size_t nbad;
	json_t *bad; /* JSON array, when json */
};

static int on_bad(const struct history_verify_bad *b, void *payload)
{
	struct verify_state *s = payload;
	json_t *o;

	s->nbad++;
	if (!s->json) {
		printf("BAD %s: %s: %s\n", git_oid_tostr_s(&b->id), history_sig_name(b->sig.status),
		       b->sig.why);
		return 0;
	}
	o = json_pack("{s:s, s:s, s:s}", "commit", git_oid_tostr_s(&b->id), "status",
		      history_sig_name(b->sig.status), "error", b->sig.why);
	return o && json_array_append_new(s->bad, o) == 0 ? 0 : err_set(ERR_NOMEM, "out of memory");
}

static int run(struct cmd_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {{"json", no_argument, NULL, 'j'}, {0}};
	struct verify_state s = {0};
	size_t ncommits, nbranches;
	json_t *doc;
	int c, rc;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c != 'j')
			return cmd_usage_error(&cmd_verify_entry, "unknown option");
		s.json = true;
	}
	if (optind != argc)
		return cmd_usage_error(&cmd_verify_entry, "verify takes no arguments");
	if (s.json && !(s.bad = json_array()))
		return err_set(ERR_NOMEM, "out of memory");
	if ((rc = history_verify_all(ctx->ledger, &ncommits, &nbranches, on_bad, &s)) < 0)
		goto out;
	if (s.json) {
		doc = json_pack("{s:I, s:I, s:O, s:b}", "commits", (json_int_t)ncommits, "branches",
				(json_int_t)nbranches, "bad", s.bad, "ok", s.nbad == 0);
		rc = doc ? out_json(doc) : err_set(ERR_NOMEM, "out of memory");
		json_decref(doc);
	} else if (s.nbad == 0) {
		printf("ok: %zu commits on %zu branch%s, every signature good\n", ncommits,
		       nbranches, nbranches == 1 ? "" : "es");
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
    .usage = "verify [--json]\n"
	     "\n"
	     "Exits 7 when any commit is unsigned, badly signed or signed by an untrusted key.",
    .summary = "check every commit's signature on every branch",
    .flags = CMD_LEDGER,
    .run = run,
};
