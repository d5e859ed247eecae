/*
 * packidx: index a received pack (git's index-pack --fix-thin, for packs held in memory).
 *
 * libgit2 1.5's indexer resolves each delta by walking its whole chain again, taking a
 * global lock at every step, and asks the object database about every entry of every
 * tree: a push of 1,000 amendments spent most of its time there. Here entries are read
 * once, in order; each delta is resolved from its base, kept in a small cache of recent
 * objects (pack_write puts bases first, and so does git for ofs-deltas), and ids are
 * computed with libgit2's hash (SHA-1 with collision detection).
 */
#include "config.h"

#include <assert.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <zlib.h>

#include "buf.h"
#include "err.h"
#include "oidmap.h"
#include "pack.h"
#include "util.h"

enum { T_COMMIT = 1, T_TREE = 2, T_BLOB = 3, T_TAG = 4, T_OFS_DELTA = 6, T_REF_DELTA = 7 };

#define IDX_CACHE      256	   /* resolved objects kept for the deltas that follow */
#define MAX_CHAIN      4095	   /* longer delta chains are refused (git's own limit) */
#define MAX_OBJECT     (16u << 20) /* records are at most 1 MiB, trees far less */
#define CACHE_BUDGET   (64u << 20) /* bytes the cache may hold, beyond the object in hand */
#define WORK_PER_DELTA 64	   /* delta applications allowed per object (git: depth 50) */
#define MIN_ENTRY      9	   /* smallest entry: 1 header byte, 8 bytes of empty zlib */

struct entry {
	size_t off, end; /* the entry's bytes in the pack: [off, end) */
	size_t data;	 /* where its compressed data starts */
	size_t size;	 /* its inflated size (of the delta, for deltas) */
	size_t base_off; /* T_OFS_DELTA: the base's offset */
	git_oid base_id; /* T_REF_DELTA: the base's id */
	git_oid id;	 /* once resolved */
	uint32_t crc;	 /* of [off, end) */
	int type;	 /* as in the pack */
	int real;	 /* the object's type, once resolved (0: not yet) */
};

struct cached {
	size_t entry; /* index into entries, or SIZE_MAX for an outside base */
	git_oid id;
	int type;
	struct buf data;
};

struct indexer {
	const unsigned char *pack;
	size_t len; /* without the trailer */
	struct entry *e;
	size_t n;
	struct oidmap ids; /* id -> entry index (resolved entries) */
	struct cached cache[IDX_CACHE];
	size_t next_cache;
	git_odb *odb;	   /* thin bases; NULL: none allowed */
	git_oid *thin_ids; /* outside bases used, in order of first use */
	size_t nthin, capthin;
	struct oidmap thin;  /* id -> index into thin_ids */
	struct buf extra;    /* the thin bases the pack lacks, to append to it */
	struct entry *bases; /* their entries (offsets past the received pack) */
	size_t nbases, capbases;
	size_t ndups; /* entries whose object came earlier in the pack too */
	z_stream z;
	bool z_ready;
	size_t applied; /* deltas applied, counting re-resolutions */
	size_t count;	/* objects the header promises */
};

/* --- reading entries ------------------------------------------------------------------ */

static int inflate_at(struct indexer *ix, struct buf *out, size_t data, size_t size, size_t *used)
{
	int zrc;

	buf_reset(out);
	if (buf_grow(out, size + 1) < 0)
		return err_set(ERR_NOMEM, "out of memory");
	if (inflateReset(&ix->z) != Z_OK)
		return err_set(ERR_GENERIC, "zlib failed");
	ix->z.next_in = (Bytef *)(uintptr_t)(ix->pack + data);
	ix->z.avail_in = (uInt)(ix->len - data < UINT32_MAX ? ix->len - data : UINT32_MAX);
	ix->z.next_out = (Bytef *)out->ptr;
	ix->z.avail_out = (uInt)size + 1; /* one more: to notice data longer than said */
	zrc = inflate(&ix->z, Z_FINISH);
	if (zrc != Z_STREAM_END || ix->z.total_out != size)
		return err_set(ERR_INVALID,
			       "pack: the object at byte %zu does not inflate to its %zu bytes",
			       data, size);
	out->len = size;
	out->ptr[size] = '\0';
	if (used)
		*used = ix->z.total_in;
	return 0;
}

