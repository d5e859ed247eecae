#include "config.h"

#include "pack.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <zlib.h>

#include "buf.h"
#include "err.h"
#include "oidmap.h"
#include "slim.h"
#include "xfer.h"

/* Pack entry types (git's numbering, also git_object_t's). */
enum { PACK_REF_DELTA = 7 };

/* Output is handed to the sink in pieces of about this size. */
#define PACK_CHUNK (64 * 1024)

/* Raw objects recently written: the next commit's deltas have them as bases. */
#define PACK_RECENT 64

struct pack_entry {
	git_oid id, base;
	git_object_t type;
	bool has_base;
	git_odb_object *raw; /* the walker's read of it (commits, trees), or NULL */
};

struct pack_list {
	struct pack_entry *v;
	size_t n, cap;
};

struct pack_writer {
	git_odb *odb;
	unsigned flags;
	pack_sink_fn sink;
	void *payload;
	struct buf out;	       /* not yet handed to the sink */
	struct buf delta;      /* the delta being made */
	struct buf zout;       /* its (or the object's) compressed form */
	z_stream z;	       /* reused for every entry */
	bool z_ready;	       /* z was initialised */
	EVP_MD_CTX *sha;       /* of everything written: the trailer */
	struct oidmap written; /* id -> delta depth (0: whole) */
	git_odb_object *recent[PACK_RECENT];
	size_t next_recent;
	struct pack_stats stats;
};

/* --- the delta ---------------------------------------------------------------------- */

int pack_put_varint(struct buf *b, size_t v)
{
	unsigned char c[10];
	size_t n = 0;

	do {
		c[n] = v & 0x7f;
		v >>= 7;
		if (v)
			c[n] |= 0x80;
		n++;
	} while (v);
	return buf_add(b, c, n);
}

/* Copy len bytes at off of the base: pieces of at most 64 KiB (what every reader takes). */
static int delta_copy(struct buf *d, size_t off, size_t len)
{
	while (len > 0) {
		size_t k = len < 0x10000 ? len : 0x10000;
		unsigned char op[8];
		size_t n = 1, i;

		op[0] = 0x80;
		for (i = 0; i < 4; i++)
			if ((off >> (8 * i)) & 0xff) {
				op[0] |= (unsigned char)(1u << i);
				op[n++] = (off >> (8 * i)) & 0xff;
			}
		for (i = 0; i < 3; i++)
			if ((k >> (8 * i)) & 0xff) {
				op[0] |= (unsigned char)(0x10u << i);
				op[n++] = (k >> (8 * i)) & 0xff;
			}
		if (buf_add(d, op, n) < 0)
			return err_set(ERR_NOMEM, "out of memory");
		off += k;
		len -= k;
	}
	return 0;
}

/* Insert literal bytes: pieces of at most 127. */
static int delta_insert(struct buf *d, const unsigned char *p, size_t len)
{
	while (len > 0) {
		unsigned char k = (unsigned char)(len < 127 ? len : 127);

		if (buf_add(d, &k, 1) < 0 || buf_add(d, p, k) < 0)
			return err_set(ERR_NOMEM, "out of memory");
		p += k;
		len -= k;
	}
	return 0;
}

/* The common prefix and suffix copied, the middle inserted. */
static int delta_ends(struct buf *out, const unsigned char *src, size_t srclen,
		      const unsigned char *dst, size_t dstlen)
{
	size_t pre = 0, suf = 0, most = srclen < dstlen ? srclen : dstlen;
	int rc;

	while (pre < most && src[pre] == dst[pre])
		pre++;
	while (suf < most - pre && src[srclen - 1 - suf] == dst[dstlen - 1 - suf])
		suf++;
	if ((rc = delta_copy(out, 0, pre)) < 0 ||
	    (rc = delta_insert(out, dst + pre, dstlen - pre - suf)) < 0)
		return rc;
	return delta_copy(out, srclen - suf, suf);
}

bool pack_tree_ent_at(struct pack_tree_ent *e, const unsigned char *b, size_t n, size_t off)
{
	const unsigned char *sp = memchr(b + off, ' ', n - off), *nul;

	if (!sp || !(nul = memchr(sp, '\0', n - (size_t)(sp - b))) ||
	    n - (size_t)(nul - b) - 1 < GIT_OID_RAWSZ)
		return false;
	e->off = off;
	e->len = (size_t)(nul - b) + 1 + GIT_OID_RAWSZ - off;
	e->name = sp + 1;
	e->nlen = (size_t)(nul - sp - 1);
	e->tree = b[off] == '4';
	return true;
}

