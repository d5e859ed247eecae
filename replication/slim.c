#include "config.h"

#include "slim.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <zlib.h>

#include "buf.h"
#include "err.h"
#include "oidmap.h"
#include "xfer.h"

/*
 * The stream (doc/protocol.md, "Slim packs"): the magic, then one zlib stream of records.
 *   'C' a commit: parents (varint count; each a varint k: 0 and 20 raw bytes, or the k-th
 *       commit back in this stream), the commit's text after its parent lines (varint
 *       length, bytes), its changes against its first parent (varint count; each a path,
 *       an op and, but for a deletion, a mode and the record).
 *   'O' an object whole: type byte (1 commit, 2 tree, 3 blob), varint length, bytes.
 *   'E' the end.
 */
#define SLIM_MAGIC     "CLSP\001"
#define SLIM_MAGIC_LEN 5
#define SLIM_CHUNK     (64 * 1024)
#define SLIM_PATH_MAX  4096
#define SLIM_DEPTH_MAX 64  /* directories in a path */
#define SLIM_CACHE     256 /* objects the decoder keeps whole (the trees a step touches) */

enum { REC_COMMIT = 'C', REC_OBJECT = 'O', REC_END = 'E' };
enum { OP_DELETE = 'D', OP_WHOLE = 'B', OP_DELTA = 'd', OP_REF = 'R' };
enum { PACK_REF_DELTA = 7 };

bool slim_is(const void *data, size_t len)
{
	return len >= SLIM_MAGIC_LEN && memcmp(data, SLIM_MAGIC, SLIM_MAGIC_LEN) == 0;
}

static int put_varint(struct buf *b, size_t v)
{
	return pack_put_varint(b, v) < 0 ? err_set(ERR_NOMEM, "out of memory") : 0;
}

static int get_varint(size_t *out, const unsigned char **p, const unsigned char *end)
{
	size_t v = 0, shift = 0;
	unsigned char c;

	do {
		if (*p >= end)
			return err_set(ERR_INVALID, "slim pack: cut short in a number");
		if (shift > 56)
			return err_set(ERR_INVALID, "slim pack: a number is too long");
		c = *(*p)++;
		v |= (size_t)(c & 0x7f) << shift;
		shift += 7;
	} while (c & 0x80);
	*out = v;
	return 0;
}

/* A path from the stream, fit for an error message: printable ASCII, others as '?'. */
static const char *shown(char out[96], const unsigned char *p, size_t n)
{
	size_t i, k = 0;

	for (i = 0; i < n && k < 90; i++)
		out[k++] = p[i] >= 0x20 && p[i] < 0x7f ? (char)p[i] : '?';
	if (i < n)
		memcpy(out + k, "...", 3), k += 3;
	out[k] = '\0';
	return out;
}

/* A tree entry's mode, when it is one a record tree may hold, else 0. */
static unsigned mode_of(const unsigned char *b, const struct pack_tree_ent *e, bool *canonical)
{
	char text[16], again[16];
	size_t n = (size_t)(e->name - 1 - (b + e->off));
	unsigned long m;

	if (n == 0 || n >= sizeof(text))
		return 0;
	memcpy(text, b + e->off, n);
	text[n] = '\0';
	m = strtoul(text, NULL, 8);
	snprintf(again, sizeof(again), "%lo", m);
	if (strcmp(text, again) != 0)
		*canonical = false;
	switch (m) {
	case 040000:
	case 0100644:
	case 0100755:
	case 0120000:
	case 0160000:
		return (unsigned)m;
	default:
		return 0;
	}
}

static bool leaf_mode(size_t m)
{
	return m == 0100644 || m == 0100755 || m == 0120000 || m == 0160000;
}

struct oids {
	git_oid *v;
	size_t n, cap;
};

static int oids_push(struct oids *l, const git_oid *id)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 16;
		git_oid *g = realloc(l->v, cap * sizeof(*g));

		if (!g)
			return err_set(ERR_NOMEM, "out of memory");
		l->v = g;
		l->cap = cap;
	}
	git_oid_cpy(&l->v[l->n++], id);
	return 0;
}

/* --- the sender ------------------------------------------------------------------------ */

struct enc {
	git_repository *repo;
	git_odb *odb;
	pack_sink_fn sink;
	void *payload;
	z_stream z;
	bool z_ready;
	struct buf out;	       /* compressed, not yet handed to the sink */
	struct buf rec;	       /* the record being made */
	struct buf changes;    /* the commit's changes */
	size_t nchanges;       /* how many */
	struct buf path;       /* of the tree being compared */
	struct buf delta;      /* a record's delta */
	struct oidmap commits; /* commit -> its place in the stream */
	int ncommits;
	struct oidmap sent; /* records sent */
	struct oids blobs;  /* the commit's records sent, for a commit sent whole */
	struct oids trees;  /* the commit's new trees, likewise */
	git_tree **others;  /* a merge's other parents' trees */
	size_t nothers;
	bool canonical; /* the commit's trees rebuild as they are */
	struct pack_stats stats;
};

static int enc_flush(struct enc *e, bool all)
{
	int rc;

	if (e->out.len == 0 || (!all && e->out.len < SLIM_CHUNK))
		return 0;
	if ((rc = e->sink(e->out.ptr, e->out.len, e->payload)) != 0)
		return rc;
	e->stats.bytes += e->out.len;
	buf_reset(&e->out);
	return 0;
}

static int enc_deflate(struct enc *e, const void *data, size_t n, int flush)
{
	int rc, zrc;

	e->z.next_in = (Bytef *)(uintptr_t)data;
	e->z.avail_in = (uInt)n;
	for (;;) {
		uInt room;

		if (buf_grow(&e->out, SLIM_CHUNK) < 0)
			return err_set(ERR_NOMEM, "out of memory");
		room = (uInt)(e->out.cap - e->out.len - 1);
		e->z.next_out = (Bytef *)e->out.ptr + e->out.len;
		e->z.avail_out = room;
		zrc = deflate(&e->z, flush);
		e->out.len += room - e->z.avail_out;
		if (zrc == Z_STREAM_ERROR)
			return err_set(ERR_GENERIC, "zlib failed");
		if (flush == Z_FINISH ? zrc == Z_STREAM_END
				      : e->z.avail_in == 0 && e->z.avail_out > 0)
			break;
		if ((rc = enc_flush(e, true)) < 0)
			return rc;
	}
	return enc_flush(e, false);
}

/* The record in e->rec, into the stream. */
static int enc_record(struct enc *e)
{
	int rc = enc_deflate(e, e->rec.ptr, e->rec.len, Z_NO_FLUSH);

	buf_reset(&e->rec);
	return rc;
}

static int enc_object_whole(struct enc *e, const git_oid *id)
{
	git_odb_object *o = NULL;
	int rc;

	if (git_odb_read(&o, e->odb, id) < 0)
		return err_git(ERR_INVALID, "cannot read object %s", git_oid_tostr_s(id));
	if (buf_addch(&e->rec, REC_OBJECT) < 0 ||
	    buf_addch(&e->rec, (char)git_odb_object_type(o)) < 0)
		rc = err_set(ERR_NOMEM, "out of memory");
	else if ((rc = put_varint(&e->rec, git_odb_object_size(o))) == 0 &&
		 buf_add(&e->rec, git_odb_object_data(o), git_odb_object_size(o)) < 0)
		rc = err_set(ERR_NOMEM, "out of memory");
	git_odb_object_free(o);
	return rc < 0 ? rc : enc_record(e);
}

