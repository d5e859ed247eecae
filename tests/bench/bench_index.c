/*
 * bench_index: what the index costs and what it buys, on a ledger of N person records.
 *
 *   bench_index --dir NEWDIR [--records N] [--amendments M[,M...]] [--cli PATH] [--queries Q]
 *
 * 1. reindex: index_rebuild of the whole ledger (read every blob from git, decode, fill
 *    records, fields, persons and the change log, build the secondary indexes), against
 *    the reference: the very same rows inserted into bare SQLite tables (same columns,
 *    no indexes, no constraints) in one transaction with prepared statements. The rows
 *    are streamed from the built index; the time of that read alone is measured and
 *    taken off, so the reference is the insert cost only. Ratio = reference / reindex.
 * 2. find by ID number and by name prefix: in process (index_find), and as a whole CLI
 *    process (fork + exec of PATH, output to /dev/null), averaged.
 * 3. catch-up after M amendments (each its own signed commit; the k-th amends the k-th
 *    record of a fixed shuffle), for each M of the list in turn (default 100,1000),
 *    printing the cost per amendment: it should follow M, hardly the ledger's size;
 *    then after one.
 * Nothing here asserts a time: it prints figures.
 */
#include "config.h"

#include <fcntl.h>
#include <getopt.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "err.h"
#include "index.h"
#include "benchlib.h"
#include "ledger.h"

#define OFFICE "120112001001"

extern char **environ;

static const char *const surnames[] = {"Han",  "Li",	"Wang", "Zhang", "Liu", "Chen", "Yang",
				       "Zhao", "Huang", "Zhou", "Wu",	 "Xu",	"Sun",	"Ma"};
static const char *const given[] = {"Mei", "Ming", "Jun", "Xiao", "Hua", "Lei", "Yan", "Jie"};

/* A valid 18-character resident ID, different for every i < 25000 * 1000. */
static void id_number(char out[24], size_t i)
{
	static const int w[17] = {7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2};
	static const char check[] = "10X98765432";
	time_t day = (time_t)(-946771200 + (long)(i % 25000) * 86400); /* from 1940-01-01 */
	struct tm tm;
	int k, sum = 0;

	gmtime_r(&day, &tm);
	snprintf(out, 24, "120112%04d%02d%02d%03u", tm.tm_year % 10000 + 1900,
		 (tm.tm_mon + 1) % 100, tm.tm_mday % 100, (unsigned)(i / 25000) % 1000);
	for (k = 0; k < 17; k++)
		sum += (out[k] - '0') * w[k];
	out[17] = check[sum % 11];
	out[18] = '\0';
}

static void person_name(char *out, size_t n, size_t i)
{
	snprintf(out, n, "%s %s %07zu", surnames[i % 14], given[(i / 14) % 8], i);
}

/*
 * n person records in commits of at most IMPORT_CHUNK puts, as an office importing its
 * records in batches would: each chunk is one pack (above the 512-change threshold), so
 * a 1,000,000-record ledger has 20 packs, and from the eighth on a multi-pack-index.
 */
#define IMPORT_CHUNK 50000

/* Person i: a valid resident ID number and a name from the lists above. */
static json_t *person(size_t i, void *payload)
{
	char id[RECORD_ID_MAX], idn[24], name[64];

	snprintf(id, sizeof(id), "P-%s-B%012zu", OFFICE, i);
	id_number(idn, i);
	person_name(name, sizeof(name), i);
	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "id", id, "type", "person", "name",
			 name, "id_type", "resident-id", "id_number", idn, "sex",
			 i % 2 ? "male" : "female", "category", "none");
}

static void import(struct ledger *l, size_t n, char (*ids)[RECORD_ID_MAX])
{
	size_t i;

	bench_import(l, NULL, 0, n, IMPORT_CHUNK, person, NULL);
	for (i = 0; i < n; i++)
		snprintf(ids[i], RECORD_ID_MAX, "P-%s-B%012zu", OFFICE, i);
}

