/*
 * test_pack: pack_write and pack_index. Packs of a change made with deltas against the
 * objects it replaces, thin and whole, indexed back into another repository with every
 * object intact; stock git reads what both write (git index-pack, git verify-pack). Then
 * bad packs: cut at every byte, a flipped byte, and hand-made packs with a bad header, a
 * bad delta, a base of the wrong size, a missing base, a short object and trailing bytes.
 * Each is ERR_INVALID with a message naming what was wrong, and writes nothing.
 */
#include "config.h"

#include <dirent.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <zlib.h>

#include "buf.h"
#include "err.h"
#include "ledger.h"
#include "pack.h"
#include "util.h"
#include "xfer.h"

#define NFILES 300

struct fixture {
	char dir[64];	    /* scratch root */
	char a[96], b[96];  /* two bare repositories under it */
	git_repository *ra; /* the sender: three commits */
	git_repository *rb; /* the receiver */
	git_oid c[3];	    /* c[0] the base, c[1] and c[2] amendments */
};

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void blob_text(char *out, size_t n, int file, int version)
{
	snprintf(out, n, "{\"file\": %d, \"version\": %d, \"text\": \"%0*d\"}\n", file, version,
		 40 + file % 7, file);
}

/* A commit of dir/<files> with file k at version v[k], on parents[0..np). */
static void commit_n(git_oid *out, git_repository *r, const int *v, const git_oid *parents,
		     size_t np)
{
	git_treebuilder *sub = NULL, *root = NULL;
	git_signature *sig = NULL;
	git_tree *tree = NULL;
	git_commit *p[2] = {NULL, NULL};
	git_oid id, tid;
	char name[32], text[128];
	size_t i;
	int k;

	assert_true(np <= 2);
	assert_int_equal(git_treebuilder_new(&sub, r, NULL), 0);
	for (k = 0; k < NFILES; k++) {
		blob_text(text, sizeof(text), k, v[k]);
		assert_int_equal(git_blob_create_from_buffer(&id, r, text, strlen(text)), 0);
		snprintf(name, sizeof(name), "f%04d.json", k);
		assert_int_equal(git_treebuilder_insert(NULL, sub, name, &id, GIT_FILEMODE_BLOB),
				 0);
	}
	assert_int_equal(git_treebuilder_write(&id, sub), 0);
	assert_int_equal(git_treebuilder_new(&root, r, NULL), 0);
	assert_int_equal(git_treebuilder_insert(NULL, root, "dir", &id, GIT_FILEMODE_TREE), 0);
	assert_int_equal(git_treebuilder_write(&tid, root), 0);
	assert_int_equal(git_tree_lookup(&tree, r, &tid), 0);
	assert_int_equal(git_signature_new(&sig, "t", "t@example.org", 1700000000, 0), 0);
	for (i = 0; i < np; i++)
		assert_int_equal(git_commit_lookup(&p[i], r, &parents[i]), 0);
	assert_int_equal(
	    git_commit_create(out, r, NULL, sig, sig, NULL, "c", tree, np, (const git_commit **)p),
	    0);
	git_commit_free(p[0]);
	git_commit_free(p[1]);
	git_signature_free(sig);
	git_tree_free(tree);
	git_treebuilder_free(root);
	git_treebuilder_free(sub);
}