/* Whether a merge's other parent has record id at the path being compared. */
static bool other_has(struct enc *e, const git_oid *id)
{
	git_tree_entry *te = NULL;
	size_t i;
	bool has = false;

	for (i = 0; i < e->nothers && !has; i++) {
		if (git_tree_entry_bypath(&te, e->others[i], e->path.ptr) == 0)
			has = git_oid_equal(git_tree_entry_id(te), id);
		git_tree_entry_free(te);
		te = NULL;
	}
	git_error_clear();
	return has;
}

static int change_head(struct enc *e, char op)
{
	e->nchanges++;
	if (put_varint(&e->changes, e->path.len) < 0 ||
	    buf_add(&e->changes, e->path.ptr, e->path.len) < 0 || buf_addch(&e->changes, op) < 0)
		return err_set(ERR_NOMEM, "out of memory");
	return 0;
}

/* Record id (mode) now at the path, old what was there in the first parent (or NULL). */
static int enc_blob(struct enc *e, const git_oid *old, const git_oid *id, unsigned mode)
{
	git_odb_object *o = NULL, *b = NULL;
	const void *data;
	size_t n;
	int rc;

	if (mode == 0160000 || oidmap_get(&e->sent, id) || other_has(e, id)) {
		if ((rc = change_head(e, OP_REF)) < 0 || (rc = put_varint(&e->changes, mode)) < 0)
			return rc;
		return buf_add(&e->changes, id->id, GIT_OID_RAWSZ) < 0
			   ? err_set(ERR_NOMEM, "out of memory")
			   : 0;
	}
	if (git_odb_read(&o, e->odb, id) < 0 || git_odb_object_type(o) != GIT_OBJECT_BLOB) {
		rc = err_git(ERR_INVALID, "missing or bad record %s", git_oid_tostr_s(id));
		goto out;
	}
	data = git_odb_object_data(o);
	n = git_odb_object_size(o);
	buf_reset(&e->delta);
	if (old && git_odb_read(&b, e->odb, old) == 0 &&
	    git_odb_object_type(b) == GIT_OBJECT_BLOB &&
	    (rc = pack_delta(&e->delta, GIT_OBJECT_BLOB, git_odb_object_data(b),
			     git_odb_object_size(b), data, n)) < 0)
		goto out;
	git_error_clear();
	if (e->delta.len > 0 && e->delta.len < n / 2) {
		data = e->delta.ptr;
		n = e->delta.len;
		rc = change_head(e, OP_DELTA);
	} else {
		rc = change_head(e, OP_WHOLE);
	}
	if (rc < 0 || (rc = put_varint(&e->changes, mode)) < 0 ||
	    (rc = put_varint(&e->changes, n)) < 0)
		goto out;
	if (buf_add(&e->changes, data, n) < 0) {
		rc = err_set(ERR_NOMEM, "out of memory");
		goto out;
	}
	if ((rc = oidmap_add(&e->sent, id, 0)) < 0 || (rc = oids_push(&e->blobs, id)) < 0)
		goto out;
	e->stats.objects++;
	rc = 0;
out:
	git_odb_object_free(b);
	git_odb_object_free(o);
	return rc;
}

/* Whether tree b (n bytes) has an entry called name, of either kind. */
static bool has_name(const unsigned char *b, size_t n, const unsigned char *name, size_t nlen)
{
	struct pack_tree_ent t;
	size_t off = 0;

	while (off < n && pack_tree_ent_at(&t, b, n, off)) {
		if (t.nlen == nlen && memcmp(t.name, name, nlen) == 0)
			return true;
		off += t.len;
	}
	return false;
}

static int diff_tree(struct enc *e, const git_oid *old, const git_oid *new, bool root);

/* One entry of the new tree that differs from the old one's (oe, when c == 0). */
static int diff_entry(struct enc *e, const unsigned char *nb, const struct pack_tree_ent *ne,
		      const unsigned char *ob, const struct pack_tree_ent *oe, bool same_name)
{
	size_t plen = e->path.len;
	git_oid nid, oid;
	unsigned mode = mode_of(nb, ne, &e->canonical);
	int rc;

	if (!mode)
		e->canonical = false;
	git_oid_fromraw(&nid, nb + ne->off + ne->len - GIT_OID_RAWSZ);
	if (same_name)
		git_oid_fromraw(&oid, ob + oe->off + oe->len - GIT_OID_RAWSZ);
	if ((plen && buf_addch(&e->path, '/') < 0) || buf_add(&e->path, ne->name, ne->nlen) < 0)
		return err_set(ERR_NOMEM, "out of memory");
	if (ne->tree)
		rc = diff_tree(e, same_name ? &oid : NULL, &nid, false);
	else
		rc = enc_blob(e, same_name ? &oid : NULL, &nid, mode ? mode : 0100644);
	buf_truncate(&e->path, plen);
	return rc;
}

static int read_tree(git_odb_object **out, struct enc *e, const git_oid *id)
{
	if (git_odb_read(out, e->odb, id) < 0 || git_odb_object_type(*out) != GIT_OBJECT_TREE)
		return err_git(ERR_INVALID, "missing or bad tree %s", git_oid_tostr_s(id));
	return 0;
}

/*
 * The changes from tree old (NULL: none) to new at e->path, appended to e->changes; new
 * trees met go to e->trees. e->canonical is cleared when new would not rebuild as it is.
 */
static int diff_tree(struct enc *e, const git_oid *old, const git_oid *new, bool root)
{
	git_odb_object *no = NULL, *oo = NULL;
	const unsigned char *nb, *ob = NULL;
	struct pack_tree_ent ne, oe, prev;
	size_t nn, on = 0, noff = 0, ooff = 0, count = 0;
	int rc;

	if ((rc = read_tree(&no, e, new)) < 0 || (old && (rc = read_tree(&oo, e, old)) < 0) ||
	    (rc = oids_push(&e->trees, new)) < 0)
		goto out;
	nb = git_odb_object_data(no);
	nn = git_odb_object_size(no);
	if (oo) {
		ob = git_odb_object_data(oo);
		on = git_odb_object_size(oo);
	}
	for (;;) {
		bool hn = noff < nn, ho = ooff < on;
		int c;

		if ((hn && !pack_tree_ent_at(&ne, nb, nn, noff)) ||
		    (ho && !pack_tree_ent_at(&oe, ob, on, ooff))) {
			rc = err_set(ERR_INVALID, "malformed tree %s",
				     git_oid_tostr_s(hn ? new : old));
			goto out;
		}
		if (!hn && !ho)
			break;
		c = !hn ? -1 : !ho ? 1 : pack_tree_ent_cmp(&oe, &ne);
		if (c < 0) { /* gone from the new tree */
			if (has_name(nb, nn, oe.name, oe.nlen)) {
				e->canonical = false; /* a record became a directory, or back */
			} else {
				size_t plen = e->path.len;

				if ((plen && buf_addch(&e->path, '/') < 0) ||
				    buf_add(&e->path, oe.name, oe.nlen) < 0) {
					rc = err_set(ERR_NOMEM, "out of memory");
					goto out;
				}
				rc = change_head(e, OP_DELETE);
				buf_truncate(&e->path, plen);
				if (rc < 0)
					goto out;
			}
			ooff += oe.len;
			continue;
		}
		if (count++ && pack_tree_ent_cmp(&prev, &ne) >= 0)
			e->canonical = false; /* out of order, or a name twice */
		prev = ne;
		if (c > 0 || oe.len != ne.len || memcmp(ob + oe.off, nb + ne.off, ne.len) != 0) {
			if ((rc = diff_entry(e, nb, &ne, ob, &oe, c == 0)) < 0)
				goto out;
		} else {
			bool canonical = true;

			(void)mode_of(nb, &ne, &canonical);
			if (!canonical)
				e->canonical = false;
		}
		if (c == 0)
			ooff += oe.len;
		noff += ne.len;
	}
	if (!root && count == 0)
		e->canonical = false; /* an empty subtree: a rebuild drops it */
	rc = 0;
out:
	git_odb_object_free(no);
	git_odb_object_free(oo);
	return rc;
}

