#!/bin/sh
# The README's main command: a city, a district and two community offices on this
# machine, each with its own caseledgerd on loopback and its own certificate from the
# city's CA. The communities work offline, sync, and the district approves a case; a
# name changed in two places becomes a conflict that replicates and is resolved at the
# city; everything converges and every signature checks out with stock git.
# Leaves the ledgers, configs and logs in ./demo-run for a look.
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
CL=${CASELEDGER:-$top/cli/caseledger}
CLD=${CASELEDGERD:-$top/daemon/caseledgerd}
RUN=${DEMO_DIR:-$top/demo-run}
export CASELEDGER_CONFIG=/dev/null GIT_CONFIG_NOSYSTEM=1
unset CASELEDGER_DIR
PIDS=""
stop_all() {
	for p in $PIDS; do kill -TERM "$p" 2>/dev/null || true; done
	for p in $PIDS; do wait "$p" 2>/dev/null || true; done
}
trap stop_all EXIT
trap 'exit 130' INT TERM
rm -rf "$RUN"
mkdir -p "$RUN"

step() { printf '\n== %s\n' "$*"; }
cl() { # echo the command (on stderr: $(cl …) captures only its output), run it
	{
		printf '$ caseledger'
		for a in "$@"; do
			case "$a" in
			*" "* | *"'"* | *";"*) printf ' "%s"' "$a" ;;
			*) printf ' %s' "$a" ;;
			esac
		done
		printf '\n'
	} >&2
	"$CL" "$@"
}
die() {
	echo "demo: $*" >&2
	exit 1
}

step "The city sets up its CA and issues certificates to a district and two communities"
cl ca init --office 1201 --name "Tianjin city" --host 127.0.0.1 --host localhost "$RUN/city" \
	>/dev/null
issue() { # NAME CODE TITLE
	cl -C "$RUN/city" ca issue --office "$2" --name "$3" --host 127.0.0.1 --host localhost \
		--out "$RUN/cred-$1" >/dev/null
	cl init --office "$2" --name "$3" --credentials "$RUN/cred-$1" --trust "$RUN/city" \
		"$RUN/$1" >/dev/null
}
issue jinnan 120112 "Jinnan district civil affairs bureau"
issue fengda 120112001001 "Fengda Garden community"
issue xinyeli 120112001002 "Xinyeli community"
"$CL" -C "$RUN/city" ca list

step "Each office runs caseledgerd on loopback (mutual TLS 1.3, git smart HTTP)"
daemon() { # NAME [PARENT-NAME]
	{
		echo "[daemon]"
		echo "ledger = $RUN/$1"
		echo "cert = $RUN/$1/office.pem"
		echo "ca = $RUN/$1/ca.pem"
		echo "listen = 127.0.0.1:0"
		echo "sync_interval = 0"
		echo "pid_file = $RUN/$1.pid"
		if [ -n "${2:-}" ]; then
			eval "port=\$PORT_$2"
			echo "parent = https://127.0.0.1:$port/ledger"
			echo "parent_name = $2"
		fi
	} >"$RUN/$1.ini"
	: >"$RUN/$1.log"
	"$CLD" -c "$RUN/$1.ini" 2>>"$RUN/$1.log" &
	PIDS="$PIDS $!"
	i=0
	until grep -q 'ready (ledger' "$RUN/$1.log"; do
		i=$((i + 1))
		[ $i -lt 200 ] || die "caseledgerd $1 did not start: $(cat "$RUN/$1.log")"
		sleep 0.05
	done
	port=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$RUN/$1.log" | tail -1)
	eval "PORT_$1=$port"
	echo "caseledgerd $1: https://127.0.0.1:$port/ledger${2:+ (parent: $2)}"
}
daemon city
daemon jinnan city
daemon fengda jinnan
daemon xinyeli jinnan

step "Offline at Fengda Garden: Zhou Jiaxin registers Ms. Han and her application"
export CASELEDGER_OPERATOR="Zhou Jiaxin"
F="-C $RUN/fengda"
H=$(cl $F add household address="Fengda Garden 3-2-501" income=150000 housing=rented \
	grid_worker="Li Zhihuan" --reason "home visit")
