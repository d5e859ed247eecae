/*
 * slim: the compact form of a pack for offices that pay for every byte (doc/protocol.md,
 * "Slim packs"). A ledger's trees follow from its records: an amendment's trees are its
 * first parent's with the changed records put in. So a slim pack sends no trees. It sends
 * each commit without its tree line (and a parent that came earlier in it as a back
 * reference), the paths it changed against its first parent, and each new record as a
 * delta against the record it replaces. All of it is one zlib stream, so what commits
 * repeat (author, committer, the signer's key in the signature) is sent once.
 *
 * The receiver rebuilds every tree from its first parent's and the changes, and makes a
 * git pack of the result (slim_to_pack): from there on the objects go the way of any
 * received pack, so nothing is trusted that a plain pack would have had to prove.
 * A rebuilt tree that is not the one the sender's commit names gives a commit whose id is
 * not the one asked for: the transfer fails as for a missing object. The sender checks
 * that each commit's trees are canonical (git's order, canonical modes, no empty subtree)
 * and sends a commit whose are not, or whose text is not the usual form, as whole objects.
 *
 * A sync client asks for it with the SLIM_CAP capability (both services advertise it);
 * stock git never sees one.
 */
#ifndef CASELEDGER_SLIM_H
#define CASELEDGER_SLIM_H

#include <stdbool.h>
#include <stddef.h>

#include <git2.h>

#include "pack.h"

#define SLIM_CAP "caseledger-slim"

struct buf;

/* Whether data (len bytes, as received) is a slim pack: it starts with its magic. */
bool slim_is(const void *data, size_t len);

/*
 * Write the slim pack of the commits reachable from tips and not from hide (commits the
 * receiver has) to sink. stats, if not NULL, gets the objects sent (commits and records;
 * trees are not) and the bytes. Errors: ERR_INVALID for a missing or bad object, ERR_NOMEM,
 * or the sink's.
 */
int slim_write(struct pack_stats *stats, git_repository *repo, const git_oid *tips, size_t ntips,
	       const git_oid *hide, size_t nhide, pack_sink_fn sink, void *payload);

/*
 * Make the git pack (version 2, deltas against objects earlier in it or in odb) that the
 * slim pack data (len bytes) stands for, into pack (reset first): every tree rebuilt,
 * every record delta applied, every object hashed. odb: the receiver's objects (first
 * parents, records referred to by id). Nothing is written anywhere. A truncated or
 * malformed slim pack, a reference to an object neither sent nor in odb, or a result over
 * max bytes is ERR_INVALID naming what was wrong.
 */
int slim_to_pack(struct buf *pack, struct pack_stats *stats, const void *data, size_t len,
		 git_odb *odb, size_t max);

#endif
