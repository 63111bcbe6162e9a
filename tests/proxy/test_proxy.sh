#!/bin/bash
# tests/proxy/test_proxy.sh - the L7 proxy end to end: the real weir daemon
# between real clients (curl, wrk, raw sockets from tests/proxy/client.py)
# and real upstreams (tests/proxy/upstream.py, nginx), all on 127.0.0.1.
#
#   WEIR=build/asan/weir tests/proxy/test_proxy.sh    the same with the sanitizers
#
# Upstreams log every connection and request head before answering
# (upstream.py), so "the upstream never saw it" and "one connection carried
# them all" are read from their logs. Nothing depends on timing for
# correctness: timeouts under test are short (0.5-1 s), everything else is
# generous, and waits are bounded polls.
set -u
cd "$(dirname "$0")/../.."
. tests/lib.sh
. tests/proxy/lib.sh

proxy_setup proxy
CL=tests/proxy/client.py

conns() { grep -c '"ev": "conn"' "$TMP/$1.log"; }
# multi FORMAT URL...: the URLs in order on one client connection (curl reuses
# it), bodies dropped, FORMAT written after each.
multi() {
	local fmt=$1 a=(); shift
	for u; do a+=(-o /dev/null "$u"); done
	C -w "$fmt" "${a[@]}"
}
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }

proxy_ports 18000 18999 12
P_MAIN=$BASE P_STRICT=$((BASE + 1)) P_RELOAD=$((BASE + 2)) P_X=$((BASE + 3))
P_A=$((BASE + 4)) P_B=$((BASE + 5)) P_C=$((BASE + 6)) P_DEAD=$((BASE + 7)) P_NGX=$((BASE + 8))
P_BH=$((BASE + 9)) P_MET=$((BASE + 10)) P_PROM=$((BASE + 11))

# ---- upstreams -------------------------------------------------------------
start_upstream A $P_A
start_upstream B $P_B
start_upstream C $P_C
start_upstream BH $P_BH --blackhole

mkdir -p "$TMP/ngx"/{body,proxy,fastcgi,uwsgi,scgi,www}
cat >"$TMP/ngx/nginx.conf" <<EOF
daemon off;
worker_processes 1;
user root;
pid $TMP/ngx/nginx.pid;
error_log $TMP/ngx/error.log warn;
events { worker_connections 256; }
http {
    access_log off;
    client_body_temp_path $TMP/ngx/body;
    proxy_temp_path $TMP/ngx/proxy;
    fastcgi_temp_path $TMP/ngx/fastcgi;
    uwsgi_temp_path $TMP/ngx/uwsgi;
    scgi_temp_path $TMP/ngx/scgi;
    server {
        listen 127.0.0.1:$P_NGX;
        root $TMP/ngx/www;
    }
}
EOF
head -c $((50 * 1024 * 1024)) /dev/urandom >"$TMP/ngx/www/big.bin"
head -c $((50 * 1024 * 1024)) /dev/urandom >"$TMP/up50.bin"
head -c $((8 * 1024 * 1024)) /dev/urandom >"$TMP/up8.bin"
nginx -p "$TMP/ngx" -c "$TMP/ngx/nginx.conf" -e "$TMP/ngx/error.log" &
PIDS+=($!)
wait_for 10 port_in_use $P_NGX || die "nginx did not start: $(cat "$TMP/ngx/error.log")"

# ---- the main weir ---------------------------------------------------------
cat >"$TMP/main.yaml" <<EOF
workers: 2
limits: {max_body: 64m}
timeouts: {client_header: 30s, client_body: 30s, keepalive: 60s, send: 30s, shutdown: 10s}
access_log: {path: $TMP/access.log, format: json}
listeners: [127.0.0.1:$P_MAIN]
upstreams:
  a: {nodes: [127.0.0.1:$P_A]}
  b: {nodes: [127.0.0.1:$P_B]}
  c: {nodes: [127.0.0.1:$P_C]}
  ngx: {nodes: [127.0.0.1:$P_NGX]}
  dead: {nodes: [127.0.0.1:$P_DEAD]}
  slow: {nodes: [127.0.0.1:$P_A], timeouts: {read: 1s}}
  bh: {nodes: [127.0.0.1:$P_BH], timeouts: {connect: 500ms}}
  bh_a:
    nodes: [127.0.0.1:$P_BH, 127.0.0.1:$P_A]
    timeouts: {connect: 500ms}
    health: {max_fails: 0}
    retries: 1
  ab:
    nodes: [127.0.0.1:$P_A, 127.0.0.1:$P_B]
    health: {max_fails: 2, window: 1h, eject: 1h}
    retries: 0
  ab_short:
    nodes: [127.0.0.1:$P_A, 127.0.0.1:$P_B]
    health: {max_fails: 1, window: 1h, eject: 1s}
    retries: 0
  dead_a:
    nodes: [127.0.0.1:$P_DEAD, 127.0.0.1:$P_A]
    health: {max_fails: 2, window: 1h, eject: 1h}
    retries: 0
  retry:
    nodes: [127.0.0.1:$P_DEAD, 127.0.0.1:$P_A]
    health: {max_fails: 0}
    retries: 1
