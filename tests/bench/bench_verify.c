/*
 * bench_verify: how fast a ledger's history is verified, merges included, against the
 * signature checks alone.
 *
 *   bench_verify import --dir LEDGER --records N
 *   bench_verify history --dir LEDGER --records N --rounds R [--side S]
 *   bench_verify run --dir LEDGER
 *
 * import adds N visit records to the ledger's own branch (bulk transactions of 10,000).
 * history makes R rounds of history with merges: from the head, S signed amendments on one line
 * and S on another (the branch reset between them, as when the parent amended the branch
 * while the office worked offline), joined by merge_branches (a signed merge commit).
 *
 * run walks the branch and times, in process:
 *   verify_commit on every commit: ordinary commits (signature, certificate, scope,
 *     identity, time, record rules) and merges (all that, plus the merge recomputed from
 *     its parents and compared: merge_check) separately;
 *   verify_all, what `caseledger verify` runs, over every branch;
 *   the reference, raw libgit2 and the SSHSIG check alone: git_commit_extract_signature
 *     and sig_verify on the same commits (what "a plain signature walk" costs).
 * Prints commits per second for each and the ratios. No assertion on time.
 */
#include "config.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "benchlib.h"
#include "err.h"
#include "ledger.h"
#include "merge.h"
#include "sig.h"
#include "verify.h"

/* m amendments, one signed commit each, of records [first, first + m) of the import. */
static void amend(struct ledger *l, size_t n, size_t first, size_t m, const char *tag)
{
	struct ledger_commit_info info = {NULL, "benchmark amendment", "bench"};
	size_t i;

	for (i = 0; i < m; i++) {
		char id[RECORD_ID_MAX], note[96], subject[128];
		struct ledger_txn t;
		json_t *rec = NULL;
		git_oid commit;

		bench_visit_id(id, l->office, (first + i) % n);
		snprintf(note, sizeof(note), "%s follow-up %zu", tag, first + i);
		snprintf(subject, sizeof(subject), "amend %s: notes", id);
		info.subject = subject;
		if (ledger_txn_begin(&t, l, l->office) < 0 || ledger_txn_get(&rec, &t, id) < 0)
			bench_die("amend");
		json_object_set_new(rec, "notes", json_string(note));
		if (ledger_txn_put(&t, rec, false, NULL) < 0 ||
		    ledger_txn_commit(&t, &info, &commit) < 0)
			bench_die("amend");
		json_decref(rec);
		ledger_txn_release(&t);
	}
}

/* Move the branch back to to (the other line goes on from there). */
static void reset_branch(struct ledger *l, const git_oid *to)
{
	char ref[LEDGER_REF_MAX];
	git_reference *r = NULL;

	snprintf(ref, sizeof(ref), "refs/heads/%s", l->office);
	if (git_reference_create(&r, l->repo, ref, to, 1, "bench: the other line") < 0) {
		fprintf(stderr, "bench_verify: %s\n", git_error_last()->message);
		exit(1);
	}
	git_reference_free(r);
}

static void import(struct ledger *l, size_t n)
{
	double t0 = bench_now();
	size_t from;

	for (from = 0; from < n; from += 10000)
		bench_import(l, NULL, from, from + 10000 < n ? from + 10000 : n, 0, bench_visit,
			     l->office);
	printf("imported %zu records in %.1f s\n", n, bench_now() - t0);
}

static void history(struct ledger *l, size_t n, size_t rounds, size_t side)
{
	struct merge_result mr;
	git_oid base, theirs;
	size_t r, next = 0;
	double t0 = bench_now();

	for (r = 0; r < rounds; r++) {
		if (ledger_head(&base, l, l->office) < 0)
			bench_die("head");
		amend(l, n, next, side, "parent");
		next += side;
		if (ledger_head(&theirs, l, l->office) < 0)
			bench_die("head");
		reset_branch(l, &base);
		amend(l, n, next, side, "office");
		next += side;
		memset(&mr, 0, sizeof(mr));
		if (merge_branches(&mr, l, l->office, &theirs) < 0 || mr.outcome != MERGE_MERGED)
			bench_die("merge");
		merge_result_release(&mr);
	}
	printf("%zu rounds of 2 x %zu amendments and a merge in %.1f s\n", rounds, side,
	       bench_now() - t0);
}

struct walk {
	git_oid *ids;
	size_t n, cap;
};

static void walk_branch(struct walk *w, struct ledger *l)
{
	git_revwalk *rw = NULL;
	git_oid head, id;

	memset(w, 0, sizeof(*w));
	if (ledger_head(&head, l, l->office) < 0 || git_revwalk_new(&rw, l->repo) < 0 ||
	    git_revwalk_push(rw, &head) < 0)
		bench_die("walk");
	while (git_revwalk_next(&id, rw) == 0) {
		if (w->n == w->cap) {
			w->cap = w->cap ? w->cap * 2 : 1024;
			if (!(w->ids = realloc(w->ids, w->cap * sizeof(*w->ids))))
				bench_die("walk");
		}
		w->ids[w->n++] = id;
	}
	git_revwalk_free(rw);
}

static int bad(const char *branch, const struct verify_result *r, void *payload)
{
	fprintf(stderr, "bench_verify: %s: %s\n", branch, r->why);
	return -1;
}

enum kind { AMENDMENT, MERGE, BULK, NKINDS }; /* BULK: the imports and the root */

static enum kind kind_of(struct ledger *l, const git_oid *id)
{
	git_commit *c = NULL;
	enum kind k;

