#!/bin/sh
# The sync client's own push (receive-pack over our TLS stream, a pack of only the new
# commits' objects): it moves the parent's branch, sends nothing when the parent has the
# head already, and a push the parent refuses fails with the parent's reason, changing
# nothing on either side.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/synclib.sh"

city_ca 1201
issued dist 120112
daemon_conf city
start city
URL=https://127.0.0.1:$PORT_city/ledger
dsync() {
	cl -C "$T/dist" sync --parent "$URL" --parent-name city --cert "$T/dist.pem" \
		--ca "$T/ca/ca.pem" "$@"
}

say "a new branch and then an amendment are pushed"
CASELEDGER_DIR=$T/dist cl add person name="Zhang San" id_number=11010519491231002X >/dev/null
dsync --json >"$T/s.json" 2>"$T/err" </dev/null || fail "first sync: $(cat "$T/err")"
expect_eq "$(json_get "$T/s.json" '$.branches[1].outcome')" pushed "first push"
expect_eq "$(head_of city 120112)" "$(head_of dist 120112)" "the city's copy after the first push"
id=$(CASELEDGER_DIR=$T/dist cl add person name="Li Si" id_number=11010519491231002X)
CASELEDGER_DIR=$T/dist cl amend "$id" name="Li Si Jr" --reason "spelling" >/dev/null
dsync --json >"$T/s.json" 2>"$T/err" </dev/null || fail "second sync: $(cat "$T/err")"
expect_eq "$(json_get "$T/s.json" '$.branches[1].outcome')" pushed "second push"
expect_eq "$(head_of city 120112)" "$(head_of dist 120112)" "the city's copy after the amendment"
expect_eq "$(git -C "$T/city" fsck --no-dangling 2>&1)" "" "the city's object store"
before=$(grep -c 'receive-pack from' "$T/city.log")
dsync --json >"$T/s.json" 2>"$T/err" </dev/null || fail "third sync: $(cat "$T/err")"
expect_eq "$(json_get "$T/s.json" '$.branches[1].outcome')" up-to-date "nothing to push"
expect_eq "$(grep -c 'receive-pack from' "$T/city.log")" "$before" "receive-packs when up to date"

say "an unsigned commit is refused by the parent, with its reason; nothing moves"
tree=$(git -C "$T/dist" rev-parse "refs/heads/120112^{tree}")
bad=$(GIT_AUTHOR_NAME=x GIT_AUTHOR_EMAIL=x@x GIT_COMMITTER_NAME=x GIT_COMMITTER_EMAIL=x@x \
	git -C "$T/dist" commit-tree "$tree" -p refs/heads/120112 -m unsigned)
git -C "$T/dist" update-ref refs/heads/120112 "$bad"
city_before=$(ledger_fingerprint "$T/city")
dist_before=$(ledger_fingerprint "$T/dist")
rc=0
dsync --json >"$T/s.json" 2>"$T/err" </dev/null || rc=$?
expect_eq "$rc" 1 "exit status of a refused push"
expect_eq "$(json_get "$T/s.json" '$.branches[1].outcome')" failed "outcome of a refused push"
msg=$(json_get "$T/s.json" '$.branches[1].last_error')
case $msg in
*"refused branch '120112'"*"$(echo "$bad" | cut -c1-12)"*) ;;
*) fail "the refusal does not name the branch and the commit: $msg" ;;
esac
expect_eq "$(ledger_fingerprint "$T/city")" "$city_before" "the city after a refused push"
expect_eq "$(ledger_fingerprint "$T/dist")" "$dist_before" "the district after a refused push"

say "a parent URL with user info is refused before anything connects"
rc=0
cl -C "$T/dist" sync --json --parent "https://u@127.0.0.1:$PORT_city/ledger" \
	--cert "$T/dist.pem" --ca "$T/ca/ca.pem" >"$T/s.json" 2>"$T/err" </dev/null || rc=$?
expect_eq "$rc" 4 "exit status with a bad parent URL (invalid input)"
grep -q "peer URL 'https://u@127.0.0.1:$PORT_city/ledger' is not https://HOST\[:PORT\]/PATH" \
	"$T/err" || fail "bad parent URL: $(cat "$T/err")"
expect_eq "$(ledger_fingerprint "$T/city")" "$city_before" "the city after a bad URL"

say "a new office made from the city's ledger holds the trust branch and nothing else"
issued d2 120113
all=$(git -C "$T/d2" cat-file --batch-all-objects --batch-check | wc -l)
reach=$(git -C "$T/d2" rev-list --objects --all | wc -l)
expect_eq "$all" "$reach" "objects in the new ledger (every one reachable from its branches)"
if git -C "$T/d2" cat-file -e "$(head_of city 120112)" 2>/dev/null; then
	fail "the new office holds the district's head commit"
fi
stop city
say "ok"
