#!/bin/sh
# chaos: liveness under any sequence of faults. A city (1201), a district (120112), a
# street (120112001) and three communities (120112001001..003), each with its own
# caseledgerd on a kernel-chosen loopback port; every daemon reaches its parent through a
# cutproxy --control the test drives (refuse, stall, black-hole, cut after N bytes, reset
# mid-stream, hold the N-th connection). For CHAOS_DURATION seconds, from CHAOS_SEED: random
# amendments at every level of the same person records (phone: lww; name: manual), CLI
# writers killed with kill -9, daemons killed with kill -9 and restarted, link faults. Then
# every link heals, every daemon runs, and the test waits (on conditions, with a generous
# limit) until every branch has one tree at every holder. It checks and prints: every
# acknowledged commit is reachable at the city; every acknowledged value is kept,
# superseded by a later write to the same field, or held in a conflict record; verify,
# git fsck --strict and reindex --check pass everywhere; the time to converge.
#
# make check runs it short (t0700-chaos.sh: a fixed seed, about 60 s); `make chaos
# SEED=… DURATION=…` runs it long. Timing is never a correctness condition: sleeps only
# pace the chaos, every wait is for a condition.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/synclib.sh"
SEED=${CHAOS_SEED:-1}
DURATION=${CHAOS_DURATION:-60}
CONVERGE_LIMIT=${CHAOS_CONVERGE_LIMIT:-900}
PROXY=${CUTPROXY:-$top_builddir/tests/integration/cutproxy}
say "chaos: seed $SEED, duration ${DURATION}s"

# --- a deterministic random sequence from the seed -----------------------------------
R=$SEED
rnd() { # rnd N: sets X to a number in [0, N)
	R=$(((R * 1103515245 + 12345) % 2147483648))
	X=$(((R / 65536) % $1))
}

OFFICES="city dist street c1 c2 c3"
code_of() {
	case $1 in
	city) echo 1201 ;; dist) echo 120112 ;; street) echo 120112001 ;;
	c1) echo 120112001001 ;; c2) echo 120112001002 ;; c3) echo 120112001003 ;;
	esac
}
parent_of() {
	case $1 in
	dist) echo city ;; street) echo dist ;; c1 | c2 | c3) echo street ;; *) echo "" ;;
	esac
}

city_ca 1201
for o in dist street c1 c2 c3; do issued $o "$(code_of $o)"; done

PROXIES=""
CLEANUP_EXTRA="for p in \$PROXIES; do kill \$p 2>/dev/null || true; done; $CLEANUP_EXTRA"

# link O: write O's proxy control file from PORT_<parent> and MODE_O
link() {
	eval "pp=\$PORT_$(parent_of "$1") m=\$MODE_$1"
	echo "$pp $m" >"$T/ctl-$1.tmp"
	mv "$T/ctl-$1.tmp" "$T/ctl-$1"
}

# --- start: daemons top-down, each child's parent behind its own proxy ------------------
daemon_conf city sync_interval=2 backoff_min=1 backoff_max=2 timeout=10
start city
for o in dist street c1 c2 c3; do
	eval "MODE_$o=pass"
	link $o
	"$PROXY" --control "$T/ctl-$o" >"$T/proxy-$o.port" &
	PROXIES="$PROXIES $!"
	i=0
	while [ ! -s "$T/proxy-$o.port" ]; do
		i=$((i + 1))
		[ $i -lt 500 ] || fail "cutproxy for $o did not start"
		sleep 0.02
	done
	daemon_conf $o "parent=https://127.0.0.1:$(cat "$T/proxy-$o.port")/ledger" \
		parent_name=up sync_interval=2 backoff_min=1 backoff_max=2 timeout=10
	start $o
	# its children (started later) point at its new port through their own proxies
done

# wait_for CMD WHAT [LIMIT]: poll until CMD succeeds (default limit CONVERGE_LIMIT s)
wait_for() {
	lim=${3:-$CONVERGE_LIMIT}
	t0=$(date +%s)
	while ! eval "$1" >/dev/null 2>&1; do
		[ $(($(date +%s) - t0)) -lt "$lim" ] || fail "$2: not after ${lim}s"
		sleep 0.2
	done
}

# --- records: two persons per community, seen by every holder -------------------------
RECS=""
for c in c1 c2 c3; do
	for k in 1 2; do
		id=$(cl -C "$T/$c" add person name="Resident $c $k" id_number=11010519491231002X)
		RECS="$RECS $c:$id"
	done
	cl -C "$T/$c" sync >/dev/null 2>&1 || true
done
for c in c1 c2 c3; do
	b=$(code_of $c)
	wait_for "[ \"\$(head_of city $b)\" = \"\$(head_of $c $b)\" ]" "first copy of $b at the city"
	wait_for "[ \"\$(head_of street $b)\" != none ] && [ \"\$(head_of dist $b)\" != none ]" \
		"first copy of $b at the street and district"
