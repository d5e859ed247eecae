#!/bin/sh
# Trust: the city CA issues office certificates; stock openssl accepts them; an office
# ledger is created from them; verify_commit accepts a community's own commits and
# rejects, with the commit, the signer and the rule, every commit that breaks a rule:
# sibling branch, unknown key, expired key, a revoked key's commit outside the history
# the city accepted (its cut-off), a status the level may not set,
# an invalid record, a removed record, a trust-branch write by a non-city office, and a
# merge inventing a decision. Merges taking a district's decision pass.
. "$(dirname "$0")/lib.sh"
FORGE=$top_builddir/tests/integration/forge
export TZ=UTC

T0=1767225600 # 2026-01-01T00:00:00Z
clt() {
	off=$1
	shift
	CASELEDGER_FAKE_TIME=$(($T0 + $off)) "$CASELEDGER" "$@"
}
forge() {
	off=$1
	shift
	CASELEDGER_FAKE_TIME=$(($T0 + $off)) "$FORGE" "$@"
}

CITY=$T/city
A=120112001001
B=120112001002
E=120112001003
R=120112001004
D=120112

say "ca init creates the city ledger, its CA and the trust branch"
clt 0 ca init --office 1201 --name Tianjin "$CITY" >"$T/out"
grep -q "created the CA of city 1201" "$T/out" || fail "ca init: $(cat "$T/out")"
expect_eq "$(stat -c %a "$CITY/ca.key")" 600 "ca.key mode"
git -C "$CITY" ls-tree -r --name-only trust >"$T/files"
for f in ca.pem crl.pem schema.ini; do grep -qx "$f" "$T/files" || fail "trust lacks $f"; done
grep -q '^certs/1201-[0-9a-f]*\.pem$' "$T/files" || fail "trust lacks the city cert"
openssl x509 -in "$CITY/ca.pem" -noout -text >"$T/ca.txt"
grep -q "CA:TRUE" "$T/ca.txt" || fail "CA basicConstraints"
grep -q "Certificate Sign, CRL Sign" "$T/ca.txt" || fail "CA keyUsage"
grep -q "Subject: OU = city CA, CN = 1201" "$T/ca.txt" || fail "CA subject"
expect_fail 4 "the CA belongs to a city" cl ca init --office 120112 "$T/notcity"
test ! -e "$T/notcity" || fail "ca init left a directory"

say "ca issue writes key, certificate and CA; openssl verify accepts them"
clt 0 -C "$CITY" ca issue --office $A --name Xinyeli --out "$T/credA" >/dev/null
clt 0 -C "$CITY" ca issue --office $B --out "$T/credB" >/dev/null
clt 0 -C "$CITY" ca issue --office $D --name Jinnan --host jinnan.example --host 10.0.0.6 \
	--out "$T/credD" --json >"$T/d.json"
clt 0 -C "$CITY" ca issue --office $E --not-before $T0 --days 1 --out "$T/credE" >/dev/null
clt 0 -C "$CITY" ca issue --office $R --out "$T/credR" >/dev/null
expect_eq "$(stat -c %a "$T/credA/office.key")" 600 "office.key mode"
cmp -s "$T/credA/ca.pem" "$CITY/ca.pem" || fail "issued ca.pem differs"
for c in A B D E R; do
	openssl verify -attime $(($T0 + 3600)) -CAfile "$CITY/ca.pem" "$T/cred$c/office.pem" >/dev/null ||
		fail "openssl verify rejected cred$c"
done
openssl verify -CAfile "$CITY/ca.pem" -purpose sslclient "$T/credA/office.pem" >/dev/null ||
	fail "openssl: not a TLS client cert"
openssl verify -CAfile "$CITY/ca.pem" -purpose sslserver "$T/credD/office.pem" >/dev/null ||
	fail "openssl: not a TLS server cert"
