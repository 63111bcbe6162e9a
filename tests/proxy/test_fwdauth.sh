#!/bin/bash
# tests/proxy/test_fwdauth.sh - the forward-auth plugin end to end: curl
# through the real weir to tests/proxy/upstream.py, with
# tests/proxy/authsvc.py as the auth service, on 127.0.0.1.
#
#   WEIR=build/asan/weir tests/proxy/test_fwdauth.sh    the same with the sanitizers
#
# A good token passes and the upstream sees the service's X-User-Id; a bad
# one gets the service's 401, WWW-Authenticate and body, and the upstream
# sees nothing. Cached verdicts do not reach the service (its log does not
# grow); one kept connection carries several calls (one worker, so one
# pool). The service refusing connections, hanging and failing with 500:
# 503 (on_failure: deny), let through (allow), or the stale verdict within
# stale_ttl. Clients that hang up while their call is pending cost nothing
# and leak nothing (sanitizer build); a call longer than the client's body
# timeout, and across a reload, completes. Then config errors.
set -u
cd "$(dirname "$0")/../.."
. tests/lib.sh

WEIR=${WEIR:-build/weir}
TMP=$(mktemp -d /tmp/weir-fwdauth.XXXXXX)
PY=$(python3 -c 'import sys; print(sys.executable)')
cleanup_at_exit "$TMP"

free_ports 28000 28999 5 || die "no five free ports in 28000-28999"
P_MAIN=$BASE P_A=$((BASE + 1)) P_AUTH=$((BASE + 2)) P_DOWN=$((BASE + 3)) P_TWO=$((BASE + 4))

$PY tests/proxy/upstream.py --port $P_A --name A --log "$TMP/A.log" --ready "$TMP/A.ready" \
	2>"$TMP/A.err" &
PIDS+=($!)
$PY tests/proxy/authsvc.py --port $P_AUTH --log "$TMP/auth.log" --ready "$TMP/auth.ready" \
	--hang-if "$TMP/hang" --fail-if "$TMP/fail" 2>"$TMP/auth.err" &
PIDS+=($!)
wait_for 10 test -s "$TMP/A.ready" || die "upstream did not start: $(cat "$TMP/A.err")"
wait_for 10 test -s "$TMP/auth.ready" || die "auth service did not start: $(cat "$TMP/auth.err")"

AUTH=http://127.0.0.1:$P_AUTH/verify
FA="request_headers: [authorization], upstream_headers: [X-User-Id],
                  client_headers: [www-authenticate], timeout: 1s"
cat >"$TMP/fa.yaml" <<EOF
workers: 1
timeouts: {client_body: 1s}
access_log: {path: $TMP/access.log, format: json}
listeners: [127.0.0.1:$P_MAIN]
upstreams:
  a: {nodes: [127.0.0.1:$P_A]}
