/*
 * schema: record types, fields, workflows, role rules and merge rules, read from an INI
 * file (inih). The schema decides what a valid record is; every record that enters a
 * ledger, by amendment, merge or sync, passes schema_validate first.
 *
 * File format (etc/schema/social-assistance.ini is the reference; doc in schema.c):
 *
 *   [schema]            name = …, version = N
 *   [type NAME]         prefix = C   (ids are PREFIX-OFFICE-SUFFIX), title = …, doc = …,
 *                       check = FIELD <= FIELD   (repeatable; int/money fields)
 *   [NAME.FIELD]        type = text|int|money|date|enum|bool|ref|list|idnum
 *                       required = yes|no, search = yes|no, doc = …
 *                       multiline = yes|no (text: may hold newlines; default no)
 *                       min = N, max = N   (int/money: value; text: characters; list: items)
 *                       values = a b c     (enum, or list of enum)
 *                       item = KIND        (list: kind of each item)
 *                       ref = TYPE         (ref, or list of ref: the target type)
 *                       default = VALUE
 *                       order = a b c|d e  (workflow rank, '|' joins equal ranks)
 *                       transitions = a>b b>c …   initial = a b
 *                       role.VALUE = LEVEL (least authority that may set VALUE)
 *                       kind_field = FIELD (idnum: enum field naming the document type;
 *                                           check digit enforced when it is 'resident-id')
 *                       merge = lww|authority|workflow|union|manual
 */
#ifndef CASELEDGER_SCHEMA_H
#define CASELEDGER_SCHEMA_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "office.h"

enum field_kind {
	FIELD_TEXT,
	FIELD_INT,
	FIELD_MONEY, /* integer fen */
	FIELD_DATE,  /* "YYYY-MM-DD", a real calendar date */
	FIELD_ENUM,
	FIELD_BOOL,
	FIELD_REF,   /* id of another record, of type ref_type */
	FIELD_LIST,  /* JSON array of items of kind `item`, no duplicates */
	FIELD_IDNUM, /* identity document number; resident IDs carry a check digit */
};

enum merge_rule {
	MERGE_LWW,	 /* later hybrid-logical-clock stamp wins, office code breaks ties */
	MERGE_AUTHORITY, /* the higher-level office's value wins */
	MERGE_WORKFLOW,	 /* the value further along `order` wins */
	MERGE_UNION,	 /* set union (lists) */
	MERGE_MANUAL,	 /* deterministic winner kept, conflict record written */
};

struct schema_transition {
	int from; /* index into values */
	int to;	  /* index into values */
};

struct schema_field {
	char *name;
	enum field_kind kind;
	enum field_kind item; /* FIELD_LIST: the kind of each item */
	bool required;
	bool search;	/* indexed for `find` */
	bool multiline; /* text: newlines allowed (other text is one line) */
	bool has_min, has_max;
	long long min, max; /* int/money: value; text: characters; list: items */
	char *ref_type;	    /* FIELD_REF, list of ref: target type name; else NULL */
	char **values;	    /* FIELD_ENUM, list of enum: allowed values */
	size_t nvalues;
	int *rank; /* per value: rank in `order`, -1 when not ordered; NULL without order */
	unsigned char *role; /* per value: enum office_level needed to set it, LEVEL_NONE: anyone */
	struct schema_transition *trans; /* allowed changes; NULL/0: any change allowed */
	size_t ntrans;
	int *initial; /* values allowed at creation; NULL/0: any */
	size_t ninitial;
	char *def;	  /* default (as text, parsed with schema_value_parse), or NULL */
	char *kind_field; /* FIELD_IDNUM: the enum field naming the document type, or NULL */
	enum merge_rule merge;
	char *doc;
};

struct schema_check {
	char *left;  /* field name */
	char *op;    /* "<=", "<", ">=", ">", "==" */
	char *right; /* field name */
};

struct schema_type {
	char *name;
	char *prefix; /* 1-3 upper-case letters */
	char *title;
	char *doc;
	struct schema_field *fields;
	size_t nfields;
	struct schema_check *checks;
	size_t nchecks;
};

