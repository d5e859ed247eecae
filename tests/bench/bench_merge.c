/*
 * bench_merge: our record-level merge against stock `git merge` (ort) of the same commits.
 *
 *   bench_merge --dir NEWDIR [--records N] [--changed M] [--both K]
 *
 * Builds a ledger of N records (half visits, half people; bulk transactions, each one
 * pack), then two branches from it: ours changes M records, theirs changes M records, K of
 * them the same ones (visits: both change the notes — lww settles it; people: both change
 * the name — manual, a conflict record). Then, in one run:
 *   ours: merge_branches — bases, three-tree walk, field merges, conflict records, objects
 *         written (pack), SSHSIG-signed merge commit, compare-and-swap; fsync as always;
 *   git:  a clone of the ledger with a work tree, checked out at ours, then
 *         `git -c merge.conflictstyle=merge merge` of theirs (ort), timed alone.
 * Prints both wall-clock times and their ratio (git / ours: above 1 means we are faster),
 * and how each settled the K records changed on both sides.
 */
#include "config.h"

#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

#include "err.h"
#include "benchlib.h"
#include "ledger.h"
#include "merge.h"

#define OFFICE "120112001001"
#define THEIRS "120112001002"

static void id_of(char out[RECORD_ID_MAX], size_t i)
{
	snprintf(out, RECORD_ID_MAX, "%s-%s-B%012zu", i % 2 ? "P" : "V", OFFICE, i);
}

static json_t *record(size_t i, void *payload)
{
	char id[RECORD_ID_MAX];

	id_of(id, i);
	if (i % 2)
		return json_pack("{s:s, s:s, s:s, s:s, s:s}", "id", id, "type", "person", "name",
				 "resident", "id_number", "11010519491231002X", "phone", "100");
	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "id", id, "type", "visit", "date",
			 "2026-11-29", "kind", "home", "worker", "grid worker 7", "notes",
			 "routine visit, household well");
}

/* One commit on branch changing records [from, to). */
static git_oid change(struct ledger *l, const char *branch, size_t from, size_t to, const char *tag)
{
	struct ledger_commit_info info = {"bench: changes", "benchmark changes", "bench"};
	struct ledger_txn t;
	git_oid commit;
	size_t i;

	if (ledger_txn_begin(&t, l, branch) < 0)
		bench_die("begin changes");
	for (i = from; i < to; i++) {
		char id[RECORD_ID_MAX], text[64];
		json_t *rec = NULL;

		id_of(id, i);
		if (ledger_txn_get(&rec, &t, id) < 0)
			bench_die("read");
		snprintf(text, sizeof(text), "%s %zu", tag, i);
		json_object_set_new(rec, i % 2 ? "name" : "notes", json_string(text));
		if (ledger_txn_put(&t, rec, false, NULL) < 0)
			bench_die("stage change");
		json_decref(rec);
	}
	if (ledger_txn_commit(&t, &info, &commit) < 0)
		bench_die("commit changes");
	ledger_txn_release(&t);
	return commit;
}

