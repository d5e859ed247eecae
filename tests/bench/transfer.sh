#!/bin/sh
# tests/bench/transfer: what replication costs on the wire, and the first copy of a whole
# ledger for a new (rebuilt) office, against stock git and PouchDB moving the same data.
#   (a) bytes on the wire per amendment, both directions, TLS included. A city and its
#       district as sync.sh sets them up (certificates from the city's CA, RECORDS
#       records on the district's branch of both ledgers, caseledgerd each), the
#       district's daemon reaching the city's through a byte-counting TCP relay
#       (transfer/relay.js; every connection, both directions). Counted: one
#       `caseledger sync --wait` on the district pushing AMEND new signed amendments;
#       then one fetching AMEND amendments made at the city on the district's branch;
#       and one with nothing to move (a sync's fixed cost). Every request of a sync is
#       counted (a few per branch). References, same run:
#       - git: two bare clones holding the same branch (as sync.sh makes them), each
#         given the new commits untimed before it sends them: the thin pack `git
#         pack-objects --revs --thin --stdout` makes of exactly those commits there (what
#         git push and upload-pack send for them): git's lower bound, no protocol, no TLS;
#         and the same commits pushed and fetched by stock git over git:// (git daemon,
#         through the same kind of relay): git's protocol, still no TLS.
#       - PouchDB: the same records as JSON documents (transfer/pouch.js: PouchDB in
#         memory; transfer/pouch-server.js: express-pouchdb, a CouchDB-protocol server),
#         both sides starting from the same POUCH_RECORDS (default RECORDS) documents; the
#         same AMEND changes of "notes", one PouchDB.replicate each way, through the relay
#         over plain HTTP: no TLS.
#   (b) the first copy of the ledger for a new office (a rebuilt laptop): the city holds
#       the district's branch with RECORDS records and the amendments of (a). Timed, ours:
#       `caseledger init --credentials --trust DIR` (a fresh certificate from `ca issue`,
#       untimed) then the first `caseledger sync` against the city's daemon (fetches and
#       verifies every commit), twice: over the network, DIR holding the city's trust
#       branch alone (a bare clone of it, made untimed), so the records come through the
#       sync; and the README's way, DIR the city's ledger directory itself (init copies
#       the trust branch's objects from it, and says how many). Stock `git
#       clone --bare --no-local` of the branch over file://, alone and followed by the
#       check of every commit's signature with the allowed-signers file `caseledger
#       signers` writes (`git log --format=%G?`, one process; and `git verify-commit`
#       commit by commit); PouchDB's first replication of the same documents (those of (a))
#       into an empty database over HTTP. Each copy is checked: same head as the city's,
#       `caseledger verify` (untimed).
# Needs node and npm: the PouchDB packages (transfer/package.json, pinned) are installed
# at run time into ${TRANSFER_NPM:-$HOME/.cache/caseledger-bench-npm}, never into the tree.
# Build without sanitizers first (./configure && make), then `make bench-transfer`. Sizes
# can be lowered for a smoke run: RECORDS=5000 AMEND=100 sh tests/bench/transfer.sh
set -eu

top=$(cd "$(dirname "$0")/../.." && pwd)
build=${BUILDDIR:-$top}
BENCH=$build/tests/bench/bench_sync
CL=$build/cli/caseledger
CLD=$build/daemon/caseledgerd
RECORDS=${RECORDS:-100000}
AMEND=${AMEND:-1000}
POUCH_RECORDS=${POUCH_RECORDS:-$RECORDS}
NPM_DIR=${TRANSFER_NPM:-${HOME:-/tmp}/.cache/caseledger-bench-npm}
JS=$top/tests/bench/transfer
CITY=1201
DIST=120112
NAME=transfer

# node and the PouchDB packages, before benchlib.sh points HOME at the scratch directory
for t in node npm; do
	command -v $t >/dev/null 2>&1 ||
		{ echo "bench-$NAME: '$t' not found: this benchmark needs node (>= 18) and npm" >&2; exit 1; }
