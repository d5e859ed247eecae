#!/bin/sh
# A push stores only what a moved branch reaches: a push that moves no ref stores
# nothing (it carried a junk blob, kept for good before), and a push that moves a ref
# but carries an object nothing reaches is refused whole.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/synclib.sh"

city_ca 1201
issued c1 120112001001
CASELEDGER_DIR=$T/c1 cl add person name="Resident" id_number=11010519491231002X >/dev/null
daemon_conf city
start city
cl -C "$T/c1" sync --parent "https://127.0.0.1:$PORT_city/ledger" --cert "$T/c1.pem" \
	--ca "$T/ca/ca.pem" >/dev/null 2>"$T/err" || fail "sync: $(cat "$T/err")"
B=120112001001
head=$(head_of city $B)
expect_eq "$(head_of c1 $B)" "$head" "c1's branch on the city"

# a junk blob of 4 MiB, in c1's objects only
head -c 4194304 /dev/urandom >"$T/junk"
junk=$(git -C "$T/c1" hash-object -w "$T/junk")

# push OLD NEW OBJECT…: a receive-pack request for branch B carrying those objects
push() {
	old=$1
	new=$2
	shift 2
	cmd="$old $new refs/heads/$B"
	{
		printf '%04x%s\000report-status\n' $((${#cmd} + 19)) "$cmd"
		printf '0000'
		printf '%s\n' "$@" | git -C "$T/c1" pack-objects --stdout -q
	} >"$T/req"
	curl -s --max-time 120 --cacert "$T/ca/ca.pem" --cert "$T/c1.pem" --key "$T/c1/office.key" \
		-H 'Content-Type: application/x-git-receive-pack-request' --data-binary "@$T/req" \
		"https://127.0.0.1:$PORT_city/ledger/git-receive-pack" | tr -d '\000' >"$T/reply"
}

say "a push that moves no branch stores nothing"
before=$(ledger_fingerprint "$T/city")
packs=$(ls "$T/city/objects/pack" | sort)
push "$head" "$head" "$junk"
grep -aq "ok refs/heads/$B" "$T/reply" || fail "no-op push: $(cat "$T/reply")"
git -C "$T/city" cat-file -e "$junk" 2>/dev/null && fail "the junk blob was stored"
expect_eq "$(ls "$T/city/objects/pack" | sort)" "$packs" "the city's packs"
expect_eq "$(ledger_fingerprint "$T/city")" "$before" "the city after the no-op push"

say "a push that moves the branch and carries a stray object: refused, nothing stored"
CASELEDGER_DIR=$T/c1 cl add person name="Second" id_number=11010519491231002X >/dev/null
new=$(head_of c1 $B)
# shellcheck disable=SC2046
push "$head" "$new" $(git -C "$T/c1" rev-list --objects "$head..$new" | cut -d' ' -f1) "$junk"
grep -aq "no updated branch reaches" "$T/reply" || fail "stray push: $(cat "$T/reply")"
expect_eq "$(head_of city $B)" "$head" "the city's branch after the stray push"
git -C "$T/city" cat-file -e "$junk" 2>/dev/null && fail "the junk blob was stored"
expect_eq "$(ls "$T/city/objects/pack" | sort)" "$packs" "the city's packs"

say "the same push without the stray object moves the branch"
# shellcheck disable=SC2046
push "$head" "$new" $(git -C "$T/c1" rev-list --objects "$head..$new" | cut -d' ' -f1)
grep -aq "ok refs/heads/$B" "$T/reply" || fail "push: $(cat "$T/reply")"
expect_eq "$(head_of city $B)" "$new" "the city's branch after the push"
say "ok"
