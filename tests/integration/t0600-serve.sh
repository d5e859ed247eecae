#!/bin/sh
# caseledgerd serves git's smart HTTP over mutual TLS 1.3 to stock git: a client sees and
# writes only its certificate's scope (plus trust, read-only); unsigned, forged and
# out-of-scope pushes, clients without a good certificate, truncated packs and garbage
# are refused with messages, nothing refused becomes reachable, and the daemon keeps
# serving throughout. SIGHUP reloads the CRL; SIGTERM stops cleanly.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/synclib.sh"

city_ca 1201
mkca "$T/evil" "foreign CA"
issued comm 120112001001
issued other 120112002001
B=120112001001
CASELEDGER_DIR=$T/other cl add person name="Zhang San" id_number=11010519491231002X >/dev/null
CASELEDGER_DIR=$T/city cl add person name="Li Si" id_number=11010519491231002X >/dev/null
for o in comm other; do
	git -C "$T/$o" push -q "$T/city" "refs/heads/$(git -C "$T/$o" config caseledger.office)"
done
daemon_conf city
start city
U=https://127.0.0.1:$PORT_city/ledger
K=$T/comm/office.key
C=$T/comm.pem

say "stock git clone sees only the client's scope, plus trust"
sgit "$K" "$C" clone -q --bare "$U" "$T/clone" 2>"$T/err" || fail "clone: $(cat "$T/err")"
expect_eq "$(git -C "$T/clone" for-each-ref --format='%(refname)' | tr '\n' ' ')" \
	"refs/heads/$B refs/heads/trust " "branches a community sees"
expect_eq "$(git -C "$T/clone" rev-parse $B)" "$(git -C "$T/city" rev-parse $B)" "cloned head"
git -C "$T/clone" fsck --strict >/dev/null 2>&1 || fail "fsck of the clone"
git -C "$T/clone" cat-file -e "$(git -C "$T/city" rev-parse 120112002001)" 2>/dev/null &&
	fail "the clone holds another community's commit"

say "fetch after an amendment brings only the new commits"
CASELEDGER_DIR=$T/comm cl add person name="Wang Wu" id_number=11010519491231002X >/dev/null
git -C "$T/comm" push -q "$T/city" "refs/heads/$B"
sgit "$K" "$C" -C "$T/clone" fetch -q "$U" "+refs/heads/*:refs/heads/*" 2>"$T/err" ||
	fail "fetch: $(cat "$T/err")"
expect_eq "$(git -C "$T/clone" rev-parse $B)" "$(git -C "$T/comm" rev-parse $B)" "fetched head"
# the fetch came as a thin pack of deltas (pack_write); git completed and indexed it
git -C "$T/clone" fsck --strict >/dev/null 2>&1 || fail "fsck of the clone after a fetch"

say "stock git push of a signed amendment is accepted"
CASELEDGER_DIR=$T/comm cl add person name="Zhao Liu" id_number=11010519491231002X >/dev/null
sgit "$K" "$C" -C "$T/comm" push -q "$U" $B 2>"$T/err" || fail "push: $(cat "$T/err")"
expect_eq "$(git -C "$T/city" rev-parse $B)" "$(git -C "$T/comm" rev-parse $B)" "pushed head"
git -C "$T/city" fsck --strict >/dev/null 2>&1 || fail "fsck of the city after a push"
ls -d "$T"/city/objects/incoming-* 2>/dev/null && fail "a quarantine was left behind"

say "an unsigned commit is refused with a message git prints"
before=$(ledger_fingerprint "$T/city")
tree=$(git -C "$T/comm" rev-parse "$B^{tree}")
evil=$(GIT_AUTHOR_NAME=x GIT_AUTHOR_EMAIL=x@x GIT_COMMITTER_NAME=x GIT_COMMITTER_EMAIL=x@x \
	git -C "$T/comm" commit-tree -p $B -m "unsigned" "$tree")