/* Where the text of commit c (raw) goes on after its tree and parent lines, or 0. */
static size_t commit_rest(const git_commit *c, git_odb_object *raw)
{
	const char *b = git_odb_object_data(raw);
	size_t n = git_odb_object_size(raw), off = 0, i, np = git_commit_parentcount(c);
	char hex[GIT_OID_HEXSZ + 1];

	if (n < 46 || memcmp(b, "tree ", 5) != 0 ||
	    memcmp(b + 5, git_oid_tostr(hex, sizeof(hex), git_commit_tree_id(c)), 40) != 0 ||
	    b[45] != '\n')
		return 0;
	off = 46;
	for (i = 0; i < np; i++) {
		if (n - off < 48 || memcmp(b + off, "parent ", 7) != 0 ||
		    memcmp(b + off + 7,
			   git_oid_tostr(hex, sizeof(hex), git_commit_parent_id(c, (unsigned)i)),
			   40) != 0 ||
		    b[off + 47] != '\n')
			return 0;
		off += 48;
	}
	return off;
}

static int enc_parents(struct enc *e, const git_commit *c)
{
	size_t i, np = git_commit_parentcount(c);
	int rc;

	if ((rc = put_varint(&e->rec, np)) < 0)
		return rc;
	for (i = 0; i < np; i++) {
		const git_oid *pid = git_commit_parent_id(c, (unsigned)i);
		int *at = oidmap_get(&e->commits, pid);

		if (at) {
			rc = put_varint(&e->rec, (size_t)(e->ncommits - *at));
		} else if ((rc = put_varint(&e->rec, 0)) == 0 &&
			   buf_add(&e->rec, pid->id, GIT_OID_RAWSZ) < 0) {
			rc = err_set(ERR_NOMEM, "out of memory");
		}
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* A commit whose trees do not rebuild, or whose text is unusual: every new object whole. */
static int enc_whole(struct enc *e, const git_oid *id)
{
	size_t i;
	int rc;

	if ((rc = enc_object_whole(e, id)) < 0)
		return rc;
	for (i = 0; i < e->trees.n; i++)
		if ((rc = enc_object_whole(e, &e->trees.v[i])) < 0)
			return rc;
	for (i = 0; i < e->blobs.n; i++)
		if ((rc = enc_object_whole(e, &e->blobs.v[i])) < 0)
			return rc;
	return 0;
}

static void others_free(struct enc *e)
{
	size_t i;

	for (i = 0; i < e->nothers; i++)
		git_tree_free(e->others[i]);
	free(e->others);
	e->others = NULL;
	e->nothers = 0;
}

static int enc_commit(struct enc *e, const git_oid *id)
{
	git_commit *c = NULL, *p = NULL;
	git_odb_object *raw = NULL;
	const git_oid *ptree = NULL;
	size_t i, np, rest;
	int rc;

	if (git_commit_lookup(&c, e->repo, id) < 0 || git_odb_read(&raw, e->odb, id) < 0) {
		rc = err_git(ERR_INVALID, "missing or bad commit %s", git_oid_tostr_s(id));
		goto out;
	}
	np = git_commit_parentcount(c);
	if (np > 1 && !(e->others = calloc(np - 1, sizeof(*e->others)))) {
		rc = err_set(ERR_NOMEM, "out of memory");
		goto out;
	}
	for (i = 0; i < np; i++) {
		git_commit_free(p);
		p = NULL;
		if (git_commit_parent(&p, c, (unsigned)i) < 0 ||
		    (i > 0 && git_commit_tree(&e->others[e->nothers++], p) < 0)) {
			rc = err_git(ERR_INVALID, "missing parent of commit %s",
				     git_oid_tostr_s(id));
			goto out;
		}
		if (i == 0)
			ptree = git_commit_tree_id(p);
	}
	buf_reset(&e->changes);
	buf_reset(&e->path);
	e->nchanges = 0;
	e->blobs.n = 0;
	e->trees.n = 0;
	e->canonical = true;
	if (!ptree || !git_oid_equal(ptree, git_commit_tree_id(c)))
		if ((rc = diff_tree(e, ptree, git_commit_tree_id(c), true)) < 0)
			goto out;
	rest = e->canonical ? commit_rest(c, raw) : 0;
	if (rest == 0) {
		rc = enc_whole(e, id);
	} else if (buf_addch(&e->rec, REC_COMMIT) < 0) {
		rc = err_set(ERR_NOMEM, "out of memory");
	} else if ((rc = enc_parents(e, c)) == 0 &&
		   (rc = put_varint(&e->rec, git_odb_object_size(raw) - rest)) == 0) {
		if (buf_add(&e->rec, (const char *)git_odb_object_data(raw) + rest,
			    git_odb_object_size(raw) - rest) < 0)
			rc = err_set(ERR_NOMEM, "out of memory");
		else if ((rc = put_varint(&e->rec, e->nchanges)) == 0 &&
			 buf_add(&e->rec, e->changes.ptr, e->changes.len) < 0)
			rc = err_set(ERR_NOMEM, "out of memory");
		if (rc == 0)
			rc = enc_record(e);
	}
	if (rc == 0 && (rc = oidmap_add(&e->commits, id, e->ncommits++)) > 0)
		rc = 0;
	e->stats.objects++;
out:
	others_free(e);
	git_odb_object_free(raw);
	git_commit_free(p);
	git_commit_free(c);
	return rc;
}

static void enc_release(struct enc *e)
{
	if (e->z_ready)
		deflateEnd(&e->z);
	buf_release(&e->out);
	buf_release(&e->rec);
	buf_release(&e->changes);
	buf_release(&e->path);
	buf_release(&e->delta);
	oidmap_release(&e->commits);
	oidmap_release(&e->sent);
	free(e->blobs.v);
	free(e->trees.v);
	others_free(e);
	git_odb_free(e->odb);
}

int slim_write(struct pack_stats *stats, git_repository *repo, const git_oid *tips, size_t ntips,
	       const git_oid *hide, size_t nhide, pack_sink_fn sink, void *payload)
{
	struct enc e;
	git_revwalk *rw = NULL;
	git_oid id;
	int rc = 0, g;

	memset(&e, 0, sizeof(e));
	e.repo = repo;
	e.sink = sink;
	e.payload = payload;
	buf_init(&e.out, 0);
	buf_init(&e.rec, 0);
	buf_init(&e.changes, 0);
	buf_init(&e.path, 0);
	buf_init(&e.delta, 0);
	if (git_repository_odb(&e.odb, repo) < 0) {
		rc = err_git(ERR_IO, "cannot open the object database");
		goto out;
	}
	if (deflateInit(&e.z, Z_BEST_COMPRESSION) != Z_OK) {
		rc = err_set(ERR_NOMEM, "zlib: out of memory");
		goto out;
	}
	e.z_ready = true;
	/* parents first: a back reference is always to an earlier commit */
	if ((rc = xfer_revwalk(&rw, repo, tips, ntips, hide, nhide)) < 0)
		goto out;
	if (buf_add(&e.out, SLIM_MAGIC, SLIM_MAGIC_LEN) < 0) {
		rc = err_set(ERR_NOMEM, "out of memory");
		goto out;
	}
	while ((g = git_revwalk_next(&id, rw)) == 0)
		if ((rc = enc_commit(&e, &id)) != 0)
			goto out;
	if (g != GIT_ITEROVER) {
		rc = err_git(ERR_INVALID, "cannot walk history");
		goto out;
	}
	if (buf_addch(&e.rec, REC_END) < 0) {
		rc = err_set(ERR_NOMEM, "out of memory");
		goto out;
	}
	if ((rc = enc_deflate(&e, e.rec.ptr, e.rec.len, Z_FINISH)) < 0 ||
	    (rc = enc_flush(&e, true)) != 0)
		goto out;
	if (stats)
		*stats = e.stats;
out:
	git_revwalk_free(rw);
	enc_release(&e);
	return rc;
}

/* --- the receiver ---------------------------------------------------------------------- */

/* An object of the pack being made. */
struct dobj {
	size_t off;  /* its compressed data in the pack */
	size_t size; /* inflated: the object, or its delta */
	git_oid base;
	int type; /* git_object_t */
	int depth;
	bool delta;
};

struct cached {
	git_oid id;
	int type;
	struct buf data;
	bool used;
};

struct dec {
	git_odb *odb;
	size_t max;
	struct buf *pack;
	struct oidmap objs; /* id -> index in v */
	struct dobj *v;
	size_t nv, cv;
	git_oid *hc, *ht; /* the stream's commits and their trees */
	size_t nh, ch;
	struct cached cache[SLIM_CACHE];
	size_t next;
	z_stream zo; /* compresses objects into the pack */
	bool zo_ready;
	struct buf delta, tmp;
	struct pack_stats stats;
};

static struct cached *cache_find(struct dec *d, const git_oid *id)
{
	size_t i;

	for (i = 0; i < SLIM_CACHE; i++)
		if (d->cache[i].used && git_oid_equal(&d->cache[i].id, id))
			return &d->cache[i];
	return NULL;
}

static int cache_put(struct dec *d, const git_oid *id, int type, const void *data, size_t n)
{
	struct cached *c = &d->cache[d->next];

	d->next = (d->next + 1) % SLIM_CACHE;
	buf_reset(&c->data);
	c->used = false;
	if (buf_add(&c->data, data, n) < 0)
		return err_set(ERR_NOMEM, "out of memory");
	git_oid_cpy(&c->id, id);
	c->type = type;
	c->used = true;
	return 0;
}

static const char *type_name(int type)
{
	return type == GIT_OBJECT_TREE ? "tree" : type == GIT_OBJECT_COMMIT ? "commit" : "record";
}

/* Inflate the pack's entry data at off (size bytes once inflated) into out. */
static int inflate_at(struct dec *d, struct buf *out, size_t off, size_t size)
{
	z_stream z;
	int zrc;

	memset(&z, 0, sizeof(z));
	buf_reset(out);
	if (buf_grow(out, size) < 0)
		return err_set(ERR_NOMEM, "out of memory");
	if (inflateInit(&z) != Z_OK)
		return err_set(ERR_NOMEM, "zlib: out of memory");
	z.next_in = (Bytef *)d->pack->ptr + off;
	z.avail_in = (uInt)(d->pack->len - off);
	z.next_out = (Bytef *)out->ptr;
	z.avail_out = (uInt)size;
	zrc = inflate(&z, Z_FINISH);
	inflateEnd(&z);
	if (zrc != Z_STREAM_END || z.total_out != size)
		return err_set(ERR_GENERIC, "slim pack: cannot read back an object it made");
	out->len = size;
	out->ptr[size] = '\0';
	return 0;
}

/* Object id (of type, or any type with GIT_OBJECT_ANY) into out: made here, or in odb. */
static int dec_read(struct dec *d, struct buf *out, const git_oid *id, int type, int depth)
{
	struct cached *c = cache_find(d, id);
	git_odb_object *o = NULL;
	struct buf base = BUF_INIT, delta = BUF_INIT;
	int *at, rc = 0, got;

	buf_reset(out);
	if (c) {
		got = c->type;
		if (buf_add(out, c->data.ptr, c->data.len) < 0)
			return err_set(ERR_NOMEM, "out of memory");
	} else if ((at = oidmap_get(&d->objs, id))) {
		const struct dobj *ob = &d->v[*at];

		got = ob->type;
		if (depth > PACK_MAX_DEPTH + 1)
			return err_set(ERR_GENERIC, "slim pack: a delta chain is too long");
		if (ob->delta) {
			git_oid bid = ob->base;
			size_t off = ob->off, size = ob->size;

			if ((rc = dec_read(d, &base, &bid, got, depth + 1)) < 0 ||
			    (rc = inflate_at(d, &delta, off, size)) < 0 ||
			    (rc = pack_delta_apply(out, (const unsigned char *)base.ptr, base.len,
						   (const unsigned char *)delta.ptr, delta.len)) <
				0)
				goto out;
		} else if ((rc = inflate_at(d, out, ob->off, ob->size)) < 0) {
			goto out;
		}
	} else if (git_odb_read(&o, d->odb, id) == 0) {
		got = (int)git_odb_object_type(o);
		if (buf_add(out, git_odb_object_data(o), git_odb_object_size(o)) < 0)
			rc = err_set(ERR_NOMEM, "out of memory");
		git_odb_object_free(o);
		if (rc < 0)
			goto out;
	} else {
		git_error_clear();
		return err_set(ERR_INVALID, "slim pack: %s %s is neither in it nor here",
			       type_name(type), git_oid_tostr_s(id));
	}
	if (type != GIT_OBJECT_ANY && got != type) {
		rc = err_set(ERR_INVALID, "slim pack: %s is a %s, not a %s", git_oid_tostr_s(id),
			     type_name(got), type_name(type));
		goto out;
	}
	if (!c)
		rc = cache_put(d, id, got, out->ptr, out->len);
out:
	buf_release(&base);
	buf_release(&delta);
	return rc;
}

static bool dec_has(struct dec *d, const git_oid *id)
{
	bool has = oidmap_get(&d->objs, id) || cache_find(d, id) || git_odb_exists(d->odb, id);

	git_error_clear();
	return has;
}

static int dec_deflate(struct dec *d, const void *data, size_t n)
{
	uLong bound = compressBound((uLong)n);
	int zrc;

	if (buf_grow(d->pack, bound) < 0)
		return err_set(ERR_NOMEM, "out of memory");
	if (deflateReset(&d->zo) != Z_OK)
		return err_set(ERR_GENERIC, "zlib failed");
	d->zo.next_in = (Bytef *)(uintptr_t)data;
	d->zo.avail_in = (uInt)n;
	d->zo.next_out = (Bytef *)d->pack->ptr + d->pack->len;
	d->zo.avail_out = (uInt)bound;
	zrc = deflate(&d->zo, Z_FINISH);
	if (zrc != Z_STREAM_END)
		return err_set(ERR_GENERIC, "zlib failed (%d)", zrc);
	d->pack->len += bound - d->zo.avail_out;
	return 0;
}

/*
 * Object (type, data, n) into the pack, unless it is there or in odb already; *id gets its
 * id. base, when not NULL, is what it replaces: it goes in as a delta against it when that
 * is much smaller.
 */
static int dec_put(struct dec *d, git_oid *id, int type, const void *data, size_t n,
		   const git_oid *base)
{
	unsigned char hdr[PACK_HEADER_MAX];
	struct dobj *ob;
	int *at, depth = 0, rc;

	if (git_odb_hash(id, data, n, (git_object_t)type) < 0)
		return err_git(ERR_GENERIC, "cannot hash an object");
	if (dec_has(d, id))
		return 0;
	if (d->nv == d->cv) {
		size_t cap = d->cv ? d->cv * 2 : 256;
		struct dobj *g = realloc(d->v, cap * sizeof(*g));

		if (!g)
			return err_set(ERR_NOMEM, "out of memory");
		d->v = g;
		d->cv = cap;
	}
	buf_reset(&d->delta);
	if (base && (at = oidmap_get(&d->objs, base)))
		depth = d->v[*at].depth < PACK_MAX_DEPTH ? d->v[*at].depth + 1 : 0;
	else if (base && dec_has(d, base))
		depth = 1;
	if (depth > 0) {
		if ((rc = dec_read(d, &d->tmp, base, type, 0)) < 0 ||
		    (rc = pack_delta(&d->delta, (git_object_t)type,
				     (const unsigned char *)d->tmp.ptr, d->tmp.len, data, n)) < 0)
			return rc;
		if (d->delta.len >= n / 2)
			depth = 0;
	}
	ob = &d->v[d->nv];
	memset(ob, 0, sizeof(*ob));
	ob->type = type;
	ob->depth = depth;
	ob->delta = depth > 0;
	if (ob->delta) {
		git_oid_cpy(&ob->base, base);
		ob->size = d->delta.len;
		if (buf_add(d->pack, hdr, pack_entry_header(hdr, PACK_REF_DELTA, d->delta.len)) <
			0 ||
		    buf_add(d->pack, base->id, GIT_OID_RAWSZ) < 0)
			return err_set(ERR_NOMEM, "out of memory");
		ob->off = d->pack->len;
		if ((rc = dec_deflate(d, d->delta.ptr, d->delta.len)) < 0)
			return rc;
		d->stats.deltas++;
	} else {
		ob->size = n;
		if (buf_add(d->pack, hdr, pack_entry_header(hdr, type, n)) < 0)
			return err_set(ERR_NOMEM, "out of memory");
		ob->off = d->pack->len;
		if ((rc = dec_deflate(d, data, n)) < 0)
			return rc;
	}
	if (d->pack->len > d->max)
		return err_set(ERR_INVALID, "slim pack: what it stands for exceeds %zu bytes",
			       d->max);
	if ((rc = oidmap_add(&d->objs, id, (int)d->nv)) < 0)
		return rc;
	d->nv++;
	return cache_put(d, id, type, data, n);
}

/* The tree named on the first line of commit text (b, n), into out. */
static int commit_tree(git_oid *out, const char *b, size_t n, const git_oid *id)
{
	if (n < 46 || memcmp(b, "tree ", 5) != 0 || b[45] != '\n' ||
	    git_oid_fromstrn(out, b + 5, GIT_OID_HEXSZ) < 0) {
		git_error_clear();
		return err_set(ERR_INVALID, "slim pack: commit %s names no tree",
			       git_oid_tostr_s(id));
	}
	return 0;
}

static int hist_push(struct dec *d, const git_oid *c, const git_oid *t)
{
	if (d->nh == d->ch) {
		size_t cap = d->ch ? d->ch * 2 : 256;
		git_oid *gc = realloc(d->hc, cap * sizeof(*gc)), *gt;

		if (!gc)
			return err_set(ERR_NOMEM, "out of memory");
		d->hc = gc;
		if (!(gt = realloc(d->ht, cap * sizeof(*gt))))
			return err_set(ERR_NOMEM, "out of memory");
		d->ht = gt;
		d->ch = cap;
	}
	git_oid_cpy(&d->hc[d->nh], c);
	git_oid_cpy(&d->ht[d->nh], t);
	d->nh++;
	return 0;
}

/* One change of a commit: record id (mode) at path, or the path deleted. */
struct dchange {
	const unsigned char *path;
	size_t plen;
	int op; /* OP_DELETE, OP_DELTA (applied in the rebuild), or anything else: set */
	unsigned mode;
	git_oid id;		    /* but for OP_DELTA */
	const unsigned char *delta; /* OP_DELTA: against the record the path had */
	size_t dlen;
};

/* One entry of a tree being rebuilt. */
struct dent {
	const unsigned char *name;
	size_t nlen;
	unsigned mode;
	git_oid id;
	bool gone;
};

static int dchange_cmp(const void *a, const void *b)
{
	const struct dchange *x = a, *y = b;
	size_t n = x->plen < y->plen ? x->plen : y->plen;
	int c = memcmp(x->path, y->path, n);

	return c ? c : x->plen < y->plen ? -1 : x->plen > y->plen;
}

static int dent_cmp(const void *a, const void *b)
{
	const struct dent *x = a, *y = b;

	return pack_name_cmp(x->name, x->nlen, x->mode == 040000, y->name, y->nlen,
			     y->mode == 040000);
}

/* A tree's entries, found by name through a hash table: a tree may be large. */
struct dents {
	struct dent *v;
	size_t n, cap;
	size_t *slot; /* index + 1 into v, 0: free; nslot a power of two, at least 2 n */
	size_t nslot;
};

static size_t name_hash(const unsigned char *p, size_t n)
{
	uint64_t h = 1469598103934665603ull; /* FNV-1a */

	while (n--)
		h = (h ^ *p++) * 1099511628211ull;
	return (size_t)h;
}

static void dents_slot(struct dents *l, size_t i)
{
	size_t mask = l->nslot - 1, k = name_hash(l->v[i].name, l->v[i].nlen) & mask;

	while (l->slot[k])
		k = (k + 1) & mask;
	l->slot[k] = i + 1;
}

static int dents_rehash(struct dents *l)
{
	size_t i, nslot = 64;

	while (nslot < 2 * l->cap)
		nslot *= 2;
	free(l->slot);
	if (!(l->slot = calloc(nslot, sizeof(*l->slot)))) {
		l->nslot = 0;
		return err_set(ERR_NOMEM, "out of memory");
	}
	l->nslot = nslot;
	for (i = 0; i < l->n; i++)
		dents_slot(l, i);
	return 0;
}

static void dents_release(struct dents *l)
{
	free(l->v);
	free(l->slot);
	memset(l, 0, sizeof(*l));
}

static int dents_add(struct dents *l, const unsigned char *name, size_t nlen, unsigned mode,
		     const git_oid *id)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 64;
		struct dent *g = realloc(l->v, cap * sizeof(*g));

		if (!g)
			return err_set(ERR_NOMEM, "out of memory");
		l->v = g;
		l->cap = cap;
	}
	l->v[l->n].name = name;
	l->v[l->n].nlen = nlen;
	l->v[l->n].mode = mode;
	git_oid_cpy(&l->v[l->n].id, id);
	l->v[l->n].gone = false;
	l->n++;
	if (2 * l->n > l->nslot)
		return dents_rehash(l);
	dents_slot(l, l->n - 1);
	return 0;
}

