/*
 * fuzz_packidx: a fuzz target for the pack indexer (replication/packidx.c), what every
 * received pack goes through before any of it is stored. Each input is a pack, indexed
 * into a scratch pack directory against a scratch object database (so thin packs find
 * bases). A refused pack writes nothing; an accepted one leaves exactly one .pack and
 * its .idx, which are then removed.
 */
#include "config.h"

#include <dirent.h>
#include <ftw.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "err.h"
#include "fuzz.h"
#include "pack.h"

static char fuzz_dir[64], fuzz_packdir[128];
static git_repository *fuzz_repo;
static git_odb *fuzz_odb;

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st, (void)flag, (void)ftw;
	return remove(path);
}

/* A scratch repository holding a blob and a tree, bases for thin packs. */
static void fuzz_setup(void)
{
	static const char text[] = "{\"id\":\"C-120112001001-1\",\"status\":\"open\"}\n";
	git_treebuilder *tb = NULL;
	git_oid blob, tree;

	git_libgit2_init();
	git_libgit2_opts(GIT_OPT_ENABLE_FSYNC_GITDIR, 0);
	snprintf(fuzz_dir, sizeof(fuzz_dir), "%s/fuzz_packidx.XXXXXX",
		 access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
	if (!mkdtemp(fuzz_dir) || git_repository_init(&fuzz_repo, fuzz_dir, 1) < 0 ||
	    git_repository_odb(&fuzz_odb, fuzz_repo) < 0 ||
	    git_blob_create_from_buffer(&blob, fuzz_repo, text, sizeof(text) - 1) < 0 ||
	    git_treebuilder_new(&tb, fuzz_repo, NULL) < 0 ||
	    git_treebuilder_insert(NULL, tb, "C-120112001001-1.json", &blob, GIT_FILEMODE_BLOB) <
		0 ||
	    git_treebuilder_write(&tree, tb) < 0)
		abort();
	git_treebuilder_free(tb);
	snprintf(fuzz_packdir, sizeof(fuzz_packdir), "%s/objects/pack", fuzz_dir);
}

/* Count the files in the pack directory, removing them. */
static size_t drain_packdir(void)
{
	char path[512];
	struct dirent *e;
	size_t n = 0;
	DIR *d = opendir(fuzz_packdir);

	if (!d)
		abort();
	while ((e = readdir(d)))
		if (e->d_name[0] != '.') {
			snprintf(path, sizeof(path), "%s/%s", fuzz_packdir, e->d_name);
			unlink(path);
			n++;
		}
	closedir(d);
	return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pack_stats st = {0};
	size_t files;
	int rc;

	if (!fuzz_repo)
		fuzz_setup();
	rc = pack_index(&st, fuzz_packdir, data, size, fuzz_odb);
	files = drain_packdir();
	if (rc < 0) {
		FUZZ_ASSERT(err_msg()[0], "a refused pack says why");
		FUZZ_ASSERT(files == 0, "a refused pack writes nothing");
	} else {
		FUZZ_ASSERT(files == 2, "an accepted pack is one .pack and one .idx");
		FUZZ_ASSERT(st.deltas <= st.objects, "deltas are among the objects");
	}
	err_clear();
	git_error_clear();
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