static int read_header(struct indexer *ix, struct entry *e, size_t off)
{
	size_t p = off, size, shift = 4;
	unsigned char c;

	if (p >= ix->len)
		return err_set(ERR_INVALID, "pack: truncated at byte %zu", p);
	c = ix->pack[p++];
	e->type = (c >> 4) & 7;
	size = c & 0x0f;
	while (c & 0x80) {
		if (p >= ix->len || shift > 56)
			return err_set(ERR_INVALID, "pack: bad entry header at byte %zu", off);
		c = ix->pack[p++];
		size |= (size_t)(c & 0x7f) << shift;
		shift += 7;
	}
	if (size > MAX_OBJECT)
		return err_set(ERR_INVALID, "pack: object of %zu bytes at byte %zu", size, off);
	e->off = off;
	e->size = size;
	if (e->type == T_OFS_DELTA) {
		size_t back;

		if (p >= ix->len)
			return err_set(ERR_INVALID, "pack: truncated at byte %zu", p);
		c = ix->pack[p++];
		back = c & 0x7f;
		while (c & 0x80) {
			if (p >= ix->len || back > (SIZE_MAX >> 8))
				return err_set(ERR_INVALID, "pack: bad delta offset at byte %zu",
					       off);
			c = ix->pack[p++];
			back = ((back + 1) << 7) | (c & 0x7f);
		}
		if (back == 0 || back > off)
			return err_set(ERR_INVALID, "pack: delta at byte %zu has a bad base", off);
		e->base_off = off - back;
	} else if (e->type == T_REF_DELTA) {
		if (ix->len - p < GIT_OID_RAWSZ)
			return err_set(ERR_INVALID, "pack: truncated at byte %zu", p);
		git_oid_fromraw(&e->base_id, ix->pack + p);
		p += GIT_OID_RAWSZ;
	} else if (e->type < T_COMMIT || e->type > T_TAG) {
		return err_set(ERR_INVALID, "pack: unknown object type %d at byte %zu", e->type,
			       off);
	}
	e->data = p;
	return 0;
}

/* --- deltas ----------------------------------------------------------------------------- */

static int varint(size_t *out, const unsigned char **p, const unsigned char *end)
{
	size_t v = 0, shift = 0;
	unsigned char c;

	do {
		if (*p >= end || shift > 56)
			return err_set(ERR_INVALID, "pack: bad delta header");
		c = *(*p)++;
		v |= (size_t)(c & 0x7f) << shift;
		shift += 7;
	} while (c & 0x80);
	*out = v;
	return 0;
}

int pack_delta_apply(struct buf *out, const unsigned char *base, size_t blen,
		     const unsigned char *d, size_t dlen)
{
	const unsigned char *p = d, *end = d + dlen;
	size_t src, dst;

	if (varint(&src, &p, end) < 0 || varint(&dst, &p, end) < 0)
		return ERR_INVALID;
	if (src != blen)
		return err_set(ERR_INVALID, "pack: a delta expects a base of %zu bytes, not %zu",
			       src, blen);
	if (dst > MAX_OBJECT)
		return err_set(ERR_INVALID, "pack: a delta makes %zu bytes", dst);
	buf_reset(out);
	if (buf_grow(out, dst + 1) < 0)
		return err_set(ERR_NOMEM, "out of memory");
	while (p < end) {
		unsigned char c = *p++;
		size_t off = 0, n = 0;
		int i;

		if (c & 0x80) {
			for (i = 0; i < 4; i++)
				if (c & (1u << i)) {
					if (p >= end)
						goto bad;
					off |= (size_t)*p++ << (8 * i);
				}
			for (i = 0; i < 3; i++)
				if (c & (0x10u << i)) {
					if (p >= end)
						goto bad;
					n |= (size_t)*p++ << (8 * i);
				}
			if (n == 0)
				n = 0x10000;
			if (off > blen || n > blen - off || n > dst - out->len)
				goto bad;
			memcpy(out->ptr + out->len, base + off, n);
		} else if (c) {
			n = c;
			if (n > (size_t)(end - p) || n > dst - out->len)
				goto bad;
			memcpy(out->ptr + out->len, p, n);
			p += n;
		} else {
			goto bad;
		}
		out->len += n;
	}
	if (out->len != dst)
		goto bad;
	out->ptr[dst] = '\0';
	return 0;
bad:
	return err_set(ERR_INVALID, "pack: a delta is malformed");
}

/* --- resolving ------------------------------------------------------------------------ */