done
mkdir -p "$NPM_DIR"
if ! cmp -s "$JS/package.json" "$NPM_DIR/package.json" || [ ! -d "$NPM_DIR/node_modules" ]; then
	echo "installing the PouchDB reference's npm packages into $NPM_DIR"
	cp "$JS/package.json" "$NPM_DIR/package.json"
	(cd "$NPM_DIR" && npm install --no-audit --no-fund >npm-install.log 2>&1) || {
		rm -f "$NPM_DIR/package.json"
		echo "bench-$NAME: npm install failed in $NPM_DIR:" >&2
		tail -20 "$NPM_DIR/npm-install.log" >&2
		exit 1
	}
fi
export NODE_PATH="$NPM_DIR/node_modules"

. "$top/tests/bench/benchlib.sh"
for f in "$BENCH" "$CL" "$CLD"; do [ -x "$f" ] || die "$f is missing: build it first"; done

# spawn NAME COMMAND…: start a server (node or git daemon) in the background, its output
# in $W/NAME.out and $W/NAME.err; with a node server, waits for the port it prints
# first and sets NPORT.
spawn() {
	n=$1
	shift
	: >"$W/$n.out"
	"$@" >"$W/$n.out" 2>"$W/$n.err" &
	SPID=$!
	PIDS="$PIDS $SPID"
	case $1 in node) ;; *) return 0 ;; esac
	i=0
	while ! grep -q '^[0-9][0-9]*$' "$W/$n.out"; do
		i=$((i + 1))
		[ $i -lt 400 ] || die "$n did not start: $(cat "$W/$n.err")"
		kill -0 $SPID 2>/dev/null || die "$n died: $(cat "$W/$n.err")"
		sleep 0.05
	done
	NPORT=$(head -1 "$W/$n.out")
}

# stop PID: end one process this script started, and wait for it.
stop() {
	kill -TERM "$1" 2>/dev/null || true
	wait "$1" 2>/dev/null || true
}

# relay NAME TARGET_PORT: a byte-counting relay to 127.0.0.1:TARGET_PORT; sets RPORT and
# RPID, its counts in $W/NAME.stats.
relay() {
	spawn "$1" node "$JS/relay.js" "$2" "$W/$1.stats"
	RPORT=$NPORT
	RPID=$SPID
}

# totals NAME PREFIX: once no connection through relay NAME is open (so the TLS alerts
# that close a connection after the last reply are in), PREFIX_up, PREFIX_down and
# PREFIX_conns from its counts.
totals() {
	i=0
	while :; do
		read -r u d c o <"$W/$1.stats"
		[ "$o" -eq 0 ] && break
		i=$((i + 1))
		[ $i -lt 400 ] || die "a connection through relay $1 stays open"
		sleep 0.05
	done
	eval "$2_up=$u $2_down=$d $2_conns=$c"
}

# counted NAME PREFIX COMMAND…: runs COMMAND (its output dropped); PREFIX_up,
# PREFIX_down, PREFIX_conns: what went through relay NAME meanwhile; PREFIX_s: seconds.
counted() {
	r=$1
	p=$2
	shift 2
	totals "$r" c0
	t0=$(now)
	"$@" >"$W/counted.out" 2>&1 || die "$* failed: $(cat "$W/counted.out")"
	t1=$(now)
	totals "$r" c1
	eval "${p}_up=$((c1_up - c0_up)) ${p}_down=$((c1_down - c0_down))"
	eval "${p}_conns=$((c1_conns - c0_conns)) ${p}_s=$(secs "$t0" "$t1")"
}

# logged LINE WHAT: the bytes the city's daemon logged for its WHAT lines ("receive-pack
# from", "upload-pack for": the body of a push request, of an upload-pack answer: mostly
# the pack) after line LINE of its log, added up
logged() {
	sed -n "$(($1 + 1)),\$p" "$A/city.log" |
		sed -n "s/.*$2 '$DIST':.*[ ,]\([0-9][0-9]*\) bytes\$/\1/p" | awk '{s += $1} END {print s + 0}'
}