static int dents_parse(struct dents *l, const unsigned char *b, size_t n)
{
	struct pack_tree_ent t;
	size_t off = 0;
	git_oid id;
	int rc;

	while (off < n) {
		bool canonical = true;
		unsigned mode;

		if (!pack_tree_ent_at(&t, b, n, off) || !(mode = mode_of(b, &t, &canonical)))
			return err_set(ERR_INVALID, "slim pack: a base tree is malformed");
		git_oid_fromraw(&id, b + t.off + t.len - GIT_OID_RAWSZ);
		if ((rc = dents_add(l, t.name, t.nlen, mode, &id)) < 0)
			return rc;
		off += t.len;
	}
	return 0;
}

static struct dent *dents_find(struct dents *l, const unsigned char *name, size_t nlen)
{
	size_t mask = l->nslot - 1, k;

	if (!l->nslot)
		return NULL;
	for (k = name_hash(name, nlen) & mask; l->slot[k]; k = (k + 1) & mask) {
		struct dent *e = &l->v[l->slot[k] - 1];

		if (e->nlen == nlen && memcmp(e->name, name, nlen) == 0)
			return e->gone ? NULL : e;
	}
	return NULL;
}

static int rebuild(struct dec *d, git_oid *out, bool *empty, const git_oid *base,
		   const struct dchange *ch, size_t n, size_t skip, int level);

