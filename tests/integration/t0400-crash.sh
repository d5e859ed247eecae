#!/bin/sh
# kill -9 at random moments while amendments run in a loop: every amendment that
# reported success is still there afterwards, every signature verifies, git fsck is
# clean, and the ledger keeps working (stale git locks of killed writers are cleared).
. "$(dirname "$0")/lib.sh"

L=$T/office
B=refs/heads/120112001001
cl init --office 120112001001 "$L" >/dev/null
export CASELEDGER_DIR="$L"
P=$(cl add person name="Han Mei" id_number=11010519491231002X)
C=$(cl add case subject="$P" programme=temporary monthly_amount=0)
ACKED=$T/acked
AMOUNTS=$T/amounts
: >"$ACKED"
: >"$AMOUNTS"

cat >"$T/worker.sh" <<EOF
i=\$1
while :; do
	i=\$((i + 1))
	if id=\$("$CASELEDGER" add visit date=2026-11-29 worker=w kind=home notes="n\$i" 2>/dev/null); then
		echo "\$id n\$i" >>"$ACKED"
	fi
	if "$CASELEDGER" amend "$C" monthly_amount=\$i --reason "round \$i" >/dev/null 2>&1; then
		echo "\$i" >>"$AMOUNTS"
	fi
done
EOF

rand_ms() { # a random number of milliseconds in [$1, $2)
	r=$(od -An -N2 -tu2 /dev/urandom | tr -d ' ')
	echo $(($1 + r % ($2 - $1)))
}

rounds=${CRASH_ROUNDS:-12}
r=0
while [ "$r" -lt "$rounds" ]; do
	r=$((r + 1))
	setsid sh "$T/worker.sh" $((r * 100000)) &
	pid=$!
	ms=$(rand_ms 150 900)
	sleep "$(printf '%d.%03d' $((ms / 1000)) $((ms % 1000)))"
	kill -KILL "-$pid" 2>/dev/null || fail "could not kill the worker group $pid"
	wait "$pid" 2>/dev/null || true
	# the ledger must still take writes after the kill
	cl add visit date=2026-11-29 worker=check kind=office notes="after kill $r" >/dev/null ||
		fail "ledger unusable after kill in round $r"
done
say "$(wc -l <"$ACKED") acknowledged additions, $(wc -l <"$AMOUNTS") acknowledged amendments"
[ -s "$ACKED" ] || fail "no amendment was acknowledged: the test did not exercise anything"

say "every acknowledged addition is present with its content"
while read -r id note; do
	cl show "$id" --json >"$T/rec.json" 2>"$T/err" || fail "acknowledged $id is lost: $(cat "$T/err")"
	expect_eq "$(json_get "$T/rec.json" '$.notes')" "$note" "notes of $id"
done <"$ACKED"

say "the case holds the last acknowledged amount or a later one"
last=$(tail -1 "$AMOUNTS")
cl show "$C" --json >"$T/case.json"
now=$(json_get "$T/case.json" '$.monthly_amount')
[ "$now" -ge "${last:-0}" ] || fail "case amount $now is older than acknowledged $last"

say "signatures and objects intact"
cl verify >/dev/null || fail "verify after crashes: $(cl verify 2>&1 | tail -3)"
git -C "$L" fsck --strict --no-dangling >"$T/fsck" 2>&1 || fail "git fsck: $(cat "$T/fsck")"

say "a stale ref lock left by a killed writer does not block the next one"
: >"$L/$B.lock"
cl add visit date=2026-11-29 worker=w kind=home notes=x >/dev/null 2>"$T/err" ||
	fail "stale lock blocked the writer: $(cat "$T/err")"
grep -q "removed stale lock" "$T/err" || fail "no word about the stale lock"
[ ! -e "$L/$B.lock" ] || fail "stale lock still there"
say "ok"
