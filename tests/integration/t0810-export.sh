#!/bin/sh
# What an auditor files: --csv on log (both views), blame, conflicts, stats, status and ca
# list, read back by python3's csv module and compared with --json; conflicts at the city
# list every open conflict in its scope, grouped by branch; a write without an operator
# says so; log and blame show what came from a record escaped.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/synclib.sh"

city_ca 1201
issued dist 120112
issued c1 120112001001
B1=120112001001
ID=11010519491231002X
daemon_conf city
start city
daemon_conf dist "parent=https://127.0.0.1:$PORT_city/ledger" parent_name=city
start dist
daemon_conf c1 "parent=https://127.0.0.1:$PORT_dist/ledger" parent_name=district
start c1
on() {
	o=$1
	shift
	CASELEDGER_DIR=$T/$o cl "$@"
}
sync() { cl -C "$T/$1" sync --wait >"$T/sync.out" 2>"$T/sync.err" || fail "sync $1: $(cat "$T/sync.err")"; }

# same_as_json KIND CSV JSON [RECORD]: the CSV, parsed, holds what the JSON holds
same_as_json() {
	python3 - "$@" <<'PY' || fail "$1: CSV and JSON differ"
import csv, json, sys
kind, csv_path, json_path = sys.argv[1:4]
raw = open(csv_path, "rb").read()
assert raw.endswith(b"\r\n"), "rows end in CR LF"
rows = list(csv.DictReader(open(csv_path, newline="", encoding="utf-8")))
doc = json.load(open(json_path))
def cell(v):
    if v is None: return ""
    if isinstance(v, bool): return "true" if v else "false"
    if isinstance(v, str): return v
    return json.dumps(v, separators=(",", ":"), sort_keys=True, ensure_ascii=False)
if kind == "log":
    want = []
    for e in doc:
        for c in (e.get("changes") or [{}]):
            want.append((e["commit"], c.get("field", ""), cell(c.get("old")), cell(c.get("new")),
                         e["office"], e["operator"], e.get("reason", "")))
    got = [(r["commit"], r["field"], r["old"], r["new"], r["office"], r["operator"], r["reason"]) for r in rows]
elif kind == "blame":
    want = [(f["field"], cell(f["value"]), f.get("commit") or "", f.get("office") or "") for f in doc["fields"]]
    got = [(r["field"], r["value"], r["commit"], r["office"]) for r in rows]
elif kind == "conflicts":
    want = [(c["branch"], c["id"], c["record"], c["field"], cell(c.get("ours")), cell(c.get("theirs"))) for c in doc]
    got = [(r["branch"], r["id"], r["record"], r["field"], r["ours"], r["theirs"]) for r in rows]
elif kind == "stats":
    want = [(g.get("key") or "", str(g["count"]), str(g["void"])) for g in doc["groups"]]
    want.append(("total", str(doc["total"]["count"]), str(doc["total"]["void"])))
    got = [(r["key"], r["count"], r["void"]) for r in rows]
    for g, r in zip(doc["groups"] + [doc["total"]], rows):
        for k, v in g["sums"].items():
            assert r[k] == str(v), (k, r[k], v)
elif kind == "status":
    want = [(b["branch"], str(b.get("ahead", "")), str(b.get("behind", "")), str(b.get("conflicts", ""))) for b in doc["branches"]]
    got = [(r["branch"], r["ahead"], r["behind"], r["conflicts"]) for r in rows]
elif kind == "ca":
    want = [(c["office"], c["serial"], c["name"], c["not_after"], c.get("revoked") or "") for c in doc]
    got = [(r["office"], r["serial"], r["name"], r["not_after"], r["revoked"]) for r in rows]
if want != got:
    print("want", want, "\ngot ", got, file=sys.stderr)
    sys.exit(1)
if not want:
    print(kind + ": nothing to compare", file=sys.stderr)
    sys.exit(1)
PY
}

