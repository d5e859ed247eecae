#!/bin/sh
# The revocation lifecycle end to end on real daemons (loopback, mutual TLS): a city, a
# district and community A write and sync; the city revokes A's certificate, taking the
# cut-off (its head of A's branch); a commit A signs after it is refused at the district
# and the city naming the commit, the signer and the rule; A's daemon and CLI say at once
# that A is revoked and stop writing; everything up to the cut-off stays valid at every
# holder and copies to a brand-new ledger (a new street office); `ca rekey` + `key
# install` let A continue its branch with a new key (the refused commit set aside); and
# stock `git verify-commit` with `caseledger signers --revoked` agrees with `caseledger
# verify` on every commit of every ledger.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/synclib.sh"

city_ca 1201
issued dist 120112
issued a 120112001001
A=120112001001
S=120112001
ID=11010519491231002X
daemon_conf city
start city
daemon_conf dist "parent=https://127.0.0.1:$PORT_city/ledger" parent_name=city
start dist
daemon_conf a "parent=https://localhost:$PORT_dist/ledger" parent_name=district
start a

on() {
	o=$1
	shift
	CASELEDGER_DIR=$T/$o cl "$@"
}
sync() { cl -C "$T/$1" sync --wait >"$T/sync.out" 2>"$T/sync.err" || fail "sync $1: $(cat "$T/sync.err") $(cat "$T/sync.out")"; }
converged() {
	b=$1
	first=$2
	shift 2
	for o in "$@"; do
		wait_eq "head_of $o $b" "$(head_of $first $b)" "$o's copy of $b"
	done
}
verified() { cl -C "$T/$1" verify >"$T/v.out" 2>&1 || fail "verify at $1: $(cat "$T/v.out")"; }
# agree OFFICE [REV-LIST ARGS]: for every commit, stock git with `signers --revoked`
# gives caseledger verify's verdict; prints the number of bad commits
agree() {
	o=$1
	shift
	[ $# -gt 0 ] || set -- --all
	cl -C "$T/$o" signers --revoked -o "$T/allowed-$o"
	set +e
	cl -C "$T/$o" verify >"$T/v-$o" 2>/dev/null
	set -e
	n=0
	nbad=0
	for c in $(git -C "$T/$o" rev-list "$@"); do
		n=$((n + 1))
		if grep -q "^BAD $c" "$T/v-$o"; then ours=bad; nbad=$((nbad + 1)); else ours=good; fi
		if git -C "$T/$o" -c gpg.format=ssh -c gpg.ssh.allowedSignersFile="$T/allowed-$o" \
			verify-commit "$c" >/dev/null 2>"$T/vc"; then
			theirs=good
		else
			theirs=bad
		fi
		[ "$ours" = "$theirs" ] ||
			fail "$o: commit $c ($(git -C "$T/$o" log -1 --format=%s "$c")): caseledger says $ours, git says $theirs: $(cat "$T/vc") / $(grep "$c" "$T/v-$o")"
	done
	[ "$n" -gt 0 ] || fail "$o: no commits to compare"
	say "$o: $n commits, $nbad bad, git agrees"
	echo "$nbad" >"$T/nbad"
}

say "A writes and syncs; the district amends A's branch; every copy converges"
P=$(on a add person name="Han Mei" id_number=$ID phone=1)
on a amend "$P" phone=2 --reason "new phone" >/dev/null
sync a
converged $A a dist city
on dist amend "$P" conditions+=diabetes --reason "hospital report" --branch $A >/dev/null
sync dist
on a amend "$P" phone=3 --reason "another phone" >/dev/null
sync a
converged $A a dist city
for o in city dist a; do verified $o; done

say "the city revokes A: the cut-off is the city's head of A's branch"
H0=$(head_of city $A)
cl -C "$T/city" ca revoke $A --reason "laptop stolen" --json >"$T/rev.json"
SA=$(json_get "$T/rev.json" '$.revoked[0].serial')
expect_eq "$(json_get "$T/rev.json" "\$.revoked[0].cutoffs.\"$A\"")" "$H0" "cut-off of $A"
git -C "$T/city" show "trust:revoked/$SA.json" >"$T/entry"
grep -q "^    \"$A\": \"$H0\"\$" "$T/entry" || fail "revoked/$SA.json: $(cat "$T/entry")"
grep -q '^  "reason": "laptop stolen",$' "$T/entry" || fail "reason: $(cat "$T/entry")"

