#!/bin/sh
# The index: every query form (find, show --at, log audit view, blame, stats) on a ledger
# written at chosen times; reindex equals the incrementally built index; an index that is
# deleted, garbage, corrupt, stale or left behind by kill -9 is detected and rebuilt with a
# clear message, and nothing in the ledger is touched.
. "$(dirname "$0")/lib.sh"

export TZ=UTC
L=$T/office
B=120112001001
at() { # at EPOCH command…: run with the clock at EPOCH
	t=$1
	shift
	CASELEDGER_FAKE_TIME=$t "$@"
}
D1=1767312000 # 2026-01-02
D2=1769904000 # 2026-02-01
D3=1772409600 # 2026-03-02

say "the index commands have help"
for c in find blame stats reindex; do
	cl $c --help >"$T/help" || fail "$c --help failed"
	grep -q "^usage: caseledger $c" "$T/help" || fail "$c --help has no usage line"
done
cl show --help | grep -q -- "--at REV|DATE" || fail "show --help lacks --at"
cl log --help | grep -q -- "--since DATE" || fail "log --help lacks --since"

at $D1 cl init --office $B "$L" >/dev/null
export CASELEDGER_DIR="$L"

# An independent, sorted dump of the index with the sqlite3 shell (no row numbers).
dump() {
	sqlite3 "$L/index.db" "
	select 'B', branch, head from branches order by 1, 2;
	select 'R', branch, id, type, status, office, void, hlc, blob, json from records order by 2, 3;
	select 'F', r.id, f.field, typeof(f.value), f.value from fields f join records r using (rec)
		order by 2, 3, 5;
	select 'P', p.id_number, p.id_type, r.id from persons p join records r using (rec) order by 2, 4;
	select 'C', branch, commit_id, record, time, office, operator, reason, kind, fields
		from changes order by 2, 3, 4;"
}

say "records written on three days by two operators"
H=$(at $D1 cl add household address="3-2-501 Fengda Garden" phone=13800000000 income=150000)
P1=$(at $D1 cl add person name="Han Mei" id_number=11010519491231002X birth_date=1949-12-31 \
	household="$H" category=low-income)
P2=$(at $D1 cl add person name="Han Xiao" id_type=passport id_number=E12345678 household="$H")
P3=$(at $D1 cl add person name="Zhou Jiaxin" id_number=120112198001010011 birth_date=1980-01-01)
at $D1 cl amend "$H" head="$P1" members+="$P1" members+="$P2" --reason "members" >/dev/null
C1=$(at $D1 cl add case subject="$P1" household="$H" programme=minimum-living-guarantee \
	monthly_amount=120000)
# a copy of the index as it stands now, to bring back later as a stale index
sqlite3 "$L/index.db" "pragma wal_checkpoint(truncate)" >/dev/null
cp "$L/index.db" "$T/stale.db"
C2=$(at $D2 cl --operator zhou add case subject="$P3" programme=temporary one_off_amount=50000)
C3=$(at $D2 cl add case subject="$P2" programme=medical monthly_amount=30000)
at $D2 cl --operator zhou amend "$C1" status=applied applied_on=2026-02-01 monthly_amount=125000 \
	--reason "application submitted" >/dev/null
at $D3 cl amend "$P1" name="Han Meiling" --reason "name as on the resident ID" >/dev/null
at $D3 cl void "$C3" --reason "entered twice" >/dev/null
M=$(at $D3 cl add medical person="$P1" hospital="Dade" total=1000000 insured=600000 \
	self_paid=400000 rate_percent=80 assisted=320000)

say "find: equality, prefix, comparisons, lists, non-searchable fields, AND, limit"
cl find person name~Han --json >"$T/f.json"
expect_eq "$(json_get "$T/f.json" '$.length')" "" "find --json is an array"
expect_eq "$(sqlite3 :memory: "select json_array_length(readfile('$T/f.json'))")" 2 "name~Han"
cl find person id_number=11010519491231002X --json >"$T/f.json"
expect_eq "$(json_get "$T/f.json" '$[0].id')" "$P1" "find by ID number"
expect_eq "$(json_get "$T/f.json" '$[0].name')" "Han Meiling" "find sees the amended name"
cl find person name=Han\ Mei >"$T/f.txt"
grep -q "^0 records" "$T/f.txt" || fail "old name still found: $(cat "$T/f.txt")"
cl find person 'birth_date<1970-01-01' >"$T/f.txt"
grep -q "^$P1 " "$T/f.txt" && grep -q "^1 record$" "$T/f.txt" || fail "birth_date<: $(cat "$T/f.txt")"
cl find case 'monthly_amount>=120000' --csv >"$T/f.csv"
expect_eq "$(sed -n 1p "$T/f.csv" | cut -d, -f1-3)" "id,branch,subject" "csv header"
expect_eq "$(wc -l <"$T/f.csv")" 2 "monthly_amount>=120000 (header + 1)"
grep -q "^$C1,$B,$P1,$H,minimum-living-guarantee,applied,125000," "$T/f.csv" ||
	fail "csv row: $(cat "$T/f.csv")"
