#!/bin/sh
# The index benchmark at two ledger sizes (1,000 and 1,000,000 records by default):
# reindex against bare SQLite inserts of the same rows, find in process and per CLI
# process, and catch-up after 1,000 amendments. Prints figures; asserts nothing.
# Build without sanitizers for meaningful figures. BENCH_SIZES overrides the sizes.
set -eu
: "${top_builddir:=.}"
B=$top_builddir/tests/bench/bench_index
CLI=$(cd "$top_builddir/cli" && pwd)/caseledger
TMP=$(mktemp -d "${TMPDIR:-/tmp}/caseledger-bench-index.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
for n in ${BENCH_SIZES:-1000 1000000}; do
	"$B" --dir "$TMP/l$n" --records "$n" --amendments 1000 --cli "$CLI"
	rm -rf "$TMP/l$n"
done