say "A, offline and not yet told, signs a commit after the revocation"
# its time must be later than every accepted commit (what stock git can compare)
last=$(git -C "$T/city" log -1 --format=%ct "$H0")
i=0
until [ "$(date +%s)" -gt "$last" ]; do
	i=$((i + 1)); [ $i -lt 600 ] || fail "the clock does not move"; sleep 0.05
done
on a amend "$P" phone=4 --reason "written after the revocation" >/dev/null
X=$(head_of a $A)

say "the district learns of the revocation and refuses A's new commit, naming it"
sync dist
before=$(ledger_fingerprint "$T/dist")
# refused_at OFFICE: A's revoked certificate no longer passes the TLS handshake there (the
# trust branch's CRL applies at once); stock git pushing X with the district's
# certificate, which may write A's branch, gets the verifier's refusal
refused_at() {
	# (with TLS 1.3 the server's alert can race the client's first write: curl then
	# reports the closed connection, not the alert)
	expect_fail 128 "" sgit "$T/a/office.key" "$T/a.pem" -C "$T/a" \
		push "https://127.0.0.1:$(eval echo \$PORT_$1)/ledger" "$X:refs/heads/$A"
	grep -Eq "TLS|SSL|Broken pipe|Connection reset" "$T/err" ||
		fail "A's push to $1 was not refused at the connection: $(cat "$T/err")"
	expect_fail 1 "remote rejected" sgit "$T/cred-dist/office.key" "$T/cred-dist/office.pem" \
		-C "$T/a" push "https://127.0.0.1:$(eval echo \$PORT_$1)/ledger" "$X:refs/heads/$A"
	grep -q "(commit $X signed by key SHA256:[^ ]* of office $A: certificate $SA of office $A was revoked at [0-9T:-]*Z; this commit is not in the history the city accepted (cut-off $H0 on branch $A) (rule 'revocation'))" "$T/err" ||
		fail "refusal at $1: $(cat "$T/err")"
	expect_eq "$(head_of $1 $A)" "$H0" "$1's head of $A after the refusal"
}
refused_at dist
expect_eq "$(ledger_fingerprint "$T/dist")" "$before" "the district after the refused push"
refused_at city

say "A's parent refuses A's certificate at the handshake; A learns why from the trust branch"
set +e
cl -C "$T/a" sync --wait >"$T/sync.out" 2>"$T/sync.err"
rc=$?
set -e
[ $rc -ne 0 ] || fail "a revoked office synced: $(cat "$T/sync.out")"
# the parent's alert says "certificate revoked"; under TLS 1.3 it can race the client's
# first write, which then fails on the closed connection instead (seen in a release build)
grep -Eq "certificate revoked|write to .* failed|Broken pipe|Connection reset" \
	"$T/sync.out" "$T/sync.err" || fail "sync output: $(cat "$T/sync.out") $(cat "$T/sync.err")"
# the parent no longer talks to A: the city's trust branch reaches it another way (by hand
# here, as a bundle would carry it)
git -C "$T/a" fetch -q "$T/city" trust:trust
set +e
cl -C "$T/a" sync --wait >"$T/sync.out" 2>"$T/sync.err"
rc=$?
set -e
[ $rc -ne 0 ] || fail "a revoked office synced: $(cat "$T/sync.out")"
grep -q "was revoked at .* by the city: nothing it signs is accepted" "$T/sync.out" "$T/sync.err" ||
	fail "sync output: $(cat "$T/sync.out") $(cat "$T/sync.err")"
