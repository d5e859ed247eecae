#!/bin/sh
# Slim packs (doc/protocol.md, "Slim packs") between community c1 and the city, both
# ways, against git packs of as many amendments (sync_packs = plain), all through the
# city's caseledgerd over TLS:
#   - each batch arrives, and the city's log counts the bytes of each request's pack
#     (receive-pack) or answer (upload-pack): slim is under half of plain, both ways;
#   - the trees the receiver rebuilt are the ones the sender signed: both ledgers verify
#     and pass git fsck --strict, and hold the same tree for the branch;
#   - a sync's requests (advertisements, and a request per step of sync_step = 50 both
#     ways) share one kept-alive TLS connection: the city counts far fewer connections
#     than requests (a kept connection the city closes is replaced, so not exactly one);
#   - stock git still clones from the city (it never asks for a slim pack);
#   - a push that asks for a slim pack and sends a broken one is refused with the reason
#     (in the report's unpack line), and the branch does not move. Hand-made slim packs of
#     every other kind of fault are in test_slim and fuzz_slim.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/synclib.sh"
BULK=$top_builddir/tests/bench/bench_sync
N=${N:-200}
B=120112001001

city_ca 1201
issued c1 $B
daemon_conf city
start city

CASELEDGER_DIR=$T/c1 cl add person name="Zhang San" id_number=11010519491231002X >/dev/null
cl -C "$T/c1" sync --parent "https://127.0.0.1:$PORT_city/ledger" --parent-name city \
	--cert "$T/c1.pem" --ca "$T/ca/ca.pem" >/dev/null 2>"$T/err" ||
	fail "first sync: $(cat "$T/err")"
"$BULK" import --dir "$T/c1" --records 100 >/dev/null || fail "bulk import"
cl -C "$T/c1" sync --parent "https://127.0.0.1:$PORT_city/ledger" --parent-name city \
	--cert "$T/c1.pem" --ca "$T/ca/ca.pem" >/dev/null 2>"$T/err" ||
	fail "second sync: $(cat "$T/err")"

# bytes WHAT: the bytes of the city's log lines "WHAT '$B': … N bytes" after line $mark
bytes() {
	tail -n +$((mark + 1)) "$T/city.log" | grep "$1 '$B': " |
		sed 's/.* \([0-9][0-9]*\) bytes.*/\1/' | awk '{ s += $1 } END { print s + 0 }'
}
# sync_with PACKS: c1 syncs once in-process with sync_packs = PACKS
sync_with() {
	daemon_conf c1 "parent=https://127.0.0.1:$PORT_city/ledger" parent_name=city \
		"sync_packs=$1" sync_step=50
	mark=$(wc -l <"$T/city.log")
	cl -C "$T/c1" sync --config "$T/c1.ini" >/dev/null 2>"$T/err" ||
		fail "sync ($1): $(cat "$T/err")"
	[ "$(head_of city $B)" = "$(head_of c1 $B)" ] || fail "sync ($1): c1 and the city differ"
	conns=$(tail -n +$((mark + 1)) "$T/city.log" | grep -c "connection from 127.0.0.1" || true)
	reqs=$(tail -n +$((mark + 1)) "$T/city.log" | grep -Ec "debug: (GET|POST) /ledger/" || true)
	say "  $reqs requests on $conns connections"
	[ "$reqs" -ge 8 ] || fail "sync ($1): only $reqs requests for $N amendments in steps of 50"
	[ $((conns * 3)) -le "$reqs" ] ||
		fail "sync ($1): $conns connections for $reqs requests: not kept alive"
}
sound() {
	git -C "$T/$1" fsck --strict --no-dangling >"$T/fsck" 2>&1 ||
		fail "git fsck $1: $(cat "$T/fsck")"
	cl -C "$T/$1" verify >/dev/null 2>"$T/err" || fail "verify $1: $(cat "$T/err")"
}

for packs in slim plain; do
	say "c1 makes $N amendments and pushes them ($packs)"
	"$BULK" amend --dir "$T/c1" --records 100 --amendments "$N" --tag "up-$packs" >/dev/null ||
		fail "bulk amendments"
	sync_with $packs
	eval "up_$packs=\$(bytes 'receive-pack from')"
	say "the city makes $N amendments on c1's branch; c1 fetches them ($packs)"
	"$BULK" amend --dir "$T/city" --branch $B --records 100 --amendments "$N" \
		--tag "down-$packs" >/dev/null || fail "bulk amendments at the city"
	sync_with $packs
	eval "down_$packs=\$(bytes 'upload-pack for')"
done
say "push: slim $up_slim bytes, plain $up_plain; fetch: slim $down_slim, plain $down_plain ($N amendments each)"
[ "$up_slim" -gt 0 ] && [ "$down_slim" -gt 0 ] || fail "no bytes counted"
[ $((up_slim * 2)) -lt "$up_plain" ] || fail "push: slim $up_slim bytes is not under half of plain $up_plain"
[ $((down_slim * 2)) -lt "$down_plain" ] ||
	fail "fetch: slim $down_slim bytes is not under half of plain $down_plain"

say "the rebuilt trees are the signed ones: both ledgers verify, fsck --strict passes"
sound city
sound c1
[ "$(git -C "$T/city" rev-parse "refs/heads/$B^{tree}")" = \
	"$(git -C "$T/c1" rev-parse "refs/heads/$B^{tree}")" ] || fail "the branch's trees differ"

say "stock git clones from the city with git packs"
sgit "$T/c1/office.key" "$T/c1.pem" clone -q --bare --no-local "https://127.0.0.1:$PORT_city/ledger" "$T/stock.git" \
	>/dev/null 2>"$T/err" || fail "git clone: $(cat "$T/err")"
[ "$(git -C "$T/stock.git" rev-parse "refs/heads/$B")" = "$(head_of city $B)" ] ||
	fail "the clone's head is not the city's"

say "a push that asks for a slim pack and sends a broken one is refused"
CASELEDGER_DIR=$T/c1 cl add person name="Li Si" id_number=110105194912310038 >/dev/null
old=$(head_of city $B)
new=$(head_of c1 $B)
line="$old $new refs/heads/$B"
line=$(printf '%s\000report-status caseledger-slim agent=t\n' "$line" | wc -c)
{
	printf '%04x%s\000report-status caseledger-slim agent=t\n' $((line + 4)) "$old $new refs/heads/$B"
	printf '0000CLSP\001not a zlib stream'
} >"$T/body"
curl -sS --cacert "$T/ca/ca.pem" --cert "$T/c1.pem" --key "$T/c1/office.key" \
	-H "Content-Type: application/x-git-receive-pack-request" --data-binary "@$T/body" \
	"https://127.0.0.1:$PORT_city/ledger/git-receive-pack" >"$T/reply" 2>"$T/err" ||
	fail "curl: $(cat "$T/err")"
grep -a "unpack slim pack: corrupt (zlib: incorrect header check)" "$T/reply" >/dev/null || fail "the refusal does not say why: $(tr -d '\000' <"$T/reply" | head -c 400)"
[ "$(head_of city $B)" = "$old" ] || fail "the city's branch moved"
stop city
say "ok"
