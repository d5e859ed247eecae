#!/bin/sh
# Log and terminal injection: a refused certificate's CN holding a newline and a forged
# log line, replicated text holding a newline that `show` would print as a field of its
# own, escapes and bidirectional controls. Every log line and every human output escapes
# what a terminal would obey; single-line text fields refuse line breaks, and no text
# field holds control or bidirectional characters.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/synclib.sh"
FORGE=$top_builddir/tests/integration/forge

city_ca 1201
issued c1 120112001001
daemon_conf city
start city

say "a certificate from another CA whose CN forges a log line: one escaped line"
mkca "$T/evil" Evil
mkkey "$T/evil.key"
forged="x
caseledgerd[1] info: push from '1201': trust a -> b"
openssl req -new -x509 -key "$T/evil.key" -subj "/CN=$forged" -days 2 -out "$T/evil.pem" 2>/dev/null ||
	fail "cannot make the forged certificate"
openssl x509 -in "$T/evil.pem" -noout -subject | grep -q 'push from' || fail "openssl dropped the CN"
curl -s --max-time 60 --cacert "$T/ca/ca.pem" --cert "$T/evil.pem" --key "$T/evil.key" \
	"https://127.0.0.1:$PORT_city/ledger/info/refs?service=git-upload-pack" >/dev/null 2>&1 || true
wait_eq "grep -c 'refused client certificate' '$T/city.log'" 1 "the refusal logged"
if grep -q '^caseledgerd\[1\]' "$T/city.log"; then
	fail "a forged line reached the log: $(cat "$T/city.log")"
fi
grep -q "refused client certificate 'x\\\\ncaseledgerd\[1\] info: push from" "$T/city.log" ||
	fail "the CN is not shown escaped: $(grep refused "$T/city.log")"

say "an escape in a request URI is logged escaped"
printf 'GET /ledger/\033[2Jx HTTP/1.1\r\nHost: a\r\n\r\n' >"$T/req"
openssl s_client -quiet -connect "127.0.0.1:$PORT_city" -cert "$T/c1.pem" -key "$T/c1/office.key" \
	-CAfile "$T/ca/ca.pem" <"$T/req" >/dev/null 2>&1 || true
wait_eq "grep -c 'x1b\[2Jx' '$T/city.log'" 1 "the URI logged"
if grep -q "$(printf '\033')" "$T/city.log"; then fail "a raw escape reached the log"; fi

export CASELEDGER_DIR=$T/c1
P=$(cl add person name="Han Mei" id_number=11010519491231002X sex=female)

say "single-line fields refuse line breaks; no field takes controls or bidi controls"
before=$(ledger_fingerprint "$T/c1")
expect_fail 4 "field 'reason' is one line" cl add case subject=$P programme=minimum-living-guarantee \
	monthly_amount=120000 "reason=x
status           approved"
expect_fail 4 "field 'name' is one line" cl amend $P "name=Han
Mei" --reason typo
expect_fail 4 "bidirectional control" cl amend $P "name=$(printf 'Han \342\200\256ieM')" --reason typo
expect_fail 4 "control character" cl amend $P "name=$(printf 'Han\033[2J')" --reason typo
expect_fail 4 "holds control characters" cl amend $P name="Han Li" --reason "$(printf 'ok\033[31m')"
expect_eq "$(ledger_fingerprint "$T/c1")" "$before" "the ledger after the refusals"

say "a multi-line field shows its line breaks escaped: no fake field line under show"
V=$(cl add visit date=2026-01-02 worker=Zhou kind=home "notes=all well
status           approved")
cl show "$V" >"$T/out"
if grep -q '^status' "$T/out"; then fail "show printed a fake field: $(cat "$T/out")"; fi
grep -q 'all well\\nstatus' "$T/out" || fail "show: $(cat "$T/out")"
cl show "$V" --json >"$T/v.json"
expect_eq "$(json_get "$T/v.json" '$.notes')" "all well
status           approved" "the stored notes"

say "a replicated record with a line break in a one-line field is bad, whoever signed it"
sed 's/"name": "Han Mei"/"name": "Han Mei\\nstatus  approved"/' >"$T/p.json" <<EOJ
$(cl show "$P" --json)
EOJ
grep -q 'approved' "$T/p.json" || fail "sed: $(cat "$T/p.json")"
x=$(CASELEDGER_FAKE_TIME=$(($(date +%s) + 5)) "$FORGE" "$T/c1" "$T/c1/office.key" 120112001001 --record "$T/p.json")
git -C "$T/c1" update-ref refs/heads/120112001001 "$x"
set +e
cl verify >"$T/out" 2>&1
rc=$?
set -e
[ "$rc" -eq 7 ] || fail "verify exited $rc: $(cat "$T/out")"
grep -q "is one line" "$T/out" || fail "verify: $(cat "$T/out")"
cl log "$P" >"$T/out" 2>&1 || true
if grep -q '^status' "$T/out"; then fail "log printed a fake line: $(cat "$T/out")"; fi
say "ok"
