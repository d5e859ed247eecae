/*
 * pack: git packs (version 2) of the objects xfer_walk_objects finds, written as they are
 * made to a sink: what the server's upload-pack answers and what the sync client pushes.
 *
 * libgit2's packbuilder reads every object twice, searches a window of candidates for
 * deltas and compresses every object in full. Here the walker already knows what each
 * tree and blob replaces: the object at the same path in the first parent. Each is sent as
 * a delta against that base (pack_delta: trees entry by entry, anything else by common
 * prefix and suffix). An amendment changes one entry in each tree on its path, so its deltas are
 * tens of bytes where its trees are kilobytes, and nothing is searched or compressed in
 * full. With PACK_THIN a base may be an object the receiver has and the pack lacks
 * (receivers fix thin packs: the client must have asked for them); otherwise only objects
 * earlier in the pack are bases. Chains are cut at PACK_MAX_DEPTH deltas; a delta no
 * smaller than half its object is not used. Deltas are REF_DELTA, which every receiver
 * reads without a capability. Wire format: doc/protocol.md, "Packs".
 */
#ifndef CASELEDGER_PACK_H
#define CASELEDGER_PACK_H

#include <stdbool.h>
#include <stddef.h>

#include <git2.h>

struct buf;

#define PACK_THIN      1u /* bases may be objects the receiver has */
#define PACK_SLIM      2u /* a slim pack (slim.h) instead: the receiver asked for one */
#define PACK_MAX_DEPTH 16

/* Receives the pack in pieces, in order; non-zero stops the writing and is returned. */
typedef int (*pack_sink_fn)(const void *data, size_t n, void *payload);

/* What a pack held. */
struct pack_stats {
	size_t objects; /* in all */
	size_t deltas;	/* of them, sent as deltas */
	size_t bytes;	/* the pack's size */
};

/*
 * Write a pack of the objects reachable from tips and not from hide (commits the receiver
 * has) to sink: the same objects as xfer_walk_objects, in its order. flags: PACK_THIN;
 * PACK_SLIM writes slim_write's form instead.
 * stats, if not NULL, gets what was written. Errors: ERR_INVALID for a missing or bad
 * object, ERR_IO, ERR_NOMEM, or the sink's.
 */
int pack_write(struct pack_stats *stats, git_repository *repo, const git_oid *tips, size_t ntips,
	       const git_oid *hide, size_t nhide, unsigned flags, pack_sink_fn sink, void *payload);

/*
 * Index a whole received pack (data, len: as received, trailer included) into dir: every
 * object read, deltas resolved (against objects earlier or later in the pack, or, when
 * odb is given, objects in odb: those bases are appended, as git's index-pack
 * --fix-thin does), ids computed, and pack-<sum>.pack and pack-<sum>.idx written durably,
 * the .pack first. Nothing is written unless the whole pack checks: a truncated or
 * corrupt pack, a bad delta or a missing base is ERR_INVALID naming what was wrong.
 * stats, if not NULL, gets the count of objects and deltas.
 */
int pack_index(struct pack_stats *stats, const char *dir, const void *data, size_t len,
	       git_odb *odb);

/* Append v as a little-endian base-128 varint (git's delta header form). ERR_NOMEM. */
int pack_put_varint(struct buf *b, size_t v);

/* The header of a pack entry (type, inflated size) into out; returns its length. */
#define PACK_HEADER_MAX 16
size_t pack_entry_header(unsigned char out[PACK_HEADER_MAX], int type, size_t size);

/*
 * Append to out the git delta that makes dst from src, objects of type: trees entry by
 * entry (unchanged entries copied, changed and new ones inserted), anything else by its
 * common prefix and suffix (copied) and the middle (inserted).
 */
int pack_delta(struct buf *out, git_object_t type, const unsigned char *src, size_t srclen,
	       const unsigned char *dst, size_t dstlen);

/*
 * Apply a git delta (d, dlen) to base: out = the object it makes. ERR_INVALID for a
 * malformed delta, a base of the wrong size or a result over 16 MiB.
 */
int pack_delta_apply(struct buf *out, const unsigned char *base, size_t blen,
		     const unsigned char *d, size_t dlen);

/* One entry of a raw tree: "<mode> <name>\0<20-byte id>". */
struct pack_tree_ent {
	size_t off, len;	   /* its bytes */
	const unsigned char *name; /* not NUL-terminated */
	size_t nlen;
	bool tree; /* a subtree: sorts as if its name ended in '/' */
};

/* Parse the entry of tree b (n bytes) at off into e; false when malformed. */
bool pack_tree_ent_at(struct pack_tree_ent *e, const unsigned char *b, size_t n, size_t off);

/* git's tree order: names compared bytewise, a subtree's as if it ended in '/'. */
int pack_tree_ent_cmp(const struct pack_tree_ent *a, const struct pack_tree_ent *b);
int pack_name_cmp(const unsigned char *a, size_t alen, bool atree, const unsigned char *b,
		  size_t blen, bool btree);

#endif
