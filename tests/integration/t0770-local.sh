#!/bin/sh
# Local hardening: write.lock is never opened through a symlink, and a key file must
# belong to the user who signs with it (its mode alone is not enough).
. "$(dirname "$0")/lib.sh"

cl init --office 120112001001 --name Fengda "$T/l" >/dev/null
export CASELEDGER_DIR=$T/l
P=$(cl add person name="Han Mei" id_number=11010519491231002X sex=female)

say "a symlink planted as write.lock is refused, its target untouched"
echo precious >"$T/target"
rm -f "$T/l/write.lock"
ln -s "$T/target" "$T/l/write.lock"
before=$(ledger_fingerprint "$T/l")
set +e
cl amend "$P" name="Han Li" --reason typo >"$T/out" 2>"$T/err"
rc=$?
set -e
[ "$rc" -ne 0 ] || fail "amend went through the symlink"
grep -q "write.lock" "$T/err" || fail "amend: $(cat "$T/err")"
expect_eq "$(cat "$T/target")" precious "the symlink's target"
expect_eq "$(ledger_fingerprint "$T/l")" "$before" "the ledger"
rm "$T/l/write.lock"
cl amend "$P" name="Han Li" --reason typo >/dev/null || fail "amend without the symlink"

if [ "$(id -u)" -eq 0 ]; then
	say "a key file owned by another user is refused, whatever its mode"
	chown 65534 "$T/l/office.key"
	expect_fail 5 "belongs to uid 65534" cl amend "$P" name="Han Mei" --reason back
	chown 0 "$T/l/office.key"
	cl amend "$P" name="Han Mei" --reason back >/dev/null || fail "amend with our own key"
else
	say "not root: the key owner check is not exercised here"
fi
say "ok"