routes:
  - {id: default, path: /*, upstream: a}
  - {id: host-b, host: b.test, path: /*, upstream: b}
  - {id: wild-b, hosts: ["*.wild.test"], path: /*, upstream: b}
  - {id: api, path: /api/*, upstream: b, rewrite: {strip_prefix: /api}}
  - {id: items, path: "/users/:id/items/:item", upstream: a,
     rewrite: {template: "/v2/items/:item/of/u-:id.json"}}
  - {id: items-me, path: "/users/me/items/:item", upstream: b}
  - {id: m-post, path: /m, methods: [POST], upstream: b}
  - {id: m-any, path: /m, upstream: a}
  - {id: h-b, path: /h, headers: {x-pick: b}, upstream: b}
  - {id: h-any, path: /h, upstream: a}
  - {id: prio-lo, path: /p, upstream: a, priority: 1}
  - {id: prio-hi, path: /p, upstream: b, priority: 5}
  - {id: reuse, path: /reuse/*, upstream: c, rewrite: {strip_prefix: /reuse}}
  - {id: ngx, path: /ngx/*, upstream: ngx, rewrite: {strip_prefix: /ngx}}
  - {id: bh, path: /bh/*, upstream: bh, rewrite: {strip_prefix: /bh}}
  - {id: bh-a, path: /bh-a/*, upstream: bh_a, rewrite: {strip_prefix: /bh-a}}
  - {id: dead, path: /dead/*, upstream: dead, rewrite: {strip_prefix: /dead}}
  - {id: slow, path: /slow/*, upstream: slow, rewrite: {strip_prefix: /slow}}
  - {id: rt-slow, path: /rt-slow/*, upstream: a, rewrite: {strip_prefix: /rt-slow},
     timeouts: {read: 1s}}
  - {id: eject, path: /eject/*, upstream: ab, rewrite: {strip_prefix: /eject}}
  - {id: eject-short, path: /eject-short/*, upstream: ab_short,
     rewrite: {strip_prefix: /eject-short}}
  - {id: dead-a, path: /dead-a/*, upstream: dead_a, rewrite: {strip_prefix: /dead-a}}
  - {id: retry, path: /retry/*, upstream: retry, rewrite: {strip_prefix: /retry}}
  - id: plug
    path: /plug/*
    upstream: a
    rewrite: {strip_prefix: /plug}
    plugins:
      headers: {request: {x-a: b}, response: {x-c: d}}
  - id: mock
    path: /mock/*
    plugins:
      mock:
        status: 201
        headers: {content-type: application/json, x-mock: "yes"}
        body: '{"ok":true}'
  - id: mock-up
    path: /mock-up/*
    upstream: a
    plugins:
      mock: {status: 503, body: down for maintenance}
  - id: rw
    path: /rw/*
    upstream: a
    rewrite: {strip_prefix: /rw}
    plugins:
      rewrite:
        request_headers: {set: {x-set: new}, remove: [x-debug, X-Drop]}
        response_headers: {set: {x-served-by: weir}, remove: [x-conn]}
        status: {"404": 200, "503": 502}
EOF
check "weir --check accepts a good file" bash -c \
	"'$WEIR' --check '$TMP/main.yaml' | grep -q ': ok'"
printf 'listeners: [127.0.0.1:%s]\nupstreams:\n  a: {nodes: [127.0.0.1:%s]}\nroutes:\n  - path: /*\n    upstream: nosuch\n' \
	$P_MAIN $P_A >"$TMP/bad.yaml"
check_fails "weir --check rejects a bad file with FILE:LINE: FIELD: REASON" \
	"$TMP/bad.yaml:6: routes\\[0\\]\\.upstream: no upstream named 'nosuch'" \
	"$WEIR" --check "$TMP/bad.yaml"
check_fails "weir proxy: a bad --from address, named" "listen address: 'nope': expected IP:PORT" \
	"$WEIR" proxy --from nope --to 127.0.0.1:$P_A
check_fails "weir proxy: --workers out of range" "--workers: expected 1\\.\\.256, got '0'" \
	"$WEIR" proxy --from 127.0.0.1:$P_MAIN --to 127.0.0.1:$P_A --workers 0
check_fails "weir -c: a missing file" "/nonexistent/weir\\.yaml: No such file" \
	"$WEIR" -c /nonexistent/weir.yaml

# Errors found when the snapshot is built (plugins, router) name their line too.
bad_route() { # NAME ROUTE-LINES...: a file whose one route is the given lines
	local name=$1; shift
	{ printf 'listeners: [127.0.0.1:%s]\nupstreams:\n  a: {nodes: [127.0.0.1:%s]}\n' $P_MAIN $P_A
	  printf '%s\n' "$@"; } >"$TMP/$name.yaml"
}
bad_route plugin 'routes:' '  - path: /*' '    upstream: a' '    plugins:' '      headers: {}' '      nosuch: {}'
check_fails "weir --check: a plugin that does not exist, at its line" \
	"plugin.yaml:9: routes\\[0\\]\\.plugins\\.nosuch: no such plugin" "$WEIR" --check "$TMP/plugin.yaml"
bad_route plugconf 'routes:' '  - path: /*' '    upstream: a' '    plugins:' '      headers: {request: {x-a: 1}}'
check_fails "weir --check: a plugin's own setting error" \
	"plugconf.yaml:8: routes\\[0\\]\\.plugins\\.headers: request\\.x-a: a header needs" \
	"$WEIR" --check "$TMP/plugconf.yaml"
bad_route rwstatus 'routes:' '  - path: /*' '    upstream: a' '    plugins:' '      rewrite: {status: {"204": 200}}'
check_fails "weir --check: rewrite status from a bodyless one, named" \
	"rwstatus.yaml:8: routes\\[0\\]\\.plugins\\.rewrite: status\\.204: expected a status 200-599 with a body" \
	"$WEIR" --check "$TMP/rwstatus.yaml"
bad_route rwstatus2 'routes:' '  - path: /*' '    upstream: a' '    plugins:' '      rewrite: {status: {"404": 304}}'
check_fails "weir --check: rewrite status to a bodyless one, named" \
	"rwstatus2.yaml:8: routes\\[0\\]\\.plugins\\.rewrite: status\\.404: the status sent must be" \
	"$WEIR" --check "$TMP/rwstatus2.yaml"
bad_route noup 'routes:' '  - path: /*' '    plugins: {headers: {}}'
check_fails "weir --check: a route without an upstream and no plugin that answers" \
	"noup.yaml:5: routes\\[0\\]\\.upstream: required unless a plugin answers the route" \
	"$WEIR" --check "$TMP/noup.yaml"
bad_route mockconf 'routes:' '  - path: /*' '    plugins:' '      mock: {status: 99}'
check_fails "weir --check: a mock setting error" \
	"mockconf.yaml:7: routes\\[0\\]\\.plugins\\.mock: status: expected an integer from 200 to 599" \
	"$WEIR" --check "$TMP/mockconf.yaml"
bad_route global 'plugins: {nosuch: {}}' 'routes: [{path: /*, upstream: a}]'
check_fails "weir --check: global settings for a plugin that does not exist" \
	"global.yaml:4: plugins\\.nosuch: no such plugin" "$WEIR" --check "$TMP/global.yaml"
bad_route dup 'routes:' '  - {id: one, path: /x, upstream: a}' '  - {id: two, path: /x, upstream: a}'
check_fails "weir --check: two routes that can never both be chosen" \
	"routes\\[1\\]: route two: duplicate of route one" "$WEIR" --check "$TMP/dup.yaml"
bad_route pattern 'routes: [{path: /a/*/b, upstream: a}]'
check_fails "weir --check: a bad path pattern" \
	"pattern.yaml:4: routes\\[0\\]: .*'\\*' is only allowed as the last character" \
	"$WEIR" --check "$TMP/pattern.yaml"

start_weir main -c "$TMP/main.yaml"
MAIN=$WPID
M=http://127.0.0.1:$P_MAIN

# ---- plain forwarding ------------------------------------------------------
check_eq "GET through weir" "200 A" "$(C -o /dev/null -w '%{http_code} %header{x-name}' $M/echo)"
C -D "$TMP/h" -H 'X-Forwarded-For: 10.1.2.3' -H 'Host: Example.COM:8080' $M/echo >"$TMP/j"
check_eq "x-forwarded-for appends the client" "10.1.2.3, 127.0.0.1" "$(jf h:x-forwarded-for <"$TMP/j")"
check_eq "x-forwarded-for keeps every field the client sent, in order" \
	"10.0.0.1, 10.0.0.2, 10.0.0.3, 127.0.0.1" \
	"$(C -H 'X-Forwarded-For: 10.0.0.1, 10.0.0.2' -H 'X-Other: 1' -H 'X-Forwarded-For: 10.0.0.3' \
		$M/echo | jf h:x-forwarded-for)"
check_eq "x-forwarded-proto is set" "http" "$(jf h:x-forwarded-proto <"$TMP/j")"
check_eq "x-forwarded-host is the client's Host" "Example.COM:8080" "$(jf h:x-forwarded-host <"$TMP/j")"
RID=$(jf h:x-request-id <"$TMP/j")
check "x-request-id is generated (32 hex digits)" grep -Eqx '[0-9a-f]{32}' <<<"$RID"
check_eq "the client gets the same X-Request-Id" "$RID" \
	"$(awk -F': ' 'tolower($1) == "x-request-id" {print $2}' "$TMP/h" | tr -d '\r')"
check_eq "a client's x-request-id is kept" "my-id-1" \
	"$(C -H 'X-Request-Id: my-id-1' $M/echo | jf h:x-request-id)"
C -H 'Connection: keep-alive, X-Drop-Me' -H 'X-Drop-Me: 1' -H 'Keep-Alive: timeout=5' \
	-H 'TE: trailers' -H 'Proxy-Connection: keep-alive' -H 'Upgrade: h2c' \
	-H 'X-Keep-Me: yes' $M/echo >"$TMP/j"
check_eq "hop-by-hop headers are removed, end-to-end ones kept" \
	"- - - - - - yes" "$(for h in connection x-drop-me keep-alive te proxy-connection upgrade x-keep-me; do
		jf h:$h <"$TMP/j"; done | tr '\n' ' ' | sed 's/ $//')"
check_eq "header names are lower-cased toward the upstream" "1" \
	"$(C -H 'X-MiXeD-Case: v' $M/echo | python3 -c 'import json,sys
print(sum(1 for k, v in json.load(sys.stdin)["headers"] if k == "x-mixed-case"))')"
check_eq "upstream status and body pass through (404)" "status 404 404" \
	"$(C -w ' %{http_code}' $M/status/404 | tr -d '\n')"
check_eq "204 from the upstream ends the exchange" "204 204" \
	"$(multi '%{http_code} ' $M/status/204 $M/status/204 | sed 's/ $//')"
check_eq "304 from the upstream ends the exchange" "304 200" \
	"$(multi '%{http_code} ' $M/status/304 $M/echo | sed 's/ $//')"

# ---- bodies ----------------------------------------------------------------
SHA50=$(sha256sum <"$TMP/up50.bin" | cut -c1-64)
( while kill -0 $MAIN 2>/dev/null; do rss_kb $MAIN; sleep 0.05; done ) >"$TMP/rss" 2>/dev/null &
RSSP=$!
C -H 'Expect:' --data-binary @"$TMP/up50.bin" $M/echo >"$TMP/j"
check_eq "50 MB upload arrives whole (sha256)" "52428800 $SHA50" \
	"$(jf body_len <"$TMP/j") $(jf body_sha256 <"$TMP/j")"