struct schema; /* opaque: name, version, types, source text */

/* Keys every record may carry besides its type's fields (id, type, hlc, void, void_reason). */
extern const char *const schema_reserved[];
bool schema_is_reserved(const char *key);

/*
 * Parse schema text. origin names it in messages ("schema.ini:12: unknown key 'x' in
 * [case.status]"). *out is owned by the caller (schema_free). ERR_INVALID on any error:
 * unknown section or key, bad type, enum default not in values, transition naming an
 * unknown value, ref to an unknown type, duplicate prefix, check on a non-numeric field.
 */
int schema_parse(struct schema **out, const char *text, size_t len, const char *origin);

/* Read and parse a file; ERR_NOTFOUND / ERR_IO naming the path, else as schema_parse. */
int schema_load_file(struct schema **out, const char *path);

void schema_free(struct schema *s);

const char *schema_name(const struct schema *s);
int schema_version(const struct schema *s);

/* The text it was parsed from (borrowed). */
const char *schema_text(const struct schema *s, size_t *len);

size_t schema_ntypes(const struct schema *s);
const struct schema_type *schema_type_at(const struct schema *s, size_t i);
const struct schema_type *schema_type_find(const struct schema *s, const char *name);
/* The type whose prefix starts id ("C-…" -> case); NULL when none. */
const struct schema_type *schema_type_by_id(const struct schema *s, const char *id);
const struct schema_field *schema_field_find(const struct schema_type *t, const char *name);

/*
 * Is path ("<type>/<h1>/<h2>/<id>.json") exactly where a record of a known type lives?
 * Then *type and id (RECORD_ID_MAX bytes) name it. Leaves no error set either way.
 */
bool schema_record_at(const struct schema_type **type, char *id, const struct schema *s,
		      const char *path);

/*
 * Convert a command-line value to JSON for field f of type t: int/money a decimal integer
 * (money in fen), bool yes|no|true|false, date YYYY-MM-DD, list comma-separated items;
 * each checked like schema_validate checks it. *out is a new reference. ERR_INVALID with
 * "case: field 'amount' wants an integer amount in fen, got '12.5'".
 */
int schema_value_parse(json_t **out, const struct schema_type *t, const struct schema_field *f,
		       const char *text);

/* Add each absent field that has a default to rec. */
int schema_apply_defaults(const struct schema_type *t, json_t *rec);

/*
 * Check a whole record. old is the record before this change (NULL for a new record);
 * level is the level of the office making the change. Checks: known type and id prefix,
 * no unknown keys, value kinds and limits, required fields, checks between fields,
 * workflow transitions and initial values, role rules for changed values, void rules
 * (a void record cannot change; void needs void_reason). ERR_INVALID or ERR_DENIED with
 * a message naming the record, field, value and rule, e.g.
 * "case 'C-120112001001-…': field 'status' cannot go from 'reviewed' to 'approved'
 *  (needs a district office)".
 */
int schema_validate(const struct schema *s, const json_t *old, const json_t *rec,
		    enum office_level level);

/*
 * Check a record's structure only: known type and id prefix, no unknown keys, value kinds
 * and limits, required fields, checks between fields, void_reason with void. No workflow
 * transitions or role rules: for records assembled by merge from values both sides already
 * passed. ERR_INVALID with a message naming the record and field, as schema_validate.
 */
int schema_check(const struct schema *s, const json_t *rec);

/* Rank of value in f's workflow order; -1 when f has no order or value is not in it. */
int schema_rank(const struct schema_field *f, const char *value);

/* Index of value in f->values; -1 when absent. */
int schema_value_index(const struct schema_field *f, const char *value);

/* True for an 18-character resident ID with a valid date and check digit (GB 11643). */
bool schema_idnum_valid(const char *s);

const char *schema_kind_name(enum field_kind k);
const char *schema_merge_name(enum merge_rule r);

#endif
