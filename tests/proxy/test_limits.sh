#!/bin/bash
# tests/proxy/test_limits.sh - access control and rate limits end to end:
# ip-restriction, limit-count, limit-req and limit-conn in the real weir,
# between curl and tests/proxy/upstream.py, on loopback (127.0.0.2 and
# 127.0.0.3 are other clients: curl --interface).
#
#   WEIR=build/asan/weir tests/proxy/test_limits.sh    the same with the sanitizers
#
# Limits are set so that timing cannot decide a check: windows of an hour,
# rates of one request per 100 s; "in flight" is held by upstream requests
# that sleep until released by a file... or for a bounded time, polled.
set -u
cd "$(dirname "$0")/../.."
. tests/lib.sh
. tests/proxy/lib.sh

proxy_setup limits
proxy_ports 22000 22999 6
P_MAIN=$BASE P_A=$((BASE + 1)) P_BAD=$((BASE + 2))

start_upstream A $P_A
U=http://127.0.0.1:$P_MAIN

routes() { # the routes, with limit-count's count as $1
	cat <<EOF
workers: 2
listeners: [127.0.0.1:$P_MAIN]
upstreams:
  a: {nodes: [127.0.0.1:$P_A], timeouts: {read: 30s}}
  dead: {nodes: [127.0.0.1:$P_BAD], health: {max_fails: 0}, retries: 0}
routes:
  - {id: allow, path: /allow/*, upstream: a,
     plugins: {ip-restriction: {allowlist: [127.0.0.1, "::1/128", 10.0.0.0/8]}}}
  - {id: deny, path: /deny/*, upstream: a,
     plugins: {ip-restriction: {blacklist: [127.0.0.2/32, "2001:db8::/32"], message: go away}}}
  - {id: count, path: /count/*, upstream: a,
     plugins: {limit-count: {count: $1, time_window: 1h}}}
  - {id: sliding, path: /sliding/*, upstream: a,
     plugins: {limit-count: {count: 3, time_window: 1h, policy: sliding, rejected_code: 503}}}
  - {id: req, path: /req/*, upstream: a,
     plugins: {limit-req: {rate: 0.01, burst: 2, nodelay: true}}}
  - {id: conn, path: /slow-head*, upstream: a,
     plugins: {limit-conn: {conn: 2, key_type: route}}}
  - {id: hdr, path: /hdr/*, upstream: a,
     plugins: {limit-count: {count: 2, time_window: 1h, key_type: "header:X-Api-Key",
                             missing_key: 401}}}
  - {id: conn-dead, path: /dead/*, upstream: dead,
     plugins: {limit-conn: {conn: 1}}}
  - {id: cc, path: /cc/*, upstream: a,
     plugins: {limit-conn: {conn: 1}, limit-count: {count: 1, time_window: 1h}}}
  - {id: both, path: /both/*, upstream: a,
     plugins: {ip-restriction: {denylist: [127.0.0.3]},
               limit-count: {count: 100, time_window: 1h}}}
EOF
}
routes 5 >"$TMP/main.yaml"
start_weir main -c "$TMP/main.yaml"

# ---- ip-restriction ---------------------------------------------------------
check_eq "ip-restriction: a listed source passes the allowlist" 200 "$(code $U/allow/x)"
check_eq "ip-restriction: an unlisted source (127.0.0.2) gets 403" 403 \
	"$(code --interface 127.0.0.2 $U/allow/y)"
check "ip-restriction: the 403 has its short body" bash -c \
	"curl -s --interface 127.0.0.2 $U/allow/y | grep -q '^403 Forbidden: your address is not allowed'"
check_eq "ip-restriction: the refused request never reached the upstream" 0 "$(seen A /allow/y)"
check_eq "ip-restriction: a denylisted source gets 403" 403 "$(code --interface 127.0.0.2 $U/deny/x)"
check "ip-restriction: with the configured message" bash -c \
	"curl -s --interface 127.0.0.2 $U/deny/x | grep -q 'go away'"
check_eq "ip-restriction: another source passes the denylist" 200 \
	"$(code --interface 127.0.0.3 $U/deny/x)"

# ---- limit-count ------------------------------------------------------------
H="$TMP/h"
for i in 1 2 3 4 5; do
	code -D "$H.$i" $U/count/n$i >"$TMP/c.$i"
	echo >>"$TMP/c.$i"
done
check_eq "limit-count: the first 5 of 5 per hour pass" "200 200 200 200 200" \
	"$(cat "$TMP"/c.[1-5] | tr '\n' ' ' | sed 's/ $//')"
check "limit-count: RateLimit-Limit on admitted responses" grep -qi '^RateLimit-Limit: 5' "$H.1"
check "limit-count: RateLimit-Remaining counts down (4 after the first)" \
	grep -qi '^RateLimit-Remaining: 4' "$H.1"
check "limit-count: RateLimit-Remaining is 0 after the fifth" grep -qi '^RateLimit-Remaining: 0' "$H.5"
check "limit-count: RateLimit-Reset within the hour" \
	bash -c "grep -i '^RateLimit-Reset:' '$H.1' | tr -d '\r' | awk '{exit !(\$2 > 0 && \$2 <= 3600)}'"
check_eq "limit-count: the sixth gets 429" 429 "$(code -D "$H.6" $U/count/n6)"
check "limit-count: the 429 has Retry-After" grep -qi '^Retry-After: [1-9]' "$H.6"
check "limit-count: the 429 has RateLimit-Remaining: 0" grep -qi '^RateLimit-Remaining: 0' "$H.6"
check "limit-count: the 429 has RateLimit-Limit" grep -qi '^RateLimit-Limit: 5' "$H.6"
check_eq "limit-count: the upstream saw exactly 5" 5 "$(seen A /count/n)"
check_eq "limit-count: another client (127.0.0.2) has its own count" 200 \
	"$(code --interface 127.0.0.2 $U/count/other)"
check_eq "limit-count: keepalive survives a 429 (two answers on one connection)" "429 429 " \
	"$(C -w '%{http_code} ' -o /dev/null $U/count/k1 -o /dev/null $U/count/k2)"
check_eq "limit-count sliding: 3 pass, then the configured 503" "200 200 200 503" \
	"$(for i in 1 2 3 4; do code $U/sliding/s$i; echo; done | tr '\n' ' ' | sed 's/ $//')"

# ---- limit-req --------------------------------------------------------------
check_eq "limit-req: burst 2 admits 3 at once, then 429" "200 200 200 429" \
	"$(for i in 1 2 3 4; do code $U/req/r$i; echo; done | tr '\n' ' ' | sed 's/ $//')"
check "limit-req: the 429 has Retry-After (about 100 s at 0.01/s)" bash -c \
	"curl -s -D - -o /dev/null $U/req/r5 | grep -qiE '^Retry-After: (9[0-9]|1[0-9][0-9])'"
check_eq "limit-req: the upstream saw exactly 3" 3 "$(seen A /req/r)"

# ---- limit-conn -------------------------------------------------------------
# two slow requests in flight (10 s each), the third is refused at once
C -o /dev/null "$U/slow-head?ms=8000&n=1" & S1=$!
C -o /dev/null "$U/slow-head?ms=8000&n=2" & S2=$!
both_in() { [ "$(seen A 'slow-head?ms=8000')" -ge 2 ]; }
check "limit-conn: two slow requests reach the upstream" wait_for 10 both_in
check_eq "limit-conn: a third in flight gets 429" 429 "$(code "$U/slow-head?ms=1&n=3")"
wait $S1 $S2
check_eq "limit-conn: after they finish, a new one passes" 200 "$(code "$U/slow-head?ms=1&n=4")"
# A client that gives up mid-request gives its place back when weir sees it
# gone: at the latest when the upstream answers (3 s later) and the answer
# has nowhere to go. Before that, the places are still held.
curl -s -o /dev/null --max-time 1 "$U/slow-head?ms=3000&n=5"
curl -s -o /dev/null --max-time 1 "$U/slow-head?ms=3000&n=6"
two_pass() {
	C -o /dev/null -w '%{http_code}' "$U/slow-head?ms=300&n=7" >"$TMP/tp1.code" &
	C -o /dev/null -w '%{http_code}' "$U/slow-head?ms=300&n=8" >"$TMP/tp2.code"
	wait $!
	[ "$(cat "$TMP/tp1.code") $(cat "$TMP/tp2.code")" = "200 200" ]
}
check "limit-conn: places of clients that gave up are given back" wait_for 10 two_pass
# Both workers at once, and wrk's connections cut mid-request when it stops:
# afterwards every place is back.
wrk -t2 -c24 -d2s "$U/slow-head?ms=20" >"$TMP/wrk.out" 2>&1
check "limit-conn under load: wrk ran, some refused" grep -q 'Non-2xx or 3xx responses' "$TMP/wrk.out"
check "limit-conn under load: every place is given back" wait_for 10 two_pass
check_eq "limit-conn: an upstream failure answers 502" 502 "$(code $U/dead/1)"
check_eq "limit-conn: ... and gives its place back (conn 1)" 502 "$(code $U/dead/2)"
check_eq "limit-conn + limit-count: the first passes both" 200 "$(code $U/cc/1)"
for i in 2 3 4; do
	check "limit-conn + limit-count: request $i is refused by limit-count, so limit-conn gave its place back" \
		bash -c "curl -s -D - -o /dev/null $U/cc/$i | grep -qi '^RateLimit-Limit: 1'"
done
check_eq "ip-restriction runs before limits: a denied source is refused" 403 \
	"$(code --interface 127.0.0.3 $U/both/x)"

# ---- key by header ----------------------------------------------------------
codes() { # N CURL-ARGS... URL-PREFIX: N requests, their codes on one line
	local n=$1 i out=""; shift
	local u=${!#}
	for i in $(seq "$n"); do out+="$(code "${@:1:$#-1}" "$u$i") "; done
	echo "${out% }"
}
check_eq "header key: client k1 gets its 2" "200 200 429" "$(codes 3 -H 'X-Api-Key: k1' $U/hdr/a)"
check_eq "header key: client k2 is counted apart" "200 200 429" "$(codes 3 -H 'x-api-key: k2' $U/hdr/b)"
check_eq "header key: no header gets missing_key's 401" 401 "$(code $U/hdr/c)"

# ---- reloads ----------------------------------------------------------------
nreloads() { [ "$(grep -c 'weir: reloaded' "$TMP/main.err")" -ge "$1" ]; }
kill -HUP $WPID
check "SIGHUP with the same settings reloads" wait_for 10 nreloads 1
check_eq "limit-count: the count survives the reload (still 429)" 429 "$(code $U/count/after-reload)"
check_eq "limit-req: the bucket survives the reload (still 429)" 429 "$(code $U/req/after-reload)"
check_eq "header key: k1 is still limited after the reload" 429 "$(code -H 'X-Api-Key: k1' $U/hdr/a4)"

sed -i 's/limit-req: {rate: 0.01, burst: 2, nodelay: true}/limit-req: {rate: 0.01, burst: -2}/' "$TMP/main.yaml"
kill -HUP $WPID
check "a bad plugin setting on SIGHUP is refused" wait_for 10 grep -q 'reload failed' "$TMP/main.err"
check "... with FILE:LINE: FIELD: REASON" \
	grep -q 'reload failed, configuration unchanged: .*main.yaml:[0-9]*: routes\[4\].plugins.limit-req: burst: expected a whole number' "$TMP/main.err"
check_eq "... the old limits still hold" 429 "$(code $U/count/after-bad)"
check_eq "... and the old routes still serve" 200 "$(code $U/allow/after-bad)"

routes 7 >"$TMP/main.yaml"
kill -HUP $WPID
check "SIGHUP with a changed count reloads" wait_for 10 nreloads 2
check_eq "limit-count: a changed setting starts a fresh count" 200 "$(code $U/count/fresh)"
check "limit-count: ... with the new limit" bash -c \
	"curl -s -D - -o /dev/null $U/count/fresh2 | grep -qi '^RateLimit-Limit: 7'"
check_eq "limit-req: its unchanged settings keep its state" 429 "$(code $U/req/after-change)"

# ---- limit-req delays within the burst, without holding the worker -------------
BCKEY=$(printf '0123456789abcdef0123456789abcdef' | base64)
# One worker: the delayed request and the one that must not wait for it
# share the loop. rate 0.2/s, burst 1: the second request waits 5 s.
cat >"$TMP/delay.yaml" <<EOF
workers: 1
access_log: {path: $TMP/delay.log, format: json}
listeners: [127.0.0.1:$P_BAD]
timeouts: {client_body: 1s}
upstreams: {a: {nodes: [127.0.0.1:$P_A]}}
routes:
  - {id: d, path: /d/*, upstream: a, plugins: {limit-req: {rate: 0.2, burst: 1}}}
  - {id: d2, path: /d2/*, upstream: a, plugins: {limit-req: {rate: 0.5, burst: 1}}}
  - {id: d3, path: /d3/*, upstream: a,
     plugins: {limit-req: {rate: 0.5, burst: 1},
               body-crypto: {keys: {k1: "$BCKEY"}, encrypt_responses: false}}}
  - {id: free, path: /*, upstream: a}
EOF
MAIN_PID=$WPID
start_weir delay -c "$TMP/delay.yaml"
D=http://127.0.0.1:$P_BAD
check_eq "limit-req delay: the first passes at once" 200 "$(code $D/d/1)"
START=$(date +%s%N)
C -o /dev/null -w '%{http_code}' $D/d/2 >"$TMP/d2.code" & DPID=$!
sleep 0.3	# a head start; the checks below do not depend on it
check_eq "limit-req delay: meanwhile the worker serves another route" 200 "$(code $D/free/x)"
check "limit-req delay: ... while the delayed one still waits" kill -0 $DPID
check_eq "limit-req delay: the delayed one has not reached the upstream yet" 0 "$(seen A /d/2)"
check_eq "limit-req delay: a third overflows the burst: 429" 429 "$(code $D/d/3)"
wait $DPID
ELAPSED_MS=$(( ($(date +%s%N) - START) / 1000000 ))
check_eq "limit-req delay: the delayed one is served" 200 "$(cat "$TMP/d2.code")"
check_ge "limit-req delay: ... after about 5 s (ms)" 4500 $ELAPSED_MS
check_eq "limit-req delay: the upstream saw it" 1 "$(seen A /d/2)"
# A client that leaves while delayed: the request ends at once (the access
# log has it), without going upstream.
curl -s -o /dev/null --max-time 1 $D/d/4
check "limit-req delay: a request whose client left ends (logged 499)" wait_for 15 \
	grep -q '"uri":"/d/4".*"status":499' "$TMP/delay.log"
check_eq "limit-req delay: ... without reaching the upstream" 0 "$(seen A /d/4)"
# What the client sends while its request is delayed does not move the
# request on: B (2 s behind A at 0.5/s) gets its body 0.3 s into its wait,
# and a pipelined C behind it. A client timer armed by those bytes (1 s for
# a body here) would end B with a 408 before its delay is over; on a route
# that holds bodies (body-crypto, /d3), reading that body would send B
# upstream at once. delayed_body PREFIX [KEY]: prints the statuses of A, B
# and C, the ms from A's answer to B's, and the body length the upstream
# saw for B; with KEY (base64), B's body is sealed for body-crypto (k1).
delayed_body() {
	$PY - $P_BAD "$@" <<'PYEOF'
import base64, json, os, socket, sys, time
port, prefix = int(sys.argv[1]), sys.argv[2]
body, extra = b"abcd", b""
if len(sys.argv) > 3:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    nonce = os.urandom(12)
    body = nonce + AESGCM(base64.b64decode(sys.argv[3])).encrypt(nonce, body, None)
    extra = b"X-Enc-Key-Id: k1\r\n"
last = b""
s = socket.create_connection(("127.0.0.1", port), timeout=30)
buf = b""
def answer():
    global buf, last
    while b"\r\n\r\n" not in buf:
        d = s.recv(65536)
        if not d:
            return "closed"
        buf += d
    head, buf = buf.split(b"\r\n\r\n", 1)
    n = 0
    for line in head.split(b"\r\n")[1:]:
        k, _, v = line.partition(b":")
        if k.strip().lower() == b"content-length":
            n = int(v)
    while len(buf) < n:
        d = s.recv(65536)
        if not d:
            break
        buf += d
    last, buf = buf[:n], buf[n:]
    return head.split(b" ")[1].decode()
s.sendall(b"GET %s/a HTTP/1.1\r\nHost: x\r\n\r\n" % prefix.encode())
a = answer()
ta = time.monotonic()
s.sendall(b"POST %s/b HTTP/1.1\r\nHost: x\r\n%sContent-Length: %d\r\n\r\n"
          % (prefix.encode(), extra, len(body)))
time.sleep(0.3)
s.sendall(body + b"GET %s/c HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" % prefix.encode())
b = answer()
tb = time.monotonic()
blen = json.loads(last).get("body_len", -1) if b == "200" else -1
c = answer()
print(a, b, c, int((tb - ta) * 1000), blen)
PYEOF
}
for PFX in /d2 /d3; do
	if [ $PFX = /d3 ]; then delayed_body $PFX "$BCKEY"; else delayed_body $PFX; fi >"$TMP/dl.out"
	read -r DA DB DC DMS DLEN <"$TMP/dl.out"
	WHAT="limit-req delay + client bytes ($PFX$([ $PFX = /d3 ] && echo ', body held'))"
	check_eq "$WHAT: A, then B and the pipelined C all served" "200 200 200" "$DA $DB $DC"
	check_ge "$WHAT: B answered no sooner than its delay (ms, 2000 at 0.5/s)" 1500 "${DMS:-0}"
	check_eq "$WHAT: B went upstream with its 4-byte body" 4 "${DLEN:--}"
	check_eq "$WHAT: ... once" 1 "$(seen_target A $PFX/b)"
	check "$WHAT: B reached the upstream before C" bash -c \
		"grep -o '\"target\": \"$PFX/[bc]\"' '$TMP/A.log' | tr '\n' ' ' | grep -q 'b.*c'"
done
kill $WPID; wait $WPID 2>/dev/null
check "limit-req delay: weir stops cleanly" grep -q 'weir: stopped' "$TMP/delay.err"
WPID=$MAIN_PID

# ---- ban without the XDP layer ----------------------------------------------
cat >"$TMP/ban.yaml" <<EOF
listeners: [127.0.0.1:$P_BAD]
upstreams: {a: {nodes: [127.0.0.1:$P_A]}}
ban: {threshold: 2, window: 1m, ttl: 10m, pin_dir: $TMP/no-such-pins}
routes:
  - {id: c, path: /*, upstream: a, plugins: {limit-count: {count: 1, time_window: 1h}}}
EOF
start_weir ban -c "$TMP/ban.yaml"
for i in 1 2 3 4; do code http://127.0.0.1:$P_BAD/b$i >/dev/null; done
check "ban: without pinned maps it says so once" wait_for 10 \
	grep -q "ban: no XDP maps under $TMP/no-such-pins" "$TMP/ban.err"
check_eq "ban: ... once" 1 "$(grep -c 'ban: no XDP maps' "$TMP/ban.err")"
check_eq "ban: ... and bans nothing" 0 "$(grep -c 'ban: blocked' "$TMP/ban.err")"
kill $WPID; wait $WPID 2>/dev/null
check "ban: weir stops cleanly with the writer running" grep -q 'weir: stopped' "$TMP/ban.err"

# ---- config errors ----------------------------------------------------------
bad() { # DESC PLUGINS EXPECTED
	cat >"$TMP/bad.yaml" <<EOF
listeners: [127.0.0.1:$P_BAD]
upstreams: {a: {nodes: [127.0.0.1:$P_A]}}
routes:
  - {id: r, path: /*, upstream: a, plugins: {$2}}
EOF
	"$WEIR" --check "$TMP/bad.yaml" >"$TMP/bad.out" 2>&1
	local rc=$?
	if [ $rc -ne 0 ] && grep -qF -- "$3" "$TMP/bad.out"; then ok "config error: $1"
	else fail "config error: $1 (rc $rc: $(cat "$TMP/bad.out"))"; fi
}
bad "ip-restriction without a list" "ip-restriction: {message: x}" \
	"bad.yaml:4: routes[0].plugins.ip-restriction: allowlist or denylist: required"
bad "ip-restriction with both lists" "ip-restriction: {allowlist: [1.2.3.4], denylist: [5.6.7.8]}" \
	"routes[0].plugins.ip-restriction: denylist: give one list (allowlist is given)"
bad "ip-restriction with a bad CIDR" "ip-restriction: {allowlist: [10.0.0.1/33]}" \
	"routes[0].plugins.ip-restriction: allowlist[0]: '10.0.0.1/33': prefix length must be 0..32"
bad "ip-restriction with host bits set" "ip-restriction: {denylist: [10.0.0.1/8]}" \
	"routes[0].plugins.ip-restriction: denylist[0]:"
bad "ip-restriction with an empty list" "ip-restriction: {allowlist: []}" \
	"routes[0].plugins.ip-restriction: allowlist: expected a non-empty list"
bad "limit-count without count" "limit-count: {time_window: 60}" \
	"routes[0].plugins.limit-count: count: required"
bad "limit-count with a bad window" "limit-count: {count: 1, time_window: forever}" \
	"routes[0].plugins.limit-count: time_window: expected a duration"
bad "limit-count with a bad policy" "limit-count: {count: 1, time_window: 1, policy: redis}" \
	"routes[0].plugins.limit-count: policy: expected fixed or sliding"
bad "limit-count with a bad key_type" "limit-count: {count: 1, time_window: 1, key_type: cookie}" \
	"routes[0].plugins.limit-count: key_type: expected remote_addr, consumer, route or header:NAME"
bad "limit-count with a bad missing_key" "limit-count: {count: 1, time_window: 1, missing_key: deny}" \
	"routes[0].plugins.limit-count: missing_key: expected"
bad "limit-req with a zero rate" "limit-req: {rate: 0}" \
	"routes[0].plugins.limit-req: rate: expected a number"
bad "limit-req with a bad nodelay" "limit-req: {rate: 1, burst: 5, nodelay: 'yes'}" \
	"routes[0].plugins.limit-req: nodelay: expected true or false"
bad "limit-conn with a bad rejected_code" "limit-conn: {conn: 1, rejected_code: 99}" \
	"routes[0].plugins.limit-conn: rejected_code: expected a whole number from 200 to 599"
bad "limit-conn with an unknown field" "limit-conn: {conn: 1, burst: 1}" \
	"routes[0].plugins.limit-conn: burst: unknown field"
badban() { # DESC BAN EXPECTED
	cat >"$TMP/bad.yaml" <<EOF
listeners: [127.0.0.1:$P_BAD]
upstreams: {a: {nodes: [127.0.0.1:$P_A]}}
ban: $2
routes: [{id: r, path: /*, upstream: a}]
EOF
	"$WEIR" --check "$TMP/bad.yaml" >"$TMP/bad.out" 2>&1
	local rc=$?
	if [ $rc -ne 0 ] && grep -qF -- "$3" "$TMP/bad.out"; then ok "config error: $1"
	else fail "config error: $1 (rc $rc: $(cat "$TMP/bad.out"))"; fi
}
badban "ban threshold 0" "{threshold: 0}" "bad.yaml:3: ban.threshold"
badban "ban on an unknown kind" "{on: [auth, spam]}" "ban.on[1]: 'spam': expected auth or limit"
badban "ban with a relative pin_dir" "{pin_dir: weir}" "ban.pin_dir: expected an absolute path"
badban "ban with an unknown key" "{treshold: 3}" "ban.treshold: unknown field"

kill $MAIN_PID
wait $MAIN_PID 2>/dev/null
check "weir stops cleanly after the reloads" grep -q 'weir: stopped' "$TMP/main.err"
check_sanitizers "$TMP/main.err" "$TMP/ban.err" "$TMP/delay.err"
finish