cl find case 'monthly_amount<100000' programme=medical --json >"$T/f.json"
expect_eq "$(json_get "$T/f.json" '$[0].id')" "$C3" "AND of two non-searchable fields"
cl find case status=applied subject="$P1" --json >"$T/f.json"
expect_eq "$(json_get "$T/f.json" '$[0].id')" "$C1" "status and subject"
cl find household members="$P2" --json >"$T/f.json"
expect_eq "$(json_get "$T/f.json" '$[0].id')" "$H" "list membership"
cl find case void=yes --json >"$T/f.json"
expect_eq "$(json_get "$T/f.json" '$[0].id')" "$C3" "void=yes"
cl find case --limit 2 --branch $B --json >"$T/f.json"
expect_eq "$(sqlite3 :memory: "select json_array_length(readfile('$T/f.json'))")" 2 "--limit 2"
cl find person id~E123 --json >"$T/f.json"
expect_eq "$(sqlite3 :memory: "select json_array_length(readfile('$T/f.json'))")" 0 "id~E123"
cl find person id_number~E123 --json >"$T/f.json"
expect_eq "$(json_get "$T/f.json" '$[0].id')" "$P2" "id_number~E123"
expect_fail 4 "person has no field 'colour'" cl find person colour=red
expect_fail 4 "no record type 'spaceship'" cl find spaceship name=x
expect_fail 4 "field 'monthly_amount' wants an integer amount in fen, got '12.5'" \
	cl find case monthly_amount=12.5
expect_fail 4 "'~' wants text" cl find case monthly_amount~1
expect_fail 2 "'name' is not a condition" cl find person name
expect_fail 2 "give a record type" cl find
expect_fail 4 "branch 'nope' is not an office code" cl find person --branch nope

say "show --at a date, a time and a revision"
cl show "$P1" --at 2026-02-15 >"$T/s.txt"
grep -q "^name *Han Mei$" "$T/s.txt" || fail "show --at 2026-02-15: $(cat "$T/s.txt")"
grep -q "^as of commit " "$T/s.txt" || fail "no 'as of' line"
cl show "$P1" --at 2026-03-02 --json >"$T/s.json"
expect_eq "$(json_get "$T/s.json" '$.name')" "Han Meiling" "show --at the day of the change"
cl show "$C1" --at 2026-02-01T00:00:00Z --json >"$T/s.json"
expect_eq "$(json_get "$T/s.json" '$.monthly_amount')" 125000 "show --at an exact time"
cl show "$C1" --at 2026-01-31T23:59:59+00:00 --json >"$T/s.json"
expect_eq "$(json_get "$T/s.json" '$.monthly_amount')" 120000 "show --at a second before"
cl show "$C1" --at "$B~3" --json >"$T/s.json"
expect_eq "$(json_get "$T/s.json" '$.status')" applied "show --at a revision"
expect_fail 3 "no record '$C2' at '2026-01-15'" cl show "$C2" --at 2026-01-15
expect_fail 3 "has no commit at or before '2025-12-31'" cl show "$P1" --at 2025-12-31
expect_fail 4 "'2026-02-30' is not a date or time" cl show "$P1" --at 2026-02-30
expect_fail 3 "no commit or branch 'nosuchrev'" cl show "$P1" --at nosuchrev

say "log: the audit view across records"
cl log --since 2026-02-01 --until 2026-02-28 --json >"$T/l.json"
expect_eq "$(sqlite3 :memory: "select json_array_length(readfile('$T/l.json'))")" 3 "February changes"
expect_eq "$(json_get "$T/l.json" '$[0].record')" "$C1" "newest first"
expect_eq "$(json_get "$T/l.json" '$[0].reason')" "application submitted" "reason"
expect_eq "$(json_get "$T/l.json" '$[0].signature')" good "signature"
cl log --operator zhou --json >"$T/l.json"
expect_eq "$(sqlite3 :memory: "select json_array_length(readfile('$T/l.json'))")" 2 "by operator"
cl log --field name --json >"$T/l.json"
expect_eq "$(sqlite3 :memory: "select json_array_length(readfile('$T/l.json'))")" 4 \
	"changes touching name (3 creations, 1 rename)"
