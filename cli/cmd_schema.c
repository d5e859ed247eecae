/*
 * caseledger schema: the record types and their fields, rules and workflows.
 */
#include "config.h"

#include <getopt.h>
#include <stdio.h>

#include "cmd.h"
#include "err.h"
#include "out.h"

static json_t *field_json(const struct schema_field *f)
{
	json_t *o = json_pack("{s:s, s:s, s:b, s:b, s:s}", "name", f->name, "kind",
			      schema_kind_name(f->kind), "required", f->required, "search",
			      f->search, "merge", schema_merge_name(f->merge));
	json_t *vals;
	size_t i;

	if (!o)
		return NULL;
	if (f->kind == FIELD_LIST)
		json_object_set_new(o, "item", json_string(schema_kind_name(f->item)));
	if (f->has_min)
		json_object_set_new(o, "min", json_integer(f->min));
	if (f->has_max)
		json_object_set_new(o, "max", json_integer(f->max));
	if (f->ref_type)
		json_object_set_new(o, "ref", json_string(f->ref_type));
	if (f->def)
		json_object_set_new(o, "default", json_string(f->def));
	if (f->doc)
		json_object_set_new(o, "doc", json_string(f->doc));
	if (f->nvalues && (vals = json_array())) {
		for (i = 0; i < f->nvalues; i++) {
			json_t *v = json_pack("{s:s}", "value", f->values[i]);

			if (f->role && f->role[i])
				json_object_set_new(v, "needs",
						    json_string(office_level_name(f->role[i])));
			if (f->rank && f->rank[i] >= 0)
				json_object_set_new(v, "rank", json_integer(f->rank[i]));
			json_array_append_new(vals, v);
		}
		json_object_set_new(o, "values", vals);
	}
	if (f->ntrans && (vals = json_array())) {
		for (i = 0; i < f->ntrans; i++)
			json_array_append_new(vals, json_pack("[s,s]", f->values[f->trans[i].from],
							      f->values[f->trans[i].to]));
		json_object_set_new(o, "transitions", vals);
	}
	return o;
}

static json_t *type_json(const struct schema_type *t)
{
	json_t *fields = json_array();
	size_t i;

	for (i = 0; fields && i < t->nfields; i++)
		json_array_append_new(fields, field_json(&t->fields[i]));
	return json_pack("{s:s, s:s, s:s?, s:o}", "name", t->name, "prefix", t->prefix, "title",
			 t->title, "fields", fields);
}

static void type_text(const struct schema_type *t)
{
	size_t i, j;

	printf("%s (ids %s-…)%s%s\n", t->name, t->prefix, t->title ? ": " : "",
	       t->title ? t->title : "");
	for (i = 0; i < t->nfields; i++) {
		const struct schema_field *f = &t->fields[i];

		printf("  %-16s %-6s%s%s", f->name, schema_kind_name(f->kind),
		       f->required ? " required" : "", f->kind == FIELD_LIST ? " of " : "");
		if (f->kind == FIELD_LIST)
			printf("%s", schema_kind_name(f->item));
		if (f->ref_type)
			printf(" -> %s", f->ref_type);
		if (f->nvalues) {
			printf(" [");
			for (j = 0; j < f->nvalues; j++)
				printf("%s%s", j ? " " : "", f->values[j]);
			printf("]");
		}
		printf("  merge %s\n", schema_merge_name(f->merge));
		for (j = 0; f->role && j < f->nvalues; j++)
			if (f->role[j])
				printf("  %-16s   '%s' needs a %s office\n", "", f->values[j],
				       office_level_name(f->role[j]));
	}
}

static int run(struct cmd_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {{"json", no_argument, NULL, 'j'}, {0}};
	const struct schema *s = ctx->ledger->schema;
	const struct schema_type *t = NULL;
	json_t *doc = NULL;
	bool json = false;
	size_t i;
	int c, rc = 0;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c != 'j')
			return cmd_usage_error(&cmd_schema_entry, "unknown option");
		json = true;
	}
	if (optind + 1 < argc)
		return cmd_usage_error(&cmd_schema_entry, "give at most one type");
	if (optind < argc && !(t = schema_type_find(s, argv[optind])))
		return err_set(ERR_NOTFOUND, "no record type '%s'", argv[optind]);
	if (json) {
		if (t) {
			doc = type_json(t);
		} else if ((doc = json_array())) {
			for (i = 0; i < schema_ntypes(s); i++)
				json_array_append_new(doc, type_json(schema_type_at(s, i)));
		}
		rc = doc ? out_json(doc) : err_set(ERR_NOMEM, "out of memory");
		json_decref(doc);
		return rc;
	}
	if (t) {
		type_text(t);
		return 0;
	}
	printf("schema %s, version %d\n", schema_name(s), schema_version(s));
	for (i = 0; i < schema_ntypes(s); i++) {
		t = schema_type_at(s, i);
		printf("  %-10s %-3s %s\n", t->name, t->prefix, t->title ? t->title : "");
	}
	return 0;
}

const struct cmd_entry cmd_schema_entry = {
    .name = "schema",
    .usage = "schema [TYPE] [--json]\n"
	     "\n"
	     "Without TYPE, lists the record types; with it, the type's fields, kinds,\n"
	     "allowed values, role rules and merge rules.",
    .summary = "describe the record types and their fields",
    .flags = CMD_LEDGER,
    .run = run,
};