openssl x509 -in "$T/credD/office.pem" -noout -text >"$T/d.txt"
grep -q "DNS:jinnan.example, IP Address:10.0.0.6" "$T/d.txt" || fail "SAN: $(cat "$T/d.txt")"
grep -q "Subject: O = Jinnan, OU = district, CN = 120112" "$T/d.txt" || fail "subject"
grep -q "CA:FALSE" "$T/d.txt" || fail "CA:FALSE"
expect_eq "$(json_get "$T/d.json" '$.certificate.office')" $D "issue --json"
serial=$(json_get "$T/d.json" '$.certificate.serial')
expect_eq "${#serial}" 32 "128-bit serial"
openssl x509 -in "$T/credE/office.pem" -noout -enddate | grep -q "Jan  1 23:59:59 2026 GMT" ||
	fail "--days 1: $(openssl x509 -in "$T/credE/office.pem" -noout -enddate)"
expect_fail 4 "not within city '1201'" cl -C "$CITY" ca issue --office 130112 --out "$T/x"
expect_fail 4 "neither a DNS name nor an IP" cl -C "$CITY" ca issue --office $A --host 'a b' --out "$T/x"
expect_fail 4 "exists and is not an empty directory" cl -C "$CITY" ca issue --office $A --out "$T/credA"
test ! -e "$T/x" || fail "failed issue left files"

say "an office ledger from credentials and the trust branch"
clt 10 init --office $A --credentials "$T/credA" --trust "$CITY" "$T/A" >"$T/out"
grep -q "community office $A Xinyeli" "$T/out" || fail "init: $(cat "$T/out")"
expect_eq "$(git -C "$T/A" rev-parse trust)" "$(git -C "$CITY" rev-parse trust)" "trust copied"
cmp -s "$T/A/schema.ini" "$CITY/schema.ini" || fail "schema not from the trust branch"
cl -C "$T/A" ca list >"$T/list"
expect_eq "$(wc -l <"$T/list")" 6 "certificates known"
export CASELEDGER_DIR="$T/A"
P=$(clt 100 add person name="Han Mei" id_number=11010519491231002X)
C=$(clt 110 add case subject="$P" programme=minimum-living-guarantee status=applied)
H=$(git -C "$T/A" rev-parse $A)
cl verify >"$T/out" || fail "verify: $(cat "$T/out")"
grep -q "^ok: 9 commits on 2 branches" "$T/out" || fail "verify: $(cat "$T/out")"
cl show "$C" --json >"$T/case.json"

# reject NAME STATUS RULE MESSAGE: verify fails, naming that commit, its signer and rule
reject() {
	expect_fail 7 "commits failed verification" cl verify
	grep -q "^BAD $1: $2: .*$3" "$T/out" || fail "verify output lacks '$1: $2: $3': $(cat "$T/out")"
	grep "^BAD $1" "$T/out" | grep -qF -- "$4" || fail "verify output lacks '$4': $(cat "$T/out")"
}
restore() { git -C "$T/A" update-ref "refs/heads/$1" "$2"; }

say "a commit by a sibling community on this community's branch: rule scope"
x=$(forge 200 "$T/A" "$T/credB/office.key" $A --record "$T/case.json")
reject "$x" denied "signed by office $B (key SHA256:" "rule 'scope': office $B may write only"
restore $A "$H"

say "a commit by a key no certificate holds: rule certificate"
openssl genpkey -algorithm ed25519 -out "$T/stranger.key" 2>/dev/null
chmod 600 "$T/stranger.key"
x=$(forge 200 "$T/A" "$T/stranger.key" $A --record "$T/case.json")
reject "$x" untrusted "signed by key SHA256:" "no certificate from the CA of city 1201 holds this key (rule 'certificate')"
restore $A "$H"

say "a commit by an expired key: rule validity; the same key inside its validity passes"
e1=$(forge 3600 "$T/A" "$T/credE/office.key" $E --office $E -m "within validity" --root)
cl verify >/dev/null || fail "a commit within validity was rejected"
e2=$(forge 90000 "$T/A" "$T/credE/office.key" $E --office $E -m "after expiry")
reject "$e2" untrusted "of office $E" "is valid from 2026-01-01T00:00:00Z to 2026-01-01T23:59:59Z, not at the commit time (rule 'validity')"
restore $E "$e1"