/* The changes ch[0..n), all under directory name (at skip), applied to entries l. */
static int rebuild_dir(struct dec *d, struct dents *l, const unsigned char *name, size_t nlen,
		       const struct dchange *ch, size_t n, size_t skip, int level)
{
	struct dent *e = dents_find(l, name, nlen); /* l does not change under the rebuild */
	char show[96];
	git_oid id;
	bool empty;
	int rc;

	if (e && e->mode != 040000)
		return err_set(ERR_INVALID, "slim pack: '%s' is a record, not a directory",
			       shown(show, ch[0].path, skip + nlen));
	if ((rc = rebuild(d, &id, &empty, e ? &e->id : NULL, ch, n, skip + nlen + 1, level + 1)) <
	    0)
		return rc;
	if (empty) {
		if (e)
			e->gone = true;
		return 0;
	}
	if (e) {
		git_oid_cpy(&e->id, &id);
		return 0;
	}
	return dents_add(l, name, nlen, 040000, &id);
}

/* A record made from a delta against e, the record the path had: its id into out. */
static int rebuild_delta(struct dec *d, git_oid *out, const struct dent *e, const struct dchange *c)
{
	struct buf base = BUF_INIT, made = BUF_INIT;
	git_oid bid;
	char show[96];
	int rc;

	if (!e || e->mode == 040000 || e->mode == 0160000)
		return err_set(ERR_INVALID,
			       "slim pack: a delta for '%s', where the first parent has no record",
			       shown(show, c->path, c->plen));
	git_oid_cpy(&bid, &e->id);
	if ((rc = dec_read(d, &base, &bid, GIT_OBJECT_BLOB, 0)) == 0 &&
	    (rc = pack_delta_apply(&made, (const unsigned char *)base.ptr, base.len, c->delta,
				   c->dlen)) == 0)
		rc = dec_put(d, out, GIT_OBJECT_BLOB, made.ptr, made.len, &bid);
	buf_release(&base);
	buf_release(&made);
	return rc;
}

