/*
 * fuzz_slim: a fuzz target for slim_to_pack (replication/slim.c), what a slim pack from
 * a peer goes through before pack_index. The first byte picks the form of the rest: even,
 * the bytes as received (magic and zlib stream); odd, the records themselves, which the
 * target deflates behind the magic, so the fuzzer reaches the record parser rather than
 * zlib's checks. The scratch object database holds a commit with one record, which
 * records may name as a parent, a base or a reference. A refused slim pack says why and
 * makes nothing; an accepted one makes a git pack that pack_index accepts.
 */
#include "config.h"

#include <ftw.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <zlib.h>

#include "buf.h"
#include "err.h"
#include "fuzz.h"
#include "pack.h"
#include "slim.h"

static char fuzz_dir[64];
static git_repository *fuzz_repo;
static git_odb *fuzz_odb;

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st, (void)flag, (void)ftw;
	return remove(path);
}

/* A scratch repository holding one commit of one record in a directory. */
static void fuzz_setup(void)
{
	static const char text[] = "{\"id\":\"C-120112001001-1\",\"status\":\"open\"}\n";
	git_index *ix = NULL;
	git_index_entry e;
	git_signature *sig = NULL;
	git_tree *tree = NULL;
	git_oid blob, tid, commit;

	git_libgit2_init();
	git_libgit2_opts(GIT_OPT_ENABLE_FSYNC_GITDIR, 0);
	snprintf(fuzz_dir, sizeof(fuzz_dir), "%s/fuzz_slim.XXXXXX",
		 access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
	memset(&e, 0, sizeof(e));
	if (!mkdtemp(fuzz_dir) || git_repository_init(&fuzz_repo, fuzz_dir, 1) < 0 ||
	    git_repository_odb(&fuzz_odb, fuzz_repo) < 0 ||
	    git_blob_create_from_buffer(&blob, fuzz_repo, text, sizeof(text) - 1) < 0 ||
	    git_index_new(&ix) < 0)
		abort();
	e.path = "case/01/C-120112001001-1.json";
	e.mode = GIT_FILEMODE_BLOB;
	e.id = blob;
	if (git_index_add(ix, &e) < 0 || git_index_write_tree_to(&tid, ix, fuzz_repo) < 0 ||
	    git_tree_lookup(&tree, fuzz_repo, &tid) < 0 ||
	    git_signature_new(&sig, "fuzz", "fuzz@caseledger", 1700000000, 0) < 0 ||
	    git_commit_create(&commit, fuzz_repo, NULL, sig, sig, NULL, "base\n", tree, 0, NULL) <
		0)
		abort();
	git_signature_free(sig);
	git_tree_free(tree);
	git_index_free(ix);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct buf in = BUF_INIT, pack = BUF_INIT;
	struct pack_stats st = {0};
	int rc;

	if (!fuzz_repo)
		fuzz_setup();
	if (size == 0)
		return 0;
	if (data[0] & 1) {
		uLongf zn = compressBound((uLong)(size - 1));

		if (buf_add(&in, "CLSP\001", 5) < 0 || buf_grow(&in, zn) < 0 ||
		    compress2((Bytef *)in.ptr + 5, &zn, data + 1, (uLong)(size - 1), 6) != Z_OK)
			abort();
		in.len = 5 + zn;
	} else if (buf_add(&in, data + 1, size - 1) < 0) {
		abort();
	}
	rc = slim_to_pack(&pack, &st, in.ptr, in.len, fuzz_odb, (size_t)16 << 20);
	if (rc < 0) {
		FUZZ_ASSERT(err_msg()[0], "a refused slim pack says why");
		FUZZ_ASSERT(pack.len == 0, "a refused slim pack makes nothing");
	} else {
		struct pack_stats ps = {0};
		char tmp[160];

		FUZZ_ASSERT(pack.len >= 32, "a git pack has a header and a trailer");
		/* what it makes is a pack the indexer takes; the files go again */
		snprintf(tmp, sizeof(tmp), "%s/made", fuzz_dir);
		if (mkdir(tmp, 0700) < 0)
			abort();
		rc = pack_index(&ps, tmp, pack.ptr, pack.len, fuzz_odb);
		FUZZ_ASSERT(rc == 0, "a made pack indexes");
		FUZZ_ASSERT(ps.objects >= st.objects, "every object made is in the pack");
		nftw(tmp, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	}
	err_clear();
	git_error_clear();
	buf_release(&in);
	buf_release(&pack);
	return 0;
}

void fuzz_cleanup(void)
{
	git_odb_free(fuzz_odb);
	git_repository_free(fuzz_repo);
	fuzz_odb = NULL;
	fuzz_repo = NULL;
	if (fuzz_dir[0])
		nftw(fuzz_dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	git_libgit2_shutdown();
}