say "an expired certificate: init refuses it, and a ledger holding it signs nothing"
expect_fail 4 "is valid from 2026-01-01T00:00:00Z to 2026-01-01T23:59:59Z, and it is now 2026-01-02T01:00:00Z" \
	clt 90000 init --office $E --credentials "$T/credE" --trust "$CITY" "$T/E"
test ! -e "$T/E" || fail "a refused init left a directory"
clt 3600 init --office $E --credentials "$T/credE" --trust "$CITY" "$T/E" >/dev/null
clt 3700 -C "$T/E" add person name="Li Wei" id_number=11010519491231002X >/dev/null
before=$(git -C "$T/E" for-each-ref)
expect_fail 5 "the certificate" clt 90000 -C "$T/E" add person name="Li Na" id_number=11010519491231002X
grep -qF "of office $E is valid from 2026-01-01T00:00:00Z to 2026-01-01T23:59:59Z, and it is now 2026-01-02T01:00:00Z: nothing signed now would be accepted" "$T/err" ||
	fail "expired signer: $(cat "$T/err")"
expect_eq "$(git -C "$T/E" for-each-ref)" "$before" "refs after a refused signature"
clt 3800 -C "$T/E" verify >/dev/null || fail "the ledger's valid history"

say "a revoked key: its history up to the city's cut-off stays valid, nothing else"
r1=$(forge 3600 "$T/A" "$T/credR/office.key" $R --office $R --root -m "before revocation")
git -C "$T/A" push -q "$CITY" "$R" # the city holds R's branch up to r1
rs=$(forge 3700 "$T/A" "$T/credR/office.key" $R --office $R -m "signed before, never reached the city")
clt 7200 -C "$CITY" ca revoke $R --reason "laptop stolen" >"$T/out"
grep -q "^revoked certificate [0-9a-f]* of office $R" "$T/out" || fail "revoke: $(cat "$T/out")"
grep -q "^  cut-off $r1 on branch $R\$" "$T/out" || fail "revoke cut-off: $(cat "$T/out")"
git -C "$CITY" log -1 --format=%B trust | grep -q "laptop stolen" || fail "revoke reason"
SR=$(sed -n 's/^revoked certificate \([0-9a-f]*\) .*/\1/p' "$T/out")
# the cut-offs are on the trust branch, in the same commit as the CRL, canonical JSON
git -C "$CITY" show --name-only --format= trust | sort | tr '\n' ' ' >"$T/files"
expect_eq "$(cat "$T/files")" "crl.pem revoked/$SR.json " "files of the revocation commit"
git -C "$CITY" show "trust:revoked/$SR.json" >"$T/entry"
printf '{\n  "cutoffs": {\n    "%s": "%s"\n  },\n  "office": "%s",\n  "reason": "laptop stolen",\n  "revoked_at": "2026-01-01T02:00:00Z",\n  "serial": "%s"\n}\n' \
	$R $r1 $R $SR >"$T/want"