static struct cached *cache_find(struct indexer *ix, const git_oid *id)
{
	size_t i;

	for (i = 0; i < IDX_CACHE; i++)
		if (ix->cache[i].type && git_oid_equal(&ix->cache[i].id, id))
			return &ix->cache[i];
	return NULL;
}

/* The oldest cache slot, emptied; never keep (the base a delta is being applied to). */
static struct cached *cache_slot(struct indexer *ix, const struct cached *keep)
{
	struct cached *c = &ix->cache[ix->next_cache];
	size_t i, bytes = 0;

	if (c == keep) {
		ix->next_cache = (ix->next_cache + 1) % IDX_CACHE;
		c = &ix->cache[ix->next_cache];
	}
	ix->next_cache = (ix->next_cache + 1) % IDX_CACHE;
	c->type = 0;
	if (c->data.cap > (1u << 20))
		buf_release(&c->data);
	else
		buf_reset(&c->data);
	/* a pack of big objects (a zlib bomb) must not fill memory: drop the oldest */
	for (i = 0; i < IDX_CACHE; i++)
		bytes += ix->cache[i].data.cap;
	for (i = 0; bytes > CACHE_BUDGET && i < IDX_CACHE; i++) {
		struct cached *old = &ix->cache[(ix->next_cache + i) % IDX_CACHE];

		if (old == keep || old == c)
			continue;
		bytes -= old->data.cap;
		old->type = 0;
		buf_release(&old->data);
	}
	return c;
}

static size_t entry_at(const struct indexer *ix, size_t off)
{
	size_t lo = 0, hi = ix->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (ix->e[mid].off < off)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < ix->n && ix->e[lo].off == off ? lo : SIZE_MAX;
}

static int resolve(struct indexer *ix, size_t i, int depth, struct cached **out);

/*
 * An outside base of a thin pack: read it, and (the first time) note it. Whether it is
 * appended to the pack is decided at the end: the pack may hold the object too, later.
 */
static int thin_base(struct indexer *ix, const git_oid *id, struct cached **out)
{
	git_odb_object *o = NULL;
	struct cached *c;
	int rc = 0;

	if (!ix->odb)
		return err_set(ERR_INVALID, "pack: a delta's base %s is not in the pack",
			       git_oid_tostr_s(id));
	if (git_odb_read(&o, ix->odb, id) < 0)
		return err_git(ERR_INVALID, "pack: a delta's base %s is missing",
			       git_oid_tostr_s(id));
	c = cache_slot(ix, NULL);
	if (buf_add(&c->data, git_odb_object_data(o), git_odb_object_size(o)) < 0)
		rc = err_set(ERR_NOMEM, "out of memory");
	c->type = (int)git_odb_object_type(o);
	git_oid_cpy(&c->id, id);
	c->entry = SIZE_MAX;
	git_odb_object_free(o);
	if (rc == 0 && !oidmap_get(&ix->thin, id)) {
		if (ix->nthin == ix->capthin) {
			size_t cap = ix->capthin ? ix->capthin * 2 : 64;
			git_oid *g = realloc(ix->thin_ids, cap * sizeof(*g));
			if (!g)
				rc = err_set(ERR_NOMEM, "out of memory");
			else {
				ix->thin_ids = g;
				ix->capthin = cap;
			}
		}
		if (rc == 0 && (rc = oidmap_add(&ix->thin, id, (int)ix->nthin)) > 0) {
			git_oid_cpy(&ix->thin_ids[ix->nthin++], id);
			rc = 0;
		}
	}
	if (rc < 0) {
		c->type = 0;
		return rc;
	}
	*out = c;
	return 0;
}

/* The base of delta entry i, resolved. */
static int base_of(struct indexer *ix, size_t i, int depth, struct cached **out)
{
	struct entry *e = &ix->e[i];
	size_t b;
	int *at;

	if (e->type == T_OFS_DELTA) {
		if ((b = entry_at(ix, e->base_off)) == SIZE_MAX)
			return err_set(ERR_INVALID, "pack: the delta at byte %zu has no base",
				       e->off);
		if (ix->e[b].real && (*out = cache_find(ix, &ix->e[b].id)))
			return 0;
		return resolve(ix, b, depth + 1, out);
	}
	if ((*out = cache_find(ix, &e->base_id)))
		return 0;
	if ((at = oidmap_get(&ix->ids, &e->base_id)))
		return resolve(ix, (size_t)*at, depth + 1, out);
	return thin_base(ix, &e->base_id, out);
}

