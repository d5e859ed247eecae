/*
 * ledger: one office's ledger directory and the only way records are written.
 *
 * A ledger directory is a bare git repository (stock git reads it) plus:
 *   config         git config; [caseledger] office, name, operator, format
 *   office.key     the office's Ed25519 private key, PEM PKCS#8, mode 0600
 *   schema.ini     the schema records are checked against
 *   index.db       the SQLite index, derived from the repository (see index.h)
 * Each office's records live on its branch refs/heads/<office-code>.
 *
 * Writing goes through a transaction: begin (remember the branch head), get/put records
 * (each put is validated against the schema and role rules), commit (blobs, the trees on
 * the changed paths only, a commit signed in SSHSIG format, then a compare-and-swap of
 * the branch from the remembered head). Objects and the ref are fsync'ed before commit
 * returns, so a reported success survives kill -9 and power loss.
 */
#ifndef CASELEDGER_LEDGER_H
#define CASELEDGER_LEDGER_H

#include <stdbool.h>

#include <git2.h>
#include <jansson.h>

#include "office.h"
#include "record.h"
#include "schema.h"
#include "sig.h"

struct trust;

#define LEDGER_FORMAT  1
#define LEDGER_REF_MAX 64

struct ledger {
	char *dir;			   /* the ledger directory */
	git_repository *repo;		   /* the bare repository at dir */
	char office[OFFICE_CODE_MAX + 1];  /* this office's code */
	enum office_level level;	   /* its level */
	char *name;			   /* its name ("" when none) */
	char *operator_default;		   /* caseledger.operator, or NULL */
	char *timezone;			   /* caseledger.timezone ("Asia/Shanghai"), or NULL */
	struct schema *schema;		   /* what records are checked against */
	struct sig_key *key;		   /* the office key */
	unsigned char pub[SIG_PUBKEY_LEN]; /* its public half */
	struct trust *trust;		   /* what it trusts (trust.h): trust_get loads it */
};

struct ledger_init_opts {
	const char *dir;	 /* to create; must not exist, or be an empty directory */
	const char *office;	 /* office code */
	const char *name;	 /* office name, or NULL */
	const char *schema_path; /* schema file, or NULL for the built-in default */
	const char *key_path;	 /* existing private key to use, or NULL to generate one */
	const char *operator;	 /* who creates it (first commit's author), or NULL */
	/* Called with the new ledger, opened in its temporary directory, before it is moved
	 * into place (CA, certificates, trust branch); a failure removes everything. */
	int (*setup)(struct ledger *l, void *payload);
	void *setup_payload;
};

/*
 * Create a ledger. Everything is built in a temporary sibling directory and renamed into
 * place, so a failure leaves nothing behind. ERR_EXISTS when dir is a non-empty directory.
 */
int ledger_init(const struct ledger_init_opts *opts);

/* Open a ledger directory. *out is owned by the caller (ledger_free). */
int ledger_open(struct ledger **out, const char *dir);

void ledger_free(struct ledger *l);

/* "refs/heads/<branch>" into out; ERR_INVALID when branch is not an office code or "trust". */
int ledger_ref_name(char out[LEDGER_REF_MAX], const char *branch);

/* The head commit of branch; ERR_NOTFOUND when the branch does not exist. */
int ledger_head(git_oid *out, struct ledger *l, const char *branch);

/*
 * Read record id from tree (any commit's tree). *out is a new reference. ERR_NOTFOUND
 * ("no record 'X'") when absent; ERR_INVALID when id is malformed or its type unknown.
 */
int ledger_read(json_t **out, struct ledger *l, git_tree *tree, const char *id);

/* The schema type of id ("C-…" -> case); ERR_INVALID naming the id when unknown. */
int ledger_type_of(const struct schema_type **out, struct ledger *l, const char *id);

/*
 * Resolve REV (a branch name, a commit id or anything git_revparse accepts) to a commit.
 * *out is owned by the caller (git_commit_free).
 */
int ledger_resolve(git_commit **out, struct ledger *l, const char *rev);

/* Operator name to record: given, else CASELEDGER_OPERATOR, config, $USER, "operator".
 * ERR_INVALID when it holds characters a git identity cannot (newline, '<', '>'). */
int ledger_operator(const char **out, struct ledger *l, const char *given);

/* Trailers of a caseledger commit message. */
#define LEDGER_TRAILER_OFFICE	"Caseledger-Office"
#define LEDGER_TRAILER_OPERATOR "Caseledger-Operator"
#define LEDGER_TRAILER_HLC	"Caseledger-HLC"