cmp -s "$T/entry" "$T/want" || fail "revoked/$SR.json: $(cat "$T/entry")"
expect_fail 3 "no unrevoked certificate of office '$R'" cl -C "$CITY" ca revoke $R --reason again
expect_fail 5 "cannot revoke itself" cl -C "$CITY" ca revoke 1201 --reason oops
git -C "$T/A" fetch -q "$CITY" trust:trust # what sync will do
cl ca list | grep "^$R .* revoked 2026-01-01T02:00:00Z" >/dev/null || fail "list: $(cl ca list)"
# rs was signed an hour before the revocation, but the city never accepted it
reject "$rs" untrusted "of office $R" "certificate $SR of office $R was revoked at 2026-01-01T02:00:00Z; this commit is not in the history the city accepted (cut-off $r1 on branch $R) (rule 'revocation')"
restore $R "$r1"
cl verify >/dev/null || fail "a commit up to the cut-off was rejected: $(cl verify 2>&1)"
cl verify --incoming >/dev/null || fail "incoming or at rest: the same answer"
# the same second as the revocation, and later: refused alike
r2=$(forge 7200 "$T/A" "$T/credR/office.key" $R --office $R -m "the second of the revocation")
reject "$r2" untrusted "of office $R" "(cut-off $r1 on branch $R) (rule 'revocation')"
r3=$(forge 10800 "$T/A" "$T/credR/office.key" $R --office $R -m "after revocation")
reject "$r3" untrusted "of office $R" "(cut-off $r1 on branch $R) (rule 'revocation')"
restore $R "$r1"
# a commit of another office on top of the cut-off is not the revoked key's concern
d0=$(forge 7300 "$T/A" "$T/credD/office.key" $R --office $D -m "the district continues")
cl verify >/dev/null || fail "the district's commit after the cut-off: $(cl verify 2>&1)"
restore $R "$r1"
# a revoked certificate whose office's branch the city never held: nothing is accepted
n1=$(forge 3600 "$T/A" "$T/credB/office.key" $B --office $B --root -m "B, never at the city")
clt 7300 -C "$CITY" ca revoke $B --reason "closed" >"$T/out"
grep -q "no branch of it on this ledger: nothing it signed is accepted" "$T/out" || fail "revoke B: $(cat "$T/out")"
git -C "$T/A" fetch -q "$CITY" trust:trust
reject "$n1" untrusted "of office $B" "(no cut-off on branch $B: none of it is accepted) (rule 'revocation')"
git -C "$T/A" update-ref -d refs/heads/$B
cl verify >/dev/null || fail "after dropping B's branch: $(cl verify 2>&1)"
# a malformed cut-off file on the trust branch is refused like any bad trust file
TH=$(git -C "$T/A" rev-parse trust)
printf '{"serial": "%s"}\n' "$SR" >"$T/badentry"
x=$(forge 7400 "$T/A" "$CITY/office.key" trust --office 1201 --raw "revoked/$SR.json=$T/badentry")
reject "$x" invalid "signed by office 1201" "rule 'trust': revoked/$SR.json: not in canonical form"
restore trust "$TH"
sed "s/$r1/${r1%????}/" "$T/want" >"$T/badentry"
x=$(forge 7400 "$T/A" "$CITY/office.key" trust --office 1201 --raw "revoked/$SR.json=$T/badentry")
reject "$x" invalid "signed by office 1201" "the cut-off of branch '$R' must be a 40-hex commit id"
restore trust "$TH"
sed "s/\"$R\": /\"120112001005\": /" "$T/want" >"$T/badentry"
x=$(forge 7400 "$T/A" "$CITY/office.key" trust --office 1201 --raw "revoked/$SR.json=$T/badentry")
reject "$x" invalid "signed by office 1201" "cut-off branch '120112001005' is not within the scope of office $R"
restore trust "$TH"
x=$(forge 7400 "$T/A" "$CITY/office.key" trust --office 1201 --raw "revoked/00ff.json=$T/want")
reject "$x" invalid "signed by office 1201" "revoked/00ff.json names serial $SR, not its file name"
restore trust "$TH"
sed "s/\"office\": \"$R\"/\"office\": \"120112001\"/" "$T/want" >"$T/badentry"
x=$(forge 7400 "$T/A" "$CITY/office.key" trust --office 1201 --raw "revoked/$SR.json=$T/badentry")
reject "$x" invalid "signed by office 1201" "names office 120112001, but certificate $SR is of office $R"
restore trust "$TH"
cl verify >/dev/null

say "a forged stamp by a community: the city's name (rule stamp), year 2286 (rule validity)"
x=$(forge 200 "$T/A" "$T/credA/office.key" $A --record "$T/case.json" \
	--stamp "$((T0 + 300))000.00000-1201")
reject "$x" denied "signed by office $A" "rule 'stamp': its clock stamp '$((T0 + 300))000.00000-1201' names office 1201, not the signer"
restore $A "$H"
x=$(forge 200 "$T/A" "$T/credA/office.key" $A --record "$T/case.json" \
	--stamp "9999999999999.00000-$A")
