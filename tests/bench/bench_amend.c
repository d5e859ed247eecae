/*
 * bench_amend: the cost of one signed, durable amendment, in process.
 *
 *   bench_amend --records N --amendments M [--keep DIR]
 *
 * Builds a ledger of N visit records (one bulk commit), then makes M amendments two
 * ways on branches that start at the same commit in the same repository, with the same
 * fsync policy (libgit2's GIT_OPT_ENABLE_FSYNC_GITDIR, as caseledger always runs):
 *   ours: ledger_txn_begin/get/put/commit — read, edit, validate, canonical encode,
 *         blob, path trees, SSHSIG-signed commit, compare-and-swap ref update;
 *   raw:  plain libgit2 writing the same blobs: tree entry lookup, blob, path trees
 *         (git_tree_create_updated), unsigned commit, compare-and-swap ref update.
 * Prints both per-amendment costs and their ratio (raw / ours: 1.0 means no overhead).
 */
#include "config.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "err.h"
#include "benchlib.h"
#include "ledger.h"

#define OFFICE "120112001001"
#define BLOCK  50

static const char *pick(char (*ids)[RECORD_ID_MAX], size_t n, size_t i)
{
	return ids[(i * 7919u + 13u) % n];
}

static double run_ours(struct ledger *l, char (*ids)[RECORD_ID_MAX], size_t n, size_t from,
		       size_t to)
{
	struct ledger_commit_info info = {NULL, "benchmark amendment", "bench"};
	char subject[128];
	double t0 = bench_now();
	size_t i;

	for (i = from; i < to; i++) {
		struct ledger_txn t;
		json_t *rec = NULL;
		char note[64];
		git_oid commit;

		snprintf(note, sizeof(note), "follow-up %zu", i);
		snprintf(subject, sizeof(subject), "amend %s: notes", pick(ids, n, i));
		info.subject = subject;
		if (ledger_txn_begin(&t, l, NULL) < 0 ||
		    ledger_txn_get(&rec, &t, pick(ids, n, i)) < 0)
			bench_die("ours: read");
		json_object_set_new(rec, "notes", json_string(note));
		if (ledger_txn_put(&t, rec, false, NULL) < 0 ||
		    ledger_txn_commit(&t, &info, &commit) < 0)
			bench_die("ours: commit");
		json_decref(rec);
		ledger_txn_release(&t);
	}
	return bench_now() - t0;
}

/* The blobs raw writes: the same edit, encoded up front (raw libgit2 does no JSON). */
static char **raw_blobs(struct ledger *l, char (*ids)[RECORD_ID_MAX], size_t n, size_t m)
{
	char **blobs = calloc(m, sizeof(*blobs));
	git_commit *c = NULL;
	git_tree *tree = NULL;
	size_t i;

	if (!blobs || ledger_resolve(&c, l, OFFICE) < 0 || git_commit_tree(&tree, c) < 0)
		bench_die("raw: prepare");
	for (i = 0; i < m; i++) {
		json_t *rec = NULL;
		struct buf b = BUF_INIT;
		char note[64];

		if (ledger_read(&rec, l, tree, pick(ids, n, i)) < 0)
			bench_die("raw: read");
		snprintf(note, sizeof(note), "raw follow-up %zu", i);
		json_object_set_new(rec, "notes", json_string(note));
		if (record_encode(&b, rec) < 0)
			bench_die("raw: encode");
		blobs[i] = buf_detach(&b, NULL);
		json_decref(rec);
	}
	git_tree_free(tree);
	git_commit_free(c);
	return blobs;
}

