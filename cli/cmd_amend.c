/*
 * caseledger amend: change fields of existing records in one signed commit.
 */
#include "config.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cmd.h"
#include "err.h"
#include "out.h"

struct amend {
	json_t *edits;	/* array of {"id": …, fields…} from --from-json, or NULL */
	const char *id; /* the record the words apply to, or NULL */
	char **words;
	int nwords;
	json_t *changed;     /* ids actually changed by the last attempt */
	struct buf *subject; /* the commit subject, written after staging */
};

static int amend_one(struct ledger_txn *t, const char *id, const json_t *obj, char **words,
		     int nwords, json_t *changed)
{
	const struct schema_type *type;
	json_t *rec = NULL;
	bool did;
	int rc, i;

	if ((rc = ledger_type_of(&type, t->ledger, id)) < 0 ||
	    (rc = ledger_txn_get(&rec, t, id)) < 0)
		return rc;
	if (obj && (rc = cmd_apply_json(rec, type, obj)) < 0)
		goto out;
	for (i = 0; i < nwords; i++)
		if ((rc = cmd_apply_edit(rec, type, words[i])) < 0)
			goto out;
	if ((rc = ledger_txn_put(t, rec, false, &did)) == 0 && did)
		json_array_append_new(changed, json_string(id));
out:
	json_decref(rec);
	return rc;
}

static int subject_for(struct buf *out, const struct amend *a)
{
	size_t n = json_array_size(a->changed);
	int i, rc;

	if (n != 1)
		return buf_printf(out, "amend %zu records", n);
	if ((rc = buf_printf(out, "amend %s:", json_string_value(json_array_get(a->changed, 0)))) <
	    0)
		return rc;
	for (i = 0; i < a->nwords; i++) {
		size_t len = strcspn(a->words[i], "+-=");

		if ((rc = buf_printf(out, "%s %.*s", i ? "," : "", (int)len, a->words[i])) < 0)
			return rc;
	}
	if (a->nwords == 0)
		rc = buf_adds(out, " fields from JSON");
	return rc;
}

static int stage(struct ledger_txn *t, void *payload)
{
	struct amend *a = payload;
	json_t *item;
	size_t i;
	int rc;

	json_array_clear(a->changed);
	if (a->id) {
		if ((rc = amend_one(t, a->id, NULL, a->words, a->nwords, a->changed)) < 0)
			return rc;
	} else {
		json_array_foreach (a->edits, i, item) {
			const char *id = json_string_value(json_object_get(item, "id"));

			if (!json_is_object(item) || !id)
				return err_set(ERR_INVALID,
					       "--from-json entry %zu: want an object with \"id\"",
					       i + 1);
			if ((rc = amend_one(t, id, item, a->words, a->nwords, a->changed)) < 0)
				return rc;
		}
	}
	buf_reset(a->subject);
	return subject_for(a->subject, a);
}

static int report(const struct amend *a, const git_oid *commit, size_t n, bool json)
{
	json_t *doc;
	int rc;

	if (json) {
		doc = json_pack("{s:O, s:s?}", "changed", a->changed, "commit",
				n ? git_oid_tostr_s(commit) : NULL);
		rc = doc ? out_json(doc) : err_set(ERR_NOMEM, "out of memory");
		json_decref(doc);
		return rc;
	}
	if (n == 0)
		printf("unchanged: the records already hold these values\n");
	else
		printf("amended %zu record%s in commit %.12s\n", n, n == 1 ? "" : "s",
		       git_oid_tostr_s(commit));
	return 0;
}

static int run(struct cmd_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"reason", required_argument, NULL, 'r'},
	    {"from-json", required_argument, NULL, 'f'},
	    {"branch", required_argument, NULL, 'b'},
	    {"json", no_argument, NULL, 'j'},
	    {0},
	};
	struct amend a = {0};
	const char *reason = NULL, *json_path = NULL;
	struct buf subject = BUF_INIT;
	char own[OFFICE_CODE_MAX + 1];
	bool json = false;
	git_oid commit;
	size_t n = 0;
	json_t *doc = NULL;
	int c, rc;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'r':
			reason = optarg;
			break;
		case 'f':
			json_path = optarg;
			break;
		case 'b':
			if ((rc = cmd_set_branch(ctx, optarg)) < 0)
				return rc;
			break;
		case 'j':
			json = true;
			break;
		default:
			return cmd_usage_error(&cmd_amend_entry, "unknown option");
		}
	}
	if (!reason || !*reason)
		return cmd_usage_error(&cmd_amend_entry, "--reason TEXT is required: say why");
	if (optind < argc && !cmd_is_edit(argv[optind]))
		a.id = argv[optind++];
	a.words = argv + optind;
	a.nwords = argc - optind;
	if (!a.id && !json_path)
		return cmd_usage_error(&cmd_amend_entry, "give a record id or --from-json FILE");
	if (a.id && a.nwords == 0 && !json_path)
		return cmd_usage_error(&cmd_amend_entry, "give at least one field=value");
	if (a.id && !ctx->branch) {
		cmd_record_branch(ctx, own, a.id);
		if (strcmp(own, ctx->ledger->office) != 0 && (rc = cmd_set_branch(ctx, own)) < 0)
			return rc;
	}
	if (json_path) {
		if ((rc = cmd_read_json(&doc, json_path)) < 0)
			return rc;
		if (a.id) {
			a.edits = json_pack("[{s:s}]", "id", a.id);
			if (a.edits && json_is_object(doc))
				json_object_update(json_array_get(a.edits, 0), doc);
			else if (a.edits)
				rc = err_set(ERR_INVALID,
					     "'%s': with a record id, want one JSON object",
					     json_path);
			a.id = NULL;
		} else if (json_is_array(doc)) {
			a.edits = json_incref(doc);
		} else {
			rc = err_set(ERR_INVALID, "'%s': want an array of objects with \"id\"",
				     json_path);
		}
		if (rc < 0 || !a.edits)
			goto out;
	}
	if (!(a.changed = json_array())) {
		rc = err_set(ERR_NOMEM, "out of memory");
		goto out;
	}
	a.subject = &subject;
	if ((rc = cmd_commit_retry(ctx, stage, &a, &subject, reason, &commit, &n)) < 0)
		goto out;
	rc = report(&a, &commit, n, json);
out:
	json_decref(doc);
	json_decref(a.edits);
	json_decref(a.changed);
	buf_release(&subject);
	return rc;
}

const struct cmd_entry cmd_amend_entry = {
    .name = "amend",
    .usage = "amend ID field=value… --reason TEXT [--branch BRANCH] [--json]\n"
	     "       amend --from-json FILE --reason TEXT [--branch BRANCH] [--json]\n"
	     "\n"
	     "  field=value       set a field (lists: comma-separated items)\n"
	     "  field=            clear a field\n"
	     "  field+=value      add an item to a list field\n"
	     "  field-=value      remove an item from a list field\n"
	     "  --from-json FILE  with ID: a JSON object of fields (null clears); without:\n"
	     "                    an array of objects, each with \"id\", all in one commit\n"
	     "  --reason TEXT     why the record changes (required; kept in the commit)\n"
	     "  --branch BRANCH   amend the records on BRANCH, a branch this ledger holds in\n"
	     "                    the office's scope (default: with an ID, the branch of\n"
	     "                    the office that created it when this ledger holds it;\n"
	     "                    else the office's own)\n"
	     "  --json            print {\"changed\": […], \"commit\": …}",
    .summary = "change fields of records",
    .flags = CMD_LEDGER | CMD_WRITE,
    .run = run,
};