reject "$x" untrusted "of office $A" "not at the commit time (rule 'validity')"
restore $A "$H"

say "a garbage record stamp: rule stamp"
sed 's/"hlc": "[^"]*"/"hlc": "garbage"/' "$T/case.json" >"$T/case-garbage.json"
x=$(forge 200 "$T/A" "$T/credA/office.key" $A --record "$T/case-garbage.json" --keep-stamps)
reject "$x" invalid "signed by office $A" "rule 'stamp': record '$C' is stamped 'garbage', not with its commit's stamp"
restore $A "$H"

say "trailers, author and committer that claim the district: rule identity"
x=$(forge 200 "$T/A" "$T/credA/office.key" $A --office $D --record "$T/case.json")
reject "$x" denied "signed by office $A" "rule 'identity': its author or committer is '$D@caseledger', not the signer's office"
restore $A "$H"

say "a commit dated before its parent: rule time"
x=$(forge 200 "$T/A" "$T/credA/office.key" $A --record "$T/case.json" \
	--stamp "$((T0 + 1))000.00000-$A")
reject "$x" invalid "signed by office $A" "rule 'time': it goes back in time"
restore $A "$H"

say "a tree deeper than a ledger's shape: rule shape"
echo '{}' >"$T/deep.json"
x=$(forge 200 "$T/A" "$T/credA/office.key" $A --raw "case/aa/bb/cc/dd/x.json=$T/deep.json")
reject "$x" invalid "signed by office $A" "rule 'shape': 'case/aa/bb/cc' is a directory 4 levels deep"
restore $A "$H"

say "a status the community's level may not set: rule role"
sed 's/"status": "applied"/"status": "reviewed"/' "$T/case.json" >"$T/case-reviewed.json"
sed 's/"status": "applied"/"status": "approved"/' "$T/case.json" >"$T/case-approved.json"
x=$(forge 200 "$T/A" "$T/credA/office.key" $A --record "$T/case-reviewed.json")
reject "$x" denied "signed by office $A" "rule 'role': case '$C': field 'status' cannot go from 'applied' to 'reviewed' (needs a street office)"
restore $A "$H"

say "an invalid record: rule schema; malformed, misplaced and removed records: rule record"
sed 's/"status": "applied"/"status": "pending"/' "$T/case.json" >"$T/case-bad.json"
x=$(forge 200 "$T/A" "$T/credA/office.key" $A --record "$T/case-bad.json")
reject "$x" invalid "signed by office $A" "rule 'schema': case '$C': field 'status' wants one of"
restore $A "$H"
path=$(git -C "$T/A" ls-tree -r --name-only $A | grep "$C")
printf '{"id": "%s"}' "$C" >"$T/noncanon"
x=$(forge 200 "$T/A" "$T/credA/office.key" $A --raw "$path=$T/noncanon")
reject "$x" invalid "signed by office $A" "rule 'record': record '$C'"
restore $A "$H"
x=$(forge 200 "$T/A" "$T/credA/office.key" $A --raw "notes.txt=$T/noncanon")
reject "$x" invalid "signed by office $A" "rule 'record': 'notes.txt' is not a record file"
restore $A "$H"
x=$(forge 200 "$T/A" "$T/credA/office.key" $A --delete "$path")
reject "$x" invalid "signed by office $A" "rule 'record': it removes '$path'"
restore $A "$H"

say "the district decides on its community's branch; the community may not"
d1=$(forge 300 "$T/A" "$T/credD/office.key" $A --office $D --record "$T/case-reviewed.json")
d2=$(forge 310 "$T/A" "$T/credD/office.key" $A --office $D --record "$T/case-approved.json")
cl verify >/dev/null || fail "district approval rejected: $(cl verify 2>&1)"
restore $A "$H"

