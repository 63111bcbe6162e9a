#!/bin/bash
# tests/proxy/test_auth_slow.sh - basic-auth's slow password hashes run off
# the worker's loop (offload.h): with one worker, a request whose password
# is being hashed (PBKDF2 at 2 million iterations: half a second here, seconds under ASan)
# does not hold up another connection's request; a wrong password is
# refused after its hash the same way; clients that hang up while their
# hash runs end their requests (499) and leave nothing behind (the ASan
# build stays clean); past the pool's queue a request gets 503; a stop
# while a hash runs is clean.
#
#   WEIR=build/asan/weir tests/proxy/test_auth_slow.sh    the same with the sanitizers
#
# The checks compare the order in which answers arrive, never durations: the
# routes answer by themselves (mock), so with the hash on the loop the slow
# request's answer would be written in the very turn its hash ended, before
# the other connection's request were even read.
set -u
cd "$(dirname "$0")/../.."
. tests/lib.sh
. tests/proxy/lib.sh

proxy_setup authslow
[ -n "${KEEP_TMP:-}" ] && trap stop_pids EXIT
proxy_ports 21000 21999 2
P_MAIN=$BASE P_A=$((BASE + 1))
start_upstream A $P_A

SLOW=$($PY -c '
import base64, hashlib, os
salt = os.urandom(16)
dk = hashlib.pbkdf2_hmac("sha256", b"slow-pw", salt, 2000000)
b = lambda x: base64.b64encode(x).decode().rstrip("=").replace("+", ".")
print("$pbkdf2-sha256$2000000$" + b(salt) + "$" + b(dk))')

cat >"$TMP/slow.yaml" <<EOF
workers: 1
listeners: [127.0.0.1:$P_MAIN]
access_log: {path: $TMP/access.log, format: json}
upstreams: {a: {nodes: [127.0.0.1:$P_A]}}
consumers:
  - username: sloth
    plugins: {basic-auth: {username: sloth, password_hash: '$SLOW'}}
routes:
  - {id: slow, path: /slow/*, plugins: {basic-auth: {cache_ttl: 0}, mock: {body: "slow ok"}}}
  - {id: cached, path: /cached/*, upstream: a, plugins: {basic-auth: {}}}
  - {id: plain, path: /plain/*, plugins: {mock: {body: "plain ok"}}}
EOF
start_weir weir -c "$TMP/slow.yaml"

# race PATH USER:PW: the slow request on one connection, then (0.2 s later,
# a head start that no check depends on) a plain one on another; prints
# the two answers' statuses in the order they arrived, "slow:S plain:P".
race() {
	$PY - "$P_MAIN" "$1" "$2" <<'PYEOF'
import base64, select, socket, sys, time
port, path, cred = int(sys.argv[1]), sys.argv[2], sys.argv[3]
auth = base64.b64encode(cred.encode()).decode()
a = socket.create_connection(("127.0.0.1", port), timeout=30)
a.sendall(("GET %s HTTP/1.1\r\nHost: x\r\nAuthorization: Basic %s\r\n"
           "Connection: close\r\n\r\n" % (path, auth)).encode())
time.sleep(0.2)
b = socket.create_connection(("127.0.0.1", port), timeout=30)
b.sendall(b"GET /plain/x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
names, data, order = {a: "slow", b: "plain"}, {a: b"", b: b""}, []
left = [a, b]
deadline = time.monotonic() + 30
while left and time.monotonic() < deadline:
    r, _, _ = select.select(left, [], [], 1)
    for s in r:
        d = s.recv(65536)
        if not d:
            left.remove(s)
            order.append("%s:%s" % (names[s], data[s].split(b" ")[1].decode()
                                    if data[s] else "closed"))
        data[s] += d
print(" ".join(order))
PYEOF
}

check_eq "a password being hashed does not hold up another connection (right password)" \
	"plain:200 slow:200" "$(race /slow/1 sloth:slow-pw)"
check_eq "... nor with a wrong password, refused after its hash" \
	"plain:200 slow:401" "$(race /slow/2 sloth:wrong-pw)"
check "... the 401 says why" bash -c \
	"curl -s -u sloth:nope http://127.0.0.1:$P_MAIN/slow/3 | grep -q 'invalid username or password'"
check_eq "an unknown user is refused without a hash, at once" 401 \
	"$(code -u nobody:x http://127.0.0.1:$P_MAIN/slow/4)"

# The verified-password cache stays: a second request with the same
# password is answered from it, so it does not wait behind a hash.
check_eq "cached route: the first request hashes and passes" 200 \
	"$(code -u sloth:slow-pw http://127.0.0.1:$P_MAIN/cached/1)"
check_eq "cached route: the second is served from the cache, before a plain request" \
	"slow:200 plain:200" "$(race /cached/2 sloth:slow-pw)"
check_eq "... and the consumer reaches the upstream" sloth \
	"$(C -u sloth:slow-pw http://127.0.0.1:$P_MAIN/cached/3 | jf h:x-consumer-username)"

# Clients that hang up while their hash runs: the request ends at once
# (499), the job that comes back later finds it gone.
$PY - "$P_MAIN" <<'PYEOF'
import base64, socket, sys, time
port = int(sys.argv[1])
auth = base64.b64encode(b"sloth:slow-pw").decode()
socks = []
for i in range(4):
    s = socket.create_connection(("127.0.0.1", port), timeout=30)
    s.sendall(("GET /slow/gone%d HTTP/1.1\r\nHost: x\r\nAuthorization: Basic %s\r\n\r\n"
               % (i, auth)).encode())
    socks.append(s)
time.sleep(0.3)
for s in socks:
    s.close()
PYEOF
gone_logged() { [ "$(grep -c '"uri":"/slow/gone[0-9]".*"status":499' "$TMP/access.log")" -eq 4 ]; }
check "clients gone mid-hash: their requests end, logged 499" wait_for 20 gone_logged
check_eq "... and the worker serves on" 200 "$(code http://127.0.0.1:$P_MAIN/plain/after)"
check_eq "... a slow request after them is still answered" 200 \
	"$(C -o /dev/null -w '%{http_code}' -u sloth:slow-pw http://127.0.0.1:$P_MAIN/slow/after)"

# More checks than the pool's queue holds (256 waiting, a few running):
# the ones past it are answered 503 at once, not hashed on the loop. 300
# requests go out in far less time than one hash takes, so at most a few
# of them finish meanwhile. Then every client leaves: the queued checks are
# skipped (cancelled), and the worker is free again.
$PY - "$P_MAIN" >"$TMP/flood.out" <<'PYEOF'
import base64, select, socket, sys, time
port = int(sys.argv[1])
auth = base64.b64encode(b"sloth:slow-pw").decode()
socks = []
for i in range(300):
    s = socket.create_connection(("127.0.0.1", port), timeout=30)
    s.sendall(("GET /slow/flood%d HTTP/1.1\r\nHost: x\r\nAuthorization: Basic %s\r\n\r\n"
               % (i, auth)).encode())
    socks.append(s)
busy, retry, deadline = 0, 0, time.monotonic() + 10
left = list(socks)
while left and time.monotonic() < deadline and busy < 20:
    r, _, _ = select.select(left, [], [], 0.5)
    for s in r:
        d = s.recv(65536)
        left.remove(s)
        if d.startswith(b"HTTP/1.1 503"):
            busy += 1
            retry += b"\r\nRetry-After: 1\r\n" in d and b"password checks queued" in d
for s in socks:
    s.close()
print(busy >= 20, busy == retry)
PYEOF
check_eq "past the queue's 256: 503 with Retry-After and a reason (at least 20 of 300)" \
	"True True" "$(cat "$TMP/flood.out")"
check_eq "... and once they are gone the worker serves at once" 200 \
	"$(code http://127.0.0.1:$P_MAIN/plain/after-flood)"
check_eq "... and checks passwords again" 200 \
	"$(C -o /dev/null -w '%{http_code}' -u sloth:slow-pw http://127.0.0.1:$P_MAIN/slow/after-flood)"

# A stop while hashes run: the jobs come back or are dropped, all freed.
CURLS=()
for i in 1 2 3; do
	curl -s -o /dev/null --max-time 20 -u sloth:slow-pw "http://127.0.0.1:$P_MAIN/slow/stop$i" &
	CURLS+=($!)
done
sleep 0.3
check_stopped "weir stops cleanly while hashes run" $WPID
wait "${CURLS[@]}"
check_sanitizers
finish
