/*
 * caseledger resolve: settle a conflict merge recorded — set the record's field to the
 * kept value ("ours"), the set-aside value ("theirs") or a new value, and mark the
 * conflict resolved, in one signed commit (one ledger transaction).
 */
#include "config.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "err.h"
#include "out.h"

struct resolve {
	const char *id;	    /* the conflict */
	const char *take;   /* "ours", "theirs" or a value */
	const char *reason; /* why */
	char record[RECORD_ID_MAX];
	char field[64];
	json_t *value; /* what the field was set to (NULL: cleared), from the last attempt */
};

/* The JSON text of the conflict's ours/theirs as a value; *out NULL when absent. */
static int side_value(json_t **out, const json_t *conflict, const char *id, const char *key)
{
	const char *text = json_string_value(json_object_get(conflict, key));
	json_error_t jerr;

	*out = NULL;
	if (!text)
		return 0;
	if (!(*out = json_loads(text, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &jerr)))
		return err_set(ERR_INVALID, "conflict '%s': field '%s' is not valid JSON: %s", id,
			       key, jerr.text);
	return 0;
}

static int stage(struct ledger_txn *t, void *payload)
{
	struct resolve *r = payload;
	const struct schema_type *ct, *rt;
	const struct schema_field *f;
	json_t *conflict = NULL, *rec = NULL, *value = NULL;
	struct buf res = BUF_INIT;
	const char *record, *field, *status;
	char *shown = NULL;
	int rc;

	json_decref(r->value);
	r->value = NULL;
	if ((rc = ledger_type_of(&ct, t->ledger, r->id)) < 0)
		return rc;
	if (strcmp(ct->name, "conflict") != 0)
		return err_set(ERR_INVALID, "'%s' is a %s record, not a conflict", r->id, ct->name);
	if ((rc = ledger_txn_get(&conflict, t, r->id)) < 0)
		return rc;
	record = json_string_value(json_object_get(conflict, "record"));
	field = json_string_value(json_object_get(conflict, "field"));
	status = json_string_value(json_object_get(conflict, "status"));
	if (!record || !field) {
		rc = err_set(ERR_INVALID, "conflict '%s' names no record or field", r->id);
		goto out;
	}
	if (!status || strcmp(status, "open") != 0) {
		rc = err_set(ERR_INVALID, "conflict '%s' is already %s", r->id,
			     status ? status : "closed");
		goto out;
	}
	snprintf(r->record, sizeof(r->record), "%s", record);
	snprintf(r->field, sizeof(r->field), "%s", field);
	if ((rc = ledger_type_of(&rt, t->ledger, record)) < 0 ||
	    (rc = ledger_txn_get(&rec, t, record)) < 0)
		goto out;
	if (strcmp(r->take, "ours") == 0 || strcmp(r->take, "theirs") == 0) {
		if ((rc = side_value(&value, conflict, r->id, r->take)) < 0)
			goto out;
	} else if (schema_is_reserved(field) || !(f = schema_field_find(rt, field))) {
		rc = err_set(ERR_INVALID,
			     "conflict '%s' is about field '%s', which takes no value from the "
			     "command line: use --take ours or --take theirs",
			     r->id, field);
		goto out;
	} else if ((rc = schema_value_parse(&value, rt, f, r->take)) < 0) {
		goto out;
	}
	if (value)
		rc = json_object_set(rec, field, value);
	else
		json_object_del(rec, field);
	if (rc < 0) {
		rc = err_set(ERR_NOMEM, "out of memory");
		goto out;
	}
	if ((rc = ledger_txn_put(t, rec, false, NULL)) < 0) {
		err_prefix("cannot resolve '%s'", r->id);
		goto out;
	}
	if (!(shown =
		  value ? json_dumps(value, JSON_COMPACT | JSON_ENCODE_ANY) : strdup("(absent)")) ||
	    (rc = buf_printf(
		 &res, "took %s %s: %s",
		 strcmp(r->take, "ours") == 0 || strcmp(r->take, "theirs") == 0 ? r->take : "value",
		 shown, r->reason)) < 0) {
		rc = rc < 0 ? rc : err_set(ERR_NOMEM, "out of memory");
		goto out;
	}
	json_object_set_new(conflict, "status", json_string("resolved"));
	json_object_set_new(conflict, "resolution", json_string(res.ptr));
	if ((rc = ledger_txn_put(t, conflict, false, NULL)) < 0)
		goto out;
	r->value = value;
	value = NULL;
out:
	free(shown);
	buf_release(&res);
	json_decref(value);
	json_decref(rec);
	json_decref(conflict);
	return rc;
}

