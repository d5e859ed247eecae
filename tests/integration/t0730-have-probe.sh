#!/bin/sh
# upload-pack's ACK is no oracle: a community naming a commit of another community's
# branch as a `have` gets no ACK for it (only commits of branches it may read are
# acknowledged), while its own commits still are.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/synclib.sh"

city_ca 1201
issued c1 120112001001
issued c2 120112001002
for c in c1 c2; do
	CASELEDGER_DIR=$T/$c cl add person name="Resident $c" id_number=11010519491231002X >/dev/null
done
daemon_conf city
start city
for c in c1 c2; do
	cl -C "$T/$c" sync --parent "https://127.0.0.1:$PORT_city/ledger" --cert "$T/$c.pem" \
		--ca "$T/ca/ca.pem" >/dev/null 2>"$T/err" || fail "sync $c: $(cat "$T/err")"
done
theirs=$(head_of city 120112001002)
ours=$(head_of city 120112001001)
trust=$(head_of city trust)
[ "$theirs" != none ] && [ "$ours" != none ] || fail "the city lacks a branch"

# probe HAVE [DETAILED]: upload-pack's answer to c1 wanting trust and having HAVE
probe() {
	{
		w="want $trust${2:+ multi_ack_detailed}"
		printf '%04x%s\n0000' $((${#w} + 5)) "$w"
		printf '%04xhave %s\n' 50 "$1"
		printf '0009done\n'
	} >"$T/req"
	curl -s --max-time 60 --cacert "$T/ca/ca.pem" --cert "$T/c1.pem" --key "$T/c1/office.key" \
		-H 'Content-Type: application/x-git-upload-pack-request' --data-binary "@$T/req" \
		"https://127.0.0.1:$PORT_city/ledger/git-upload-pack" | head -c 200 | tr -d '\000' |
		grep -a -o '^0[0-9a-f]\{3\}\(ACK [0-9a-f]*\|NAK\)' | head -1 | cut -c5-
}

say "a have of another community's commit: NAK"
expect_eq "$(probe "$theirs")" NAK "the probe of c2's head"
expect_eq "$(probe "$theirs" detailed)" NAK "the probe of c2's head (multi_ack_detailed)"
say "a have of its own commit: ACK"
expect_eq "$(probe "$ours")" "ACK $ours" "c1's own head"
say "ok"