per() { echo "$1 $2" | awk '{printf "%.1f", $1 / $2}'; }

# gitpack REPO OLD NEW: the bytes of the thin pack git sends for NEW not in OLD (the
# pack-objects options git push and upload-pack use)
gitpack() {
	printf '%s\n^%s\n' "$3" "$2" |
		git -C "$1" pack-objects -q --revs --thin --stdout --delta-base-offset | wc -c
}

# a free port on 127.0.0.1 for git daemon (which has no "any port" of its own)
free_port() {
	node -e 's=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'
}

dist_sync() { "$CL" -C "$A/dist" sync --wait; }

# ours_push PREFIX TAG: AMEND new amendments at the district (tagged TAG), then one
# counted sync of the district's daemon pushing them: PREFIX_up, _down, _conns, _s (see
# counted) and PREFIX_body (the pack, as the city logged it); new: the district's head
ours_push() {
	"$BENCH" amend --dir "$A/dist" --records "$RECORDS" --amendments "$AMEND" --tag "$2" |
		sed "s/^/  $2: /"
	new=$(head_of "$A/dist")
	mark=$(wc -l <"$A/city.log")
	counted ours "$1" dist_sync
	eval "$1_body=$(logged "$mark" "receive-pack from")"
	[ "$(head_of "$A/city")" = "$new" ] || die "the push ($2) did not reach the city"
}

# ours_fetch PREFIX TAG: the same the other way: AMEND amendments on the district's branch
# at the city, fetched by one counted sync; cnew: the city's head
ours_fetch() {
	"$BENCH" amend --dir "$A/city" --branch $DIST --records "$RECORDS" --amendments "$AMEND" \
		--tag "$2" | sed "s/^/  $2: /"
	cnew=$(head_of "$A/city")
	mark=$(wc -l <"$A/city.log")
	counted ours "$1" dist_sync
	eval "$1_body=$(logged "$mark" "upload-pack for")"
	[ "$(head_of "$A/dist")" = "$cnew" ] || die "the fetch ($2) did not reach the district"
}

# first_round: the district's daemon syncs once as it starts: let that round end before
# counting anything
first_round() {
	i=0
	while ! grep -q "sync $DIST with" "$A/dist.log"; do
		i=$((i + 1))
		[ $i -lt 400 ] || die "the district's first sync did not end: $(cat "$A/dist.log")"
		sleep 0.05
	done
}

echo "caseledger transfer benchmark: RECORDS=$RECORDS AMEND=$AMEND POUCH_RECORDS=$POUCH_RECORDS;" \
	"node $(node --version), npm packages in $NPM_DIR"
T_START=$(now)
echo "== (a) bytes on the wire: $RECORDS records, $AMEND amendments pushed, $AMEND fetched"
A=$W/a
mkdir -p "$A"
offices "$A"
"$BENCH" import --dir "$A/dist" --records "$RECORDS" | sed "s/^/  records $RECORDS: /"
git -C "$A/city" fetch -q "$A/dist" "refs/heads/$DIST:refs/heads/$DIST"
daemon city "$A"
CITY_PORT=$PORT
relay ours "$CITY_PORT"
daemon dist "$A" "parent=https://127.0.0.1:$RPORT/ledger" parent_name=city
DIST_PID=$pid
first_round
# stock git over git://, the same commits: bare clones holding the same branch, as sync.sh
# makes them, each given the new commits untimed (file://) before a push or fetch through
# a relay to git daemon
git init -q --bare "$A/git/child.git"
git -C "$A/git/child.git" fetch -q "$A/dist" "refs/heads/$DIST:refs/heads/$DIST"
git clone -q --bare --no-local "$A/git/child.git" "$A/git/parent.git"
GPORT=$(free_port)
spawn gitd git daemon --reuseaddr --listen=127.0.0.1 --port="$GPORT" --export-all \
	--enable=receive-pack --base-path="$A/git" --informative-errors --verbose