static int run(struct cmd_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"take", required_argument, NULL, 't'},
	    {"reason", required_argument, NULL, 'r'},
	    {"json", no_argument, NULL, 'j'},
	    {"branch", required_argument, NULL, 'b'},
	    {0},
	};
	struct resolve r = {0};
	const char *branch = NULL;
	char office[OFFICE_CODE_MAX + 1];
	struct buf subject = BUF_INIT;
	bool json = false;
	git_oid commit;
	json_t *doc = NULL;
	size_t n;
	int c, rc;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 't':
			r.take = optarg;
			break;
		case 'r':
			r.reason = optarg;
			break;
		case 'j':
			json = true;
			break;
		case 'b':
			branch = optarg;
			break;
		default:
			return cmd_usage_error(&cmd_resolve_entry, "unknown option");
		}
	}
	if (optind + 1 != argc)
		return cmd_usage_error(&cmd_resolve_entry, "give one conflict id");
	if (!r.take || !*r.take)
		return cmd_usage_error(&cmd_resolve_entry, "--take ours|theirs|VALUE is required");
	if (!r.reason || !*r.reason)
		return cmd_usage_error(&cmd_resolve_entry, "--reason TEXT is required: say why");
	r.id = argv[optind];
	if (!branch) {
		/* X-<office>-<digits>: the conflict lives on the branch of that office */
		const char *a = strchr(r.id, '-'), *b = a ? strchr(a + 1, '-') : NULL;
		if (b && (size_t)(b - a - 1) < sizeof(office)) {
			snprintf(office, sizeof(office), "%.*s", (int)(b - a - 1), a + 1);
			if (strcmp(office, ctx->ledger->office) != 0 &&
			    office_in_scope(ctx->ledger->office, office))
				branch = office;
		}
	}
	if (branch && (rc = cmd_set_branch(ctx, branch)) < 0)
		goto out;
	if ((rc = buf_printf(&subject, "resolve %s", r.id)) < 0)
		goto out;
	if ((rc = cmd_commit_retry(ctx, stage, &r, &subject, r.reason, &commit, &n)) < 0)
		goto out;
	if (!json) {
		printf("resolved %s: %s '%s' in commit %.12s\n", r.id, r.record, r.field,
		       git_oid_tostr_s(&commit));
		goto out;
	}
	doc = json_pack("{s:s, s:s, s:s, s:O?, s:s}", "resolved", r.id, "record", r.record, "field",
			r.field, "value", r.value, "commit", git_oid_tostr_s(&commit));
	rc = doc ? out_json(doc) : err_set(ERR_NOMEM, "out of memory");
out:
	json_decref(doc);
	json_decref(r.value);
	buf_release(&subject);
	return rc;
}

const struct cmd_entry cmd_resolve_entry = {
    .name = "resolve",
    .usage =
	"resolve CONFLICT-ID --take ours|theirs|VALUE --reason TEXT [--branch BRANCH]\n"
	"        [--json]\n"
	"\n"
	"  --take ours     keep the value merge kept in the record\n"
	"  --take theirs   take the value merge set aside\n"
	"  --take VALUE    set the field to VALUE (as for amend)\n"
	"  --reason TEXT   why (required; kept in the commit and the conflict)\n"
	"  --branch BRANCH the branch the conflict is on (default: the branch of the office\n"
	"                  its id names, X-<office>-…, when this ledger's scope covers it)\n"
	"  --json          print {\"resolved\", \"record\", \"field\", \"value\", \"commit\"}\n"
	"\n"
	"  The record is amended and the conflict marked resolved in one signed commit;\n"
	"  the change follows the usual rules (workflow transitions, role rules).",
    .summary = "settle a conflict: amend the record and close the conflict",
    .flags = CMD_LEDGER | CMD_WRITE,
    .run = run,
};
