/*
 * cmd: the command table and the helpers commands share.
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "err.h"
#include "history.h"
#include "record.h"
#include "trust.h"
#include "util.h"
#include "verify.h"

/* The largest --from-json file read. */
#define CMD_JSON_MAX ((size_t)1 << 30)

const struct cmd_entry *const cmd_table[] = {
    &cmd_init_entry,	&cmd_add_entry,
    &cmd_amend_entry,	&cmd_void_entry,
    &cmd_show_entry,	&cmd_log_entry,
    &cmd_verify_entry,	&cmd_signers_entry,
    &cmd_schema_entry,	&cmd_find_entry,
    &cmd_blame_entry,	&cmd_stats_entry,
    &cmd_reindex_entry, &cmd_ca_entry,
    &cmd_merge_entry,	&cmd_conflicts_entry,
    &cmd_resolve_entry, &cmd_status_entry,
    &cmd_sync_entry,	&cmd_bundle_entry,
    &cmd_key_entry,	NULL,
};

const struct cmd_entry *cmd_find(const char *name)
{
	size_t i;

	for (i = 0; cmd_table[i]; i++)
		if (strcmp(cmd_table[i]->name, name) == 0)
			return cmd_table[i];
	return NULL;
}

int cmd_usage_error(const struct cmd_entry *e, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fprintf(stderr, "usage: caseledger %s\n", e->usage);
	return err_set(ERR_USAGE, "%s", msg);
}

int cmd_check_not_revoked(struct ledger *l)
{
	char why[400];
	bool revoked;
	int rc;

	if ((rc = trust_own_revoked(&revoked, l, why, sizeof(why))) < 0)
		return rc;
	return revoked ? err_set(ERR_DENIED, "%s", why) : 0;
}

int cmd_check_can_sign(struct ledger *l)
{
	char from[TRUST_TIME_MAX], to[TRUST_TIME_MAX], now_s[TRUST_TIME_MAX], why[400];
	int64_t now = (int64_t)(util_now_ms() / 1000);
	const struct trust_cert *c;
	struct trust *t;
	int rc;

	if ((rc = cmd_check_not_revoked(l)) < 0 || (rc = trust_get(&t, l)) < 0 || !t)
		return rc;
	if (trust_signer(&c, t, l->pub, now, why, sizeof(why)) != TRUST_NOT_VALID)
		return 0;
	trust_time_format(from, c->not_before);
	trust_time_format(to, c->not_after);
	trust_time_format(now_s, now);
	return err_set(ERR_DENIED,
		       "the certificate %s of office %s is valid from %s to %s, and it is now "
		       "%s: nothing signed now would be accepted; ask the city for a new one "
		       "(`caseledger ca rekey %s`)",
		       c->serial, c->code, from, to, now_s, c->code);
}

bool cmd_is_edit(const char *s)
{
	size_t n = strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789_");

	return n > 0 && (s[n] == '=' || ((s[n] == '+' || s[n] == '-') && s[n + 1] == '='));
}

static int field_for(const struct schema_field **out, const struct schema_type *t, const char *name)
{
	if (schema_is_reserved(name))
		return err_set(ERR_INVALID, "field '%s' is kept by caseledger and cannot be set%s",
			       name,
			       strncmp(name, "void", 4) == 0 ? " (use 'caseledger void')" : "");
	*out = schema_field_find(t, name);
	if (!*out)
		return err_set(ERR_INVALID, "%s has no field '%s' (see 'caseledger schema %s')",
			       t->name, name, t->name);
	return 0;
}

static int list_edit(json_t *rec, const struct schema_type *t, const struct schema_field *f,
		     const char *value, bool add)
{
	json_t *items = NULL, *list, *item;
	size_t i, j;
	int rc;

	if (f->kind != FIELD_LIST)
		return err_set(ERR_INVALID,
			       "%s: field '%s' is not a list; '%s' works on lists only", t->name,
			       f->name, add ? "+=" : "-=");
	if ((rc = schema_value_parse(&items, t, f, value)) < 0)
		return rc;
	list = json_object_get(rec, f->name);
	list = list ? json_copy(list) : json_array();
	if (!list) {
		rc = err_set(ERR_NOMEM, "out of memory");
		goto out;
	}
	json_array_foreach (items, i, item) {
		for (j = 0; j < json_array_size(list); j++)
			if (json_equal(json_array_get(list, j), item))
				break;
		if (add && j == json_array_size(list))
			json_array_append(list, item);
		else if (!add && j < json_array_size(list))
			json_array_remove(list, j);
	}
	if (json_array_size(list) == 0) {
		json_object_del(rec, f->name);
		json_decref(list);
	} else if (json_object_set_new(rec, f->name, list) < 0) {
		rc = err_set(ERR_NOMEM, "out of memory");
	}
out:
	json_decref(items);
	return rc;
}