expect_eq "$(json_get "$T/l.json" '$[0].changes[0].old')" "Han Mei" "old value"
expect_eq "$(json_get "$T/l.json" '$[0].changes[0].new')" "Han Meiling" "new value"
cl log --office $B --since 2026-03-02 >"$T/l.txt"
grep -q "name: Han Mei -> Han Meiling" "$T/l.txt" || fail "audit text: $(cat "$T/l.txt")"
grep -q "void: - -> yes" "$T/l.txt" || fail "void in audit text: $(cat "$T/l.txt")"
cl log --office 120112001002 --json >"$T/l.json"
expect_eq "$(cat "$T/l.json")" "[]" "another office made no change"
cl log "$C1" --field status --json >"$T/l.json"
expect_eq "$(sqlite3 :memory: "select json_array_length(readfile('$T/l.json'))")" 2 "one record's status"
expect_fail 4 "--since: '2026-13-01' is not a date" cl log --since 2026-13-01
expect_fail 2 "--since is after --until" cl log --since 2026-03-01 --until 2026-02-01

say "blame: who set each field"
cl blame "$C1" --json >"$T/b.json"
n=$(sqlite3 :memory: "select json_array_length(readfile('$T/b.json'), '\$.fields')")
i=0
while [ "$i" -lt "$n" ]; do
	f=$(json_get "$T/b.json" "\$.fields[$i].field")
	case $f in
	status | monthly_amount | applied_on)
		expect_eq "$(json_get "$T/b.json" "\$.fields[$i].operator")" zhou "$f set by"
		expect_eq "$(json_get "$T/b.json" "\$.fields[$i].reason")" "application submitted" "$f reason"
		expect_eq "$(json_get "$T/b.json" "\$.fields[$i].time")" 2026-02-01T00:00:00+00:00 "$f time"
		;;
	programme | subject)
		expect_eq "$(json_get "$T/b.json" "\$.fields[$i].operator")" tester "$f set by"
		expect_eq "$(json_get "$T/b.json" "\$.fields[$i].time")" 2026-01-02T00:00:00+00:00 "$f time"
		;;
	esac
	expect_eq "$(json_get "$T/b.json" "\$.fields[$i].signature")" good "$f signature"
	i=$((i + 1))
done
[ "$n" -ge 7 ] || fail "blame lists $n fields"
cl blame "$P1" >"$T/b.txt"
grep -q "reason: name as on the resident ID" "$T/b.txt" || fail "blame text: $(cat "$T/b.txt")"
expect_fail 3 "no record 'C-120112001001-NOSUCH'" cl blame C-120112001001-NOSUCH
expect_fail 4 "has no known type prefix" cl blame Q-120112001001-X

say "stats: counts and money sums"
cl stats --by type --json >"$T/st.json"
expect_eq "$(json_get "$T/st.json" '$.total.count')" 7 "records not void"
expect_eq "$(json_get "$T/st.json" '$.total.void')" 1 "void records"
expect_eq "$(json_get "$T/st.json" '$.groups[0].key')" case "first group"
expect_eq "$(json_get "$T/st.json" '$.groups[0].count')" 2 "cases not void"
expect_eq "$(json_get "$T/st.json" '$.groups[0].sums."case.monthly_amount"')" 125000 "monthly sum"
expect_eq "$(json_get "$T/st.json" '$.groups[0].sums."case.one_off_amount"')" 50000 "one-off sum"
expect_eq "$(json_get "$T/st.json" '$.total.sums."medical.assisted"')" 320000 "assisted sum"
cl stats --by month --json >"$T/st.json"
expect_eq "$(json_get "$T/st.json" '$.groups[0].key')" 2026-01 "month"
expect_eq "$(json_get "$T/st.json" '$.groups[0].count')" 5 "created in January"
cl stats --by programme --json >"$T/st.json"
cl stats --by status >"$T/st.txt"
grep -q "^applied .* 1 records" "$T/st.txt" || fail "stats text: $(cat "$T/st.txt")"
cl stats --by office --json >"$T/st.json"
expect_eq "$(json_get "$T/st.json" '$.groups[0].key')" $B "office"
expect_fail 2 "--by wants type, status" cl stats --by colour

