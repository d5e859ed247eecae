#!/bin/sh
# Our libgit2 client over our OpenSSL stream: a city, a district and two communities,
# each with its own certificate and daemon. Offline amendments on both communities and
# the district reach the city through `caseledger sync` and push-through; every copy of
# each branch converges; trust flows down; status reports each branch.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/synclib.sh"

city_ca 1201
issued dist 120112
issued c1 120112001001
issued c2 120112001002
CASELEDGER_DIR=$T/city cl add person name="Li Si" id_number=11010519491231002X >/dev/null

daemon_conf city
start city
daemon_conf dist "parent=https://127.0.0.1:$PORT_city/ledger" parent_name=city
start dist
for c in c1 c2; do
	daemon_conf $c "parent=https://localhost:$PORT_dist/ledger" parent_name=district
	start $c
done


say "offline amendments on both communities and the district"
for c in c1 c2; do
	CASELEDGER_DIR=$T/$c cl add person name="Resident $c" id_number=11010519491231002X >/dev/null
	CASELEDGER_DIR=$T/$c cl add person name="Neighbour $c" id_number=11010519491231002X >/dev/null
done
CASELEDGER_DIR=$T/dist cl add person name="Auditor" id_number=11010519491231002X >/dev/null

cl -C "$T/dist" sync --wait >/dev/null 2>"$T/err" || fail "first sync of the district: $(cat "$T/err")"
expect_eq "$(head_of dist trust)" "$(head_of city trust)" "trust on the district"

say "community 1 syncs: its branch reaches the district, then the city by push-through"
cl -C "$T/c1" sync --wait >"$T/out" 2>"$T/err" || fail "sync c1: $(cat "$T/err") $(cat "$T/out")"
grep -Eq "^120112001001 +district +(pushed|up-to-date) " "$T/out" || fail "sync c1 output: $(cat "$T/out")"
expect_eq "$(head_of dist 120112001001)" "$(head_of c1 120112001001)" "district copy of c1"
wait_eq "head_of city 120112001001" "$(head_of c1 120112001001)" "city copy of c1"
expect_eq "$(head_of c1 trust)" "$(head_of city trust)" "trust on c1"

say "the district cannot open a new branch as an alias of community 1's head (rule scope)"
expect_fail 1 "rule 'scope': office 120112001001 may write only" \
	sgit "$T/cred-dist/office.key" "$T/cred-dist/office.pem" -C "$T/dist" \
	push "https://127.0.0.1:$PORT_city/ledger" "refs/heads/120112001001:refs/heads/120112001003"
expect_eq "$(head_of city 120112001003)" none "the city's branch 120112001003 after the alias push"

say "the district syncs its own amendment; community 2 syncs after"
cl -C "$T/dist" sync --wait >"$T/out" 2>"$T/err" || fail "sync dist: $(cat "$T/err")"
expect_eq "$(head_of city 120112)" "$(head_of dist 120112)" "city copy of the district"
cl -C "$T/c2" sync --wait >"$T/out" 2>"$T/err" || fail "sync c2: $(cat "$T/err")"
wait_eq "head_of city 120112001002" "$(head_of c2 120112001002)" "city copy of c2"

say "a community sees only its own branch and trust, never its neighbour's"
expect_eq "$(git -C "$T/c1" for-each-ref --format='%(refname)' refs/heads | tr '\n' ' ')" \
	"refs/heads/120112001001 refs/heads/trust " "c1's branches"
expect_eq "$(head_of c2 120112001001)" none "c1's branch on c2"

say "a second amendment syncs again, in another order"
CASELEDGER_DIR=$T/c1 cl add person name="Late" id_number=11010519491231002X >/dev/null
cl -C "$T/dist" sync --wait >/dev/null 2>&1 || fail "sync dist"
cl -C "$T/c1" sync --wait >/dev/null 2>"$T/err" || fail "sync c1: $(cat "$T/err")"
wait_eq "head_of city 120112001001" "$(head_of c1 120112001001)" "city copy of c1"
for o in city dist c1 c2; do
	git -C "$T/$o" fsck --strict >/dev/null 2>&1 || fail "fsck $o"
	cl -C "$T/$o" verify >/dev/null 2>"$T/err" || true
done

say "every copy of each branch has the same tree"
for b in 120112001001 120112001002 120112; do
	t=$(git -C "$T/city" rev-parse "$b^{tree}")
	expect_eq "$(git -C "$T/dist" rev-parse "$b^{tree}")" "$t" "district tree of $b"