int cmd_apply_edit(json_t *rec, const struct schema_type *t, const char *word)
{
	const struct schema_field *f;
	char name[64];
	const char *eq = strchr(word, '=');
	size_t n = (size_t)(eq - word);
	char op = '=';
	json_t *v = NULL;
	int rc;

	if (!eq || !cmd_is_edit(word))
		return err_set(ERR_USAGE,
			       "'%s' is not a field edit (field=value, field+=value, "
			       "field-=value)",
			       word);
	if (n > 0 && (word[n - 1] == '+' || word[n - 1] == '-'))
		op = word[--n];
	if (n >= sizeof(name))
		return err_set(ERR_INVALID, "field name in '%s' is too long", word);
	memcpy(name, word, n);
	name[n] = '\0';
	if ((rc = field_for(&f, t, name)) < 0)
		return rc;
	if (op != '=')
		return list_edit(rec, t, f, eq + 1, op == '+');
	if (eq[1] == '\0') {
		json_object_del(rec, name);
		return 0;
	}
	if ((rc = schema_value_parse(&v, t, f, eq + 1)) < 0)
		return rc;
	if (json_object_set_new(rec, name, v) < 0)
		return err_set(ERR_NOMEM, "out of memory");
	return 0;
}

int cmd_apply_json(json_t *rec, const struct schema_type *t, const json_t *obj)
{
	const struct schema_field *f;
	const char *key;
	json_t *v;
	int rc;

	if (!json_is_object(obj))
		return err_set(ERR_INVALID, "--from-json: want a JSON object of fields");
	json_object_foreach ((json_t *)obj, key, v) {
		if (strcmp(key, "id") == 0 || strcmp(key, "type") == 0)
			continue; /* selectors, checked by the caller */
		if ((rc = field_for(&f, t, key)) < 0)
			return rc;
		if (json_is_null(v))
			json_object_del(rec, key);
		else if (json_object_set(rec, key, v) < 0)
			return err_set(ERR_NOMEM, "out of memory");
	}
	return 0;
}

int cmd_read_json(json_t **out, const char *path)
{
	struct buf text = BUF_INIT;
	json_error_t jerr;
	int rc = 0;

	*out = NULL;
	if (strcmp(path, "-") == 0) {
		*out = json_loadf(stdin, JSON_REJECT_DUPLICATES, &jerr);
	} else {
		if ((rc = util_read_file(&text, path, CMD_JSON_MAX)) < 0)
			goto out;
		*out = json_loadb(text.ptr, text.len, JSON_REJECT_DUPLICATES, &jerr);
	}
	if (!*out)
		rc = err_set(ERR_INVALID, "'%s': line %d column %d: %s", path, jerr.line,
			     jerr.column, jerr.text);
out:
	buf_release(&text);
	return rc;
}

int cmd_set_branch(struct cmd_ctx *ctx, const char *branch)
{
	git_oid head;
	int rc;

	if (strcmp(branch, "trust") == 0 || office_level(branch) < 0) {
		err_clear();
		return err_set(ERR_USAGE, "'%s' is not an office branch", branch);
	}
	if (!office_in_scope(ctx->ledger->office, branch))
		return err_set(ERR_USAGE, "branch '%s' is outside the scope of office '%s'", branch,
			       ctx->ledger->office);
	if ((rc = ledger_head(&head, ctx->ledger, branch)) < 0) {
		if (rc == ERR_NOTFOUND)
			rc = err_set(ERR_NOTFOUND, "this ledger holds no branch '%s'", branch);
		return rc;
	}
	ctx->branch = branch;
	return 0;
}

int cmd_check_served(struct cmd_ctx *ctx, const char *branch)
{
	char *msg = NULL;
	git_oid head;
	int rc;

	if (!branch)
		branch = ctx->ledger->office;
	if (!ctx->index) {
		if ((rc = ledger_head(&head, ctx->ledger, branch)) < 0)
			return rc == ERR_NOTFOUND ? (err_clear(), 0) : rc;
		return verify_for_index(ctx->ledger, branch, &head, NULL, NULL);
	}
	if ((rc = index_refused(&msg, ctx->index, branch)) < 0 || !msg)
		return rc;
	rc = err_set(ERR_VERIFY, "%s", msg);
	free(msg);
	return rc;
}

void cmd_record_branch(struct cmd_ctx *ctx, char out[OFFICE_CODE_MAX + 1], const char *id)
{
	char office[13];
	git_oid head;

	snprintf(out, OFFICE_CODE_MAX + 1, "%s", ctx->ledger->office);
	if (record_id_check(id) < 0) {
		err_clear();
		return;
	}
	record_id_office(office, id);
	if (strcmp(office, ctx->ledger->office) != 0 &&
	    office_in_scope(ctx->ledger->office, office) &&
	    ledger_head(&head, ctx->ledger, office) == 0)
		snprintf(out, OFFICE_CODE_MAX + 1, "%s", office);
	err_clear();
}

static struct cmd_ctx *label_ctx;

void cmd_labels_use(struct cmd_ctx *ctx)
{
	label_ctx = ctx;
}

