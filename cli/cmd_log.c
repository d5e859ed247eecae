/*
 * caseledger log: the history of one record, or of the whole branch — each change with
 * its time, office, operator, reason, the fields it changed and its signature status.
 */
#include "config.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "err.h"
#include "history.h"
#include "out.h"
#include "util.h"

struct log_state {
	bool json;
	long limit; /* 0: no limit */
	long shown;
	json_t *out; /* JSON array being built */
};

static json_t *entry_json(const struct history_entry *e)
{
	char when[UTIL_ISO_MAX];
	json_t *o;

	util_iso_time(when, e->info.time, e->info.offset);
	o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:i}", "commit",
		      git_oid_tostr_s(&e->info.id), "time", when, "office", e->info.office,
		      "operator", e->info.operator, "subject", e->info.subject, "reason",
		      e->info.reason, "signature", history_sig_name(e->sig.status), "hlc",
		      e->info.hlc, "parents", (int)e->info.nparents);
	if (!o)
		return NULL;
	if (e->sig.status != HISTORY_SIG_GOOD)
		json_object_set_new(o, "signature_error", json_string(e->sig.why));
	else
		json_object_set_new(o, "signer", json_string(e->sig.signer));
	if (e->rec) {
		json_object_set_new(o, "changes", history_field_changes(e->old, e->rec));
		json_object_set_new(o, "created", json_boolean(e->old == NULL));
	}
	return o;
}

static void entry_text(const struct history_entry *e)
{
	struct buf a = BUF_INIT, b = BUF_INIT;
	json_t *changes, *c;
	char when[UTIL_ISO_MAX];
	size_t i;

	util_iso_time(when, e->info.time, e->info.offset);
	printf("commit %s\n", git_oid_tostr_s(&e->info.id));
	printf("  %s  office %s  operator %s  signature %s%s%s\n", when, e->info.office,
	       e->info.operator, history_sig_name(e->sig.status),
	       e->sig.status == HISTORY_SIG_GOOD ? "" : ": ",
	       e->sig.status == HISTORY_SIG_GOOD ? "" : e->sig.why);
	printf("  %s\n", e->info.subject);
	if (*e->info.reason)
		printf("  reason: %s\n", e->info.reason);
	if (e->rec && (changes = history_field_changes(e->old, e->rec))) {
		json_array_foreach (changes, i, c) {
			buf_reset(&a);
			buf_reset(&b);
			out_value(&a, json_object_get(c, "old"), NULL);
			out_value(&b, json_object_get(c, "new"), NULL);
			printf("    %s: %s -> %s\n", json_string_value(json_object_get(c, "field")),
			       a.ptr, b.ptr);
		}
		json_decref(changes);
	}
	printf("\n");
	buf_release(&a);
	buf_release(&b);
}

static int on_entry(const struct history_entry *e, void *payload)
{
	struct log_state *s = payload;
	json_t *o;

	if (s->limit && s->shown >= s->limit)
		return 1; /* stop the walk */
	s->shown++;
	if (!s->json) {
		entry_text(e);
		return 0;
	}
	if (!(o = entry_json(e)))
		return err_set(ERR_NOMEM, "out of memory");
	return json_array_append_new(s->out, o) < 0 ? err_set(ERR_NOMEM, "out of memory") : 0;
}

static int run(struct cmd_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"json", no_argument, NULL, 'j'},
	    {"branch", required_argument, NULL, 'b'},
	    {"limit", required_argument, NULL, 'n'},
	    {0},
	};
	struct log_state s = {0};
	const char *branch = ctx->ledger->office;
	char *end;
	int c, rc;

	while ((c = getopt_long(argc, argv, "n:", opts, NULL)) != -1) {
		switch (c) {
		case 'j':
			s.json = true;
			break;
		case 'b':
			branch = optarg;
			break;
		case 'n':
			s.limit = strtol(optarg, &end, 10);
			if (*end || s.limit <= 0)
				return cmd_usage_error(&cmd_log_entry,
						       "--limit wants a positive number");
			break;
		default:
			return cmd_usage_error(&cmd_log_entry, "unknown option");
		}
	}
	if (optind + 1 < argc)
		return cmd_usage_error(&cmd_log_entry, "give at most one record id");
	if (s.json && !(s.out = json_array()))
		return err_set(ERR_NOMEM, "out of memory");
	if (optind < argc)
		rc = history_record(ctx->ledger, branch, argv[optind], on_entry, &s);
	else
		rc = history_branch(ctx->ledger, branch, on_entry, &s);
	if (rc == 1)
		rc = 0;
	if (rc == 0 && s.json && out_json(s.out) < 0)
		rc = err_set(ERR_IO, "cannot write the output");
	json_decref(s.out);
	return rc;
}

const struct cmd_entry cmd_log_entry = {
    .name = "log",
    .usage = "log [ID] [--branch BRANCH] [-n|--limit N] [--json]\n"
	     "\n"
	     "  ID               only the changes to this record\n"
	     "  --branch BRANCH  the branch to read (default: the office's own)\n"
	     "  -n, --limit N    at most N entries, newest first\n"
	     "  --json           print an array of changes",
    .summary = "show who changed what, when, why, and whether it is signed",
    .flags = CMD_LEDGER,
    .run = run,
};