/* Hash c's data as an object of type: entry i is resolved. */
static int settle(struct indexer *ix, size_t i, struct cached *c, int type)
{
	struct entry *e = &ix->e[i];
	git_oid id;
	int rc;

	if (git_odb_hash(&id, c->data.ptr, c->data.len, (git_object_t)type) < 0)
		return err_git(ERR_INVALID, "pack: cannot hash the object at byte %zu", e->off);
	if (e->real && !git_oid_equal(&id, &e->id))
		return err_set(ERR_INVALID, "pack: the object at byte %zu changed", e->off);
	git_oid_cpy(&c->id, &id);
	c->type = type;
	c->entry = i;
	if (!e->real) {
		e->real = type;
		git_oid_cpy(&e->id, &id);
		if ((rc = oidmap_add(&ix->ids, &id, (int)i)) < 0)
			return rc;
		ix->ndups += rc == 0; /* another entry is this object too */
	}
	return 0;
}

/* Delta entry i, its inflated delta given, applied to base. */
static int apply(struct indexer *ix, size_t i, const struct buf *delta, struct cached *base,
		 struct cached **out)
{
	struct cached *c;
	int rc;

	/* bound by the entries read so far, not by the header's count: a false count must
	 * not buy quadratic work */
	if (++ix->applied > WORK_PER_DELTA * (ix->n + 1024))
		return err_set(ERR_INVALID,
			       "pack: deltas too far from their bases (over %zu "
			       "delta applications for %zu objects)",
			       ix->applied - 1, ix->n);
	c = cache_slot(ix, base);

	if ((rc = pack_delta_apply(&c->data, (const unsigned char *)base->data.ptr, base->data.len,
				   (const unsigned char *)delta->ptr, delta->len)) < 0 ||
	    (rc = settle(ix, i, c, base->type)) < 0)
		return rc;
	*out = c;
	return 0;
}

/* Resolve entry i (again, if it left the cache): its id, type and data. */
static int resolve(struct indexer *ix, size_t i, int depth, struct cached **out)
{
	struct entry *e = &ix->e[i];
	struct buf delta = BUF_INIT;
	struct cached *base = NULL, *c;
	int rc;

	if (depth > MAX_CHAIN)
		return err_set(ERR_INVALID, "pack: a delta chain is longer than %d", MAX_CHAIN);
	if (e->real && (*out = cache_find(ix, &e->id)))
		return 0;
	if (e->type == T_OFS_DELTA || e->type == T_REF_DELTA) {
		if ((rc = base_of(ix, i, depth, &base)) == 0 &&
		    (rc = inflate_at(ix, &delta, e->data, e->size, NULL)) == 0)
			rc = apply(ix, i, &delta, base, out);
		buf_release(&delta);
		return rc;
	}
	c = cache_slot(ix, NULL);
	if ((rc = inflate_at(ix, &c->data, e->data, e->size, NULL)) < 0 ||
	    (rc = settle(ix, i, c, e->type)) < 0)
		return rc;
	*out = c;
	return 0;
}

/* --- the pack's entries ------------------------------------------------------------- */

/* A delta's base when it is at hand now (earlier in the pack, or cached); else NULL. */
static int base_now(struct indexer *ix, size_t i, struct cached **out)
{
	const struct entry *e = &ix->e[i];
	int *at;

	*out = NULL;
	if (e->type == T_OFS_DELTA)
		return base_of(ix, i, 0, out);
	if ((*out = cache_find(ix, &e->base_id)))
		return 0;
	if ((at = oidmap_get(&ix->ids, &e->base_id)))
		return resolve(ix, (size_t)*at, 1, out);
	if (ix->odb && (oidmap_get(&ix->thin, &e->base_id) || git_odb_exists(ix->odb, &e->base_id)))
		return thin_base(ix, &e->base_id, out);
	return 0; /* later in the pack, or nowhere: resolve_all tells */
}