/* "what (name)", escaped, in a ring of 8 buffers. */
static const char *label(const char *what, const char *name)
{
	static struct buf ring[8];
	static size_t next;
	struct buf *b = &ring[next++ % 8];

	buf_reset(b);
	if (!what)
		return "-";
	if (util_escape(b, what, strlen(what), NULL) < 0 ||
	    (name && *name &&
	     (buf_adds(b, " (") < 0 || util_escape(b, name, strlen(name), NULL) < 0 ||
	      buf_adds(b, ")") < 0)))
		return "?";
	return b->ptr;
}

const char *cmd_office_label(const char *code)
{
	const char *name = NULL;
	struct trust *t = NULL;
	size_t i;

	if (label_ctx && label_ctx->ledger && code && trust_get(&t, label_ctx->ledger) == 0 && t)
		for (i = 0; i < t->ncerts && !name; i++)
			if (!strcmp(t->certs[i].code, code) && *t->certs[i].name)
				name = t->certs[i].name;
	err_clear();
	return label(code, name);
}

const char *cmd_record_label(const char *id)
{
	const char *out;
	char *name = NULL;

	if (label_ctx && label_ctx->index && id)
		index_record_name(&name, label_ctx->index, id);
	err_clear();
	out = label(id, name);
	free(name);
	return out;
}

void cmd_warn_refused(struct cmd_ctx *ctx)
{
	char *msg = NULL, *line, *save = NULL;

	if (!ctx->index || index_refused(&msg, ctx->index, NULL) < 0) {
		err_clear();
		return;
	}
	for (line = msg ? strtok_r(msg, "\n", &save) : NULL; line;
	     line = strtok_r(NULL, "\n", &save))
		fprintf(stderr, "caseledger: warning: %s\n", line);
	free(msg);
}

#define CMD_COMMIT_TRIES 5

int cmd_commit_retry(struct cmd_ctx *ctx, int (*redo)(struct ledger_txn *t, void *payload),
		     void *payload, const struct buf *subject, const char *reason, git_oid *out,
		     size_t *nchanged)
{
	struct ledger_commit_info info = {NULL, reason, ctx->operator};
	struct ledger_txn t;
	int rc = ERR_CONFLICT, i;

	*nchanged = 0;
	if ((rc = cmd_check_served(ctx, ctx->branch)) < 0)
		return rc;
	rc = ERR_CONFLICT;
	for (i = 0; i < CMD_COMMIT_TRIES && rc == ERR_CONFLICT; i++) {
		if ((rc = ledger_txn_begin(&t, ctx->ledger, ctx->branch)) == 0 &&
		    (rc = redo(&t, payload)) == 0) {
			*nchanged = t.nchanges;
			info.subject = subject->ptr;
			if (t.nchanges > 0)
				rc = ledger_txn_commit(&t, &info, out);
		}
		ledger_txn_release(&t);
	}
	if (rc == 0 && *nchanged > 0)
		cmd_index_after_commit(ctx);
	return rc;
}

void cmd_index_after_commit(struct cmd_ctx *ctx)
{
	int rc;

	if (!ctx->index)
		return;
	rc = index_catch_up(ctx->index, ctx->ledger, NULL);
	if (rc < 0 && index_is_corrupt(ctx->index))
		rc = index_recover(ctx->index, ctx->ledger);
	if (rc < 0) {
		fprintf(stderr,
			"caseledger: warning: committed, but the index was not updated: %s; the "
			"next command will catch it up\n",
			err_msg());
		err_clear();
	}
}

int cmd_parse_time(int64_t *out, const char *opt, const char *text, bool end_of_day)
{
	int rc = index_parse_time(out, text, end_of_day);

	if (rc < 0)
		err_prefix("%s", opt);
	return rc;
}

/* Add "signature" (and "signer" or "signature_error") to each entry; one check per commit. */
int cmd_add_signatures(json_t *entries, struct ledger *l)
{
	json_t *cache = json_object(), *e;
	size_t i;
	int rc = 0;

	if (!cache)
		return err_set(ERR_NOMEM, "out of memory");
	json_array_foreach (entries, i, e) {
		const char *commit = json_string_value(json_object_get(e, "commit"));
		json_t *verdict;

		if (!commit)
			continue;
		if (!(verdict = json_object_get(cache, commit))) {
			struct history_sig sig;
			git_oid oid;

			if (git_oid_fromstr(&oid, commit) < 0) {
				rc = err_set(ERR_INVALID, "index holds a bad commit id '%s'",
					     commit);
				break;
			}
			if ((rc = history_check_sig(&sig, l, &oid)) < 0)
				break;
			verdict =
			    sig.status == HISTORY_SIG_GOOD
				? json_pack("{s:s, s:s}", "signature", "good", "signer", sig.signer)
				: json_pack("{s:s, s:s}", "signature", history_sig_name(sig.status),
					    "signature_error", sig.why);
			if (!verdict || json_object_set_new(cache, commit, verdict) < 0) {
				rc = err_set(ERR_NOMEM, "out of memory");
				break;
			}
		}
		json_object_update(e, verdict);
	}
	json_decref(cache);
	return rc;
}
