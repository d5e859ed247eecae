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
NAME=sync
. "$top/tests/bench/benchlib.sh"

# setup DIR N: offices, N records on the district's branch of both ledgers, daemons.
setup() {
	offices "$1"
	"$BENCH" import --dir "$1/dist" --records "$2" | sed "s/^/  records $2: /"
	git -C "$1/city" fetch -q "$1/dist" "refs/heads/$DIST:refs/heads/$DIST"
	daemon city "$1"
	daemon dist "$1" "parent=https://127.0.0.1:$PORT/ledger" parent_name=city
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