/* One change of a record directly in this tree. */
static int rebuild_leaf(struct dec *d, struct dents *l, const struct dchange *c,
			const unsigned char *name, size_t nlen)
{
	struct dent *e = dents_find(l, name, nlen);
	git_oid id = c->id;
	char show[96];
	int rc;

	if (c->op == OP_DELETE) {
		if (!e)
			return err_set(ERR_INVALID, "slim pack: nothing at '%s' to delete",
				       shown(show, c->path, c->plen));
		e->gone = true;
		return 0;
	}
	if (c->op == OP_DELTA && (rc = rebuild_delta(d, &id, e, c)) < 0)
		return rc;
	if (e) {
		e->mode = c->mode;
		git_oid_cpy(&e->id, &id);
		return 0;
	}
	return dents_add(l, name, nlen, c->mode, &id);
}

/* The tree base (NULL: none) with changes ch[0..n) (paths sorted, from skip on) applied. */
static int rebuild(struct dec *d, git_oid *out, bool *empty, const git_oid *base,
		   const struct dchange *ch, size_t n, size_t skip, int level)
{
	struct buf raw = BUF_INIT, ser = BUF_INIT;
	struct dents l = {0};
	char show[96];
	size_t i = 0, j, k;
	int rc = 0;

	if (level > SLIM_DEPTH_MAX)
		return err_set(ERR_INVALID, "slim pack: a path is too deep");
	*empty = false;
	if (n == 0 && base) { /* unchanged: the tree as it is, whatever its form */
		if (!dec_has(d, base))
			return err_set(ERR_INVALID, "slim pack: tree %s is neither in it nor here",
				       git_oid_tostr_s(base));
		*out = *base;
		return 0;
	}
	if (base && ((rc = dec_read(d, &raw, base, GIT_OBJECT_TREE, 0)) < 0 ||
		     (rc = dents_parse(&l, (const unsigned char *)raw.ptr, raw.len)) < 0))
		goto out;
	while (i < n) {
		const unsigned char *name = ch[i].path + skip, *slash;
		size_t nlen, rest = ch[i].plen - skip;

		slash = memchr(name, '/', rest);
		nlen = slash ? (size_t)(slash - name) : rest;
		if (nlen == 0 || (nlen == 1 && name[0] == '.') ||
		    (nlen == 2 && name[0] == '.' && name[1] == '.') ||
		    (slash && (size_t)(slash - name) + 1 == rest)) {
			rc = err_set(ERR_INVALID, "slim pack: bad path '%s'",
				     shown(show, ch[i].path, ch[i].plen));
			goto out;
		}
		/* the changes under the same name: contiguous, the paths being sorted */
		for (j = i + 1;
		     j < n && ch[j].plen > skip + nlen &&
		     memcmp(ch[j].path + skip, name, nlen) == 0 && ch[j].path[skip + nlen] == '/';
		     j++)
			;
		if (!slash) {
			if (j > i + 1) {
				rc = err_set(
				    ERR_INVALID,
				    "slim pack: '%s' is changed as a record and a directory",
				    shown(show, ch[i].path, ch[i].plen));
				goto out;
			}
			rc = rebuild_leaf(d, &l, &ch[i], name, nlen);
		} else {
			rc = rebuild_dir(d, &l, name, nlen, ch + i, j - i, skip, level);
		}
		if (rc < 0)
			goto out;
		i = j;
	}
	for (i = k = 0; i < l.n; i++)
		if (!l.v[i].gone)
			l.v[k++] = l.v[i];
	l.n = k;
	*empty = l.n == 0;
	if (*empty && skip > 0)
		goto out; /* a directory left empty goes */
	if (l.n > 1)
		qsort(l.v, l.n, sizeof(*l.v), dent_cmp);
	for (i = 0; i < l.n; i++)
		if (buf_printf(&ser, "%o ", l.v[i].mode) < 0 ||
		    buf_add(&ser, l.v[i].name, l.v[i].nlen) < 0 || buf_addch(&ser, '\0') < 0 ||
		    buf_add(&ser, l.v[i].id.id, GIT_OID_RAWSZ) < 0) {
			rc = err_set(ERR_NOMEM, "out of memory");
			goto out;
		}
	rc = dec_put(d, out, GIT_OBJECT_TREE, ser.ptr, ser.len, base);
out:
	dents_release(&l);
	buf_release(&raw);
	buf_release(&ser);
	return rc;
}