GDPID=$SPID
i=0
while ! grep -q 'Ready to rumble' "$W/gitd.err"; do
	i=$((i + 1))
	[ $i -lt 400 ] || die "git daemon did not start: $(cat "$W/gitd.err")"
	sleep 0.05
done
relay gits "$GPORT"
GRPID=$RPID
GITURL=git://127.0.0.1:$RPORT

counted ours idle dist_sync
old=$(head_of "$A/dist")
ours_push push district
git -C "$A/git/child.git" fetch -q "$A/dist" "refs/heads/$DIST:refs/heads/$DIST"
gpush=$(gitpack "$A/git/child.git" "$old" "$new")
counted gits gitpush git -C "$A/git/child.git" push -q "$GITURL/parent.git" \
	"refs/heads/$DIST:refs/heads/$DIST"
[ "$(head_of "$A/git/parent.git")" = "$new" ] || die "git push did not arrive"

ours_fetch fetch city
git -C "$A/git/parent.git" fetch -q "$A/city" "refs/heads/$DIST:refs/heads/$DIST"
gfetch=$(gitpack "$A/git/parent.git" "$new" "$cnew")
counted gits gitfetch git -C "$A/git/child.git" fetch -q "$GITURL/parent.git" \
	"refs/heads/$DIST:refs/heads/$DIST"
[ "$(head_of "$A/git/child.git")" = "$cnew" ] || die "git fetch did not arrive"
stop "$DIST_PID"
stop "$GRPID"
stop "$GDPID"
rm -rf "$A/git"

# ours again with git packs (sync_packs = plain): what slim packs save, same run
relay ours "$CITY_PORT"
daemon dist "$A" "parent=https://127.0.0.1:$RPORT/ledger" parent_name=city sync_packs=plain
DIST_PID=$pid
first_round
ours_push ppush district-plain
ours_fetch pfetch city-plain
stop "$DIST_PID"
stop "$RPID"

# PouchDB: its server stays up for (b)
spawn pouchd node "$JS/pouch-server.js"
PPORT=$NPORT
relay pouch "$PPORT"
node "$JS/pouch.js" transfer "http://127.0.0.1:$RPORT/ledger" "http://127.0.0.1:$PPORT/ledger" \
	"$W/pouch.stats" "$POUCH_RECORDS" "$AMEND" >"$W/pouch.vars" 2>"$W/pouch.err" ||
	die "the PouchDB reference failed: $(cat "$W/pouch.err")"
grep -Eq '^fetch_down=[0-9]+$' "$W/pouch.vars" || die "pouch.js: $(cat "$W/pouch.vars")"
grep -E '^[a-z_]+=[0-9.]+$' "$W/pouch.vars" | sed 's/^/p_/' >"$W/pouch.sh"
. "$W/pouch.sh"
stop "$RPID"

echo
echo "(a) bytes on the wire per amendment ($AMEND amendments each way; up = district to city," \
	"down = city to district; every request of the exchange counted)"
