#!/bin/sh
# Adversarial, channel local (hole 7): each attack reaches community A's ledger past
# caseledger, with stock git from a bundle, moving A's own branch. Every command that
# reads or writes the branch refuses it naming the commit, the signer and the rule;
# commands across branches warn and show only what verified; nothing is written.
# Putting the branch back serves it again. Then the alias: a branch created locally at
# A's head under another office's name is refused for that office's scope.
. "$(dirname "$0")/lib.sh"

export CASELEDGER_DIR=$T/a
others() { git -C "$T/a" for-each-ref --format='%(refname) %(objectname)' | grep -v "refs/heads/$A "; }
cl show "$C" --json >"$T/case-before.json"
rest=$(others)
for a in $ATTACKS; do
	say "local: $a arrives by a stock git fetch from a bundle"
	eval "x=\$ATK_$a"
	git -C "$T/work" update-ref "refs/heads/$A" "$x"
	git -C "$T/work" bundle create -q "$T/$a.bundle" "refs/heads/$A"
	git -C "$T/work" update-ref "refs/heads/$A" "$H"
	git -C "$T/a" fetch -q -f "$T/$a.bundle" "refs/heads/$A:refs/heads/$A"
	for c in "show $C" "show $C --json" "blame $C" "log" "log $C" "conflicts" \
		"find case --branch $A" "log --since 2000-01-01 --branch $A" \
		"amend $C status=withdrawn --reason forged" "void $P --reason forged" \
		"add visit date=2026-01-03 worker=Li kind=home subject=$P" "merge $H"; do
		# shellcheck disable=SC2086
		if cl $c >"$T/out" 2>&1; then fail "$a: 'caseledger $c' served the branch: $(cat "$T/out")"; fi
		grep -q "branch '$A' is not served" "$T/out" || fail "$a: 'caseledger $c': $(cat "$T/out")"
		refused "$T/out" $a
		grep -q "its last verified commit is $(echo "$H" | cut -c1-12)" "$T/out" ||
			fail "$a: 'caseledger $c' does not name the last verified commit: $(cat "$T/out")"
	done
	for c in "find case" "stats" "log --since 2000-01-01"; do
		# shellcheck disable=SC2086
		cl $c >"$T/out" 2>"$T/err" || fail "$a: 'caseledger $c': $(cat "$T/err")"
		grep -q "warning: branch '$A' is not served" "$T/err" || fail "$a: 'caseledger $c' gave no warning: $(cat "$T/err")"
		refused "$T/err" $a
	done
	cl find case --json >"$T/found.json" 2>/dev/null
	expect_eq "$(json_get "$T/found.json" '$[0].status')" applied "the case 'find' shows after $a"
	cl log --since 2000-01-01 --json >"$T/log.json" 2>/dev/null
	grep -q "$x" "$T/log.json" && fail "$a: the audit log shows the refused commit: $(cat "$T/log.json")"
	expect_eq "$(git -C "$T/a" rev-parse "refs/heads/$A")" "$x" "A's branch (nothing written) after $a"
	expect_eq "$(others)" "$rest" "A's other refs after $a"

	say "local: $a: the branch put back is served again"
	git -C "$T/a" update-ref "refs/heads/$A" "$H"
	cl show "$C" --json >"$T/case-after.json" || fail "show after restoring $a"
	cmp -s "$T/case-before.json" "$T/case-after.json" || fail "the case after $a: $(cat "$T/case-after.json")"
done
cl reindex --check >/dev/null || fail "reindex --check: $(cl reindex --check 2>&1)"

say "local: an alias branch made with git update-ref: 120112001003 at A's head"
git -C "$T/a" update-ref refs/heads/120112001003 "$H"
if cl show "$C" --branch 120112001003 >"$T/out" 2>&1; then fail "the alias was served: $(cat "$T/out")"; fi
grep -q "rule 'scope': office $A may write only" "$T/out" || fail "alias: $(cat "$T/out")"
grep -q "commit $(echo "$H" | cut -c1-12)" "$T/out" || fail "alias names no commit: $(cat "$T/out")"
grep -q "no commit of it verified" "$T/out" || fail "alias: $(cat "$T/out")"
cl find case --branch 120112001003 >"$T/out" 2>&1 && fail "find on the alias: $(cat "$T/out")"
cl find case --json >"$T/found.json" 2>"$T/err"
expect_eq "$(sqlite3 :memory: "select json_array_length(readfile('$T/found.json'))")" 1 "records 'find' shows with the alias present"
grep -q "warning: branch '120112001003' is not served" "$T/err" || fail "no warning for the alias: $(cat "$T/err")"
git -C "$T/a" update-ref -d refs/heads/120112001003
cl find case >/dev/null 2>"$T/err"
expect_eq "$(cat "$T/err")" "" "warnings once the alias is gone"
