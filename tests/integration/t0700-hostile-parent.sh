#!/bin/sh
# A parent the sync client must not trust blindly: a fake parent whose pkt-line lengths
# are "-001" and other strtoul-friendly lies (the client must refuse them, not read past
# its buffer or loop), and another office posing as the parent with a certificate the
# CA signed and the right host name (the client pins the parent's office code).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/synclib.sh"

city_ca 1201
issued dist 120112
issued c1 120112001001
issued c2 120112001002
FAKEPEER=$top_builddir/tests/integration/fakepeer

# fake NAME FILE…: run fakepeer as office NAME answering with FILE…; sets FPORT, FPID.
fake() {
	n=$1
	shift
	rm -f "$T/fport"
	"$FAKEPEER" "$T/$n.pem" "$T/$n/office.key" "$T/ca/ca.pem" "$@" >"$T/fport" 2>>"$T/fake.log" &
	FPID=$!
	DAEMONS="$DAEMONS $FPID"
	i=0
	while [ ! -s "$T/fport" ]; do
		i=$((i + 1))
		[ $i -lt 400 ] || fail "fakepeer did not start: $(cat "$T/fake.log")"
		sleep 0.05
	done
	FPORT=$(cat "$T/fport")
}
unfake() {
	kill "$FPID" 2>/dev/null || true
	wait "$FPID" 2>/dev/null || true
}

caps="multi_ack_detailed side-band-64k thin-pack ofs-delta no-progress"
# a good advertisement of trust (for libgit2's listing), in $T/good
trust=$(head_of city trust)
{
	printf '001e# service=git-upload-pack\n0000'
	line="$trust refs/heads/trust"
	printf '%04x%s\000%s\n' $((${#line} + ${#caps} + 6)) "$line" "$caps"
	printf '0000'
} >"$T/good"

say "a fake parent sends pkt-line lengths strtoul accepts: refused, nothing changes"
for bad in -001 -0ff +0ff ' 0ff' 0x10 ffff; do
	{
		printf '001e# service=git-upload-pack\n0000'
		printf '%s' "$bad"
		printf '%s refs/heads/trust\n' "$trust"
	} >"$T/bad"
	fake dist "$T/good" "$T/bad"
	before=$(ledger_fingerprint "$T/c1")
	set +e
	cl -C "$T/c1" sync --parent "https://127.0.0.1:$FPORT/ledger" --cert "$T/c1.pem" \
		--ca "$T/ca/ca.pem" >"$T/out" 2>"$T/err"
	rc=$?
	set -e
	[ "$rc" -eq 1 ] || fail "length '$bad': sync exited $rc: $(cat "$T/err")"
	grep -q "malformed or truncated pkt-line" "$T/out" "$T/err" ||
		fail "length '$bad': $(cat "$T/out" "$T/err")"
	expect_eq "$(ledger_fingerprint "$T/c1")" "$before" "c1 after length '$bad'"
	unfake
done

say "the same lies in the upload-pack answer"
missing=0123456789012345678901234567890123456789
{
	printf '001e# service=git-upload-pack\n0000'
	line="$missing refs/heads/trust"
	printf '%04x%s\000%s\n' $((${#line} + ${#caps} + 6)) "$line" "$caps"
	printf '0000'
} >"$T/adv"
printf '0008NAK\n-0ffXXXXXXXXXXXXXXXXXXXX' >"$T/reply"
fake dist "$T/adv" "$T/adv" "$T/reply"
before=$(ledger_fingerprint "$T/c1")
set +e
cl -C "$T/c1" sync --parent "https://127.0.0.1:$FPORT/ledger" --cert "$T/c1.pem" \
	--ca "$T/ca/ca.pem" >"$T/out" 2>"$T/err"
set -e
grep -q "malformed or truncated pkt-line" "$T/out" "$T/err" || fail "upload-pack answer: $(cat "$T/out" "$T/err")"
expect_eq "$(ledger_fingerprint "$T/c1")" "$before" "c1 after the bad answer"
unfake

say "community 1 posing as community 2's parent: refused in the handshake"
daemon_conf c1
start c1
daemon_conf c2 "parent=https://127.0.0.1:$PORT_c1/ledger"
start c2
CASELEDGER_DIR=$T/c2 cl add person name="Wang Wu" id_number=11010519491231002X >/dev/null
c1_before=$(ledger_fingerprint "$T/c1")
set +e
cl -C "$T/c2" sync --wait >"$T/out" 2>"$T/err"
rc=$?
set -e
[ "$rc" -ne 0 ] || fail "c2 synced with c1 as its parent: $(cat "$T/out")"
grep -q "is office 120112001001, not an office above 120112001002" "$T/out" "$T/err" ||
	fail "c2's sync with c1: $(cat "$T/out" "$T/err")"
expect_eq "$(ledger_fingerprint "$T/c1")" "$c1_before" "c1 after c2's sync"
expect_eq "$(head_of c1 120112001002)" none "c2's branch on c1"

say "in-process too, and with parent_office the district itself is refused as the city"
expect_fail 1 "is office 120112001001, not an office above 120112001002" \
	cl -C "$T/c2" sync --parent "https://127.0.0.1:$PORT_c1/ledger" --cert "$T/c2.pem" \
	--ca "$T/ca/ca.pem"
daemon_conf dist
start dist
expect_fail 1 "is office 120112, not the parent office 1201" \
	cl -C "$T/c2" sync --parent "https://127.0.0.1:$PORT_dist/ledger" --cert "$T/c2.pem" \
	--ca "$T/ca/ca.pem" --parent-office 1201
expect_eq "$(head_of dist 120112001002)" none "c2's branch on the district"

say "the real parent is accepted, pinned or not"
daemon_conf city
start city
cl -C "$T/c2" sync --parent "https://127.0.0.1:$PORT_city/ledger" --cert "$T/c2.pem" \
	--ca "$T/ca/ca.pem" --parent-office 1201 >"$T/out" 2>"$T/err" ||
	fail "sync with the city: $(cat "$T/out" "$T/err")"
expect_eq "$(head_of city 120112001002)" "$(head_of c2 120112001002)" "c2's branch on the city"
CASELEDGER_DIR=$T/c2 cl add person name="Zhao Liu" id_number=11010519491231002X >/dev/null
cl -C "$T/c2" sync --parent "https://127.0.0.1:$PORT_city/ledger" --cert "$T/c2.pem" \
	--ca "$T/ca/ca.pem" >"$T/out" 2>"$T/err" || fail "sync with the city: $(cat "$T/out" "$T/err")"
expect_eq "$(head_of city 120112001002)" "$(head_of c2 120112001002)" "c2's branch on the city"
say "ok"