/* Entry i at off: read, inflated, and resolved unless its base comes later. */
static int scan_one(struct indexer *ix, size_t i, size_t off, struct buf *scratch)
{
	struct entry *e = &ix->e[i];
	struct cached *c = NULL;
	size_t used;
	int rc;

	if ((rc = read_header(ix, e, off)) < 0)
		return rc;
	if (e->type < T_OFS_DELTA) {
		c = cache_slot(ix, NULL);
		if ((rc = inflate_at(ix, &c->data, e->data, e->size, &used)) < 0)
			return rc;
	} else if ((rc = inflate_at(ix, scratch, e->data, e->size, &used)) < 0) {
		return rc;
	}
	e->end = e->data + used;
	e->crc = (uint32_t)crc32(0L, ix->pack + e->off, (uInt)(e->end - e->off));
	if (c)
		return settle(ix, i, c, e->type);
	if ((rc = base_now(ix, i, &c)) < 0 || !c)
		return rc;
	return apply(ix, i, scratch, c, &c);
}

static int scan(struct indexer *ix, uint32_t count)
{
	struct buf scratch = BUF_INIT;
	size_t off = 12, i, cap = 0;
	int rc = 0;

	for (i = 0; i < count; i++) {
		if (i == cap) {
			size_t ncap = cap ? cap * 2 : 1024;
			struct entry *g = realloc(ix->e, ncap * sizeof(*g));
			if (!g) {
				rc = err_set(ERR_NOMEM, "out of memory");
				break;
			}
			ix->e = g;
			cap = ncap;
		}
		memset(&ix->e[i], 0, sizeof(ix->e[i]));
		ix->n = i + 1;
		if ((rc = scan_one(ix, i, off, &scratch)) < 0)
			break;
		off = ix->e[i].end;
	}
	if (rc == 0 && off != ix->len)
		rc = err_set(ERR_INVALID, "pack: %zu bytes after its %u objects", ix->len - off,
			     count);
	buf_release(&scratch);
	return rc;
}

/* Append whole object c (an outside base) to the pack: its entry goes to bases. */
static int append_base(struct indexer *ix, const struct cached *c)
{
	unsigned char hdr[PACK_HEADER_MAX];
	size_t k = pack_entry_header(hdr, c->type, c->data.len), start = ix->extra.len;
	uLongf zlen = compressBound((uLong)c->data.len);
	struct entry *e;

	if (ix->nbases == ix->capbases) {
		size_t cap = ix->capbases ? ix->capbases * 2 : 64;
		struct entry *g = realloc(ix->bases, cap * sizeof(*g));
		if (!g)
			return err_set(ERR_NOMEM, "out of memory");
		ix->bases = g;
		ix->capbases = cap;
	}
	if (buf_add(&ix->extra, hdr, k) < 0 || buf_grow(&ix->extra, zlen) < 0)
		return err_set(ERR_NOMEM, "out of memory");
	if (compress2((Bytef *)ix->extra.ptr + ix->extra.len, &zlen, (const Bytef *)c->data.ptr,
		      (uLong)c->data.len, Z_BEST_SPEED) != Z_OK) /* local disk, not the wire */
		return err_set(ERR_GENERIC, "zlib failed");
	ix->extra.len += zlen;
	e = &ix->bases[ix->nbases];
	memset(e, 0, sizeof(*e));
	e->off = ix->len + start;
	e->end = ix->len + ix->extra.len;
	e->crc = (uint32_t)crc32(0L, (const Bytef *)ix->extra.ptr + start,
				 (uInt)(ix->extra.len - start));
	e->real = c->type;
	git_oid_cpy(&e->id, &c->id);
	ix->nbases++;
	return 0;
}

/*
 * Resolve the entries the scan could not (a delta before its base, or a base nowhere
 * to be found: an error), then append the outside bases the pack does not hold itself
 * (as git's index-pack --fix-thin: only those still missing once the pack is read) after
 * the pack's entries.
 */
