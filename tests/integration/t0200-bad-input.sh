#!/bin/sh
# Bad input of every kind gets a clear error naming what was wrong, a distinct exit
# code, and changes nothing that was stored.
. "$(dirname "$0")/lib.sh"

L=$T/office
cl init --office 120112001001 "$L" >/dev/null
export CASELEDGER_DIR="$L"
P=$(cl add person name="Han Mei" id_number=11010519491231002X)
C=$(cl add case subject="$P" programme=temporary)
M=$(cl add medical person="$P" hospital="Dade" total=1000 self_paid=400)
snap() { ledger_fingerprint "$L" >"$T/snap.$1"; }
same() { ledger_fingerprint "$L" | cmp -s - "$T/snap.$1" || fail "ledger changed after: $2"; }
snap 0

# bad ADD cases: exit code, message, arguments
while IFS='|' read -r code msg args; do
	[ -n "$code" ] || continue
	eval "set -- $args"
	expect_fail "$code" "$msg" cl add "$@"
	same 0 "add $args"
done <<CASES
4|no record type 'spaceship'|spaceship name=x
4|person has no field 'colour'|person name=x id_number=11010519491231002X colour=red
4|field 'sex'|person name=x id_number=11010519491231002X sex=unknown
4|fen|case subject=$P programme=temporary monthly_amount=12.5
4|2023-02-29|person name=x id_number=11010519491231002X birth_date=2023-02-29
4|id_number|person name=x id_number=110105194912310021
4|id_number|person name=x id_number=11010519491331002X
4|field 'name'|person id_number=11010519491231002X
4|field 'subject'|case subject=H-120112001001-X programme=temporary
4|field 'subject'|case subject=not-an-id programme=temporary
4|field 'members'|household address=a members=$P,$P
4|field 'address'|household address=$(printf '%0300d' 0)
4|kept by caseledger|person id=P-120112001001-X name=x id_number=11010519491231002X
4|kept by caseledger|person void=yes name=x id_number=11010519491231002X
4|field 'assisted'|medical person=$P hospital=h total=100 self_paid=50 assisted=60
4|cannot be created as 'active'|case subject=$P programme=temporary status=active
4|cannot be created as 'approved'|case subject=$P programme=temporary status=approved
4|field 'advance'|medical person=$P hospital=h total=10000000 advance=2000001
2|'x' is not a field edit|person x
CASES

say "bad amend cases"
expect_fail 2 "--reason TEXT is required" cl amend "$C" status=applied
expect_fail 2 "give at least one field=value" cl amend "$C" --reason r
expect_fail 3 "no record 'C-120112001001-NOSUCH'" cl amend C-120112001001-NOSUCH status=applied --reason r
expect_fail 4 "record id 'C-1/../x' is not valid" cl amend "C-1/../x" status=applied --reason r
expect_fail 4 "has no known type prefix" cl amend Q-120112001001-ABC status=applied --reason r
expect_fail 4 "cannot go from 'draft' to 'active'" cl amend "$C" status=active --reason r
C2=$(cl add case subject="$P" programme=temporary status=applied)
snap 0
expect_fail 5 "cannot go from 'applied' to 'reviewed' (needs a street office)" \
	cl amend "$C2" status=reviewed --reason r
expect_fail 4 "field 'programme'" cl amend "$C" programme= --reason "clear a required field"
expect_fail 4 "field 'status' is not a list" cl amend "$C" status+=x --reason r
expect_fail 4 "field 'assisted'" cl amend "$M" assisted=500 --reason r
expect_fail 3 "no record" cl show C-120112001001-NOSUCH
expect_fail 3 "no record" cl log C-120112001001-NOSUCH
expect_fail 2 "give one record id" cl void --reason r
expect_fail 2 "--reason TEXT is required" cl void "$C"
same 0 "bad amendments"

say "bad --from-json files"
printf '{"name": "x", ' >"$T/trunc.json"
expect_fail 4 "trunc.json': line" cl add person --from-json "$T/trunc.json"
printf '[{"name": "ok", "id_number": "11010519491231002X"}, {"name": "bad", "id_number": "1"}]' \
	>"$T/half.json"
expect_fail 4 "half.json' record 2" cl add person --from-json "$T/half.json"
printf '{"name": "x", "id_number": "11010519491231002X", "income": 1.5}' >"$T/real.json"
expect_fail 4 "person has no field 'income'" cl add person --from-json "$T/real.json"
printf '{"monthly_amount": 1.5}' >"$T/real2.json"
expect_fail 4 "monthly_amount" cl amend "$C" --from-json "$T/real2.json" --reason r
printf '{"a": 1, "a": 2}' >"$T/dup.json"
expect_fail 4 "duplicate" cl add person --from-json "$T/dup.json"
printf '[{"status": "applied"}]' >"$T/noid.json"
expect_fail 4 "want an object with \"id\"" cl amend --from-json "$T/noid.json" --reason r
expect_fail 3 "cannot open '$T/missing.json'" cl add person --from-json "$T/missing.json"
same 0 "bad JSON files"

say "bad command lines"
expect_fail 2 "no command 'frobnicate'" cl frobnicate
expect_fail 2 "unknown option" cl add person --bogus
expect_fail 2 "--office CODE is required" cl init "$T/x"
expect_fail 2 "give the record type" cl add
expect_fail 4 "operator name" cl --operator "a<b>" add person name=x id_number=11010519491231002X
same 0 "bad command lines"

say "bad ledgers and init"
expect_fail 4 "office code '12011' is not valid" cl init --office 12011 "$T/new"
expect_fail 4 "office code '1201120010a1' is not valid" cl init --office 1201120010a1 "$T/new"
[ ! -e "$T/new" ] || fail "a failed init left '$T/new'"
expect_fail 4 "exists and is not empty" cl init --office 120112001001 "$L"
printf 'junk' >"$T/schema-bad.ini"
expect_fail 4 "schema-bad.ini" cl init --office 120112001001 --schema "$T/schema-bad.ini" "$T/new"
[ ! -e "$T/new" ] || fail "a failed init left '$T/new'"
ls "$T" | grep -q 'new.init-' && fail "a failed init left its temporary directory" || true
expect_fail 3 "is not a ledger directory" cl -C "$T" show "$C"
same 0 "bad init"

say "a key file others can read is refused, and nothing is written"
chmod 644 "$L/office.key"
expect_fail 5 "mode 0644" cl amend "$C" status=applied --reason r
chmod 600 "$L/office.key"
same 0 "key permissions"

say "a broken schema file in the ledger is reported, not ignored"
cp "$L/schema.ini" "$T/schema.keep"
printf '[case.status]\ntype = spaceship\n' >>"$L/schema.ini"
expect_fail 4 "schema.ini" cl show "$C"
cp "$T/schema.keep" "$L/schema.ini"
same 0 "broken schema"

say "ok"
