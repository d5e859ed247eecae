/*
 * cmd: the command table of `caseledger` and what every command shares — the ledger
 * directory, the operator, output format, and turning `field=value` words into edits.
 */
#ifndef CASELEDGER_CMD_H
#define CASELEDGER_CMD_H

#include <stdbool.h>

#include <jansson.h>

#include "index.h"
#include "ledger.h"

/* Exit codes: documented in caseledger(1). */
enum {
	EXIT_OK = 0,
	EXIT_ERROR = 1,	   /* anything else */
	EXIT_USAGE = 2,	   /* bad command line */
	EXIT_NOTFOUND = 3, /* no such record, branch or ledger */
	EXIT_INVALID = 4,  /* bad input: record, value, file */
	EXIT_DENIED = 5,   /* not allowed: role rules, permissions */
	EXIT_CONFLICT = 6, /* the branch moved; retried and still lost */
	EXIT_VERIFY = 7,   /* a signature did not verify */
};

enum {
	CMD_LEDGER = 1 << 0,	  /* open the ledger (and its index, caught up) before run */
	CMD_INDEX = 1 << 1,	  /* needs the index: an index failure fails the command */
	CMD_NO_CATCH_UP = 1 << 2, /* open the index but leave catching up to the command */
	CMD_WRITE = 1 << 3,	  /* signs commits: refused while the office's own
				     certificate is revoked (trust_own_revoked) */
};

struct cmd_ctx {
	const char *dir;       /* -C DIR, $CASELEDGER_DIR, or "." */
	const char *operator;  /* --operator, or NULL for the default */
	struct ledger *ledger; /* open when the command has CMD_LEDGER */
	const char *branch;    /* the branch cmd_commit_retry writes: NULL, the office's own */
	struct index *index;   /* the ledger's index, caught up; NULL when it could not be */
};

struct cmd_entry {
	const char *name;
	const char *usage;   /* synopsis and options: also the --help text */
	const char *summary; /* one line for the command list */
	int flags;
	/* argv[0] is the command name; returns 0 or a negative ERR_* code (message set). */
	int (*run)(struct cmd_ctx *ctx, int argc, char **argv);
};

extern const struct cmd_entry cmd_init_entry, cmd_add_entry, cmd_amend_entry, cmd_void_entry,
    cmd_show_entry, cmd_log_entry, cmd_verify_entry, cmd_signers_entry, cmd_schema_entry,
    cmd_find_entry, cmd_blame_entry, cmd_stats_entry, cmd_reindex_entry;
extern const struct cmd_entry cmd_ca_entry;
extern const struct cmd_entry cmd_merge_entry, cmd_conflicts_entry, cmd_resolve_entry;
extern const struct cmd_entry cmd_status_entry, cmd_sync_entry, cmd_key_entry, cmd_bundle_entry;

/* ERR_DENIED with trust_own_revoked's message when the ledger's own certificate is
 * revoked; 0 otherwise. */
int cmd_check_not_revoked(struct ledger *l);

/*
 * What a command that signs checks first: the ledger's own certificate is not revoked
 * (cmd_check_not_revoked) and is valid now. ERR_DENIED naming the certificate and its
 * validity otherwise: nothing signed outside it would be accepted anywhere.
 */
int cmd_check_can_sign(struct ledger *l);

/*
 * Send req (a JSON object; "v" is added) to caseledgerd's control socket (socket_path,
 * or <ledger dir>/caseledgerd.sock) and read its one-line reply into *out (new
 * reference). ERR_NOTFOUND when no daemon answers.
 */
int cmd_ctl_request(json_t **out, struct cmd_ctx *ctx, const char *socket_path, json_t *req);

/* Print a table of the branch status objects caseledgerd reports. */
void cmd_print_branches(const json_t *branches);

/* NULL-terminated, in the order `caseledger help` lists them. */
extern const struct cmd_entry *const cmd_table[];

const struct cmd_entry *cmd_find(const char *name);

/* Print "usage: caseledger <usage>" to stderr and return ERR_USAGE with msg. */
int cmd_usage_error(const struct cmd_entry *e, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* True when s looks like a field edit (name=…, name+=…, name-=…). */
bool cmd_is_edit(const char *s);

/*
 * Apply one edit word to rec, a record of type t: "f=v" sets (empty v clears), "f+=v"
 * adds v to list f, "f-=v" removes it. Values are parsed by the schema. Reserved fields
 * cannot be edited.
 */
int cmd_apply_edit(json_t *rec, const struct schema_type *t, const char *word);

/* Apply every field of obj (a JSON object from --from-json) to rec: null clears. */
int cmd_apply_json(json_t *rec, const struct schema_type *t, const json_t *obj);

/* Read a JSON file (or "-" for stdin) for --from-json. */
int cmd_read_json(json_t **out, const char *path);

/*
 * Make ctx->branch (borrowed) the branch commands write to: an existing branch of the
 * ledger within the office's scope (a district amends its communities' branches), never
 * trust. ERR_USAGE naming the branch otherwise.
 */
int cmd_set_branch(struct cmd_ctx *ctx, const char *branch);

/*
 * May the records of branch (NULL: the office's own) be served or written on? ERR_VERIFY
 * with the index's refusal (the commit that failed, its signer, the rule) when a commit
 * on it did not verify. Without an index, the branch's whole history is verified here.
 */
int cmd_check_served(struct cmd_ctx *ctx, const char *branch);

/*
 * The branch that holds record id when no --branch was given: the branch of the office
 * that created it (the code inside the id) when that office is in this office's scope and
 * this ledger holds its branch, else the office's own. Written to out.
 */
void cmd_record_branch(struct cmd_ctx *ctx, char out[OFFICE_CODE_MAX + 1], const char *id);

/*
 * Labels for human output, escaped, valid until 8 more calls: "120112 (Jinnan)" with the
 * office's name from the trust branch, "P-… (Han Mei)" with a record's name from the
 * index (cmd_labels_use sets the ledger and index they read); the bare code or id when
 * no name is known.
 */
void cmd_labels_use(struct cmd_ctx *ctx);
const char *cmd_office_label(const char *code);
const char *cmd_record_label(const char *id);

/* Warn on stderr of every branch the index refuses (commands that read across branches). */
void cmd_warn_refused(struct cmd_ctx *ctx);

/*
 * Commit a transaction, retrying when the branch moved: redo(t, payload) stages the
 * changes again on a fresh transaction each time (on a branch that is served,
 * cmd_check_served). subject is read after redo, so redo may write it. *nchanged gets the
 * number of records changed (0: nothing committed).
 */
int cmd_commit_retry(struct cmd_ctx *ctx, int (*redo)(struct ledger_txn *t, void *payload),
		     void *payload, const struct buf *subject, const char *reason, git_oid *out,
		     size_t *nchanged);

/* Catch the index up after a successful commit. A failure only warns on stderr: the
 * commit stands, and the next command catches the index up. */
void cmd_index_after_commit(struct cmd_ctx *ctx);

/* To each object of entries that has a "commit", add "signature" ("good", "bad", …) and
 * "signer" or "signature_error"; each commit is checked once. */
int cmd_add_signatures(json_t *entries, struct ledger *l);

/* Parse --since/--until/--at values (index_parse_time) for commands. */
int cmd_parse_time(int64_t *out, const char *opt, const char *text, bool end_of_day);

#endif
