/*
 * benchlib: what every benchmark program shares — a monotonic clock, dying with the
 * error message, and building large ledgers fast (many puts per transaction: above 512
 * changes a transaction writes one pack).
 */
#ifndef CASELEDGER_BENCHLIB_H
#define CASELEDGER_BENCHLIB_H

#include <stddef.h>

#include <jansson.h>

#include "ledger.h"

/* Seconds on the monotonic clock. */
double bench_now(void);

/* Print "PROGRAM: what: <error message>" and exit 1. */
void bench_die(const char *what) __attribute__((noreturn));

/* A new record for index i (a new reference), or NULL when out of memory. */
typedef json_t *(*bench_record_fn)(size_t i, void *payload);

/*
 * Create the records make(i) for i in [from, to) on branch (NULL: the office's own),
 * committing every chunk records (0: all in one commit). Dies on any error.
 */
void bench_import(struct ledger *l, const char *branch, size_t from, size_t to, size_t chunk,
		  bench_record_fn make, void *payload);

/* The id of visit i of a bulk import by office: "V-<office>-B<i, 12 digits>". */
void bench_visit_id(char out[RECORD_ID_MAX], const char *office, size_t i);

/* A bench_record_fn: visit i of the office (a const char * payload). */
json_t *bench_visit(size_t i, void *office);

#endif