say "reindex gives the same index as the incremental path"
dump >"$T/incremental"
cl reindex --check >"$T/out" || fail "reindex --check: $(cat "$T/out")"
snap=$(ledger_fingerprint "$L")
cl reindex >"$T/out"
grep -q "reindexed 1 branch: 13 commits" "$T/out" || fail "reindex said: $(cat "$T/out")"
dump >"$T/rebuilt"
cmp -s "$T/incremental" "$T/rebuilt" || fail "reindex differs: $(diff "$T/incremental" "$T/rebuilt" | head)"
[ "$(wc -l <"$T/rebuilt")" -gt 40 ] || fail "dump too small to compare"
expect_eq "$(ledger_fingerprint "$L")" "$snap" "ledger after reindex"

say "a stale index (commits made by plain git) catches up by tree diff"
head=$(git -C "$L" rev-parse refs/heads/$B)
rm -f "$L/index.db-wal" "$L/index.db-shm"
cp "$T/stale.db" "$L/index.db"
cl find case status=applied --json >"$T/f.json"
expect_eq "$(json_get "$T/f.json" '$[0].id')" "$C1" "after catch-up"
dump >"$T/caught"
cmp -s "$T/incremental" "$T/caught" || fail "catch-up differs: $(diff "$T/incremental" "$T/caught" | head)"

say "history rewritten under the index: the branch is re-indexed, and says so"
git -C "$L" update-ref refs/heads/$B "$head~2" "$head"
cl find medical >"$T/out" 2>"$T/err"
grep -q "branch '$B' was rewritten" "$T/err" || fail "no word of the rewrite: $(cat "$T/err")"
grep -q "^0 records" "$T/out" || fail "medical record still indexed: $(cat "$T/out")"
cl reindex --check >/dev/null || fail "index after rewrite differs from a rebuild"
git -C "$L" update-ref refs/heads/$B "$head" "$head~2"
cl find medical >"$T/out" 2>"$T/err"
grep -q "^1 record$" "$T/out" || fail "fast-forward: $(cat "$T/out")"
cl reindex --check >/dev/null

say "a signed commit with a record blob that is not valid JSON is refused, and served again once rewound"
path=$(git -C "$L" ls-tree -r --name-only refs/heads/$B | grep "$P3")
printf '{"id": "%s", "name": ' "$P3" >"$T/badblob"
broken=$("$top_builddir/tests/integration/forge" "$L" "$L/office.key" $B --raw "$path=$T/badblob")
cl find person name~Zhou >"$T/out" 2>"$T/err"
grep -q "warning: branch '$B' is not served: commit $broken .*its last verified commit is $(echo "$head" | cut -c1-12)" "$T/err" ||
	fail "bad blob: $(cat "$T/err")"
grep -q "^1 record$" "$T/out" || fail "find shows the last verified state: $(cat "$T/out")"
expect_fail 7 "commit $broken" cl show "$P3"
git -C "$L" update-ref refs/heads/$B "$head" "$broken"
cl find person name~Zhou >"$T/out" 2>"$T/err"
grep -q "^1 record$" "$T/out" || fail "record after the rewind: $(cat "$T/out")"
expect_eq "$(cat "$T/err")" "" "warnings after the rewind"

say "a bulk add of 600 records (written as one pack) is indexed in the same command"
i=0
while [ "$i" -lt 600 ]; do
	printf '{"date":"2026-03-02","worker":"bulk","kind":"phone","notes":"call %d"}\n' "$i"
	i=$((i + 1))
done | sed -e '1s/^/[/' -e '$!s/$/,/' -e '$s/$/]/' >"$T/bulk.json"
at $D3 cl add visit --from-json "$T/bulk.json" >/dev/null
sqlite3 "$L/index.db" "select count(*) from records where type = 'visit'" >"$T/n"
expect_eq "$(cat "$T/n")" 600 "visits indexed right after the bulk commit"
cl find visit worker=bulk 'notes~call 59' --json >"$T/f.json"
expect_eq "$(sqlite3 :memory: "select json_array_length(readfile('$T/f.json'))")" 11 "notes~'call 59'"
git -C "$L" fsck --strict --no-dangling >/dev/null 2>&1 || fail "git fsck after the bulk pack"
dump >"$T/incremental"
cl reindex --check >/dev/null || fail "bulk: index differs from a rebuild"
head=$(git -C "$L" rev-parse refs/heads/$B)

