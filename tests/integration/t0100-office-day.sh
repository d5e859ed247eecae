#!/bin/sh
# A day of office work on one community ledger and one district ledger: households,
# persons, cases through their workflow, help requests, visits, payments, medical
# settlements; show, log and verify along the way.
. "$(dirname "$0")/lib.sh"

L=$T/fengda
D=$T/jinnan

say "every command has help"
for c in init add amend void show log verify signers schema; do
	cl $c --help >"$T/help" || fail "$c --help failed"
	grep -q "^usage: caseledger $c" "$T/help" || fail "$c --help has no usage line"
done
cl help >"$T/help"
grep -q "amend" "$T/help" || fail "help lists no commands"

say "init a community office"
cl init --office 120112001001 --name "Fengda Garden" "$L" >"$T/out"
grep -q "community office 120112001001" "$T/out" || fail "init output: $(cat "$T/out")"
[ "$(stat -c %a "$L/office.key")" = 600 ] || fail "office.key is not mode 0600"
git -C "$L" rev-parse --verify -q refs/heads/120112001001 >/dev/null || fail "no office branch"
[ -f "$L/index.db" ] || fail "no index"
export CASELEDGER_DIR="$L"

say "households and persons"
H=$(cl add household address="3-2-501 Fengda Garden" phone=13800000000 income=150000 \
	housing=rented grid_worker="Li Zhihuan" --reason "registered at the walk-in desk")
case "$H" in H-120112001001-*) ;; *) fail "household id '$H'" ;; esac
P=$(cl add person name="Han Mei" id_number=11010519491231002X birth_date=1949-12-31 \
	sex=female household="$H" category=low-income)
P2=$(cl add person name="Han Xiao" id_type=passport id_number=E12345678 household="$H")
cl amend "$H" head="$P" members+="$P" members+="$P2" --reason "members recorded" >/dev/null
cl show "$H" --json >"$T/h.json"
expect_eq "$(json_get "$T/h.json" '$.members')" "[\"$P\",\"$P2\"]" "members"
expect_eq "$(json_get "$T/h.json" '$.head')" "$P" "head"
cl amend "$H" members-="$P2" --reason "moved out" >/dev/null
cl show "$H" --json >"$T/h.json"
expect_eq "$(json_get "$T/h.json" '$.members')" "[\"$P\"]" "members after removal"

say "a minimum-living-guarantee case: the community drafts and applies"
C=$(cl add case subject="$P" household="$H" programme=minimum-living-guarantee \
	monthly_amount=120000 reason="daughter's transplant, mother left work")
cl show "$C" --json >"$T/c.json"
expect_eq "$(json_get "$T/c.json" '$.status')" draft "default status"
cl amend "$C" status=applied applied_on=2026-11-29 --reason "application submitted" >/dev/null
expect_fail 5 "needs a street office" cl amend "$C" status=reviewed --reason "try"
expect_fail 4 "cannot go from 'applied' to 'active'" cl amend "$C" status=active --reason "try"

say "an emergency help request through its workflow"
R=$(cl add request channel=hotline category=medicine requester="$P" urgency=high \
	location="Xinyeli community" --reason "call during the lockdown")
for s in assigned in_progress resolved closed; do
	cl amend "$R" status=$s assignee="Li Zhihuan" --reason "request $s" >/dev/null
done
cl show "$R" --json >"$T/r.json"
expect_eq "$(json_get "$T/r.json" '$.status')" closed "request status"
R2=$(cl add request channel=online category=food requester_text="stranded truck driver" \
	--reason "online platform")
cl amend "$R2" status=cancelled --reason "helped by the district" >/dev/null

say "visits, medical settlement"
V=$(cl add visit date=2026-11-29 worker="Zhou Jiaxin" subject="$P" household="$H" kind=home \
	notes="asked after the operation; bills under the glass")
M=$(cl add medical person="$P" hospital="Dade TCM hospital" total=1000000 insured=600000 \
	self_paid=400000 rate_percent=80 assisted=320000 green_channel=yes)
cl show "$M" >"$T/m.txt"
grep -q "assisted *320000 (3200.00 yuan)" "$T/m.txt" || fail "money display: $(cat "$T/m.txt")"

say "an unchanged amendment writes nothing"
before=$(git -C "$L" rev-parse refs/heads/120112001001)
cl amend "$P" name="Han Mei" --reason "same" >"$T/out"
grep -q unchanged "$T/out" || fail "no 'unchanged' message"
expect_eq "$(git -C "$L" rev-parse refs/heads/120112001001)" "$before" "head after no-op"

say "void keeps the record"
cl void "$V" --reason "entered twice" >/dev/null
cl show "$V" --json >"$T/v.json"
expect_eq "$(json_get "$T/v.json" '$.void')" 1 "void flag"
expect_eq "$(json_get "$T/v.json" '$.void_reason')" "entered twice" "void reason"
expect_fail 4 "is void" cl amend "$V" notes="more" --reason "late note"
expect_fail 4 "already void" cl void "$V" --reason "again"

