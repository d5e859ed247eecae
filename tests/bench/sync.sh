#!/bin/sh
# tests/bench/sync: replication between two caseledgerd daemons on loopback, against
# stock git moving the same commits.
#   (a) a city and one of its districts, certificates from the city's CA (`ca init`,
#       `ca issue`, `init --credentials --trust`), each with its caseledgerd on
#       127.0.0.1; the district's branch holds RECORDS records on both sides (built once
#       on the district with the bulk path, then copied to the city with a local git
#       fetch, untimed). Timed: `caseledger sync --wait` on the district pushing AMEND
#       new signed amendments; then, after AMEND amendments made at the city on the
#       district's branch (what `amend --branch` does), the district's sync fetching
#       them. Reference, same run, same commits: stock `git push` and `git fetch` between
#       two plain bare clones over file:// (core.fsync=committed: as durable as
#       caseledger), once with the new commits on the sending side as loose objects (as
#       `git commit` leaves them, and as caseledger's amendments are: like for like) and
#       once with them already packed (as after `git gc`: git's best case). Target:
#       ratio git/caseledger >= 1 (like for like).
#   (b) scaling: a SMALL_AMEND-amendment sync (push) on ledgers of SMALL and BIG records;
#       target: within 1.5x of each other.
# Build without sanitizers first (./configure && make), then `make bench-sync`. Sizes can
# be lowered for a smoke run: RECORDS=10000 AMEND=100 BIG=20000 sh tests/bench/sync.sh
set -eu

top=$(cd "$(dirname "$0")/../.." && pwd)
build=${BUILDDIR:-$top}
BENCH=$build/tests/bench/bench_sync
CL=$build/cli/caseledger
CLD=$build/daemon/caseledgerd
RECORDS=${RECORDS:-100000}
AMEND=${AMEND:-1000}
SMALL=${SMALL:-1000}
BIG=${BIG:-1000000}
SMALL_AMEND=${SMALL_AMEND:-10}
CITY=1201
DIST=120112
W=$(mktemp -d "${TMPDIR:-/tmp}/bench-sync.XXXXXX")
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
	echo "bench-sync: $*" >&2
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

# setup DIR N: offices, N records on the district's branch of both ledgers, daemons.
setup() {
	offices "$1"
	"$BENCH" import --dir "$1/dist" --records "$2" | sed "s/^/  records $2: /"
	git -C "$1/city" fetch -q "$1/dist" "refs/heads/$DIST:refs/heads/$DIST"
	daemon city "$1"
	daemon dist "$1" "parent=https://127.0.0.1:$PORT/ledger" parent_name=city
}

head_of() { git -C "$1" rev-parse "refs/heads/$DIST"; }

# timed_sync DIR: `caseledger sync --wait` on the district; prints seconds.
timed_sync() {
	t0=$(now)
	"$CL" -C "$1/dist" sync --wait >"$1/sync.out" 2>&1 ||
		die "sync failed: $(cat "$1/sync.out")"
	t1=$(now)
	secs "$t0" "$t1"
}

echo "== (a) $RECORDS records, $AMEND amendments pushed and fetched"
A=$W/a
mkdir -p "$A"
setup "$A" "$RECORDS"
# the reference: two plain bare clones holding the same branch, twice: git/ receives new
# commits as loose objects (as `git commit` leaves them; caseledger's amendments are loose
# too), gpack/ as packs (as after `git gc`)
git init -q --bare "$A/git/child"
git -C "$A/git/child" config core.fsync committed
git -C "$A/git/child" fetch -q "$A/dist" "refs/heads/$DIST:refs/heads/$DIST"
git clone -q --bare --no-local "$A/git/child" "$A/git/parent"
git -C "$A/git/parent" config core.fsync committed
cp -a "$A/git" "$A/gpack"
LOOSE="-c fetch.unpackLimit=1000000000"

# gitcopy KIND REPO SRC: the untimed copy of the new commits into DST (loose or packed)
gitcopy() {
	if [ "$1" = git ]; then
		git -C "$A/$1/$2" $LOOSE fetch -q "$3" "refs/heads/$DIST:refs/heads/$DIST"
	else
		git -C "$A/$1/$2" fetch -q "$3" "refs/heads/$DIST:refs/heads/$DIST"
	fi
}
# timed GIT-COMMAND…: prints seconds
timed() {
	t0=$(now)
	"$@"
	t1=$(now)
	secs "$t0" "$t1"
}

"$BENCH" amend --dir "$A/dist" --records "$RECORDS" --amendments "$AMEND" --tag district |
	sed 's/^/  district: /'
ours_push=$(timed_sync "$A")
[ "$(head_of "$A/city")" = "$(head_of "$A/dist")" ] || die "the push did not reach the city"
for k in git gpack; do
	gitcopy $k child "$A/dist"
	t=$(timed git -C "$A/$k/child" push -q "file://$A/$k/parent" \
		"refs/heads/$DIST:refs/heads/$DIST")
	[ "$(head_of "$A/$k/parent")" = "$(head_of "$A/dist")" ] || die "git push did not arrive"
	eval "push_$k=$t"
done

"$BENCH" amend --dir "$A/city" --branch $DIST --records "$RECORDS" --amendments "$AMEND" \
	--tag city | sed 's/^/  city: /'
ours_fetch=$(timed_sync "$A")
[ "$(head_of "$A/city")" = "$(head_of "$A/dist")" ] || die "the fetch did not reach the district"
for k in git gpack; do
	gitcopy $k parent "$A/city"
	t=$(timed git -C "$A/$k/child" fetch -q "file://$A/$k/parent" \
		"refs/heads/$DIST:refs/heads/$DIST")
	[ "$(head_of "$A/$k/child")" = "$(head_of "$A/city")" ] || die "git fetch did not arrive"
	eval "fetch_$k=$t"
done
for op in push fetch; do
	eval "ours=\$ours_$op loose=\${${op}_git} packed=\${${op}_gpack}"
	echo "records $RECORDS, $AMEND amendments: $op: caseledger sync $ours s; git $op" \
		"$loose s with the new commits loose as caseledger's are (as after git commit)," \
		"ratio git/caseledger $(ratio "$loose" "$ours"); git $op $packed s with them" \
		"packed (as after git gc), ratio $(ratio "$packed" "$ours")"
done
stop_all
rm -rf "$A"

echo "== (b) scaling: a $SMALL_AMEND-amendment sync on $SMALL and $BIG records"
for size in $SMALL $BIG; do
	B=$W/b$size
	mkdir -p "$B"
	setup "$B" "$size"
	"$BENCH" amend --dir "$B/dist" --records "$size" --amendments "$SMALL_AMEND" \
		--tag district >/dev/null
	t=$(timed_sync "$B")
	[ "$(head_of "$B/city")" = "$(head_of "$B/dist")" ] || die "the push did not reach the city"
	echo "records $size: $SMALL_AMEND-amendment sync $t s"
	eval "t_$size=$t"
	stop_all
	rm -rf "$B"
done
eval "s=\$t_$SMALL b=\$t_$BIG"
echo "sync cost $BIG records / $SMALL records: $(ratio "$b" "$s") ($b s vs $s s)"