static void amend(struct ledger *l, const char *id, size_t k)
{
	struct ledger_commit_info info = {"bench: amend", "benchmark amendment", "bench"};
	struct ledger_txn t;
	json_t *rec = NULL;
	char phone[32];
	git_oid commit;

	snprintf(phone, sizeof(phone), "138%08zu", k);
	if (ledger_txn_begin(&t, l, NULL) < 0 || ledger_txn_get(&rec, &t, id) < 0)
		bench_die("amend: read");
	json_object_set_new(rec, "phone", json_string(phone));
	if (ledger_txn_put(&t, rec, false, NULL) < 0 || ledger_txn_commit(&t, &info, &commit) < 0)
		bench_die("amend: commit");
	json_decref(rec);
	ledger_txn_release(&t);
}

/* --- the reference: the same rows into bare tables ------------------------------------ */

static const char *const ref_tables[][3] = {
    {"records", "branch, id, type, status, office, void, hlc, blob, json", "?,?,?,?,?,?,?,?,?"},
    {"fields", "rec, field, value, type", "?,?,?,?"},
    {"persons", "rec, id_number, id_type", "?,?,?"},
    {"changes",
     "branch, commit_id, time, tz, office, operator, subject, reason, hlc, record, type, kind, "
     "fields",
     "?,?,?,?,?,?,?,?,?,?,?,?,?"},
};

static void sql_ok(sqlite3 *db, int rc, const char *what)
{
	if (rc != SQLITE_OK && rc != SQLITE_DONE && rc != SQLITE_ROW) {
		fprintf(stderr, "bench_index: %s: %s\n", what, sqlite3_errmsg(db));
		exit(1);
	}
}

/* Stream every row of the index's tables; with dst, insert each into dst's bare tables. */
static size_t copy_rows(sqlite3 *src, sqlite3 *dst)
{
	size_t t, rows = 0;

	for (t = 0; t < sizeof(ref_tables) / sizeof(ref_tables[0]); t++) {
		char sql[512];
		sqlite3_stmt *rd = NULL, *wr = NULL;
		int ncol, c;

		snprintf(sql, sizeof(sql), "SELECT %s FROM %s", ref_tables[t][1], ref_tables[t][0]);
		sql_ok(src, sqlite3_prepare_v2(src, sql, -1, &rd, NULL), "read");
		ncol = sqlite3_column_count(rd);
		if (dst) {
			snprintf(sql, sizeof(sql), "INSERT INTO %s(%s) VALUES(%s)",
				 ref_tables[t][0], ref_tables[t][1], ref_tables[t][2]);
			sql_ok(dst, sqlite3_prepare_v2(dst, sql, -1, &wr, NULL), "prepare insert");
		}
		while (sqlite3_step(rd) == SQLITE_ROW) {
			rows++;
			if (!dst)
				continue;
			for (c = 0; c < ncol; c++)
				sqlite3_bind_value(wr, c + 1, sqlite3_column_value(rd, c));
			sql_ok(dst, sqlite3_step(wr), "insert");
			sqlite3_reset(wr);
		}
		sqlite3_finalize(rd);
		sqlite3_finalize(wr);
	}
	return rows;
}

static double reference(const char *dir, double *scan_s, size_t *rows)
{
	char src_path[4096], dst_path[4096];
	sqlite3 *src = NULL, *dst = NULL;
	double t0, total;

	snprintf(src_path, sizeof(src_path), "%s/index.db", dir);
	snprintf(dst_path, sizeof(dst_path), "%s/bare.db", dir);
	unlink(dst_path);
	sql_ok(src, sqlite3_open_v2(src_path, &src, SQLITE_OPEN_READONLY, NULL), "open index");
	sql_ok(dst, sqlite3_open(dst_path, &dst), "open bare");
	sql_ok(
	    dst,
	    sqlite3_exec(dst,
			 "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
			 "PRAGMA cache_size=-131072;"
			 "CREATE TABLE records(branch, id, type, status, office, void, hlc, blob,"
			 " json);"
			 "CREATE TABLE fields(rec, field, value, type);"
			 "CREATE TABLE persons(rec, id_number, id_type);"
			 "CREATE TABLE changes(branch, commit_id, time, tz, office, operator,"
			 " subject, reason, hlc, record, type, kind, fields);",
			 NULL, NULL, NULL),
	    "create bare tables");
	copy_rows(src, NULL); /* warm the page cache for both passes */
	t0 = bench_now();
	*rows = copy_rows(src, NULL);
	*scan_s = bench_now() - t0;
	t0 = bench_now();
	sql_ok(dst, sqlite3_exec(dst, "BEGIN", NULL, NULL, NULL), "begin");
	copy_rows(src, dst);
	sql_ok(dst, sqlite3_exec(dst, "COMMIT", NULL, NULL, NULL), "commit");
	total = bench_now() - t0;
	sqlite3_close(src);
	sqlite3_close(dst);
	unlink(dst_path);
	snprintf(dst_path, sizeof(dst_path), "%s/bare.db-wal", dir);
	unlink(dst_path);
	snprintf(dst_path, sizeof(dst_path), "%s/bare.db-shm", dir);
	unlink(dst_path);
	return total - *scan_s;
}

