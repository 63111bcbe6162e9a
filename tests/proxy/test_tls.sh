#!/bin/bash
# tests/proxy/test_tls.sh - TLS end to end: the real weir terminating TLS
# for curl, openssl s_client and python's ssl, and originating TLS towards
# upstream.py --tls, all on 127.0.0.1.
#
#   WEIR=build/asan/weir tests/proxy/test_tls.sh    the same with the sanitizers
#
# Every key and certificate is made here with `openssl`, in the test's temp
# dir: a CA and a second, unrelated one; server certificates for a.test,
# b.test, *.w.test and a default one; client certificates from each CA; one
# for the TLS upstream (up.test and IP 127.0.0.1). What a client saw (the
# certificate's subject, the protocol, ALPN, "Reused") is read from s_client's
# own report; what reached an upstream from its log. No check depends on
# timing: the one timeout under test is 1 s and waited for up to 10.
set -u
cd "$(dirname "$0")/../.."
. tests/lib.sh

WEIR=${WEIR:-build/weir}
TMP=$(mktemp -d /tmp/weir-tls.XXXXXX)
PY=$(python3 -c 'import sys; print(sys.executable)')
UP=tests/proxy/upstream.py
CL=tests/proxy/client.py
cleanup_at_exit "$TMP"

# Eight ports in a row, somewhere in 20000-20999, none of them in use.
in_use() { (exec 3<>/dev/tcp/127.0.0.1/$1) 2>/dev/null; }
for try in $(seq 0 30); do
	BASE=$((20000 + (($$ + try * 37) % 120) * 8))
	free=1
	for p in $(seq $BASE $((BASE + 7))); do in_use $p && free=0 && break; done
	[ $free = 1 ] && break
done
[ $free = 1 ] || die "no eight free ports in 20000-20999"
P_TLS=$BASE P_MTLS=$((BASE + 1)) P_PLAIN=$((BASE + 2)) P_SWAP=$((BASE + 3))
P_U=$((BASE + 4)) P_UT=$((BASE + 5)) P_OPT=$((BASE + 6))

# ---- keys and certificates ------------------------------------------------
cd "$TMP"
tls_ca ca "weir test CA"
tls_ca ca2 "another CA"
tls_cert default default.test "DNS:default.test" ca
tls_cert a a.test "DNS:a.test" ca
tls_cert b b.test "DNS:b.test,DNS:bee.test" ca
tls_cert w "wildcard" "DNS:*.w.test" ca
tls_cert old old.test "DNS:swap.test" ca
tls_cert new new.test "DNS:swap.test" ca
tls_cert alice alice "" ca
tls_cert mallory mallory "" ca2
tls_cert up up.test "DNS:up.test,IP:127.0.0.1" ca
cp old.pem swap.pem && cp old.key swap.key
cd - >/dev/null
[ -s "$TMP/up.pem" ] && [ -s "$TMP/alice.pem" ] || die "openssl did not make the certificates"

# ---- upstreams --------------------------------------------------------------
start_upstream() { # NAME PORT [ARGS]
	local n=$1 p=$2; shift 2
	$PY $UP --port "$p" --name "$n" --log "$TMP/$n.log" --ready "$TMP/$n.ready" "$@" \
		2>"$TMP/$n.err" &
	PIDS+=($!)
	wait_for 10 test -s "$TMP/$n.ready" || die "upstream $n did not start: $(cat "$TMP/$n.err")"
}
start_upstream U $P_U
start_upstream UT $P_UT --tls "$TMP/up.pem" "$TMP/up.key"
seen() { grep '"ev": "req"' "$TMP/$1.log" | grep -cF -- "$2"; }
conns() { grep -c '"ev": "conn"' "$TMP/$1.log"; }

