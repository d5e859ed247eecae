# Shared set-up for integration tests: a private temp dir, the caseledger under test,
# and assertions. Source it first; each test is a plain sh script run by `make check`.
set -eu
exec </dev/null # CI runs with no standard input; tests never read it

: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
: "${CASELEDGER:=$top_builddir/cli/caseledger}"
export CASELEDGER_OPERATOR=tester
unset CASELEDGER_DIR CASELEDGER_FAKE_TIME
export CASELEDGER_CONFIG=/dev/null

TEST_NAME=$(basename "$0" .sh)
T=$(mktemp -d "${TMPDIR:-/tmp}/caseledger-$TEST_NAME.XXXXXX")
cleanup() {
	rc=$?
	[ -n "${CLEANUP_EXTRA:-}" ] && eval "$CLEANUP_EXTRA" || true
	if [ "$rc" -eq 0 ] || [ -z "${KEEP_TMP:-}" ]; then rm -rf "$T"; fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say() { printf '# %s\n' "$*"; }
fail() {
	printf 'FAIL: %s\n' "$*" >&2
	exit 1
}

cl() { "$CASELEDGER" "$@"; }

# expect_fail EXIT_CODE MESSAGE_SUBSTRING command…: the command must fail with that
# exit code and print the substring on stderr.
expect_fail() {
	want_rc=$1
	want_msg=$2
	shift 2
	set +e
	"$@" >"$T/out" 2>"$T/err"
	got=$?
	set -e
	[ "$got" -eq "$want_rc" ] || fail "'$*' exited $got, wanted $want_rc; stderr: $(cat "$T/err")"
	grep -qF -- "$want_msg" "$T/err" || fail "'$*' stderr lacks '$want_msg': $(cat "$T/err")"
}

# expect_eq GOT WANT WHAT
expect_eq() {
	[ "$1" = "$2" ] || fail "$3: got '$1', wanted '$2'"
}

# json_get FILE EXPR: a value out of JSON, with sqlite3's JSON functions (no jq needed).
json_get() {
	sqlite3 :memory: "select json_extract(readfile('$1'), '$2');"
}

# A snapshot of everything a ledger holds that matters: refs and all objects reachable.
ledger_fingerprint() {
	git -C "$1" for-each-ref --format='%(refname) %(objectname)' | sort
	git -C "$1" rev-list --objects --all | sort | sha256sum
}