/* --- find -------------------------------------------------------------------------------- */

static double find_in_process(struct index *ix, struct ledger *l, size_t n, size_t q, bool by_name,
			      size_t *hits)
{
	double t0 = bench_now();
	size_t k;

	*hits = 0;
	for (k = 0; k < q; k++) {
		size_t i = (k * 7919u + 13u) % n;
		char value[64];
		struct index_cond c;
		json_t *rows = NULL;

		if (by_name) {
			person_name(value, sizeof(value), i);
			value[strlen(value) - 1] = '\0'; /* prefix: up to 10 people */
			c = (struct index_cond){"name", INDEX_PREFIX, value};
		} else {
			id_number(value, i);
			c = (struct index_cond){"id_number", INDEX_EQ, value};
		}
		if (index_find(&rows, ix, l, "person", &c, 1, NULL, 50) < 0)
			bench_die("find");
		*hits += json_array_size(rows);
		json_decref(rows);
	}
	return (bench_now() - t0) / (double)q;
}

static double find_cli(const char *cli, const char *dir, size_t n, size_t q, bool by_name)
{
	posix_spawn_file_actions_t fa;
	double t0;
	size_t k;

	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	t0 = bench_now();
	for (k = 0; k < q; k++) {
		size_t i = (k * 104729u + 7u) % n;
		char value[64], cond[96];
		pid_t pid;
		int status;

		if (by_name) {
			person_name(value, sizeof(value), i);
			value[strlen(value) - 1] = '\0';
			snprintf(cond, sizeof(cond), "name~%s", value);
		} else {
			id_number(value, i);
			snprintf(cond, sizeof(cond), "id_number=%s", value);
		}
		/* posix_spawn, not fork: forking this big process would copy its page
		 * tables, a cost that is the benchmark's and not the CLI's. */
		char *args[] = {(char *)cli, "-C", (char *)dir, "find",
				"person",    cond, "--json",	NULL};

		if (posix_spawn(&pid, cli, &fa, NULL, args, environ) != 0)
			pid = -1;
		if (pid < 0 || waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) ||
		    WEXITSTATUS(status) != 0) {
			fprintf(stderr, "bench_index: '%s find person %s' failed\n", cli, cond);
			exit(1);
		}
	}
	t0 = (bench_now() - t0) / (double)q;
	posix_spawn_file_actions_destroy(&fa);
	return t0;
}

/* Make m amendments (the k-th to the k-th record of a fixed shuffle), then time the
 * catch-up that brings the index to them. */
static void catch_up_after(struct index *ix, struct ledger *l, char (*ids)[RECORD_ID_MAX], size_t n,
			   size_t m, size_t *k)
{
	struct index_progress p;
	double t0, t_amend, t_catch;
	size_t i;

	t0 = bench_now();
	for (i = 0; i < m; i++, (*k)++)
		amend(l, ids[(*k * 7919u + 13u) % n], *k);
	t_amend = bench_now() - t0;
	t0 = bench_now();
	if (index_catch_up(ix, l, &p) < 0)
		bench_die("catch-up");
	t_catch = bench_now() - t0;
	printf("records %zu: catch-up after %zu amendments %.3f s (%.3f ms/amendment; %zu "
	       "commits, %zu changes); making them took %.2f s\n",
	       n, m, t_catch, t_catch * 1e3 / (double)m, p.commits, p.changes, t_amend);
}

