/*
 * history: reading the commit history back — who changed what, when and why, and
 * whether each commit's signature is good. Used by `log`, `show` and `verify`.
 */
#ifndef CASELEDGER_HISTORY_H
#define CASELEDGER_HISTORY_H

#include <stdbool.h>
#include <stdint.h>

#include <git2.h>
#include <jansson.h>

#include "buf.h"
#include "ledger.h"

enum history_sig_status {
	HISTORY_SIG_GOOD,      /* signature verifies with a trusted key */
	HISTORY_SIG_NONE,      /* commit is not signed */
	HISTORY_SIG_BAD,       /* malformed, or does not match the commit */
	HISTORY_SIG_UNTRUSTED, /* verifies, but with a key this ledger does not trust */
};

struct history_sig {
	enum history_sig_status status;
	char signer[OFFICE_CODE_MAX + 1];      /* the trusted principal, when GOOD */
	char fingerprint[SIG_FINGERPRINT_LEN]; /* the signing key, when it could be read */
	char why[512];			       /* for anything but GOOD */
	char rule[16];	   /* the rule that failed: "signature", "key", "certificate", "validity",
			      "revocation"; "" when GOOD */
	int64_t not_after; /* the signing certificate's last valid second; 0: none (no CA) */
};

/* What a caseledger commit says about itself. Strings are owned (history_info_release). */
struct history_info {
	git_oid id;
	int64_t time; /* committer time, seconds since the epoch */
	int offset;   /* its time-zone offset in minutes */
	char *subject;
	char *reason;	/* body without trailers; "" when none */
	char *office;	/* Caseledger-Office trailer, "" when absent */
	char *operator; /* Caseledger-Operator trailer, else the author name */
	char *hlc;	/* Caseledger-HLC trailer, "" when absent */
	unsigned nparents;
};

int history_info(struct history_info *out, git_commit *c);
void history_info_release(struct history_info *info);

/*
 * Check a commit's SSHSIG against the keys this ledger trusts, for branch. Fills out;
 * returns 0 whatever the verdict (errors only for I/O). A standalone ledger (no
 * DIR/ca.pem) trusts only its own key; a ledger in the city's trust accepts a key whose
 * certificate from the CA is valid at the commit's committer time and not revoked, and
 * a revoked certificate's key only for the commits in the history the city accepted
 * from it (trust.h: the cut-off of branch, or an ancestor of it).
 */
int history_check_sig_branch(struct history_sig *out, struct ledger *l, const git_oid *commit,
			     const char *branch);

/*
 * The same without a branch (log, show, history_verify_all): a revoked certificate's
 * commit is accepted when it lies in the accepted history of any of its cut-offs.
 */
int history_check_sig(struct history_sig *out, struct ledger *l, const git_oid *commit);

/* "good", "unsigned", "bad", "untrusted" */
const char *history_sig_name(enum history_sig_status s);

/* The fields that differ between old (NULL: none) and new, as a JSON array of
 * {"field", "old", "new"} (absent values are null), ignoring "hlc". New reference. */
json_t *history_field_changes(const json_t *old, const json_t *new);

/*
 * Append to out exactly the text json_dumps(history_field_changes(old, new),
 * JSON_COMPACT | JSON_SORT_KEYS) gives (what the index stores per change), without
 * building the array: new NULL means no fields. Allocates only in out.
 */
int history_field_changes_text(struct buf *out, const json_t *old, const json_t *new);

/*
 * What a merge changed of a record (now; was: its first parent's copy, or NULL), as
 * against what it carried from its other parents (others[i]: their copies, NULL where they
 * have none): a new object, was with every field some other parent already held with the
 * merged value set to that value, so only what the merge itself decided differs from now
 * (NULL when no parent had the record: the merge created it). *carried is true when
 * nothing differs: the merge only carried the record, and the commit that made each
 * change is its author. NULL with *carried false also when out of memory.
 */
json_t *history_merge_view(const json_t *was, const json_t *now, json_t *const *others,
			   size_t nothers, bool *carried);

struct history_entry {
	struct history_info info;
	struct history_sig sig;
	const json_t *old; /* record before the commit, NULL when created here */
	const json_t *rec; /* record after it */
};

/* Called newest first; a non-zero return stops the walk and is returned. */
typedef int (*history_cb)(const struct history_entry *e, void *payload);

/* Every commit on branch that changed record id, newest first. ERR_NOTFOUND when none did. */
int history_record(struct ledger *l, const char *branch, const char *id, history_cb cb,
		   void *payload);

/* Every commit on branch, newest first (old/rec NULL). */
int history_branch(struct ledger *l, const char *branch, history_cb cb, void *payload);

struct history_verify_bad {
	git_oid id;
	struct history_sig sig;
};

/* Check every commit on every branch; calls bad for each that is not GOOD. *ncommits
 * gets the number checked, *nbranches the number of branches. */
int history_verify_all(struct ledger *l, size_t *ncommits, size_t *nbranches,
		       int (*bad)(const struct history_verify_bad *b, void *payload),
		       void *payload);

#endif