say "a case and a name changed on both sides: a conflict on the community's branch"
P=$(on c1 add person name="Han Mei" id_number=$ID)
C=$(on c1 add case subject="$P" programme=minimum-living-guarantee status=applied monthly_amount=50000)
sync dist # its trust branch predates c1's certificate: the city's first
sync c1
wait_eq "head_of city $B1" "$(head_of c1 $B1)" "the city's copy"
on c1 amend "$P" name="Han Meimei" --reason 'ID card, "new" spelling, see scan' >/dev/null
on dist amend "$P" name="Han Mei-Li" --reason "district register" >/dev/null
on c1 amend "$C" monthly_amount=52000 --reason "income, 2026" >/dev/null
sync dist
sync c1
sync dist
wait_eq "head_of city $B1" "$(head_of c1 $B1)" "the city's copy"

say "conflicts at the city: every open conflict in its scope, by branch"
on city conflicts >"$T/out"
grep -q "^branch $B1\$" "$T/out" || fail "conflicts at the city: $(cat "$T/out")"
grep -q "^  X-[^ ]*  open  $P 'name'\$" "$T/out" || fail "conflicts at the city: $(cat "$T/out")"
grep -q '"Han Meimei"' "$T/out" && grep -q '"Han Mei-Li"' "$T/out" ||
	fail "conflicts at the city: both values: $(cat "$T/out")"
on city conflicts --json >"$T/c.json"
expect_eq "$(json_get "$T/c.json" '$[0].branch')" $B1 "the conflict's branch"
on city conflicts --csv >"$T/c.csv"
same_as_json conflicts "$T/c.csv" "$T/c.json"
on c1 conflicts --json >"$T/c1.json"
expect_eq "$(json_get "$T/c1.json" '$[0].id')" "$(json_get "$T/c.json" '$[0].id')" "the same conflict at c1"
expect_fail 2 "give --json or --csv" cl -C "$T/city" conflicts --json --csv

say "log --csv, both views, and blame --csv: what --json says"
on city log "$P" --json >"$T/l.json"
on city log "$P" --csv >"$T/l.csv"
same_as_json log "$T/l.csv" "$T/l.json"
grep -q '"ID card, ""new"" spelling, see scan"' "$T/l.csv" || fail "quoting: $(cat "$T/l.csv")"
on city log --office 120112 --json >"$T/a.json"
on city log --office 120112 --csv >"$T/a.csv"
same_as_json log "$T/a.csv" "$T/a.json"
on city log --since 2000-01-01 --csv >"$T/a.csv"
on city log --since 2000-01-01 --json >"$T/a.json"
same_as_json log "$T/a.csv" "$T/a.json"
for id in "$P" "$C"; do
	on city blame "$id" --json >"$T/b.json"
	on city blame "$id" --csv >"$T/b.csv"
	same_as_json blame "$T/b.csv" "$T/b.json"
done
expect_fail 2 "give --json or --csv" cl -C "$T/city" log --json --csv

say "stats, status and ca list --csv"
for by in "" "--by type" "--by office"; do
	# shellcheck disable=SC2086
	on city stats $by --json >"$T/s.json"
	# shellcheck disable=SC2086
	on city stats $by --csv >"$T/s.csv"
	same_as_json stats "$T/s.csv" "$T/s.json"
done
on c1 status --json >"$T/st.json"
on c1 status --csv >"$T/st.csv"
same_as_json status "$T/st.csv" "$T/st.json"
on city ca list --json >"$T/ca.json"
on city ca list --csv >"$T/ca.csv"
same_as_json ca "$T/ca.csv" "$T/ca.json"

say "a write without an operator says so, and records what it names"
(
	unset CASELEDGER_OPERATOR
	USER=mei CASELEDGER_DIR=$T/c1 cl amend "$C" monthly_amount=53000 --reason review >"$T/out" 2>"$T/err"
) || fail "amend without an operator: $(cat "$T/err")"
grep -q "warning: no operator given.*recorded as made by 'mei'" "$T/err" || fail "no warning: $(cat "$T/err")"
expect_eq "$(git -C "$T/c1" log -1 --format=%an $B1)" mei "the operator recorded"
CASELEDGER_DIR=$T/c1 cl --operator "Li Na" amend "$C" monthly_amount=54000 --reason review >"$T/out" 2>"$T/err" ||
	fail "amend with --operator: $(cat "$T/err")"
