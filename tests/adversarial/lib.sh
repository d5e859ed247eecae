# The adversarial suite's set-up: a city with a daemon, a district (120112) and two
# communities, A (120112001001) and B (120112001002), all with certificates from the
# city's CA; an expired street certificate; and the attacks a holder of a valid
# certificate can build (tests/integration/forge), each a commit on community A's
# branch on top of its head H. Each channel script (push, fetch, merge, local) sources
# this and drives every attack through its channel: each must be refused with a message
# naming the commit, its signer and the rule, and nothing any office holds may change.
#
# After sourcing: $ATTACKS lists the attack names; for attack N, ATK_N is the commit,
# SIGNER_N the signing office, RULE_N the rule; $T/<office> are the ledgers, PORT_city
# the city daemon's port, H community A's head (at every office).
here=$(cd "$(dirname "$0")" && pwd)
: "${top_srcdir:=$(cd "$here/../.." && pwd)}"
. "$top_srcdir/tests/integration/lib.sh"
. "$top_srcdir/tests/integration/synclib.sh"
FORGE=$top_builddir/tests/integration/forge
A=120112001001
B=120112001002
D=120112
S=120112001

city_ca 1201
issued dist $D
issued a $A
issued b $B
now=$(date +%s)
# a street certificate that expired two days ago, valid for one day before that
cl -C "$T/city" ca issue --office $S --not-before $((now - 3 * 86400)) --days 1 \
	--out "$T/cred-street" >/dev/null

for o in dist a b; do git -C "$T/$o" fetch -q "$T/city" trust:trust; done # as sync does
daemon_conf city
start city

say "community A records a case; A, the district and the city all hold its branch"
export CASELEDGER_DIR=$T/a
P=$(cl add person name="Han Mei" id_number=11010519491231002X)
C=$(cl add case subject="$P" programme=minimum-living-guarantee status=applied)
cl show "$C" --json >"$T/case.json"
cl show "$P" --json >"$T/person.json"
unset CASELEDGER_DIR
H=$(git -C "$T/a" rev-parse $A)
git -C "$T/dist" fetch -q "$T/a" "$A:$A"
git -C "$T/city" fetch -q "$T/a" "$A:$A"
for o in a dist city; do cl -C "$T/$o" verify >/dev/null || fail "verify $o: $(cl -C "$T/$o" verify 2>&1)"; done

# atk NAME SIGNER RULE forge-args…: build an attack in a scratch copy of A's ledger
# (key files are named by office: $T/cred-*/office.key), record it, restore the copy.
cp -r "$T/a" "$T/work"
ATTACKS=""
atk() {
	name=$1 signer=$2 rule=$3
	shift 3
	x=$("$FORGE" "$T/work" "$@") || fail "forge $name"
	git -C "$T/work" update-ref "refs/heads/$A" "$H"
	git -C "$T/work" update-ref "refs/attacks/$name" "$x"
	eval "ATK_$name=$x SIGNER_$name=$signer RULE_$name=$rule"
	ATTACKS="$ATTACKS $name"
}
keyof() { echo "$T/cred-$1/office.key"; }

# hole 2: a district decision, a community commit beside it, and a hand-made merge that
# keeps the pre-decision copy of the case (the engine's merge would take the decision)
sed 's/"status": "applied"/"status": "reviewed"/' "$T/case.json" >"$T/case-reviewed.json"
DEC=$("$FORGE" "$T/work" "$(keyof dist)" $A --office $D --record "$T/case-reviewed.json")
git -C "$T/work" update-ref "refs/heads/$A" "$H"
cl -C "$T/work" add visit date=2026-01-01 worker=Li kind=home subject="$P" >/dev/null
MINE=$(git -C "$T/work" rev-parse $A)
git -C "$T/work" update-ref "refs/heads/$A" "$H"
atk revert_merge $A merge "$(keyof a)" $A --parent "$MINE" --parent "$DEC" \
	--record "$T/case.json" -m "merge 120112 into $A"
# hole 3: a stamp in the city's name; a stamp in the year 2286; a garbage record stamp
atk stamp_city $A stamp "$(keyof a)" $A --record "$T/case.json" --stamp "${now}000.00000-1201"
atk stamp_2286 $A validity "$(keyof a)" $A --record "$T/case.json" --stamp "9999999999999.00000-$A"
sed 's/"hlc": "[^"]*"/"hlc": "garbage"/' "$T/case.json" >"$T/case-garbage.json"
atk stamp_garbage $A stamp "$(keyof a)" $A --record "$T/case-garbage.json" --keep-stamps
# hole 4: author, committer and trailers that claim the district
atk identity $A identity "$(keyof a)" $A --office $D --record "$T/case-reviewed.json"
# hole 5: the expired street key dates a commit back into its validity, under a valid
# commit of A's (so the backdated one is not the tip)
old=$((now - 3 * 86400 + 3600))
BACK=$("$FORGE" "$T/work" "$(keyof street)" $A --office $S --record "$T/case-reviewed.json" \
	--stamp "${old}000.00000-$S")
atk backdated $S time "$(keyof a)" $A --record "$T/person.json" --stamp "$(($(date +%s) + 2))000.00000-$A"
eval "ATK_backdated_inner=$BACK"
# hole 1's cousin: a sibling community approves a case on A's branch
sed 's/"status": "applied"/"status": "approved"/' "$T/case.json" >"$T/case-approved.json"
atk sibling $B scope "$(keyof b)" $A --office $B --record "$T/case-approved.json"

# refused OUTFILE NAME: the message names the attack's failing commit, signer and rule
refused() {
	eval "c=\$ATK_$2 s=\$SIGNER_$2 r=\$RULE_$2"
	[ "$2" = backdated ] && c=$ATK_backdated_inner
	grep -q "commit $(echo "$c" | cut -c1-12)" "$1" || fail "$2: the message does not name commit $c: $(cat "$1")"
	grep -q "office $s" "$1" || fail "$2: the message does not name signer $s: $(cat "$1")"
	grep -q "rule '$r'" "$1" || fail "$2: the message does not name rule '$r': $(cat "$1")"
}