C -D "$TMP/h" -o "$TMP/down" "$M/big?n=52428800"
check_eq "50 MB download arrives whole (sha256)" \
	"$(awk -F': ' 'tolower($1) == "x-body-sha256" {print $2}' "$TMP/h" | tr -d '\r')" \
	"$(sha256sum <"$TMP/down" | cut -c1-64)"
C -o "$TMP/down" $M/ngx/big.bin
check_eq "50 MB from nginx arrives whole (sha256)" \
	"$(sha256sum <"$TMP/ngx/www/big.bin" | cut -c1-64)" "$(sha256sum <"$TMP/down" | cut -c1-64)"
kill $RSSP 2>/dev/null; wait $RSSP 2>/dev/null
PEAK=$(sort -n "$TMP/rss" | tail -1)
check "weir's RSS stays under 64 MB while 150 MB go through (peak ${PEAK} kB)" \
	test "${PEAK:-999999}" -lt 65536
read -r SHAOK PEAK < <($PY $CL slow-reader $P_MAIN $MAIN 52428800)
check_eq "a client that stops reading gets the download whole" "sha-ok" "$SHAOK"
check "backpressure: RSS stays under 64 MB behind a stalled client (peak ${PEAK} kB)" \
	test "${PEAK:-999999}" -lt 65536
rm -f "$TMP/down"

SHA8=$(sha256sum <"$TMP/up8.bin" | cut -c1-64)
C -H 'Transfer-Encoding: chunked' -H 'Expect:' --data-binary @"$TMP/up8.bin" $M/echo >"$TMP/j"
check_eq "chunked 8 MB upload arrives whole" "8388608 $SHA8 chunked" \
	"$(jf body_len <"$TMP/j") $(jf body_sha256 <"$TMP/j") $(jf h:transfer-encoding <"$TMP/j")"
C -D "$TMP/h" -o "$TMP/down" "$M/chunked?n=3000000&chunk=7000"
check "a chunked response stays chunked" grep -qi '^transfer-encoding: chunked' "$TMP/h"
check_eq "a chunked response arrives whole" \
	"$(awk -F': ' 'tolower($1) == "x-body-sha256" {print $2}' "$TMP/h" | tr -d '\r')" \
	"$(sha256sum <"$TMP/down" | cut -c1-64)"
C -D "$TMP/h" -o "$TMP/down" "$M/slow-body?n=200000&ms=300"
check_eq "a response body that pauses half-way arrives whole" \
	"$(awk -F': ' 'tolower($1) == "x-body-sha256" {print $2}' "$TMP/h" | tr -d '\r')" \
	"$(sha256sum <"$TMP/down" | cut -c1-64)"
: >"$TMP/ngx/www/empty.txt"
check_eq "Content-Length: 0 responses (nginx) end the exchange" "200:0 200:0 200:0" \
	"$(multi '%{http_code}:%{size_download} ' $M/ngx/empty.txt $M/ngx/empty.txt $M/ngx/empty.txt | sed 's/ $//')"
C -D "$TMP/h" -o "$TMP/down" "$M/eof-body?n=2000000"
check_eq "a close-delimited response arrives whole" \
	"$(awk -F': ' 'tolower($1) == "x-body-sha256" {print $2}' "$TMP/h" | tr -d '\r')" \
	"$(sha256sum <"$TMP/down" | cut -c1-64)"
check "a close-delimited response is sent with Connection: close" \
	grep -qi '^connection: close' "$TMP/h"
check_eq "Expect: 100-continue: the upstream's 100 comes before the body is sent" \
	"100 200 100000 sha-ok" "$($PY $CL expect $P_MAIN)"
check_eq "HEAD: Content-Length kept, no body, the connection goes on" "200 5000 200 10" \
	"$($PY $CL head-get $P_MAIN)"
check_eq "pipelining: six requests in one write, answered in order" \
	"200:/echo?i=1:0 200:/echo?i=2:5 200:/echo?i=3:3 204:None 200:777 200:/echo?i=6:0 closed" \
	"$($PY $CL pipeline $P_MAIN)"
check_eq "pipelining behind a 300 kB body (Content-Length)" "300000 sha-ok /echo?i=2 closed" \
	"$($PY $CL big-pipeline $P_MAIN 0)"
check_eq "pipelining behind a 300 kB body (chunked)" "300000 sha-ok /echo?i=2 closed" \
	"$($PY $CL big-pipeline $P_MAIN 1)"
check_eq "400 pipelined requests (40 kB) in one write, all answered" "400x200 closed" \
	"$($PY $CL statuses $P_MAIN "$(for i in $(seq 399); do
		printf 'GET /echo?i=%d HTTP/1.1\\r\\nHost: p\\r\\nX-Pad: %064d\\r\\n\\r\\n' $i 0; done
		printf 'GET /echo HTTP/1.1\\r\\nHost: p\\r\\nConnection: close\\r\\n\\r\\n')" |
		tr ' ' '\n' | uniq -c | awk '{ printf "%s%s", (NR > 1 ? " " : ""), ($1 > 1 ? $1 "x" : "") $2 }')"
check_eq "20000 pipelined requests weir answers itself (502), not read for a second: all answered" \
	"20000/20000" "$($PY $CL flood $P_MAIN 20000 /dead/x)"
check_eq "WebSocket: 101, frames echoed through the tunnel, close" \
	"101 accept-ok ok ok ok close closed" "$($PY $CL ws $P_MAIN)"
check_eq "WebSocket: a frame sent with the handshake is not lost" \
	"101 accept-ok ok ok ok close closed" "$($PY $CL ws $P_MAIN 1)"
check_eq "HEAD of a chunked response, then a GET on the connection" "200 200 closed" \
	"$($PY $CL statuses $P_MAIN "HEAD /chunked?n=100 HTTP/1.1\r\nHost: h\r\n\r\nGET /echo HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n" HEAD,GET)"
check_eq "an upgrade the upstream declines: HTTP goes on on the connection" "200 200 closed" \
	"$($PY $CL statuses $P_MAIN "GET /echo HTTP/1.1\r\nHost: u\r\nConnection: upgrade\r\nUpgrade: foo\r\n\r\nGET /echo HTTP/1.1\r\nHost: u\r\nConnection: close\r\n\r\n")"
check_eq "HTTP/1.0 without Host: answered, then closed" "200 closed" \
	"$($PY $CL statuses $P_MAIN "GET /echo?v=http10 HTTP/1.0\r\n\r\n")"
check_eq "... and the upstream got HTTP/1.0 with connection: close" "1" \
	"$(grep '"ev": "req"' "$TMP/A.log" | grep -F 'v=http10' | grep -F '"HTTP/1.0"' | grep -cF '["connection", "close"]')"
check_eq "HTTP/1.0 with Connection: keep-alive keeps the connection" "200 200 closed" \
	"$($PY $CL statuses $P_MAIN "GET /echo HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /echo HTTP/1.0\r\n\r\n")"
check_eq "HTTP/1.0 with Host: answered, then closed" "200 closed" \
	"$($PY $CL statuses $P_MAIN "GET /echo?v=http10h HTTP/1.0\r\nHost: h\r\nExpect: 100-continue\r\n\r\n")"
check_eq "... and the upstream got HTTP/1.1, without connection: close or the expectation" "1 0" \
	"$(grep '"ev": "req"' "$TMP/A.log" | grep -F 'v=http10h' | grep -cF '"HTTP/1.1"') $(grep '"ev": "req"' "$TMP/A.log" | grep -F 'v=http10h' | grep -ciE '"(connection|expect)"')"
check_eq "HTTP/1.0: a chunked response goes de-chunked, delimited by the close" \
	"200 - - 300000 sha-ok closed" "$($PY $CL http10 $P_MAIN '/chunked?n=300000&chunk=7000' 1)"
check_eq "HTTP/1.0: a chunked response in 1-byte chunks, past a buffer" \
	"200 - - 40000 sha-ok closed" "$($PY $CL http10 $P_MAIN '/chunked?n=40000&chunk=1')"
check_eq "HTTP/1.0: a Content-Length response keeps a keep-alive connection" \
	"200 - 5000 5000 sha-ok open" "$($PY $CL http10 $P_MAIN '/big?n=5000' 1)"
check_eq "HTTP/1.0: HEAD of a chunked response, no Transfer-Encoding, kept alive" \
	"200 - - 0 - open" "$($PY $CL http10 $P_MAIN '/chunked?n=5000' 1 HEAD)"
