#!/bin/sh
# Many clients at once: 50 stock `git fetch` clients over https with client certificates
# run in parallel against one caseledgerd while another client completes TLS and then
# sends nothing. Every fetch completes with the city's heads; then, with a short idle
# timeout, a stalled client is dropped and the daemon serves on.
#
# Nothing here depends on the machine being idle: the 50 fetches run with a generous
# idle timeout (under load a client may well wait seconds between its requests, and a
# 3 s timeout cut one of them: "TLS connection non-properly terminated"), their time is
# printed, not asserted, and every wait is for a condition with a generous limit.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/synclib.sh"

city_ca 1201
issued comm 120112001001
for i in 1 2 3; do
	CASELEDGER_DIR=$T/city cl add person name="Person $i" id_number=11010519491231002X >/dev/null
done
daemon_conf city timeout=300
start city
U=https://127.0.0.1:$PORT_city/ledger
K=$T/comm/office.key
C=$T/comm.pem
want=$(git -C "$T/city" rev-parse refs/heads/trust)

say "a client that completes TLS, then stalls"
mkfifo "$T/stall-in"
openssl s_client -quiet -connect "127.0.0.1:$PORT_city" -cert "$C" -key "$K" \
	-CAfile "$T/ca/ca.pem" <"$T/stall-in" >"$T/stall-out" 2>"$T/stall-err" &
stalled=$!
exec 7>"$T/stall-in" # keep its stdin open: it sends nothing
sleep 0.5

say "50 stock git fetch clients at once"
t0=$(date +%s)
pids=""
for i in $(seq 1 50); do
	git init -q --bare "$T/f$i"
	(sgit "$K" "$C" -C "$T/f$i" -c http.lowSpeedTime=60 fetch -q "$U" \
		"+refs/heads/*:refs/heads/*" >"$T/f$i.log" 2>&1; echo $? >"$T/f$i.rc") &
	pids="$pids $!"
done
for p in $pids; do wait "$p" || true; done
took=$(($(date +%s) - t0))
for i in $(seq 1 50); do
	[ -f "$T/f$i.rc" ] || fail "fetch $i: no exit status: $(cat "$T/f$i.log")"
	[ "$(cat "$T/f$i.rc")" = 0 ] || fail "fetch $i: $(cat "$T/f$i.log")"
	expect_eq "$(git -C "$T/f$i" rev-parse refs/heads/trust)" "$want" "trust of fetch $i"
done
say "50 fetches in ${took}s (with a client stalled all along)"
kill $stalled 2>/dev/null || true
exec 7>&-
wait $stalled 2>/dev/null || true
stop city

say "with a 3 s idle timeout, a stalled client is dropped; the daemon serves on"
daemon_conf city timeout=3
start city
U=https://127.0.0.1:$PORT_city/ledger
openssl s_client -quiet -connect "127.0.0.1:$PORT_city" -cert "$C" -key "$K" \
	-CAfile "$T/ca/ca.pem" <"$T/stall-in" >"$T/stall-out" 2>"$T/stall-err" &
stalled=$!
exec 7>"$T/stall-in"
i=0
while kill -0 $stalled 2>/dev/null; do
	i=$((i + 1))
	[ $i -lt 2400 ] || fail "the stalled client is still connected after 120 s"
	sleep 0.05
done
exec 7>&-
wait $stalled 2>/dev/null || true
sgit "$K" "$C" -C "$T/f1" fetch -q "$U" "+refs/heads/*:refs/heads/*" 2>"$T/err" ||
	fail "fetch after the stall: $(cat "$T/err")"
stop city