int pack_tree_ent_cmp(const struct pack_tree_ent *a, const struct pack_tree_ent *b)
{
	return pack_name_cmp(a->name, a->nlen, a->tree, b->name, b->nlen, b->tree);
}

int pack_name_cmp(const unsigned char *a, size_t alen, bool atree, const unsigned char *b,
		  size_t blen, bool btree)
{
	size_t n = alen < blen ? alen : blen;
	int c = memcmp(a, b, n);
	unsigned ca, cb;

	if (c)
		return c;
	ca = alen > n ? a[n] : atree ? '/' : 0;
	cb = blen > n ? b[n] : btree ? '/' : 0;
	return (int)ca - (int)cb;
}

struct delta_run {
	struct buf *out;
	size_t copy_off, copy_len; /* pending copy from the base */
	const unsigned char *ins;  /* pending insert */
	size_t ins_len;
};

static int run_flush(struct delta_run *r)
{
	int rc = 0;

	if (r->copy_len)
		rc = delta_copy(r->out, r->copy_off, r->copy_len);
	if (rc == 0 && r->ins_len)
		rc = delta_insert(r->out, r->ins, r->ins_len);
	r->copy_len = r->ins_len = 0;
	return rc;
}

/*
 * Trees entry by entry: unchanged entries copied (runs of them in one copy), changed and
 * new ones inserted, removed ones skipped. Several changes far apart (a merge, a
 * transaction over many records) stay small. false: not trees after all.
 */
static int delta_trees(bool *ok, struct buf *out, const unsigned char *src, size_t srclen,
		       const unsigned char *dst, size_t dstlen)
{
	struct delta_run r = {out, 0, 0, NULL, 0};
	size_t so = 0, dof = 0;
	int rc;

	*ok = false;
	while (dof < dstlen) {
		struct pack_tree_ent d, s;
		int c = 1;

		if (!pack_tree_ent_at(&d, dst, dstlen, dof))
			return 0;
		while (so < srclen) {
			if (!pack_tree_ent_at(&s, src, srclen, so))
				return 0;
			if ((c = pack_tree_ent_cmp(&s, &d)) >= 0)
				break;
			so += s.len; /* removed */
		}
		if (so < srclen && c == 0 && s.len == d.len &&
		    memcmp(src + s.off, dst + d.off, d.len) == 0) {
			if (r.ins_len && (rc = run_flush(&r)) < 0)
				return rc;
			if (r.copy_len && r.copy_off + r.copy_len == s.off) {
				r.copy_len += s.len;
			} else {
				if ((rc = run_flush(&r)) < 0)
					return rc;
				r.copy_off = s.off;
				r.copy_len = s.len;
			}
			so += s.len;
		} else {
			if (r.copy_len && (rc = run_flush(&r)) < 0)
				return rc;
			if (!r.ins_len)
				r.ins = dst + d.off;
			r.ins_len += d.len;
			if (so < srclen && c == 0)
				so += s.len; /* changed */
		}
		dof += d.len;
	}
	*ok = true;
	return run_flush(&r);
}

int pack_delta(struct buf *out, git_object_t type, const unsigned char *src, size_t srclen,
	       const unsigned char *dst, size_t dstlen)
{
	size_t start = out->len;
	bool ok = false;
	int rc;

	if (srclen > UINT32_MAX || dstlen > UINT32_MAX)
		return err_set(ERR_INVALID, "object of more than 4 GiB");
	if (pack_put_varint(out, srclen) < 0 || pack_put_varint(out, dstlen) < 0)
		return err_set(ERR_NOMEM, "out of memory");
	if (type == GIT_OBJECT_TREE) {
		size_t ops = out->len;

		if ((rc = delta_trees(&ok, out, src, srclen, dst, dstlen)) < 0)
			return rc;
		if (!ok)
			buf_truncate(out, ops);
	}
	if (!ok && (rc = delta_ends(out, src, srclen, dst, dstlen)) < 0) {
		buf_truncate(out, start);
		return rc;
	}
	return 0;
}

size_t pack_entry_header(unsigned char out[PACK_HEADER_MAX], int type, size_t size)
{
	size_t k = 0;

	out[k] = (unsigned char)((type << 4) | (size & 0x0f));
	size >>= 4;
	while (size) {
		out[k++] |= 0x80;
		out[k] = size & 0x7f;
		size >>= 7;
	}
	return k + 1;
}

/* --- output ------------------------------------------------------------------------- */

static int emit(struct pack_writer *w, const void *data, size_t n)
{
	if (EVP_DigestUpdate(w->sha, data, n) != 1)
		return err_set(ERR_GENERIC, "SHA-1 failed");
	if (buf_add(&w->out, data, n) < 0)
		return err_set(ERR_NOMEM, "out of memory");
	w->stats.bytes += n;
	return 0;
}