static int resolve_all(struct indexer *ix)
{
	struct entry *all;
	size_t i;
	int rc = 0;

	for (i = 0; i < ix->n && rc == 0; i++) {
		struct cached *c;
		if (!ix->e[i].real)
			rc = resolve(ix, i, 0, &c);
	}
	for (i = 0; i < ix->nthin && rc == 0; i++) {
		const git_oid *id = &ix->thin_ids[i];
		struct cached *c = cache_find(ix, id), tmp = {SIZE_MAX, {{0}}, 0, BUF_INIT};
		git_odb_object *o = NULL;

		if (oidmap_get(&ix->ids, id))
			continue; /* the pack has it too: not appended */
		if (!c) {
			if (git_odb_read(&o, ix->odb, id) < 0)
				return err_git(ERR_INVALID, "pack: a delta's base %s is missing",
					       git_oid_tostr_s(id));
			git_oid_cpy(&tmp.id, id);
			tmp.type = (int)git_odb_object_type(o);
			if (buf_add(&tmp.data, git_odb_object_data(o), git_odb_object_size(o)) < 0)
				rc = err_set(ERR_NOMEM, "out of memory");
			git_odb_object_free(o);
			c = &tmp;
		}
		if (rc == 0)
			rc = append_base(ix, c);
		buf_release(&tmp.data);
	}
	if (rc < 0 || ix->nbases == 0)
		return rc;
	if (!(all = realloc(ix->e, (ix->n + ix->nbases) * sizeof(*all))))
		return err_set(ERR_NOMEM, "out of memory");
	memcpy(all + ix->n, ix->bases, ix->nbases * sizeof(*all));
	ix->e = all;
	ix->n += ix->nbases;
	return 0;
}

/* --- writing ---------------------------------------------------------------------------- */

static int cmp_entry(const void *a, const void *b)
{
	return git_oid_cmp(&(*(const struct entry *const *)a)->id,
			   &(*(const struct entry *const *)b)->id);
}

static int put32(struct buf *b, uint32_t v)
{
	unsigned char c[4] = {(unsigned char)(v >> 24), (unsigned char)(v >> 16),
			      (unsigned char)(v >> 8), (unsigned char)v};
	return buf_add(b, c, 4);
}

static int sha1(unsigned char out[20], const void *a, size_t alen, const void *b, size_t blen)
{
	unsigned int n = 0;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	int ok = ctx && EVP_DigestInit_ex(ctx, EVP_sha1(), NULL) == 1 &&
		 EVP_DigestUpdate(ctx, a, alen) == 1 &&
		 (!blen || EVP_DigestUpdate(ctx, b, blen) == 1) &&
		 EVP_DigestFinal_ex(ctx, out, &n) == 1 && n == 20;

	EVP_MD_CTX_free(ctx);
	return ok ? 0 : err_set(ERR_GENERIC, "SHA-1 failed");
}

/* The .idx (version 2) of the entries, for a pack whose checksum is sum. */
static int write_idx(struct buf *idx, struct indexer *ix, const unsigned char sum[20])
{
	struct entry **by = malloc((ix->n ? ix->n : 1) * sizeof(*by));
	uint32_t fan[256] = {0}, nbig = 0;
	unsigned char idsum[20];
	size_t i;
	int rc = 0;

	if (!by)
		return err_set(ERR_NOMEM, "out of memory");
	for (i = 0; i < ix->n; i++)
		by[i] = &ix->e[i];
	qsort(by, ix->n, sizeof(*by), cmp_entry);
	for (i = 0; i < ix->n; i++) {
		if (i > 0 && git_oid_equal(&by[i]->id, &by[i - 1]->id)) {
			rc = err_set(ERR_INVALID, "pack: object %s is in it twice",
				     git_oid_tostr_s(&by[i]->id));
			goto out;
		}
		fan[by[i]->id.id[0]]++;
	}
	for (i = 1; i < 256; i++)
		fan[i] += fan[i - 1];
	if (buf_add(idx, "\377tOc", 4) < 0 || put32(idx, 2) < 0)
		goto nomem;
	for (i = 0; i < 256; i++)
		if (put32(idx, fan[i]) < 0)
			goto nomem;
	for (i = 0; i < ix->n; i++)
		if (buf_add(idx, by[i]->id.id, GIT_OID_RAWSZ) < 0)
			goto nomem;
	for (i = 0; i < ix->n; i++)
		if (put32(idx, by[i]->crc) < 0)
			goto nomem;
	for (i = 0; i < ix->n; i++)
		if (put32(idx, by[i]->off < 0x80000000u ? (uint32_t)by[i]->off
							: 0x80000000u | nbig++) < 0)
			goto nomem;
	for (i = 0; i < ix->n; i++)
		if (by[i]->off >= 0x80000000u &&
		    (put32(idx, (uint32_t)((uint64_t)by[i]->off >> 32)) < 0 ||
		     put32(idx, (uint32_t)by[i]->off) < 0))
			goto nomem;
	if (buf_add(idx, sum, 20) < 0)
		goto nomem;
	if ((rc = sha1(idsum, idx->ptr, idx->len, NULL, 0)) < 0)
		goto out;
	if (buf_add(idx, idsum, 20) < 0)
		goto nomem;
	goto out;
nomem:
	rc = err_set(ERR_NOMEM, "out of memory");
out:
	free(by);
	return rc;
}