expect_eq "$(head_of dist $A)" "$H0" "the district's head of $A"

say "the revoked office's CLI refuses every write at once"
before=$(git -C "$T/a" for-each-ref refs/heads; git -C "$T/a" rev-list --objects --all | sort | sha256sum)
expect_fail 5 "the certificate $SA of office $A was revoked at" on a amend "$P" phone=5 --reason x
grep -qF "nothing it signs is accepted; ask the city for \`caseledger ca rekey $A\`" "$T/err" || fail "amend: $(cat "$T/err")"
expect_fail 5 "was revoked at" on a add person name="Li Si" id_number=$ID
expect_fail 5 "was revoked at" cl -C "$T/a" sync
expect_eq "$(git -C "$T/a" for-each-ref refs/heads; git -C "$T/a" rev-list --objects --all | sort | sha256sum)" "$before" "A after refused writes"

say "the daemon says so at start too"
stop a
start a
grep -q "the certificate $SA of office $A was revoked at .* ask the city for \`caseledger ca rekey $A\`; caseledgerd pushes and merges nothing" "$T/a.log" ||
	fail "start log: $(tail -5 "$T/a.log")"
cl -C "$T/a" status >"$T/st.txt"
grep -q "^REVOKED: the certificate $SA of office $A was revoked" "$T/st.txt" || fail "status: $(cat "$T/st.txt")"
cl -C "$T/a" status --json >"$T/st.json"
json_get "$T/st.json" '$.revoked' | grep -q "was revoked at" || fail "status --json: $(cat "$T/st.json")"

say "up to the cut-off, everything stays valid at every holder; only X is refused at A"
verified city
verified dist
expect_fail 7 "1 of" cl -C "$T/a" verify
grep -q "^BAD $X: untrusted: .*(cut-off $H0 on branch $A) (rule 'revocation')" "$T/out" ||
	fail "verify at A: $(cat "$T/out")"
agree a
expect_eq "$(cat "$T/nbad")" 1 "bad commits at A (X)"
agree city
expect_eq "$(cat "$T/nbad")" 0 "bad commits at the city"

say "a brand-new ledger (a new street office) copies A's history and verifies it"
issued street $S
sync dist # the district learns the street's certificate from the trust branch
daemon_conf street "parent=https://127.0.0.1:$PORT_dist/ledger" parent_name=district
start street
sync street
expect_eq "$(head_of street $A)" "$H0" "the street's copy of $A"
git -C "$T/street" merge-base --is-ancestor "$(git -C "$T/city" rev-list --reverse $A | head -1)" $A ||
	fail "the street lacks A's first commit"
verified street
agree street
expect_eq "$(cat "$T/nbad")" 0 "bad commits at the street"

say "ca rekey: a new key and certificate for the same office"
cl -C "$T/city" ca rekey $A --out "$T/cred-a2" >"$T/rekey.out"
sync dist # the district learns the new certificate
grep -q "^issued certificate [0-9a-f]* to community office $A, valid .* replacing $SA\$" "$T/rekey.out" ||
	fail "rekey: $(cat "$T/rekey.out")"
NEW=$(sed -n 's/^issued certificate \([0-9a-f]*\) .*/\1/p' "$T/rekey.out")
git -C "$T/city" cat-file -e "trust:certs/$A-$NEW.pem" || fail "the new certificate is not on the trust branch"
openssl x509 -in "$T/cred-a2/office.pem" -noout -text | grep -q "DNS:localhost" || fail "rekey lost the hosts"
expect_fail 3 "no certificate of office '120112001009'" cl -C "$T/city" ca rekey 120112001009 --out "$T/x"
test ! -e "$T/x" || fail "a failed rekey left files"