done
set -- $RECS
NRECS=$#

# --- the chaos ---------------------------------------------------------------------------
: >"$T/writes" # step office record field value commit|- acked|killed|refused
step=0
nack=0
nkilled=0
nfault=0
nkill=0
t_end=$(($(date +%s) + DURATION))
while [ "$(date +%s)" -lt "$t_end" ]; do
	step=$((step + 1))
	rnd 100
	a=$X
	if [ $a -lt 55 ]; then
		# an amendment by an office that holds the record's branch
		rnd "$NRECS"
		eval "r=\${$((X + 1))}"
		owner=${r%%:*}
		id=${r#*:}
		rnd 4
		case $X in 0) o=$owner ;; 1) o=street ;; 2) o=dist ;; 3) o=city ;; esac
		rnd 10
		if [ $X -lt 7 ]; then fld=phone; else fld=name; fi
		val="v$SEED-$step"
		rnd 10
		if [ $X -lt 8 ]; then
			set +e
			cl -C "$T/$o" amend "$id" "$fld=$val" --reason "chaos step $step" \
				--branch "$(echo "$id" | cut -d- -f2)" >"$T/amend.out" 2>"$T/amend.err"
			rc=$?
			set -e
			if [ $rc -eq 0 ]; then
				short=$(sed -n 's/.* in commit \([0-9a-f]*\)$/\1/p' "$T/amend.out")
				full=$(git -C "$T/$o" rev-parse "$short^{commit}")
				echo "$step $o $id $fld $val $full acked" >>"$T/writes"
				nack=$((nack + 1))
			else
				echo "$step $o $id $fld $val - refused" >>"$T/writes"
				say "step $step: amend at $o refused (exit $rc): $(head -c 300 "$T/amend.err")"
			fi
		else
			# a writer killed with kill -9 at a random moment
			cl -C "$T/$o" amend "$id" "$fld=$val" --reason "chaos step $step" \
				--branch "$(echo "$id" | cut -d- -f2)" >/dev/null 2>&1 &
			wp=$!
			rnd 60
			sleep "0.0$((X / 10))$((X % 10))"
			kill -9 $wp 2>/dev/null || true
			wait $wp 2>/dev/null || true
			echo "$step $o $id $fld $val - killed" >>"$T/writes"
			nkilled=$((nkilled + 1))
		fi
	elif [ $a -lt 80 ]; then
		# a fault on one link (or its healing)
		rnd 5
		set -- dist street c1 c2 c3
		eval "l=\${$((X + 1))}"
		set -- $RECS
		rnd 8
		case $X in
		0) m=pass ;; 1) m=refuse ;; 2) m=stall ;; 3) m=blackhole ;;
		4) rnd 20000 && m="cut $((X + 1))" ;;
		5) rnd 20000 && m="reset $((X + 1))" ;;
		6) rnd 4 && m="hold $((X + 1))" ;;
		7) m=pass ;;
		esac
		eval "MODE_$l=\"\$m\""
		link "$l"
		nfault=$((nfault + 1))
	elif [ $a -lt 88 ]; then
		# kill -9 a daemon, then start it again (a new port: its children's links follow)
		rnd 6
		set -- $OFFICES
		eval "d=\${$((X + 1))}"
		set -- $RECS
		eval "kill -9 \$PID_$d" 2>/dev/null || true
		eval "wait \$PID_$d" 2>/dev/null || true
		start "$d"
		for c in dist street c1 c2 c3; do
			[ "$(parent_of $c)" = "$d" ] && link $c
		done
		nkill=$((nkill + 1))
	else
		# a sync asked for now, somewhere
		rnd 6
		set -- $OFFICES
		eval "d=\${$((X + 1))}"
		set -- $RECS
		cl -C "$T/$d" sync >/dev/null 2>&1 || true
	fi
	rnd 3
	sleep "0.$((X + 1))"
done
say "chaos over: $step steps, $nack acknowledged writes, $nkilled writers killed, $nfault link faults, $nkill daemon kills"

# --- heal and wait ----------------------------------------------------------------------
t_heal=$(date +%s)
for o in $OFFICES; do
	eval "p=\$PID_$o"
	kill -0 "$p" 2>/dev/null || start "$o"
done
for o in dist street c1 c2 c3; do
	eval "MODE_$o=pass"
	link $o