check_eq "HTTP/1.0: a coding before chunked (gzip, chunked) is not passed on: 502" "502 closed" \
	"$($PY $CL send $P_MAIN 'GET /chunked?n=5000&te=gzip,%20chunked HTTP/1.0\r\nHost: t\r\n\r\n')"
check_eq "a client that half-closes after its GET gets the answer" "200 0 closed" \
	"$($PY $CL half-close $P_MAIN GET)"
check_eq "a client that half-closes after its POST body gets the answer" "200 200000 closed" \
	"$($PY $CL half-close $P_MAIN POST)"

check_eq "a client that goes away half-way through a download" "aborted 200" \
	"$($PY $CL abort $P_MAIN down) $(code $M/echo)"
check_eq "a client that goes away half-way through an upload" "aborted 200" \
	"$($PY $CL abort $P_MAIN up) $(code $M/echo)"

# ---- upstream connections --------------------------------------------------
N0=$(conns C)
URLS=(); for i in $(seq 20); do URLS+=("$M/reuse/echo?i=$i"); done
check_eq "20 requests on one client connection" "$(printf '200%.0s' $(seq 20))" \
	"$(multi '%{http_code}' "${URLS[@]}")"
check_eq "... reached the upstream over one keepalive connection" 1 $(($(conns C) - N0))
N0=$(conns C)
OK=0; for i in $(seq 20); do [ "$(code $M/reuse/echo?j=$i)" = 200 ] && OK=$((OK + 1)); done
check_eq "20 requests on 20 client connections" 20 $OK
check "... reached the upstream over at most one connection per worker" \
	test $(($(conns C) - N0)) -le 2
OK=0
for i in $(seq 10); do
	[ "$(multi '%{http_code}' "$M/reuse/echo?close=1" "$M/reuse/echo")" = 200200 ] &&
		OK=$((OK + 1))
done
check_eq "the upstream closing a pooled connection costs no request" 10 $OK
N0=$(conns C)
OK=0; for i in $(seq 20); do [ "$(code --http1.0 $M/reuse/echo?h10=$i)" = 200 ] && OK=$((OK + 1)); done
check_eq "20 HTTP/1.0 requests on 20 client connections" 20 $OK
check "... reached the upstream over at most one connection per worker" \
	test $(($(conns C) - N0)) -le 2

# ---- routing ---------------------------------------------------------------
route() { C -o /dev/null -w '%{http_code} %header{x-name}' "$@"; }
check_eq "route by host" "200 B" "$(route -H 'Host: b.test' $M/echo)"
check_eq "an absolute-form target's authority wins over Host" "200 B /echo?abs=1" \
	"$(route --request-target 'http://b.test/echo?abs=1' -H 'Host: a.test' $M/) $(C --request-target 'http://b.test/echo?abs=1' -H 'Host: a.test' $M/ | jf target)"
check_eq "route by wildcard host" "200 B" "$(route -H 'Host: x.y.wild.test' $M/echo)"
check_eq "the host is matched case-insensitively, port ignored" "200 B" \
	"$(route -H 'Host: B.Test:99' $M/echo)"
check_eq "other hosts fall to the catch-all" "200 A" "$(route -H 'Host: c.test' $M/echo)"
check_eq "route by path prefix, prefix stripped" "/echo?q=1 200 B" \
	"$(C $M/api/echo?q=1 | jf target) $(route $M/api/echo)"
check_eq "a static segment beats a :param" "200 B /users/me/items/7" \
	"$(route $M/users/me/items/7) $(C $M/users/me/items/7 | jf target)"
check_eq "template rewrite with :params (text right after a name)" "/v2/items/7/of/u-42.json?x=y" \
	"$(C "$M/users/42/items/7?x=y" | jf target)"
check_eq "route by method" "200 B 200 A" "$(route -X POST -d x $M/m) $(route $M/m)"
check_eq "route by header" "200 B 200 A 200 A" \
	"$(route -H 'X-Pick: b' $M/h) $(route $M/h) $(route -H 'X-Pick: c' $M/h)"
check_eq "higher priority wins" "200 B" "$(route $M/p)"
C -D "$TMP/h" $M/plug/echo >"$TMP/j"
check_eq "headers plugin adds a request header" "b" "$(jf h:x-a <"$TMP/j")"
check "headers plugin adds a response header" grep -qi '^x-c: d' "$TMP/h"

# ---- mock and rewrite plugins ---------------------------------------------
# The mock route has no upstream at all; mock-up has one (A) that must never
# see a request.
check_eq "mock: status and body, no upstream" '{"ok":true} 201' \
	"$(C -D "$TMP/mh" -w ' %{http_code}' $M/mock/x)"
check "mock: its headers" grep -qi '^content-type: application/json' "$TMP/mh"
check "mock: ... and x-mock" grep -qi '^x-mock: yes' "$TMP/mh"
check "mock: Content-Length of the body" grep -qi '^content-length: 11' "$TMP/mh"
check "mock: X-Request-Id as other answers carry" grep -qiE '^x-request-id: [0-9a-f]{32}' "$TMP/mh"
check_eq "mock: two requests on one connection (keepalive)" "201:1 201:0" \
	"$(multi '%{http_code}:%{num_connects} ' $M/mock/a $M/mock/b | sed 's/ $//')"
check_eq "mock: HEAD gets the head only, and the connection goes on" "201 201 closed" \
	"$($PY $CL statuses $P_MAIN 'HEAD /mock/h HTTP/1.1\r\nHost: p\r\n\r\nGET /mock/g HTTP/1.1\r\nHost: p\r\nConnection: close\r\n\r\n' HEAD,GET)"
check_eq "mock: HEAD keeps Content-Length" "11" \
	"$(C -I $M/mock/x | tr -d '\r' | awk -F': ' 'tolower($1) == "content-length" {print $2}')"
check_eq "mock on a route with an upstream: answered by weir" "503 down for maintenance" \
	"$(C -w '%{http_code}' -o "$TMP/mb" $M/mock-up/x) $(cat "$TMP/mb")"
check_eq "mock: the upstream never saw a mocked request" "0" "$(seen A /mock-up/)"
C -D "$TMP/rh" -H 'X-Debug: 1' -H 'X-Drop: a' -H 'x-drop: b' -H 'X-Set: old' -H 'X-Keep: k' \
	$M/rw/echo >"$TMP/rj"
check_eq "rewrite: request_headers.set replaces the client's field" "new" "$(jf h:x-set <"$TMP/rj")"
check_eq "rewrite: request_headers.remove takes fields out (any case, every one)" "- -" \
	"$(jf h:x-debug <"$TMP/rj") $(jf h:x-drop <"$TMP/rj")"
check_eq "rewrite: other request fields go through" "k" "$(jf h:x-keep <"$TMP/rj")"
check_eq "rewrite: the upstream's log agrees" "1 0" \
	"$(seen A '["x-set", "new"]') $(seen A '"x-debug"')"
check "rewrite: response_headers.set adds a field" grep -qi '^x-served-by: weir' "$TMP/rh"
check "rewrite: response_headers.remove takes the upstream's out" \
	bash -c "! grep -qi '^x-conn:' '$TMP/rh'"
check "rewrite: ... and leaves the rest" grep -qi '^x-name: A' "$TMP/rh"
check_eq "rewrite: status 404 from the upstream goes out as 200 OK, its body kept" \
	"HTTP/1.1 200 OK|status 404" \
	"$(C -i $M/rw/status/404 | tr -d '\r' | sed -n '1p;$p' | paste -sd'|')"
check_eq "rewrite: 503 goes out as 502; a status not in the map is kept" "502 418" \
	"$(code $M/rw/status/503) $(code $M/rw/status/418)"
check "without the plugin, the upstream's X-Conn reaches the client" \
	bash -c "curl -s -D - -o /dev/null $M/echo | grep -qi '^x-conn:'"

last6() { awk '{ for (i = NF - 5; i <= NF; i++) printf "%s ", $i }' <<<"$1"; }

# ---- failures --------------------------------------------------------------
check_eq "upstream refuses: 502" "502" "$(code $M/dead/echo)"
check "... with a short text body" bash -c "curl -s $M/dead/echo | grep -qx '502 Bad Gateway: .*'"
check_eq "... and the client connection stays open (502, then 200 on it)" "502:1 200:0" \
	"$(multi '%{http_code}:%{num_connects} ' $M/dead/echo $M/echo | sed 's/ $//')"
