#!/bin/sh
# caseledger merge / conflicts / resolve between two copies of one office's ledger:
# both directions give the same tree, a manual field becomes a conflict that resolve
# settles in one signed commit, stock git verifies the merge commit, bad input is refused
# with nothing changed.
. "$(dirname "$0")/lib.sh"

B=120112001001
A=$T/a
cl init --office $B --name "Xinyeli" "$A" >/dev/null
export CASELEDGER_DIR="$A"
P=$(cl add person name="Cao Li" id_number=11010519491231002X phone=100)
C=$(cl add case subject="$P" programme=medical)
cp -a "$A" "$T/b"
Bd=$T/b

say "both copies amend the same records"
cl amend "$P" name="Cao Lee" phone=200 --reason "typo" >/dev/null
cl amend "$C" status=applied --reason "applied" >/dev/null
CASELEDGER_DIR=$Bd cl amend "$P" name="Tsao Li" conditions=asthma --reason "spelling" >/dev/null
git -C "$A" fetch -q "$Bd" "refs/heads/$B:refs/remotes/b/$B"
git -C "$Bd" fetch -q "$A" "refs/heads/$B:refs/remotes/a/$B"

say "merge --help and usage errors"
cl merge --help | grep -q "usage: caseledger merge REF" || fail "merge --help"
cl conflicts --help | grep -q "usage: caseledger conflicts" || fail "conflicts --help"
cl resolve --help | grep -q "usage: caseledger resolve CONFLICT-ID" || fail "resolve --help"
expect_fail 2 "give one ref or commit" cl merge
expect_fail 3 "no commit or branch 'refs/remotes/nope'" cl merge refs/remotes/nope

say "merge in both directions: same tree"
cl merge --json "refs/remotes/b/$B" >"$T/m.json"
expect_eq "$(json_get "$T/m.json" '$.outcome')" merged "outcome"
expect_eq "$(json_get "$T/m.json" '$.merged_records')" 1 "merged records"
expect_eq "$(json_get "$T/m.json" '$.conflicts[0].field')" name "conflict field"
X=$(json_get "$T/m.json" '$.conflicts[0].id')
CASELEDGER_DIR=$Bd cl merge "refs/remotes/a/$B" >"$T/m2.txt"
grep -q "^merged in commit .*1 conflict recorded" "$T/m2.txt" || fail "merge output: $(cat "$T/m2.txt")"
expect_eq "$(git -C "$A" rev-parse "$B^{tree}")" "$(git -C "$Bd" rev-parse "$B^{tree}")" "trees"
expect_eq "$(git -C "$A" rev-list --count --merges "$B")" 1 "merge commits"

say "merging again changes nothing"
cl merge "refs/remotes/b/$B" >"$T/again"
grep -q "already up to date" "$T/again" || fail "again: $(cat "$T/again")"

say "the merged record holds both sides' changes"
cl show --json "$P" >"$T/p.json"
expect_eq "$(json_get "$T/p.json" '$.phone')" 200 "phone from a"
expect_eq "$(json_get "$T/p.json" '$.conditions[0]')" asthma "conditions from b"
cl show --json "$C" >"$T/c.json"
expect_eq "$(json_get "$T/c.json" '$.status')" applied "status"

say "stock git verifies the signed merge commit"
cl signers >"$T/allowed"
git -C "$A" -c gpg.format=ssh -c gpg.ssh.allowedSignersFile="$T/allowed" \
	verify-commit "$B" 2>"$T/vc" || fail "verify-commit: $(cat "$T/vc")"
git -C "$A" log -1 --format=%B "$B" | grep -q "conflict $X: $P 'name' (manual)" ||
	fail "merge message: $(git -C "$A" log -1 --format=%B "$B")"
cl verify >/dev/null

say "conflicts lists the open conflict"
cl conflicts --json >"$T/x.json"
expect_eq "$(json_get "$T/x.json" '$[0].id')" "$X" "conflict id"
expect_eq "$(json_get "$T/x.json" '$[0].status')" open "status"
expect_eq "$(json_get "$T/x.json" '$[0].base')" '"Cao Li"' "base"
kept=$(json_get "$T/x.json" '$[0].ours')
other=$(json_get "$T/x.json" '$[0].theirs')
expect_eq "\"$(json_get "$T/p.json" '$.name')\"" "$kept" "ours is the kept value"
cl conflicts >"$T/out"
grep -q "^  $X  open  $P 'name'" "$T/out" || fail "conflicts text: $(cat "$T/out")"
grep -q "^branch " "$T/out" || fail "conflicts text: no branch heading: $(cat "$T/out")"

