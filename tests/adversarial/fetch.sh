#!/bin/sh
# Adversarial, channel fetch: the city's ledger is tampered with behind its daemon's back
# (as a compromised or lying parent would), one attack at a time on community A's
# branch; the district syncs with the city. Each fetch is refused naming the commit, the
# signer and the rule, and the district's ledger does not change.
. "$(dirname "$0")/lib.sh"

daemon_conf dist "parent=https://127.0.0.1:$PORT_city/ledger" parent_name=city
start dist
sync_dist() { cl -C "$T/dist" sync --wait >"$T/out" 2>&1; }
sync_dist || fail "the first honest sync of the district: $(cat "$T/out")"
before=$(ledger_fingerprint "$T/dist")
for a in $ATTACKS; do
	say "fetch: $a"
	eval "x=\$ATK_$a"
	git -C "$T/city" fetch -q -f "$T/work" "refs/attacks/$a:refs/heads/$A"
	if sync_dist; then fail "the district's sync took $a: $(cat "$T/out")"; fi
	refused "$T/out" $a
	expect_eq "$(head_of dist $A)" "$H" "the district's head of A after $a"
	expect_eq "$(ledger_fingerprint "$T/dist")" "$before" "the district after $a"
	git -C "$T/city" update-ref "refs/heads/$A" "$H"
done
cl -C "$T/dist" verify >/dev/null || fail "verify dist: $(cl -C "$T/dist" verify 2>&1)"

say "fetch: once the city's branch is honest again, the district syncs"
sync_dist || fail "the honest sync after the attacks: $(cat "$T/out")"
expect_eq "$(head_of dist $A)" "$H" "the district's head of A at the end"