check_eq "upstream closes without answering: 502" "502" "$(code $M/close)"
check_eq "upstream connect timeout: 504" "504" "$(code $M/bh/echo)"
OK=0; for i in 1 2 3 4; do [ "$(code $M/bh-a/echo?i=$i)" = 200 ] && OK=$((OK + 1)); done
check_eq "retry: a node that times out connecting, the other serves" 4 $OK
check_eq "upstream slower than the read timeout: 504" "504" "$(code "$M/slow/slow-head?ms=3000")"
check_eq "a route's read timeout overrides the upstream's: 504" "504" \
	"$(code "$M/rt-slow/slow-head?ms=3000")"
check_eq "a request within the read timeout: 200" "200" "$(code "$M/slow/slow-head?ms=10")"
OUT=$(multi '%{http_code}:%header{x-name} ' $(for i in $(seq 10); do
	echo "$M/retry/echo?i=$i"; done))
check_eq "retry: with one node refusing, every GET succeeds on the other" \
	"$(printf '200:A %.0s' $(seq 10))" "$OUT"
head -c 300000 /dev/urandom >"$TMP/up300k.bin"
SHA300=$(sha256sum <"$TMP/up300k.bin" | cut -c1-64)
OK=0
for i in 1 2 3 4; do
	C -H 'Expect:' --data-binary @"$TMP/up300k.bin" "$M/retry/echo?p=$i" >"$TMP/j"
	[ "$(jf body_sha256 <"$TMP/j") $(jf name <"$TMP/j")" = "$SHA300 A" ] && OK=$((OK + 1))
	C -H 'Expect:' -H 'Transfer-Encoding: chunked' --data-binary @"$TMP/up300k.bin" \
		"$M/retry/echo?c=$i" >"$TMP/j"
	[ "$(jf body_sha256 <"$TMP/j") $(jf name <"$TMP/j")" = "$SHA300 A" ] && OK=$((OK + 1))
done
check_eq "retry: a 300 kB POST (length and chunked) goes whole to the other node" 8 $OK
# One client connection: one worker, whose passive health state is under test.
OUT=$(multi '%{http_code}:%header{x-name} ' $(for i in $(seq 12); do
	echo "$M/eject/fail-on/B?i=$i"; done))
check_eq "ejection: a node answering 502 is ejected after max_fails (2)" 2 \
	"$(grep -o '502:B' <<<"$OUT" | wc -l)"
check_eq "... and the rest go to the healthy node" "$(printf '200:A %.0s' $(seq 6))" \
	"$(last6 "$OUT")"
check_eq "ejection ends after its time: the node serves (and fails) again" \
	"B502 A200,A200,A200,A200 B502" "$($PY $CL eject-return $P_MAIN /eject-short/fail-on/B)"
OUT=$(multi '%{http_code} ' $(for i in $(seq 12); do
	echo "$M/dead-a/echo?i=$i"; done))
check_eq "ejection: a refusing node is ejected after max_fails (2)" 2 \
	"$(grep -o '502' <<<"$OUT" | wc -l)"
check_eq "... and the rest go to the healthy node" "$(printf '200 %.0s' $(seq 6))" \
	"$(last6 "$OUT")"

# ---- strictness: answered, never forwarded ---------------------------------
bad() { # DESC STATUS REQUEST
	check_eq "$1: $2" "$2 closed" "$($PY $CL send $P_MAIN "$3")"
}
H='Host: s\r\n'
bad "Content-Length with Transfer-Encoding" 400 \
	"POST /strict-1 HTTP/1.1\r\n${H}Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
bad "conflicting Content-Length" 400 \
	"POST /strict-2 HTTP/1.1\r\n${H}Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!"
bad "Content-Length that is not a number" 400 \
	"POST /strict-3 HTTP/1.1\r\n${H}Content-Length: 5x\r\n\r\nhello"
bad "Transfer-Encoding other than chunked" 501 \
	"POST /strict-4 HTTP/1.1\r\n${H}Transfer-Encoding: gzip\r\n\r\nxx"
bad "Transfer-Encoding: gzip, chunked" 501 \
	"POST /strict-5 HTTP/1.1\r\n${H}Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n"
bad "repeated Transfer-Encoding" 501 \
	"POST /strict-6 HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
bad "bad chunk size" 400 \
	"POST /strict-7 HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n"
bad "whitespace before a colon" 400 "GET /strict-8 HTTP/1.1\r\n${H}X-A : b\r\n\r\n"
bad "whitespace before the Host colon" 400 "GET /strict-9 HTTP/1.1\r\nHost : s\r\n\r\n"
bad "obs-fold" 400 "GET /strict-10 HTTP/1.1\r\n${H}X-A: b\r\n  c\r\n\r\n"
bad "a control character in a value" 400 "GET /strict-11 HTTP/1.1\r\n${H}X-A: b\x01c\r\n\r\n"
bad "NUL in a value" 400 "GET /strict-12 HTTP/1.1\r\n${H}X-A: b\x00c\r\n\r\n"
bad "missing Host" 400 "GET /strict-13 HTTP/1.1\r\nX-A: b\r\n\r\n"
bad "repeated Host" 400 "GET /strict-14 HTTP/1.1\r\n${H}Host: t\r\n\r\n"
bad "HTTP/2.0 request line" 505 "GET /strict-15 HTTP/2.0\r\n${H}\r\n"
bad "HTTP/3.1 request line" 505 "GET /strict-16 HTTP/3.1\r\n${H}\r\n"
bad "unknown expectation" 417 "GET /strict-17 HTTP/1.1\r\n${H}Expect: teapot\r\n\r\n"
bad "CONNECT" 501 "CONNECT strict-18:443 HTTP/1.1\r\nHost: strict-18:443\r\n\r\n"
bad "a target that is not a path" 400 "GET strict-19 HTTP/1.1\r\n${H}\r\n"
bad "a chunk size line ended by a bare LF" 400 \
	"POST /strict-20 HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n3\nabc\r\n0\r\n\r\n"
bad "a chunk not followed by CRLF" 400 \
	"POST /strict-22 HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n3\r\nabcX\r\n0\r\n\r\n"
bad "a space in the target" 400 "GET /strict-21 x HTTP/1.1\r\n${H}\r\n"
check_eq "an upstream's early answer: the unread body is never parsed as requests" "413 closed" \
	"$($PY $CL early $P_MAIN)"
check_eq "... none of them reached an upstream" 0 "$(seen A smuggled=1)"
check_eq "none of the refused requests reached an upstream" "0 0" \
	"$(seen A strict-) $(seen B strict-)"

# ---- the access log ------------------------------------------------------------
C -o /dev/null -H 'X-Request-Id: log-check-1' "$M/echo?log=1"
logline() { grep -F '"request_id":"log-check-1"' "$TMP/access.log"; }
check "the access log gets a JSON line for the request" wait_for 5 logline
check_eq "... with its fields" "GET /echo?log=1 200 default 127.0.0.1:$P_A 127.0.0.1" \
	"$(logline | python3 -c 'import json, sys
j = json.loads(sys.stdin.readline())
print(j["method"], j["uri"], j["status"], j["route"], j["upstream"], j["client"])')"
errline() { grep -F '"uri":"/strict-14"' "$TMP/access.log"; }
check "... and a line for a refused request" wait_for 5 errline
mv "$TMP/access.log" "$TMP/access.log.1"
kill -USR1 $MAIN
reopened() { [ -f "$TMP/access.log" ]; }
check "SIGUSR1 reopens the access log after rotation" wait_for 5 reopened
C -o /dev/null -H 'X-Request-Id: log-check-2' "$M/echo?log=2"
rotated() { grep -qF '"request_id":"log-check-2"' "$TMP/access.log"; }
check "... and the next lines go to the new file" wait_for 5 rotated

# ---- limits and client timeouts: a strict weir -------------------------------
cat >"$TMP/strict.yaml" <<EOF
workers: 1
limits: {max_header_size: 1k, max_headers: 10, max_uri: 256, max_body: 1k}
timeouts: {client_header: 500ms, client_body: 500ms, keepalive: 500ms, send: 1s, shutdown: 5s}
listeners: [127.0.0.1:$P_STRICT]
upstreams:
  a: {nodes: [127.0.0.1:$P_A]}
