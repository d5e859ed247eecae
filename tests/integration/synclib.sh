# Helpers for the replication tests (source after lib.sh): a test CA made with the
# openssl CLI, office certificates (CN = office code, SAN IP:127.0.0.1 and DNS:localhost),
# revocation, and caseledgerd instances on loopback ports chosen by the kernel.
: "${CASELEDGERD:=$top_builddir/daemon/caseledgerd}"
GIT_SSL_CAINFO=/nonexistent # set per test: the variable beats -c http.sslCAInfo
unset SSL_CERT_FILE SSL_CERT_DIR
# full malloc stacks, so the suppressions below match frames deep inside the libraries
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}fast_unwind_on_malloc=0"
export LSAN_OPTIONS="suppressions=$top_srcdir/tests/integration/lsan-libs.supp${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
export GIT_TERMINAL_PROMPT=0 GIT_CONFIG_NOSYSTEM=1 HOME="$T"

DAEMONS=""
CLEANUP_EXTRA='for p in $DAEMONS; do kill -TERM $p 2>/dev/null || true; done; for p in $DAEMONS; do wait $p 2>/dev/null || true; done'

# mkca DIR NAME: an Ed25519 CA in DIR (ca.key, ca.pem, an empty CRL crl.pem).
mkca() {
	mkdir -p "$1"
	openssl genpkey -algorithm ed25519 -out "$1/ca.key" 2>/dev/null
	openssl req -x509 -new -key "$1/ca.key" -subj "/CN=$2" -days 30 -out "$1/ca.pem" \
		-addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign \
		2>/dev/null
	: >"$1/index.txt"
	echo 01 >"$1/crlnumber"
	cat >"$1/ca.cnf" <<EOC
[ ca ]
default_ca = ca_default
[ ca_default ]
database = $1/index.txt
crlnumber = $1/crlnumber
certificate = $1/ca.pem
private_key = $1/ca.key
default_md = default
default_crl_days = 30
EOC
	openssl ca -config "$1/ca.cnf" -gencrl -out "$1/crl.pem" 2>/dev/null
}

# city_ca [CODE]: the city ledger $T/city with its CA, made by `caseledger ca init`; its
# certificate $T/city.pem; $T/ca holds the CA key and certificate (for mkcert and
# revoke, which stock openssl does) and a CRL. Offices come from `issued`.
city_ca() {
	cl ca init --office "${1:-1201}" --name City --host 127.0.0.1 --host localhost \
		"$T/city" >/dev/null
	cp "$T/city/office.pem" "$T/city.pem"
	mkdir -p "$T/ca"
	cp "$T/city/ca.key" "$T/city/ca.pem" "$T/ca/"
	: >"$T/ca/index.txt"
	echo 01 >"$T/ca/crlnumber"
	cat >"$T/ca/ca.cnf" <<EOC
[ ca ]
default_ca = ca_default
[ ca_default ]
database = $T/ca/index.txt
crlnumber = $T/ca/crlnumber
certificate = $T/ca/ca.pem
private_key = $T/ca/ca.key
default_md = default
default_crl_days = 30
EOC
	openssl ca -config "$T/ca/ca.cnf" -gencrl -out "$T/ca/crl.pem" 2>/dev/null
}

# issued NAME CODE: the city issues a certificate to office CODE (ca issue), and the
# office's ledger $T/NAME is made from it and the city's trust branch (init
# --credentials --trust); its certificate is also $T/NAME.pem.
issued() {
	cl -C "$T/city" ca issue --office "$2" --name "$1" --host 127.0.0.1 --host localhost \
		--out "$T/cred-$1" >/dev/null
	cl init --office "$2" --credentials "$T/cred-$1" --trust "$T/city" "$T/$1" >/dev/null
	cp "$T/cred-$1/office.pem" "$T/$1.pem"
}

