#!/bin/sh
# Adversarial, channel push: the district pushes each attack on community A's branch to
# the city's caseledgerd with stock git over mutual TLS. Each push is refused naming the
# commit, the signer and the rule; the city's refs and objects do not change. Then the
# branch alias (hole 1): a new branch pointed at community A's head is refused too.
. "$(dirname "$0")/lib.sh"

URL=https://127.0.0.1:$PORT_city/ledger
push() { sgit "$T/cred-dist/office.key" "$T/cred-dist/office.pem" -C "$T/work" push "$URL" "$@"; }
before=$(ledger_fingerprint "$T/city")
for a in $ATTACKS; do
	say "push: $a"
	eval "x=\$ATK_$a"
	if push "$x:refs/heads/$A" >"$T/out" 2>&1; then fail "push of $a was accepted"; fi
	refused "$T/out" $a
	expect_eq "$(head_of city $A)" "$H" "the city's head of A after $a"
done
expect_eq "$(ledger_fingerprint "$T/city")" "$before" "the city after every attack"

say "push: an alias branch (hole 1): the district's new branch 120112001003 at A's head"
if push "$H:refs/heads/120112001003" >"$T/out" 2>&1; then fail "the alias push was accepted"; fi
grep -q "rule 'scope': office $A may write only" "$T/out" || fail "alias: $(cat "$T/out")"
grep -q "commit $(echo "$H" | cut -c1-12)" "$T/out" || fail "alias names no commit: $(cat "$T/out")"
expect_eq "$(head_of city 120112001003)" none "the alias branch at the city"
expect_eq "$(ledger_fingerprint "$T/city")" "$before" "the city after the alias"
cl -C "$T/city" verify >/dev/null || fail "verify city: $(cl -C "$T/city" verify 2>&1)"

say "push: an honest amendment still goes through"
git -C "$T/work" update-ref "refs/heads/$A" "$H"
CASELEDGER_DIR=$T/work cl amend --branch $A "$C" status=withdrawn >/dev/null 2>"$T/err" ||
	CASELEDGER_DIR=$T/work cl add person name="Honest" id_number=11010519491231002X >/dev/null
push "refs/heads/$A:refs/heads/$A" >"$T/out" 2>&1 || fail "honest push: $(cat "$T/out")"
expect_eq "$(head_of city $A)" "$(git -C "$T/work" rev-parse $A)" "the city after the honest push"
