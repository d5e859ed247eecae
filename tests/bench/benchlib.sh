# tests/bench/benchlib.sh: what the daemon benchmarks (sync.sh, verify.sh) share: a
# scratch directory $W removed on exit, a city and a district with certificates from the
# city's CA, caseledgerd started and stopped, timing helpers. Needs CL, CLD, CITY, DIST and
# NAME (the benchmark's name, for messages) set by the caller.
W=$(mktemp -d "${TMPDIR:-/tmp}/bench-$NAME.XXXXXX")
PIDS=""
cleanup() {
	for p in $PIDS; do kill -TERM "$p" 2>/dev/null || true; done
	for p in $PIDS; do wait "$p" 2>/dev/null || true; done
	rm -rf "$W"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
export CASELEDGER_CONFIG=/dev/null CASELEDGER_OPERATOR=bench HOME="$W" GIT_CONFIG_NOSYSTEM=1
export GIT_TERMINAL_PROMPT=0
unset SSL_CERT_FILE SSL_CERT_DIR GIT_SSL_CAINFO

now() { date +%s.%N; }
secs() { echo "$1 $2" | awk '{printf "%.3f", $2 - $1}'; }
ratio() { echo "$1 $2" | awk '{printf "%.2f", $1 / $2}'; }
die() {
	echo "bench-$NAME: $*" >&2
	exit 1
}

# offices DIR: a city ledger DIR/city holding the CA and a district ledger DIR/dist
# made from the certificate the city issued.
offices() {
	"$CL" ca init --office $CITY --name City --host 127.0.0.1 --host localhost \
		"$1/city" >/dev/null
	"$CL" -C "$1/city" ca issue --office $DIST --name District --host 127.0.0.1 \
		--host localhost --out "$1/cred" >/dev/null
	"$CL" init --office $DIST --credentials "$1/cred" --trust "$1/city" "$1/dist" >/dev/null
}

# daemon NAME DIR [KEY=VALUE…]: start caseledgerd for the ledger DIR/NAME; sets PORT.
daemon() {
	n=$1
	d=$2
	shift 2
	{
		echo "[daemon]"
		echo "ledger = $d/$n"
		echo "cert = $d/$n/office.pem"
		echo "ca = $d/city/ca.pem"
		echo "listen = 127.0.0.1:0"
		echo "pid_file = $d/$n.pid"
		echo "sync_interval = 0"
		echo "log_level = info"
		echo "timeout = 120"
		for kv in "$@"; do echo "${kv%%=*} = ${kv#*=}"; done
	} >"$d/$n.ini"
	: >"$d/$n.log"
	"$CLD" -c "$d/$n.ini" 2>>"$d/$n.log" &
	pid=$!
	PIDS="$PIDS $pid"
	i=0
	while ! grep -q 'ready (ledger' "$d/$n.log"; do
		i=$((i + 1))
		[ $i -lt 400 ] || die "caseledgerd $n did not start: $(cat "$d/$n.log")"
		kill -0 $pid 2>/dev/null || die "caseledgerd $n died: $(cat "$d/$n.log")"
		sleep 0.05
	done
	PORT=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$d/$n.log" | tail -1)
}

# stop_all: SIGTERM every daemon started so far, and wait for them.
stop_all() {
	for p in $PIDS; do kill -TERM "$p" 2>/dev/null || true; done
	for p in $PIDS; do wait "$p" 2>/dev/null || true; done
	PIDS=""
}


head_of() { git -C "$1" rev-parse "refs/heads/$DIST"; }

# timed_sync DIR [LEDGER]: `caseledger sync --wait` on DIR/LEDGER (default dist); prints
# seconds.
timed_sync() {
	t0=$(now)
	"$CL" -C "$1/${2:-dist}" sync --wait >"$1/sync.out" 2>&1 ||
		die "sync failed: $(cat "$1/sync.out")"
	t1=$(now)
	secs "$t0" "$t1"
}

# timed COMMAND…: runs it (its output dropped); prints seconds
timed() {
	t0=$(now)
	"$@" >/dev/null
	t1=$(now)
	secs "$t0" "$t1"
}