/*
 * The commit's Caseledger-HLC stamp (its last such trailer). ERR_NOTFOUND when it has
 * none, ERR_INVALID (with a message) when it does not parse.
 */
int ledger_commit_stamp(struct hlc *out, git_commit *c);

struct ledger_change {
	char id[RECORD_ID_MAX];
	char path[RECORD_PATH_MAX];
	json_t *old; /* the record at the head the transaction began from; NULL when new */
	json_t *rec; /* the record to write */
};

struct ledger_txn {
	struct ledger *ledger;
	char branch[OFFICE_CODE_MAX + 1];
	git_oid head;		       /* branch head when the transaction began */
	bool has_head;		       /* false: the branch does not exist yet */
	git_tree *tree;		       /* the head's tree; NULL without a head */
	struct hlc stamp;	       /* the clock stamp every change carries */
	char stamp_text[HLC_TEXT_MAX]; /* stamp, formatted */
	struct ledger_change *changes;
	size_t nchanges, cap;
	size_t *slots; /* id -> index + 1 into changes (open addressing) */
	size_t nslots; /* a power of two, or 0 */
};

/* Start a transaction on branch (NULL: the office's own branch). */
int ledger_txn_begin(struct ledger_txn *t, struct ledger *l, const char *branch);

/* The record as this transaction sees it (pending changes included). New reference. */
int ledger_txn_get(json_t **out, struct ledger_txn *t, const char *id);

/*
 * Stage rec (borrowed; the transaction keeps its own copy) as the new content of the
 * record its "id" names. Sets "hlc" to the transaction's stamp and validates the result
 * against the record's previous content (schema and role rules for this office's level).
 * create: the record must not exist yet (ERR_EXISTS); otherwise it must (ERR_NOTFOUND).
 * A put that changes nothing but the stamp is dropped; *changed (if given) says which.
 */
int ledger_txn_put(struct ledger_txn *t, const json_t *rec, bool create, bool *changed);

struct ledger_commit_info {
	const char *subject;  /* first line */
	const char *reason;   /* body, or NULL */
	const char *operator; /* who; NULL: ledger_operator's default */
};

/*
 * Write the staged changes as one signed commit and move the branch by compare-and-swap
 * from the head seen at begin. ERR_CONFLICT when the branch moved meanwhile (nothing is
 * reachable from the failed attempt); ERR_INVALID when nothing is staged.
 */
int ledger_txn_commit(struct ledger_txn *t, const struct ledger_commit_info *info, git_oid *out);

/* Free what the transaction holds. */
void ledger_txn_release(struct ledger_txn *t);

/*
 * Write a signed commit with the given tree and parents, and move ref from expected
 * (NULL: ref must not exist) to it by compare-and-swap. For merges and the first commit.
 */
int ledger_commit_tree(git_oid *out, struct ledger *l, const char *ref, const git_oid *expected,
		       const git_oid *tree, const git_commit **parents, size_t nparents,
		       const char *message, const char *operator, uint64_t when_ms);

/*
 * Move ref from expected (NULL: ref must not exist) to id by compare-and-swap, under the
 * ledger's writer lock, durably: fast-forwards, received pushes, fetched branches.
 * ERR_CONFLICT when the ref moved.
 */
int ledger_ref_cas(struct ledger *l, const char *ref, const git_oid *expected, const git_oid *id);

/*
 * Store every object reachable from tree that l's repository lacks, reading them through
 * from (a handle whose object database holds them, e.g. one with an in-memory backend),
 * durably into l's repository: loose up to 512 objects, else as one pack. *nobjects (if
 * given) gets the count.
 */
int ledger_pack_tree(struct ledger *l, git_repository *from, const git_oid *tree, size_t *nobjects);

/*
 * Packs accumulate: every bulk transaction and every received push or fetch adds one,
 * and libgit2 searches them one by one for each object it reads. When LEDGER_MIDX_SLACK
 * or more packs are not in objects/pack/multi-pack-index, write it anew over all of
 * them (libgit2's writer; stock git reads it too): a lookup is then one binary search,
 * plus the few newer packs. Nothing is removed, so nothing can be lost; a crash leaves
 * the old index (written aside, renamed), and a bad or missing one is only slower.
 * *written (if given): whether it was written.
 */
#define LEDGER_MIDX_SLACK 8
int ledger_pack_maintain(struct ledger *l, bool *written);

/* Build a commit message: subject, blank line, reason, blank line, trailers. */
int ledger_message(struct buf *out, struct ledger *l, const char *subject, const char *reason,
		   const char *operator, const char * hlc);

#endif
