#!/bin/sh
# Stock git verify-commit, with the allowed-signers file `caseledger signers` writes,
# agrees with `caseledger verify` on a ledger mixing good and bad commits, for what git
# can check: signature, key, validity period, revocation with a cut-off (a revoked key's
# line ends at its latest accepted commit). The one residual difference — a commit the
# revoked key signed outside the accepted history but dated before that time — is shown.
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
A=120112001001
E=120112001003
R=120112001004
CITY=$T/city
L=$T/A

clt 0 ca init --office 1201 "$CITY" >/dev/null
clt 0 -C "$CITY" ca issue --office $A --out "$T/credA" >/dev/null
clt 0 -C "$CITY" ca issue --office $E --not-before $T0 --days 1 --out "$T/credE" >/dev/null
clt 0 -C "$CITY" ca issue --office $R --out "$T/credR" >/dev/null
clt 0 -C "$CITY" ca issue --office 120112001005 --not-before $(($T0 + 86400)) --out "$T/credF" >/dev/null
clt 10 init --office $A --credentials "$T/credA" --trust "$CITY" "$L" >/dev/null
export CASELEDGER_DIR="$L"
P=$(clt 100 add person name="Han Mei" id_number=11010519491231002X)
clt 110 add case subject="$P" programme=temporary >/dev/null

say "a mix of good and bad commits"
openssl genpkey -algorithm ed25519 -out "$T/stranger.key" 2>/dev/null
chmod 600 "$T/stranger.key"
forge 200 "$L" "$T/stranger.key" $A -m "unknown key" >/dev/null
forge 300 "$L" "$T/credA/office.key" $A -m "good again" >/dev/null
forge 3600 "$L" "$T/credE/office.key" $E --office $E --root -m "E within validity" >/dev/null
forge 90000 "$L" "$T/credE/office.key" $E --office $E -m "E expired" >/dev/null
forge 3600 "$L" "$T/credF/office.key" 120112001005 --office 120112001005 --root -m "F not yet valid" >/dev/null
forge 3600 "$L" "$T/credR/office.key" $R --office $R --root -m "R before revocation" >/dev/null
git -C "$L" push -q "$CITY" $R # the city accepted R's branch up to here: the cut-off
clt 7200 -C "$CITY" ca revoke $R --reason "key lost" >/dev/null
git -C "$L" fetch -q "$CITY" trust:trust
forge 10800 "$L" "$T/credR/office.key" $R --office $R -m "R after revocation" >/dev/null
head=$(git -C "$L" rev-parse $A)
tree=$(git -C "$L" rev-parse "$head^{tree}")
git -C "$L" cat-file commit "$head" | sed 's/^good again/GOOD AGAIN/' >"$T/tampered"
tampered=$(git -C "$L" hash-object -t commit -w --stdin <"$T/tampered")
unsigned=$(git -C "$L" -c user.name=x -c user.email=x@y commit-tree -p "$tampered" -m unsigned "$tree")
git -C "$L" update-ref refs/heads/$A "$unsigned"

cl signers -o "$T/allowed"
grep -q "^$A namespaces=\"git\",valid-after=\"20260101000000Z\",valid-before=\"20271231235959Z\" ssh-ed25519 " \
	"$T/allowed" || fail "signers: $(cat "$T/allowed")"
# R's line ends at its latest accepted commit (01:00:00), not at the revocation time
grep -q "^$R .*valid-before=\"20260101010000Z\" " "$T/allowed" || fail "revoked line: $(cat "$T/allowed")"
cl signers --revoked >"$T/allowed-explained"
grep -q "^# office $R: certificate [0-9a-f]* revoked at 2026-01-01T02:00:00Z; valid until its latest accepted commit, 2026-01-01T01:00:00Z" \
	"$T/allowed-explained" || fail "signers --revoked: $(cat "$T/allowed-explained")"
grep -q "^#   cut-off $(git -C "$CITY" rev-parse $R) on branch $R\$" "$T/allowed-explained" ||
	fail "signers --revoked cut-off: $(cat "$T/allowed-explained")"
expect_eq "$(grep -v '^#' "$T/allowed-explained")" "$(cat "$T/allowed")" "the same lines with --revoked"
expect_fail 2 "--revoked takes no file" cl signers --revoked "$T/revoked"

# compare MODE VERIFY_ARGS GIT_ARGS: every commit gets the same verdict from both
compare() {
	set +e
	cl verify $1 >"$T/v" 2>/dev/null
	set -e
	n=0
	nbad=0
	for c in $(git -C "$L" rev-list --all); do
		n=$((n + 1))
		if grep -q "^BAD $c" "$T/v"; then ours=bad; nbad=$((nbad + 1)); else ours=good; fi
		if git -C "$L" -c gpg.format=ssh -c gpg.ssh.allowedSignersFile="$T/allowed" $2 \
			verify-commit "$c" >/dev/null 2>"$T/vc"; then
			theirs=good
		else
			theirs=bad
		fi
		[ "$ours" = "$theirs" ] ||
			fail "commit $c ($(git -C "$L" log -1 --format=%s "$c")): caseledger $1 says $ours, git says $theirs: $(cat "$T/vc") / $(grep "$c" "$T/v")"
	done
	say "$n commits, $nbad bad, git agrees ($1)"
	echo "$nbad"
}

say "git verify-commit agrees with caseledger verify"
expect_eq "$(compare "" "" | tail -1)" 6 "bad commits (unknown key, expired, not yet valid, revoked after the cut-off, unsigned, tampered)"
say "incoming or at rest: the same verdicts"
expect_eq "$(compare --incoming "" | tail -1)" 6 "bad commits with --incoming"
cp "$T/allowed-explained" "$T/allowed"
expect_eq "$(compare "" "" | tail -1)" 6 "bad commits, with the signers --revoked file"

say "the residual difference: a revoked key's commit after the cut-off, dated before it"
git -C "$L" update-ref refs/heads/$R "$(git -C "$CITY" rev-parse $R)"
late=$(forge 3000 "$L" "$T/credR/office.key" $R --office $R -m "backdated after the cut-off")
set +e
cl verify >"$T/v" 2>/dev/null
set -e
grep -q "^BAD $late: untrusted: .*this commit is not in the history the city accepted" "$T/v" ||
	fail "caseledger accepted the backdated commit: $(cat "$T/v")"
git -C "$L" -c gpg.format=ssh -c gpg.ssh.allowedSignersFile="$T/allowed" verify-commit "$late" 2>/dev/null ||
	fail "git refused the backdated commit: the documented difference changed"
say "ok"