routes:
  - {id: nc, path: /nc/*, upstream: a,
     plugins: {forward-auth: {uri: "$AUTH", $FA, keepalive: 4}}}
  - {id: c, path: /c/*, upstream: a,
     plugins: {forward-auth: {uri: "$AUTH", $FA, cache: {ttl: 30s, key: [authorization]}}}}
  - {id: s, path: /s/*, upstream: a,
     plugins: {forward-auth: {uri: "$AUTH", $FA, cache: {ttl: 1s, key: [authorization]},
                              stale_ttl: 10m}}}
  - {id: down, path: /down/*, upstream: a,
     plugins: {forward-auth: {uri: "http://127.0.0.1:$P_DOWN/verify", $FA}}}
  - {id: downallow, path: /downallow/*, upstream: a,
     plugins: {forward-auth: {uri: "http://127.0.0.1:$P_DOWN/verify", $FA, on_failure: allow}}}
  - {id: allow, path: /allow/*, upstream: a,
     plugins: {forward-auth: {uri: "$AUTH", $FA, on_failure: allow}}}
  - {id: long, path: /long/*, upstream: a,
     plugins: {forward-auth: {uri: "$AUTH", request_method: POST, timeout: 20s,
                              request_headers: [authorization]}}}
EOF
check "weir --check accepts the config" "$WEIR" --check "$TMP/fa.yaml"
"$WEIR" -c "$TMP/fa.yaml" 2>"$TMP/weir.err" &
WPID=$!
PIDS+=($WPID)
wait_for 10 grep -q 'listening on' "$TMP/weir.err" || die "weir did not start: $(cat "$TMP/weir.err")"

URL=http://127.0.0.1:$P_MAIN
C() { curl -s --max-time 30 "$@"; }
code() { C -o /dev/null -w '%{http_code}' "$@"; }
ups() { grep -c '"ev": "req"' "$TMP/A.log"; }
asks() { grep -c '"ev": "req"' "$TMP/auth.log"; }
conns() { grep -c '"ev": "conn"' "$TMP/auth.log"; }
# last_up FIELD: a header of the last request the upstream saw ("-": none).
last_up() {
	grep '"ev": "req"' "$TMP/A.log" | tail -1 | $PY -c '
import json, sys
j = json.loads(sys.stdin.read())
print(" | ".join(v for k, v in j["headers"] if k.lower() == sys.argv[1]) or "-")' "$1"
}
# last_ask FIELD: a header of the last request the auth service saw.
last_ask() {
	grep '"ev": "req"' "$TMP/auth.log" | tail -1 | $PY -c '
import json, sys
j = json.loads(sys.stdin.read())
print(j["method"] if sys.argv[1] == "method" else j["headers"].get(sys.argv[1], "-"))' "$1"
}
GOOD=(-H "Authorization: Bearer good")
BAD=(-H "Authorization: Bearer bad")

# ---- verdicts -----------------------------------------------------------------
check_eq "a good token passes" 200 "$(code "${GOOD[@]}" "$URL/nc/x?q=1")"
check_eq "the upstream sees the service's X-User-Id" alice "$(last_up x-user-id)"
check_eq "... and not a field upstream_headers does not name" - "$(last_up x-other)"
check_eq "the service gets the credential" "Bearer good" "$(last_ask authorization)"
check_eq "the service gets X-Forwarded-Uri" "/nc/x?q=1" "$(last_ask x-forwarded-uri)"
check_eq "the service gets X-Forwarded-Method" GET "$(last_ask x-forwarded-method)"
check_eq "the service gets X-Forwarded-Host" 127.0.0.1 "$(last_ask x-forwarded-host)"
check_eq "the service gets X-Forwarded-For" 127.0.0.1 "$(last_ask x-forwarded-for)"
check_eq "the service is asked with GET by default" GET "$(last_ask method)"
C -H "X-User-Id: mallory" "${GOOD[@]}" "$URL/nc/spoof" >/dev/null
check_eq "a client's own X-User-Id does not reach the upstream" alice "$(last_up x-user-id)"

before=$(ups)
C -D "$TMP/h" -o "$TMP/b" "${BAD[@]}" "$URL/nc/x"
check "a bad token gets the service's 401" grep -q '^HTTP/1.1 401' "$TMP/h"
check "... with its WWW-Authenticate" grep -qi '^www-authenticate: Bearer realm="weir"' "$TMP/h"
check_eq "... and not a field client_headers does not name" 0 "$(grep -ci '^x-other' "$TMP/h")"
check_eq "... and its body" denied "$(cat "$TMP/b")"
check_eq "... and the upstream saw nothing" "$before" "$(ups)"
check_eq "no Authorization at all: 401" 401 "$(code "$URL/nc/x")"

# A body waits in the client's buffer while the call is pending, then goes up whole.
out=$(head -c 100000 /dev/urandom | tee "$TMP/body" | C "${GOOD[@]}" --data-binary @- "$URL/nc/post")
check_eq "a body sent with a pending call reaches the upstream whole" \
	"$(sha256sum <"$TMP/body" | cut -d' ' -f1)" \
	"$(echo "$out" | $PY -c 'import json, sys; print(json.load(sys.stdin)["body_sha256"])')"
# Pipelined requests: the next one is read once the first is resumed and done.
got=$($PY - "$P_MAIN" <<'PYEOF'
import re, socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
req = "GET /nc/p%d HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n%s\r\n"
s.sendall((req % (1, "good", "") + req % (2, "bad", "") + req % (3, "good", "Connection: close\r\n")).encode())
data = b""
while True:
    b = s.recv(65536)
    if not b:
        break
    data += b
print(" ".join(re.findall(r"HTTP/1\.1 (\d{3}) ", data.decode("latin-1"))))
PYEOF
)
check_eq "pipelined requests are answered in order" "200 401 200" "$got"

# ---- keepalive: one connection to the service for all of the above -------------
for i in 1 2 3 4 5; do C "${GOOD[@]}" "$URL/nc/k$i" >/dev/null; done
check_eq "one kept connection carried every call" 1 "$(conns)"

# ---- the cache ----------------------------------------------------------------
a0=$(asks)
check_eq "cache: a first request passes" 200 "$(code "${GOOD[@]}" "$URL/c/1")"
check_eq "cache: ... after asking the service" $((a0 + 1)) "$(asks)"
check_eq "cache: the second passes" 200 "$(code "${GOOD[@]}" "$URL/c/2")"
check_eq "cache: ... with the cached X-User-Id" alice "$(last_up x-user-id)"
check_eq "cache: ... without asking the service" $((a0 + 1)) "$(asks)"
check_eq "cache: a refusal is answered" 401 "$(code -H 'Authorization: Bearer nope' "$URL/c/3")"
C -D "$TMP/h" -o "$TMP/b" -H 'Authorization: Bearer nope' "$URL/c/3"
check "cache: a cached refusal has its WWW-Authenticate" grep -qi '^www-authenticate:' "$TMP/h"
check_eq "cache: ... and its body" denied "$(cat "$TMP/b")"
check_eq "cache: ... and the service was asked once for it" $((a0 + 2)) "$(asks)"
check_eq "cache: another token is asked for" 401 "$(code -H 'Authorization: Bearer other' "$URL/c/4")"
check_eq "cache: ... by the service" $((a0 + 3)) "$(asks)"

# ---- the service fails ---------------------------------------------------------
check_eq "refused connection, deny: 503" 503 "$(code "${GOOD[@]}" "$URL/down/x")"
check_eq "refused connection, allow: passes" 200 "$(code "${GOOD[@]}" "$URL/downallow/x")"
check_eq "... without an X-User-Id" - "$(last_up x-user-id)"

check_eq "stale: a verdict stored while the service works" 200 "$(code "${GOOD[@]}" "$URL/s/1")"
sleep 1.2	# past the cache's 1s ttl (a sure bound, not a race)
touch "$TMP/fail"
a0=$(asks)
check_eq "5xx, deny: 503" 503 "$(code "${GOOD[@]}" "$URL/nc/x")"
check_eq "5xx, stale verdict within stale_ttl: passes" 200 "$(code "${GOOD[@]}" "$URL/s/2")"
check_eq "... with the stale X-User-Id" alice "$(last_up x-user-id)"
check_eq "... after the service was asked" $((a0 + 2)) "$(asks)"
check_eq "5xx, no stale verdict for the token: 503" 503 \
	"$(code -H 'Authorization: Bearer fresh' "$URL/s/3")"
rm -f "$TMP/fail"

touch "$TMP/hang"
check_eq "hanging service, deny: 503 after the timeout" 503 "$(code "${GOOD[@]}" "$URL/nc/x")"
check_eq "hanging service, allow: passes after the timeout" 200 "$(code "${GOOD[@]}" "$URL/allow/x")"
check_eq "hanging service, stale verdict: passes" 200 "$(code "${GOOD[@]}" "$URL/s/4")"

# ---- clients that hang up while their call is pending ---------------------------
before=$(ups)
hangup() { # PATH: sends a request, waits until the service has it, closes
	$PY - "$P_MAIN" "$1" "$TMP/auth.log" "$(asks)" <<'PYEOF'
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(("GET %s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer good\r\n\r\n" % sys.argv[2]).encode())
for _ in range(200):
    if sum('"ev": "req"' in l for l in open(sys.argv[3])) > int(sys.argv[4]):
        break
    time.sleep(0.05)
s.close()
PYEOF
}
# The hang-up ends each request at once (499) and drops its call with the
# connection; the service, hanging, never answers either.
hangup /nc/gone
hangup /long/gone
check_eq "the POST call reached the service" POST "$(last_ask method)"
gone() { [ "$(grep -c '"uri":"/[a-z]*/gone".*"status":499' "$TMP/access.log")" = 2 ]; }
check "both hung-up requests end, logged 499" wait_for 10 gone
rm -f "$TMP/hang"
check_eq "after the hang-ups weir still serves" 200 "$(code "${GOOD[@]}" "$URL/nc/after")"
check_eq "... and the hung-up requests never went upstream" $((before + 1)) "$(ups)"