struct reader {
	const unsigned char *p, *end;
};

static int get_bytes(const unsigned char **out, size_t *n, struct reader *r)
{
	int rc = get_varint(n, &r->p, r->end);

	if (rc < 0)
		return rc;
	if (*n > (size_t)(r->end - r->p))
		return err_set(ERR_INVALID, "slim pack: cut short");
	*out = r->p;
	r->p += *n;
	return 0;
}

/* One change's record, its id into c->id: whole, a delta, or one named by id. */
static int dec_change_record(struct dec *d, struct dchange *c, int op, struct reader *r,
			     const git_oid *ptree)
{
	const unsigned char *b;
	size_t n, mode;
	char show[96];
	int rc;

	if ((rc = get_varint(&mode, &r->p, r->end)) < 0)
		return rc;
	if (!leaf_mode(mode))
		return err_set(ERR_INVALID, "slim pack: '%s' has mode %zo",
			       shown(show, c->path, c->plen), mode);
	c->mode = (unsigned)mode;
	if (op == OP_REF) {
		if ((size_t)(r->end - r->p) < GIT_OID_RAWSZ)
			return err_set(ERR_INVALID, "slim pack: cut short");
		git_oid_fromraw(&c->id, r->p);
		r->p += GIT_OID_RAWSZ;
		if (mode != 0160000 && !dec_has(d, &c->id))
			return err_set(ERR_INVALID,
				       "slim pack: record %s at '%s' is neither in it "
				       "nor here",
				       git_oid_tostr_s(&c->id), shown(show, c->path, c->plen));
		return 0;
	}
	if ((rc = get_bytes(&b, &n, r)) < 0)
		return rc;
	if (op == OP_WHOLE)
		return dec_put(d, &c->id, GIT_OBJECT_BLOB, b, n, NULL);
	if (op != OP_DELTA)
		return err_set(ERR_INVALID, "slim pack: unknown change '%c' at '%s'",
			       op >= 0x20 && op < 0x7f ? op : '?', shown(show, c->path, c->plen));
	if (!ptree)
		return err_set(ERR_INVALID, "slim pack: a delta in a commit without parents");
	c->delta = b; /* applied in the rebuild, where the record it replaces is found */
	c->dlen = n;
	return 0;
}

static int dec_changes(struct dchange **out, size_t *nout, struct dec *d, struct reader *r,
		       const git_oid *ptree)
{
	struct dchange *v = NULL;
	size_t n, i;
	char show[96];
	int rc;

	if ((rc = get_varint(&n, &r->p, r->end)) < 0)
		return rc;
	if (n > (size_t)(r->end - r->p) / 3)
		return err_set(ERR_INVALID,
			       "slim pack: %zu changes in a commit is more than it holds", n);
	if (n && !(v = calloc(n, sizeof(*v))))
		return err_set(ERR_NOMEM, "out of memory");
	for (i = 0; i < n; i++) {
		struct dchange *c = &v[i];
		int op;

		if ((rc = get_bytes(&c->path, &c->plen, r)) < 0)
			goto fail;
		if (c->plen == 0 || c->plen > SLIM_PATH_MAX || memchr(c->path, '\0', c->plen) ||
		    c->path[0] == '/') {
			rc = err_set(ERR_INVALID, "slim pack: bad path '%s'",
				     shown(show, c->path, c->plen));
			goto fail;
		}
		if (r->p >= r->end) {
			rc = err_set(ERR_INVALID, "slim pack: cut short");
			goto fail;
		}
		op = *r->p++;
		c->op = op;
		if (op != OP_DELETE && (rc = dec_change_record(d, c, op, r, ptree)) < 0)
			goto fail;
	}
	if (n > 1)
		qsort(v, n, sizeof(*v), dchange_cmp);
	for (i = 1; i < n; i++)
		if (dchange_cmp(&v[i - 1], &v[i]) == 0) {
			rc = err_set(ERR_INVALID, "slim pack: '%s' is changed twice",
				     shown(show, v[i].path, v[i].plen));
			goto fail;
		}
	*out = v;
	*nout = n;
	return 0;
fail:
	free(v);
	return rc;
}

/* A parent: k-th commit back in the stream, or by id; its tree when wanted. */
static int dec_parent(struct dec *d, git_oid *id, git_oid *tree, struct reader *r)
{
	size_t k;
	int rc;

	if ((rc = get_varint(&k, &r->p, r->end)) < 0)
		return rc;
	if (k > 0) {
		if (k > d->nh)
			return err_set(ERR_INVALID, "slim pack: a parent %zu commits back of %zu",
				       k, d->nh);
		*id = d->hc[d->nh - k];
		if (tree)
			*tree = d->ht[d->nh - k];
		return 0;
	}
	if ((size_t)(r->end - r->p) < GIT_OID_RAWSZ)
		return err_set(ERR_INVALID, "slim pack: cut short");
	git_oid_fromraw(id, r->p);
	r->p += GIT_OID_RAWSZ;
	if (!tree)
		return 0;
	if ((rc = dec_read(d, &d->tmp, id, GIT_OBJECT_COMMIT, 0)) < 0)
		return rc;
	return commit_tree(tree, d->tmp.ptr, d->tmp.len, id);
}

static int dec_commit(struct dec *d, struct reader *r)
{
	struct buf text = BUF_INIT;
	struct dchange *ch = NULL;
	const unsigned char *rest;
	git_oid pid, ptree, tree, id;
	size_t np, i, nch = 0, nrest;
	char hex[GIT_OID_HEXSZ + 1];
	bool empty;
	int rc;

	if ((rc = get_varint(&np, &r->p, r->end)) < 0)
		return rc;
	if (np > (size_t)(r->end - r->p))
		return err_set(ERR_INVALID, "slim pack: a commit with %zu parents", np);
	/* the tree's id goes in once the tree is rebuilt */
	if (buf_printf(&text, "tree %0*d\n", GIT_OID_HEXSZ, 0) < 0) {
		rc = err_set(ERR_NOMEM, "out of memory");
		goto out;
	}
	for (i = 0; i < np; i++) {
		if ((rc = dec_parent(d, &pid, i == 0 ? &ptree : NULL, r)) < 0)
			goto out;
		if (buf_printf(&text, "parent %s\n", git_oid_tostr(hex, sizeof(hex), &pid)) < 0) {
			rc = err_set(ERR_NOMEM, "out of memory");
			goto out;
		}
	}
	if ((rc = get_bytes(&rest, &nrest, r)) < 0 ||
	    (rc = dec_changes(&ch, &nch, d, r, np ? &ptree : NULL)) < 0 ||
	    (rc = rebuild(d, &tree, &empty, np ? &ptree : NULL, ch, nch, 0, 0)) < 0)
		goto out;
	git_oid_tostr(hex, sizeof(hex), &tree);
	memcpy(text.ptr + 5, hex, GIT_OID_HEXSZ);
	text.ptr[45] = '\n';
	if (buf_add(&text, rest, nrest) < 0) {
		rc = err_set(ERR_NOMEM, "out of memory");
		goto out;
	}
	if ((rc = dec_put(d, &id, GIT_OBJECT_COMMIT, text.ptr, text.len, NULL)) < 0)
		goto out;
	rc = hist_push(d, &id, &tree);
out:
	free(ch);
	buf_release(&text);
	return rc;
}

