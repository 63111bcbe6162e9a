#!/bin/bash
# tests/proxy/test_fwdauth_shared.sh - forward-auth's verdict cache shared by
# the workers (cache.shared), end to end: two workers, tests/proxy/authsvc.py
# as the auth service, whose log counts its calls.
#
#   WEIR=build/asan/weir tests/proxy/test_fwdauth_shared.sh    with the sanitizers
#
# One request with a credential reaches the service; then many, each on a
# connection of its own (the access log shows both workers served some),
# reach it no more: the worker that did not ask finds the verdict in the
# shared cache. Refusals are shared the same way. Without cache.shared,
# each worker asks once (the per-worker cache alone), which shows that the
# check above is the shared cache's doing. When the service fails, the
# stale verdict comes from the shared cache too, on a worker that never
# asked. Then the config errors of cache.shared.
set -u
cd "$(dirname "$0")/../.."
. tests/lib.sh
. tests/proxy/lib.sh

proxy_setup fwdshared
proxy_ports 21000 21999 3
P_MAIN=$BASE P_A=$((BASE + 1)) P_AUTH=$((BASE + 2))
start_upstream A $P_A
$PY tests/proxy/authsvc.py --port $P_AUTH --log "$TMP/auth.log" --ready "$TMP/auth.ready" \
	--fail-if "$TMP/fail" 2>"$TMP/auth.err" &
PIDS+=($!)
wait_for 10 test -s "$TMP/auth.ready" || die "auth service did not start: $(cat "$TMP/auth.err")"

AUTH=http://127.0.0.1:$P_AUTH/verify
FA="uri: \"$AUTH\", request_headers: [authorization], upstream_headers: [X-User-Id],
                  client_headers: [www-authenticate]"