/* A commit of dir/<files> with file k at version v[k], on parent (NULL: none). */
static void commit(git_oid *out, git_repository *r, const int *v, const git_oid *parent)
{
	commit_n(out, r, v, parent, parent ? 1 : 0);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	int v[NFILES] = {0};

	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "/tmp/test_pack.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->a, sizeof(f->a), "%s/a.git", f->dir);
	snprintf(f->b, sizeof(f->b), "%s/b.git", f->dir);
	assert_int_equal(git_repository_init(&f->ra, f->a, 1), 0);
	assert_int_equal(git_repository_init(&f->rb, f->b, 1), 0);
	commit(&f->c[0], f->ra, v, NULL);
	v[17] = 1;
	commit(&f->c[1], f->ra, v, &f->c[0]);
	v[230] = 1;
	v[17] = 2;
	commit(&f->c[2], f->ra, v, &f->c[1]);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	git_repository_free(f->ra);
	git_repository_free(f->rb);
	nftw(f->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(f);
	return 0;
}

static int to_buf(const void *data, size_t n, void *payload)
{
	return buf_add(payload, data, n);
}

static void write_pack(struct buf *out, struct pack_stats *st, git_repository *r,
		       const git_oid *tip, const git_oid *hide, unsigned flags)
{
	buf_reset(out);
	if (pack_write(st, r, tip, 1, hide, hide ? 1 : 0, flags, to_buf, out) < 0)
		fail_msg("pack_write: %s", err_msg());
}

static size_t files_in(const char *dir)
{
	struct dirent *e;
	size_t n = 0;
	DIR *d = opendir(dir);

	assert_non_null(d);
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

static void packdir(char *out, size_t n, const char *repo)
{
	snprintf(out, n, "%s/objects/pack", repo);
}

/* Every object reachable from tip in a is in b with the same data. */
static void expect_same(git_repository *a, git_repository *b, const git_oid *tip)
{
	git_odb *oa = NULL, *ob = NULL;
	git_revwalk *w = NULL;
	git_oid id;

	assert_int_equal(git_repository_odb(&oa, a), 0);
	assert_int_equal(git_repository_odb(&ob, b), 0);
	git_odb_refresh(ob);
	assert_int_equal(git_revwalk_new(&w, a), 0);
	assert_int_equal(git_revwalk_push(w, tip), 0);
	while (git_revwalk_next(&id, w) == 0) {
		git_commit *c = NULL;
		git_tree *t = NULL, *sub = NULL;
		size_t i;

		assert_int_equal(git_commit_lookup(&c, a, &id), 0);
		assert_int_equal(git_commit_tree(&t, c), 0);
		assert_int_equal(
		    git_tree_lookup(&sub, a, git_tree_entry_id(git_tree_entry_byindex(t, 0))), 0);
		assert_true(git_odb_exists(ob, &id));
		assert_true(git_odb_exists(ob, git_tree_id(t)));
		assert_true(git_odb_exists(ob, git_tree_id(sub)));
		for (i = 0; i < git_tree_entrycount(sub); i++) {
			git_odb_object *x = NULL, *y = NULL;
			const git_oid *bid = git_tree_entry_id(git_tree_entry_byindex(sub, i));

			assert_int_equal(git_odb_read(&x, oa, bid), 0);
			if (git_odb_read(&y, ob, bid) < 0)
				fail_msg("blob %s missing", git_oid_tostr_s(bid));
			assert_int_equal(git_odb_object_size(x), git_odb_object_size(y));
			assert_memory_equal(git_odb_object_data(x), git_odb_object_data(y),
					    git_odb_object_size(x));
			git_odb_object_free(x);
			git_odb_object_free(y);
		}
		git_tree_free(sub);
		git_tree_free(t);
		git_commit_free(c);
	}
	git_revwalk_free(w);
	git_odb_free(oa);
	git_odb_free(ob);
}

static void run_git(const char *cmd)
{
	char full[1024];

	snprintf(full, sizeof(full), "%s >/dev/null 2>&1", cmd);
	if (system(full) != 0)
		fail_msg("'%s' failed", cmd);
}

/* A base pack, then thin and whole packs of the amendments: all indexed back. */
static void test_roundtrip(void **state)
{
	struct fixture *f = *state;
	struct buf p = BUF_INIT;
	struct pack_stats st;
	git_odb *odb = NULL;
	char dir[160], cmd[600], path[200];

	packdir(dir, sizeof(dir), f->b);
	write_pack(&p, &st, f->ra, &f->c[0], NULL, 0);
	assert_int_equal(st.objects, NFILES + 3);
	assert_int_equal(st.deltas, 0);
	if (pack_index(NULL, dir, p.ptr, p.len, NULL) < 0)
		fail_msg("pack_index: %s", err_msg());
	expect_same(f->ra, f->rb, &f->c[0]);
	/* the same pack again: already stored, nothing rewritten */
	assert_int_equal(pack_index(NULL, dir, p.ptr, p.len, NULL), 0);
	assert_int_equal(files_in(dir), 2);

	/* thin: the trees and blobs of c1 are deltas against c0's, which b has */
	write_pack(&p, &st, f->ra, &f->c[2], &f->c[0], PACK_THIN);
	assert_int_equal(st.objects, 9); /* 2 commits, 2 root trees, 2 dir trees, 3 blobs */
	assert_int_equal(st.deltas, 5);	 /* the dir trees and blobs; root trees are too small */
	assert_true(p.len < 2000);	 /* the trees alone are over 14 KB each */
	/* not without the bases at hand */
	err_clear();
	assert_int_equal(pack_index(NULL, dir, p.ptr, p.len, NULL), ERR_INVALID);
	assert_non_null(strstr(err_msg(), "is not in the pack"));
	assert_int_equal(files_in(dir), 2);
	/* stock git fixes it (into a scratch copy of b) */
	snprintf(path, sizeof(path), "%s/thin.pack", f->dir);
	assert_int_equal(util_write_file(path, p.ptr, p.len, 0644), 0);
	snprintf(cmd, sizeof(cmd),
		 "cp -r %s %s/copy.git && git -C %s/copy.git index-pack --stdin --fix-thin < %s",
		 f->b, f->dir, f->dir, path);
	run_git(cmd);
	/* and so does pack_index, with b's objects */
	assert_int_equal(git_repository_odb(&odb, f->rb), 0);
	if (pack_index(&st, dir, p.ptr, p.len, odb) < 0)
		fail_msg("pack_index: %s", err_msg());
	git_odb_free(odb);
	assert_int_equal(st.deltas, 5);
	assert_int_equal(st.objects, 12); /* c0's dir tree and two blobs were appended */
	expect_same(f->ra, f->rb, &f->c[2]);
	/* stock git reads every pack and index pack_index wrote */
	snprintf(cmd, sizeof(cmd), "for i in %s/*.idx; do git verify-pack \"$i\" || exit 1; done",
		 dir);
	run_git(cmd);

	/* whole (not thin): deltas only against objects earlier in the pack */
	write_pack(&p, &st, f->ra, &f->c[2], &f->c[0], 0);
	assert_int_equal(st.objects, 9);
	assert_int_equal(st.deltas, 2); /* c2's dir tree and blob 17 against c1's */
	snprintf(path, sizeof(path), "%s/whole.pack", f->dir);
	assert_int_equal(util_write_file(path, p.ptr, p.len, 0644), 0);
	snprintf(cmd, sizeof(cmd),
		 "cd %s && git index-pack whole.pack && git verify-pack whole.idx", f->dir);
	run_git(cmd);
	buf_release(&p);
}

/* pack_index must fail with msg in its message and write nothing. */
static void expect_refused(const char *dir, const void *data, size_t len, const char *msg)
{
	size_t before = files_in(dir);

	err_clear();
	if (pack_index(NULL, dir, data, len, NULL) != ERR_INVALID)
		fail_msg("a bad pack of %zu bytes was indexed (wanted '%s')", len, msg);
	if (msg && !strstr(err_msg(), msg))
		fail_msg("message '%s' lacks '%s'", err_msg(), msg);
	assert_int_equal(files_in(dir), before);
}

static void test_cut_and_flipped(void **state)
{
	struct fixture *f = *state;
	struct buf p = BUF_INIT;
	char dir[160];
	size_t k;

	packdir(dir, sizeof(dir), f->b);
	write_pack(&p, NULL, f->ra, &f->c[2], &f->c[1], 0);
	for (k = 0; k < p.len; k++)
		expect_refused(dir, p.ptr, k, NULL);
	for (k = 12; k < p.len - 20; k += 7) {
		p.ptr[k] ^= 0x20;
		expect_refused(dir, p.ptr, p.len, "checksum mismatch");
		p.ptr[k] ^= 0x20;
	}
	buf_release(&p);
}

/* --- hand-made packs ------------------------------------------------------------------ */

static void put_hdr(struct buf *b, int type, size_t size)
{
	unsigned char h[PACK_HEADER_MAX];

	buf_add(b, h, pack_entry_header(h, type, size));
}

static void put_z(struct buf *b, const void *data, size_t n)
{
	uLongf zn = compressBound((uLong)n);

	assert_int_equal(buf_grow(b, zn), 0);
	assert_int_equal(compress2((Bytef *)b->ptr + b->len, &zn, data, (uLong)n, 6), Z_OK);
	b->len += zn;
}

static void start(struct buf *b, unsigned count)
{
	unsigned char h[12] = {'P', 'A', 'C', 'K', 0, 0, 0, 2};

	h[8] = (unsigned char)(count >> 24);
	h[9] = (unsigned char)(count >> 16);
	h[10] = (unsigned char)(count >> 8);
	h[11] = (unsigned char)count;
	buf_reset(b);
	buf_add(b, h, 12);
}

static void finish(struct buf *b)
{
	unsigned char sum[EVP_MAX_MD_SIZE];
	unsigned int n = 0;

	assert_int_equal(EVP_Digest(b->ptr, b->len, sum, &n, EVP_sha1(), NULL), 1);
	buf_add(b, sum, n);
}

/* A blob "hello world\n", then a REF_DELTA against it with the given delta. */
static void blob_and_delta(struct buf *b, const unsigned char *delta, size_t n)
{
	static const char text[] = "hello world\n";
	git_oid id;

	start(b, 2);
	put_hdr(b, 3, sizeof(text) - 1);
	put_z(b, text, sizeof(text) - 1);
	assert_int_equal(git_odb_hash(&id, text, sizeof(text) - 1, GIT_OBJECT_BLOB), 0);
	put_hdr(b, 7, n);
	buf_add(b, id.id, GIT_OID_RAWSZ);
	put_z(b, delta, n);
	finish(b);
}

static void test_handmade(void **state)
{
	struct fixture *f = *state;
	struct buf b = BUF_INIT;
	char dir[160];
	git_oid missing;
	/* src 12 bytes, dst 5: copy 5 bytes at offset 0 — good */
	static const unsigned char good[] = {12, 5, 0x91, 0, 5};
	static const unsigned char past_end[] = {12, 5, 0x91, 10, 5}; /* copy 10..15 of 12 */
	static const unsigned char wrong_src[] = {13, 5, 0x91, 0, 5}; /* base is 12 bytes */
	static const unsigned char too_long[] = {12, 3, 0x91, 0, 5};  /* makes 5, says 3 */
	static const unsigned char zero_op[] = {12, 5, 0x00};	      /* reserved opcode */
	static const unsigned char cut_op[] = {12, 5, 0x91, 0};	      /* size byte missing */

	packdir(dir, sizeof(dir), f->b);
	blob_and_delta(&b, good, sizeof(good));
	if (pack_index(NULL, dir, b.ptr, b.len, NULL) < 0)
		fail_msg("a good hand-made pack: %s", err_msg());
	blob_and_delta(&b, past_end, sizeof(past_end));
	expect_refused(dir, b.ptr, b.len, "a delta is malformed");
	blob_and_delta(&b, wrong_src, sizeof(wrong_src));
	expect_refused(dir, b.ptr, b.len, "expects a base of 13 bytes, not 12");
	blob_and_delta(&b, too_long, sizeof(too_long));
	expect_refused(dir, b.ptr, b.len, "a delta is malformed");
	blob_and_delta(&b, zero_op, sizeof(zero_op));
	expect_refused(dir, b.ptr, b.len, "a delta is malformed");
	blob_and_delta(&b, cut_op, sizeof(cut_op));
	expect_refused(dir, b.ptr, b.len, "a delta is malformed");

	/* a delta against an object nobody has */
	memset(&missing, 0xab, sizeof(missing));
	start(&b, 1);
	put_hdr(&b, 7, sizeof(good));
	buf_add(&b, missing.id, GIT_OID_RAWSZ);
	put_z(&b, good, sizeof(good));
	finish(&b);
	expect_refused(dir, b.ptr, b.len, "abababab");

	/* not a pack; an unknown version; an unknown type */
	expect_refused(dir, "GET / HTTP/1.1\r\n\r\nxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", 48,
		       "no pack header");
	start(&b, 1);
	b.ptr[7] = 4;
	put_hdr(&b, 3, 1);
	put_z(&b, "x", 1);
	finish(&b);
	expect_refused(dir, b.ptr, b.len, "version 4 is not supported");
	start(&b, 1);
	put_hdr(&b, 5, 1);
	put_z(&b, "x", 1);
	finish(&b);
	expect_refused(dir, b.ptr, b.len, "unknown object type 5");

	/* an object shorter than its header says; bytes after the last object */
	start(&b, 1);
	put_hdr(&b, 3, 10);
	put_z(&b, "abc", 3);
	finish(&b);
	expect_refused(dir, b.ptr, b.len, "does not inflate to its 10 bytes");
	start(&b, 1);
	put_hdr(&b, 3, 3);
	put_z(&b, "abc", 3);
	buf_add(&b, "junk", 4);
	finish(&b);
	expect_refused(dir, b.ptr, b.len, "4 bytes after its 1 objects");
	/* more objects promised than there are */
	start(&b, 3);
	put_hdr(&b, 3, 3);
	put_z(&b, "abc", 3);
	finish(&b);
	expect_refused(dir, b.ptr, b.len, "truncated at byte");
	buf_release(&b);
}

/* A tree of names[] (NULL-ended), each a blob of its name plus salt; "d" is a subtree. */
static void make_tree(git_oid *out, git_repository *r, const char *const *names, int salt)
{
	git_treebuilder *tb = NULL;
	git_oid id;
	char text[64];

	assert_int_equal(git_treebuilder_new(&tb, r, NULL), 0);
	for (; *names; names++) {
		snprintf(text, sizeof(text), "%s %d\n", *names, salt);
		assert_int_equal(git_blob_create_from_buffer(&id, r, text, strlen(text)), 0);
		if (strcmp(*names, "d") == 0) {
			git_treebuilder *sub = NULL;
			assert_int_equal(git_treebuilder_new(&sub, r, NULL), 0);
			assert_int_equal(
			    git_treebuilder_insert(NULL, sub, "x", &id, GIT_FILEMODE_BLOB), 0);
			assert_int_equal(git_treebuilder_write(&id, sub), 0);
			git_treebuilder_free(sub);
			assert_int_equal(
			    git_treebuilder_insert(NULL, tb, "d", &id, GIT_FILEMODE_TREE), 0);
		} else {
			assert_int_equal(
			    git_treebuilder_insert(NULL, tb, *names, &id, GIT_FILEMODE_BLOB), 0);
		}
	}
	assert_int_equal(git_treebuilder_write(out, tb), 0);
	git_treebuilder_free(tb);
}

/* Tree deltas with entries changed, removed and added, far apart: small, and exact. */
static void test_tree_delta(void **state)
{
	struct fixture *f = *state;
	static const char *const v1[] = {"a", "b", "c", "d", "d.json", "e", "f", "g", "h", "i", "j",
					 "k", "l", "m", "n", "o",      "p", "q", "r", "s", NULL};
	static const char *const v2[] = {"a", "b", "d", "d.json", "e", "ee", "f", "g",
					 "h", "i", "j", "k",	  "l", "m",  "n", "o",
					 "p", "q", "r", "s",	  "t", NULL};
	struct buf delta = BUF_INIT, b = BUF_INIT;
	git_odb_object *x = NULL, *y = NULL, *got = NULL;
	git_odb *oa = NULL, *ob = NULL;
	git_oid t1, t2;
	char dir[160];

	make_tree(&t1, f->ra, v1, 1);
	make_tree(&t2, f->ra, v2, 1);
	assert_int_equal(git_repository_odb(&oa, f->ra), 0);
	assert_int_equal(git_odb_read(&x, oa, &t1), 0);
	assert_int_equal(git_odb_read(&y, oa, &t2), 0);
	assert_int_equal(pack_delta(&delta, GIT_OBJECT_TREE, git_odb_object_data(x),
				    git_odb_object_size(x), git_odb_object_data(y),
				    git_odb_object_size(y)),
			 0);
	/* "ee" and "t" inserted (about 30 bytes each), the rest copied in three runs */
	assert_true(delta.len < 100);
	assert_true(delta.len < git_odb_object_size(y) / 4);
	start(&b, 2);
	put_hdr(&b, 2, git_odb_object_size(x));
	put_z(&b, git_odb_object_data(x), git_odb_object_size(x));
	put_hdr(&b, 7, delta.len);
	buf_add(&b, t1.id, GIT_OID_RAWSZ);
	put_z(&b, delta.ptr, delta.len);
	finish(&b);
	packdir(dir, sizeof(dir), f->b);
	if (pack_index(NULL, dir, b.ptr, b.len, NULL) < 0)
		fail_msg("pack_index: %s", err_msg());
	assert_int_equal(git_repository_odb(&ob, f->rb), 0);
	git_odb_refresh(ob);
	assert_int_equal(git_odb_read(&got, ob, &t2), 0);
	assert_int_equal(git_odb_object_size(got), git_odb_object_size(y));
	assert_memory_equal(git_odb_object_data(got), git_odb_object_data(y),
			    git_odb_object_size(y));
	git_odb_object_free(got);
	git_odb_object_free(x);
	git_odb_object_free(y);
	git_odb_free(oa);
	git_odb_free(ob);
	buf_release(&delta);
	buf_release(&b);
}

/* A blob of text, as a pack entry; its id in *id. */
static void put_blob(struct buf *b, const char *text, size_t n, git_oid *id)
{
	put_hdr(b, 3, n);
	put_z(b, text, n);
	if (id)
		assert_int_equal(git_odb_hash(id, text, n, GIT_OBJECT_BLOB), 0);
}

/* A REF_DELTA making text (n bytes) from base (a blob of baselen bytes). */
static void put_delta(struct buf *b, const git_oid *base, size_t baselen, const char *text,
		      size_t n, git_oid *id)
{
	struct buf d = BUF_INIT;
	unsigned char v[2] = {(unsigned char)baselen, (unsigned char)n};

	assert_true(baselen < 128 && n < 128);
	buf_add(&d, v, 2);
	buf_addch(&d, (char)n); /* insert n bytes */
	buf_add(&d, text, n);
	put_hdr(b, 7, d.len);
	buf_add(b, base->id, GIT_OID_RAWSZ);
	put_z(b, d.ptr, d.len);
	assert_int_equal(git_odb_hash(id, text, n, GIT_OBJECT_BLOB), 0);
	buf_release(&d);
}

/* An OFS_DELTA at the end of b making text (n bytes) from the blob entry at base_at. */
static void put_ofs_delta(struct buf *b, size_t base_at, size_t baselen, const char *text, size_t n)
{
	struct buf d = BUF_INIT;
	unsigned char v[2] = {(unsigned char)baselen, (unsigned char)n}, o[16];
	size_t rel = b->len - base_at, pos = sizeof(o) - 1;

	assert_true(baselen < 128 && n < 128);
	buf_add(&d, v, 2);
	buf_addch(&d, (char)n);
	buf_add(&d, text, n);
	put_hdr(b, 6, d.len);
	o[pos] = rel & 0x7f;
	while (rel >>= 7)
		o[--pos] = (unsigned char)(0x80 | (--rel & 0x7f));
	buf_add(b, o + pos, sizeof(o) - pos);
	put_z(b, d.ptr, d.len);
	buf_release(&d);
}

static void expect_object(git_repository *r, const git_oid *id, const char *text)
{
	git_odb *odb = NULL;
	git_odb_object *o = NULL;

	assert_int_equal(git_repository_odb(&odb, r), 0);
	git_odb_refresh(odb);
	if (git_odb_read(&o, odb, id) < 0)
		fail_msg("object %s is not readable", git_oid_tostr_s(id));
	assert_int_equal(git_odb_object_size(o), strlen(text));
	assert_memory_equal(git_odb_object_data(o), text, strlen(text));
	git_odb_object_free(o);
	git_odb_free(odb);
}

/*
 * Packs git accepts though an object is in them twice: a delta whose base the receiver
 * has and the pack brings later too (a thin base must not be appended next to the pack's
 * own copy), and one object sent twice, with an ofs-delta against its second copy. Each
 * is indexed, every object readable, and stock git verifies the stored pack and index.
 */
static void test_duplicates(void **state)
{
	struct fixture *f = *state;
	static const char x[] = "hello world\n", y[] = "hello there\n", z[] = "other\n";
	struct buf b = BUF_INIT;
	git_oid xid, yid, zid, got;
	git_odb *odb = NULL;
	char dir[160], cmd[700], path[200];
	size_t second;

	packdir(dir, sizeof(dir), f->b);
	/* b has x; the pack: y as a delta against x, then x itself */
	assert_int_equal(git_blob_create_from_buffer(&xid, f->rb, x, strlen(x)), 0);
	start(&b, 2);
	put_delta(&b, &xid, strlen(x), y, strlen(y), &yid);
	put_blob(&b, x, strlen(x), &got);
	assert_true(git_oid_equal(&got, &xid));
	finish(&b);
	/* stock git takes it (into a scratch copy of b) */
	snprintf(path, sizeof(path), "%s/late-base.pack", f->dir);
	assert_int_equal(util_write_file(path, b.ptr, b.len, 0644), 0);
	snprintf(cmd, sizeof(cmd),
		 "cp -r %s %s/copy.git && git -C %s/copy.git index-pack --stdin --fix-thin < %s",
		 f->b, f->dir, f->dir, path);
	run_git(cmd);
	assert_int_equal(git_repository_odb(&odb, f->rb), 0);
	if (pack_index(NULL, dir, b.ptr, b.len, odb) < 0)
		fail_msg("a thin base the pack also holds: %s", err_msg());
	/* and without the receiver's objects: the base comes after its delta */
	if (pack_index(NULL, dir, b.ptr, b.len, NULL) < 0)
		fail_msg("a base after its delta: %s", err_msg());
	expect_object(f->rb, &yid, y);

	/* x, z, x again, then w as an ofs-delta against the second x */
	start(&b, 4);
	put_blob(&b, x, strlen(x), NULL);
	put_blob(&b, z, strlen(z), &zid);
	second = b.len;
	put_blob(&b, x, strlen(x), NULL);
	put_ofs_delta(&b, second, strlen(x), "hello w\n", 8);
	finish(&b);
	snprintf(path, sizeof(path), "%s/twice.pack", f->dir);
	assert_int_equal(util_write_file(path, b.ptr, b.len, 0644), 0);
	snprintf(cmd, sizeof(cmd), "git -C %s/copy.git index-pack --stdin < %s", f->dir, path);
	run_git(cmd);
	if (pack_index(NULL, dir, b.ptr, b.len, odb) < 0)
		fail_msg("an object twice in a pack: %s", err_msg());
	assert_int_equal(git_odb_hash(&got, "hello w\n", 8, GIT_OBJECT_BLOB), 0);
	expect_object(f->rb, &got, "hello w\n");
	expect_object(f->rb, &zid, z);
	expect_object(f->rb, &xid, x);
	git_odb_free(odb);
	/* every pack and index stored checks with stock git, which lists each object once */
	snprintf(cmd, sizeof(cmd),
		 "for i in %s/*.idx; do git verify-pack \"$i\" || exit 1; done && "
		 "git -C %s fsck --strict && git -C %s multi-pack-index write && "
		 "git -C %s multi-pack-index verify",
		 dir, f->b, f->b, f->b);
	run_git(cmd);
	buf_release(&b);
}

struct listed {
	git_oid ids[64];
	size_t n;
};

static int list_ids(const git_oid *id, git_object_t type, const char *name, void *payload)
{
	struct listed *l = payload;

	(void)type;
	(void)name;
	assert_true(l->n < 64);
	git_oid_cpy(&l->ids[l->n++], id);
	return 0;
}

/*
 * A merge whose first parent is a line the receiver lacks and whose second is the head
 * the receiver has: what the merge takes from the second parent is not sent again (it was
 * when a merge was compared with its first parent only), and the pack indexes.
 */
static void test_merge_walk(void **state)
{
	struct fixture *f = *state;
	int v[NFILES] = {0};
	git_oid theirs, ours, m, blob17;
	struct listed l = {{{{0}}}, 0};
	struct pack_stats st;
	struct buf p = BUF_INIT;
	git_odb *odb = NULL;
	char dir[160], text[128];
	size_t i;

	v[17] = 1;
	commit(&theirs, f->ra, v, &f->c[0]); /* the receiver's head */
	blob_text(text, sizeof(text), 17, 1);
	assert_int_equal(git_odb_hash(&blob17, text, strlen(text), GIT_OBJECT_BLOB), 0);
	v[17] = 0;
	v[230] = 1;
	commit(&ours, f->ra, v, &f->c[0]); /* a stale line of ours */
	v[17] = 1;
	{
		git_oid parents[2] = {ours, theirs};
		commit_n(&m, f->ra, v, parents, 2);
	}
	assert_int_equal(xfer_walk(f->ra, &m, 1, &theirs, 1, list_ids, &l), 0);
	for (i = 0; i < l.n; i++)
		if (git_oid_equal(&l.ids[i], &blob17))
			fail_msg("the merge sends blob %s, which the receiver has",
				 git_oid_tostr_s(&blob17));
	/* ours: commit, root, dir, blob 230; the merge: commit, root, dir */
	assert_int_equal(l.n, 7);

	/* the receiver has c0 and theirs; the thin pack of the merge indexes there */
	packdir(dir, sizeof(dir), f->b);
	write_pack(&p, NULL, f->ra, &theirs, NULL, 0);
	if (pack_index(NULL, dir, p.ptr, p.len, NULL) < 0)
		fail_msg("pack_index: %s", err_msg());
	write_pack(&p, &st, f->ra, &m, &theirs, PACK_THIN);
	assert_int_equal(st.objects, 7);
	assert_int_equal(git_repository_odb(&odb, f->rb), 0);
	git_odb_refresh(odb);
	if (pack_index(NULL, dir, p.ptr, p.len, odb) < 0)
		fail_msg("pack_index: %s", err_msg());
	git_odb_free(odb);
	expect_same(f->ra, f->rb, &m);
	buf_release(&p);
}

/* Packs built to cost memory or time: refused, or indexed in bounded memory. */
static void test_hostile(void **state)
{
	struct fixture *f = *state;
	struct buf b = BUF_INIT;
	char dir[160], text[32];
	git_oid *d, e;
	size_t k, c, n = 1000;
	char *big;

	packdir(dir, sizeof(dir), f->b);
	/* an object over 16 MiB (a zlib bomb: 17 MiB of zeros are 17 KB) */
	assert_non_null(big = calloc(1, (17u << 20) + 16));
	start(&b, 1);
	put_blob(&b, big, 17u << 20, NULL);
	finish(&b);
	expect_refused(dir, b.ptr, b.len, "pack: object of 17825792 bytes");
	/* ten 8 MiB objects: more than the cache holds; indexed all the same */
	start(&b, 10);
	for (k = 0; k < 10; k++) {
		big[k] = 1;
		put_blob(&b, big, 8u << 20, NULL);
	}
	finish(&b);
	if (pack_index(NULL, dir, b.ptr, b.len, NULL) < 0)
		fail_msg("ten 8 MiB objects: %s", err_msg());
	free(big);
	/* two chains of n deltas, then deltas against their links from the far ends back,
	 * alternating between the chains so that what one resolves again the other evicts */
	assert_non_null(d = calloc(2 * (n + 1), sizeof(*d)));
	start(&b, (unsigned)(4 * n + 2));
	for (c = 0; c < 2; c++) {
		git_oid *chain = d + c * (n + 1);

		snprintf(text, sizeof(text), "%c0", (int)('a' + c));
		put_blob(&b, text, 2, &chain[0]);
		for (k = 1; k <= n; k++) {
			char prev[32];
			snprintf(prev, sizeof(prev), "%c%zu", (int)('a' + c), k - 1);
			snprintf(text, sizeof(text), "%c%zu", (int)('a' + c), k);
			put_delta(&b, &chain[k - 1], strlen(prev), text, strlen(text), &chain[k]);
		}
	}
	for (k = n; k >= 1; k--)
		for (c = 0; c < 2; c++) {
			char base[32];
			snprintf(base, sizeof(base), "%c%zu", (int)('a' + c), k);
			snprintf(text, sizeof(text), "%c%zu", (int)('x' + c), k);
			put_delta(&b, &d[c * (n + 1) + k], strlen(base), text, strlen(text), &e);
		}
	finish(&b);
	expect_refused(dir, b.ptr, b.len, "deltas too far from their bases");
	/* the same pack with a false count in its header: the work allowed follows the
	 * entries actually read, not the count claimed (which bought quadratic work) */
	{
		unsigned claims[] = {(unsigned)(4 * n + 2 + 3000), 0xffffffffu};
		const char *at;

		for (k = 0; k < 2; k++) {
			unsigned char sum[EVP_MAX_MD_SIZE];
			unsigned int sn = 0;

			b.ptr[8] = (char)(claims[k] >> 24);
			b.ptr[9] = (char)(claims[k] >> 16);
			b.ptr[10] = (char)(claims[k] >> 8);
			b.ptr[11] = (char)claims[k];
			assert_int_equal(EVP_Digest(b.ptr, b.len - 20, sum, &sn, EVP_sha1(), NULL),
					 1);
			memcpy(b.ptr + b.len - 20, sum, 20);
			if (k == 1) {
				expect_refused(dir, b.ptr, b.len,
					       "its header claims 4294967295 objects");
				continue;
			}
			expect_refused(dir, b.ptr, b.len, "deltas too far from their bases");
			at = strstr(err_msg(), " applications for ");
			assert_non_null(at);
			if (strtoul(at + strlen(" applications for "), NULL, 10) > 4 * n + 2)
				fail_msg("work bound by the claimed count: %s", err_msg());
		}
	}
	free(d);
	buf_release(&b);
}

/* A pack of one blob "<text>" indexed into dir; its id in *id. */
static void one_blob_pack(const char *dir, const char *text, git_oid *id)
{
	struct buf b = BUF_INIT;

	start(&b, 1);
	put_blob(&b, text, strlen(text), id);
	finish(&b);
	if (pack_index(NULL, dir, b.ptr, b.len, NULL) < 0)
		fail_msg("pack_index: %s", err_msg());
	buf_release(&b);
}

static void expect_readable(const char *ledger, const git_oid *ids, size_t n)
{
	struct ledger *l = NULL;
	git_odb *odb = NULL;
	size_t i;

	assert_int_equal(ledger_open(&l, ledger), 0);
	assert_int_equal(git_repository_odb(&odb, l->repo), 0);
	for (i = 0; i < n; i++)
		if (!git_odb_exists(odb, &ids[i]))
			fail_msg("object %zu (%s) is not readable", i, git_oid_tostr_s(&ids[i]));
	git_odb_free(odb);
	ledger_free(l);
}

/* Packs pile up; ledger_pack_maintain writes a multi-pack-index that git accepts. */
static void test_multi_pack_index(void **state)
{
	struct fixture *f = *state;
	struct ledger_init_opts o = {0};
	struct ledger *l = NULL;
	char ledger[128], dir[160], cmd[400], text[32];
	git_oid ids[12];
	bool written;
	size_t k;

	snprintf(ledger, sizeof(ledger), "%s/ledger", f->dir);
	o.dir = ledger;
	o.office = "120112001001";
	o.operator= "tester";
	if (ledger_init(&o) < 0 || ledger_open(&l, ledger) < 0)
		fail_msg("ledger: %s", err_msg());
	packdir(dir, sizeof(dir), ledger);
	for (k = 0; k < LEDGER_MIDX_SLACK - 1; k++) {
		snprintf(text, sizeof(text), "blob %zu\n", k);
		one_blob_pack(dir, text, &ids[k]);
	}
	assert_int_equal(ledger_pack_maintain(l, &written), 0);
	assert_false(written); /* 7 packs: not yet */
	snprintf(text, sizeof(text), "blob %zu\n", k);
	one_blob_pack(dir, text, &ids[k++]);
	assert_int_equal(ledger_pack_maintain(l, &written), 0);
	assert_true(written);
	snprintf(cmd, sizeof(cmd), "git -C %s multi-pack-index verify && git -C %s fsck", ledger,
		 ledger);
	run_git(cmd);
	expect_readable(ledger, ids, k);
	/* nothing new: nothing written; a few new packs: still nothing */
	assert_int_equal(ledger_pack_maintain(l, &written), 0);
	assert_false(written);
	for (; k < 11; k++) {
		snprintf(text, sizeof(text), "blob %zu\n", k);
		one_blob_pack(dir, text, &ids[k]);
	}
	assert_int_equal(ledger_pack_maintain(l, &written), 0);
	assert_false(written);
	expect_readable(ledger, ids, k);
	/* a garbage index: objects are still read (from the packs), and it is replaced */
	snprintf(cmd, sizeof(cmd), "%s/multi-pack-index", dir);
	chmod(cmd, 0644);
	assert_int_equal(util_write_file(cmd, "garbage garbage garbage garbage!", 32, 0644), 0);
	expect_readable(ledger, ids, k);
	assert_int_equal(ledger_pack_maintain(l, &written), 0);
	assert_true(written);
	snprintf(cmd, sizeof(cmd), "git -C %s multi-pack-index verify && git -C %s fsck", ledger,
		 ledger);
	run_git(cmd);
	expect_readable(ledger, ids, k);
	ledger_free(l);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_roundtrip, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_tree_delta, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_cut_and_flipped, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_handmade, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_hostile, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_duplicates, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_merge_walk, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_multi_pack_index, setup, teardown),
	};
	int rc;

	git_libgit2_init();
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	git_libgit2_shutdown();
	return rc;
}
