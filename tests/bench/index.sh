#!/bin/sh
# The index benchmark at two ledger sizes (1,000 and 1,000,000 records by default):
# reindex against bare SQLite inserts of the same rows, find in process and per CLI
# process, and catch-up after 100 and then 1,000 more amendments, with a table of the
# catch-up cost per amendment at every size at the end. Prints figures; asserts nothing.
# Build without sanitizers for meaningful figures. BENCH_SIZES overrides the sizes,
# BENCH_AMENDMENTS the catch-up rounds (e.g. 100,1000,10000).
set -eu
: "${top_builddir:=.}"
B=$top_builddir/tests/bench/bench_index
CLI=$(cd "$top_builddir/cli" && pwd)/caseledger
TMP=$(mktemp -d "${TMPDIR:-/tmp}/caseledger-bench-index.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
for n in ${BENCH_SIZES:-1000 1000000}; do
	"$B" --dir "$TMP/l$n" --records "$n" --amendments "${BENCH_AMENDMENTS:-100,1000}" \
		--cli "$CLI" | tee -a "$TMP/out"
	rm -rf "$TMP/l$n"
done
echo "catch-up cost (should grow with the amendments, hardly with the records):"
awk '/catch-up after [0-9]+ amendments/ {
	sub(":", "", $2); sub(/\(/, "", $9)
	printf "  %9s records  %6s amendments  %8s s  %7s ms/amendment\n", $2, $5, $7, $9
}' "$TMP/out"