cat >"$TMP/fa.yaml" <<EOF
workers: 2
access_log: {path: $TMP/access.log, format: json}
listeners: [127.0.0.1:$P_MAIN]
upstreams: {a: {nodes: [127.0.0.1:$P_A]}}
routes:
  - {id: sh, path: /sh/*, upstream: a,
     plugins: {forward-auth: {$FA, stale_ttl: 10m,
                              cache: {ttl: 1m, key: [authorization], shared: {ttl: 1m, size: 1024}}}}}
  - {id: st, path: /st/*, upstream: a,
     plugins: {forward-auth: {$FA, stale_ttl: 10m,
                              cache: {ttl: 1s, key: [x-st], shared: {ttl: 1s}}}}}
  - {id: own, path: /own/*, upstream: a,
     plugins: {forward-auth: {$FA, cache: {ttl: 1m, key: [x-token]}}}}
EOF
check "weir --check accepts cache.shared" "$WEIR" --check "$TMP/fa.yaml"
start_weir weir -c "$TMP/fa.yaml"
URL=http://127.0.0.1:$P_MAIN

# asks TEXT: calls the service got whose head has TEXT.
asks() { grep '"ev": "req"' "$TMP/auth.log" | grep -cF -- "$1"; }
# many N PATH CURL-ARGS...: N requests, each on a new connection (curl runs
# once per request); prints their statuses, sorted and counted.
many() {
	local n=$1 path=$2 i; shift 2
	for i in $(seq "$n"); do code "$@" "$URL$path$i"; echo; done | sort | uniq -c |
		awk '{printf "%s%sx%s", sep, $1, $2; sep=" "}'
}
# workers_of PREFIX: the workers that served URIs starting with PREFIX.
workers_of() {
	grep -F "\"uri\":\"$1" "$TMP/access.log" | grep -o '"worker":[0-9]*' | sort -u | tr '\n' ' '
}
logged() { [ "$(grep -cF "\"uri\":\"$1" "$TMP/access.log")" -ge "$2" ]; }

check_eq "the first request with a credential asks the service" 200 \
	"$(code -H 'Authorization: Bearer good' $URL/sh/first)"
check_eq "... once" 1 "$(asks 'Bearer good')"
check_eq "30 more, each on its own connection, all pass" "30x200" \
	"$(many 30 /sh/n -H 'Authorization: Bearer good')"
wait_for 10 logged /sh/n 30
check_eq "... served by both workers" '"worker":0 "worker":1 ' "$(workers_of /sh/n)"
check_eq "... and the service was asked only the once" 1 "$(asks 'Bearer good')"
check_eq "... the upstream still gets the service's X-User-Id" alice \
	"$(C -H 'Authorization: Bearer good' $URL/sh/echo | jf h:X-User-Id)"

check_eq "a refusal: the first asks and gets the service's 401" 401 \
	"$(code -H 'Authorization: Bearer bad' $URL/sh/r0)"
check_eq "... 20 more on new connections get the cached 401" "20x401" \
	"$(many 20 /sh/r -H 'Authorization: Bearer bad')"
check_eq "... with one call to the service" 1 "$(asks 'Bearer bad')"
check "... the cached refusal keeps its WWW-Authenticate" bash -c \
	"curl -si -H 'Authorization: Bearer bad' $URL/sh/r99 | grep -qi '^WWW-Authenticate: Bearer'"

# Without cache.shared: each worker keeps its own verdicts, so the service
# hears from each worker that serves the credential, once.
check_eq "without cache.shared: 30 requests pass" "30x200" \
	"$(many 30 /own/n -H 'Authorization: Bearer good' -H 'X-Token: t1')"
wait_for 10 logged /own/n 30
check_eq "... served by both workers" '"worker":0 "worker":1 ' "$(workers_of /own/n)"
check_eq "... and the service was asked once per worker" 2 "$(asks '"x-forwarded-uri": "/own/')"

# The service fails: the stale verdict, from the shared cache, serves a
# credential on both workers, though only one of them ever asked. TTLs of
# 1 s, then a wait of 1.5 s: both caches' fresh verdicts are gone (a slower
# machine only makes them older), the stale one is within stale_ttl.
check_eq "stale: a credential is judged once" 200 \
	"$(code -H 'Authorization: Bearer good' -H 'X-St: s1' $URL/st/0)"
sleep 1.5
touch "$TMP/fail"
check_eq "stale: with the service failing, 20 requests on new connections still pass" "20x200" \
	"$(many 20 /st/n -H 'Authorization: Bearer good' -H 'X-St: s1')"
wait_for 10 logged /st/n 20
check_eq "... served by both workers (one never had a verdict of its own)" \
	'"worker":0 "worker":1 ' "$(workers_of /st/n)"
check_eq "... a credential never judged gets 503" 503 \
	"$(code -H 'Authorization: Bearer good' -H 'X-St: s2' $URL/st/x)"
rm -f "$TMP/fail"

# ---- config errors ------------------------------------------------------------
bad() { # DESC SHARED EXPECTED
	cat >"$TMP/bad.yaml" <<EOF
listeners: [127.0.0.1:$P_MAIN]
upstreams: {a: {nodes: [127.0.0.1:$P_A]}}
routes:
  - {id: r, path: /*, upstream: a, plugins: {forward-auth: {uri: "$AUTH", $2}}}
EOF
	check_fails "config error: $1" "$3" "$WEIR" --check "$TMP/bad.yaml"
}
bad "cache.shared not a map" "cache: {key: [a], shared: yes}" \
	"bad.yaml:4: routes\\[0\\]\\.plugins\\.forward-auth: cache\\.shared: must be a map"
bad "cache.shared with an unknown field" "cache: {key: [a], shared: {sise: 10}}" \
	"routes\\[0\\]\\.plugins\\.forward-auth: cache\\.shared\\.sise: unknown field"
bad "cache.shared.size too small" "cache: {key: [a], shared: {size: 2}}" \
	"routes\\[0\\]\\.plugins\\.forward-auth: cache\\.shared\\.size: must be an integer from 16"
bad "cache.shared.ttl not a duration" "cache: {key: [a], shared: {ttl: soon}}" \
	"routes\\[0\\]\\.plugins\\.forward-auth: cache\\.shared\\.ttl: must be a duration"
bad "stale_ttl shorter than cache.shared.ttl" \
	"stale_ttl: 1m, cache: {ttl: 30s, key: [a], shared: {ttl: 1h}}" \
	"routes\\[0\\]\\.plugins\\.forward-auth: stale_ttl: must be at least cache\\.shared\\.ttl"

check_stopped "weir stops cleanly" $WPID
check_sanitizers
finish
