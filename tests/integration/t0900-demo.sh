#!/bin/sh
# The README's main command stays true: the multi-office demo runs to the end (it checks
# convergence, the conflict's round trip and every signature itself, and exits non-zero
# on any failure).
. "$(dirname "$0")/lib.sh"
export CASELEDGERD="$top_builddir/daemon/caseledgerd"
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}fast_unwind_on_malloc=0"
export LSAN_OPTIONS="suppressions=$top_srcdir/tests/integration/lsan-libs.supp"
unset GIT_SSL_CAINFO SSL_CERT_FILE SSL_CERT_DIR
DEMO_DIR="$T/demo" sh "$top_srcdir/tests/demo.sh" >"$T/demo.out" 2>&1 ||
	fail "the demo failed: $(tail -20 "$T/demo.out")"
grep -q "stock git verify-commit: all [0-9]* commits at the city have a good signature" \
	"$T/demo.out" || fail "the demo did not reach its checks: $(tail -20 "$T/demo.out")"
grep -q "^name *Han Meimei" "$T/demo.out" || fail "the resolution did not reach Fengda"
say "ok"