static int dec_object(struct dec *d, struct reader *r)
{
	const unsigned char *b;
	size_t n;
	git_oid id, tree;
	int type, rc;

	if (r->p >= r->end)
		return err_set(ERR_INVALID, "slim pack: cut short");
	type = *r->p++;
	if (type != GIT_OBJECT_COMMIT && type != GIT_OBJECT_TREE && type != GIT_OBJECT_BLOB)
		return err_set(ERR_INVALID, "slim pack: an object of unknown type %d", type);
	if ((rc = get_bytes(&b, &n, r)) < 0 || (rc = dec_put(d, &id, type, b, n, NULL)) < 0)
		return rc;
	if (type != GIT_OBJECT_COMMIT)
		return 0;
	if ((rc = commit_tree(&tree, (const char *)b, n, &id)) < 0)
		return rc;
	return hist_push(d, &id, &tree);
}

/* The stream after the magic, inflated into out (at most max bytes). */
static int dec_inflate(struct buf *out, const unsigned char *data, size_t len, size_t max)
{
	z_stream z;
	int zrc = Z_OK;

	memset(&z, 0, sizeof(z));
	if (inflateInit(&z) != Z_OK)
		return err_set(ERR_NOMEM, "zlib: out of memory");
	z.next_in = (Bytef *)(uintptr_t)data;
	z.avail_in = (uInt)len;
	while (zrc != Z_STREAM_END) {
		uInt room;

		if (out->len >= max) {
			inflateEnd(&z);
			return err_set(ERR_INVALID, "slim pack: it inflates past %zu bytes", max);
		}
		if (buf_grow(out, SLIM_CHUNK) < 0) {
			inflateEnd(&z);
			return err_set(ERR_NOMEM, "out of memory");
		}
		room = (uInt)(out->cap - out->len - 1);
		z.next_out = (Bytef *)out->ptr + out->len;
		z.avail_out = room;
		zrc = inflate(&z, Z_NO_FLUSH);
		out->len += room - z.avail_out;
		if (zrc == Z_BUF_ERROR && z.avail_in == 0) {
			inflateEnd(&z);
			return err_set(ERR_INVALID, "slim pack: cut short (%zu bytes)",
				       len + SLIM_MAGIC_LEN);
		}
		if (zrc != Z_OK && zrc != Z_STREAM_END && zrc != Z_BUF_ERROR) {
			inflateEnd(&z);
			return err_set(ERR_INVALID, "slim pack: corrupt (zlib: %s)",
				       z.msg ? z.msg : "error");
		}
	}
	if (z.avail_in != 0) {
		inflateEnd(&z);
		return err_set(ERR_INVALID, "slim pack: %u bytes after its end", z.avail_in);
	}
	inflateEnd(&z);
	out->ptr[out->len] = '\0';
	return 0;
}

static int dec_records(struct dec *d, struct reader *r)
{
	int rc;

	while (r->p < r->end) {
		int rec = *r->p++;

		if (rec == REC_END)
			return r->p == r->end ? 0
					      : err_set(ERR_INVALID,
							"slim pack: %zu bytes after its end record",
							(size_t)(r->end - r->p));
		if (rec == REC_COMMIT)
			rc = dec_commit(d, r);
		else if (rec == REC_OBJECT)
			rc = dec_object(d, r);
		else
			rc = err_set(ERR_INVALID, "slim pack: unknown record type %d", rec);
		if (rc < 0)
			return rc;
	}
	return err_set(ERR_INVALID, "slim pack: cut short (no end record)");
}

static int dec_finish(struct dec *d)
{
	unsigned char sum[EVP_MAX_MD_SIZE];
	unsigned int sumlen = 0;
	size_t i;

	if (d->nv > UINT32_MAX)
		return err_set(ERR_INVALID, "slim pack: %zu objects are too many for a pack",
			       d->nv);
	for (i = 0; i < 4; i++)
		d->pack->ptr[8 + i] = (char)(d->nv >> (24 - 8 * i));
	if (EVP_Digest(d->pack->ptr, d->pack->len, sum, &sumlen, EVP_sha1(), NULL) != 1 ||
	    sumlen != GIT_OID_RAWSZ)
		return err_set(ERR_GENERIC, "SHA-1 failed");
	if (buf_add(d->pack, sum, sumlen) < 0)
		return err_set(ERR_NOMEM, "out of memory");
	d->stats.objects = d->nv;
	d->stats.bytes = d->pack->len;
	return 0;
}

int slim_to_pack(struct buf *pack, struct pack_stats *stats, const void *data, size_t len,
		 git_odb *odb, size_t max)
{
	static const unsigned char hdr[12] = {'P', 'A', 'C', 'K', 0, 0, 0, 2};
	struct buf in = BUF_INIT;
	struct dec d;
	struct reader r;
	size_t i;
	int rc;

	memset(&d, 0, sizeof(d));
	d.odb = odb;
	d.max = max;
	d.pack = pack;
	buf_reset(pack);
	if (!slim_is(data, len))
		return err_set(ERR_INVALID, "not a slim pack");
	if (deflateInit(&d.zo, Z_BEST_SPEED) != Z_OK)
		return err_set(ERR_NOMEM, "zlib: out of memory");
	d.zo_ready = true;
	if ((rc = dec_inflate(&in, (const unsigned char *)data + SLIM_MAGIC_LEN,
			      len - SLIM_MAGIC_LEN, max)) < 0)
		goto out;
	if (buf_add(pack, hdr, sizeof(hdr)) < 0) {
		rc = err_set(ERR_NOMEM, "out of memory");
		goto out;
	}
	r.p = (const unsigned char *)in.ptr;
	r.end = r.p + in.len;
	if ((rc = dec_records(&d, &r)) < 0 || (rc = dec_finish(&d)) < 0)
		goto out;
	if (stats)
		*stats = d.stats;
out:
	if (rc < 0)
		buf_reset(pack);
	if (d.zo_ready)
		deflateEnd(&d.zo);
	for (i = 0; i < SLIM_CACHE; i++)
		buf_release(&d.cache[i].data);
	oidmap_release(&d.objs);
	free(d.v);
	free(d.hc);
	free(d.ht);
	buf_release(&d.delta);
	buf_release(&d.tmp);
	buf_release(&in);
	return rc;
}