say "merges: the engine's merge passes; a hand-made one, even taking the same decision, does not"
V=$(clt 400 add visit date=2026-01-01 worker="Li" kind=home subject="$P")
Y=$(git -C "$T/A" rev-parse $A)
cl show "$V" --json >"$T/visit.json"
clt 500 merge "$d2" >"$T/out" || fail "merge: $(cat "$T/out")"
cl verify >/dev/null || fail "the engine's merge was rejected: $(cl verify 2>&1)"
git -C "$T/A" show "$A:$path" | grep -q '"status": "approved"' || fail "merge tree"
restore $A "$Y"
m=$(forge 500 "$T/A" "$T/credA/office.key" $A --parent "$Y" --parent "$d2" \
	--record "$T/case-approved.json" -m "merge the district's decision")
reject "$m" invalid "signed by office $A" "rule 'merge': its tree is not the merge of its parents"
restore $A "$Y"
m=$(forge 500 "$T/A" "$T/credA/office.key" $A --parent "$d1" --parent "$Y" \
	--record "$T/case-approved.json" --record "$T/visit.json" -m "merge inventing a decision")
reject "$m" invalid "signed by office $A" "rule 'merge': its tree is not the merge of its parents"
restore $A "$Y"

say "only the city writes the trust branch"
TH=$(git -C "$T/A" rev-parse trust)
x=$(forge 600 "$T/A" "$T/credA/office.key" trust --raw "schema.ini=$CITY/schema.ini")
reject "$x" denied "signed by office $A" "rule 'scope': only the city office 1201 may write branch 'trust'"
restore trust "$TH"
cl verify >/dev/null

say "bad credentials: clear errors, nothing written"
cp -r "$T/credA" "$T/c2"
chmod 644 "$T/c2/office.key"
expect_fail 5 "office.key" cl init --office $A --credentials "$T/c2" "$T/L1"
chmod 600 "$T/c2/office.key"
echo "garbage" >"$T/c2/office.pem"
expect_fail 4 "office.pem' is not a PEM certificate" cl init --office $A --credentials "$T/c2" "$T/L1"
awk 'NR == 2 { $0 = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" } 1' \
	"$T/credA/office.pem" >"$T/c2/office.pem"
expect_fail 4 "office.pem' is not a valid certificate" cl init --office $A --credentials "$T/c2" "$T/L1"
clt 0 ca init --office 1201 "$T/othercity" >/dev/null
expect_fail 7 "was not issued by the CA of this ledger" \
	cl init --office $A --credentials "$T/credA" --ca "$T/othercity/ca.pem" "$T/L1"
expect_fail 4 "is not a caseledger city CA" \
	cl init --office $A --credentials "$T/credA" --ca "$T/credA/office.pem" "$T/L1"
expect_fail 4 "does not match certificate" \
	cl init --office $A --credentials "$T/credA" --key "$T/credB/office.key" "$T/L1"
expect_fail 4 "is for office $A, not --office $B" cl init --office $B --credentials "$T/credA" "$T/L1"
expect_fail 7 "different CA certificate" \
	cl init --office $A --credentials "$T/credA" --trust "$T/othercity" "$T/L1"
cl init --office 1201 "$T/plain" >/dev/null
expect_fail 3 "has no trust branch" cl init --office $A --credentials "$T/credA" --trust "$T/plain" "$T/L1"
test ! -e "$T/L1" || fail "a failed init left the ledger directory"
ls "$T" | grep -q "init-" && fail "a failed init left a temporary directory: $(ls "$T")"
expect_fail 3 "holds no CA key" cl -C "$T/A" ca issue --office $A --out "$T/x"

say "a ledger from --key/--cert/--ca without the trust branch trusts its own certificate"
clt 20 init --office $B --key "$T/credB/office.key" --cert "$T/credB/office.pem" \
	--ca "$T/credB/ca.pem" "$T/B" >/dev/null
clt 30 -C "$T/B" add person name="Li Na" id_number=11010519491231002X >/dev/null
cl -C "$T/B" verify >/dev/null || fail "own-cert ledger: $(cl -C "$T/B" verify 2>&1)"
say "ok"