expect_eq "$(git -C "$T/c1" log -1 --format=%an $B1)" "Li Na" "the operator given"
[ ! -s "$T/err" ] || fail "a warning with an operator: $(cat "$T/err")"

say "names next to ids and office codes in human output"
on city show "$C" >"$T/out"
grep -q "^subject  *$P (Han M" "$T/out" || fail "show: no name next to the subject: $(cat "$T/out")"
on city log "$P" >"$T/out"
grep -q "office 120112 (dist)" "$T/out" || fail "log: no office name: $(cat "$T/out")"
on city blame "$C" >"$T/out"
grep -q "office $B1 (c1)" "$T/out" || fail "blame: no office name: $(cat "$T/out")"
on city log --office 120112 >"$T/out"
grep -q "office 120112 (dist)" "$T/out" || fail "log --office: no office name: $(cat "$T/out")"
grep -q "^  amend person $P (Han M" "$T/out" || fail "log --office: no record name: $(cat "$T/out")"
on city blame "$C" subject >"$T/out"
grep -q "^  subject  *$P (Han M" "$T/out" || fail "blame: no name next to the subject: $(cat "$T/out")"

say "one zone, the ledger's, for every time read and printed, whatever TZ says"
git -C "$T/city" config caseledger.timezone Asia/Shanghai
TZ=UTC cl -C "$T/city" log "$P" --json >"$T/tz1.json"
TZ=America/New_York cl -C "$T/city" log "$P" --json >"$T/tz2.json"
cmp -s "$T/tz1.json" "$T/tz2.json" || fail "log differs by TZ"
t=$(json_get "$T/tz1.json" '$[0].time')
case "$t" in *+08:00) ;; *) fail "time not in the ledger's zone: $t" ;; esac
local=${t%:??+08:00} # YYYY-MM-DDTHH:MM, no zone
n1=$(TZ=UTC cl -C "$T/city" log --since "$local" --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')
n2=$(TZ=America/New_York cl -C "$T/city" log --since "$local" --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')
n3=$(cl -C "$T/city" log --since "$local:00+08:00" --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')
expect_eq "$n1" "$n3" "--since without a zone, TZ=UTC"
expect_eq "$n2" "$n3" "--since without a zone, TZ=America/New_York"
TZ=UTC cl -C "$T/city" blame "$P" --json >"$T/tz3.json"
case "$(json_get "$T/tz3.json" '$.fields[0].time')" in *+08:00) ;; *) fail "blame time not in the zone" ;; esac
git -C "$T/city" config caseledger.timezone Mars/Olympus_Mons
expect_fail 4 "caseledger.timezone 'Mars/Olympus_Mons'" cl -C "$T/city" log "$P"
git -C "$T/city" config --unset caseledger.timezone

say "log and blame show a record's line breaks and controls escaped"
V=$(on c1 add visit subject="$P" date=2026-06-01 kind=home worker=w notes="$(printf 'all well\nstatus approved')")
on c1 blame "$V" >"$T/out"
grep -q '^ *status approved' "$T/out" && fail "blame printed a raw line break: $(cat "$T/out")"
on c1 amend "$V" worker=w2 --reason "$(printf 'first line\nstatus approved')" >/dev/null
on c1 blame "$V" worker >"$T/out"
grep -q '^ *reason: first line\\nstatus approved$' "$T/out" || fail "blame: a multi-line reason: $(cat "$T/out")"
grep -q '^ *status approved' "$T/out" && fail "blame printed a reason's raw line break: $(cat "$T/out")"
on c1 log "$V" >"$T/out"
grep -q '^ *status approved' "$T/out" && fail "log printed a raw line break: $(cat "$T/out")"
grep -q 'all well\\nstatus approved' "$T/out" || fail "log: $(cat "$T/out")"
say "void at the district finds the record's branch from its id"
V2=$(on c1 add visit subject="$P" date=2026-06-02 kind=home worker=w)
sync c1
wait_eq "head_of dist $B1" "$(head_of c1 $B1)" "the district's copy"
on dist void "$V2" --reason "entered twice" >/dev/null || fail "void without --branch"
expect_eq "$(git -C "$T/dist" log -1 --format=%s $B1)" "void $V2" "void on $B1"
say "ok"