routes:
  - {path: /*, upstream: a}
EOF
start_weir strict -c "$TMP/strict.yaml"
STRICT=$WPID
lim() { check_eq "$1: $2" "$2 closed" "$($PY $CL send $P_STRICT "$3")"; }
lim "a target longer than max_uri" 414 "GET /limit-1/$(printf 'u%.0s' $(seq 300)) HTTP/1.1\r\n${H}\r\n"
lim "more header fields than max_headers" 431 \
	"GET /limit-2 HTTP/1.1\r\n${H}$(for i in $(seq 10); do printf 'X-H%d: v\\r\\n' $i; done)\r\n"
lim "a head larger than max_header_size" 431 \
	"GET /limit-3 HTTP/1.1\r\n${H}X-Big: $(printf 'v%.0s' $(seq 1500))\r\n\r\n"
lim "a Content-Length above max_body" 413 \
	"POST /limit-4 HTTP/1.1\r\n${H}Content-Length: 2000\r\n\r\n"
lim "a chunked body above max_body" 413 \
	"POST /limit-5 HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n5dc\r\n$(printf 'b%.0s' $(seq 1500))\r\n0\r\n\r\n"
check_eq "a head still growing past max_header_size: 431" "431 closed" \
	"$($PY $CL send $P_STRICT "GET /limit-6 HTTP/1.1\r\n${H}X-Big: $(printf 'v%.0s' $(seq 1500))" 10)"
check_eq "a request within the limits passes" "200" \
	"$(code -X POST -d "$(printf 'b%.0s' $(seq 1000))" http://127.0.0.1:$P_STRICT/echo)"
check_eq "none of them reached the upstream" 0 "$(seen A /limit-)"
check_eq "a head that stalls: 408" "408 closed" \
	"$($PY $CL send $P_STRICT "GET /stall-1 HTTP/1.1\r\n${H}" 10)"
check_eq "a body that stalls: 408" "408 closed" \
	"$($PY $CL send $P_STRICT "POST /stall-2 HTTP/1.1\r\n${H}Content-Length: 100\r\n\r\n0123456789" 10)"
check_eq "an idle keepalive connection is closed" "200 closed" \
	"$($PY $CL idle $P_STRICT 10 | cut -d' ' -f1-2)"
check_eq "a connection that never sends is closed" "closed" "$($PY $CL hold $P_STRICT 10)"
check_eq "a client that stops reading is cut off after the send timeout" "cut" \
	"$($PY $CL stall-read $P_STRICT 52428800 3)"
check_eq "... and the upstream connection is not reused half-read" "200 A" \
	"$(C -o /dev/null -w '%{http_code} %header{x-name}' http://127.0.0.1:$P_STRICT/echo)"
check_eq "a client that goes away half-way through a download (one worker)" "aborted 200 A" \
	"$($PY $CL abort $P_STRICT down) $(C -o /dev/null -w '%{http_code} %header{x-name}' http://127.0.0.1:$P_STRICT/echo)"

# ---- graceful stop ---------------------------------------------------------------
# timeouts.shutdown is 5 s: a 2 s request finishes, a WebSocket is cut.
$PY $CL ws-hold $P_STRICT 30 >"$TMP/ws.out" &
WSP=$!
C -o "$TMP/slow.out" -w '%{http_code}' "http://127.0.0.1:$P_STRICT/slow-head?ms=2000&graceful=1" \
	>"$TMP/slow.code" &
CURLP=$!
in_flight() { [ "$(seen A graceful=1)" -ge 1 ] && [ "$(seen A /ws?hold=1)" -ge 1 ]; }
wait_for 10 in_flight || fail "the slow request or the WebSocket did not reach the upstream"
kill -TERM $STRICT
refused() { ! port_in_use $P_STRICT; }
check "after SIGTERM new connections are refused" wait_for 2 refused
wait $CURLP
check_eq "the request in flight at SIGTERM completes" "200 slow-head?ms=2000&graceful=1" \
	"$(cat "$TMP/slow.code") $(jf target <"$TMP/slow.out" | cut -d/ -f2)"
gone() { ! kill -0 $STRICT; }
check "weir stops by the shutdown deadline with a WebSocket still open" wait_for 15 gone
kill -9 $STRICT 2>/dev/null
RC=0; wait $STRICT || RC=$?
check_eq "weir exits 0 after a graceful stop" 0 $RC
wait $WSP
check_eq "the WebSocket was closed at the deadline" "101 closed" "$(cat "$TMP/ws.out")"
check "weir says it stopped" grep -q 'weir: stopped' "$TMP/strict.err"

# ---- metrics -----------------------------------------------------------------------
# A weir of its own, so the counts are exactly the requests below. The XDP
# layer's stats map is stood in for by one bpftool pins in a bpffs directory
# of the test's own (the real pipeline's counts are tested in tests/e2e).
PIN=/sys/fs/bpf/weir-proxy-test-$$	# bpffs names may not hold a "."
CLEANUP_PATHS+=("$PIN")
met_conf() { # ROUTE-LINES...
	{ cat <<EOF
workers: 2
listeners: [127.0.0.1:$P_MET]
metrics: {listen: 127.0.0.1:$P_PROM, path: /metrics, xdp_pin_dir: $PIN}
upstreams:
  a: {nodes: [127.0.0.1:$P_A]}
  dead_a:
    nodes: [127.0.0.1:$P_DEAD, 127.0.0.1:$P_A]
    health: {max_fails: 1, window: 1h, eject: 1h}
    retries: 0
routes:
EOF
	  printf '%s\n' "$@"; } >"$TMP/met.yaml.new"
	mv "$TMP/met.yaml.new" "$TMP/met.yaml"
}
met_conf '  - {id: ra, path: /ra/*, upstream: a, rewrite: {strip_prefix: /ra}}' \
	'  - {id: rb, path: /rb/*, upstream: a, rewrite: {strip_prefix: /rb}}' \
	'  - {id: rdead, path: /rdead/*, upstream: dead_a, rewrite: {strip_prefix: /rdead}}'
start_weir met -c "$TMP/met.yaml"
MET=$WPID
MU=http://127.0.0.1:$P_MET
check "weir says where its metrics are" grep -q "metrics on http://127.0.0.1:$P_PROM/metrics" \
	"$TMP/met.err"
head -c 1000 /dev/urandom >"$TMP/body1k"
codes=$(for i in 1 2 3 4 5 6; do code $MU/ra/echo; echo; done
	code -X POST --data-binary @"$TMP/body1k" $MU/ra/echo; echo
	for i in 1 2 3; do code $MU/rb/status/404; echo; done
	code $MU/nowhere; echo)
check_eq "metrics: the requests were answered" "7x200 4x404" \
	"$(echo $codes | tr ' ' '\n' | uniq -c | awk '{printf "%sx%s ", $1, $2}' | sed 's/ $//')"
check_eq "metrics: a scrape answers 200" 200 "$(scrape $P_PROM)"
check "metrics: the exposition is valid (TYPE for every sample, names, histograms)" \
	$PROM check "$TMP/prom.txt"
check_eq "metrics: requests by route and status class" "7 3 1 absent absent" "$(pget \
	'weir_http_requests_total{route="ra",code="2xx"}' 'weir_http_requests_total{route="rb",code="4xx"}' \
	'weir_http_requests_total{route="",code="4xx"}' 'weir_http_requests_total{route="ra",code="4xx"}' \
	'weir_http_requests_total{route="rdead",code="5xx"}')"
check_eq "metrics: latency histograms count every request, upstream ones those that went up" \
	"7 3 7 3 1 absent" "$(pget 'weir_http_request_duration_seconds_count{route="ra"}' \
	'weir_http_request_duration_seconds_count{route="rb"}' \
	'weir_http_upstream_duration_seconds_count{route="ra"}' \
	'weir_http_upstream_duration_seconds_count{route="rb"}' \
	'weir_http_request_duration_seconds_count{route=""}' \
	'weir_http_upstream_duration_seconds_count{route=""}')"
check_eq "metrics: request body bytes by route" "1000" \
	"$(pget 'weir_http_request_body_bytes_total{route="ra"}')"
check_ge "metrics: response bytes by route" 700 \
	"$(pget 'weir_http_response_bytes_total{route="ra"}')"
check_eq "metrics: every upstream node up, no XDP series without pins" "1 1 absent absent" \
	"$(pget "weir_upstream_node_up{upstream=\"dead_a\",node=\"127.0.0.1:$P_DEAD\"}" \
		"weir_upstream_node_up{upstream=\"a\",node=\"127.0.0.1:$P_A\"}" \
		'weir_xdp_packets_total{reason="passed"}' 'weir_xdp_bytes_total{reason="passed"}')"
check_ge "metrics: connections accepted, summed over workers" 11 \
	"$($PROM sum "$TMP/prom.txt" weir_connections_accepted_total)"
check_eq "metrics: config generation 1, no reload yet" "1 0 0 1" "$(pget weir_config_generation \
	'weir_config_reloads_total{result="success"}' 'weir_config_reloads_total{result="failure"}' \
	weir_config_last_reload_successful)"
# Each worker's first pick of dead_a is the dead node (round robin starts at
# the first); one failure ejects it there.
for i in 1 2 3 4 5 6; do code $MU/rdead/echo >/dev/null; done
scrape $P_PROM >/dev/null
check_eq "metrics: a node that failed is reported ejected, the other up" "0 1" \
	"$(pget "weir_upstream_node_up{upstream=\"dead_a\",node=\"127.0.0.1:$P_DEAD\"}" \
		"weir_upstream_node_up{upstream=\"dead_a\",node=\"127.0.0.1:$P_A\"}")"
check_ge "... by at least one worker" 1 "$(pget \
	"weir_upstream_node_ejected_workers{upstream=\"dead_a\",node=\"127.0.0.1:$P_DEAD\"}")"
mkdir -p "$PIN"
bpftool map create "$PIN/weir_stats" type percpu_array key 4 value 16 entries 14 name weir_stats &&
	bpftool map update pinned "$PIN/weir_stats" key 3 0 0 0 \
		value 5 0 0 0 0 0 0 0 44 1 0 0 0 0 0 0 ||
	fail "bpftool could not pin a stand-in weir_stats map"
NCPU=$(bpftool -j map lookup pinned "$PIN/weir_stats" key 3 0 0 0 |
	python3 -c 'import json, sys; print(len(json.load(sys.stdin)["values"]))')
scrape $P_PROM >/dev/null
check_eq "metrics: the XDP counters of a pinned weir_stats map, summed over CPUs" \
	"$((5 * NCPU)) $((300 * NCPU)) 0" "$(pget 'weir_xdp_packets_total{reason="blocklisted"}' \
	'weir_xdp_bytes_total{reason="blocklisted"}' 'weir_xdp_packets_total{reason="passed"}')"
check "metrics: ... and the exposition is still valid" $PROM check "$TMP/prom.txt"
check "metrics: the Grafana dashboard in examples/ queries only metrics weir serves" \
	$PROM dashboard "$TMP/prom.txt" examples/grafana-weir.json
check_eq "metrics: another path is 404, POST is 405" "404 405" \
	"$(code http://127.0.0.1:$P_PROM/other) $(code -X POST http://127.0.0.1:$P_PROM/metrics)"
# A reload: a route that stays keeps its counts, a removed one goes, a new one
# starts from its first request.
met_conf '  - {id: ra, path: /ra/*, upstream: a, rewrite: {strip_prefix: /ra}}' \
	'  - {id: rc, path: /rc/*, upstream: a, rewrite: {strip_prefix: /rc}}'
kill -HUP $MET
met_reloaded() { grep -q 'weir: reloaded' "$TMP/met.err"; }
check "metrics: SIGHUP reloads" wait_for 5 met_reloaded
code $MU/ra/echo >/dev/null
code $MU/rc/echo >/dev/null
scrape $P_PROM >/dev/null
check_eq "metrics: after a reload: kept route 8, removed route gone, new route 1" \
	"8 absent 1 2 1 1" "$(pget 'weir_http_requests_total{route="ra",code="2xx"}' \
	'weir_http_requests_total{route="rb",code="4xx"}' 'weir_http_requests_total{route="rc",code="2xx"}' \
	weir_config_generation 'weir_config_reloads_total{result="success"}' \
	weir_config_last_reload_successful)"
echo '  - {path: /x, upstream: nosuch}' >>"$TMP/met.yaml"
kill -HUP $MET
met_failed() { grep -q 'reload failed' "$TMP/met.err"; }
check "metrics: a bad reload fails" wait_for 5 met_failed
scrape $P_PROM >/dev/null
check_eq "metrics: ... and is counted: generation 2, 1 failure, last reload not successful" \
	"2 1 0" "$(pget weir_config_generation 'weir_config_reloads_total{result="failure"}' \
	weir_config_last_reload_successful)"
check_stopped "metrics: weir exits 0 on SIGTERM" $MET
rm -rf "$PIN"

# ---- active health checks --------------------------------------------------------
# A weir of its own on the metrics weir's ports. Upstream A's /healthz fails
# while $TMP/A.unhealthy exists, though A serves everything else: requests
# must stop going to it all the same, and come back once it is healthy.
# Passive health is off for `ab`, so only the active checks decide. Probes
# run every 300 ms; every wait is a bounded poll on an outcome.
hc_conf() { # AB-NODES TCP-NODES
	cat >"$TMP/hc.yaml.new" <<EOF
workers: 2
listeners: [127.0.0.1:$P_MET]
metrics: {listen: 127.0.0.1:$P_PROM}
upstreams:
  ab:
    nodes: [$1]
    health: {max_fails: 0}
    health_check: {path: /healthz, interval: 300ms, timeout: 300ms, healthy_threshold: 2, unhealthy_threshold: 2}
  tcp:
    nodes: [$2]
    health_check: {type: tcp, interval: 300ms, timeout: 300ms, unhealthy_threshold: 1}
routes:
  - {id: ab, path: /ab/*, upstream: ab, rewrite: {strip_prefix: /ab}}
  - {id: tcp, path: /tcp/*, upstream: tcp, rewrite: {strip_prefix: /tcp}}
EOF
	mv "$TMP/hc.yaml.new" "$TMP/hc.yaml"
}
hc_conf "127.0.0.1:$P_A, 127.0.0.1:$P_B" "127.0.0.1:$P_DEAD, 127.0.0.1:$P_C"
start_weir hc -c "$TMP/hc.yaml"
HC=$WPID
HU=http://127.0.0.1:$P_MET
# hval SERIES: its value in a fresh scrape
hval() { scrape $P_PROM >/dev/null && pget "$1"; }
healthy() { echo "weir_upstream_node_healthy{upstream=\"$1\",node=\"127.0.0.1:$2\"}"; }
node_up() { echo "weir_upstream_node_up{upstream=\"$1\",node=\"127.0.0.1:$2\"}"; }
is() { [ "$(hval "$1")" = "$2" ]; }
probed() { [ "$(seen_target "$1" "/healthz*")" -ge "$2" ]; }
check "health: both nodes are probed at /healthz" wait_for 15 eval 'probed A 2 && probed B 2'
check "health: the probe says Host, Connection: close and who it is" \
	grep -qF "[\"Host\", \"127.0.0.1:$P_A\"], [\"User-Agent\", \"weir-health-check\"], [\"Accept\", \"*/*\"], [\"Connection\", \"close\"]" "$TMP/A.log"
check "health: a TCP check takes a closed port down" wait_for 15 is "$(healthy tcp $P_DEAD)" 0
check_eq "health: ... the open one stays healthy, node_up follows, checked upstreams only" \
	"1 0 1 absent" "$(pget "$(healthy tcp $P_C)" "$(node_up tcp $P_DEAD)" "$(node_up tcp $P_C)" \
	'weir_upstream_node_healthy{upstream="a",node="127.0.0.1:'$P_A'"}')"
check "health: ... and says so on stderr" \
	grep -q "weir: health check: upstream tcp node 127.0.0.1:$P_DEAD is down: Connection refused" \
	"$TMP/hc.err"
check_eq "health: requests go to the open port only, none fails" "10x200 C" \
	"$(for i in $(seq 10); do C -o /dev/null -w '%{http_code} %header{x-name}\n' $HU/tcp/echo; done |
	sort | uniq -c | awk '{printf "%sx%s %s", $1, $2, $3}')"
