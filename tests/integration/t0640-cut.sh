#!/bin/sh
# A failed or cut sync never changes a ledger beyond a complete update: the connection of
# an in-process `caseledger sync` is cut (by cutproxy, a TCP proxy on loopback) after N
# bytes of a push and of a fetch, for a spread of N; the city's daemon and the syncing
# process are killed with SIGKILL mid-transfer. After each: every ref names a commit that
# is there whole (git fsck), `caseledger verify` passes on both sides, each branch is
# either where it was or fully updated, a restarted daemon leaves no quarantine, and the
# next sync completes.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/synclib.sh"
PROXY=$top_builddir/tests/integration/cutproxy

city_ca 1201
issued c1 120112001001
B=120112001001
daemon_conf city
start city

PROXIES=""
CLEANUP_EXTRA="for p in \$PROXIES; do kill \$p 2>/dev/null || true; done; $CLEANUP_EXTRA"
# proxy [--stall] UP DOWN: start cutproxy in front of the city; sets PP (its port)
proxy() {
	rm -f "$T/proxy.port"
	if [ "$1" = --stall ]; then shift; set -- --stall "$PORT_city" "$@"; else set -- "$PORT_city" "$@"; fi
	"$PROXY" "$@" >"$T/proxy.port" &
	PROXY_PID=$!
	PROXIES="$PROXIES $PROXY_PID"
	i=0
	while [ ! -s "$T/proxy.port" ]; do
		i=$((i + 1))
		[ $i -lt 100 ] || fail "cutproxy did not start"
		sleep 0.02
	done
	PP=$(cat "$T/proxy.port")
}
unproxy() {
	kill "$PROXY_PID" 2>/dev/null || true
	wait "$PROXY_PID" 2>/dev/null || true
}
csync() { # csync PORT: sync c1 in-process with the city at PORT
	cl -C "$T/c1" sync --parent "https://127.0.0.1:$1/ledger" --parent-name city \
		--cert "$T/c1.pem" --ca "$T/ca/ca.pem"
}
# sound NAME: the ledger is whole and verifies
sound() {
	git -C "$T/$1" fsck --strict --no-dangling >"$T/fsck" 2>&1 || fail "git fsck $1: $(cat "$T/fsck")"
	cl -C "$T/$1" verify >/dev/null 2>"$T/verr" || fail "verify $1: $(cat "$T/verr")"
}
# one_of GOT A B WHAT
one_of() {
	[ "$1" = "$2" ] || [ "$1" = "$3" ] || fail "$4: $1 is neither $2 nor $3"
}
no_quarantine() {
	q=$(ls -d "$T/city/objects"/incoming-* 2>/dev/null || true)
	[ -z "$q" ] || fail "quarantine left behind: $q"
}

csync "$PORT_city" >/dev/null 2>"$T/err" || fail "first sync: $(cat "$T/err")"

say "push cut after N bytes client->server"
n=0
for N in 0 1 300 1000 2000 3000 5000 9000; do
	n=$((n + 1))
	CASELEDGER_DIR=$T/c1 cl add person name="Resident $n" id_number=11010519491231002X >/dev/null
	before_city=$(head_of city $B)
	local_c1=$(head_of c1 $B)
	proxy "$N" -1
	set +e
	csync "$PP" >"$T/out" 2>&1
	set -e
	unproxy
	one_of "$(head_of city $B)" "$before_city" "$local_c1" "city's $B after a push cut at $N"
	expect_eq "$(head_of c1 $B)" "$local_c1" "c1's own branch after a push cut at $N"
	sound city
	sound c1
	no_quarantine
done

say "fetch cut after N bytes server->client"
for N in 0 100 1000 3000 6000 12000; do
	cl -C "$T/city" ca issue --office 12011200100$((N % 7 + 2)) --name "x$N" --host localhost \
		--out "$T/cred-x$N" >/dev/null
	before_trust=$(head_of c1 trust)
	city_trust=$(head_of city trust)
	proxy -1 "$N"
	set +e
	csync "$PP" >"$T/out" 2>&1
	set -e
	unproxy
	one_of "$(head_of c1 trust)" "$before_trust" "$city_trust" "c1's trust after a fetch cut at $N"
	r=$(git -C "$T/c1" rev-parse --verify -q refs/remotes/city/trust || echo none)
	[ "$r" = none ] || git -C "$T/c1" cat-file -e "$r^{tree}" || fail "tracking ref names a missing commit"
	sound c1
done
csync "$PORT_city" >/dev/null 2>"$T/err" || fail "sync after the cuts: $(cat "$T/err")"
expect_eq "$(head_of c1 trust)" "$(head_of city trust)" "trust after the cuts"
expect_eq "$(head_of city $B)" "$(head_of c1 $B)" "$B after the cuts"

say "SIGKILL of the city's daemon mid-push, stale quarantines cleaned at start"
for N in 2000 6000; do
	CASELEDGER_DIR=$T/c1 cl add person name="Killed $N" id_number=11010519491231002X >/dev/null
	before_city=$(head_of city $B)
	local_c1=$(head_of c1 $B)
	proxy --stall "$N" -1
	csync "$PP" >"$T/out" 2>&1 &
	spid=$!
	sleep 0.5
	kill -9 "$PID_city"
	wait "$PID_city" 2>/dev/null || true
	unproxy
	wait "$spid" 2>/dev/null || true
	# what a daemon killed while indexing a push leaves behind
	mkdir -p "$T/city/objects/incoming-k$N/pack"
	echo partial >"$T/city/objects/incoming-k$N/pack/tmp_pack_x"
	one_of "$(head_of city $B)" "$before_city" "$local_c1" "city's $B after SIGKILL"
	sound city
	sound c1
	start city
	no_quarantine
	grep -q "removed 1 stale quarantine" "$T/city.log" || fail "no cleanup logged: $(cat "$T/city.log")"
	csync "$PORT_city" >/dev/null 2>"$T/err" || fail "sync after SIGKILL: $(cat "$T/err")"
	expect_eq "$(head_of city $B)" "$(head_of c1 $B)" "$B after the restart"
done

say "SIGKILL of the syncing process and of the daemon at a spread of moments"
for d in 0.1 0.3 0.6; do
	for i in 1 2 3; do
		CASELEDGER_DIR=$T/c1 cl add person name="Late $d $i" id_number=11010519491231002X >/dev/null
	done
	cl -C "$T/city" ca issue --office 120112001009 --name "y$d" --host localhost \
		--out "$T/cred-y$d" >/dev/null
	csync "$PORT_city" >"$T/out" 2>&1 &
	spid=$!
	sleep "$d"
	kill -9 "$spid" 2>/dev/null || true
	wait "$spid" 2>/dev/null || true
	sound c1
	sound city
	csync "$PORT_city" >/dev/null 2>"$T/err" || fail "sync after killing the client at ${d}s: $(cat "$T/err")"
	expect_eq "$(head_of city $B)" "$(head_of c1 $B)" "$B after killing the client"
	CASELEDGER_DIR=$T/c1 cl add person name="Dead $d" id_number=11010519491231002X >/dev/null
	csync "$PORT_city" >"$T/out" 2>&1 &
	spid=$!
	sleep "$d"
	kill -9 "$PID_city"
	wait "$PID_city" 2>/dev/null || true
	wait "$spid" 2>/dev/null || true
	sound city
	start city
	no_quarantine
	csync "$PORT_city" >/dev/null 2>"$T/err" || fail "sync after killing the daemon at ${d}s: $(cat "$T/err")"
	expect_eq "$(head_of city $B)" "$(head_of c1 $B)" "$B after killing the daemon"
done
