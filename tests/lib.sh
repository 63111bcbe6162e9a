# tests/lib.sh - shared helpers of weir's shell tests. Each check prints one
# TAP-style line, "ok - ..." or "not ok - ...", that tests/run.sh counts.

WEIRCTL=${WEIRCTL:-build/weirctl}
FAILED=0

ok() { echo "ok - $*"; }
fail() { echo "not ok - $*"; FAILED=$((FAILED + 1)); }

# check DESC CMD...: passes when CMD exits 0.
check() {
	local desc=$1; shift
	if "$@" >/tmp/weir-check.$$.out 2>&1; then ok "$desc"; else
		fail "$desc"; sed 's/^/#   /' /tmp/weir-check.$$.out | head -20; fi
}

# check_fails DESC PATTERN CMD...: passes when CMD exits non-zero with one
# line on stderr matching PATTERN (an extended regex).
check_fails() {
	local desc=$1 pat=$2; shift 2
	local rc=0
	"$@" >/tmp/weir-check.$$.out 2>/tmp/weir-check.$$.err || rc=$?
	local lines
	lines=$(grep -cv '^usage:\|^  weirctl\|^      ' /tmp/weir-check.$$.err)
	if [ "$rc" -ne 0 ] && [ "$lines" -eq 1 ] && grep -Eq -- "$pat" /tmp/weir-check.$$.err; then
		ok "$desc"
	else
		fail "$desc (exit $rc)"; sed 's/^/#   /' /tmp/weir-check.$$.err | head -10
	fi
}

# check_eq DESC EXPECTED ACTUAL
check_eq() {
	if [ "$2" = "$3" ]; then ok "$1"; else fail "$1: expected '$2', got '$3'"; fi
}

# check_ge DESC MIN ACTUAL
check_ge() {
	if [ "$3" -ge "$2" ] 2>/dev/null; then ok "$1"; else fail "$1: expected >= $2, got '$3'"; fi
}

# die MSG: a failure after which the rest of the test would mean nothing.
die() { echo "not ok - $*"; exit 1; }

# wait_for SECONDS CMD...: polls CMD every 50 ms until it succeeds.
wait_for() {
	local end=$((SECONDS + $1)); shift
	until "$@" 2>/dev/null; do
		[ $SECONDS -ge "$end" ] && return 1
		sleep 0.05
	done
}

# port_in_use PORT: something listens on 127.0.0.1:PORT.
port_in_use() { (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null; }

# free_ports LO HI N: sets BASE to the first of N ports in a row inside
# [LO, HI], none in use, tried at pseudo-random places so that tests running
# at once rarely pick the same; returns 1 when it finds none.
free_ports() {
	local lo=$1 hi=$2 n=$3 try p ok slots=$((($2 - $1 + 1) / $3))
	for try in $(seq 0 30); do
		BASE=$((lo + (($$ + try * 37) % slots) * n))
		ok=1
		for p in $(seq "$BASE" $((BASE + n - 1))); do port_in_use "$p" && ok=0 && break; done
		[ $ok = 1 ] && return 0
	done
	return 1
}

# The background processes a test starts, for stop_pids: PIDS+=($!).
PIDS=()

# stop_pids: for a test's EXIT trap; kills the processes in PIDS and reaps
# them. SIGCONT first: a test may have left one stopped.
stop_pids() {
	local p
	for p in "${PIDS[@]}"; do kill -CONT "$p" 2>/dev/null; kill "$p" 2>/dev/null; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
}

# cleanup_at_exit PATH...: at exit, passed, failed or interrupted, stop_pids
# and remove the PATHs and check's files. For a test with nothing else to
# undo; one with more calls stop_pids from its own EXIT trap.
cleanup_at_exit() {
	CLEANUP_PATHS=("$@" /tmp/weir-check.$$.out /tmp/weir-check.$$.err)
	trap 'stop_pids; rm -rf "${CLEANUP_PATHS[@]}"' EXIT
	trap "exit 1" INT TERM
}

# veth_ns NS GW "ADDR/LEN..." PEER "ADDR/LEN...": a network namespace NS with
# its loopback up, joined to this one by a veth pair: GW here and PEER in NS,
# each up with its addresses (IPv6 ones without DAD, usable at once).
# veth_ns_del NS GW undoes it.
veth_ns() {
	local ns=$1 gw=$2 peer=$4
	ip netns add "$ns"
	ip -n "$ns" link set lo up
	ip link add "$gw" type veth peer name "$peer" netns "$ns"
	link_up "" "$gw" $3
	link_up "$ns" "$peer" $5
}
veth_ns_del() { ip link del "$2" 2>/dev/null; ip netns del "$1" 2>/dev/null; }

# link_up NS DEV ADDR/LEN...: DEV in network namespace NS ("" for this one)
# gets the addresses and is set up.
link_up() {
	local ns=$1 dev=$2 a; shift 2
	for a; do
		case $a in
		*:*) ip ${ns:+-n "$ns"} -6 addr add "$a" dev "$dev" nodad ;;
		*) ip ${ns:+-n "$ns"} addr add "$a" dev "$dev" ;;
		esac
	done
	ip ${ns:+-n "$ns"} link set "$dev" up
}

finish() { rm -f /tmp/weir-check.$$.out /tmp/weir-check.$$.err; exit $(( FAILED > 0 )); }

# Keys and certificates made with openssl, in $TMP: tls_ca NAME CN makes a CA
# ($TMP/NAME.key, $TMP/NAME.pem); tls_cert NAME CN SAN CA a certificate
# signed by CA, with the subjectAltName SAN ("DNS:a.test,IP:127.0.0.1"; ""
# for none). EC P-256 keys, 30 days.
tls_key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$TMP/$1.key" 2>/dev/null; }
tls_ca() {
	tls_key "$1"
	openssl req -x509 -new -key "$TMP/$1.key" -out "$TMP/$1.pem" -days 30 -subj "/CN=$2" \
		-addext basicConstraints=critical,CA:TRUE -addext keyUsage=keyCertSign 2>/dev/null
}
tls_cert() {
	tls_key "$1"
	openssl req -new -key "$TMP/$1.key" -out "$TMP/$1.csr" -subj "/CN=$2" 2>/dev/null
	printf '%s\n' "${3:+subjectAltName=$3}" "basicConstraints=CA:FALSE" >"$TMP/$1.ext"
	openssl x509 -req -in "$TMP/$1.csr" -CA "$TMP/$4.pem" -CAkey "$TMP/$4.key" -CAcreateserial \
		-out "$TMP/$1.pem" -days 30 -extfile "$TMP/$1.ext" 2>/dev/null
}