static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int sh(const char *fmt, ...)
{
	char cmd[4096];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	return system(cmd);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"records", required_argument, NULL, 'n'},
	    {"changed", required_argument, NULL, 'm'},
	    {"both", required_argument, NULL, 'k'},
	    {"dir", required_argument, NULL, 'd'},
	    {0},
	};
	struct ledger_init_opts io = {0};
	struct ledger *l = NULL;
	struct merge_result r = {0}, dry = {0};
	size_t n = 100000, m = 5000, k = 100;
	const char *dir = NULL;
	char work[4096], ours_hex[GIT_OID_HEXSZ + 1], theirs_hex[GIT_OID_HEXSZ + 1];
	double t0, t_import, t_ours, t_dry, t_git;
	git_oid base, ours, theirs;
	git_reference *ref = NULL;
	int c, git_rc;
	FILE *p;
	long unmerged = -1;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == 'n')
			n = strtoul(optarg, NULL, 10);
		else if (c == 'm')
			m = strtoul(optarg, NULL, 10);
		else if (c == 'k')
			k = strtoul(optarg, NULL, 10);
		else if (c == 'd')
			dir = optarg;
		else
			return 2;
	}
	if (!dir || k > m || 2 * m - k > n) {
		fprintf(stderr, "usage: bench_merge --dir NEWDIR [--records N] [--changed M] "
				"[--both K]  (K <= M, 2M - K <= N)\n");
		return 2;
	}
	io.dir = dir;
	io.office = OFFICE;
	io.operator= "bench";
	if (ledger_init(&io) < 0 || ledger_open(&l, dir) < 0)
		bench_die("init");
	t0 = bench_now();
	bench_import(l, NULL, 0, n, 10000, record, NULL);
	t_import = bench_now() - t0;
	if (ledger_head(&base, l, OFFICE) < 0 ||
	    git_reference_create(&ref, l->repo, "refs/heads/" THEIRS, &base, 0, "bench") < 0)
		bench_die("branch");
	git_reference_free(ref);
	/* ours: [0, m); theirs: [m - k, 2m - k): k records on both sides */
	ours = change(l, OFFICE, 0, m, "ours");
	theirs = change(l, THEIRS, m - k, 2 * m - k, "theirs");
	git_oid_tostr(ours_hex, sizeof(ours_hex), &ours);
	git_oid_tostr(theirs_hex, sizeof(theirs_hex), &theirs);

	/* the clone for git, set up before any timing */
	snprintf(work, sizeof(work), "%s.git-work", dir);
	if (sh("git clone -q --no-checkout '%s' '%s' && git -C '%s' checkout -q --detach %s", dir,
	       work, work, ours_hex) != 0)
		bench_die("git clone");

	t0 = bench_now();
	if (merge_commits(&dry, l, &ours, &theirs, false) < 0)
		bench_die("merge (dry)");
	t_dry = bench_now() - t0;
	t0 = bench_now();
	if (merge_branches(&r, l, OFFICE, &theirs) < 0)
		bench_die("merge");
	t_ours = bench_now() - t0;

	t0 = bench_now();
	git_rc = sh("git -C '%s' -c merge.conflictstyle=merge -c user.name=bench "
		    "-c user.email=bench@x merge -q --no-edit %s >/dev/null 2>&1",
		    work, theirs_hex);
	t_git = bench_now() - t0;
	{
		char cmd[4200];

		snprintf(cmd, sizeof(cmd), "git -C '%s' diff --name-only --diff-filter=U | wc -l",
			 work);
		if ((p = popen(cmd, "r"))) {
			if (fscanf(p, "%ld", &unmerged) != 1)
				unmerged = -1;
			pclose(p);
		}
	}
	if (!git_oid_equal(&dry.tree, &r.tree))
		bench_die("dry run and merge disagree");
	printf("ledger: %zu records (import %.1f s); ours changed %zu, theirs %zu, both %zu\n", n,
	       t_import, m, m, k);
	printf("caseledger merge: %.3f s (tree only, nothing written: %.3f s): %zu records "
	       "merged field by field, %zu values settled by rule (listed in the message), "
	       "%zu conflict records\n",
	       t_ours, t_dry, r.nrecords, json_array_size(r.discarded),
	       json_array_size(r.conflicts));
	printf("git merge (ort, work tree): %.3f s: exit %d, %ld files left with conflict "
	       "markers\n",
	       t_git, WEXITSTATUS(git_rc), unmerged);
	printf("ratio git/caseledger: %.2f (above 1: caseledger is faster)\n", t_git / t_ours);
	if (r.nrecords != k || json_array_size(r.discarded) + json_array_size(r.conflicts) != k) {
		fprintf(stderr, "bench_merge: expected %zu records settled, got %zu + %zu\n", k,
			json_array_size(r.discarded), json_array_size(r.conflicts));
		return 1;
	}
	merge_result_release(&r);
	merge_result_release(&dry);
	ledger_free(l);
	return 0;
}