printf '  %-46s %10s %10s %10s %6s %8s\n' "" "up B/am." "down B/am." "total" "conns" "seconds"
row() { # LABEL UP DOWN CONNS SECONDS
	printf '  %-46s %10s %10s %10s %6s %8s\n' "$1" "$(per "$2" "$AMEND")" "$(per "$3" "$AMEND")" \
		"$(per $(($2 + $3)) "$AMEND")" "$4" "$5"
}
row "caseledger push: sync --wait, TLS" "$push_up" "$push_down" "$push_conns" "$push_s"
row "caseledger fetch: sync --wait, TLS" "$fetch_up" "$fetch_down" "$fetch_conns" "$fetch_s"
row "caseledger push, git packs (sync_packs = plain)" "$ppush_up" "$ppush_down" "$ppush_conns" "$ppush_s"
row "caseledger fetch, git packs (sync_packs = plain)" "$pfetch_up" "$pfetch_down" "$pfetch_conns" "$pfetch_s"
row "git push, pack only (lower bound)" "$gpush" 0 - -
row "git fetch, pack only (lower bound)" 0 "$gfetch" - -
row "git push over git:// (git protocol, no TLS)" "$gitpush_up" "$gitpush_down" "$gitpush_conns" "$gitpush_s"
row "git fetch over git:// (git protocol, no TLS)" "$gitfetch_up" "$gitfetch_down" "$gitfetch_conns" "$gitfetch_s"
row "PouchDB push: replicate, HTTP, no TLS" "$p_push_up" "$p_push_down" "$p_push_conns" -
row "PouchDB fetch: replicate, HTTP, no TLS" "$p_fetch_up" "$p_fetch_down" "$p_fetch_conns" -
echo "  of which the pack (the body of the push request, of the upload-pack answer, as the" \
	"city's daemon logs them): push $(per "$push_body" "$AMEND"), fetch" \
	"$(per "$fetch_body" "$AMEND") B/amendment (slim packs); git packs (sync_packs = plain):" \
	"push $(per "$ppush_body" "$AMEND"), fetch $(per "$pfetch_body" "$AMEND"); git's thin" \
	"pack of the same commits: $(per "$gpush" "$AMEND"), $(per "$gfetch" "$AMEND")"
echo "  the git pack sizes exclude git's protocol and TLS (git's lower bound); git:// adds the"
echo "  protocol, not TLS; PouchDB's figures are plain HTTP, without TLS; ours include TLS"
echo "  (a TLS 1.3 handshake with certificates on every connection) and HTTP"
if [ "$POUCH_RECORDS" != "$RECORDS" ]; then
	echo "  PouchDB ran on $POUCH_RECORDS documents, not $RECORDS"
fi
echo "  PouchDB's fetch leaves out the reading back of its own pushed changes, done just" \
	"before it: $(per $((p_echo_up + p_echo_down)) "$AMEND") B/amendment ($p_echo_up B up," \
	"$p_echo_down B down, $p_echo_conns requests)"
echo "  one exchange with nothing to move: caseledger sync --wait $idle_up B up, $idle_down B" \
	"down, $idle_conns connections ($idle_s s); PouchDB replicate $p_idle_up B up," \
	"$p_idle_down B down, $p_idle_conns requests"
tot() { echo $(($1 + $2)); }
for op in push fetch; do
	eval "u=\$${op}_up d=\$${op}_down pu=\$p_${op}_up pd=\$p_${op}_down"
	eval "gu=\$git${op}_up gd=\$git${op}_down g=\$g${op}"
	echo "  $op, total bytes: pouchdb/caseledger $(ratio "$(tot "$pu" "$pd")" "$(tot "$u" "$d")")," \
		"git pack/caseledger $(ratio "$g" "$(tot "$u" "$d")")," \
		"git:///caseledger $(ratio "$(tot "$gu" "$gd")" "$(tot "$u" "$d")")"
done
echo "  plain/slim, total bytes: push $(ratio "$(tot "$ppush_up" "$ppush_down")" "$(tot "$push_up" "$push_down")")," \
	"fetch $(ratio "$(tot "$pfetch_up" "$pfetch_down")" "$(tot "$fetch_up" "$fetch_down")")"
echo "  pouchdb/caseledger by direction: push up $(ratio "$p_push_up" "$push_up"), down" \
	"$(ratio "$p_push_down" "$push_down"); fetch up $(ratio "$p_fetch_up" "$fetch_up"), down" \
	"$(ratio "$p_fetch_down" "$fetch_down")"

echo
NCOMMITS=$(git -C "$A/city" rev-list --count "refs/heads/$DIST")
echo "== (b) first copy for a new office: $RECORDS records, $((4 * AMEND)) amendments" \
	"($NCOMMITS commits on branch $DIST)"
B=$W/b
mkdir -p "$B"
H=$(head_of "$A/city")
"$CL" -C "$A/city" signers -o "$B/allowed"
# stock git: clone, then every commit's signature checked
clone_s=$(timed git clone -q --bare --no-local --single-branch --branch $DIST \
	"file://$A/city" "$B/git.git")