/* Raw libgit2 amendments [from, to) on refs/heads/raw-bench, which starts at *head. */
static double run_raw(struct ledger *l, git_oid *head, char (*ids)[RECORD_ID_MAX], size_t n,
		      size_t from, size_t to, char **blobs)
{
	const char *ref = "refs/heads/raw-bench";
	git_repository *repo = l->repo;
	git_signature *who;
	git_reference *r;
	double t0;
	size_t i;

	if (from == 0) {
		if (git_reference_create(&r, repo, ref, head, 1, "bench") < 0)
			bench_die("raw: branch");
		git_reference_free(r);
	}
	git_signature_now(&who, "bench", "bench@caseledger");
	t0 = bench_now();
	for (i = from; i < to; i++) {
		git_commit *parent = NULL;
		git_tree *tree = NULL;
		git_tree_entry *e = NULL;
		git_tree_update up = {0};
		char path[RECORD_PATH_MAX];
		git_oid tree_id, commit;

		record_path(path, "visit", pick(ids, n, i));
		if (git_commit_lookup(&parent, repo, head) < 0 ||
		    git_commit_tree(&tree, parent) < 0 || git_tree_entry_bypath(&e, tree, path) < 0)
			bench_die("raw: lookup");
		up.action = GIT_TREE_UPDATE_UPSERT;
		up.filemode = GIT_FILEMODE_BLOB;
		up.path = path;
		if (git_blob_create_from_buffer(&up.id, repo, blobs[i], strlen(blobs[i])) < 0 ||
		    git_tree_create_updated(&tree_id, repo, tree, 1, &up) < 0)
			bench_die("raw: trees");
		git_tree_free(tree);
		if (git_tree_lookup(&tree, repo, &tree_id) < 0 ||
		    git_commit_create(&commit, repo, NULL, who, who, NULL, "raw amendment", tree, 1,
				      (const git_commit **)&parent) < 0 ||
		    git_reference_create_matching(&r, repo, ref, &commit, 1, head, "bench") < 0)
			bench_die("raw: commit");
		git_reference_free(r);
		*head = commit;
		git_tree_entry_free(e);
		git_tree_free(tree);
		git_commit_free(parent);
	}
	git_signature_free(who);
	return bench_now() - t0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"records", required_argument, NULL, 'n'},
	    {"amendments", required_argument, NULL, 'm'},
	    {"dir", required_argument, NULL, 'd'},
	    {0},
	};
	struct ledger_init_opts io = {0};
	struct ledger *l = NULL;
	char(*ids)[RECORD_ID_MAX];
	size_t n = 100000, m = 1000, i;
	const char *dir = NULL;
	double t0, t_import, ours, raw;
	char **blobs;
	git_oid start;
	int c;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == 'n')
			n = strtoul(optarg, NULL, 10);
		else if (c == 'm')
			m = strtoul(optarg, NULL, 10);
		else if (c == 'd')
			dir = optarg;
		else
			return 2;
	}
	if (!dir || n == 0 || m == 0) {
		fprintf(stderr, "usage: bench_amend --dir NEWDIR [--records N] [--amendments M]\n");
		return 2;
	}
	io.dir = dir;
	io.office = OFFICE;
	io.operator= "bench";
	if (ledger_init(&io) < 0 || ledger_open(&l, dir) < 0)
		bench_die("init");
	if (!(ids = calloc(n, sizeof(*ids))))
		bench_die("memory");
	t0 = bench_now();
	bench_import(l, NULL, 0, n, 0, bench_visit, OFFICE);
	for (i = 0; i < n; i++)
		bench_visit_id(ids[i], OFFICE, i);
	t_import = bench_now() - t0;
	if (ledger_head(&start, l, OFFICE) < 0)
		bench_die("head");
	blobs = raw_blobs(l, ids, n, m);
	/* Alternate blocks so both see the same disk and cache conditions. */
	ours = raw = 0;
	for (i = 0; i < m; i += BLOCK) {
		size_t to = i + BLOCK < m ? i + BLOCK : m;

		raw += run_raw(l, &start, ids, n, i, to, blobs);
		ours += run_ours(l, ids, n, i, to);
	}
	ours /= (double)m;
	raw /= (double)m;
	printf("records %zu: import %.2f s (%.1f us/record)\n", n, t_import,
	       t_import * 1e6 / (double)n);
	printf("records %zu amendments %zu: caseledger %.3f ms/amendment, raw libgit2 %.3f "
	       "ms/amendment, ratio raw/caseledger %.2f\n",
	       n, m, ours * 1e3, raw * 1e3, raw / ours);
	for (i = 0; i < m; i++)
		free(blobs[i]);
	free(blobs);
	free(ids);
	ledger_free(l);
	return 0;
}
