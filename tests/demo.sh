#!/bin/sh
# The README's main command: a day in a community office on one machine.
# (Until replication lands this is the single-office demo: office work, its history,
# its signatures checked by stock git.) Leaves the ledger in ./demo-run for a look.
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
CL=${CASELEDGER:-$top/cli/caseledger}
RUN=${DEMO_DIR:-$top/demo-run}
export CASELEDGER_CONFIG=/dev/null
rm -rf "$RUN"
mkdir -p "$RUN"
L=$RUN/fengda-garden
export CASELEDGER_DIR="$L"

step() { printf '\n== %s\n' "$*"; }
run() { # echo the command (to stderr, so $(run …) captures only its output), run it
	{
		printf '$ caseledger'
		printf ' %s' "$@"
		printf '\n'
	} >&2
	"$CL" "$@"
}

step "Morning: the Fengda Garden community office opens its ledger"
run init --office 120112001001 --name "Fengda Garden community" "$L"

step "Zhou Jiaxin registers Ms. Han's household and family"
export CASELEDGER_OPERATOR="Zhou Jiaxin"
H=$(run add household address="Fengda Garden 3-2-501" phone=13800000000 income=150000 \
	housing=rented grid_worker="Li Zhihuan" --reason "home visit")
P=$(run add person name="Han Mei" id_number=11010519491231002X birth_date=1949-12-31 \
	sex=female household="$H" category=low-income)
D=$(run add person name="Han Xiao" id_type=passport id_number=E12345678 household="$H" \
	conditions="aplastic anaemia")
run amend "$H" head="$P" members+="$P" members+="$D" --reason "family recorded at the visit"

step "A minimum-living-guarantee case: drafted, applied for"
C=$(run add case subject="$P" household="$H" programme=minimum-living-guarantee \
	monthly_amount=120000 reason="daughter's transplant; mother left work to care")
run amend "$C" status=applied applied_on=2026-11-29 --reason "application signed by Ms. Han"
step "The community may not review its own application (that needs a street office)"
if run amend "$C" status=reviewed --reason "trying anyway"; then
	echo "demo: a community was allowed to review" >&2
	exit 1
fi

step "Lockdown: a hotline call for medicine, handled through its workflow"
export CASELEDGER_OPERATOR="Li Zhihuan"
R=$(run add request channel=hotline category=medicine requester="$P" urgency=high \
	location="Xinyeli community" --reason "courier cannot deliver")
for s in assigned in_progress resolved closed; do
	run amend "$R" status=$s assignee="Li Zhihuan" --reason "medicine run: $s" >/dev/null
done
run show "$R"

step "Afternoon: a hospital visit and a medical settlement (80% assistance)"
export CASELEDGER_OPERATOR="Zhou Jiaxin"
run add visit date=2026-11-29 worker="Zhou Jiaxin" subject="$P" kind=hospital \
	notes="free screening at Dade TCM hospital" >/dev/null
M=$(run add medical person="$D" hospital="Dade TCM hospital" total=1000000 insured=600000 \
	self_paid=400000 rate_percent=80 assisted=320000 green_channel=yes)
run show "$M"

step "An auditor reads the case's history: who changed what, when, why, signed?"
run log "$C"

step "Every signature checks out: caseledger verify, then stock git verify-commit"
run verify
"$CL" signers -o "$RUN/allowed_signers"
n=0
for c in $(git -C "$L" rev-list --all); do
	git -C "$L" -c gpg.format=ssh -c gpg.ssh.allowedSignersFile="$RUN/allowed_signers" \
		verify-commit "$c" 2>/dev/null
	n=$((n + 1))
done
echo "git verify-commit: $n of $n commits have a good signature"
echo "\$ git -C $L log --oneline | head -5"
git -C "$L" log --oneline | head -5

step "Done. The ledger is in $L (a plain git repository)."