[ "$(head_of "$B/git.git")" = "$H" ] || die "git clone did not copy the branch"
clone_pack=$(cat "$B"/git.git/objects/pack/*.pack | wc -c)
VERIFY="-c gpg.format=ssh -c gpg.ssh.allowedSignersFile=$B/allowed"
t0=$(now)
git -C "$B/git.git" $VERIFY log --format=%G? "refs/heads/$DIST" >"$B/sigs"
t1=$(now)
glog_s=$(secs "$t0" "$t1")
[ "$(grep -c '^G$' "$B/sigs")" -eq "$NCOMMITS" ] ||
	die "git log %G? does not find $NCOMMITS good signatures: $(sort "$B/sigs" | uniq -c)"
git -C "$B/git.git" rev-list "refs/heads/$DIST" >"$B/commits"
t0=$(now)
while read -r c; do
	git -C "$B/git.git" $VERIFY verify-commit "$c" 2>/dev/null || die "git verify-commit $c failed"
done <"$B/commits"
t1=$(now)
gvc_s=$(secs "$t0" "$t1")
rm -rf "$B/git.git"

# firstcopy NAME TRUSTDIR: ours, timed: `init --credentials --trust TRUSTDIR` with a fresh
# certificate for the office (issued untimed: the city does that before), then the first
# sync with the city's daemon, in process; sets NAME_init, NAME_sync, NAME_s (seconds),
# NAME_body (the upload-pack answers' bytes), NAME_objects (objects stored in the new
# ledger by init, counted untimed: the trust branch's and the office's own first commit),
# NAME_leak (yes when init brought the city's head of the branch along), NAME_verify (`caseledger verify` after, untimed),
# NAME_stored (bytes of packs in the copy at the end), NAME_state (the branch's outcome).
firstcopy() {
	f=$1
	"$CL" -C "$A/city" ca issue --office $DIST --name District --host 127.0.0.1 \
		--host localhost --out "$B/$f.cred" >/dev/null
	before=$(head_of "$A/city")
	mark=$(wc -l <"$A/city.log")
	t0=$(now)
	"$CL" init --office $DIST --credentials "$B/$f.cred" --trust "$2" "$B/$f" >/dev/null
	t1=$(now)
	eval "${f}_objects=$(git -C "$B/$f" count-objects -v |
		awk '$1 == "count:" || $1 == "in-pack:" {n += $2} END {print n}')"
	# did init bring the city's branch along (it must bring the trust branch alone)?
	if git -C "$B/$f" cat-file -e "$before" 2>/dev/null; then
		eval "${f}_leak=yes"
	else
		eval "${f}_leak=no"
	fi
	t1b=$(now)
	"$CL" -C "$B/$f" sync --parent "https://127.0.0.1:$CITY_PORT/ledger" --parent-name city \
		--cert "$B/$f/office.pem" --ca "$B/$f.cred/ca.pem" >"$B/$f.out" 2>&1 ||
		die "the first sync ($f) failed: $(cat "$B/$f.out")"
	t2=$(now)
	i_s=$(secs "$t0" "$t1")
	s_s=$(secs "$t1b" "$t2")
	eval "${f}_init=$i_s ${f}_sync=$s_s ${f}_s=$(echo "$i_s $s_s" | awk '{printf "%.3f", $1 + $2}')"
	eval "${f}_body=$(logged "$mark" "upload-pack for")"
	l=$(head_of "$B/$f")
	[ "$l" = "$(head_of "$A/city")" ] ||
		die "the copy's head $l is not the city's $(head_of "$A/city"): $(cat "$B/$f.out")"
	git -C "$B/$f" merge-base --is-ancestor "$before" "$l" || die "the copy lacks the city's $before"
	eval "${f}_state='$(awk -v b=$DIST '$1 == b {print $3}' "$B/$f.out")'"
	t0=$(now)
	"$CL" -C "$B/$f" verify >"$B/$f.verify" 2>&1 || die "verify ($f) failed: $(cat "$B/$f.verify")"
	t1=$(now)
	eval "${f}_verify=$(secs "$t0" "$t1")"
	eval "${f}_stored=$(cat "$B/$f"/objects/pack/*.pack | wc -c)"
}
# over the network: the trust branch alone in a directory (what the city hands over with
# the credential, made untimed), so that the branch's records come through the sync
git clone -q --bare --no-local --single-branch --branch trust "file://$A/city" "$B/trust-only"
firstcopy net "$B/trust-only"
# the documented way, as the README shows it: --trust names the city's ledger directory
city_objects=$(git -C "$A/city" count-objects -v |
	awk '$1 == "count:" || $1 == "in-pack:" {n += $2} END {print n}')
trust_objects=$(git -C "$A/city" rev-list --objects refs/heads/trust | wc -l)
firstcopy doc "$A/city"

# PouchDB: the server's documents (those of (a)) into an empty database
node "$JS/pouch.js" clone "http://127.0.0.1:$PPORT/ledger" "$POUCH_RECORDS" >"$W/pclone.vars" \
	2>"$W/pouch.err" || die "the PouchDB first copy failed: $(cat "$W/pouch.err")"
grep -E '^[a-z_]+=[0-9.]+$' "$W/pclone.vars" | sed 's/^/p_/' >"$W/pclone.sh"
. "$W/pclone.sh"
gv1=$(echo "$clone_s $glog_s" | awk '{printf "%.3f", $1 + $2}')
gv2=$(echo "$clone_s $gvc_s" | awk '{printf "%.3f", $1 + $2}')

echo
echo "(b) first copy of the ledger, seconds"
line() { printf '  %-66s %9s\n' "$1" "$2"; }
line "caseledger init + first sync over TLS (fetch, verify every commit)" "$net_s"
line "  of which init --credentials --trust <trust branch only>" "$net_init"
line "  of which the first sync ($net_state)" "$net_sync"
line "  then caseledger verify (untimed above)" "$net_verify"
line "caseledger init --trust <city ledger dir> + first sync (README way)" "$doc_s"
line "  of which init --credentials --trust <city ledger dir>" "$doc_init"
line "  of which the first sync ($doc_state)" "$doc_sync"
line "git clone --bare --no-local --single-branch (file://)" "$clone_s"
line "git clone + git log --format=%G? (every commit's signature)" "$gv1"
line "git clone + git verify-commit, commit by commit" "$gv2"
line "PouchDB replicate into an empty database (HTTP, $POUCH_RECORDS docs)" "$p_clone_s"
echo "  over the network: ours/git clone $(ratio "$net_s" "$clone_s"), ours/(git clone + %G?)" \
	"$(ratio "$net_s" "$gv1"), ours/(git clone + verify-commit each) $(ratio "$net_s" "$gv2")," \
	"ours/pouchdb $(ratio "$net_s" "$p_clone_s")"
echo "  README way: ours/git clone $(ratio "$doc_s" "$clone_s"), ours/(git clone + %G?)" \
	"$(ratio "$doc_s" "$gv1"), ours/(git clone + verify-commit each) $(ratio "$doc_s" "$gv2")," \
	"ours/pouchdb $(ratio "$doc_s" "$p_clone_s")"
echo "  bytes: our first sync's upload-pack answers $net_body B (the copy stores $net_stored B" \
	"of packs); git clone's pack $clone_pack B; PouchDB: $p_clone_requests HTTP requests"
if [ "$doc_leak" = yes ]; then
	what="the city's branch came along"
else
	what="the trust branch and the office's own first commit, not the city's branch"
fi
echo "  README way: init --trust <city ledger dir> copied $doc_objects objects into the new" \
	"ledger (its trust branch has $trust_objects, the whole city store $city_objects): $what;" \
	"its first sync's upload-pack answers: $doc_body B"
echo "  the first syncs' outcomes for the branch: $net_state, $doc_state (merged: the new" \
	"ledger's own root commit was merged with the city's branch and the merge pushed)"
stop_all
echo "total run time $(secs "$T_START" "$(now)") s"