check_eq "health: both HTTP nodes healthy" "1 1" "$(hval "$(healthy ab $P_A)") $(pget "$(healthy ab $P_B)")"
touch "$TMP/A.unhealthy"
check "health: a node whose /healthz answers 503 is taken down" wait_for 15 is "$(healthy ab $P_A)" 0
check "health: ... and says so on stderr" \
	grep -q "weir: health check: upstream ab node 127.0.0.1:$P_A is down: status 503" "$TMP/hc.err"
check_eq "health: ... node_up 0, the other node healthy and up" "0 1 1" \
	"$(pget "$(node_up ab $P_A)" "$(healthy ab $P_B)" "$(node_up ab $P_B)")"
A0=$(seen_target A "/echo*")
check_eq "health: every request goes to the healthy node, none fails" "20x200 B" \
	"$(for i in $(seq 20); do C -o /dev/null -w '%{http_code} %header{x-name}\n' $HU/ab/echo?hc=1; done |
	sort | uniq -c | awk '{printf "%sx%s %s", $1, $2, $3}')"
check_eq "health: ... the node that is down saw none of them" "$A0" "$(seen_target A "/echo*")"
# A reload keeps the verdicts of the nodes that stay: right after it, A is
# still down (it takes two good probes to come back) and so is the dead port.
hc_conf "127.0.0.1:$P_B, 127.0.0.1:$P_A" "127.0.0.1:$P_C, 127.0.0.1:$P_DEAD"
kill -HUP $HC
hc_reloaded() { [ "$(grep -c 'weir: reloaded' "$TMP/hc.err")" -ge "$1" ]; }
check "health: SIGHUP reloads" wait_for 10 hc_reloaded 1
check_eq "health: ... and the nodes that stay keep their verdicts" "0 1 0" \
	"$(hval "$(healthy ab $P_A)") $(pget "$(healthy ab $P_B)" "$(healthy tcp $P_DEAD)")"
