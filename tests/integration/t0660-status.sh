#!/bin/sh
# status tells the truth after a failed round: with the parent unreachable, the table
# shows the community's branch with its pending commits (AHEAD) and the error (LAST
# ERROR), and says the last round failed — not 0/0 and '-' while work waits to go up.
# A parent that comes back gets the commits, and the table shows them gone.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/synclib.sh"

city_ca 1201
issued c1 120112001001
B=120112001001
# a parent nobody listens on: a port the kernel gave and took back
daemon_conf city
start city
down=$PORT_city
stop city
daemon_conf c1 "parent=https://127.0.0.1:$down/ledger" parent_name=city backoff_min=1 \
	backoff_max=1
start c1

say "two amendments while the parent is down"
for n in 1 2; do
	CASELEDGER_DIR=$T/c1 cl add person name="Resident $n" id_number=11010519491231002X >/dev/null
done
set +e
cl -C "$T/c1" sync --wait >"$T/out" 2>"$T/err"
rc=$?
set -e
[ $rc -ne 0 ] || fail "a sync with the parent down succeeded: $(cat "$T/out")"
cl -C "$T/c1" status >"$T/status"
line=$(grep "^$B " "$T/status") || fail "status has no line for $B: $(cat "$T/status")"
ahead=$(echo "$line" | awk '{print $4}')
[ "$ahead" -ge 2 ] || fail "status shows $ahead commits ahead, not the 2 (or more) pending: $line"
echo "$line" | grep -q "failed" || fail "status does not show the failure: $line"
echo "$line" | grep -q "cannot\|refused\|reach" || fail "status lacks the error: $line"
grep -q "^last round, .*: failed: " "$T/status" || fail "no last-round line: $(cat "$T/status")"
cl -C "$T/c1" status --json >"$T/status.json"
[ "$(json_get "$T/status.json" '$.branches[0].ahead')" -ge 2 ] || fail "json ahead: $(cat "$T/status.json")"

say "the parent comes back (the community is told its address): the commits go up"
daemon_conf city
start city
daemon_conf c1 "parent=https://127.0.0.1:$PORT_city/ledger" parent_name=city backoff_min=1 \
	backoff_max=1
kill -HUP "$PID_c1"
wait_for_log() {
	i=0
	while ! grep -q "$2" "$T/$1.log"; do
		i=$((i + 1))
		[ $i -lt 2400 ] || fail "$1 never logged '$2'"
		sleep 0.05
	done
}
wait_for_log c1 "configuration reloaded"
cl -C "$T/c1" sync --wait >"$T/out" 2>"$T/err" || fail "sync after the parent is back: $(cat "$T/err")"
expect_eq "$(head_of city $B)" "$(head_of c1 $B)" "the city's copy"
cl -C "$T/c1" status >"$T/status"
line=$(grep "^$B " "$T/status")
expect_eq "$(echo "$line" | awk '{print $4}')" 0 "ahead after the sync"
stop city
stop c1
