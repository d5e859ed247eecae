#!/bin/sh
# Convergence with real daemons on loopback: a city, a district and two communities, each
# with a certificate the city CA issued. Offline amendments on both communities and the
# district (the district amends its communities' records on their branches), then syncs
# in several orders: every copy of each branch ends at the same commit; a conflict on a
# manual field (person.name) appears once, replicates to every holder of the branch, is
# resolved anywhere (the city, a community, the district) and the resolution reaches
# everyone; status shows the open conflicts per branch. A fetched commit that fails
# verify_commit is refused as a batch and changes nothing local.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/synclib.sh"
FORGE=$top_builddir/tests/integration/forge

city_ca 1201
issued dist 120112
issued c1 120112001001
issued c2 120112001002
B1=120112001001
B2=120112001002
ID=11010519491231002X
daemon_conf city
start city
daemon_conf dist "parent=https://127.0.0.1:$PORT_city/ledger" parent_name=city
start dist
for c in c1 c2; do
	daemon_conf $c "parent=https://localhost:$PORT_dist/ledger" parent_name=district
	start $c
done

on() {
	o=$1
	shift
	CASELEDGER_DIR=$T/$o cl "$@"
}
sync() { cl -C "$T/$1" sync --wait >"$T/sync.out" 2>"$T/sync.err" || fail "sync $1: $(cat "$T/sync.err") $(cat "$T/sync.out")"; }
# converged BRANCH OFFICE…: every copy of BRANCH is one commit (push-through is async)
converged() {
	b=$1
	first=$2
	shift 2
	for o in "$@"; do
		wait_eq "head_of $o $b" "$(head_of $first $b)" "$o's copy of $b"
	done
}
# open_conflicts OFFICE BRANCH: the ids of the open conflicts, one line
open_conflicts() {
	cl -C "$T/$1" conflicts --branch "$2" --json >"$T/c.json" || fail "conflicts on $1"
	sqlite3 :memory: "select group_concat(json_extract(value,'\$.id'),' ') from json_each(readfile('$T/c.json'))"
}
# status_conflicts OFFICE BRANCH: the conflicts field status --json reports for BRANCH
status_conflicts() {
	cl -C "$T/$1" status --json >"$T/st.json" || fail "status $1"
	sqlite3 :memory: "select json_extract(value,'\$.conflicts') from json_each(json_extract(readfile('$T/st.json'),'\$.branches')) where json_extract(value,'\$.branch')='$2'"
}

say "each community registers a person; both reach the district and the city"
P1=$(on c1 add person name="Han Mei" id_number=$ID phone=1)
P2=$(on c2 add person name="Zhou Lan" id_number=$ID phone=2)
sync c1
sync c2
converged $B1 c1 dist city
converged $B2 c2 dist city

say "offline: both communities and the district amend; a name changes on two sides"
on c1 amend "$P1" name="Han Meimei" --reason "spelling on the ID card" >/dev/null
on c1 amend "$P1" conditions+=diabetes --reason "visit" >/dev/null
on dist amend "$P1" name="Han Mei-Li" --reason "district register" --branch $B1 >/dev/null
on dist amend "$P1" phone=13800000000 --reason "district register" --branch $B1 >/dev/null
on dist amend "$P2" conditions+=asthma --reason "hospital report" --branch $B2 >/dev/null
on dist add person name="Qian Wu" id_number=$ID >/dev/null
on c2 amend "$P2" phone=13900000000 --reason "new phone" >/dev/null
P3=$(on c2 add person name="Sun Ba" id_number=$ID)
expect_eq "$(git -C "$T/dist" log --format=%H -1 $B1 -- person | wc -l)" 1 "district commit on $B1"

say "order 1: the district first, then community 1, then community 2"
sync dist
sync c1
grep -Eq "^$B1 +district +merged " "$T/sync.out" || fail "c1 did not merge: $(cat "$T/sync.out")"
sync c2
grep -Eq "^$B2 +district +merged " "$T/sync.out" || fail "c2 did not merge: $(cat "$T/sync.out")"
converged $B1 c1 dist city
converged $B2 c2 dist city
converged 120112 dist city
on c1 show "$P1" --json >"$T/p1.json"
expect_eq "$(json_get "$T/p1.json" '$.phone')" 13800000000 "the district's phone on c1"
expect_eq "$(json_get "$T/p1.json" '$.conditions[0]')" diabetes "c1's condition"
on c2 show "$P2" --json >"$T/p2.json"
expect_eq "$(json_get "$T/p2.json" '$.phone')" 13900000000 "c2's phone"
expect_eq "$(json_get "$T/p2.json" '$.conditions[0]')" asthma "the district's condition on c2"
on dist show "$P3" --branch $B2 >/dev/null || fail "c2's new person did not reach the district"

