#!/bin/sh
# The auditor's view of a case's life across a community, its street and its district,
# each with its own caseledgerd, offline work on both sides and syncs in different
# orders. For every field change, `blame` and `log` name the signed commit that made it —
# office, operator, time and reason — never a merge that only carried it, and every office
# gives the same answer. Also: `log --office CODE` covers the office's scope (--exact: the
# office alone); `blame ID FIELD`; show, blame, log and amend find a record's branch from
# its id.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/synclib.sh"

city_ca 1201
issued dist 120112
issued street 120112001
issued comm 120112001001
C1=120112001001
ID=11010519491231002X
daemon_conf city
start city
daemon_conf dist "parent=https://127.0.0.1:$PORT_city/ledger" parent_name=city
start dist
daemon_conf street "parent=https://127.0.0.1:$PORT_dist/ledger" parent_name=district
start street
daemon_conf comm "parent=https://127.0.0.1:$PORT_street/ledger" parent_name=street
start comm

on() {
	o=$1
	shift
	CASELEDGER_DIR=$T/$o CASELEDGER_OPERATOR=$o-clerk cl "$@"
}
sync() { cl -C "$T/$1" sync --wait >"$T/sync.out" 2>"$T/sync.err" || fail "sync $1: $(cat "$T/sync.err") $(cat "$T/sync.out")"; }
converged() {
	for o in street dist city; do
		wait_eq "head_of $o $C1" "$(head_of comm $C1)" "$o's copy of $C1"
	done
}
# attribution OFFICE ID: for each field, "field commit office operator reason time"
attribution() {
	CASELEDGER_DIR=$T/$1 cl blame "$2" --branch $C1 --json >"$T/b.json" || fail "blame on $1"
	python3 - "$T/b.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
for f in d["fields"]:
    print(f["field"], f.get("commit"), f.get("office"), f.get("operator"), repr(f.get("reason")), f.get("time"))
PY
}
# record_log OFFICE ID: "commit office operator fields…" for every entry of log ID
record_log() {
	CASELEDGER_DIR=$T/$1 cl log "$2" --branch $C1 --json >"$T/l.json" || fail "log on $1"
	python3 - "$T/l.json" <<'PY'
import json, sys
for e in json.load(open(sys.argv[1])):
    print(e["commit"], e["office"], e["operator"], " ".join(sorted(c["field"] for c in e["changes"])))
PY
}

say "the community registers a person and applies for assistance; all offices get it"
P=$(on comm add person name="Han Mei" id_number=$ID phone=1)
C=$(on comm add case subject="$P" programme=minimum-living-guarantee status=applied \
	monthly_amount=50000)
# the street's and the district's trust branches predate the community's certificate:
# each fetches the city's first (a daemon's own first round may not have run yet)
sync dist
sync street
sync comm
converged

say "offline on both sides: the street reviews, the community amends, the district approves"
on street amend "$C" status=reviewed --reason "visited the household" >/dev/null
on comm amend "$P" phone=13800000000 --reason "new phone" >/dev/null
on comm amend "$C" monthly_amount=52000 --reason "income certificate" >/dev/null
sync street # the street's review reaches the district
wait_eq "head_of dist $C1" "$(head_of street $C1)" "the district's copy"
on dist amend "$C" status=approved decided_by=120112 --reason "committee of 3 June" >/dev/null
approve=$(head_of dist $C1)
sync comm # order 1: the community first: a merge at the street
sync dist # then the district
sync comm
converged
head=$(head_of comm $C1)
[ "$(git -C "$T/comm" rev-list --merges --count $C1)" -ge 1 ] || fail "no merge in the history"

say "more offline work, synced in the other order: district, street, then the community"
on comm amend "$P" name="Han Meimei" --reason "spelling on the ID card" >/dev/null
on dist amend "$P" conditions+=diabetes --reason "hospital report" >/dev/null
sync dist
sync street
sync comm
sync street
sync dist
converged

say "who approved the case: the district's signed commit, at every office"
for o in comm street dist city; do
	CASELEDGER_DIR=$T/$o cl blame "$C" status --branch $C1 --json >"$T/s.json" ||
		fail "blame status on $o"
	expect_eq "$(json_get "$T/s.json" '$.fields[0].commit')" "$approve" "approver commit at $o"
	expect_eq "$(json_get "$T/s.json" '$.fields[0].office')" 120112 "approver office at $o"
	expect_eq "$(json_get "$T/s.json" '$.fields[0].operator')" dist-clerk "approver at $o"
	expect_eq "$(json_get "$T/s.json" '$.fields[0].reason')" "committee of 3 June" "reason at $o"
	expect_eq "$(sqlite3 :memory: "select json_array_length(json_extract(readfile('$T/s.json'),'\$.fields'))")" 1 "blame FIELD: one field at $o"
