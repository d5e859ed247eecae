#!/bin/sh
# tests/bench/verify: how fast history is verified, merges included (each merge is
# recomputed from its parents by every verifier), and whether that makes sync slower than
# stock git moving the same commits.
#   (a) in process (bench_verify run) on a district ledger of RECORDS records with ROUNDS
#       rounds of offline work and merges (SIDE amendments on each side, then a merge):
#       verify_commit per ordinary commit and per merge, verify_all (`caseledger
#       verify`), against raw libgit2 extracting each signature and checking it (the
#       plain signature walk; earlier figure 4,379 checks/s); also `caseledger verify`
#       as a process.
#   (b) sync: the district's daemon pushes that history to the city's (which verifies
#       every commit, merges recomputed), then a second copy of the district, as it was
#       before the history, fetches it from the city (verified again). Reference, same
#       run, same commits: stock `git push` and `git fetch` between plain bare clones over
#       file:// (core.fsync=committed), the new commits loose on the sending side (as
#       `git commit` leaves them, and as caseledger's are) and packed (as after git gc).
# Build without sanitizers first (./configure && make), then `make bench-verify`. A smoke
# run: RECORDS=10000 ROUNDS=10 sh tests/bench/verify.sh
set -eu

top=$(cd "$(dirname "$0")/../.." && pwd)
build=${BUILDDIR:-$top}
BENCH=$build/tests/bench/bench_verify
CL=$build/cli/caseledger
CLD=$build/daemon/caseledgerd
RECORDS=${RECORDS:-100000}
ROUNDS=${ROUNDS:-100}
SIDE=${SIDE:-5}
CITY=1201
DIST=120112
NAME=verify
. "$top/tests/bench/benchlib.sh"

A=$W/a
mkdir -p "$A"
offices "$A"
"$BENCH" import --dir "$A/dist" --records "$RECORDS" | sed 's/^/  /'
# the city holds the branch as it is now; a copy of the district stays at this point
git -C "$A/city" fetch -q "$A/dist" "refs/heads/$DIST:refs/heads/$DIST"
cp -a "$A/dist" "$A/dist0"
git init -q --bare "$A/git/child"
git -C "$A/git/child" config core.fsync committed
git -C "$A/git/child" fetch -q "$A/dist" "refs/heads/$DIST:refs/heads/$DIST"
git clone -q --bare --no-local "$A/git/child" "$A/git/parent"
git clone -q --bare --no-local "$A/git/child" "$A/git/child0"
for r in parent child0; do git -C "$A/git/$r" config core.fsync committed; done
cp -a "$A/git" "$A/gpack"

"$BENCH" history --dir "$A/dist" --records "$RECORDS" --rounds "$ROUNDS" --side "$SIDE" |
	sed 's/^/  /'
ncommits=$(git -C "$A/dist" rev-list --count "refs/heads/$DIST" "^$(head_of "$A/city")")
nmerges=$(git -C "$A/dist" rev-list --merges --count "refs/heads/$DIST" "^$(head_of "$A/city")")

echo "== (a) verification in process, $RECORDS records"
"$BENCH" run --dir "$A/dist"
"$CL" -C "$A/dist" reindex >/dev/null # untimed: the index is built once per ledger
t=$(timed "$CL" -C "$A/dist" verify)
n=$(git -C "$A/dist" rev-list --count --all)
echo "caseledger verify (process, every branch): $t s for $n commits:" \
	"$(echo "$n $t" | awk '{printf "%.0f", $1 / $2}') commits/s"

echo "== (b) sync of $ncommits new commits, $nmerges of them merges"
daemon city "$A"
cport=$PORT
daemon dist "$A" "parent=https://127.0.0.1:$cport/ledger" parent_name=city
ours_push=$(timed_sync "$A")
[ "$(head_of "$A/city")" = "$(head_of "$A/dist")" ] || die "the push did not reach the city"
daemon dist0 "$A" "parent=https://127.0.0.1:$cport/ledger" parent_name=city
ours_fetch=$(timed_sync "$A" dist0)
[ "$(head_of "$A/dist0")" = "$(head_of "$A/city")" ] || die "the fetch did not reach dist0"
stop_all

LOOSE="-c fetch.unpackLimit=1000000000"
for k in git gpack; do
	if [ $k = git ]; then
		git -C "$A/$k/child" $LOOSE fetch -q "$A/dist" "refs/heads/$DIST:refs/heads/$DIST"
	else
		git -C "$A/$k/child" fetch -q "$A/dist" "refs/heads/$DIST:refs/heads/$DIST"
	fi
	t=$(timed git -C "$A/$k/child" push -q "file://$A/$k/parent" \
		"refs/heads/$DIST:refs/heads/$DIST")
	[ "$(head_of "$A/$k/parent")" = "$(head_of "$A/dist")" ] || die "git push did not arrive"
	eval "push_$k=$t"
	if [ $k = git ]; then # the parent holds them loose for the fetch, as the city does
		rm -rf "$A/$k/parent"
		git clone -q --bare --no-local "$A/git/child0" "$A/$k/parent"
		git -C "$A/$k/parent" $LOOSE fetch -q "$A/dist" "refs/heads/$DIST:refs/heads/$DIST"
	fi
	t=$(timed git -C "$A/$k/child0" fetch -q "file://$A/$k/parent" \
		"refs/heads/$DIST:refs/heads/$DIST")
	[ "$(head_of "$A/$k/child0")" = "$(head_of "$A/dist")" ] || die "git fetch did not arrive"
	eval "fetch_$k=$t"
done
for op in push fetch; do
	eval "ours=\$ours_$op loose=\${${op}_git} packed=\${${op}_gpack}"
	echo "$ncommits commits ($nmerges merges): $op: caseledger sync $ours s (every commit" \
		"verified, merges recomputed); git $op $loose s loose, ratio git/caseledger" \
		"$(ratio "$loose" "$ours"); git $op $packed s packed, ratio $(ratio "$packed" "$ours")"
done
