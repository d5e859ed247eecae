#!/bin/sh
# make bench-merge: caseledger's record-level merge against stock git merge (ort) of the
# same two branches of a 100,000-record ledger (5,000 records changed on each side, 100 on
# both), in one run. Figures only: no timed assertions. BENCH_RECORDS etc. scale it down.
set -eu
: "${top_builddir:=.}"
T=$(mktemp -d "${TMPDIR:-/tmp}/caseledger-bench-merge.XXXXXX")
trap 'rm -rf "$T"' EXIT
export CASELEDGER_OPERATOR=bench CASELEDGER_CONFIG=/dev/null
"$top_builddir/tests/bench/bench_merge" --dir "$T/ledger" \
	--records "${BENCH_RECORDS:-100000}" --changed "${BENCH_CHANGED:-5000}" \
	--both "${BENCH_BOTH:-100}"
