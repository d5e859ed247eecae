#!/bin/sh
# Adversarial, channel merge: community A's own ledger is handed each attack as a ref
# (stock git fetch from a copy, as from a colleague's USB stick) and asked to merge it
# into its branch. Each merge is refused naming the commit, the signer and the rule;
# A's branches, index and records do not change.
. "$(dirname "$0")/lib.sh"

heads() { git -C "$T/a" for-each-ref --format='%(refname) %(objectname)' refs/heads; }
export CASELEDGER_DIR=$T/a
before=$(heads)
cl show "$C" --json >"$T/case-before.json"
for a in $ATTACKS; do
	say "merge: $a"
	git -C "$T/a" fetch -q "$T/work" "refs/attacks/$a:refs/forged/$a"
	if cl merge "refs/forged/$a" >"$T/out" 2>&1; then fail "the merge of $a was accepted: $(cat "$T/out")"; fi
	refused "$T/out" $a
	expect_eq "$(heads)" "$before" "A's branches after $a"
done
cl show "$C" --json >"$T/case-after.json"
cmp -s "$T/case-before.json" "$T/case-after.json" || fail "the case changed: $(cat "$T/case-after.json")"
cl verify >/dev/null || fail "verify a: $(cl verify 2>&1)"
cl reindex --check >/dev/null || fail "reindex --check a: $(cl reindex --check 2>&1)"

say "merge: an honest commit of A's, from the scratch copy, fast-forwards"
CASELEDGER_DIR=$T/work cl add visit date=2026-01-02 worker=Wang kind=home subject="$P" >/dev/null
git -C "$T/a" fetch -q "$T/work" "refs/heads/$A:refs/honest"
cl merge refs/honest >"$T/out" 2>&1 || fail "the honest merge: $(cat "$T/out")"
grep -q "fast-forward" "$T/out" || fail "the honest merge: $(cat "$T/out")"
