#!/bin/sh
# Unauthenticated connection exhaustion: with a lowered open-file limit, 1,100 idle TCP
# connections (no TLS) from one address must not keep an honest office from syncing,
# nor fill the log with accept() errors. The daemon caps connections in all and per
# address, drops idle handshakes, backs off on EMFILE and rate-limits repeated lines.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/synclib.sh"
IDLECONN=$top_builddir/tests/integration/idleconn

city_ca 1201
issued c1 120112001001
daemon_conf city handshake_timeout=3
# the daemon under a lowered limit (soft and hard): 1,100 connections would exhaust it
printf '#!/bin/sh\nulimit -n 256\nexec "%s" "$@"\n' "$CASELEDGERD" >"$T/limited"
chmod +x "$T/limited"
CASELEDGERD=$T/limited start city

say "1,100 idle connections from 127.0.0.2"
"$IDLECONN" 127.0.0.2 "$PORT_city" 1100 >"$T/idle.out" 2>&1 &
IPID=$!
DAEMONS="$DAEMONS $IPID"
i=0
while [ ! -s "$T/idle.out" ]; do
	i=$((i + 1))
	[ $i -lt 1200 ] || fail "idleconn did not finish connecting"
	sleep 0.1
done
say "idleconn: $(cat "$T/idle.out") connects succeeded"

say "meanwhile an honest office syncs eight times out of eight"
k=0
while [ $k -lt 8 ]; do
	k=$((k + 1))
	CASELEDGER_DIR=$T/c1 cl add person name="Resident $k" id_number=11010519491231002X >/dev/null
	cl -C "$T/c1" sync --parent "https://127.0.0.1:$PORT_city/ledger" --cert "$T/c1.pem" \
		--ca "$T/ca/ca.pem" >"$T/out" 2>"$T/err" ||
		fail "sync $k under the flood: $(cat "$T/out" "$T/err") $(tail -3 "$T/city.log")"
	expect_eq "$(head_of city 120112001001)" "$(head_of c1 120112001001)" "sync $k"
done
kill -0 "$PID_city" || fail "the daemon died"

say "the log stays small"
size=$(wc -c <"$T/city.log")
[ "$size" -lt 200000 ] || fail "the log grew to $size bytes: $(sort "$T/city.log" | uniq -c | sort -rn | head -3)"
if [ "$(grep -c 'Too many open files' "$T/city.log")" -gt 100 ]; then
	fail "accept() errors flood the log"
fi
kill "$IPID"
say "ok"
