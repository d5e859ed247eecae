/*
 * overlay: a repository whose writes stay in memory, reading through another repository's
 * objects. The merge engine builds its trees in one (so that a merge computed only to be
 * compared — by a verifier — leaves nothing behind), and reads through whatever repository
 * it is given: the ledger's own, or a receive-pack quarantine that extends it.
 */
#ifndef CASELEDGER_OVERLAY_H
#define CASELEDGER_OVERLAY_H

#include <git2.h>

struct overlay {
	git_repository *repo; /* reads base's objects, writes to mem; owned */
	git_odb_backend *mem; /* the mempack backend, owned by repo's object database */
};

/*
 * Open an overlay over base (borrowed: it must outlive the overlay). Objects written
 * through out->repo are held in memory until overlay_reset or overlay_release.
 */
int overlay_open(struct overlay *out, git_repository *base);

/* Drop every object written so far. */
void overlay_reset(struct overlay *o);

/* Free what the overlay holds; accepts a zeroed struct. */
void overlay_release(struct overlay *o);

#endif