say "log of one record: fields changed, operator, reason, signature"
cl --operator "Li Zhihuan" amend "$C" monthly_amount=130000 --reason "income re-assessed" >/dev/null
cl log "$C" --json >"$T/log.json"
expect_eq "$(sqlite3 :memory: "select json_array_length(readfile('$T/log.json'))")" 3 "log entries"
expect_eq "$(json_get "$T/log.json" '$[0].operator')" "Li Zhihuan" "operator"
expect_eq "$(json_get "$T/log.json" '$[0].reason')" "income re-assessed" "reason"
expect_eq "$(json_get "$T/log.json" '$[0].signature')" good "signature"
expect_eq "$(json_get "$T/log.json" '$[0].office')" 120112001001 "office"
expect_eq "$(json_get "$T/log.json" '$[0].changes[0].field')" monthly_amount "changed field"
expect_eq "$(json_get "$T/log.json" '$[0].changes[0].old')" 120000 "old value"
expect_eq "$(json_get "$T/log.json" '$[0].changes[0].new')" 130000 "new value"
expect_eq "$(json_get "$T/log.json" '$[1].changes[0].field')" applied_on "second change"
expect_eq "$(json_get "$T/log.json" '$[2].created')" 1 "creation entry"
cl log "$C" >"$T/log.txt"
grep -q "monthly_amount: 120000 -> 130000" "$T/log.txt" || fail "text log: $(cat "$T/log.txt")"
grep -q "status: draft -> applied" "$T/log.txt" || fail "text log lacks status change"
cl log -n 2 >"$T/log.txt"
expect_eq "$(grep -c '^commit ' "$T/log.txt")" 2 "log --limit"

say "a district office takes a case through approval, payments and closing"
cl init --office 120112 --name "Jinnan District Civil Affairs Bureau" "$D" >/dev/null
DP=$(cl -C "$D" add person name="Zhang Yunfeng" id_number=11010519491231002X sex=female \
	category=special-hardship support_mode=decentralized)
DC=$(cl -C "$D" add case subject="$DP" programme=special-hardship status=applied \
	monthly_amount=150000)
for s in reviewed approved active suspended active closed; do
	cl -C "$D" amend "$DC" status=$s --reason "district decision: $s" >/dev/null
done
cl -C "$D" show "$DC" --json >"$T/dc.json"
expect_eq "$(json_get "$T/dc.json" '$.status')" closed "district case status"
Y=$(cl -C "$D" add payment case="$DC" period=2026-11-01 amount=150000)
cl -C "$D" amend "$Y" status=paid paid_on=2026-11-30 --reason "bank transfer" >/dev/null
cl -C "$D" amend "$Y" status=reconciled --reason "month end" >/dev/null
cl -C "$D" log "$DC" --json >"$T/dlog.json"
expect_eq "$(sqlite3 :memory: "select json_array_length(readfile('$T/dlog.json'))")" 7 \
	"district case history"

say "bulk: many records in one commit from JSON"
cat >"$T/visits.json" <<JSON
[{"date": "2026-11-30", "worker": "Zhou Jiaxin", "kind": "phone", "subject": "$P"},
 {"date": "2026-11-30", "worker": "Zhou Jiaxin", "kind": "hospital", "notes": "screening"}]
JSON
before=$(git -C "$L" rev-list --count refs/heads/120112001001)
cl add visit --from-json "$T/visits.json" --reason "visits typed in after the outage" >"$T/ids"
expect_eq "$(wc -l <"$T/ids")" 2 "bulk ids"
expect_eq "$(git -C "$L" rev-list --count refs/heads/120112001001)" $((before + 1)) "one commit"
printf '[{"id": "%s", "urgency": "critical"}, {"id": "%s", "phone": null}]\n' "$R2" "$H" \
	>"$T/edits.json"
cl amend --from-json "$T/edits.json" --reason "bulk fix" --json >"$T/am.json"
expect_eq "$(json_get "$T/am.json" '$.changed[0]')" "$R2" "bulk amend"

say "records are canonical JSON files on the office branch"
path=$(git -C "$L" ls-tree -r --name-only refs/heads/120112001001 | grep "$C")
case "$path" in case/??/??/"$C".json) ;; *) fail "record path '$path'" ;; esac
git -C "$L" show "refs/heads/120112001001:$path" >"$T/blob"
cl show "$C" --json | cmp -s - "$T/blob" || fail "show --json differs from the stored blob"
head -1 "$T/blob" | grep -qx '{' || fail "blob is not one key per line"
grep -q '^  "status": "applied",$' "$T/blob" || fail "blob layout: $(cat "$T/blob")"

say "schema"
cl schema >"$T/s.txt"
grep -q "^  case " "$T/s.txt" || fail "schema list"
cl schema case --json >"$T/s.json"
expect_eq "$(json_get "$T/s.json" '$.prefix')" C "schema json"

say "verify: every signature good"
cl verify >"$T/out"
grep -q "^ok: " "$T/out" || fail "verify: $(cat "$T/out")"
cl -C "$D" verify --json >"$T/vj.json"
expect_eq "$(json_get "$T/vj.json" '$.ok')" 1 "district verify"
git -C "$L" fsck --strict --no-dangling 2>&1 | grep -v '^Checking' && fail "git fsck found problems" || true
say "ok"