expect_fail 1 "is not signed" sgit "$K" "$C" -C "$T/comm" push "$U" "$evil:refs/heads/$B"
grep -q "remote rejected" "$T/err" || fail "git did not show the refusal: $(cat "$T/err")"
expect_eq "$(ledger_fingerprint "$T/city")" "$before" "city after the unsigned push"
ls -d "$T"/city/objects/incoming-* 2>/dev/null && fail "a quarantine was left behind"

say "a forged signature (signed commit, altered message) is refused"
CASELEDGER_DIR=$T/comm cl add person name="Sun Ba" id_number=11010519491231002X >/dev/null
git -C "$T/comm" cat-file commit $B | sed 's/^add person/forged person/' >"$T/forged"
forged=$(git -C "$T/comm" hash-object -t commit -w "$T/forged")
expect_fail 1 "signature does not match the signed data (rule 'signature')" sgit "$K" "$C" -C "$T/comm" push "$U" "$forged:refs/heads/$B"
expect_eq "$(ledger_fingerprint "$T/city")" "$before" "city after the forged push"

say "out-of-scope, trust, deletion and non-fast-forward pushes are refused"
expect_fail 1 "outside the scope of office '120112001001'" \
	sgit "$K" "$C" -C "$T/comm" push "$U" "$B:refs/heads/120112002001"
expect_fail 1 "outside the scope" sgit "$K" "$C" -C "$T/comm" push "$U" "$B:refs/heads/trust"
expect_fail 1 "remote rejected" \
	sgit "$K" "$C" -C "$T/comm" push "$U" ":refs/heads/$B"
expect_fail 1 "rejected" sgit "$K" "$C" -C "$T/comm" push --force "$U" "$B~2:refs/heads/$B"
expect_eq "$(ledger_fingerprint "$T/city")" "$before" "city after refused pushes"

say "verify_commit decides every pushed commit: signer scope, revocation, role rules"
FORGE=$top_builddir/tests/integration/forge
P=$(CASELEDGER_DIR=$T/comm cl add person name="Han Mei" id_number=11010519491231002X)
CASE=$(CASELEDGER_DIR=$T/comm cl add case subject="$P" programme=minimum-living-guarantee status=applied)
sgit "$K" "$C" -C "$T/comm" push -q "$U" $B 2>"$T/err" || fail "push: $(cat "$T/err")"
H=$(git -C "$T/comm" rev-parse $B)
CASELEDGER_DIR=$T/comm cl show "$CASE" --json >"$T/case.json"
sed 's/"status": "applied"/"status": "reviewed"/' "$T/case.json" >"$T/case-reviewed.json"
before=$(ledger_fingerprint "$T/city")
# refused_push WHAT COMMIT SIGNER RULE: git prints the refusal naming the commit, the
# signer and the rule; nothing moves and nothing stays behind
refused_push() {
	expect_fail 1 "$4" sgit "$K" "$C" -C "$T/comm" push "$U" "$2:refs/heads/$B"
	grep -q "remote rejected.*(commit $2 " "$T/err" || fail "$1: the refusal lacks the commit: $(cat "$T/err")"
	grep -qF -- "$3" "$T/err" || fail "$1: the refusal lacks the signer '$3': $(cat "$T/err")"
	expect_eq "$(git -C "$T/city" rev-parse $B)" "$H" "city head after $1"
	expect_eq "$(ledger_fingerprint "$T/city")" "$before" "city after $1"
	ls -d "$T"/city/objects/incoming-* 2>/dev/null && fail "a quarantine was left behind"
	git -C "$T/comm" update-ref refs/heads/$B "$H"
}
x=$("$FORGE" "$T/comm" "$T/other/office.key" $B --office 120112002001 --record "$T/case.json")
refused_push "a sibling's commit" "$x" "signed by office 120112002001 (key SHA256:" \
	"rule 'scope': office 120112002001 may write only"
