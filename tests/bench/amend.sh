#!/bin/sh
# tests/bench/amend: the cost of a signed, durable amendment.
#   (a) in process, 100,000 records, 1,000 amendments: caseledger against raw libgit2
#       writing the same commits unsigned, same fsync policy (target ratio >= 0.9);
#   (b) through the CLI, against the plain-git way: write the JSON file, git add,
#       git commit -S with an ssh key (target: caseledger >= 5x faster per amendment);
#   (c) scaling: the in-process bench on 1,000 and 1,000,000 records (within 1.5x).
# Build without sanitizers first (./configure && make). Sizes can be lowered for a
# smoke run: RECORDS=10000 BIG=20000 AMEND=100 CLI_AMEND=20 sh tests/bench/amend.sh
set -eu

top=$(cd "$(dirname "$0")/../.." && pwd)
BENCH=$top/tests/bench/bench_amend
CL=$top/cli/caseledger
RECORDS=${RECORDS:-100000}
AMEND=${AMEND:-1000}
CLI_AMEND=${CLI_AMEND:-200}
SMALL=${SMALL:-1000}
BIG=${BIG:-1000000}
W=$(mktemp -d "${TMPDIR:-/tmp}/bench-amend.XXXXXX")
trap 'rm -rf "$W"' EXIT
export CASELEDGER_CONFIG=/dev/null CASELEDGER_OPERATOR=bench

now() { date +%s.%N; }
per_ms() { echo "$1 $2 $3" | awk '{printf "%.3f", ($2 - $1) * 1000 / $3}'; }

echo "== (a) in process: $RECORDS records, $AMEND amendments"
"$BENCH" --dir "$W/a" --records "$RECORDS" --amendments "$AMEND"

echo "== (b) CLI against plain git: $RECORDS records, $CLI_AMEND amendments each"
L=$W/a
git -C "$L" ls-tree -r --name-only refs/heads/120112001001 visit/ >"$W/paths"
pick() { sed -n "$(( ($1 * 7919 + 13) % $(wc -l <"$W/paths") + 1 ))p" "$W/paths"; }
i=0
while [ $i -lt "$CLI_AMEND" ]; do pick $i; i=$((i + 1)); done >"$W/targets"

"$CL" -C "$L" reindex >/dev/null # build the index once, untimed: amendments catch it up
t0=$(now)
i=0
while read -r path; do
	id=$(basename "$path" .json)
	"$CL" -C "$L" amend "$id" notes="cli amendment $i" --reason "bench" >/dev/null
	i=$((i + 1))
done <"$W/targets"
t1=$(now)
cli=$(per_ms "$t0" "$t1" "$CLI_AMEND")

git clone -q --branch 120112001001 "$L" "$W/wt"
ssh-keygen -q -t ed25519 -N '' -f "$W/gitkey"
git -C "$W/wt" config user.name bench
git -C "$W/wt" config user.email bench@caseledger
git -C "$W/wt" config gpg.format ssh
git -C "$W/wt" config user.signingkey "$W/gitkey"
git -C "$W/wt" config core.fsync committed # objects and refs durable, as caseledger's
t0=$(now)
i=0
while read -r path; do
	sed -i "s/^  \"notes\": .*/  \"notes\": \"git amendment $i\",/" "$W/wt/$path"
	git -C "$W/wt" add "$path"
	git -C "$W/wt" commit -q -S -m "amend $(basename "$path" .json): notes" -m "bench"
	i=$((i + 1))
done <"$W/targets"
t1=$(now)
gitc=$(per_ms "$t0" "$t1" "$CLI_AMEND")
echo "records $RECORDS: caseledger CLI $cli ms/amendment, plain git (write, add, commit -S)" \
	"$gitc ms/amendment, ratio git/caseledger $(echo "$gitc $cli" | awk '{printf "%.1f", $1 / $2}')x"
rm -rf "$W/a" "$W/wt"

echo "== (c) scaling: $SMALL and $BIG records, $AMEND amendments"
"$BENCH" --dir "$W/small" --records "$SMALL" --amendments "$AMEND" | tee "$W/small.txt"
rm -rf "$W/small"
"$BENCH" --dir "$W/big" --records "$BIG" --amendments "$AMEND" | tee "$W/big.txt"
s=$(sed -n 's/.*caseledger \([0-9.]*\) ms.*/\1/p' "$W/small.txt")
b=$(sed -n 's/.*caseledger \([0-9.]*\) ms.*/\1/p' "$W/big.txt")
echo "amendment cost $BIG records / $SMALL records: $(echo "$b $s" | awk '{printf "%.2f", $1 / $2}')" \
	"($b ms vs $s ms)"
