/*
 * test_slim: slim packs (slim.h). A history of records in nested directories (new records,
 * amendments, deletions that empty a directory, a record moved, a merge, a commit whose
 * tree holds an empty directory, which goes whole) is sent slim to a repository holding
 * its first commit and made back into a git pack: every object reachable from the tip is
 * there, byte for byte, and stock git fsck agrees. Each slim pack is much smaller than
 * the plain pack of the same commits. Then bad slim packs: cut at every byte, a flipped
 * byte, and hand-made streams (unknown records, references to objects nobody has, bad
 * paths, a path changed twice, a parent out of reach, bytes past the end, a pack that
 * inflates past its limit). Each is ERR_INVALID with a message naming what was wrong.
 */
#include "config.h"

#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>
#include <zlib.h>

#include "buf.h"
#include "err.h"
#include "pack.h"
#include "slim.h"

#define NREC 120

struct fixture {
	char dir[64];
	char a[96], b[96];
	git_repository *ra, *rb;
	git_oid c[8]; /* c[0] the base; c[7] the tip */
	size_t n;
};

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

/* The path of record k: <type>/<shard>/<shard>/<id>.json, as a ledger lays them out. */
static void rec_path(char *out, size_t n, int k)
{
	snprintf(out, n, "%s/%02x/%02x/R-%05d.json", k % 3 ? "person" : "household", (k * 37) % 5,
		 (k * 11) % 3, k);
}

static void rec_text(struct buf *b, int k, int version)
{
	buf_reset(b);
	assert_int_equal(buf_printf(b,
				    "{\n  \"id\": \"R-%05d\",\n  \"name\": \"Person %d\",\n"
				    "  \"notes\": \"version %d of a record long enough to make a "
				    "delta worth its while: %0*d\",\n  \"version\": %d\n}\n",
				    k, k, version, 60, k, version),
			 0);
}

/* The state of the records: version[k] (0: absent). */
struct state {
	int version[NREC];
	int moved; /* record 5 at a second path as well, when set */
};

static void add_entry(git_index *ix, git_repository *r, const char *path, const struct buf *b)
{
	git_index_entry e;
	git_oid id;

	memset(&e, 0, sizeof(e));
	assert_int_equal(git_blob_create_from_buffer(&id, r, b->ptr, b->len), 0);
	e.path = path;
	e.mode = GIT_FILEMODE_BLOB;
	e.id = id;
	assert_int_equal(git_index_add(ix, &e), 0);
}

static void tree_of(git_oid *out, git_repository *r, const struct state *s)
{
	git_index *ix = NULL;
	struct buf b = BUF_INIT;
	char path[128];
	int k;

	assert_int_equal(git_index_new(&ix), 0);
	for (k = 0; k < NREC; k++) {
		if (!s->version[k])
			continue;
		rec_path(path, sizeof(path), k);
		rec_text(&b, k, s->version[k]);
		add_entry(ix, r, path, &b);
	}
	if (s->moved) {
		rec_text(&b, 5, s->version[5]);
		add_entry(ix, r, "archive/R-00005.json", &b);
	}
	assert_int_equal(git_index_write_tree_to(out, ix, r), 0);
	git_index_free(ix);
	buf_release(&b);
}

static void commit_tree(git_oid *out, git_repository *r, const git_oid *tree,
			const git_oid *parents, size_t np, const char *msg)
{
	git_signature *sig = NULL;
	git_tree *t = NULL;
	git_commit *p[2] = {NULL, NULL};
	size_t i;

	assert_int_equal(git_tree_lookup(&t, r, tree), 0);
	assert_int_equal(
	    git_signature_new(&sig, "Office 120112", "120112@caseledger", 1700000000, 480), 0);
	for (i = 0; i < np; i++)
		assert_int_equal(git_commit_lookup(&p[i], r, &parents[i]), 0);
	assert_int_equal(
	    git_commit_create(out, r, NULL, sig, sig, NULL, msg, t, np, (const git_commit **)p), 0);
	for (i = 0; i < np; i++)
		git_commit_free(p[i]);
	git_signature_free(sig);
	git_tree_free(t);
}