cl -C "$T/city" ca issue --office $B --out "$T/cred-lost" --json >"$T/lost.json"
cl -C "$T/city" ca revoke "$(json_get "$T/lost.json" '$.certificate.serial')" \
	--reason "laptop stolen" >/dev/null
before=$(ledger_fingerprint "$T/city")
x=$("$FORGE" "$T/comm" "$T/cred-lost/office.key" $B --office $B -m "after revocation")
refused_push "a revoked key's commit" "$x" "of office $B: certificate" "(rule 'revocation')"
grep -q "certificate [0-9a-f]* of office $B was revoked at" "$T/err" || fail "revocation: $(cat "$T/err")"
x=$("$FORGE" "$T/comm" "$K" $B --record "$T/case-reviewed.json")
refused_push "a status the community may not set" "$x" "signed by office $B (key SHA256:" \
	"rule 'role': case '$CASE': field 'status' cannot go from 'applied' to 'reviewed' (needs a street office)"

say "a want outside the scope is refused"
other=$(git -C "$T/city" rev-parse 120112002001)
expect_fail 128 "unadvertised object" sgit "$K" "$C" -C "$T/clone" fetch "$U" "$other"
printf '0032want %s\n00000009done\n' "$other" |
	curl -s --cert "$C" --key "$K" --cacert "$T/ca/ca.pem" --data-binary @- \
		-H 'Content-Type: application/x-git-upload-pack-request' "$U/git-upload-pack" >"$T/resp"
grep -q "ERR upload-pack: not our ref $other" "$T/resp" || fail "out-of-scope want: $(cat "$T/resp")"

say "no certificate, a foreign CA, a revoked certificate: refused at the handshake"
expect_fail 128 "unable to access" env GIT_SSL_CAINFO="$T/ca/ca.pem" git ls-remote "$U"
mkkey "$T/foreign.key"
mkcert "$T/evil" "$T/foreign.key" 120112001001 "$T/foreign.pem"
expect_fail 128 "unable to access" sgit "$T/foreign.key" "$T/foreign.pem" ls-remote "$U"
mkkey "$T/lost.key"
mkcert "$T/ca" "$T/lost.key" 120112001001 "$T/lost.pem"
sgit "$T/lost.key" "$T/lost.pem" ls-remote "$U" >/dev/null 2>&1 || fail "a good certificate was refused"
revoke "$T/ca" "$T/lost.pem"
kill -HUP "$PID_city"
i=0
until grep -q "configuration reloaded" "$T/city.log"; do
	i=$((i + 1)); [ $i -lt 100 ] || fail "no reload"; sleep 0.05
done
expect_fail 128 "unable to access" sgit "$T/lost.key" "$T/lost.pem" ls-remote "$U"
grep -q "certificate revoked" "$T/city.log" || fail "revocation not logged: $(tail -3 "$T/city.log")"
mkkey "$T/nocode.key"
mkcert "$T/ca" "$T/nocode.key" "not-an-office" "$T/nocode.pem"
expect_fail 128 "403" sgit "$T/nocode.key" "$T/nocode.pem" ls-remote "$U"

