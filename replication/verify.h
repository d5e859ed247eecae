/*
 * verify: the one place that decides whether a commit is valid on a branch. `caseledger
 * verify` checks every commit with it; sync (later) checks every received commit with it
 * before any ref moves.
 *
 * A commit is valid on branch B when:
 *   - its SSHSIG verifies (rule 'signature');
 *   - the key belongs to a certificate chained to the ledger's CA ('certificate'), valid
 *     at the commit's committer time ('validity'), not revoked at or before that time, or
 *     not revoked at all for commits new from the network ('revocation') — a standalone
 *     ledger (no CA) instead trusts only its own key ('key');
 *   - the certificate's office code is a prefix of B; only the city writes 'trust'
 *     ('scope');
 *   - every file it changes against its first parent is a record at its own path,
 *     canonical JSON, never removed ('record'), and passes schema_validate with the
 *     signer's level against the parent's version ('schema', and 'role' for a value the
 *     signer's level may not set). In a merge commit a record equal to its version in any
 *     parent is not the merger's change and is skipped; for the others, role rules apply
 *     only to values found in neither parent;
 *   - on 'trust': only ca.pem (the ledger's anchor), crl.pem, schema.ini and certs/NAME.pem
 *     issued by the CA, nothing removed ('trust').
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
#define VERIFY_INCOMING 1u /* new from the network: a revoked key adds nothing, whenever */

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
 * thread may use the ledger meanwhile. client is not used (xfer checks write scope).
 */
int verify_received(git_repository *repo, const char *branch, const git_oid *commit,
		    const char *client, void *payload);

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
