#!/bin/sh
# Offline transfer with bundles, no network at all: a community's work reaches the city
# in a file and the city's decision comes back the same way (a merge when the community
# worked meanwhile); stock `git bundle verify` reads our bundles. A bundle applied twice
# brings nothing; one applied before the bundle it builds on, a truncated one, one that
# is not a bundle, and one carrying a forged commit are refused with a clear error, and
# no branch moves.
. "$(dirname "$0")/lib.sh"
FORGE=$top_builddir/tests/integration/forge
C1=120112001001

cl ca init --office 1201 --name City "$T/city" >/dev/null
cl -C "$T/city" ca issue --office $C1 --name Xinyeli --out "$T/cred" >/dev/null
cl init --office $C1 --credentials "$T/cred" --trust "$T/city" "$T/c1" >/dev/null
cp -a "$T/c1" "$T/c1-fresh" # the same office before any work: for the out-of-order case
refs() { git -C "$T/$1" for-each-ref --format='%(refname) %(objectname)' refs/heads; }

say "community -> city: a bundle of the community's branch and trust"
P=$(cl -C "$T/c1" add person name="Han Mei" id_number=11010519491231002X)
C=$(cl -C "$T/c1" add case subject="$P" programme=minimum-living-guarantee status=applied)
cl -C "$T/c1" bundle create "$T/up.bundle" --json >"$T/create.json"
expect_eq "$(json_get "$T/create.json" '$.prerequisites')" 0 "a first bundle's prerequisites"
git -C "$T/city" bundle verify "$T/up.bundle" >/dev/null 2>&1 || fail "git bundle verify refused up.bundle"
git bundle list-heads "$T/up.bundle" | grep -q " refs/heads/$C1\$" || fail "list-heads"
cl -C "$T/city" bundle apply "$T/up.bundle" >"$T/out" || fail "apply: $(cat "$T/out")"
grep -q "^$C1 *fetched" "$T/out" || fail "apply: $(cat "$T/out")"
expect_eq "$(git -C "$T/city" rev-parse $C1)" "$(git -C "$T/c1" rev-parse $C1)" "the city's copy"
cl -C "$T/city" show "$C" --json >"$T/case.json" || fail "the case at the city"
cl -C "$T/city" verify >/dev/null || fail "verify at the city"

say "applied twice: nothing new, nothing moves"
before=$(refs city)
cl -C "$T/city" bundle apply "$T/up.bundle" >"$T/out" || fail "apply twice: $(cat "$T/out")"
grep -q "nothing new" "$T/out" || fail "apply twice: $(cat "$T/out")"
expect_eq "$(refs city)" "$before" "refs after applying twice"

say "city -> community: the city's change comes back; the community worked meanwhile: a merge"
cl -C "$T/city" amend "$P" phone=13800000000 --reason "city register" --branch $C1 >/dev/null
cl -C "$T/city" bundle create "$T/down.bundle" --branch $C1 --since "$T/up.bundle" --json >"$T/create.json"
expect_eq "$(json_get "$T/create.json" '$.prerequisites')" 2 "prerequisites of an incremental bundle (the heads up.bundle carried)"
git -C "$T/c1" bundle verify "$T/down.bundle" >/dev/null 2>&1 || fail "git bundle verify refused down.bundle"
cl -C "$T/c1" amend "$P" name="Han Li" --reason "ID card" >/dev/null
cl -C "$T/c1" bundle apply "$T/down.bundle" >"$T/out" || fail "apply down: $(cat "$T/out")"
grep -q "^$C1 *merged" "$T/out" || fail "apply down: $(cat "$T/out")"
cl -C "$T/c1" show "$P" --json >"$T/p.json"
expect_eq "$(json_get "$T/p.json" '$.phone')" 13800000000 "the city's change at c1"
expect_eq "$(json_get "$T/p.json" '$.name')" "Han Li" "c1's own change kept"
cl -C "$T/c1" verify >/dev/null || fail "verify at c1 after the merge"
cl -C "$T/c1" bundle create "$T/up2.bundle" --since "$T/down.bundle" >/dev/null
cl -C "$T/city" bundle apply "$T/up2.bundle" >/dev/null || fail "the merge back to the city"
expect_eq "$(git -C "$T/city" rev-parse $C1)" "$(git -C "$T/c1" rev-parse $C1)" "converged"

say "applied before the bundle it builds on: refused, nothing moves"
before=$(refs c1-fresh)
expect_fail 3 "builds on commit" cl -C "$T/c1-fresh" bundle apply "$T/down.bundle"
grep -q "apply the bundle made before it first" "$T/err" || fail "no advice: $(cat "$T/err")"
expect_eq "$(refs c1-fresh)" "$before" "refs after an out-of-order bundle"

say "truncated, or not a bundle at all: refused, nothing moves"
before=$(refs city)
size=$(wc -c <"$T/up2.bundle")
head -c $((size / 2)) "$T/up2.bundle" >"$T/cut.bundle"
expect_fail 4 "cut.bundle" cl -C "$T/city" bundle apply "$T/cut.bundle"
head -c 60 "$T/up2.bundle" >"$T/header.bundle"
expect_fail 4 "is not a caseledger bundle" cl -C "$T/city" bundle apply "$T/header.bundle"
printf 'hello\n' >"$T/junk.bundle"
expect_fail 4 "does not start with '# v2 git bundle'" cl -C "$T/city" bundle apply "$T/junk.bundle"
expect_eq "$(refs city)" "$before" "refs after bad bundles"

say "a forged commit in a bundle made with stock git: refused with commit, signer and rule"
cp -a "$T/c1" "$T/forgery"
openssl genpkey -algorithm ed25519 -out "$T/stranger.key" 2>/dev/null
chmod 600 "$T/stranger.key"
printf '{"id":"%s","type":"person","name":"Forged","id_type":"resident-id","id_number":"11010519491231002X","category":"none"}\n' \
	"P-$C1-FORGED1" >"$T/forged.json"
x=$("$FORGE" "$T/forgery" "$T/stranger.key" $C1 --record "$T/forged.json" -m "forged person")
git -C "$T/forgery" bundle create -q "$T/forged.bundle" "refs/heads/$C1" "^$(git -C "$T/c1" rev-parse $C1)"
before=$(refs city)
expect_fail 7 "refused" cl -C "$T/city" bundle apply "$T/forged.bundle"
grep -q "$x" "$T/out" "$T/err" || fail "the forged commit is not named: $(cat "$T/out" "$T/err")"
grep -q "rule 'certificate'" "$T/out" || fail "no rule named: $(cat "$T/out")"
expect_eq "$(refs city)" "$before" "refs after a forged bundle"
packs=$(ls "$T/city/objects/pack" | sort)
expect_fail 7 "refused" cl -C "$T/city" bundle apply "$T/forged.bundle"
expect_eq "$(ls "$T/city/objects/pack" | sort)" "$packs" "packs kept after a refused bundle"
git -C "$T/city" cat-file -e "$x" 2>/dev/null && fail "the forged commit was stored"
cl -C "$T/city" verify >/dev/null || fail "verify at the city after the refusals"
say "ok"