say "key install checks what it installs; nothing changes on refusal"
# (A's daemon may fetch meanwhile: compare what install could change)
cp "$T/a/office.pem" "$T/a-old.pem"
cp "$T/a/office.key" "$T/a-old.key"
expect_fail 4 "is a certificate of office $S; this ledger is office $A" on a key install --from "$T/cred-street"
expect_fail 5 "certificate $SA in '$T/cred-a' was revoked at" on a key install --from "$T/cred-a"
mkdir "$T/mixed"
cp "$T/cred-a2/office.pem" "$T/cred-a2/ca.pem" "$T/mixed/"
cp "$T/cred-street/office.key" "$T/mixed/"
expect_fail 4 "certifies another key than" on a key install --from "$T/mixed"
cmp -s "$T/a/office.pem" "$T/a-old.pem" || fail "a refused install changed office.pem"
cmp -s "$T/a/office.key" "$T/a-old.key" || fail "a refused install changed office.key"
expect_eq "$(head_of a $A)" "$X" "A's branch after refused installs"
expect_eq "$(git -C "$T/a" for-each-ref refs/caseledger)" "" "refs set aside by refused installs"

say "key install: the refused commit is set aside, the branch back at the cut-off"
on a key install --from "$T/cred-a2" >"$T/install.out"
grep -q "^branch $A: 1 commit signed by revoked certificate $SA after its cut-off, refused everywhere, kept at refs/caseledger/refused/$SA/$A; the branch is back at $H0\$" "$T/install.out" ||
	fail "install: $(cat "$T/install.out")"
grep -q "^installed certificate $NEW of office $A" "$T/install.out" || fail "install: $(cat "$T/install.out")"
expect_eq "$(head_of a $A)" "$H0" "A's branch after install"
expect_eq "$(git -C "$T/a" rev-parse refs/caseledger/refused/$SA/$A)" "$X" "the refused commit, kept"
expect_eq "$(stat -c %a "$T/a/office.key")" 600 "office.key mode"
cmp -s "$T/a/office.pem" "$T/cred-a2/office.pem" || fail "office.pem not installed"
expect_fail 4 "this ledger already signs with the key in '$T/cred-a2'" on a key install --from "$T/cred-a2"
verified a

say "A continues its branch with the new key; it syncs everywhere"
cp "$T/cred-a2/office.pem" "$T/a.pem" # the daemon's TLS certificate
kill -HUP "$PID_a"
wait_eq "grep -c 'configuration reloaded' '$T/a.log'" 1 "a reloaded"
on a amend "$P" phone=6 --reason "first amendment with the new key" >/dev/null
Y=$(head_of a $A)
expect_eq "$(git -C "$T/a" rev-parse "$Y^")" "$H0" "the new commit's parent"
sync a
converged $A a dist city
sync street
converged $A a street
cl -C "$T/a" status --json >"$T/st.json"
expect_eq "$(json_get "$T/st.json" '$.revoked')" "" "status after install"
grep -q "office $A signs with a new key whose certificate is not revoked" "$T/a.log" ||
	fail "a's log after install: $(tail -3 "$T/a.log")"

say "every holder verifies everything; stock git agrees on every commit"
for o in city dist street a; do verified $o; done
agree city
expect_eq "$(cat "$T/nbad")" 0 "bad commits at the city"
agree dist
expect_eq "$(cat "$T/nbad")" 0 "bad commits at the district"
agree street
expect_eq "$(cat "$T/nbad")" 0 "bad commits at the street"
# A's refused commit is kept outside refs/heads, which verify checks: compare the rest
agree a --branches --remotes
expect_eq "$(cat "$T/nbad")" 0 "bad commits on A's branches"
grep -q "^$A .*valid-before=\"$(date -u -d "@$last" +%Y%m%d%H%M%SZ)\" " "$T/allowed-city" ||
	fail "the revoked line ends at the latest accepted commit: $(cat "$T/allowed-city")"
git -C "$T/a" -c gpg.format=ssh -c gpg.ssh.allowedSignersFile="$T/allowed-city" verify-commit "$X" 2>/dev/null &&
	fail "stock git accepted the refused commit"
for o in city dist a street; do stop $o; done
say "ok"