static int flush_out(struct pack_writer *w, bool all)
{
	int rc;

	if (w->out.len == 0 || (!all && w->out.len < PACK_CHUNK))
		return 0;
	if ((rc = w->sink(w->out.ptr, w->out.len, w->payload)) != 0)
		return rc;
	buf_reset(&w->out);
	return 0;
}

static int deflate_to(struct pack_writer *w, const void *data, size_t n)
{
	int zrc;

	buf_reset(&w->zout);
	if (buf_grow(&w->zout, deflateBound(&w->z, (uLong)n)) < 0)
		return err_set(ERR_NOMEM, "out of memory");
	if (deflateReset(&w->z) != Z_OK)
		return err_set(ERR_GENERIC, "zlib failed");
	w->z.next_in = (Bytef *)(uintptr_t)data;
	w->z.avail_in = (uInt)n;
	w->z.next_out = (Bytef *)w->zout.ptr;
	w->z.avail_out = (uInt)(w->zout.cap - 1);
	zrc = deflate(&w->z, Z_FINISH);
	if (zrc != Z_STREAM_END)
		return err_set(ERR_GENERIC, "zlib failed (%d)", zrc);
	w->zout.len = (size_t)((char *)w->z.next_out - w->zout.ptr);
	return 0;
}

/* One entry: type and size header, the base for a delta, the compressed data. */
static int write_entry(struct pack_writer *w, int type, const git_oid *base, const void *data,
		       size_t n)
{
	unsigned char hdr[PACK_HEADER_MAX];
	size_t k = pack_entry_header(hdr, type, n);
	int rc;

	if ((rc = deflate_to(w, data, n)) < 0 || (rc = emit(w, hdr, k)) < 0 ||
	    (base && (rc = emit(w, base->id, GIT_OID_RAWSZ)) < 0) ||
	    (rc = emit(w, w->zout.ptr, w->zout.len)) < 0)
		return rc;
	return flush_out(w, false);
}

/* --- objects ------------------------------------------------------------------------ */

static int read_object(git_odb_object **out, struct pack_writer *w, const git_oid *id)
{
	size_t i;

	for (i = 0; i < PACK_RECENT; i++)
		if (w->recent[i] && git_oid_equal(git_odb_object_id(w->recent[i]), id))
			return git_odb_object_dup(out, w->recent[i]) < 0
				   ? err_git(ERR_NOMEM, "out of memory")
				   : 0;
	if (git_odb_read(out, w->odb, id) < 0)
		return err_git(ERR_INVALID, "cannot read object %s", git_oid_tostr_s(id));
	return 0;
}

static void remember(struct pack_writer *w, git_odb_object *o)
{
	git_odb_object *keep = NULL;

	if (git_odb_object_dup(&keep, o) < 0)
		return;
	git_odb_object_free(w->recent[w->next_recent]);
	w->recent[w->next_recent] = keep;
	w->next_recent = (w->next_recent + 1) % PACK_RECENT;
}

/* The depth a delta against e's base would have, or -1 when the base cannot be used. */
static int base_depth(struct pack_writer *w, const struct pack_entry *e)
{
	const int *d;

	if (!e->has_base)
		return -1;
	if ((d = oidmap_get(&w->written, &e->base)))
		return *d + 1 <= PACK_MAX_DEPTH ? *d + 1 : -1;
	return (w->flags & PACK_THIN) ? 1 : -1;
}

static int write_object(struct pack_writer *w, struct pack_entry *e)
{
	git_odb_object *o = NULL, *b = NULL;
	const void *data;
	size_t n;
	int depth = base_depth(w, e), rc;

	if (e->raw) { /* the walker's read: handed over */
		o = e->raw;
		e->raw = NULL;
	} else if ((rc = read_object(&o, w, &e->id)) < 0) {
		goto out;
	}
	data = git_odb_object_data(o);
	n = git_odb_object_size(o);
	if (depth > 0) {
		if ((rc = read_object(&b, w, &e->base)) < 0)
			goto out;
		buf_reset(&w->delta);
		if ((rc = pack_delta(&w->delta, e->type, git_odb_object_data(b),
				     git_odb_object_size(b), data, n)) < 0)
			goto out;
		if (w->delta.len >= n / 2)
			depth = 0;
	}
	if (depth > 0) {
		rc = write_entry(w, PACK_REF_DELTA, &e->base, w->delta.ptr, w->delta.len);
		w->stats.deltas++;
	} else {
		depth = 0;
		rc = write_entry(w, (int)e->type, NULL, data, n);
	}
	if (rc == 0 && (rc = oidmap_add(&w->written, &e->id, depth)) > 0)
		rc = 0;
	if (rc == 0)
		remember(w, o);
	w->stats.objects++;
out:
	git_odb_object_free(b);
	git_odb_object_free(o);
	return rc;
}

