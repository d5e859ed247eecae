#!/bin/sh
# A sync makes progress on a link that keeps dropping, both ways. Between community c1
# and its parent, the city, cutproxy drops the link every 3 s: every open connection is
# closed there and then. The backlogs are made with the bulk path of
# tests/bench/bench_sync (thousands of signed amendments in seconds).
# Push: c1 holds BACKLOG amendments the city has never seen; c1's caseledgerd pushes in
# steps of sync_step commits, each its own request that the city verifies and applies.
# Fetch: the city makes BACKLOG amendments on c1's branch; c1 fetches them in steps
# (caseledger-step), each verified and its tracking ref moved. Shown, each way:
#   - the backlog arrives (generous deadline: no timing is asserted);
#   - the link did drop mid-sync (the city accepted more connections than c1 made
#     rounds, each round keeping one connection), so the steps were needed;
#   - no step was sent twice: pushed, the city's "push from" lines for the branch form
#     one chain (each starts where the one before ended), no commit twice, and no step
#     refused as stale (which one re-sent after it landed would be); fetched, the steps
#     the city sent are a chain of ancestors, and a step comes again only after the link
#     dropped (the one in flight);
#   - both ledgers verify, and git fsck passes.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/synclib.sh"
PROXY=$top_builddir/tests/integration/cutproxy
BULK=$top_builddir/tests/bench/bench_sync
BACKLOG=${BACKLOG:-1000}
STEP=${STEP:-50}
B=120112001001

city_ca 1201
issued c1 $B
daemon_conf city
start city

say "c1 sends its first commit, then goes offline and piles up $BACKLOG amendments"
CASELEDGER_DIR=$T/c1 cl add person name="Zhang San" id_number=11010519491231002X >/dev/null
cl -C "$T/c1" sync --parent "https://127.0.0.1:$PORT_city/ledger" --parent-name city \
	--cert "$T/c1.pem" --ca "$T/ca/ca.pem" >/dev/null 2>"$T/err" ||
	fail "first sync: $(cat "$T/err")"
"$BULK" import --dir "$T/c1" --records 200 >/dev/null || fail "bulk import"
"$BULK" amend --dir "$T/c1" --records 200 --amendments "$BACKLOG" --tag offline >/dev/null ||
	fail "bulk amendments"
n=$(git -C "$T/c1" rev-list --count "refs/heads/$B" "^refs/remotes/city/$B")
[ "$n" -gt "$BACKLOG" ] || fail "backlog: $n commits"

say "the link drops every 3 s; c1's daemon pushes in steps of $STEP"
echo "$PORT_city flap 3000" >"$T/link"
"$PROXY" --control "$T/link" >"$T/proxy.port" &
PROXY_PID=$!
CLEANUP_EXTRA="kill $PROXY_PID 2>/dev/null || true; ${CLEANUP_EXTRA:-}"
i=0
while [ ! -s "$T/proxy.port" ]; do
	i=$((i + 1))
	[ $i -lt 250 ] || fail "cutproxy did not start"
	sleep 0.02
done
daemon_conf c1 "parent=https://127.0.0.1:$(cat "$T/proxy.port")/ledger" parent_name=city \
	sync_interval=1 backoff_min=1 backoff_max=2 sync_step=$STEP timeout=10
# arrive WHAT: start c1's daemon; wait (15 minutes at most) until c1 and the city agree.
# drops: how often the link dropped under a round. A round keeps one connection to the
# city (keep-alive), so every connection the city accepted beyond one per round is one
# the link cut and c1 replaced within the round; a round the cut failed (failed, c1's
# failed rounds) is one more.
arrive() {
	mark=$(wc -l <"$T/city.log")
	start c1
	i=0
	while [ "$(head_of city $B)" != "$(head_of c1 $B)" ]; do
		i=$((i + 1))
		[ $i -lt 1800 ] || fail "$1: the backlog did not arrive in 15 minutes; c1's log ends:
$(tail -5 "$T/c1.log")"
		sleep 0.5
	done
	stop c1
	rounds=$(grep -c "sync $B with " "$T/c1.log" || true)
	failed=$(grep -c "sync $B with [^ ]*: failed" "$T/c1.log" || true)
	conns=$(tail -n +$((mark + 1)) "$T/city.log" | grep -c "connection from" || true)
	drops=$((conns - rounds + failed))
	[ "$drops" -gt 0 ] || fail "$1: $conns connections for $rounds rounds, none failed: the link never dropped mid-sync:
$(grep -i 'sync' "$T/c1.log" | tail -5)"
}
# sound NAME: git fsck and verify pass
sound() {
	git -C "$T/$1" fsck --no-dangling >"$T/fsck" 2>&1 || fail "git fsck $1: $(cat "$T/fsck")"
	cl -C "$T/$1" verify >/dev/null 2>"$T/err" || fail "verify $1: $(cat "$T/err")"
}
arrive push

say "pushed: the link dropped mid-sync, and each step reached the city once"
grep "push from '[^']*': $B " "$T/city.log" |
	sed 's/.*: [0-9]* \([0-9a-f]*\) -> \([0-9a-f]*\)$/\1 \2/' >"$T/steps"
nsteps=$(wc -l <"$T/steps")
[ "$nsteps" -ge $((BACKLOG / STEP)) ] || fail "only $nsteps steps for $BACKLOG commits"
awk 'NR > 1 && $1 != prev { print "step " NR " starts at " $1 ", the one before ended at " prev; bad = 1 }
	{ if (seen[$2]++) { print "commit " $2 " pushed twice"; bad = 1 }; prev = $2 }
	END { exit bad }' "$T/steps" >"$T/chain" || fail "steps: $(cat "$T/chain")"
if grep -q "stale old value" "$T/city.log"; then
	fail "a step was refused as stale: $(grep 'stale old value' "$T/city.log" | head -3)"
fi
sound city
say "pushed: $nsteps steps, the link dropped $drops times under a round, $failed rounds failed"

say "the city amends c1's branch $BACKLOG times; c1 fetches them over the same link"
"$BULK" amend --dir "$T/city" --branch $B --records 200 --amendments "$BACKLOG" \
	--tag city >/dev/null || fail "bulk amendments at the city"
cp "$T/c1.log" "$T/c1.log.push"
sent_before=$(grep -c "upload-pack for '$B': step" "$T/city.log" || true)
arrive fetch
say "fetched: each step was sent once, but for the one in flight when the link dropped"
grep "upload-pack for '$B': step" "$T/city.log" | tail -n +$((sent_before + 1)) |
	sed 's/.*: step \([0-9a-f]*\), .*/\1/' >"$T/fsteps"
uniq "$T/fsteps" >"$T/fsteps.u"
nsteps=$(wc -l <"$T/fsteps.u")
[ "$nsteps" -ge $((BACKLOG / STEP)) ] || fail "only $nsteps steps fetched for $BACKLOG commits"
again=$(sort "$T/fsteps.u" | uniq -d)
[ -z "$again" ] || fail "a step sent again after a later one: $again"
resent=$(($(wc -l <"$T/fsteps") - nsteps))
[ "$resent" -le "$drops" ] || fail "$resent steps re-sent, more than the $drops drops of the link"
prev=""
while read -r s; do
	[ -z "$prev" ] || git -C "$T/city" merge-base --is-ancestor "$prev" "$s" ||
		fail "step $s does not continue $prev"
	prev=$s
done <"$T/fsteps.u"
[ "$prev" = "$(head_of city $B)" ] || fail "the last step is not the head"
sound c1
say "fetched: $nsteps steps ($resent re-sent in flight), the link dropped $drops times under a round, $failed rounds failed"
stop city
say "ok"