# mkcert CADIR KEY CN OUT: a certificate for KEY (PEM private key) naming office CN.
mkcert() {
	printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth,clientAuth\n' >"$T/ext.cnf"
	openssl req -new -key "$2" -subj "/CN=$3" -out "$T/csr.pem" 2>/dev/null
	openssl x509 -req -in "$T/csr.pem" -CA "$1/ca.pem" -CAkey "$1/ca.key" -CAcreateserial \
		-days 30 -extfile "$T/ext.cnf" -out "$4" 2>/dev/null
}

# revoke CADIR CERT: revoke CERT and rewrite CADIR/crl.pem.
revoke() {
	openssl ca -config "$1/ca.cnf" -revoke "$2" 2>/dev/null
	openssl ca -config "$1/ca.cnf" -gencrl -out "$1/crl.pem" 2>/dev/null
}

# mkkey FILE: a fresh Ed25519 key, mode 0600.
mkkey() {
	openssl genpkey -algorithm ed25519 -out "$1" 2>/dev/null
	chmod 600 "$1"
}

# office NAME CODE: a ledger $T/NAME for office CODE with certificate $T/NAME.pem.
office() {
	cl init --office "$2" --name "$1" "$T/$1" >/dev/null
	mkcert "$T/ca" "$T/$1/office.key" "$2" "$T/$1.pem"
}

# daemon_conf NAME [KEY=VALUE…]: write $T/NAME.ini for office NAME.
daemon_conf() {
	n=$1
	shift
	{
		echo "[ledger]"
		echo "dir = $T/$n"
		echo "[daemon]"
		echo "ledger = $T/$n"
		echo "cert = $T/$n.pem"
		echo "ca = $T/ca/ca.pem"
		echo "crl = $T/ca/crl.pem"
		echo "listen = 127.0.0.1:0"
		echo "pid_file = $T/$n.pid"
		echo "sync_interval = 0"
		echo "log_level = debug"
		echo "timeout = 30" # idle seconds: generous, a loaded machine is slow to answer
		for kv in "$@"; do
			echo "${kv%%=*} = ${kv#*=}"
		done
	} >"$T/$n.ini"
}

# start NAME: run caseledgerd for $T/NAME.ini; sets PORT_<NAME> and PID_<NAME>.
start() {
	: >"$T/$1.log"
	"$CASELEDGERD" -c "$T/$1.ini" 2>>"$T/$1.log" &
	pid=$!
	DAEMONS="$DAEMONS $pid"
	i=0
	while ! grep -q 'ready (ledger' "$T/$1.log"; do
		i=$((i + 1))
		[ $i -lt 200 ] || fail "caseledgerd $1 did not start: $(cat "$T/$1.log")"
		kill -0 $pid 2>/dev/null || fail "caseledgerd $1 died: $(cat "$T/$1.log")"
		sleep 0.05
	done
	port=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$T/$1.log" | tail -1)
	eval "PORT_$1=$port PID_$1=$pid"
}

# stop NAME: SIGTERM, and wait for a clean exit.
stop() {
	eval "pid=\$PID_$1"
	kill -TERM "$pid"
	set +e
	wait "$pid"
	rc=$?
	set -e
	[ "$rc" -eq 0 ] || fail "caseledgerd $1 exited $rc on SIGTERM: $(tail -5 "$T/$1.log")"
}

# sgit KEY CERT git-args…: stock git over https with a client certificate.
sgit() {
	k=$1
	c=$2
	shift 2
	GIT_SSL_CAINFO="$T/ca/ca.pem" git -c http.sslCert="$c" -c http.sslKey="$k" \
		-c http.sslCAInfo="$T/ca/ca.pem" -c protocol.version=2 "$@"
}

# head_of OFFICE BRANCH: the head of BRANCH in $T/OFFICE, or "none".
head_of() { git -C "$T/$1" rev-parse --verify -q "refs/heads/$2" || echo none; }

# wait_eq CMD WANT WHAT: poll (up to 15 s) until CMD prints WANT; push-through and
# other daemon work is asynchronous.
wait_eq() {
	i=0
	while [ "$(eval "$1" 2>/dev/null)" != "$2" ]; do
		i=$((i + 1))
		[ $i -lt 300 ] || fail "$3: got '$(eval "$1" 2>&1)', wanted '$2'"
		sleep 0.05
	done
}
