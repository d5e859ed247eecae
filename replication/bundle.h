/*
 * bundle: offline transfer. A bundle is a file in git's bundle format (v2: stock
 * `git bundle verify` and `git fetch` read it) holding branches of a ledger — the
 * office's own, the trust branch, any others asked for — and a pack of what they need
 * beyond the prerequisites (commits the receiver must already hold). Applying one checks
 * every commit it brings exactly as a fetch would (replication/sync.c with the bundle as
 * the peer: verified for the branch it arrives on, merges recomputed), then fast-forwards
 * or merges each branch; nothing is pushed anywhere.
 */
#ifndef CASELEDGER_BUNDLE_H
#define CASELEDGER_BUNDLE_H

#include <stdbool.h>
#include <stddef.h>

#include <git2.h>

#include "buf.h"
#include "ledger.h"

#define BUNDLE_MAX_BYTES ((size_t)1 << 31) /* largest bundle read */

struct bundle_ref {
	char name[LEDGER_REF_MAX]; /* refs/heads/<branch> */
	git_oid oid;
};

struct bundle {
	char *path;
	struct buf data; /* the whole file */
	size_t pack;	 /* offset of the pack in data */
	git_oid *prereq; /* commits the receiver must hold */
	size_t nprereq;
	struct bundle_ref *refs; /* the branches it carries */
	size_t nrefs;
	char packfile[4200]; /* after bundle_unpack: objects/pack/pack-<sum> (no suffix) */
	bool pack_new;	     /* bundle_unpack wrote it: it was not there before */
};

/*
 * Read and parse the bundle at path into b (release it with bundle_release, also on
 * error). ERR_INVALID naming the file and what is wrong: not a v2 bundle, a malformed
 * prerequisite or ref line, a ref that is not a ledger branch, no pack, a truncated pack.
 */
int bundle_read(struct bundle *b, const char *path);
void bundle_release(struct bundle *b);

/* The head b carries for ref (refs/heads/<branch>); ERR_NOTFOUND when none. */
int bundle_head(git_oid *out, const struct bundle *b, const char *ref);

/*
 * Write a bundle of branches (names; trust included when asked) to path, durably (a
 * temporary file fsync'ed and renamed): their heads, and a pack of every object they
 * reach that hide (commits the receiver holds; become the prerequisites) does not.
 * *nobjects (may be NULL) gets the pack's object count.
 */
int bundle_write(struct ledger *l, const char *path, char *const *branches, size_t nbranches,
		 const git_oid *hide, size_t nhide, size_t *nobjects);

/*
 * Make b's objects available to l: every prerequisite must be a commit l holds
 * (ERR_NOTFOUND naming the first missing one: apply the bundle before this one), then its
 * pack is indexed (pack_index: checked whole). Nothing points at the objects yet:
 * sync_branch with a peer whose bundle is b then verifies and applies each branch.
 */
int bundle_unpack(struct ledger *l, struct bundle *b);

/*
 * Remove the pack bundle_unpack added when nothing came of it (no branch moved): refused
 * or stale objects are not kept. Does nothing when the pack was there before.
 */
void bundle_discard(struct ledger *l, struct bundle *b);

#endif
