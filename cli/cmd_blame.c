/*
 * caseledger blame: for each field of a record, the change that set its current value —
 * commit, time, office, operator, reason — and whether that commit's signature is good.
 */
#include "config.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cmd.h"
#include "err.h"
#include "history.h"
#include "out.h"

static void print_text(const char *id, const struct schema_type *t, const char *branch,
		       const json_t *entries)
{
	struct buf v = BUF_INIT;
	const json_t *e;
	size_t i;

	printf("%s %s on branch %s\n", t->name, out_esc(id), out_esc(branch));
	json_array_foreach (entries, i, e) {
		const char *field = json_string_value(json_object_get(e, "field"));
		const char *sig = json_string_value(json_object_get(e, "signature"));
		const char *reason = json_string_value(json_object_get(e, "reason"));

		const struct schema_field *f = schema_field_find(t, field);
		const json_t *value = json_object_get(e, "value");

		buf_reset(&v);
		if (f && f->ref_type && json_is_string(value))
			buf_adds(&v, cmd_record_label(json_string_value(value)));
		else
			out_value(&v, value, f);
		printf("  %-16s %s\n", out_esc(field), v.ptr);
		if (!json_object_get(e, "commit")) {
			printf("  %-16s   (no change in the index sets this value)\n", "");
			continue;
		}
		printf("  %-16s   %.12s %s office %s operator %s signature %s%s%s\n", "",
		       out_esc(json_string_value(json_object_get(e, "commit"))),
		       out_esc(json_string_value(json_object_get(e, "time"))),
		       cmd_office_label(json_string_value(json_object_get(e, "office"))),
		       out_esc(json_string_value(json_object_get(e, "operator"))), out_esc(sig),
		       strcmp(sig, "good") ? ": " : "",
		       strcmp(sig, "good")
			   ? out_esc(json_string_value(json_object_get(e, "signature_error")))
			   : "");
		printf("  %-16s   %s%s\n", "", reason && *reason ? "reason: " : "subject: ",
		       out_esc(reason && *reason
				   ? reason
				   : json_string_value(json_object_get(e, "subject"))));
	}
	buf_release(&v);
}

/* Keep only field's entry; ERR_NOTFOUND when the record does not hold that field. */
static int only_field(json_t *entries, const char *field)
{
	size_t i = 0;

	while (i < json_array_size(entries)) {
		const char *f =
		    json_string_value(json_object_get(json_array_get(entries, i), "field"));

		if (f && strcmp(f, field) == 0)
			i++;
		else
			json_array_remove(entries, i);
	}
	return json_array_size(entries)
		   ? 0
		   : err_set(ERR_NOTFOUND, "the record holds no field '%s'", field);
}

static int run(struct cmd_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"json", no_argument, NULL, 'j'},
	    {"branch", required_argument, NULL, 'b'},
	    {"csv", no_argument, NULL, 'c'},
	    {0},
	};
	static const char *const cols[] = {"field",	"value",    "commit", "time",
					   "office",	"operator", "reason", "subject",
					   "signature", "signer",   NULL};
	const struct schema_type *t;
	const char *branch = NULL, *field = NULL;
	char own[OFFICE_CODE_MAX + 1];
	json_t *entries = NULL, *doc = NULL;
	bool json = false, csv = false;
	int c, rc;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'j':
			json = true;
			break;
		case 'b':
			branch = optarg;
			break;
		case 'c':
			csv = true;
			break;
		default:
			return cmd_usage_error(&cmd_blame_entry, "unknown option");
		}
	}
	if (optind + 1 != argc && optind + 2 != argc)
		return cmd_usage_error(&cmd_blame_entry,
				       "give one record id and at most one field");
	if (optind + 2 == argc)
		field = argv[optind + 1];
	if (json && csv)
		return cmd_usage_error(&cmd_blame_entry, "give --json or --csv, not both");
	if (!branch) {
		cmd_record_branch(ctx, own, argv[optind]);
		branch = own;
	}
	if ((rc = ledger_type_of(&t, ctx->ledger, argv[optind])) < 0 ||
	    (rc = ledger_ref_name((char[LEDGER_REF_MAX]){0}, branch)) < 0 ||
	    (rc = cmd_check_served(ctx, branch)) < 0)
		return rc;
	if (field && !schema_field_find(t, field) && !schema_is_reserved(field))
		return err_set(ERR_INVALID, "%s has no field '%s' (see 'caseledger schema %s')",
			       t->name, field, t->name);
	if ((rc = index_blame(&entries, ctx->index, branch, argv[optind])) < 0)
		goto out;
	if (field && (rc = only_field(entries, field)) < 0)
		goto out;
	if ((rc = cmd_add_signatures(entries, ctx->ledger)) < 0)
		goto out;
	if (json) {
		doc = json_pack("{s:s, s:s, s:s, s:O}", "id", argv[optind], "type", t->name,
				"branch", branch, "fields", entries);
		rc = !doc		 ? err_set(ERR_NOMEM, "out of memory")
		     : out_json(doc) < 0 ? err_set(ERR_IO, "cannot write the output")
					 : 0;
	} else if (csv) {
		rc = out_csv(entries, cols);
	} else {
		print_text(argv[optind], t, branch, entries);
	}
out:
	json_decref(entries);
	json_decref(doc);
	return rc;
}

const struct cmd_entry cmd_blame_entry = {
    .name = "blame",
    .usage = "blame ID [FIELD] [--branch BRANCH] [--json|--csv]\n"
	     "\n"
	     "  FIELD            only this field: who set its current value\n"
	     "  --branch BRANCH  the branch to read (default: the branch of the office\n"
	     "                   that created the record, when this ledger holds it;\n"
	     "                   else the office's own)\n"
	     "  --json           print {\"id\", \"type\", \"branch\", \"fields\": [{\"field\",\n"
	     "                   \"value\", \"commit\", \"time\", \"office\", \"operator\",\n"
	     "                   \"reason\", \"subject\", \"signature\", …}]}\n"
	     "  --csv            print CSV (RFC 4180, header row): field, value, commit,\n"
	     "                   time, office, operator, reason, subject, signature, signer",
    .summary = "show who set each field of a record, when, why, and the signature",
    .flags = CMD_LEDGER | CMD_INDEX,
    .run = run,
};