static long file_kb(const char *dir, const char *name)
{
	char path[4096];
	struct stat st;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return stat(path, &st) == 0 ? (long)(st.st_size / 1024) : 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"records", required_argument, NULL, 'n'}, {"amendments", required_argument, NULL, 'm'},
	    {"dir", required_argument, NULL, 'd'},     {"cli", required_argument, NULL, 'c'},
	    {"queries", required_argument, NULL, 'q'}, {0},
	};
	struct ledger_init_opts io = {0};
	struct index_progress p;
	struct ledger *l = NULL;
	struct index *ix = NULL;
	char(*ids)[RECORD_ID_MAX];
	size_t n = 100000, q = 2000, k = 0, hits, rows;
	const char *dir = NULL, *cli = NULL, *rounds = "100,1000", *r;
	char *end;
	double t0, t_import, t_reindex, t_ref, t_scan, f_id, f_name, t_one;
	int c;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == 'n')
			n = strtoul(optarg, NULL, 10);
		else if (c == 'm')
			rounds = optarg;
		else if (c == 'd')
			dir = optarg;
		else if (c == 'c')
			cli = optarg;
		else if (c == 'q')
			q = strtoul(optarg, NULL, 10);
		else
			return 2;
	}
	if (!dir || n == 0 || q == 0 || n > 25000000 || strspn(rounds, "0123456789,") == 0 ||
	    rounds[strspn(rounds, "0123456789,")]) {
		fprintf(stderr, "usage: bench_index --dir NEWDIR [--records N] [--amendments "
				"M[,M...]] [--cli PATH] [--queries Q]\n");
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
	import(l, n, ids);
	t_import = bench_now() - t0;
	if (index_open(&ix, l) < 0)
		bench_die("open index");

	t0 = bench_now();
	if (index_rebuild(ix, l, &p) < 0)
		bench_die("reindex");
	t_reindex = bench_now() - t0;
	index_free(ix);
	ix = NULL;
	t_ref = reference(dir, &t_scan, &rows);
	if (index_open(&ix, l) < 0)
		bench_die("open index");
	printf("records %zu: import %.2f s; index %ld KB (+ WAL %ld KB)\n", n, t_import,
	       file_kb(dir, "index.db"), file_kb(dir, "index.db-wal"));
	printf("records %zu: reindex %.2f s (%zu changes, %zu rows); bare SQLite inserts of the "
	       "same rows %.2f s (read of them %.2f s taken off); ratio bare/reindex %.2f "
	       "(target >= 0.5)\n",
	       n, t_reindex, p.changes, rows, t_ref, t_scan, t_ref / t_reindex);

	f_id = find_in_process(ix, l, n, q, false, &hits);
	printf("records %zu: find by id_number in process %.3f ms/query (%zu queries, %zu hits)\n",
	       n, f_id * 1e3, q, hits);
	f_name = find_in_process(ix, l, n, q, true, &hits);
	printf("records %zu: find by name prefix in process %.3f ms/query (%zu queries, %zu hits; "
	       "target < 5 ms)\n",
	       n, f_name * 1e3, q, hits);
	if (cli) {
		f_id = find_cli(cli, dir, n, 50, false);
		f_name = find_cli(cli, dir, n, 50, true);
		printf("records %zu: find as a CLI process: by id_number %.1f ms, by name prefix "
		       "%.1f ms (50 runs each; target < 20 ms)\n",
		       n, f_id * 1e3, f_name * 1e3);
	}

	for (r = rounds; *r; r = *end ? end + 1 : end) {
		size_t m = strtoul(r, &end, 10);

		if (m > 0)
			catch_up_after(ix, l, ids, n, m, &k);
	}
	amend(l, ids[n / 2], k + 1);
	t0 = bench_now();
	if (index_catch_up(ix, l, &p) < 0)
		bench_die("catch-up one");
	t_one = bench_now() - t0;
	printf("records %zu: catch-up after 1 amendment %.3f ms\n", n, t_one * 1e3);

	index_free(ix);
	free(ids);
	ledger_free(l);
	return 0;
}