/*
 * out = the received pack (no trailer) without the entries whose object an earlier entry
 * is too. git sends such packs at times and accepts them, but an index listing an object
 * twice fails git verify-pack and the multi-pack-index: the first copy is kept, the others
 * dropped, every other entry copied as it is but for an ofs-delta's base offset, encoded
 * again for the entry's new place (its base, or its base's first copy, stays before it).
 * The entries (and the appended bases after them) get their new offsets.
 */
static int compact(struct indexer *ix, const unsigned char *pack, struct buf *out)
{
	size_t nrecv = ix->n - ix->nbases, i, k, shift;
	size_t *keeper = malloc((nrecv ? nrecv : 1) * sizeof(*keeper));
	size_t *base = malloc((nrecv ? nrecv : 1) * sizeof(*base));
	struct entry *ne = malloc((ix->n ? ix->n : 1) * sizeof(*ne));
	struct oidmap first = OIDMAP_INIT;
	int rc = 0, g;

	if (!keeper || !base || !ne || buf_add(out, pack, 12) < 0) {
		rc = err_set(ERR_NOMEM, "out of memory");
		goto out;
	}
	for (i = 0; i < nrecv; i++) /* while the offsets are still those entry_at searches */
		base[i] = ix->e[i].type == T_OFS_DELTA ? entry_at(ix, ix->e[i].base_off) : 0;
	for (i = 0, k = 0; i < nrecv; i++) {
		struct entry *e = &ix->e[i];
		size_t start = out->len;

		if ((g = oidmap_add(&first, &e->id, (int)i)) < 0) {
			rc = g;
			goto out;
		}
		if (g == 0) { /* a copy of an earlier entry's object: dropped */
			keeper[i] = (size_t)*oidmap_get(&first, &e->id);
			continue;
		}
		keeper[i] = i;
		ne[k] = *e;
		ne[k].off = start;
		if (e->type == T_OFS_DELTA) {
			unsigned char h[PACK_HEADER_MAX], o[16];
			size_t b = keeper[base[i]], rel, pos = sizeof(o) - 1;

			assert(base[i] < i && b < i);
			rel = start - ix->e[b].off; /* ix->e[b].off: set to its new place below */
			o[pos] = rel & 0x7f;
			while (rel >>= 7)
				o[--pos] = (unsigned char)(0x80 | (--rel & 0x7f));
			if (buf_add(out, h, pack_entry_header(h, T_OFS_DELTA, e->size)) < 0 ||
			    buf_add(out, o + pos, sizeof(o) - pos) < 0 ||
			    buf_add(out, pack + e->data, e->end - e->data) < 0) {
				rc = err_set(ERR_NOMEM, "out of memory");
				goto out;
			}
		} else if (buf_add(out, pack + e->off, e->end - e->off) < 0) {
			rc = err_set(ERR_NOMEM, "out of memory");
			goto out;
		}
		ne[k].end = out->len;
		ne[k].crc =
		    (uint32_t)crc32(0L, (const Bytef *)out->ptr + start, (uInt)(out->len - start));
		e->off = start; /* later ofs-deltas find their base's new place here */
		k++;
	}
	shift = ix->len - out->len; /* the appended bases move back by what was dropped */
	for (i = nrecv; i < ix->n; i++) {
		ne[k] = ix->e[i];
		ne[k].off -= shift;
		ne[k].end -= shift;
		k++;
	}
	free(ix->e);
	ix->e = ne;
	ne = NULL;
	ix->n = k;
out:
	oidmap_release(&first);
	free(ne);
	free(base);
	free(keeper);
	return rc;
}

