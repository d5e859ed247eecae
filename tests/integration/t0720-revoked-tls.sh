#!/bin/sh
# A revoked office is refused in the TLS handshake as soon as the city's revocation is on
# the trust branch the daemon holds: no SIGHUP, no export to a [daemon] crl file.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/synclib.sh"

city_ca 1201
issued c1 120112001001
issued c2 120112001002
daemon_conf city
start city
URL="https://127.0.0.1:$PORT_city/ledger/info/refs?service=git-upload-pack"

# refs NAME: what the city's daemon answers office NAME's certificate (HTTP status, or 000)
refs() {
	curl -s -o /dev/null -w '%{http_code}' --max-time 60 --cacert "$T/ca/ca.pem" \
		--cert "$T/$1.pem" --key "$T/$1/office.key" "$URL" || true
}

say "before the revocation both communities read"
expect_eq "$(refs c1)" 200 "c1 before"
expect_eq "$(refs c2)" 200 "c2 before"
cl -C "$T/c1" sync --parent "https://127.0.0.1:$PORT_city/ledger" --cert "$T/c1.pem" \
	--ca "$T/ca/ca.pem" >/dev/null 2>"$T/err" || fail "c1's first sync: $(cat "$T/err")"

say "the city revokes community 1 on its trust branch: the next handshake refuses it"
cl -C "$T/city" ca revoke 120112001001 --reason "laptop stolen" >/dev/null
kill -0 "$PID_city" || fail "the daemon died"
expect_eq "$(refs c1)" 000 "c1 after its revocation"
grep -q "refused client certificate '120112001001': certificate revoked" "$T/city.log" ||
	fail "no refusal logged: $(tail -5 "$T/city.log")"
set +e
cl -C "$T/c1" sync --parent "https://127.0.0.1:$PORT_city/ledger" --cert "$T/c1.pem" \
	--ca "$T/ca/ca.pem" >"$T/out" 2>&1
rc=$?
set -e
[ "$rc" -ne 0 ] || fail "c1 still syncs: $(cat "$T/out")"
expect_eq "$(refs c2)" 200 "c2 after c1's revocation"
grep -q "signal 1" "$T/city.log" && fail "the daemon was sent SIGHUP"
say "ok"