say "a deleted index is rebuilt with a message; the ledger is untouched"
snap=$(ledger_fingerprint "$L")
rm -f "$L/index.db" "$L/index.db-wal" "$L/index.db-shm"
cl find person id_number=120112198001010011 --json >"$T/f.json" 2>"$T/err"
grep -q "index '$L/index.db' is missing; rebuilding it from the repository" "$T/err" ||
	fail "missing index: $(cat "$T/err")"
expect_eq "$(json_get "$T/f.json" '$[0].id')" "$P3" "find after rebuild"
dump >"$T/again"
cmp -s "$T/incremental" "$T/again" || fail "rebuilt index differs"
expect_eq "$(ledger_fingerprint "$L")" "$snap" "ledger after a missing index"

say "a garbage index is moved aside and rebuilt"
head -c 65536 /dev/urandom >"$L/index.db"
cl show "$P1" >/dev/null 2>"$T/err" || fail "show with a garbage index: $(cat "$T/err")"
grep -q "index '$L/index.db' is damaged (file is not a database); moved it to '$L/index.db.corrupt-" \
	"$T/err" || fail "garbage index: $(cat "$T/err")"
ls "$L"/index.db.corrupt-* >/dev/null || fail "damaged index not kept aside"
dump >"$T/again"
cmp -s "$T/incremental" "$T/again" || fail "index rebuilt from garbage differs"
expect_eq "$(ledger_fingerprint "$L")" "$snap" "ledger after a garbage index"

say "an index corrupted inside its pages is detected by a query and rebuilt"
rm -f "$L"/index.db.corrupt-*
sqlite3 "$L/index.db" "pragma wal_checkpoint(truncate)" >/dev/null
size=$(stat -c %s "$L/index.db")
pages=$((size / 4096))
# keep page 1 (header and schema), overwrite every other page with garbage
head -c $(((pages - 1) * 4096)) /dev/urandom |
	dd of="$L/index.db" bs=4096 seek=1 conv=notrunc 2>/dev/null
cl find person name~Han --json >"$T/f.json" 2>"$T/err" || fail "find on a corrupt index: $(cat "$T/err")"
grep -q "is damaged" "$T/err" || fail "corrupt pages not reported: $(cat "$T/err")"
expect_eq "$(sqlite3 :memory: "select json_array_length(readfile('$T/f.json'))")" 2 "find after repair"
dump >"$T/again"
cmp -s "$T/incremental" "$T/again" || fail "index rebuilt from corrupt pages differs"
expect_eq "$(ledger_fingerprint "$L")" "$snap" "ledger after a corrupt index"

say "an index of another format is rebuilt"
sqlite3 "$L/index.db" "update meta set value = '1' where key = 'format'"
cl find person >/dev/null 2>"$T/err"
grep -q "it has format 1, this caseledger uses 3" "$T/err" || fail "old format: $(cat "$T/err")"

say "kill -9 during reindex and during catch-up leaves a usable index"
i=0
while [ "$i" -lt 40 ]; do
	printf '{"date":"2026-03-02","worker":"w","kind":"home","notes":"bulk %d"}\n' "$i"
	i=$((i + 1))
done | sed -e '1s/^/[/' -e '$!s/$/,/' -e '$s/$/]/' >"$T/visits.json"
r=0
for ms in 010 030 060 090 150 250 400 600; do
	r=$((r + 1))
	if [ $((r % 2)) -eq 0 ]; then
		# a write: commit, then the catch-up right after it
		setsid "$CASELEDGER" add visit --from-json "$T/visits.json" >/dev/null 2>&1 &
	else
		at $D3 cl add visit --from-json "$T/visits.json" >/dev/null
		setsid "$CASELEDGER" reindex >/dev/null 2>&1 &
	fi
	pid=$!
	sleep "0.$ms"
	kill -KILL "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	cl stats --json >"$T/st.json" 2>"$T/err" || fail "stats after kill -9 in round $r: $(cat "$T/err")"
	grep -q "damaged" "$T/err" && fail "kill -9 damaged the index in round $r: $(cat "$T/err")"
done
cl reindex --check >"$T/out" 2>&1 || fail "index after kill -9 differs: $(cat "$T/out")"
git -C "$L" fsck --strict --no-dangling >/dev/null 2>&1 || fail "git fsck after kills"
cl verify >/dev/null || fail "verify after kills"
say "ok"