# ---- a slow verdict holds neither the worker nor a reload ----------------------
code -H "Authorization: Bearer slow" "$URL/long/slow" >"$TMP/slow.code" &
slow=$!
wait_for 10 grep -q '"Bearer slow"' "$TMP/auth.log"
check_eq "another request is served while a call is pending" 401 "$(code "${BAD[@]}" "$URL/c/5")"
# A reload while the call is pending: the request keeps its snapshot (and
# the plugin instance its call uses) until it ends. The call (1.5 s) also
# outlasts timeouts.client_body (1s), which does not apply while it waits.
kill -HUP $WPID
check "a reload while the call is pending" wait_for 10 grep -q 'weir: reloaded' "$TMP/weir.err"
wait $slow
check_eq "... and the pending call completes" 200 "$(cat "$TMP/slow.code")"

# ---- two workers: each has its own cache and its own kept connections ----------
sed -e 's/^workers: 1/workers: 2/' -e "s/127.0.0.1:$P_MAIN\]/127.0.0.1:$P_TWO]/" \
	"$TMP/fa.yaml" >"$TMP/two.yaml"
"$WEIR" -c "$TMP/two.yaml" 2>"$TMP/two.err" &
TWO=$!
PIDS+=($TWO)
wait_for 10 grep -q 'listening on' "$TMP/two.err" || die "weir did not start: $(cat "$TMP/two.err")"
a0=$(asks) c0=$(conns) n=0
for i in $(seq 20); do
	[ "$(code -H 'Authorization: Bearer good' "http://127.0.0.1:$P_TWO/c/w$i")" = 200 ] && n=$((n + 1))
done
check_eq "two workers: every request passes" 20 "$n"
check "two workers: at most one call per worker (per-worker caches)" test $(($(asks) - a0)) -le 2
check "two workers: at most one connection per worker" test $(($(conns) - c0)) -le 2
kill $TWO
wait $TWO 2>/dev/null
check_eq "two workers: no sanitizer reports (ASan build)" 0 "$(grep -c Sanitizer "$TMP/two.err")"

# ---- config errors --------------------------------------------------------------
bad() { # NAME SETTINGS PATTERN: weir --check refuses with PATTERN
	printf 'listeners: [127.0.0.1:%s]\nupstreams:\n  a: {nodes: [127.0.0.1:%s]}\nroutes:\n  - {path: /x, upstream: a, plugins: {forward-auth: %s}}\n' \
		$P_MAIN $P_A "$2" >"$TMP/bad.yaml"
	check_fails "config: $1" "bad.yaml:5: routes\\[0\\]\\.plugins\\.forward-auth: $3" \
		"$WEIR" --check "$TMP/bad.yaml"
}
bad "no uri" "{timeout: 1s}" "uri: required"
bad "a uri that is not http" "{uri: https://127.0.0.1:1/a}" "uri: must start with http://"
bad "a uri with a host name" "{uri: http://auth.local:80/a}" "uri: "
bad "a uri without a port" "{uri: http://127.0.0.1/a}" "uri: "
bad "a bad request_method" "{uri: $AUTH, request_method: PUT}" "request_method: must be GET or POST"
bad "request_headers not a list" "{uri: $AUTH, request_headers: authorization}" "request_headers: must be a list"
bad "a bad header name" "{uri: $AUTH, upstream_headers: ['a b']}" "upstream_headers\\[0\\]: must be a header name"
bad "a bad timeout" "{uri: $AUTH, timeout: soon}" "timeout: must be a duration"
bad "a zero timeout" "{uri: $AUTH, timeout: 0}" "timeout: must be more than 0"
bad "a bad keepalive" "{uri: $AUTH, keepalive: -1}" "keepalive: must be an integer"
bad "a bad on_failure" "{uri: $AUTH, on_failure: maybe}" "on_failure: must be deny or allow"
bad "a cache without a key" "{uri: $AUTH, cache: {ttl: 30s}}" "cache.key: required"
bad "a cache with an unknown field" "{uri: $AUTH, cache: {ttl: 30s, key: [a], size: 3}}" "cache.size: unknown field"
bad "stale_ttl without a cache" "{uri: $AUTH, stale_ttl: 1m}" "stale_ttl: needs .cache."
bad "stale_ttl below the ttl" "{uri: $AUTH, cache: {ttl: 1m, key: [a]}, stale_ttl: 10s}" "stale_ttl: must be at least cache.ttl"
bad "an unknown field" "{uri: $AUTH, timout: 1s}" "timout: unknown field"

# A bad setting on SIGHUP leaves the running config.
sed -i "s|request_method: POST|request_method: PUT|" "$TMP/fa.yaml"
kill -HUP $WPID
wait_for 10 grep -q 'request_method: must be GET or POST' "$TMP/weir.err"
check "a bad reload is refused with the field" grep -q 'request_method: must be GET or POST' "$TMP/weir.err"
check_eq "... and the running config still authenticates" 401 "$(code "${BAD[@]}" "$URL/nc/x")"

kill $WPID
wait $WPID 2>/dev/null
check "weir stops cleanly" grep -q 'weir: stopped' "$TMP/weir.err"
check_eq "no sanitizer reports (ASan build)" 0 "$(grep -c Sanitizer "$TMP/weir.err")"
finish