static int write_files(struct indexer *ix, const char *dir, const unsigned char *pack, size_t len)
{
	struct buf out = BUF_INIT, idx = BUF_INIT, path = BUF_INIT, idxpath = BUF_INIT;
	unsigned char sum[20];
	char hex[41];
	size_t i;
	int rc;

	/* the pack as it is, or without repeated objects, with the thin bases appended and
	 * its count made right */
	if (ix->nbases || ix->ndups) {
		if (ix->ndups && (rc = compact(ix, pack, &out)) < 0)
			goto out;
		if ((!ix->ndups && buf_add(&out, pack, len) < 0) ||
		    buf_add(&out, ix->extra.ptr, ix->extra.len) < 0) {
			rc = err_set(ERR_NOMEM, "out of memory");
			goto out;
		}
		for (i = 0; i < 4; i++)
			out.ptr[8 + i] = (char)(unsigned char)(ix->n >> (24 - 8 * i));
		pack = (const unsigned char *)out.ptr;
		len = out.len;
	}
	if ((rc = sha1(sum, pack, len, NULL, 0)) < 0 || (rc = write_idx(&idx, ix, sum)) < 0)
		goto out;
	for (i = 0; i < 20; i++)
		snprintf(hex + 2 * i, 3, "%02x", sum[i]);
	if ((rc = buf_printf(&path, "%s/pack-%s.pack", dir, hex)) < 0)
		goto out;
	if (ix->nbases || ix->ndups) {
		if ((rc = buf_add(&out, sum, 20)) < 0)
			goto out;
		pack = (const unsigned char *)out.ptr;
		len = out.len;
	} else {
		len += 20; /* the trailer, checked to be this sum */
	}
	if ((rc = buf_printf(&idxpath, "%s/pack-%s.idx", dir, hex)) < 0)
		goto out;
	if (access(idxpath.ptr, F_OK) == 0)
		goto out; /* this very pack is stored already */
	if ((rc = util_write_file(path.ptr, pack, len, 0444)) < 0)
		goto out;
	/* a .pack without its .idx is never read: do not leave one behind */
	if ((rc = util_write_file(idxpath.ptr, idx.ptr, idx.len, 0444)) < 0)
		unlink(path.ptr);
out:
	buf_release(&out);
	buf_release(&idx);
	buf_release(&path);
	buf_release(&idxpath);
	return rc;
}

int pack_index(struct pack_stats *stats, const char *dir, const void *data, size_t len,
	       git_odb *odb)
{
	const unsigned char *pack = data;
	struct indexer ix;
	unsigned char sum[20];
	uint32_t version, count;
	size_t i;
	int rc;

	memset(&ix, 0, sizeof(ix));
	buf_init(&ix.extra, 0);
	if (len < 32 || memcmp(pack, "PACK", 4) != 0)
		return err_set(ERR_INVALID, "pack: no pack header (%zu bytes)", len);
	version =
	    (uint32_t)pack[4] << 24 | (uint32_t)pack[5] << 16 | (uint32_t)pack[6] << 8 | pack[7];
	count =
	    (uint32_t)pack[8] << 24 | (uint32_t)pack[9] << 16 | (uint32_t)pack[10] << 8 | pack[11];
	if (version != 2 && version != 3)
		return err_set(ERR_INVALID, "pack: version %u is not supported", version);
	/* an entry takes at least a header byte and an empty zlib stream (a few more are
	 * let through: what is missing is then named, "truncated at byte N") */
	if (count > (len - 32) / MIN_ENTRY + 16)
		return err_set(ERR_INVALID, "pack: its header claims %u objects in %zu bytes",
			       count, len);
	if ((rc = sha1(sum, pack, len - 20, NULL, 0)) < 0)
		return rc;
	if (memcmp(sum, pack + len - 20, 20) != 0)
		return err_set(ERR_INVALID, "pack: truncated or corrupt (checksum mismatch)");
	ix.pack = pack;
	ix.len = len - 20;
	ix.count = count;
	ix.odb = odb;
	if (inflateInit(&ix.z) != Z_OK)
		return err_set(ERR_NOMEM, "zlib: out of memory");
	ix.z_ready = true;
	if ((rc = scan(&ix, count)) < 0 || (rc = resolve_all(&ix)) < 0 ||
	    (rc = write_files(&ix, dir, pack, ix.len)) < 0)
		goto out;
	if (stats) {
		memset(stats, 0, sizeof(*stats));
		stats->objects = ix.n;
		for (i = 0; i < ix.n - ix.nbases; i++)
			stats->deltas += ix.e[i].type >= T_OFS_DELTA;
		stats->bytes = len + ix.extra.len;
	}
out:
	for (i = 0; i < IDX_CACHE; i++)
		buf_release(&ix.cache[i].data);
	if (ix.z_ready)
		inflateEnd(&ix.z);
	oidmap_release(&ix.ids);
	oidmap_release(&ix.thin);
	free(ix.thin_ids);
	free(ix.bases);
	buf_release(&ix.extra);
	free(ix.e);
	return rc;
}