	if (git_commit_lookup(&c, l->repo, id) < 0)
		bench_die("lookup");
	if (git_commit_parentcount(c) > 1)
		k = MERGE;
	else if (git_commit_parentcount(c) == 0 ||
		 strncmp(git_commit_summary(c), "bench: import", 13) == 0)
		k = BULK;
	else
		k = AMENDMENT;
	git_commit_free(c);
	return k;
}

/* Seconds for the reference: extract each commit's signature and check it, nothing else. */
static double reference(struct ledger *l, const struct walk *w)
{
	double t0 = bench_now();
	size_t i;

	for (i = 0; i < w->n; i++) {
		git_buf sig = {0}, data = {0};
		unsigned char pub[SIG_PUBKEY_LEN];

		if (git_commit_extract_signature(&sig, &data, l->repo, &w->ids[i], NULL) < 0 ||
		    sig_verify(pub, sig.ptr, sig.size, data.ptr, data.size) < 0)
			bench_die("reference");
		git_buf_dispose(&sig);
		git_buf_dispose(&data);
	}
	return bench_now() - t0;
}

static void run(struct ledger *l)
{
	static const char *const names[NKINDS] = {"amendments", "merges (recomputed)",
						  "bulk imports (10,000 records each)"};
	double t[NKINDS] = {0}, t0, t_ref, t_all, total = 0;
	size_t n[NKINDS] = {0}, i, nall = 0, nbranches = 0;
	struct verify_result r;
	struct walk w;

	walk_branch(&w, l);
	/* warm: the trust branch and the schema are loaded once per process */
	if (verify_commit(&r, l, l->office, &w.ids[0], 0) < 0)
		bench_die("verify");
	for (i = 0; i < w.n; i++) {
		enum kind k = kind_of(l, &w.ids[i]);

		t0 = bench_now();
		if (verify_commit(&r, l, l->office, &w.ids[i], 0) < 0)
			bench_die("verify");
		if (r.status != VERIFY_OK) {
			fprintf(stderr, "bench_verify: %s\n", r.why);
			exit(1);
		}
		t[k] += bench_now() - t0;
		n[k]++;
	}
	t_ref = reference(l, &w);
	t0 = bench_now();
	if (verify_all(l, 0, &nall, &nbranches, bad, NULL) < 0)
		bench_die("verify_all");
	t_all = bench_now() - t0;
	printf("branch %s: %zu commits: %zu amendments, %zu merges, %zu bulk\n", l->office, w.n,
	       n[AMENDMENT], n[MERGE], n[BULK]);
	for (i = 0; i < NKINDS; i++) {
		total += t[i];
		if (n[i])
			printf("verify_commit, %s: %.0f/s (%.3f ms each)\n", names[i], n[i] / t[i],
			       1000 * t[i] / n[i]);
	}
	printf("verify_commit, amendments and merges together: %.0f commits/s\n",
	       (n[AMENDMENT] + n[MERGE]) / (t[AMENDMENT] + t[MERGE]));
	printf("verify_all (caseledger verify), %zu commits on %zu branches: %.2f s, %.0f "
	       "commits/s\n",
	       nall, nbranches, t_all, nall / t_all);
	printf("reference, raw libgit2 + SSHSIG check only: %.0f commits/s (earlier figure for "
	       "a plain signature walk: 4379/s)\n",
	       w.n / t_ref);
	printf("cost of verify_commit / cost of the signature check alone: amendments %.2f, "
	       "merges %.2f, amendments and merges %.2f\n",
	       (t[AMENDMENT] / n[AMENDMENT]) / (t_ref / w.n), (t[MERGE] / n[MERGE]) / (t_ref / w.n),
	       ((t[AMENDMENT] + t[MERGE]) / (n[AMENDMENT] + n[MERGE])) / (t_ref / w.n));
	free(w.ids);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"dir", required_argument, NULL, 'd'},
	    {"records", required_argument, NULL, 'n'},
	    {"rounds", required_argument, NULL, 'r'},
	    {"side", required_argument, NULL, 's'},
	    {0},
	};
	const char *dir = NULL, *mode;
	size_t n = 0, rounds = 0, side = 5;
	struct ledger *l = NULL;
	int c;

	if (argc < 2 || (strcmp(argv[1], "import") != 0 && strcmp(argv[1], "history") != 0 &&
			 strcmp(argv[1], "run") != 0))
		goto usage;
	mode = argv[1];
	optind = 2;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == 'd')
			dir = optarg;
		else if (c == 'n')
			n = strtoul(optarg, NULL, 10);
		else if (c == 'r')
			rounds = strtoul(optarg, NULL, 10);
		else if (c == 's')
			side = strtoul(optarg, NULL, 10);
		else
			goto usage;
	}
	if (!dir || (mode[0] != 'r' && n == 0) || (mode[0] == 'h' && (rounds == 0 || side == 0)))
		goto usage;
	if (ledger_open(&l, dir) < 0)
		bench_die("open");
	if (mode[0] == 'i')
		import(l, n);
	else if (mode[0] == 'h')
		history(l, n, rounds, side);
	else
		run(l);
	ledger_free(l);
	return 0;
usage:
	fprintf(stderr,
		"usage: bench_verify import --dir LEDGER --records N\n"
		"       bench_verify history --dir LEDGER --records N --rounds R [--side S]\n"
		"       bench_verify run --dir LEDGER\n");
	return 2;
}