done

say "every field of the case and the person: the same author everywhere, never a merge"
for id in "$C" "$P"; do
	attribution comm "$id" >"$T/ref"
	for o in street dist city; do
		attribution $o "$id" >"$T/got"
		cmp -s "$T/ref" "$T/got" || fail "blame $id differs at $o: $(diff "$T/ref" "$T/got")"
	done
	while read -r field commit office operator reason time; do
		[ "$commit" != None ] || continue
		np=$(git -C "$T/comm" rev-list --parents -n 1 "$commit" | wc -w)
		[ "$np" -eq 2 ] || fail "blame credits merge $commit with $id $field"
	done <"$T/ref"
	record_log comm "$id" >"$T/ref"
	for o in street dist city; do
		record_log $o "$id" >"$T/got"
		cmp -s "$T/ref" "$T/got" || fail "log $id differs at $o: $(diff "$T/ref" "$T/got")"
	done
	grep caseledgerd "$T/ref" && fail "log $id lists a merge as a change: $(cat "$T/ref")"
done
attribution city "$P" | grep -q "^phone [0-9a-f]* $C1 comm-clerk 'new phone'" ||
	fail "phone: $(attribution city "$P")"
attribution city "$P" | grep -q "^conditions [0-9a-f]* 120112 dist-clerk 'hospital report'" ||
	fail "conditions: $(attribution city "$P")"
attribution city "$C" | grep -q "^monthly_amount [0-9a-f]* $C1 comm-clerk 'income certificate'" ||
	fail "monthly_amount: $(attribution city "$C")"
attribution city "$C" | grep -q "^status [0-9a-f]* 120112 dist-clerk 'committee of 3 June'" ||
	fail "status: $(attribution city "$C")"

say "automatic merges name themselves"
m=$(git -C "$T/comm" rev-list --merges -n 1 $C1)
git -C "$T/comm" log -1 --format=%B "$m" >"$T/msg"
grep -q "^Operator: caseledgerd" "$T/msg" || grep -qi "operator.*caseledgerd" "$T/msg" ||
	fail "merge message: $(cat "$T/msg")"

say "log --office: the district's scope, or the district alone with --exact"
for o in dist city; do
	CASELEDGER_DIR=$T/$o cl log --office 120112 --json >"$T/o.json" || fail "log --office at $o"
	offices=$(sqlite3 :memory: "select group_concat(distinct json_extract(value,'\$.office')) from (select value from json_each(readfile('$T/o.json')) order by json_extract(value,'\$.office'))")
	expect_eq "$offices" "120112,120112001,$C1" "offices in the district's scope at $o"
	CASELEDGER_DIR=$T/$o cl log --office 120112 --exact --json >"$T/o.json"
	offices=$(sqlite3 :memory: "select group_concat(distinct json_extract(value,'\$.office')) from json_each(readfile('$T/o.json'))")
	expect_eq "$offices" "120112" "--exact at $o"
	CASELEDGER_DIR=$T/$o cl log --office $C1 --json >"$T/o.json"
	n=$(sqlite3 :memory: "select count(*) from json_each(readfile('$T/o.json')) where json_extract(value,'\$.record')='$C' and json_extract(value,'\$.changes') like '%approved%'")
	expect_eq "$n" 0 "the approval listed as the community's at $o"
done
expect_fail 2 "--office wants an office code" cl -C "$T/dist" log --office 12x

say "a record's branch comes from its id: show, blame, log and amend at the district"
CASELEDGER_DIR=$T/dist cl show "$C" --json >"$T/show.json" || fail "show without --branch"
expect_eq "$(json_get "$T/show.json" '$.status')" approved "show at the district"
CASELEDGER_DIR=$T/dist cl blame "$C" monthly_amount >"$T/out" || fail "blame without --branch"
grep -q "on branch $C1" "$T/out" || fail "blame: $(cat "$T/out")"
CASELEDGER_DIR=$T/dist cl log "$C" >/dev/null || fail "log without --branch"
on dist amend "$C" monthly_amount=53000 --reason "annual review" >/dev/null ||
	fail "amend without --branch"
expect_eq "$(git -C "$T/dist" log -1 --format=%s $C1)" "amend $C: monthly_amount" "amend on $C1"
expect_fail 4 "has no field 'colour'" cl -C "$T/dist" blame "$C" colour
say "ok"