static int list_cb(const struct xfer_object *o, void *payload)
{
	struct pack_list *l = payload;
	struct pack_entry *e;

	if (o->type != GIT_OBJECT_COMMIT && o->type != GIT_OBJECT_TREE &&
	    o->type != GIT_OBJECT_BLOB)
		return 0;
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 256;
		struct pack_entry *g = realloc(l->v, cap * sizeof(*g));

		if (!g)
			return err_set(ERR_NOMEM, "out of memory");
		l->v = g;
		l->cap = cap;
	}
	e = &l->v[l->n++];
	git_oid_cpy(&e->id, o->id);
	e->type = o->type;
	e->has_base = o->base != NULL;
	if (o->base)
		git_oid_cpy(&e->base, o->base);
	e->raw = NULL;
	if (o->raw && git_odb_object_dup(&e->raw, o->raw) < 0)
		return err_git(ERR_NOMEM, "out of memory");
	return 0;
}

static int writer_init(struct pack_writer *w, git_repository *repo, unsigned flags,
		       pack_sink_fn sink, void *payload)
{
	memset(w, 0, sizeof(*w));
	buf_init(&w->out, 0);
	buf_init(&w->delta, 0);
	buf_init(&w->zout, 0);
	w->flags = flags;
	w->sink = sink;
	w->payload = payload;
	if (git_repository_odb(&w->odb, repo) < 0)
		return err_git(ERR_IO, "cannot open the object database");
	if (deflateInit(&w->z, Z_DEFAULT_COMPRESSION) != Z_OK)
		return err_set(ERR_NOMEM, "zlib: out of memory");
	w->z_ready = true;
	if (!(w->sha = EVP_MD_CTX_new()) || EVP_DigestInit_ex(w->sha, EVP_sha1(), NULL) != 1)
		return err_set(ERR_GENERIC, "SHA-1 is not available");
	return 0;
}

static void writer_release(struct pack_writer *w)
{
	size_t i;

	for (i = 0; i < PACK_RECENT; i++)
		git_odb_object_free(w->recent[i]);
	if (w->z_ready)
		deflateEnd(&w->z);
	EVP_MD_CTX_free(w->sha);
	oidmap_release(&w->written);
	buf_release(&w->out);
	buf_release(&w->delta);
	buf_release(&w->zout);
	git_odb_free(w->odb);
}

int pack_write(struct pack_stats *stats, git_repository *repo, const git_oid *tips, size_t ntips,
	       const git_oid *hide, size_t nhide, unsigned flags, pack_sink_fn sink, void *payload)
{
	struct pack_list list = {0};
	struct pack_writer w;
	unsigned char hdr[12] = {'P', 'A', 'C', 'K', 0, 0, 0, 2};
	unsigned char sum[EVP_MAX_MD_SIZE];
	unsigned int sumlen = 0;
	size_t i;
	int rc;

	if (flags & PACK_SLIM)
		return slim_write(stats, repo, tips, ntips, hide, nhide, sink, payload);
	if ((rc = writer_init(&w, repo, flags, sink, payload)) < 0 ||
	    (rc = xfer_walk_objects(repo, tips, ntips, hide, nhide, XFER_WALK_RAW, list_cb,
				    &list)) != 0)
		goto out;
	if (list.n > UINT32_MAX) {
		rc = err_set(ERR_INVALID, "a pack of %zu objects is too many", list.n);
		goto out;
	}
	for (i = 0; i < 4; i++)
		hdr[8 + i] = (unsigned char)(list.n >> (24 - 8 * i));
	if ((rc = emit(&w, hdr, sizeof(hdr))) < 0)
		goto out;
	for (i = 0; i < list.n; i++)
		if ((rc = write_object(&w, &list.v[i])) != 0)
			goto out;
	if (EVP_DigestFinal_ex(w.sha, sum, &sumlen) != 1 || sumlen != GIT_OID_RAWSZ) {
		rc = err_set(ERR_GENERIC, "SHA-1 failed");
		goto out;
	}
	if (buf_add(&w.out, sum, sumlen) < 0) {
		rc = err_set(ERR_NOMEM, "out of memory");
		goto out;
	}
	w.stats.bytes += sumlen;
	rc = flush_out(&w, true);
	if (stats)
		*stats = w.stats;
out:
	for (i = 0; i < list.n; i++)
		git_odb_object_free(list.v[i].raw);
	free(list.v);
	writer_release(&w);
	return rc;
}