say "resolve: bad input is refused, nothing changes"
before=$(ledger_fingerprint "$A")
expect_fail 2 "--reason TEXT is required" cl resolve "$X" --take theirs
expect_fail 2 "--take ours|theirs|VALUE is required" cl resolve "$X" --reason r
expect_fail 4 "is a person record, not a conflict" cl resolve "$P" --take ours --reason r
expect_fail 3 "no record 'X-120112001001-0000'" cl resolve X-120112001001-0000 --take ours --reason r
expect_fail 4 "field 'name' is too long" cl resolve "$X" --take "$(printf '%0101d' 0)" --reason r
expect_eq "$(ledger_fingerprint "$A")" "$before" "ledger unchanged"

say "resolve --take theirs amends the record and closes the conflict in one commit"
n0=$(git -C "$A" rev-list --count "$B")
cl resolve "$X" --take theirs --reason "checked the ID card" --json >"$T/r.json"
expect_eq "$(git -C "$A" rev-list --count "$B")" $((n0 + 1)) "one commit"
expect_eq "\"$(json_get "$T/r.json" '$.value')\"" "$other" "value taken"
cl show --json "$P" >"$T/p2.json"
expect_eq "\"$(json_get "$T/p2.json" '$.name')\"" "$other" "record amended"
cl show --json "$X" >"$T/x2.json"
expect_eq "$(json_get "$T/x2.json" '$.status')" resolved "conflict closed"
grep -q "checked the ID card" "$T/x2.json" || fail "resolution text"
git -C "$A" diff --name-only "$B~1" "$B" | sort >"$T/changed"
expect_eq "$(wc -l <"$T/changed")" 2 "record and conflict in one commit"
cl conflicts | grep -q "no open conflicts" || fail "conflicts after resolve"
expect_fail 4 "is already resolved" cl resolve "$X" --take ours --reason again

say "the resolution replicates: each copy made its own merge commit, so the other copy"
say "merges once more (same tree), and then the first fast-forwards to it"
git -C "$Bd" fetch -q "$A" "refs/heads/$B:refs/remotes/a/$B"
CASELEDGER_DIR=$Bd cl merge "refs/remotes/a/$B" >/dev/null
expect_eq "$(git -C "$A" rev-parse "$B^{tree}")" "$(git -C "$Bd" rev-parse "$B^{tree}")" "trees"
git -C "$A" fetch -q "$Bd" "refs/heads/$B:refs/remotes/b/$B"
cl merge "refs/remotes/b/$B" >"$T/ff"
grep -q "^fast-forward to " "$T/ff" || fail "ff: $(cat "$T/ff")"
expect_eq "$(git -C "$A" rev-parse "$B")" "$(git -C "$Bd" rev-parse "$B")" "heads"

say "an unverified commit with a malformed record is refused before merging; nothing moves"
cl amend "$P" phone=300 --reason "new phone" >/dev/null
path=$(git -C "$Bd" ls-tree -r --name-only "$B" | grep "$P")
blob=$(printf '{"id": "%s", "name": ' "$P" | git -C "$Bd" hash-object -w --stdin)
GIT_INDEX_FILE="$T/idx" git -C "$Bd" read-tree "$B"
GIT_INDEX_FILE="$T/idx" git -C "$Bd" update-index --cacheinfo 100644,"$blob","$path"
tree=$(GIT_INDEX_FILE="$T/idx" git -C "$Bd" write-tree)
broken=$(git -C "$Bd" -c user.name=x -c user.email=x@y commit-tree -p "$B" -m broken "$tree")
git -C "$A" fetch -q "$Bd" "$broken:refs/remotes/b/broken"
before=$(git -C "$A" rev-parse "$B")
expect_fail 7 "refusing to merge: commit $broken" cl merge refs/remotes/b/broken
grep -q "not signed" "$T/err" || fail "message: $(cat "$T/err")"
expect_eq "$(git -C "$A" rev-parse "$B")" "$before" "head unchanged"
say "ok"
