/*
 * bench_sync: the ledger contents tests/bench/sync.sh replicates, written in process.
 *
 *   bench_sync import --dir LEDGER --records N
 *   bench_sync amend --dir LEDGER --records N --amendments M --tag TEXT [--branch BRANCH]
 *
 * import adds N visit records V-<office>-B<n> to the ledger's own branch in one ledger
 * transaction (one signed commit, one pack: the bulk path). amend makes M signed
 * amendments, one commit each, to records picked among those N on BRANCH (default: the
 * ledger's own branch; another office's branch is what `caseledger amend --branch` does),
 * through ledger_txn_begin/get/put/commit like every caseledger command. Prints the
 * wall time of the work.
 */
#include "config.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "err.h"
#include "benchlib.h"
#include "ledger.h"

/* m amendments (one signed commit each) of records of the bulk import on branch. */
static int amend(struct ledger *l, const char *branch, size_t n, size_t m, const char *tag)
{
	struct ledger_commit_info info = {NULL, "benchmark amendment", "bench"};
	size_t i;
	int rc = 0;

	for (i = 0; i < m && rc == 0; i++) {
		char id[RECORD_ID_MAX], note[96], subject[128];
		struct ledger_txn t;
		json_t *rec = NULL;
		git_oid commit;

		bench_visit_id(id, branch, (i * 7919u + 13u) % n);
		snprintf(note, sizeof(note), "%s follow-up %zu", tag, i);
		snprintf(subject, sizeof(subject), "amend %s: notes", id);
		info.subject = subject;
		if ((rc = ledger_txn_begin(&t, l, branch)) < 0)
			break;
		if ((rc = ledger_txn_get(&rec, &t, id)) == 0) {
			json_object_set_new(rec, "notes", json_string(note));
			if ((rc = ledger_txn_put(&t, rec, false, NULL)) == 0)
				rc = ledger_txn_commit(&t, &info, &commit);
		}
		json_decref(rec);
		ledger_txn_release(&t);
	}
	return rc;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"dir", required_argument, NULL, 'd'},	  {"records", required_argument, NULL, 'n'},
	    {"amendments", required_argument, NULL, 'm'}, {"branch", required_argument, NULL, 'b'},
	    {"tag", required_argument, NULL, 't'},	  {0},
	};
	const char *dir = NULL, *branch = NULL, *tag = "bench", *mode;
	struct ledger *l = NULL;
	size_t n = 0, m = 0;
	double t0;
	int c, rc;

	if (argc < 2 || (strcmp(argv[1], "import") != 0 && strcmp(argv[1], "amend") != 0))
		goto usage;
	mode = argv[1];
	optind = 2;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == 'd')
			dir = optarg;
		else if (c == 'n')
			n = strtoul(optarg, NULL, 10);
		else if (c == 'm')
			m = strtoul(optarg, NULL, 10);
		else if (c == 'b')
			branch = optarg;
		else if (c == 't')
			tag = optarg;
		else
			goto usage;
	}
	if (!dir || n == 0 || (mode[0] == 'a' && m == 0))
		goto usage;
	if (ledger_open(&l, dir) < 0) {
		fprintf(stderr, "bench_sync: %s\n", err_msg());
		return 1;
	}
	t0 = bench_now();
	rc = 0;
	if (mode[0] == 'i')
		bench_import(l, NULL, 0, n, 0, bench_visit, l->office);
	else
		rc = amend(l, branch ? branch : l->office, n, m, tag);
	if (rc < 0) {
		fprintf(stderr, "bench_sync %s: %s\n", mode, err_msg());
		ledger_free(l);
		return 1;
	}
	printf("%s %.3f s\n", mode, bench_now() - t0);
	ledger_free(l);
	return 0;
usage:
	fprintf(stderr, "usage: bench_sync import --dir LEDGER --records N\n"
			"       bench_sync amend --dir LEDGER --records N --amendments M "
			"[--tag TEXT] [--branch BRANCH]\n");
	return 2;
}
