#!/bin/sh
# Stock git and ssh-keygen agree with caseledger: git verify-commit accepts every commit
# caseledger writes; tampered, unsigned and foreign-signed commits are caught by
# `caseledger verify`; a corrupted record is reported by name.
. "$(dirname "$0")/lib.sh"

L=$T/office
B=refs/heads/120112001001
cl init --office 120112001001 --name "Xinyeli" "$L" >/dev/null
export CASELEDGER_DIR="$L"
P=$(cl add person name="Cao Li" id_number=11010519491231002X)
C=$(cl add case subject="$P" programme=medical --reason "child's treatment")
cl amend "$C" status=applied --reason "applied" >/dev/null
cl add visit date=2026-11-29 worker="Li Zhihuan" kind=phone subject="$P" >/dev/null
cl void "$C" --reason "filed under the wrong programme" >/dev/null

say "stock git reads the ledger"
expect_eq "$(git -C "$L" rev-list --count "$B")" 6 "commits"
git -C "$L" log --format='%an|%s' "$B" >"$T/gitlog"
grep -q "^tester|void $C$" "$T/gitlog" || fail "git log: $(cat "$T/gitlog")"
git -C "$L" fsck --strict >/dev/null 2>&1 || fail "git fsck"

say "git verify-commit accepts every commit caseledger wrote"
cl signers >"$T/allowed"
grep -q '^120112001001 namespaces="git" ssh-ed25519 ' "$T/allowed" || fail "signers: $(cat "$T/allowed")"
n=0
for c in $(git -C "$L" rev-list --all); do
	git -C "$L" -c gpg.format=ssh -c gpg.ssh.allowedSignersFile="$T/allowed" \
		verify-commit "$c" 2>"$T/vc" || fail "git verify-commit $c: $(cat "$T/vc")"
	grep -q 'Good "git" signature for 120112001001' "$T/vc" || fail "verify-commit said: $(cat "$T/vc")"
	n=$((n + 1))
done
expect_eq "$n" 6 "commits verified by git"
cl signers -o "$T/allowed2"
cmp -s "$T/allowed" "$T/allowed2" || fail "signers -o differs"

say "ssh-keygen checks a signature over a commit payload directly"
head=$(git -C "$L" rev-parse "$B")
git -C "$L" cat-file commit "$head" | sed -n '/^gpgsig /,/^ -----END/p' |
	sed -e 's/^gpgsig //' -e 's/^ //' >"$T/sig"
git -C "$L" cat-file commit "$head" | awk '
	/^gpgsig / {skip=1; next}
	skip && /^ / {next}
	{skip=0; print}' >"$T/payload"
ssh-keygen -Y verify -f "$T/allowed" -I 120112001001 -n git -s "$T/sig" <"$T/payload" \
	>/dev/null 2>&1 || fail "ssh-keygen -Y verify"

say "a tampered commit is caught by caseledger verify and by git"
git -C "$L" cat-file commit "$head" | sed 's/^void /VOID /' >"$T/tampered"
bad=$(git -C "$L" hash-object -t commit -w --stdin <"$T/tampered")
git -C "$L" update-ref "$B" "$bad" "$head"
expect_fail 7 "1 of 6 commits failed verification" cl verify
grep -q "^BAD $bad: bad: signature does not match" "$T/out" || fail "verify output: $(cat "$T/out")"
git -C "$L" -c gpg.format=ssh -c gpg.ssh.allowedSignersFile="$T/allowed" verify-commit "$bad" \
	>/dev/null 2>&1 && fail "git accepted a tampered commit"
expect_fail 7 "branch '${B#refs/heads/}' is not served: commit $bad signature does not match" cl log -n 1 --json
git -C "$L" update-ref "$B" "$head" "$bad"
cl verify >/dev/null

say "an unsigned commit made with plain git is caught"
tree=$(git -C "$L" rev-parse "$head^{tree}")
unsigned=$(git -C "$L" -c user.name=intruder -c user.email=x@y commit-tree -p "$head" -m "sneaky" "$tree")
git -C "$L" update-ref "$B" "$unsigned" "$head"
expect_fail 7 "failed verification" cl verify
grep -q "^BAD $unsigned: unsigned" "$T/out" || fail "verify output: $(cat "$T/out")"

say "a commit signed by a key the ledger does not trust is caught"
ssh-keygen -q -t ed25519 -N '' -C intruder -f "$T/intruder" >/dev/null
foreign=$(git -C "$L" -c user.name=intruder -c user.email=x@y -c gpg.format=ssh \
	-c user.signingkey="$T/intruder" commit-tree -S -p "$unsigned" -m "signed, not ours" "$tree")
git -C "$L" update-ref "$B" "$foreign" "$unsigned"
expect_fail 7 "2 of 8 commits failed verification" cl verify
grep -q "^BAD $foreign: untrusted: signed by key SHA256:" "$T/out" || fail "verify output: $(cat "$T/out")"
cl verify --json >"$T/v.json" 2>/dev/null || true
expect_eq "$(json_get "$T/v.json" '$.bad[0].status')" untrusted "verify --json"
git -C "$L" update-ref "$B" "$head" "$foreign"

say "a corrupted record in a signed commit is reported by name, nothing else breaks"
path=$(git -C "$L" ls-tree -r --name-only "$B" | grep "$P")
printf '{"id": "%s", "name": ' "$P" >"$T/badblob"
broken=$("$top_builddir/tests/integration/forge" "$L" "$L/office.key" "${B#refs/heads/}" --raw "$path=$T/badblob")
expect_fail 7 "record '$P': malformed JSON" cl show "$P"
grep -q "commit $broken" "$T/err" || fail "show names no commit: $(cat "$T/err")"
expect_fail 7 "record '$P': malformed JSON" cl amend "$P" name=x --reason r
expect_fail 7 "1 of 7 commits failed verification" cl verify
grep -q "^BAD $broken: .*record '$P': malformed JSON" "$T/out" || fail "verify: $(cat "$T/out")"
expect_eq "$(git -C "$L" rev-parse "$B")" "$broken" "the branch after the refused amend"
git -C "$L" update-ref "$B" "$head" "$broken"
cl show "$P" >/dev/null
say "ok"
