/*
 * caseledger log: the history of one record, or of the whole branch — each change with
 * its time, office, operator, reason, the fields it changed and its signature status.
 * With --since/--until/--office/--operator/--field it is the auditors' view across all
 * records, read from the index's change log.
 */
#include "config.h"

#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "err.h"
#include "history.h"
#include "office.h"
#include "out.h"
#include "util.h"

struct log_state {
	bool json; /* build s.out (for --json and --csv) */
	bool csv;
	long limit; /* 0: no limit */
	long shown;
	json_t *out; /* JSON array being built */
};

static json_t *entry_json(const struct history_entry *e)
{
	char when[UTIL_ISO_MAX];
	json_t *o;

	util_iso_local(when, e->info.time);
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

	util_iso_local(when, e->info.time);
	printf("commit %s\n", git_oid_tostr_s(&e->info.id));
	printf("  %s  office %s  operator %s  signature %s%s%s\n", when,
	       cmd_office_label(e->info.office), out_esc(e->info.operator),
	       history_sig_name(e->sig.status), e->sig.status == HISTORY_SIG_GOOD ? "" : ": ",
	       e->sig.status == HISTORY_SIG_GOOD ? "" : out_esc(e->sig.why));
	printf("  %s\n", out_esc(e->info.subject));
	if (*e->info.reason) /* several lines: each indented, none taken for another field */
		printf("  reason: %s\n", out_esc(e->info.reason));
	if (e->rec && (changes = history_field_changes(e->old, e->rec))) {
		json_array_foreach (changes, i, c) {
			buf_reset(&a);
			buf_reset(&b);
			out_value(&a, json_object_get(c, "old"), NULL);
			out_value(&b, json_object_get(c, "new"), NULL);
			printf("    %s: %s -> %s\n",
			       out_esc(json_string_value(json_object_get(c, "field"))), a.ptr,
			       b.ptr);
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

static void audit_text(const json_t *e)
{
	struct buf a = BUF_INIT, b = BUF_INIT;
	const json_t *c;
	const char *sig = json_string_value(json_object_get(e, "signature"));
	const char *reason = json_string_value(json_object_get(e, "reason"));
	size_t i;

	printf("commit %s  branch %s\n", out_esc(json_string_value(json_object_get(e, "commit"))),
	       cmd_office_label(json_string_value(json_object_get(e, "branch"))));
	printf("  %s  office %s  operator %s  signature %s%s%s\n",
	       out_esc(json_string_value(json_object_get(e, "time"))),
	       cmd_office_label(json_string_value(json_object_get(e, "office"))),
	       out_esc(json_string_value(json_object_get(e, "operator"))), out_esc(sig),
	       strcmp(sig, "good") ? ": " : "",
	       strcmp(sig, "good")
		   ? out_esc(json_string_value(json_object_get(e, "signature_error")))
		   : "");
	printf("  %s %s %s\n", out_esc(json_string_value(json_object_get(e, "kind"))),
	       out_esc(json_string_value(json_object_get(e, "type"))),
	       cmd_record_label(json_string_value(json_object_get(e, "record"))));
	if (reason && *reason)
		printf("  reason: %s\n", out_esc(reason));
	json_array_foreach (json_object_get(e, "changes"), i, c) {
		buf_reset(&a);
		buf_reset(&b);
		out_value(&a, json_object_get(c, "old"), NULL);
		out_value(&b, json_object_get(c, "new"), NULL);
		printf("    %s: %s -> %s\n",
		       out_esc(json_string_value(json_object_get(c, "field"))), a.ptr, b.ptr);
	}
	printf("\n");
	buf_release(&a);
	buf_release(&b);
}

/* The audit view: every change matching f, newest first, from the index. */
/*
 * Entries (the JSON of either view) as CSV, one row per field changed (an entry that
 * changed no field, such as a merge without records, gives one row with empty field,
 * old and new). record is the ID given to `log ID`, for entries that do not say.
 */
static int log_csv(const json_t *entries, const char *record)
{
	static const char *const cols[] = {"time",	"branch", "commit", "office",  "operator",
					   "signature", "signer", "record", "kind",    "field",
					   "old",	"new",	  "reason", "subject", NULL};
	json_t *rows = json_array(), *e, *c, *row;
	size_t i, j;
	int rc = 0;

	if (!rows)
		return err_set(ERR_NOMEM, "out of memory");
	json_array_foreach (entries, i, e) {
		json_t *changes = json_object_get(e, "changes");
		size_t n = json_array_size(changes) ? json_array_size(changes) : 1;

		for (j = 0; rc == 0 && j < n; j++) {
			if (!(row = json_deep_copy(e))) {
				rc = err_set(ERR_NOMEM, "out of memory");
				break;
			}
			json_object_del(row, "changes");
			if ((c = json_array_get(changes, j)))
				json_object_update(row, c);
			if (record && !json_object_get(row, "record"))
				json_object_set_new(row, "record", json_string(record));
			if (json_is_boolean(json_object_get(row, "created")) &&
			    !json_object_get(row, "kind"))
				json_object_set_new(
				    row, "kind",
				    json_string(json_is_true(json_object_get(row, "created"))
						    ? "create"
						    : "amend"));
			json_array_append_new(rows, row);
		}
	}
	if (rc == 0)
		rc = out_csv(rows, cols);
	json_decref(rows);
	return rc;
}

static int audit(struct cmd_ctx *ctx, const struct index_log_filter *f, bool json, bool csv)
{
	json_t *entries = NULL, *e;
	size_t i;
	int rc;

	if (!ctx->index)
		return err_set(ERR_IO, "the index is not available; see 'caseledger reindex'");
	if ((rc = index_log(&entries, ctx->index, f)) < 0 ||
	    (rc = cmd_add_signatures(entries, ctx->ledger)) < 0)
		goto out;
	if (json) {
		rc = out_json(entries) < 0 ? err_set(ERR_IO, "cannot write the output") : 0;
		goto out;
	}
	if (csv) {
		rc = log_csv(entries, NULL);
		goto out;
	}
	json_array_foreach (entries, i, e)
		audit_text(e);
out:
	json_decref(entries);
	return rc;
}

static int run(struct cmd_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"json", no_argument, NULL, 'j'},
	    {"branch", required_argument, NULL, 'b'},
	    {"limit", required_argument, NULL, 'n'},
	    {"since", required_argument, NULL, 's'},
	    {"until", required_argument, NULL, 'u'},
	    {"office", required_argument, NULL, 'o'},
	    {"exact", no_argument, NULL, 'x'},
	    {"csv", no_argument, NULL, 'c'},
	    {"operator", required_argument, NULL, 'p'},
	    {"field", required_argument, NULL, 'f'},
	    {0},
	};
	struct index_log_filter f = {.since = INT64_MIN, .until = INT64_MAX};
	struct log_state s = {0};
	const char *branch = ctx->ledger->office;
	char own[OFFICE_CODE_MAX + 1];
	bool audit_view = false, branch_given = false;
	char *end;
	int c, rc;

	while ((c = getopt_long(argc, argv, "n:", opts, NULL)) != -1) {
		switch (c) {
		case 'j':
			s.json = true;
			break;
		case 'b':
			branch = optarg;
			branch_given = true;
			break;
		case 's':
			if ((rc = cmd_parse_time(&f.since, "--since", optarg, false)) < 0)
				return rc;
			audit_view = true;
			break;
		case 'u':
			if ((rc = cmd_parse_time(&f.until, "--until", optarg, true)) < 0)
				return rc;
			audit_view = true;
			break;
		case 'x':
			f.office_exact = true;
			break;
		case 'c':
			s.csv = true;
			break;
		case 'o':
			if (office_level(optarg) < 0) {
				err_clear();
				return cmd_usage_error(&cmd_log_entry,
						       "--office wants an office code, got '%s'",
						       optarg);
			}
			f.office = optarg;
			audit_view = true;
			break;
		case 'p':
			f.operator= optarg;
			audit_view = true;
			break;
		case 'f':
			f.field = optarg;
			audit_view = true;
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
	if (s.json && s.csv)
		return cmd_usage_error(&cmd_log_entry, "give --json or --csv, not both");
	if (f.office_exact && !f.office)
		return cmd_usage_error(&cmd_log_entry, "--exact goes with --office");
	s.json = s.json || s.csv;
	if (audit_view) {
		if (f.since > f.until)
			return cmd_usage_error(&cmd_log_entry, "--since is after --until");
		if (optind < argc && (rc = ledger_type_of(&(const struct schema_type *){0},
							  ctx->ledger, argv[optind])) < 0)
			return rc;
		f.branch = branch_given ? branch : NULL;
		if (f.branch && (rc = cmd_check_served(ctx, f.branch)) < 0)
			return rc;
		if (!f.branch)
			cmd_warn_refused(ctx);
		f.record = optind < argc ? argv[optind] : NULL;
		f.limit = s.limit;
		return audit(ctx, &f, s.json && !s.csv, s.csv);
	}
	if (optind < argc && !branch_given) {
		cmd_record_branch(ctx, own, argv[optind]);
		branch = own;
	}
	if ((rc = cmd_check_served(ctx, branch)) < 0)
		return rc;
	if (s.json && !(s.out = json_array()))
		return err_set(ERR_NOMEM, "out of memory");
	if (optind < argc)
		rc = history_record(ctx->ledger, branch, argv[optind], on_entry, &s);
	else
		rc = history_branch(ctx->ledger, branch, on_entry, &s);
	if (rc == 1)
		rc = 0;
	if (rc == 0 && s.csv)
		rc = log_csv(s.out, optind < argc ? argv[optind] : NULL);
	else if (rc == 0 && s.json && out_json(s.out) < 0)
		rc = err_set(ERR_IO, "cannot write the output");
	json_decref(s.out);
	return rc;
}

const struct cmd_entry cmd_log_entry = {
    .name = "log",
    .usage = "log [ID] [--branch BRANCH] [-n|--limit N] [--json|--csv]\n"
	     "       log [ID] --since DATE|--until DATE|--office CODE [--exact]|--operator NAME|\n"
	     "           --field F … [--branch BRANCH] [-n|--limit N] [--json|--csv]\n"
	     "\n"
	     "  ID               only the changes to this record\n"
	     "  --branch BRANCH  the branch to read (default: with ID, the branch of the\n"
	     "                   office that created it when this ledger holds it, else\n"
	     "                   the office's own; in the audit view: every branch)\n"
	     "  -n, --limit N    at most N entries, newest first\n"
	     "  --json           print an array of changes\n"
	     "  --csv            print CSV (RFC 4180, header row), a row per field changed:\n"
	     "                   time, branch, commit, office, operator, signature, signer,\n"
	     "                   record, kind, field, old, new, reason, subject\n"
	     "Audit view (any of these; read from the index, one entry per record changed):\n"
	     "  --since DATE     changes at or after DATE (YYYY-MM-DD or ISO 8601 time)\n"
	     "  --until DATE     changes at or before DATE (a bare date includes that day)\n"
	     "  --office CODE    changes made by this office and every office in its\n"
	     "                   scope (--office 120112: the district and its streets\n"
	     "                   and communities)\n"
	     "  --exact          with --office: that office only, not its scope\n"
	     "  --operator NAME  changes made by this operator\n"
	     "  --field F        changes that touched field F",
    .summary = "show who changed what, when, why, and whether it is signed",
    .flags = CMD_LEDGER,
    .run = run,
};