static void commit_state(git_oid *out, git_repository *r, const struct state *s,
			 const git_oid *parents, size_t np, const char *msg)
{
	git_oid tree;

	tree_of(&tree, r, s);
	commit_tree(out, r, &tree, parents, np, msg);
}

/* tree with an empty directory "zz-empty" added at its root: git keeps it, a rebuild not */
static void with_empty_dir(git_oid *out, git_repository *r, const git_oid *tree)
{
	git_treebuilder *e = NULL, *t = NULL;
	git_tree *base = NULL;
	git_oid empty;

	assert_int_equal(git_treebuilder_new(&e, r, NULL), 0);
	assert_int_equal(git_treebuilder_write(&empty, e), 0);
	assert_int_equal(git_tree_lookup(&base, r, tree), 0);
	assert_int_equal(git_treebuilder_new(&t, r, base), 0);
	assert_int_equal(git_treebuilder_insert(NULL, t, "zz-empty", &empty, GIT_FILEMODE_TREE), 0);
	assert_int_equal(git_treebuilder_write(out, t), 0);
	git_treebuilder_free(t);
	git_treebuilder_free(e);
	git_tree_free(base);
}

static int to_buf(const void *data, size_t n, void *payload)
{
	return buf_add(payload, data, n);
}

static void index_into(git_repository *r, const struct buf *pack)
{
	git_odb *odb = NULL;
	char dir[160];

	snprintf(dir, sizeof(dir), "%s/objects/pack", git_repository_path(r));
	assert_int_equal(git_repository_odb(&odb, r), 0);
	if (pack_index(NULL, dir, pack->ptr, pack->len, odb) < 0)
		fail_msg("pack_index: %s", err_msg());
	git_odb_refresh(odb);
	git_odb_free(odb);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct state s, side;
	struct buf plain = BUF_INIT;
	git_oid tree, t2;
	int k;

	assert_non_null(f);
	memset(&s, 0, sizeof(s));
	snprintf(f->dir, sizeof(f->dir), "/tmp/test_slim.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->a, sizeof(f->a), "%s/a.git", f->dir);
	snprintf(f->b, sizeof(f->b), "%s/b.git", f->dir);
	assert_int_equal(git_repository_init(&f->ra, f->a, 1), 0);
	assert_int_equal(git_repository_init(&f->rb, f->b, 1), 0);
	for (k = 0; k < NREC - 20; k++)
		s.version[k] = 1;
	commit_state(&f->c[0], f->ra, &s, NULL, 0, "base\n");
	s.version[7] = 2; /* an amendment */
	commit_state(&f->c[1], f->ra, &s, &f->c[0], 1, "amend R-00007\n\nReason: typo\n");
	for (k = NREC - 20; k < NREC; k++) /* new records, some in new directories */
		s.version[k] = 1;
	s.version[7] = 3;
	commit_state(&f->c[2], f->ra, &s, &f->c[1], 1, "twenty new\n");
	/* a side line from c[2] and a merge of both */
	side = s;
	side.version[40] = 2;
	side.version[NREC - 1] = 2;
	commit_state(&f->c[3], f->ra, &side, &f->c[2], 1, "side\n");
	s.version[41] = 2;
	s.moved = 1; /* a record at a second path: by reference, it was sent */
	commit_state(&f->c[4], f->ra, &s, &f->c[2], 1, "main\n");
	s.version[40] = 2;
	s.version[NREC - 1] = 2;
	{
		git_oid parents[2] = {f->c[4], f->c[3]};
		commit_state(&f->c[5], f->ra, &s, parents, 2, "merge\n");
	}
	/* deletions: every record of one shard directory goes, and the directory with them */
	for (k = 0; k < NREC; k++) {
		char path[128];

		rec_path(path, sizeof(path), k);
		if (strncmp(path, "person/01/02/", 13) == 0)
			s.version[k] = 0;
	}
	tree_of(&tree, f->ra, &s);
	commit_tree(&f->c[6], f->ra, &tree, &f->c[5], 1, "delete a shard\n");
	with_empty_dir(&t2, f->ra, &tree);
	commit_tree(&f->c[7], f->ra, &t2, &f->c[6], 1, "an empty directory\n");
	f->n = 8;
	/* the receiver holds the base */
	assert_int_equal(pack_write(NULL, f->ra, &f->c[0], 1, NULL, 0, 0, to_buf, &plain), 0);
	index_into(f->rb, &plain);
	buf_release(&plain);
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

struct walk_check {
	git_odb *oa, *ob;
	size_t n;
};

static int check_entry(const char *root, const git_tree_entry *e, void *payload)
{
	struct walk_check *w = payload;
	git_odb_object *x = NULL, *y = NULL;

	(void)root;
	if (git_tree_entry_type(e) == GIT_OBJECT_COMMIT)
		return 0;
	assert_int_equal(git_odb_read(&x, w->oa, git_tree_entry_id(e)), 0);
	if (git_odb_read(&y, w->ob, git_tree_entry_id(e)) < 0)
		fail_msg("%s%s (%s) missing", root, git_tree_entry_name(e),
			 git_oid_tostr_s(git_tree_entry_id(e)));
	assert_int_equal(git_odb_object_size(x), git_odb_object_size(y));
	assert_memory_equal(git_odb_object_data(x), git_odb_object_data(y), git_odb_object_size(x));
	git_odb_object_free(x);
	git_odb_object_free(y);
	w->n++;
	return 0;
}

/* Every object reachable from tip in a is in b, the same. */
static void expect_same(git_repository *a, git_repository *b, const git_oid *tip)
{
	struct walk_check w = {NULL, NULL, 0};
	git_revwalk *rw = NULL;
	git_oid id;

	assert_int_equal(git_repository_odb(&w.oa, a), 0);
	assert_int_equal(git_repository_odb(&w.ob, b), 0);
	git_odb_refresh(w.ob);
	assert_int_equal(git_revwalk_new(&rw, a), 0);
	assert_int_equal(git_revwalk_push(rw, tip), 0);
	while (git_revwalk_next(&id, rw) == 0) {
		git_commit *c = NULL;
		git_tree *t = NULL;

		if (!git_odb_exists(w.ob, &id))
			fail_msg("commit %s missing", git_oid_tostr_s(&id));
		assert_int_equal(git_commit_lookup(&c, a, &id), 0);
		assert_int_equal(git_commit_tree(&t, c), 0);
		assert_true(git_odb_exists(w.ob, git_tree_id(t)));
		assert_int_equal(git_tree_walk(t, GIT_TREEWALK_PRE, check_entry, &w), 0);
		git_tree_free(t);
		git_commit_free(c);
	}
	assert_true(w.n > 0);
	git_revwalk_free(rw);
	git_odb_free(w.oa);
	git_odb_free(w.ob);
}

static void write_slim(struct buf *out, struct pack_stats *st, const struct fixture *f,
		       const git_oid *tip, const git_oid *hide)
{
	buf_reset(out);
	if (pack_write(st, f->ra, tip, 1, hide, hide ? 1 : 0, PACK_THIN | PACK_SLIM, to_buf, out) <
	    0)
		fail_msg("pack_write (slim): %s", err_msg());
	assert_true(slim_is(out->ptr, out->len));
}

static int to_pack(struct buf *pack, const struct fixture *f, const struct buf *slim, size_t max)
{
	git_odb *odb = NULL;
	int rc;

	assert_int_equal(git_repository_odb(&odb, f->rb), 0);
	rc = slim_to_pack(pack, NULL, slim->ptr, slim->len, odb, max);
	git_odb_free(odb);
	return rc;
}

/* How often s occurs in the slim pack's inflated stream. */
static size_t count_in(const struct buf *slim, const char *s)
{
	unsigned char out[1 << 16];
	uLongf n = sizeof(out);
	size_t k = 0, len = strlen(s);
	const unsigned char *p, *end;

	assert_int_equal(uncompress(out, &n, (const Bytef *)slim->ptr + 5, slim->len - 5), Z_OK);
	for (p = out, end = out + n; (p = memmem(p, (size_t)(end - p), s, len)); p += len)
		k++;
	return k;
}

/* The whole history after the base, slim, into the receiver: the same objects. */
static void test_roundtrip(void **state)
{
	struct fixture *f = *state;
	struct buf slim = BUF_INIT, pack = BUF_INIT, plain = BUF_INIT;
	struct pack_stats ss, ps;
	char cmd[300];

	write_slim(&slim, &ss, f, &f->c[f->n - 1], &f->c[0]);
	assert_int_equal(
	    pack_write(&ps, f->ra, &f->c[f->n - 1], 1, &f->c[0], 1, PACK_THIN, to_buf, &plain), 0);
	/* trees are not sent, records go as deltas, commits share one compression */
	print_message("slim %zu bytes, plain %zu bytes\n", slim.len, plain.len);
	assert_true(slim.len * 2 < plain.len);
	/* one commit went whole (the empty directory): the only "tree <id>" line sent */
	assert_int_equal(count_in(&slim, "tree "), 1);
	assert_int_equal(count_in(&slim, "\nan empty directory\n"), 1);
	if (to_pack(&pack, f, &slim, (size_t)64 << 20) < 0)
		fail_msg("slim_to_pack: %s", err_msg());
	index_into(f->rb, &pack);
	expect_same(f->ra, f->rb, &f->c[f->n - 1]);
	snprintf(
	    cmd, sizeof(cmd),
	    "git -C %s update-ref refs/heads/main %s && git -C %s fsck --strict >/dev/null 2>&1",
	    f->b, git_oid_tostr_s(&f->c[f->n - 1]), f->b);
	assert_int_equal(system(cmd), 0);
	buf_release(&slim);
	buf_release(&pack);
	buf_release(&plain);
}

/* Step by step, each slim pack on top of the last: what a sync in steps sends. */
static void test_steps(void **state)
{
	struct fixture *f = *state;
	struct buf slim = BUF_INIT, pack = BUF_INIT;
	size_t i;

	for (i = 1; i < f->n; i++) {
		write_slim(&slim, NULL, f, &f->c[i], &f->c[i - 1]);
		if (to_pack(&pack, f, &slim, (size_t)64 << 20) < 0)
			fail_msg("step %zu: slim_to_pack: %s", i, err_msg());
		index_into(f->rb, &pack);
		expect_same(f->ra, f->rb, &f->c[i]);
	}
	/* nothing new: an empty slim pack makes an empty git pack */
	write_slim(&slim, NULL, f, &f->c[f->n - 1], &f->c[f->n - 1]);
	assert_int_equal(to_pack(&pack, f, &slim, (size_t)64 << 20), 0);
	assert_int_equal(pack.len, 12 + 20);
	buf_release(&slim);
	buf_release(&pack);
}

/* With no base at all, into an empty repository. */
static void test_from_nothing(void **state)
{
	struct fixture *f = *state;
	struct buf slim = BUF_INIT, pack = BUF_INIT;
	git_repository *rc = NULL;
	git_odb *odb = NULL;
	char dir[128];

	snprintf(dir, sizeof(dir), "%s/c.git", f->dir);
	assert_int_equal(git_repository_init(&rc, dir, 1), 0);
	write_slim(&slim, NULL, f, &f->c[f->n - 1], NULL);
	assert_int_equal(git_repository_odb(&odb, rc), 0);
	if (slim_to_pack(&pack, NULL, slim.ptr, slim.len, odb, (size_t)64 << 20) < 0)
		fail_msg("slim_to_pack: %s", err_msg());
	git_odb_free(odb);
	index_into(rc, &pack);
	expect_same(f->ra, rc, &f->c[f->n - 1]);
	git_repository_free(rc);
	buf_release(&slim);
	buf_release(&pack);
}

/* Cut at every byte, and a byte flipped at every place: an error, never a crash. */
static void test_cut_and_flipped(void **state)
{
	struct fixture *f = *state;
	struct buf slim = BUF_INIT, pack = BUF_INIT, bad = BUF_INIT;
	size_t i;

	write_slim(&slim, NULL, f, &f->c[2], &f->c[0]);
	for (i = 0; i < slim.len; i++) {
		buf_reset(&bad);
		assert_int_equal(buf_add(&bad, slim.ptr, i), 0);
		assert_int_equal(to_pack(&pack, f, &bad, (size_t)64 << 20), ERR_INVALID);
		assert_int_equal(pack.len, 0);
		assert_true(strlen(err_msg()) > 0);
	}
	for (i = 0; i < slim.len; i += 3) {
		int rc;

		buf_reset(&bad);
		assert_int_equal(buf_add(&bad, slim.ptr, slim.len), 0);
		bad.ptr[i] ^= 0x5a;
		rc = to_pack(&pack, f, &bad, (size_t)64 << 20);
		/* zlib's check catches a flipped byte; the magic is checked first */
		assert_int_equal(rc, ERR_INVALID);
		assert_true(strstr(err_msg(), "slim pack") != NULL);
	}
	buf_release(&slim);
	buf_release(&pack);
	buf_release(&bad);
}

/* A hand-made stream: the magic and records (n bytes) deflated. */
static void handmade(struct buf *out, const void *records, size_t n)
{
	uLongf zn = compressBound((uLong)n);

	buf_reset(out);
	assert_int_equal(buf_add(out, "CLSP\001", 5), 0);
	assert_int_equal(buf_grow(out, zn), 0);
	assert_int_equal(compress2((Bytef *)out->ptr + 5, &zn, records, (uLong)n, 9), Z_OK);
	out->len = 5 + zn;
}

static void expect_bad(const struct fixture *f, const void *records, size_t n, const char *what)
{
	struct buf slim = BUF_INIT, pack = BUF_INIT;
	int rc;

	handmade(&slim, records, n);
	rc = to_pack(&pack, f, &slim, (size_t)1 << 20);
	if (rc != ERR_INVALID || !strstr(err_msg(), what))
		fail_msg("expected ERR_INVALID naming '%s', got %d: %s", what, rc, err_msg());
	assert_int_equal(pack.len, 0);
	buf_release(&slim);
	buf_release(&pack);
}

/* A commit record: no parents, a one-line text; the changes follow (count first). */
#define COMMIT0		  "C\000\004msg\n"
#define MODE		  "\244\203\002" /* 0100644 */
#define BAD(f, lit, what) expect_bad(f, lit, sizeof(lit) - 1, what)

/* records + 20 bytes of 0x42 + tail */
static void expect_bad_id(const struct fixture *f, const char *records, size_t n, const char *tail,
			  size_t tn, const char *what)
{
	struct buf r = BUF_INIT;
	size_t i;

	assert_int_equal(buf_add(&r, records, n), 0);
	for (i = 0; i < 20; i++)
		assert_int_equal(buf_addch(&r, 0x42), 0);
	assert_int_equal(buf_add(&r, tail, tn), 0);
	expect_bad(f, r.ptr, r.len, what);
	buf_release(&r);
}

static void test_handmade(void **state)
{
	struct fixture *f = *state;
	struct buf r = BUF_INIT, slim = BUF_INIT, pack = BUF_INIT;
	size_t i;

	BAD(f, "X", "unknown record type");
	BAD(f, COMMIT0 "\000", "no end record");
	BAD(f, COMMIT0 "\000EE", "after its end record");
	BAD(f, "O\011\001xE", "unknown type");
	/* a record nobody has, a parent nobody has */
	expect_bad_id(f, COMMIT0 "\001\003a/bR" MODE, sizeof(COMMIT0 "\001\003a/bR" MODE) - 1, "E",
		      1, "neither in it nor here");
	expect_bad_id(f, "C\001\000", 3, "\004msg\n\000E", 7, "neither in it nor here");
	BAD(f, "C\001\001\004msg\n\000E", "commits back");
	/* a delta in a commit without parents */
	BAD(f, COMMIT0 "\001\003a/bd" MODE "\001\000E", "without parents");
	/* paths */
	BAD(f, COMMIT0 "\001\004a//bB" MODE "\001xE", "bad path");
	BAD(f, COMMIT0 "\001\004../bB" MODE "\001xE", "bad path");
	BAD(f, COMMIT0 "\001\002a/B" MODE "\001xE", "bad path");
	BAD(f, COMMIT0 "\001\002/aB" MODE "\001xE", "bad path");
	BAD(f, COMMIT0 "\002\001aB" MODE "\001x\001aB" MODE "\001yE", "changed twice");
	BAD(f, COMMIT0 "\002\001aB" MODE "\001x\003a/bB" MODE "\001yE",
	    "as a record and a directory");
	BAD(f, COMMIT0 "\001\001aB\377\001\001xE", "has mode");
	BAD(f, COMMIT0 "\001\001aDE", "nothing at 'a' to delete");
	BAD(f, COMMIT0 "\001\001aQ" MODE "\001xE", "unknown change");
	/* a number that does not end, a count larger than what follows */
	BAD(f, "C\377\377\377\377\377\377\377\377\377\377\001", "number");
	BAD(f, COMMIT0 "\377\001E", "more than it holds");
	/* a path named in an error is shown printable */
	BAD(f, COMMIT0 "\001\003\033[mDE", "'?[m'");
	/* past the limit: a record of 2 MiB with a 1 MiB limit */
	assert_int_equal(buf_add(&r, COMMIT0 "\001\001aB" MODE "\200\200\200\001",
				 sizeof(COMMIT0 "\001\001aB" MODE "\200\200\200\001") - 1),
			 0);
	for (i = 0; i < ((size_t)2 << 20); i++)
		assert_int_equal(buf_addch(&r, 'x'), 0);
	assert_int_equal(buf_addch(&r, 'E'), 0);
	handmade(&slim, r.ptr, r.len);
	assert_int_equal(to_pack(&pack, f, &slim, (size_t)1 << 20), ERR_INVALID);
	assert_non_null(strstr(err_msg(), "past"));
	/* not a slim pack at all */
	buf_reset(&slim);
	assert_int_equal(buf_add(&slim, "PACK\000\000\000\002", 8), 0);
	assert_false(slim_is(slim.ptr, slim.len));
	assert_int_equal(to_pack(&pack, f, &slim, (size_t)1 << 20), ERR_INVALID);
	/* and a good hand-made one: one record, no parents */
	{
		static const char good[] = COMMIT0 "\001\006p/a.mdB" MODE "\003hi\nE";

		handmade(&slim, good, sizeof(good) - 1);
		if (to_pack(&pack, f, &slim, (size_t)1 << 20) < 0)
			fail_msg("slim_to_pack: %s", err_msg());
		assert_true(pack.len > 32);
	}
	buf_release(&r);
	buf_release(&slim);
	buf_release(&pack);
}

/* A directory of many entries, made in one commit: the tree is git's, byte for byte. */
static void test_wide_tree(void **state)
{
	struct fixture *f = *state;
	struct buf r = BUF_INIT, slim = BUF_INIT, pack = BUF_INIT;
	git_index *ix = NULL;
	git_odb *odb = NULL;
	git_oid tree, blob;
	char name[32];
	int k, n = 700;

	assert_int_equal(git_index_new(&ix), 0);
	assert_int_equal(git_blob_create_from_buffer(&blob, f->ra, "x", 1), 0);
	assert_int_equal(buf_add(&r, COMMIT0, sizeof(COMMIT0) - 1), 0);
	assert_int_equal(buf_add(&r, "\274\005", 2), 0); /* 700 changes */
	for (k = n - 1; k >= 0; k--) { /* in no particular order */
		git_index_entry e;

		snprintf(name, sizeof(name), "d/r%04d.json", (k * 37) % n);
		memset(&e, 0, sizeof(e));
		e.path = name;
		e.mode = GIT_FILEMODE_BLOB;
		e.id = blob;
		assert_int_equal(git_index_add(ix, &e), 0);
		assert_int_equal(buf_addch(&r, (char)strlen(name)), 0);
		assert_int_equal(buf_adds(&r, name), 0);
		assert_int_equal(buf_add(&r, "B" MODE "\001x", 6), 0);
	}
	assert_int_equal(buf_addch(&r, 'E'), 0);
	assert_int_equal(git_index_write_tree_to(&tree, ix, f->ra), 0);
	handmade(&slim, r.ptr, r.len);
	if (to_pack(&pack, f, &slim, (size_t)16 << 20) < 0)
		fail_msg("slim_to_pack: %s", err_msg());
	index_into(f->rb, &pack);
	assert_int_equal(git_repository_odb(&odb, f->rb), 0);
	git_odb_refresh(odb);
	assert_true(git_odb_exists(odb, &tree));
	git_odb_free(odb);
	git_index_free(ix);
	buf_release(&r);
	buf_release(&slim);
	buf_release(&pack);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_roundtrip, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_steps, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_from_nothing, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_cut_and_flipped, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_handmade, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_wide_tree, setup, teardown),
	};
	int rc;

	git_libgit2_init();
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	git_libgit2_shutdown();
	return rc;
}