# ---- weir ---------------------------------------------------------------------
write_conf() { # SWAP_CERT SWAP_KEY
	cat >"$TMP/weir.yaml" <<EOF
workers: 2
timeouts: {client_header: 30s, keepalive: 60s}
listeners:
  - listen: 127.0.0.1:$P_TLS
    tls:
      certificates:
        - {cert: $TMP/default.pem, key: $TMP/default.key}
        - {cert: $TMP/a.pem, key: $TMP/a.key}
        - {cert: $TMP/b.pem, key: $TMP/b.key}
        - {cert: $TMP/w.pem, key: $TMP/w.key}
      handshake_timeout: 1s
  - listen: 127.0.0.1:$P_MTLS
    tls:
      certificates: [{cert: $TMP/default.pem, key: $TMP/default.key}]
      client_ca: $TMP/ca.pem
      verify_client: require
      client_id_header: X-Client-Id
  - 127.0.0.1:$P_PLAIN
  - listen: 127.0.0.1:$P_OPT
    tls:
      certificates: [{cert: $TMP/default.pem, key: $TMP/default.key}]
      client_ca: $TMP/ca.pem
      verify_client: optional
      client_id_header: X-Client-Id
  - listen: 127.0.0.1:$P_SWAP
    tls:
      certificates: [{cert: $1, key: $2}]
upstreams:
  u: {nodes: [127.0.0.1:$P_U]}
  ut:
    nodes: [127.0.0.1:$P_UT]
    tls: {ca: $TMP/ca.pem, sni: up.test}
  ut_ip:
    nodes: [127.0.0.1:$P_UT]
    tls: {ca: $TMP/ca.pem}
  ut_wrong_ca:
    nodes: [127.0.0.1:$P_UT]
    tls: {ca: $TMP/ca2.pem, sni: up.test}
  ut_wrong_name:
    nodes: [127.0.0.1:$P_UT]
    tls: {ca: $TMP/ca.pem, sni: other.test}
  ut_noverify:
    nodes: [127.0.0.1:$P_UT]
    tls: {verify: false}
  ut_nopool:
    nodes: [127.0.0.1:$P_UT]
    keepalive: {size: 0}
    tls: {ca: $TMP/ca.pem, sni: up.test, verify: true}
routes:
  - {id: default, path: /*, upstream: u}
  - {id: ut, path: /ut/*, upstream: ut, rewrite: {strip_prefix: /ut}}
  - {id: ut-ip, path: /ut-ip/*, upstream: ut_ip, rewrite: {strip_prefix: /ut-ip}}
  - {id: ut-ca, path: /ut-ca/*, upstream: ut_wrong_ca, rewrite: {strip_prefix: /ut-ca}}
  - {id: ut-name, path: /ut-name/*, upstream: ut_wrong_name, rewrite: {strip_prefix: /ut-name}}
  - {id: ut-nov, path: /ut-nov/*, upstream: ut_noverify, rewrite: {strip_prefix: /ut-nov}}
  - {id: ut-np, path: /ut-np/*, upstream: ut_nopool, rewrite: {strip_prefix: /ut-np}}
  - id: cached
    path: /cache/*
    upstream: u
    plugins:
      proxy-cache: {max_object_size: 2m}
EOF
}
write_conf "$TMP/swap.pem" "$TMP/swap.key"
"$WEIR" -c "$TMP/weir.yaml" 2>"$TMP/weir.err" &
WPID=$!
PIDS+=($WPID)
wait_for 10 grep -q 'workers,' "$TMP/weir.err" || die "weir did not start: $(cat "$TMP/weir.err")"

C() { curl -s --max-time 20 --cacert "$TMP/ca.pem" "$@"; }
code() { C -o /dev/null -w '%{http_code}' "$@"; }
# sc ARGS...: openssl s_client to the TLS listener (or -connect), its report
# on stdout; it sends nothing and ends at once.
sc() { timeout 20 openssl s_client -connect 127.0.0.1:$P_TLS -CAfile "$TMP/ca.pem" "$@" </dev/null 2>&1; }
subject() { sc "$@" | sed -n 's/^subject=.*CN *= *\([^,/]*\).*/\1/p' | head -1; }

# ---- termination --------------------------------------------------------------
check_eq "TLS 1.2: curl gets 200 through" 200 \
	"$(code --tlsv1.2 --tls-max 1.2 --resolve a.test:$P_TLS:127.0.0.1 https://a.test:$P_TLS/echo?v=12)"
check_eq "TLS 1.3: curl gets 200 through" 200 \
	"$(code --tlsv1.3 --resolve a.test:$P_TLS:127.0.0.1 https://a.test:$P_TLS/echo?v=13)"
check_eq "the upstream is told the client came over https" 2 "$(seen U '"x-forwarded-proto", "https"')"

# A cached answer larger than a connection's buffer is written from the
# store, not from c->out: it must go through TLS too.
T="/cache/big?cc=max-age=60&n=1048576"
for i in 1 2; do
	C -D "$TMP/cache$i.h" -o "$TMP/cache$i.b" --resolve a.test:$P_TLS:127.0.0.1 \
		"https://a.test:$P_TLS$T"
done
check_eq "a 1 MiB cached response over TLS: MISS then HIT" "MISS HIT" \
	"$(tr -d '\r' <"$TMP/cache1.h" | sed -n 's/^x-cache-status: //Ip') $(tr -d '\r' <"$TMP/cache2.h" | sed -n 's/^x-cache-status: //Ip')"
check_eq "... the hit's body intact through TLS" \
	"$(tr -d '\r' <"$TMP/cache1.h" | sed -n 's/^x-body-sha256: //Ip')" \
	"$(sha256sum "$TMP/cache2.b" | cut -d' ' -f1)"
check "TLS 1.2 negotiated when asked" bash -c "$(declare -f sc); P_TLS=$P_TLS TMP=$TMP sc -tls1_2 | grep -q 'Protocol *: TLSv1.2'"
check "TLS 1.3 negotiated by default" bash -c "$(declare -f sc); P_TLS=$P_TLS TMP=$TMP sc | grep -q 'TLSv1.3'"
check_eq "SNI a.test: a.test's certificate" a.test "$(subject -servername a.test)"
check_eq "SNI b.test: b.test's certificate" b.test "$(subject -servername b.test)"
check_eq "SNI bee.test (b's second SAN): b.test's certificate" b.test "$(subject -servername bee.test)"
check_eq "SNI x.w.test: the wildcard certificate" wildcard "$(subject -servername x.w.test)"
check_eq "SNI Y.W.TEST: names match without case" wildcard "$(subject -servername Y.W.TEST)"
check_eq "SNI a.x.w.test: a wildcard covers one label only, so the default" default.test \
	"$(subject -servername a.x.w.test)"
check_eq "SNI w.test: a wildcard does not cover its own base, so the default" default.test \
	"$(subject -servername w.test)"
check_eq "SNI unknown.test: the default certificate" default.test "$(subject -servername unknown.test)"
check_eq "no SNI: the default certificate" default.test "$(subject -noservername)"
check "curl verifies the SNI-chosen certificate (b.test)" \
	test "$(code --resolve b.test:$P_TLS:127.0.0.1 https://b.test:$P_TLS/echo)" = 200
check "TLS 1.1 is refused" bash -c "! timeout 20 openssl s_client -connect 127.0.0.1:$P_TLS \
	-tls1_1 -cipher DEFAULT@SECLEVEL=0 </dev/null >$TMP/t11.out 2>&1"
check "... with a protocol version alert, not a client-side refusal" \
	grep -q 'alert protocol version' "$TMP/t11.out"
check "TLS 1.0 is refused" bash -c "! timeout 20 openssl s_client -connect 127.0.0.1:$P_TLS \
	-tls1 -cipher DEFAULT@SECLEVEL=0 </dev/null >/dev/null 2>&1"
check "TLS 1.2 without forward secrecy (RSA key exchange) is refused" bash -c \
	"! timeout 20 openssl s_client -connect 127.0.0.1:$P_TLS -tls1_2 -cipher AES128-SHA </dev/null >/dev/null 2>&1"
check "ALPN: http/1.1 negotiated" bash -c "$(declare -f sc); P_TLS=$P_TLS TMP=$TMP \
	sc -alpn h2,http/1.1 | grep -q 'ALPN protocol: http/1.1'"
check "ALPN: an offer without http/1.1 is not refused (no ALPN)" bash -c "$(declare -f sc); \
	P_TLS=$P_TLS TMP=$TMP sc -alpn h2 | grep -q 'No ALPN negotiated'"
check "no ALPN offered: the handshake goes through" bash -c "$(declare -f sc); \
	P_TLS=$P_TLS TMP=$TMP sc | grep -q 'Verify return code: 0'"

# resumption: the second connection resumes the first one's session. The
# first one makes a request and reads to the end, so that TLS 1.3 tickets
# (sent after the handshake) have surely been read when it saves the session.
sc_get() {
	printf 'GET /echo HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n' |
		timeout 20 openssl s_client -connect 127.0.0.1:$P_TLS -CAfile "$TMP/ca.pem" -ign_eof "$@" 2>&1
}
resumed() { # ARGS...
	rm -f "$TMP/sess"
	sc_get -servername a.test -sess_out "$TMP/sess" "$@" >/dev/null
	[ -s "$TMP/sess" ] && sc -servername a.test -sess_in "$TMP/sess" "$@" | grep -q '^Reused'
}
check "resumption: TLS 1.3 ticket" resumed -tls1_3
check "resumption: TLS 1.2 ticket" resumed -tls1_2
check "resumption: TLS 1.2 session id from the server cache (no ticket)" resumed -tls1_2 -no_ticket
fresh_ten() { # ARGS...: ten resumptions of one session, over both workers
	local i n=0
	rm -f "$TMP/sess"
	sc_get -servername a.test -sess_out "$TMP/sess" "$@" >/dev/null
	for i in $(seq 10); do
		sc -servername a.test -sess_in "$TMP/sess" "$@" | grep -q '^Reused' && n=$((n + 1))
	done
	[ $n = 10 ]
}
check "resumption from the shared cache, ten connections in a row" fresh_ten -tls1_2 -no_ticket

# a plaintext request on the TLS port, a client that never says anything
check_eq "plain HTTP on the TLS port: closed without an answer" closed-without-answer \
	"$($PY $CL send $P_TLS 'GET / HTTP/1.1\r\nHost: a\r\n\r\n' 10 2>&1 | tail -1)"
check_eq "a client that connects and sends nothing is not closed at once" open \
	"$($PY $CL hold $P_TLS 0.3)"
check_eq "... but after handshake_timeout (1s)" closed "$($PY $CL hold $P_TLS 10)"

# client.py's raw cases over TLS: pipelining, a WebSocket tunnel
TC() { WEIR_TLS_CA=$TMP/ca.pem WEIR_TLS_SNI=a.test $PY $CL "$@"; }
check_eq "pipelining over TLS: six requests in one write, six answers in order" \
	"200:/echo?i=1:0 200:/echo?i=2:5 200:/echo?i=3:3 204:None 200:777 200:/echo?i=6:0 closed" \
	"$(TC pipeline $P_TLS 2>&1)"
check_eq "pipelining behind a 300 kB body over TLS" "300000 sha-ok /echo?i=2 closed" \
	"$(TC big-pipeline $P_TLS 0 2>&1)"
check_eq "a WebSocket tunnel over TLS: handshake, three echoes, close" \
	"101 accept-ok ok ok ok close closed" "$(TC ws $P_TLS 2>&1)"
check_eq "... with the first frame in the handshake's record" \
	"101 accept-ok ok ok ok close closed" "$(TC ws $P_TLS 1 2>&1)"

# keepalive and a large body through TLS both ways
check_eq "keepalive: five requests on one TLS connection, one connection upstream" \
	"200200200200200" "$(C -o /dev/null -o /dev/null -o /dev/null -o /dev/null -o /dev/null \
	-w '%{http_code}' --resolve a.test:$P_TLS:127.0.0.1 https://a.test:$P_TLS/echo?k=1 \
	https://a.test:$P_TLS/echo?k=2 https://a.test:$P_TLS/echo?k=3 https://a.test:$P_TLS/echo?k=4 \
	https://a.test:$P_TLS/echo?k=5)"
head -c $((3 * 1024 * 1024)) /dev/urandom >"$TMP/body.bin"
want=$(sha256sum <"$TMP/body.bin" | cut -d' ' -f1)
got=$(C --resolve a.test:$P_TLS:127.0.0.1 --data-binary @"$TMP/body.bin" \
	https://a.test:$P_TLS/echo | $PY -c 'import json,sys; print(json.load(sys.stdin)["body_sha256"])')
check_eq "a 3 MB request body arrives whole through TLS" "$want" "$got"
got=$(C --resolve a.test:$P_TLS:127.0.0.1 -D "$TMP/big.h" https://a.test:$P_TLS/big?n=5000000 | sha256sum | cut -d' ' -f1)
check_eq "a 5 MB response body arrives whole through TLS" \
	"$(grep -i x-body-sha256 "$TMP/big.h" | tr -d '\r' | cut -d' ' -f2)" "$got"

# ---- client certificates -----------------------------------------------------
M="https://default.test:$P_MTLS"
RM=(--resolve default.test:$P_MTLS:127.0.0.1)
check_eq "control: the mTLS listener's certificate verifies (no client certificate: 000)" 000 \
	"$(code "${RM[@]}" "$M/echo?who=none")"
check "... curl's reason is the server's alert, not our certificate" bash -c \
	"curl -sS --max-time 20 --cacert $TMP/ca.pem ${RM[*]} $M/echo 2>&1 | grep -qi 'alert\|certificate required'"
check_eq "... and the upstream never saw it" 0 "$(seen U 'who=none')"
check_eq "mTLS: a certificate from the CA is served" 200 \
	"$(code "${RM[@]}" --cert "$TMP/alice.pem" --key "$TMP/alice.key" "$M/echo?who=alice")"
check_eq "... and the upstream gets its identity in the configured header" 1 \
	"$(grep 'who=alice' "$TMP/U.log" | grep -cF '["x-client-id", "alice"]')"
C "${RM[@]}" --cert "$TMP/alice.pem" --key "$TMP/alice.key" -H 'X-Client-Id: root' "$M/echo?who=spoof" >/dev/null
check_eq "... a client's own X-Client-Id never reaches the upstream" \
	'[["x-client-id", "alice"]]' \
	"$(grep 'who=spoof' "$TMP/U.log" | $PY -c 'import json,sys; j=json.loads(sys.stdin.readline()); print(json.dumps([h for h in j["headers"] if h[0]=="x-client-id"]))')"
check "mTLS: a certificate from another CA is refused" \
	bash -c "! curl -s --max-time 20 --cacert $TMP/ca.pem ${RM[*]} --cert $TMP/mallory.pem --key $TMP/mallory.key $M/echo?who=mallory -o /dev/null"
check_eq "... and the upstream never saw it" 0 "$(seen U 'who=mallory')"
check_eq "without client certificates, no identity header goes upstream" 0 \
	"$(grep 'v=13' "$TMP/U.log" | grep -c 'x-client-id')"

O="https://default.test:$P_OPT"
RO=(--resolve default.test:$P_OPT:127.0.0.1)
check_eq "mTLS optional: no certificate is served" 200 "$(code "${RO[@]}" "$O/echo?who=opt-none")"
check_eq "... without an identity header (the client's own is dropped)" 0 \
	"$(C "${RO[@]}" -H 'X-Client-Id: root' "$O/echo?who=opt-none2" >/dev/null;
	   grep 'who=opt-none2' "$TMP/U.log" | grep -c 'x-client-id')"
check_eq "mTLS optional: a certificate from the CA gives its identity" 1 \
	"$(C "${RO[@]}" --cert "$TMP/alice.pem" --key "$TMP/alice.key" "$O/echo?who=opt-alice" >/dev/null;
	   grep 'who=opt-alice' "$TMP/U.log" | grep -cF '["x-client-id", "alice"]')"
check "mTLS optional: a certificate from another CA is refused" \
	bash -c "! curl -s --max-time 20 --cacert $TMP/ca.pem ${RO[*]} --cert $TMP/mallory.pem --key $TMP/mallory.key $O/echo?who=opt-mallory -o /dev/null"

# ---- TLS to upstreams ------------------------------------------------------------
P="http://127.0.0.1:$P_PLAIN"
before=$(conns UT)
check_eq "upstream TLS, verified by CA and SNI name: 200" "200200200" \
	"$(curl -s --max-time 20 -o /dev/null -o /dev/null -o /dev/null -w '%{http_code}' \
	$P/ut/echo?t=1 $P/ut/echo?t=2 $P/ut/echo?t=3)"
check_eq "... three requests of one client, one TLS connection to the upstream (pooled)" 1 \
	"$(($(conns UT) - before))"
check_eq "... the upstream saw them" 3 "$(seen UT '"/echo?t=')"
check_eq "upstream TLS verified by IP address (no sni): 200" 200 "$(code $P/ut-ip/echo)"
got=$(curl -s --max-time 20 -D "$TMP/ut-big.h" "$P/ut/big?n=3000000" | sha256sum | cut -d' ' -f1)
check_eq "upstream TLS: a 3 MB response arrives whole" \
	"$(grep -i x-body-sha256 "$TMP/ut-big.h" | tr -d '\r' | cut -d' ' -f2)" "$got"
got=$(curl -s --max-time 20 "$P/ut/eof-body?n=100000" | wc -c)
check_eq "upstream TLS: a body that ends when the upstream closes (no close_notify)" 100000 "$got"
want=$(sha256sum <"$TMP/body.bin" | cut -d' ' -f1)
got=$(curl -s --max-time 20 --data-binary @"$TMP/body.bin" $P/ut/echo |
	$PY -c 'import json,sys; print(json.load(sys.stdin)["body_sha256"])')
check_eq "upstream TLS: a 3 MB request body arrives whole" "$want" "$got"
check_eq "upstream TLS with the wrong CA: 502" 502 "$(code $P/ut-ca/echo?t=ca)"
check "... which says why" bash -c "curl -s $P/ut-ca/echo | grep -q 'TLS handshake failed'"
check_eq "... and no request reached the upstream" 0 "$(seen UT 't=ca')"
check_eq "upstream TLS, a name the certificate does not have: 502" 502 "$(code $P/ut-name/echo?t=nm)"
check_eq "upstream TLS with verify: false: 200" 200 "$(code $P/ut-nov/echo)"
reused() { grep -c '"ev": "tls", "reused": true' "$TMP/UT.log"; }
r0=$(reused)
check_eq "upstream TLS without a pool: four requests of one client, four connections" \
	"200200200200" "$(curl -s --max-time 20 -o /dev/null -o /dev/null -o /dev/null -o /dev/null \
	-w '%{http_code}' $P/ut-np/echo?np=1 $P/ut-np/echo?np=2 $P/ut-np/echo?np=3 $P/ut-np/echo?np=4)"
check_ge "... the later ones resume the TLS session the node gave the first" 3 $(($(reused) - r0))

# ---- certificates change on SIGHUP ------------------------------------------------
S() { timeout 20 openssl s_client -connect 127.0.0.1:$P_SWAP -servername swap.test </dev/null 2>&1 |
	sed -n 's/^subject=.*CN *= *\([^,/]*\).*/\1/p' | head -1; }
check_eq "before the reload: the old certificate" old.test "$(S)"
# A connection made before the reload, used again after it.
$PY - "$P_SWAP" "$TMP/ca.pem" >"$TMP/held.out" 2>&1 <<'EOF' &
import socket, ssl, sys, time
ctx = ssl.create_default_context(cafile=sys.argv[2])
s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", int(sys.argv[1]))), server_hostname="swap.test")
def get(i):
    s.sendall(b"GET /echo?held=%d HTTP/1.1\r\nHost: swap.test\r\n\r\n" % i)
    data = b""
    while b"\r\n\r\n" not in data:
        data += s.recv(65536)
    head, body = data.split(b"\r\n\r\n", 1)
    n = int([l for l in head.split(b"\r\n") if l.lower().startswith(b"content-length:")][0][15:])
    while len(body) < n:
        body += s.recv(65536)
    return head.split(b" ")[1].decode()
print(get(1), flush=True)
for _ in range(200):
    if open(sys.argv[2] + ".go").read() if __import__("os").path.exists(sys.argv[2] + ".go") else "":
        break
    time.sleep(0.05)
print(get(2), s.getpeercert()["subject"][0][0][1], flush=True)
EOF
HELD=$!
PIDS+=($HELD)
wait_for 10 grep -q 200 "$TMP/held.out"
cp "$TMP/new.pem" "$TMP/swap.pem" && cp "$TMP/new.key" "$TMP/swap.key"
kill -HUP $WPID
wait_for 10 grep -q 'reloaded' "$TMP/weir.err"
check_eq "after SIGHUP: new connections get the new certificate" new.test "$(S)"
echo go >"$TMP/ca.pem.go"
wait "$HELD"
check_eq "a connection from before the reload goes on, on its old certificate" "200 old.test" \
	"$(tail -1 "$TMP/held.out")"
write_conf "$TMP/swap.pem" "$TMP/a.key"
kill -HUP $WPID
wait_for 10 grep -q 'reload failed' "$TMP/weir.err"
check "a key that does not match: the reload fails naming the field" \
	grep -q "weir.yaml:[0-9]*: listeners\[4\].tls.certificates\[0\].key: .* does not match the certificate" "$TMP/weir.err"
check_eq "... and the running certificate stays" new.test "$(S)"
check_fails "--check: a key that does not match its certificate" \
	"listeners\[4\]\.tls\.certificates\[0\]\.key: .*does not match" \
	"$WEIR" --check "$TMP/weir.yaml"
write_conf "$TMP/missing.pem" "$TMP/a.key"
kill -HUP $WPID
wait_for 10 test "$(grep -c 'reload failed' "$TMP/weir.err")" -ge 2
check "a missing certificate file: the reload fails naming the field and the reason" \
	grep -q "listeners\[4\].tls.certificates\[0\].cert: '$TMP/missing.pem': No such file or directory" "$TMP/weir.err"
check_eq "... and the running certificate stays" new.test "$(S)"

kill -TERM $WPID
wait $WPID
check_eq "weir stops cleanly (no leak under ASan)" 0 $?
grep -q 'ERROR: \(Address\|Leak\)Sanitizer\|runtime error' "$TMP/weir.err" &&
	fail "sanitizer report: $(grep -m3 'SUMMARY\|runtime error' "$TMP/weir.err")"
finish