say "the name conflict appears once and replicates to every holder of the branch"
X=$(open_conflicts c1 $B1)
[ -n "$X" ] && [ "${X#* }" = "$X" ] || fail "not one open conflict on c1: '$X'"
expect_eq "$(open_conflicts dist $B1)" "$X" "conflict on the district"
expect_eq "$(open_conflicts city $B1)" "$X" "conflict on the city"
expect_eq "$(open_conflicts c2 $B2)" "" "no conflict on $B2"
expect_eq "$(status_conflicts c1 $B1)" 1 "status conflicts on c1"
expect_eq "$(status_conflicts c2 $B2)" 0 "status conflicts on c2"
cl -C "$T/c1" status >"$T/st.txt"
grep -Eq "^$B1 +district +[a-z-]+ +[0-9]+ +[0-9]+ +1 " "$T/st.txt" || fail "status table: $(cat "$T/st.txt")"

say "the city resolves it; the resolution reaches the district and the community"
cl -C "$T/city" resolve "$X" --take "Han Meimei" --reason "as on the ID card" >/dev/null
sync dist
sync c1
converged $B1 city dist c1
expect_eq "$(open_conflicts c1 $B1)" "" "open conflicts on c1 after the city resolved"
expect_eq "$(open_conflicts dist $B1)" "" "open conflicts on the district"
on c1 show "$P1" --json >"$T/p1.json"
expect_eq "$(json_get "$T/p1.json" '$.name')" "Han Meimei" "resolved name on c1"
expect_eq "$(status_conflicts c1 $B1)" 0 "status conflicts on c1 after resolution"

say "order 2: community 1 syncs before the district; resolved at the community"
on dist amend "$P1" name="Han Mei (district)" --reason "district register" --branch $B1 >/dev/null
on c1 amend "$P1" name="Han Mei (community)" --reason "resident asked" >/dev/null
sync c1
grep -Eq "^$B1 +district +merged " "$T/sync.out" || fail "c1 did not merge: $(cat "$T/sync.out")"
sync dist
converged $B1 c1 dist city
Y=$(open_conflicts c1 $B1)
[ -n "$Y" ] && [ "$Y" != "$X" ] && [ "${Y#* }" = "$Y" ] || fail "not one new conflict: '$Y'"
expect_eq "$(open_conflicts city $B1)" "$Y" "second conflict on the city"
on c1 resolve "$Y" --take theirs --reason "the district's register" >/dev/null
sync c1
converged $B1 c1 dist city
expect_eq "$(open_conflicts city $B1)" "" "open conflicts on the city after c1 resolved"

say "order 3: the city and a community both amend; the district merges; resolved there"
on city amend "$P2" name="Zhou Lan (city)" --reason "city reconciliation" --branch $B2 >/dev/null
on c2 amend "$P2" name="Zhou Lan (community)" --reason "resident asked" >/dev/null
sync dist
grep -Eq "^$B2 +city +(up-to-date|fetched) " "$T/sync.out" || fail "district sync: $(cat "$T/sync.out")"
sync c2
converged $B2 c2 dist city
Z=$(open_conflicts dist $B2)
[ -n "$Z" ] && [ "${Z#* }" = "$Z" ] || fail "not one conflict on $B2: '$Z'"
expect_eq "$(open_conflicts city $B2)" "$Z" "conflict of $B2 on the city"
cl -C "$T/dist" resolve "$Z" --take ours --reason "district decides" >/dev/null
sync c2
sync dist
converged $B2 dist c2 city
expect_eq "$(open_conflicts c2 $B2)" "" "open conflicts on c2 after the district resolved"

say "every copy of each branch has the same tree; every commit verifies everywhere"
for b in $B1 $B2 120112 trust; do
	t=$(git -C "$T/city" rev-parse "$b^{tree}")
	expect_eq "$(git -C "$T/dist" rev-parse "$b^{tree}")" "$t" "district tree of $b"
done
expect_eq "$(git -C "$T/c1" rev-parse "$B1^{tree}")" "$(git -C "$T/city" rev-parse "$B1^{tree}")" "c1 tree"
expect_eq "$(git -C "$T/c2" rev-parse "$B2^{tree}")" "$(git -C "$T/city" rev-parse "$B2^{tree}")" "c2 tree"
for o in city dist c1 c2; do
	git -C "$T/$o" fsck --strict >/dev/null 2>&1 || fail "fsck $o"
	cl -C "$T/$o" verify >"$T/out" 2>&1 || fail "verify $o: $(cat "$T/out")"
done

say "a fetched commit that fails verification refuses the batch; nothing local changes"
good=$(head_of dist $B1)
bad=$("$FORGE" "$T/dist" "$T/c2/office.key" $B1 --office $B2 -m "sibling's forgery")
before=$(git -C "$T/c1" for-each-ref --format='%(refname) %(objectname)' | sort)
expect_fail 1 "sync failed" cl -C "$T/c1" sync --wait
grep -q "commit $bad signed by office $B2 (key SHA256:.*rule 'scope'" "$T/out" ||
	fail "the refusal lacks commit, signer and rule: $(cat "$T/out")"
expect_eq "$(git -C "$T/c1" for-each-ref --format='%(refname) %(objectname)' | sort)" "$before" "c1 refs"
git -C "$T/c1" rev-list --all | grep -q "$bad" && fail "the forged commit is reachable on c1"
git -C "$T/dist" update-ref refs/heads/$B1 "$good" "$bad"
sync c1

for o in c1 c2 dist city; do stop $o; done
say "ok"