P=$(cl $F add person name="Han Mei" id_number=11010519491231002X sex=female household="$H" \
	category=low-income)
C=$(cl $F add case subject="$P" household="$H" programme=minimum-living-guarantee \
	monthly_amount=120000 reason="daughter's transplant; mother left work to care")
cl $F amend "$C" status=applied applied_on=2026-11-29 --reason "application signed" >/dev/null

step "Offline at Xinyeli: a lockdown hotline call for medicine"
export CASELEDGER_OPERATOR="Li Zhihuan"
R=$(cl -C "$RUN/xinyeli" add request channel=hotline category=medicine urgency=high \
	requester_text="Ms. Cao, child in chemotherapy" location="Xinyeli 7-1" \
	--reason "courier cannot deliver")
cl -C "$RUN/xinyeli" amend "$R" status=assigned assignee="Li Zhihuan" --reason "on my way" \
	>/dev/null

step "The links come up: both communities sync (district, then city by push-through)"
cl $F sync --wait
cl -C "$RUN/xinyeli" sync --wait

step "The district reviews and approves the case on Fengda's branch"
export CASELEDGER_OPERATOR="Zhou Jiaxin (district)"
J="-C $RUN/jinnan"
cl $J amend "$C" status=reviewed --branch 120112001001 --reason "household checked" >/dev/null
cl $J amend "$C" status=approved decided_on=2026-11-30 decided_by=120112 \
	--branch 120112001001 --reason "meets the minimum-living-guarantee standard" >/dev/null

step "Meanwhile, offline, the name is corrected differently at Fengda and at the district"
cl $F amend "$P" name="Han Meimei" --reason "spelling on the ID card" >/dev/null
cl $J amend "$P" name="Han Mei-Li" --branch 120112001001 --reason "district register" \
	>/dev/null

step "Sync: the district first, then Fengda — record-by-record merge, one conflict"
cl $J sync --wait
cl $F sync --wait
cl $F conflicts
X=$("$CL" $F conflicts --json | sed -n 's/.*"id": "\(X-[^"]*\)".*/\1/p' | head -1)
[ -n "$X" ] || die "no conflict was recorded"
cl $F show "$C" | grep -E "^(case|status)"

step "The conflict replicated up to the city; a city admin resolves it there"
cl $J sync --wait >/dev/null
export CASELEDGER_OPERATOR="city admin"
cl -C "$RUN/city" conflicts --branch 120112001001
cl -C "$RUN/city" resolve "$X" --take theirs --reason "checked against the ID card"

step "The resolution flows back down: the district syncs, then Fengda"
cl $J sync --wait >/dev/null
cl $F sync --wait
cl $F show "$P" | grep -E "^(person|name)"
cl $F status

step "Every copy of every branch is the same; every signature checks out"
for b in 120112001001 120112001002 120112 trust; do
	t=$(git -C "$RUN/city" rev-parse "$b^{tree}")
	for o in jinnan fengda xinyeli; do
		h=$(git -C "$RUN/$o" rev-parse --verify -q "$b^{tree}" || true)
		[ -z "$h" ] || [ "$h" = "$t" ] || die "$o's copy of $b differs from the city's"
	done
	echo "branch $b: one tree everywhere it is held ($t)"
done
for o in city jinnan fengda xinyeli; do
	printf '%-8s ' "$o:"
	"$CL" -C "$RUN/$o" verify
done
"$CL" -C "$RUN/city" signers -o "$RUN/allowed_signers"
n=0
for c in $(git -C "$RUN/city" rev-list --branches); do
	TZ=UTC git -C "$RUN/city" -c gpg.format=ssh \
		-c gpg.ssh.allowedSignersFile="$RUN/allowed_signers" verify-commit "$c" 2>/dev/null ||
		die "git verify-commit refused $c"
	n=$((n + 1))
done
echo "stock git verify-commit: all $n commits at the city have a good signature"

step "An auditor's view of the case at the city"
"$CL" -C "$RUN/city" log "$C" --branch 120112001001 | grep -E "^commit|office|status:|reason"

step "Done. Ledgers, configs and daemon logs are in $RUN"