done
expect_eq "$(git -C "$T/c2" rev-parse "120112001002^{tree}")" \
	"$(git -C "$T/city" rev-parse "120112001002^{tree}")" "c2 tree"

say "status reports each branch with the parent"
cl -C "$T/c1" status --json >"$T/st.json" || fail "status"
expect_eq "$(json_get "$T/st.json" '$.office')" 120112001001 "status office"
expect_eq "$(sqlite3 :memory: "select json_extract(value,'\$.outcome') from json_each(json_extract(readfile('$T/st.json'),'\$.branches')) where json_extract(value,'\$.branch')='120112001001'")" \
	"pushed" "c1 branch state after the last sync"
cl -C "$T/c1" status >"$T/st.txt" || fail "status"
grep -q "^120112001001 *district" "$T/st.txt" || fail "status table: $(cat "$T/st.txt")"

say "without its daemon, caseledger sync syncs in-process from the config's [daemon]"
stop c2
CASELEDGER_DIR=$T/c2 cl add person name="Offline" id_number=11010519491231002X >/dev/null
CASELEDGER_CONFIG=$T/c2.ini cl -C "$T/c2" sync >"$T/out" 2>"$T/err" ||
	fail "in-process sync: $(cat "$T/err") $(cat "$T/out")"
grep -Eq "^120112001002 +district +pushed " "$T/out" || fail "in-process sync output: $(cat "$T/out")"
expect_eq "$(head_of dist 120112001002)" "$(head_of c2 120112001002)" "district copy of c2"
wait_eq "head_of city 120112001002" "$(head_of c2 120112001002)" "city copy of c2"
CASELEDGER_DIR=$T/dist cl add person name="From above" id_number=11010519491231002X --json >/dev/null
CASELEDGER_DIR=$T/dist cl amend "$(git -C "$T/c2" ls-tree -r --name-only 120112001002 person |
	head -1 | sed 's|.*/||; s|\.json$||')" phone=555 --reason "district register" \
	--branch 120112001002 >/dev/null
say "in-process sync from options, with a progress line on a terminal"
script -qec "$CASELEDGER -C $T/c2 sync --parent https://localhost:$PORT_dist/ledger \
	--parent-name district --cert $T/c2.pem --ca $T/ca/ca.pem" /dev/null >"$T/tty" ||
	fail "in-process sync on a terminal: $(cat "$T/tty")"
grep -q "\[1/2\] trust: fetch, verify, merge, push" "$T/tty" || fail "no progress line: $(cat "$T/tty")"
grep -Eq "^120112001002 +district +fetched " "$T/tty" || fail "in-process sync output: $(cat "$T/tty")"
expect_eq "$(head_of c2 120112001002)" "$(head_of dist 120112001002)" "c2 after fetching"
cl -C "$T/c2" sync --json --parent "https://localhost:$PORT_dist/ledger" --cert "$T/c2.pem" \
	--ca "$T/ca/ca.pem" >"$T/s.json" 2>/dev/null </dev/null || fail "sync --json"
expect_eq "$(json_get "$T/s.json" '$.in_process')" 1 "in_process"
expect_eq "$(json_get "$T/s.json" '$.branches[1].outcome')" up-to-date "second sync"
expect_fail 2 "no parent to sync with" env -u CASELEDGER_CONFIG "$CASELEDGER" -C "$T/c2" sync
mkca "$T/evil" "foreign CA"
before=$(ledger_fingerprint "$T/c2")
expect_fail 1 "cannot reach" cl -C "$T/c2" sync --parent "https://localhost:$PORT_dist/ledger" \
	--cert "$T/c2.pem" --ca "$T/evil/ca.pem"
expect_eq "$(ledger_fingerprint "$T/c2")" "$before" "c2 after a sync to a parent of a foreign CA"

say "a sync against a stopped parent fails, backs off, and changes nothing local"
stop dist
before=$(ledger_fingerprint "$T/c1")
expect_fail 1 "sync failed" cl -C "$T/c1" sync --wait
expect_eq "$(ledger_fingerprint "$T/c1")" "$before" "c1 after a failed sync"
cl -C "$T/c1" status --json >"$T/st.json"
[ "$(json_get "$T/st.json" '$.failures')" -ge 1 ] || fail "no failure counted: $(cat "$T/st.json")"

say "with the daemon stopped, status says no daemon answers"
expect_fail 3 "no caseledgerd answers" cl -C "$T/dist" status
for c in c1 city; do stop $c; done
say "ok"
