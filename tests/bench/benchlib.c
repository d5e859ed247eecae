/*
 * benchlib: shared helpers of the benchmark programs (see benchlib.h).
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "benchlib.h"
#include "err.h"

double bench_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void bench_die(const char *what)
{
	fprintf(stderr, "%s: %s: %s\n", program_invocation_short_name, what, err_msg());
	exit(1);
}

void bench_import(struct ledger *l, const char *branch, size_t from, size_t to, size_t chunk,
		  bench_record_fn make, void *payload)
{
	struct ledger_commit_info info = {"bench: import", "benchmark data", "bench"};
	size_t i, end;

	for (i = from; i < to; i = end) {
		struct ledger_txn t;
		git_oid commit;

		end = chunk && to - i > chunk ? i + chunk : to;
		if (ledger_txn_begin(&t, l, branch) < 0)
			bench_die("begin import");
		for (; i < end; i++) {
			json_t *rec = make(i, payload);

			if (!rec)
				bench_die("make a record");
			if (ledger_txn_put(&t, rec, true, NULL) < 0)
				bench_die("stage import");
			json_decref(rec);
		}
		if (ledger_txn_commit(&t, &info, &commit) < 0)
			bench_die("commit import");
		ledger_txn_release(&t);
	}
}

void bench_visit_id(char out[RECORD_ID_MAX], const char *office, size_t i)
{
	snprintf(out, RECORD_ID_MAX, "V-%s-B%012zu", office, i);
}

json_t *bench_visit(size_t i, void *office)
{
	char id[RECORD_ID_MAX];

	bench_visit_id(id, office, i);
	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "id", id, "type", "visit", "date",
			 "2026-11-29", "kind", "home", "worker", "grid worker 7", "notes",
			 "routine visit, household well");
}
