/*
 * verify: the one place that decides whether a commit is valid on a branch. Every path
 * that lets a commit in — receive-pack, the sync client's fetch, merge, index catch-up —
 * and `caseledger verify` ask it.
 *
 * A commit is valid on branch B when:
 *   - its SSHSIG verifies (rule 'signature');
 *   - the key belongs to a certificate chained to the ledger's CA ('certificate'), valid
 *     at the commit's committer time ('validity'), not revoked ('revocation') — a
 *     standalone ledger (no CA) instead trusts only its own key ('key'); at the head of
 *     what arrives from elsewhere (VERIFY_TIP), the certificate must not have expired
 *     by now: an expired key adds nothing new ('validity');
 *   - the certificate's office code is a prefix of B; only the city writes 'trust'
 *     ('scope');
 *   - what an auditor is shown is the signer ('identity'): only the headers caseledger
 *     writes (tree, parent, author, committer, gpgsig); author and committer are
 *     "<operator> <<signer>@caseledger>" with one time; the trailers Caseledger-Office
 *     (the signer), Caseledger-Operator (the author's name) and Caseledger-HLC appear
 *     once each, and no other Caseledger-* trailer;
 *   - time rises ('time', 'stamp'): the HLC trailer parses and names the signer, its
 *     second is the commit time, it is later than every parent's stamp (so commit time
 *     never goes back along a branch: no skew is needed, since every writer stamps after
 *     its parents), and a commit from elsewhere is dated at most VERIFY_SKEW seconds
 *     after this office's clock;
 *   - a merge (two parents; more are refused) carries no discretion ('merge'): its tree is
 *     exactly merge_commits(parent 1, parent 2) recomputed here and its message the
 *     merge's own account (merge_check). Human choices are ordinary commits (`resolve`);
 *   - any other commit: its trees have the ledger's shape, at most VERIFY_TREE_DEPTH
 *     directories deep ('shape'); every file it changes against its first parent is a
 *     record at its own path, canonical JSON, never removed ('record'), stamped with the
 *     commit's HLC, later than its previous stamp ('stamp'), and passes schema_validate
 *     with the signer's level against the previous version ('schema', and 'role' for a
 *     value the signer's level may not set);
 *   - on 'trust': only ca.pem (the ledger's anchor), crl.pem, schema.ini and certs/NAME.pem
 *     issued by the CA, nothing removed ('trust').
 * A commit is checked for the branch it arrives on: one valid on another branch proves
 * nothing here (verify_range).
 */
#ifndef CASELEDGER_VERIFY_H
#define CASELEDGER_VERIFY_H

#include <stddef.h>

#include <git2.h>

#include "history.h"
#include "ledger.h"

enum verify_status {
	VERIFY_OK = 0,
	VERIFY_UNSIGNED,  /* no signature */
	VERIFY_BAD,	  /* malformed signature, or it does not match the commit */
	VERIFY_UNTRUSTED, /* the key is not one this ledger trusts for that time */
	VERIFY_DENIED,	  /* a trusted signer went beyond its scope or level */
	VERIFY_INVALID,	  /* a changed file is not a valid record (or trust file) */
};

/* Flags for verify_commit. */
#define VERIFY_INCOMING 1u /* new from elsewhere: dated no later than now + VERIFY_SKEW */
#define VERIFY_TIP	2u /* the head of what arrives: its key must not have expired */

/* How far ahead of this office's clock a commit from elsewhere may be dated, seconds. */
#define VERIFY_SKEW 600

/* Directories a ledger's tree nests at most: <type>/<h1>/<h2>. */
#define VERIFY_TREE_DEPTH 3

struct verify_result {
	enum verify_status status;
	char commit[GIT_OID_HEXSZ + 1];	       /* the commit checked */
	char signer[OFFICE_CODE_MAX + 1];      /* office of the signing certificate, or "" */
	char fingerprint[SIG_FINGERPRINT_LEN]; /* the signing key, or "" */
	char rule[16];			       /* the rule broken; "" when OK */
	char detail[768]; /* "signed by office X (key …): rule 'scope': …", without the commit */
	char why[896];	  /* "commit <id> …" + detail: the full message */
};

/*
 * Decide whether commit is valid on branch ("trust" or an office code). Fills out and
 * returns 0 whatever the verdict; a negative ERR_* only when the ledger cannot be read.
 */
int verify_commit(struct verify_result *out, struct ledger *l, const char *branch,
		  const git_oid *commit, unsigned flags);

/*
 * verify_commit(…, VERIFY_INCOMING) in the shape of xfer.h's xfer_verify_fn, for the
 * receive-pack hook and for fetched commits: payload is the struct ledger, whose objects
 * repo extends (the receive-pack quarantine) or is (the ledger's own repository). A
 * verdict other than VERIFY_OK is ERR_VERIFY with the verdict's full message (commit,
 * signer, rule). The ledger's repo pointer is swapped for repo during the call: no other
 * thread may use the ledger meanwhile. flags: XFER_VERIFY_TIP for the head of the range.
 */
int verify_received(git_repository *repo, const char *branch, const git_oid *commit, unsigned flags,
		    void *payload);

/*
 * Verify for branch every commit reachable from tip and from none of hide (the commits
 * already verified for this branch: its head, its tracking refs); with VERIFY_INCOMING,
 * tip also with VERIFY_TIP (what arrives may not end in an expired key's commit).
 * out gets the first verdict that is not VERIFY_OK, or VERIFY_OK; *ncommits (may be NULL)
 * how many were checked. A negative ERR_* only when the repository cannot be read.
 */
int verify_range(struct verify_result *out, size_t *ncommits, struct ledger *l, const char *branch,
		 const git_oid *tip, const git_oid *hide, size_t nhide, unsigned flags);

/*
 * The index's verifier (index_verify_fn): every commit of branch reachable from head and
 * not from from, as verify_range with no flags (the ledger's own history: no clock skew,
 * no expiry at the tip). ERR_VERIFY with the full message of the first that fails.
 */
int verify_for_index(struct ledger *l, const char *branch, const git_oid *head, const git_oid *from,
		     void *payload);

/* The schema records are checked against: the trust branch's, else the ledger's own.
 * Borrowed, as trust_get's result. */
int verify_schema(const struct schema **out, struct ledger *l);

/* "ok", "unsigned", "bad", "untrusted", "denied", "invalid" */
const char *verify_status_name(enum verify_status s);

/*
 * Check every commit of every branch (refs/heads/ *) with verify_commit; calls bad for
 * each that fails (a non-zero return stops and is returned). *ncommits counts the
 * (branch, commit) pairs checked, *nbranches the branches.
 */
int verify_all(struct ledger *l, unsigned flags, size_t *ncommits, size_t *nbranches,
	       int (*bad)(const char *branch, const struct verify_result *r, void *payload),
	       void *payload);

#endif