say "a truncated pack is refused; nothing becomes reachable"
CASELEDGER_DIR=$T/comm cl add person name="Qian Qi" id_number=11010519491231002X >/dev/null
old=$(git -C "$T/city" rev-parse $B)
new=$(git -C "$T/comm" rev-parse $B)
printf '%s\n' "$new" | git -C "$T/comm" pack-objects --revs --stdout >"$T/full.pack" 2>/dev/null <<EOP
$new
^$old
EOP
size=$(wc -c <"$T/full.pack")
cmd="$old $new refs/heads/$B"
{
	printf '%04x%s\0report-status\n' $((${#cmd} + 4 + 15)) "$cmd"
	printf '0000'
	head -c $((size / 2)) "$T/full.pack"
} >"$T/body"
curl -s --cert "$C" --key "$K" --cacert "$T/ca/ca.pem" \
	-H 'Content-Type: application/x-git-receive-pack-request' --data-binary @"$T/body" \
	"$U/git-receive-pack" >"$T/resp" || fail "curl failed"
grep -q "unpack .*pack" "$T/resp" || fail "truncated pack: $(cat "$T/resp")"
grep -q "ng refs/heads/$B unpacker error" "$T/resp" || fail "truncated pack: $(cat "$T/resp")"
expect_eq "$(git -C "$T/city" rev-parse $B)" "$old" "head after a truncated pack"
ls -d "$T"/city/objects/incoming-* 2>/dev/null && fail "a quarantine was left behind"

say "garbage on the socket, inside and outside TLS; the daemon keeps serving"
curl -s --max-time 5 "http://127.0.0.1:$PORT_city/" >/dev/null 2>&1 || true
head -c 4096 /dev/urandom | curl -s --max-time 5 --cert "$C" --key "$K" --cacert "$T/ca/ca.pem" \
	-H 'Content-Type: application/x-git-upload-pack-request' --data-binary @- \
	"$U/git-upload-pack" >"$T/resp" || true
grep -q "^....ERR " "$T/resp" || fail "garbage upload-pack: $(head -c 200 "$T/resp")"
printf 'NOT HTTP AT ALL\r\n\r\n' | openssl s_client -quiet -connect "127.0.0.1:$PORT_city" \
	-cert "$C" -key "$K" -CAfile "$T/ca/ca.pem" >"$T/resp" 2>/dev/null || true
grep -q "400" "$T/resp" || fail "garbage HTTP: $(cat "$T/resp")"
# a slow client holding a connection open does not block others
( sleep 3 | openssl s_client -quiet -connect "127.0.0.1:$PORT_city" -cert "$C" -key "$K" \
	-CAfile "$T/ca/ca.pem" >/dev/null 2>&1 ) &
slow=$!
sgit "$K" "$C" -C "$T/comm" push -q "$U" $B 2>"$T/err" || fail "push after garbage: $(cat "$T/err")"
expect_eq "$(git -C "$T/city" rev-parse $B)" "$new" "head after the good push"
kill $slow 2>/dev/null || true
wait $slow 2>/dev/null || true

say "SIGTERM stops cleanly and removes the pid file and control socket"
[ -f "$T/city.pid" ] || fail "no pid file"
expect_eq "$(cat "$T/city.pid")" "$PID_city" "pid file"
[ -S "$T/city/caseledgerd.sock" ] || fail "no control socket"
expect_eq "$(stat -c %a "$T/city/caseledgerd.sock")" 600 "control socket mode"
stop city
[ -f "$T/city.pid" ] && fail "pid file left behind"
[ -S "$T/city/caseledgerd.sock" ] && fail "control socket left behind"
grep -q "stopped" "$T/city.log" || fail "no clean stop: $(tail -3 "$T/city.log")"
git -C "$T/city" fsck --strict >/dev/null 2>&1 || fail "fsck after stop"

say "bad configuration is refused with the file and line"
printf '[daemon]\nledger = %s\nlisten = 127.0.0.1:0\nbogus = 1\n' "$T/city" >"$T/bad.ini"
expect_fail 1 "line 4" "$CASELEDGERD" -c "$T/bad.ini"
printf '[daemon]\nledger = %s\nlisten = 127.0.0.1:0\n' "$T/city" >"$T/bad.ini"
expect_fail 1 "needs 'cert' and 'ca'" "$CASELEDGERD" -c "$T/bad.ini"
expect_fail 1 "cannot open config" "$CASELEDGERD" -c "$T/missing.ini"
expect_fail 2 "usage" "$CASELEDGERD"
daemon_conf city "cert=$T/comm.pem"
expect_fail 1 "does not match certificate" "$CASELEDGERD" -c "$T/city.ini" --check
say "ok"