rm -f "$TMP/A.unhealthy"
check "health: the node comes back once /healthz passes again" wait_for 15 is "$(healthy ab $P_A)" 1
check "health: ... and says so" \
	grep -q "weir: health check: upstream ab node 127.0.0.1:$P_A is healthy" "$TMP/hc.err"
check_eq "health: ... and takes requests again" "20x200" \
	"$(for i in $(seq 20); do code $HU/ab/echo?hc=2; echo; done | sort | uniq -c | awk '{printf "%sx%s", $1, $2}')"
check_ge "health: ... some of them" 1 "$(seen_target A "/echo?hc=2*")"
# A node removed is probed no more: once B has been probed three more times,
# A has had at most the one probe that was in flight at the reload.
hc_conf "127.0.0.1:$P_B" "127.0.0.1:$P_C"
kill -HUP $HC
check "health: SIGHUP removing a node reloads" wait_for 10 hc_reloaded 2
NA=$(seen_target A "/healthz*") NB=$(seen_target B "/healthz*")
check "health: ... the node that stays is still probed" wait_for 15 probed B $((NB + 3))
check "health: ... the removed one is not" test "$(seen_target A "/healthz*")" -le $((NA + 1))
check "health: ... and is gone from the metrics" is "$(healthy ab $P_A)" absent
check_stopped "health: weir exits 0 on SIGTERM" $HC

# ---- reloads -----------------------------------------------------------------------
reload_conf() { # UPSTREAM [MORE LISTENERS]
	local up=$1; shift
	cat >"$TMP/reload.yaml.new" <<EOF
workers: 2
listeners: [$(for l in 127.0.0.1:$P_RELOAD "$@"; do printf '%s, ' $l; done | sed 's/, $//')]
upstreams:
  a: {nodes: [127.0.0.1:$P_A]}
  b: {nodes: [127.0.0.1:$P_B]}
routes:
  - {id: all, path: /*, upstream: $up}
EOF
	mv "$TMP/reload.yaml.new" "$TMP/reload.yaml"
}
reload_conf a
start_weir reload -c "$TMP/reload.yaml"
RELOAD=$WPID
R=http://127.0.0.1:$P_RELOAD
name_is() { [ "$(C -o /dev/null -w '%header{x-name}' $R/echo)" = "$1" ]; }
check "before the reload: upstream A" name_is A
C -o /dev/null -w '%{http_code} %header{x-name}' "$R/slow-head?ms=1500&inflight=1" \
	>"$TMP/inflight.code" &
IFP=$!
inflight() { [ "$(seen A inflight=1)" -ge 1 ]; }
wait_for 10 inflight || fail "the slow request did not reach the upstream"
cat >"$TMP/reload.yaml" <<EOF
workers: 2
listeners: [127.0.0.1:$P_RELOAD]
upstreams:
  b: {nodes: [127.0.0.1:$P_B]}
routes:
  - {id: all, path: /*, upstream: b}
EOF
kill -HUP $RELOAD
check "SIGHUP with a changed route: the new route serves" wait_for 5 name_is B
wait $IFP
check_eq "a request in flight across the reload ends on its old upstream (since removed)" \
	"200 A" "$(cat "$TMP/inflight.code")"
printf 'listeners: [127.0.0.1:%s]\nupstreams:\n  a: {nodes: [127.0.0.1:%s]}\nroutes:\n  - path: /*\n    upstream: a\n    retries: 3\n' \
	$P_RELOAD $P_A >"$TMP/reload.yaml"
kill -HUP $RELOAD
reload_failed() { grep -q "reload failed, configuration unchanged: $TMP/reload.yaml:7: routes\\[0\\]\\.retries" "$TMP/reload.err"; }
check "SIGHUP with a bad file: stderr names the file, line and field" wait_for 5 reload_failed
check "... and the running configuration stays" name_is B
check "... and weir still runs" kill -0 $RELOAD
reload_conf b 127.0.0.1:$P_X
kill -HUP $RELOAD
x_is() { [ "$(C -o /dev/null -w '%header{x-name}' http://127.0.0.1:$P_X/echo)" = "$1" ]; }
check "SIGHUP adding a listener: it serves" wait_for 5 x_is B
reload_conf b
kill -HUP $RELOAD
x_refused() { ! port_in_use $P_X; }
check "SIGHUP removing it: its port refuses" wait_for 5 x_refused
check "... and the others still serve" name_is B

reload_conf a
HUPS0=$(grep -c 'weir: reloaded' "$TMP/reload.err")
wrk -t1 -c20 -d3s $R/echo >"$TMP/wrk.out" 2>&1 &
WRKP=$!
for i in 1 2 3 4 5; do
	sleep 0.4
	if [ $((i % 2)) = 1 ]; then reload_conf b; else reload_conf a; fi
	kill -HUP $RELOAD
done
wait $WRKP
check "wrk ran requests through the reloads" \
	grep -Eq '^ +[0-9]+ requests in' "$TMP/wrk.out"
check "5 SIGHUPs under wrk load: no non-2xx answer" bash -c "! grep -q 'Non-2xx' '$TMP/wrk.out'"
check "5 SIGHUPs under wrk load: no socket error" bash -c "! grep -q 'Socket errors' '$TMP/wrk.out'"
five_reloads() { [ $(($(grep -c 'weir: reloaded' "$TMP/reload.err") - HUPS0)) -eq 5 ]; }
check "... and all 5 reloads were applied" wait_for 5 five_reloads
grep -E 'requests in|Non-2xx|Socket errors' "$TMP/wrk.out" | sed 's/^/# wrk: /'
# Reloads while connections come and go: listeners are swapped in the same
# batches of events that accept on them (the sanitizer run checks memory).
$PY $CL churn $P_RELOAD 3 >"$TMP/churn.out" &
CHURNP=$!
for i in $(seq 60); do kill -HUP $RELOAD; sleep 0.03; done
wait $CHURNP
check_eq "60 SIGHUPs while connections churn: weir serves on" "200" "$(code $R/echo)"
cat >"$TMP/reload.yaml" <<EOF
timeouts: {keepalive: 0}
listeners: [127.0.0.1:$P_RELOAD]
upstreams:
  a: {nodes: [127.0.0.1:$P_A]}
routes:
  - {path: /*, upstream: a}
EOF
kill -HUP $RELOAD
says_close() { C -D - -o /dev/null $R/echo | grep -qi '^connection: close'; }
check "keepalive 0: answers say Connection: close" wait_for 5 says_close
check_eq "... and each request gets a fresh connection, none reset" "200:1 200:1 200:1" \
	"$(C -v -w '%{http_code}:%{num_connects} ' -o /dev/null $R/echo -o /dev/null $R/echo \
		-o /dev/null $R/echo 2>"$TMP/curl.err" | sed 's/ $//')$(grep -o 'reset by peer' "$TMP/curl.err")"
check "weir (main) is still running" kill -0 $MAIN

check_stopped "both weirs exit 0 on SIGTERM" $MAIN $RELOAD
check_sanitizers
finish
