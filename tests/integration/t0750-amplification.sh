#!/bin/sh
# Amplification: four gzip pushes of ~130 KB that inflate to 128 MiB each are refused
# without the daemon's memory following the inflated size (the inflate ratio is
# bounded), and a pack of more objects than max_objects is refused before any work.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/synclib.sh"

city_ca 1201
issued c1 120112001001
CASELEDGER_DIR=$T/c1 cl add person name="Resident" id_number=11010519491231002X >/dev/null
daemon_conf city max_objects=1000
start city
cl -C "$T/c1" sync --parent "https://127.0.0.1:$PORT_city/ledger" --cert "$T/c1.pem" \
	--ca "$T/ca/ca.pem" >/dev/null 2>"$T/err" || fail "sync: $(cat "$T/err")"
B=120112001001
head=$(head_of city $B)
cmd="$head $head refs/heads/$B"

# post FILE OUT [gzip]: a receive-pack request from c1; the reply in OUT
post() {
	curl -s --max-time 300 --cacert "$T/ca/ca.pem" --cert "$T/c1.pem" --key "$T/c1/office.key" \
		-H 'Content-Type: application/x-git-receive-pack-request' \
		${3:+-H 'Content-Encoding: gzip'} --data-binary "@$1" -w '\n%{http_code}\n' \
		"https://127.0.0.1:$PORT_city/ledger/git-receive-pack" | tr -d '\000' >"$2" || true
}

say "four gzip bombs at once: refused, the daemon's memory stays bounded"
{
	printf '%04x%s\000report-status\n' $((${#cmd} + 19)) "$cmd"
	printf '0000PACK\000\000\000\002\000\001\000\000'
	head -c 134217728 /dev/zero
} | gzip -9 >"$T/bomb.gz"
size=$(wc -c <"$T/bomb.gz")
[ "$size" -lt 300000 ] || fail "the bomb is $size bytes"
rss0=$(awk '/^VmHWM/ {print $2}' "/proc/$PID_city/status")
pids=""
for i in 1 2 3 4; do
	post "$T/bomb.gz" "$T/reply$i" gzip &
	pids="$pids $!"
done
for p in $pids; do wait "$p"; done
for i in 1 2 3 4; do
	grep -q "inflates past" "$T/reply$i" || fail "bomb $i: $(head -c 300 "$T/reply$i")"
	tail -1 "$T/reply$i" | grep -q 400 || fail "bomb $i: $(tail -1 "$T/reply$i")"
done
rss=$(awk '/^VmHWM/ {print $2}' "/proc/$PID_city/status")
say "peak RSS ${rss0} kB before, ${rss} kB after"
[ $((rss - rss0)) -lt 262144 ] || fail "the daemon grew by $((rss - rss0)) kB for four bombs"
expect_eq "$(head_of city $B)" "$head" "the branch after the bombs"

say "a pack of more objects than max_objects is refused before it is indexed"
mkdir "$T/many"
i=0
while [ $i -lt 1100 ]; do
	echo "blob $i" >"$T/many/$i"
	i=$((i + 1))
done
ls "$T/many" | sed "s|^|$T/many/|" | git -C "$T/c1" hash-object -w --stdin-paths >"$T/ids"
{
	printf '%04x%s\000report-status\n' $((${#cmd} + 19)) "$cmd"
	printf '0000'
	git -C "$T/c1" pack-objects --stdout -q <"$T/ids"
} >"$T/many.req"
post "$T/many.req" "$T/reply"
grep -q "pack of 1100 objects exceeds the 1000-object limit" "$T/reply" ||
	fail "1100 objects: $(head -c 300 "$T/reply")"
say "ok"