done
BRANCHES="trust 120112 120112001 120112001001 120112001002 120112001003"
holders() {
	case $1 in
	trust) echo "$OFFICES" ;; 120112) echo "city dist" ;;
	120112001) echo "city dist street" ;;
	120112001001) echo "city dist street c1" ;; 120112001002) echo "city dist street c2" ;;
	120112001003) echo "city dist street c3" ;;
	esac
}
tree_of() { git -C "$T/$1" rev-parse -q --verify "refs/heads/$2^{tree}" 2>/dev/null || echo none; }
# converged: every branch has one tree at every holder, and the writes are at the city
converged() {
	for b in $BRANCHES; do
		want=$(tree_of city "$b")
		for o in $(holders "$b"); do
			[ "$(tree_of "$o" "$b")" = "$want" ] || return 1
		done
	done
	while read -r s o id fld val commit how; do
		[ "$how" = acked ] || continue
		git -C "$T/city" merge-base --is-ancestor "$commit" \
			"refs/heads/$(echo "$id" | cut -d- -f2)" || return 1
	done <"$T/writes"
	return 0
}
i=0
while ! converged; do
	[ $(($(date +%s) - t_heal)) -lt "$CONVERGE_LIMIT" ] ||
		fail "not converged ${CONVERGE_LIMIT}s after healing (seed $SEED)"
	i=$((i + 1))
	if [ $((i % 10)) -eq 0 ]; then # a nudge; the daemons' timers sync anyway
		for o in c1 c2 c3 street dist city; do cl -C "$T/$o" sync >/dev/null 2>&1 || true; done
	fi
	sleep 0.5
done
took=$(($(date +%s) - t_heal))
say "converged ${took}s after healing"

# --- checks -----------------------------------------------------------------------------
say "every acknowledged commit is reachable at the city"
n=0
while read -r s o id fld val commit how; do
	[ "$how" = acked ] || continue
	b=$(echo "$id" | cut -d- -f2)
	git -C "$T/city" merge-base --is-ancestor "$commit" "refs/heads/$b" ||
		fail "step $s: commit $commit ($o: $id $fld=$val) is not on the city's $b"
	n=$((n + 1))
done <"$T/writes"
say "$n acknowledged commits at the city"

say "every acknowledged value is kept, superseded by a later write, or in a conflict record"
: >"$T/conflicts"
for b in 120112001001 120112001002 120112001003; do
	git -C "$T/city" ls-tree -r --name-only "refs/heads/$b" -- conflict | while read -r p; do
		git -C "$T/city" show "refs/heads/$b:$p" | tr '\n' ' '
		echo
	done >>"$T/conflicts"
done
kept=0
superseded=0
inconflict=0
while read -r s o id fld val commit how; do
	[ "$how" = acked ] || continue
	cl -C "$T/city" show "$id" --branch "$(echo "$id" | cut -d- -f2)" --json >"$T/rec.json"
	final=$(json_get "$T/rec.json" "\$.$fld")
	if [ "$final" = "$val" ]; then
		kept=$((kept + 1))
		continue
	fi
	# a later write (acknowledged, or by a killed writer that got through) set it
	later=$(awk -v s="$s" -v id="$id" -v f="$fld" -v v="$final" \
		'$1 > s && $3 == id && $4 == f && $5 == v { print $1 }' "$T/writes" | head -1)
	if [ -n "$later" ]; then
		superseded=$((superseded + 1))
		continue
	fi
	if grep -F "\"record\": \"$id\"" "$T/conflicts" | grep -F "\"field\": \"$fld\"" |
		grep -qF "\\\"$val\\\""; then
		inconflict=$((inconflict + 1))
		continue
	fi
	fail "step $s: $o wrote $id $fld=$val (acknowledged); the city has '$final', set by no later write, in no conflict record"
done <"$T/writes"
say "acknowledged values: $kept kept, $superseded superseded by a later write, $inconflict in conflict records"

say "verify, git fsck --strict and reindex --check everywhere"
for o in $OFFICES; do
	cl -C "$T/$o" verify >/dev/null 2>"$T/err" || fail "verify $o: $(cat "$T/err")"
	git -C "$T/$o" fsck --strict --no-dangling >"$T/err" 2>&1 || fail "fsck $o: $(cat "$T/err")"
	cl -C "$T/$o" reindex --check >/dev/null 2>"$T/err" || fail "reindex --check $o: $(cat "$T/err")"
done
same=0
for b in $BRANCHES; do
	h=$(head_of city "$b")
	for o in $(holders "$b"); do
		[ "$(head_of "$o" "$b")" = "$h" ] || same=1
	done
done
[ $same -eq 0 ] && heads="one head per branch" || heads="one tree per branch (heads differ by merges)"
for o in $OFFICES; do
	eval "p=\$PID_$o"
	kill -0 "$p" 2>/dev/null || fail "caseledgerd $o died: $(tail -5 "$T/$o.log")"
done
echo "CHAOS seed=$SEED duration=${DURATION}s steps=$step acked=$nack killed_writers=$nkilled faults=$nfault daemon_kills=$nkill converge=${took}s ($heads)"
