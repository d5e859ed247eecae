#!/bin/sh
# Run every fuzz target under libFuzzer with coverage, ASan and UBSan.
#
#   make fuzz [FUZZ_SECONDS=N] [FUZZ_JOBS=N] [FUZZ_TARGETS="record sig"] [FUZZ_MERGE=1]
#
# Configures a clang build (--enable-libfuzzer) in $FUZZ_BUILD (default
# ./fuzz-build), then runs each target for FUZZ_SECONDS (default 60), FUZZ_JOBS at a time
# (default: all), seeded with tests/fuzz/corpus/<name>. New inputs go to
# $FUZZ_BUILD/corpus/<name>; a crash, leak or timeout leaves its input in
# $FUZZ_BUILD/artifacts/<name>/ and fails the run. FUZZ_MERGE=1 minimises what was found
# into tests/fuzz/corpus/<name> (inputs that add coverage), for committing.
# The last lines are a table: target, executions, exec/s, coverage (edges), features,
# corpus size, and the result.
set -eu

top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
FUZZ_SECONDS=${FUZZ_SECONDS:-60}
FUZZ_TIMEOUT=${FUZZ_TIMEOUT:-60}
FUZZ_BUILD=${FUZZ_BUILD:-$PWD/fuzz-build}
FUZZ_TARGETS=${FUZZ_TARGETS:-${FUZZ_NAMES:-xfer sync packidx slim record schema config sig}}
FUZZ_JOBS=${FUZZ_JOBS:-0}
FUZZ_MERGE=${FUZZ_MERGE:-0}

command -v clang >/dev/null || { echo "fuzz: needs clang (apt-get install clang)" >&2; exit 2; }
mkdir -p "$FUZZ_BUILD"
FUZZ_BUILD=$(cd "$FUZZ_BUILD" && pwd)
cd "$FUZZ_BUILD"
if [ ! -f Makefile ]; then
	echo "fuzz: configuring a libFuzzer build in $FUZZ_BUILD"
	"$top_srcdir/configure" CC=clang --enable-libfuzzer >configure.log 2>&1 ||
		{ tail -20 configure.log >&2; exit 2; }
fi
progs=""
for t in $FUZZ_TARGETS; do progs="$progs tests/fuzz/fuzz_$t"; done
# shellcheck disable=SC2086
make -j2 $progs >make.log 2>&1 || { tail -30 make.log >&2; exit 2; }

# leaks are found per input by libFuzzer; the check at exit would also count libFuzzer's own
# buffers while its watchdog thread runs
export ASAN_OPTIONS=detect_leaks=1:leak_check_at_exit=0:abort_on_error=1:symbolize=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
run_one() {
	t=$1
	mkdir -p "corpus/$t" "artifacts/$t"
	rm -f "artifacts/$t"/*
	"./tests/fuzz/fuzz_$t" -max_total_time="$FUZZ_SECONDS" -timeout="$FUZZ_TIMEOUT" \
		-rss_limit_mb=2048 -max_len=65536 -print_final_stats=1 \
		-artifact_prefix="artifacts/$t/" "corpus/$t" "$top_srcdir/tests/fuzz/corpus/$t" \
		>"fuzz-$t.log" 2>&1 && echo 0 >"fuzz-$t.rc" || echo $? >"fuzz-$t.rc"
}
echo "fuzz: $FUZZ_TARGETS, ${FUZZ_SECONDS}s each"
started=0
for t in $FUZZ_TARGETS; do
	run_one "$t" &
	started=$((started + 1))
	if [ "$FUZZ_JOBS" -gt 0 ] && [ $((started % FUZZ_JOBS)) -eq 0 ]; then wait; fi
done
wait

rc=0
printf '%-8s %12s %8s %6s %6s %7s  %s\n' target execs exec/s cov ft corpus result >report.txt
for t in $FUZZ_TARGETS; do
	last=$(grep -E '^#[0-9]+' "fuzz-$t.log" | tail -1)
	execs=$(echo "$last" | sed -n 's/^#\([0-9]*\).*/\1/p')
	cov=$(echo "$last" | sed -n 's/.*cov: \([0-9]*\).*/\1/p')
	ft=$(echo "$last" | sed -n 's/.* ft: \([0-9]*\).*/\1/p')
	corp=$(echo "$last" | sed -n 's/.*corp: \([0-9]*\).*/\1/p')
	eps=$(sed -n 's/^stat::average_exec_per_sec: *//p' "fuzz-$t.log" | tail -1)
	result=ok
	if [ "$(cat "fuzz-$t.rc")" -ne 0 ] || ls "artifacts/$t" | grep -q .; then
		result="FAILED: $(ls "artifacts/$t" | tr '\n' ' ')(see $FUZZ_BUILD/fuzz-$t.log)"
		rc=1
	fi
	printf '%-8s %12s %8s %6s %6s %7s  %s\n' "$t" "${execs:-?}" "${eps:-?}" "${cov:-?}" \
		"${ft:-?}" "${corp:-?}" "$result" >>report.txt
	if [ "$FUZZ_MERGE" = 1 ] && [ "$result" = ok ]; then
		"./tests/fuzz/fuzz_$t" -merge=1 -timeout="$FUZZ_TIMEOUT" -max_len=65536 \
			"$top_srcdir/tests/fuzz/corpus/$t" "corpus/$t" >"fuzz-$t.merge.log" 2>&1 ||
			{ echo "fuzz: merging $t failed (see fuzz-$t.merge.log)" >&2; rc=1; }
	fi
done
cat report.txt
exit $rc
