/*
 * caseledger add: create records (one from field=value words, or many from JSON) in one
 * signed commit.
 */
#include "config.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cmd.h"
#include "err.h"
#include "out.h"

struct add {
	json_t *records;       /* array of the complete records to create */
	const char *json_path; /* --from-json FILE, or NULL */
};

/* A new record of type t: id, type, defaults, then fields from obj and the edit words. */
static int build(json_t **out, struct ledger *l, const struct schema_type *t, const json_t *obj,
		 char **words, int nwords)
{
	char id[RECORD_ID_MAX];
	json_t *rec = NULL;
	int rc, i;

	if ((rc = record_id_new(id, t->prefix, l->office)) < 0)
		return rc;
	if (!(rec = json_pack("{s:s, s:s}", "id", id, "type", t->name)))
		return err_set(ERR_NOMEM, "out of memory");
	if ((rc = schema_apply_defaults(t, rec)) < 0)
		goto out;
	if (obj && (rc = cmd_apply_json(rec, t, obj)) < 0)
		goto out;
	for (i = 0; i < nwords; i++)
		if ((rc = cmd_apply_edit(rec, t, words[i])) < 0)
			goto out;
	*out = rec;
	rec = NULL;
out:
	json_decref(rec);
	return rc;
}

static int stage(struct ledger_txn *t, void *payload)
{
	struct add *a = payload;
	json_t *rec;
	size_t i;
	int rc;

	json_array_foreach (a->records, i, rec) {
		if ((rc = ledger_txn_put(t, rec, true, NULL)) < 0) {
			if (a->json_path)
				err_prefix("'%s' record %zu", a->json_path, i + 1);
			return rc;
		}
	}
	return 0;
}

static int collect(struct add *a, struct ledger *l, const struct schema_type *t,
		   const char *json_path, char **words, int nwords)
{
	json_t *doc = NULL, *rec = NULL, *item;
	size_t i;
	int rc = 0;

	if (json_path && (rc = cmd_read_json(&doc, json_path)) < 0)
		return rc;
	if (json_is_array(doc)) {
		if (json_array_size(doc) == 0) {
			rc = err_set(ERR_INVALID, "'%s' holds no records", json_path);
			goto out;
		}
		json_array_foreach (doc, i, item) {
			if ((rc = build(&rec, l, t, item, words, nwords)) < 0) {
				err_prefix("'%s' record %zu", json_path, i + 1);
				goto out;
			}
			json_array_append_new(a->records, rec);
		}
	} else {
		if ((rc = build(&rec, l, t, doc, words, nwords)) < 0)
			goto out;
		json_array_append_new(a->records, rec);
	}
out:
	json_decref(doc);
	return rc;
}

static int report(const struct add *a, const git_oid *commit, bool json)
{
	json_t *rec, *doc = NULL, *ids;
	size_t i;
	int rc = 0;

	if (!json) {
		json_array_foreach (a->records, i, rec)
			printf("%s\n", json_string_value(json_object_get(rec, "id")));
		return 0;
	}
	if (!(ids = json_array()))
		return err_set(ERR_NOMEM, "out of memory");
	json_array_foreach (a->records, i, rec)
		json_array_append(ids, json_object_get(rec, "id"));
	doc = json_pack("{s:o, s:s}", "ids", ids, "commit", git_oid_tostr_s(commit));
	rc = doc ? out_json(doc) : err_set(ERR_NOMEM, "out of memory");
	json_decref(doc);
	return rc;
}

static int run(struct cmd_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"reason", required_argument, NULL, 'r'},
	    {"from-json", required_argument, NULL, 'f'},
	    {"json", no_argument, NULL, 'j'},
	    {0},
	};
	const struct schema_type *t;
	struct add a = {0};
	const char *reason = NULL, *json_path = NULL;
	struct buf subject = BUF_INIT;
	bool json = false;
	size_t n;
	git_oid commit;
	int c, rc;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'r':
			reason = optarg;
			break;
		case 'f':
			json_path = optarg;
			break;
		case 'j':
			json = true;
			break;
		default:
			return cmd_usage_error(&cmd_add_entry, "unknown option");
		}
	}
	if (optind >= argc)
		return cmd_usage_error(&cmd_add_entry, "give the record type");
	if (!(t = schema_type_find(ctx->ledger->schema, argv[optind])))
		return err_set(ERR_INVALID, "no record type '%s' (see 'caseledger schema')",
			       argv[optind]);
	if (!(a.records = json_array()))
		return err_set(ERR_NOMEM, "out of memory");
	a.json_path = json_path;
	rc = collect(&a, ctx->ledger, t, json_path, argv + optind + 1, argc - optind - 1);
	if (rc < 0)
		goto out;
	if (json_array_size(a.records) == 1)
		rc = buf_printf(
		    &subject, "add %s %s", t->name,
		    json_string_value(json_object_get(json_array_get(a.records, 0), "id")));
	else
		rc =
		    buf_printf(&subject, "add %zu %s records", json_array_size(a.records), t->name);
	if (rc < 0)
		goto out;
	if ((rc = cmd_commit_retry(ctx, stage, &a, &subject, reason, &commit, &n)) < 0)
		goto out;
	rc = report(&a, &commit, json);
out:
	json_decref(a.records);
	buf_release(&subject);
	return rc;
}

const struct cmd_entry cmd_add_entry = {
    .name = "add",
    .usage = "add TYPE [field=value…] [--from-json FILE] [--reason TEXT] [--json]\n"
	     "\n"
	     "  field=value       set a field (lists: comma-separated items)\n"
	     "  --from-json FILE  fields from a JSON object, or an array of objects to add\n"
	     "                    many records in one commit ('-' reads stdin); field=value\n"
	     "                    words apply on top of each\n"
	     "  --reason TEXT     why (kept in the commit)\n"
	     "  --json            print {\"ids\": […], \"commit\": …}\n"
	     "\n"
	     "Prints the new record ids, one per line.",
    .summary = "create records",
    .flags = CMD_LEDGER | CMD_WRITE,
    .run = run,
};
