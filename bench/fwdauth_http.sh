#!/bin/bash
# bench/fwdauth_http.sh - the throughput cost of forward-auth through the
# real weir, beside nginx's auth_request doing the same job: every request
# asks an auth service (nginx answering 200 with X-User-Id), copies
# X-User-Id onto the request, and goes to the upstream (nginx answering 2
# bytes). Routes: weir without auth (plain), weir forward-auth without a
# cache (fa), with a cache (fa-cache: one token, so every request but the
# first is a hit), and nginx auth_request (its keepalive to both). wrk
# -t1 -c16 -d DURATION with one Authorization token, alternated A B C D over
# ROUNDS rounds in one run; medians of req/s and p99 latency, and the ratio
# weir fa / nginx auth_request.
#
#   BUILD=build bench/fwdauth_http.sh [PORT_BASE]    (default 26950: 26950-26953)
#
# One worker each (weir workers: 1; nginx worker_processes 1), access logs
# off, keepalive to the upstream and to the auth service on both sides.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
BASE=${1:-26950}
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-3s}
P_W=$BASE P_N=$((BASE + 1)) P_A=$((BASE + 2)) P_G=$((BASE + 3))
TMP=$(mktemp -d /tmp/weir-fabench.XXXXXX)
PIDS=()
trap 'for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done; wait 2>/dev/null; rm -rf "$TMP"' EXIT

ngx() { # NAME SERVER-BLOCKS: one nginx, one worker
	mkdir -p "$TMP/$1"
	cat >"$TMP/$1/nginx.conf" <<EOF
daemon off;
worker_processes 1;
pid $TMP/$1/nginx.pid;
error_log $TMP/$1/error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path $TMP/$1;
    $2
}
EOF
	nginx -p "$TMP/$1" -c "$TMP/$1/nginx.conf" -e "$TMP/$1/error.log" &
	PIDS+=($!)
}
# The upstream and the auth service, one nginx apart from the peer.
ngx back "server { listen 127.0.0.1:$P_N; location / { return 200 \"ok\"; } }
    server { listen 127.0.0.1:$P_A; keepalive_requests 100000;
             location /verify { add_header X-User-Id alice; return 200; } }"
# The peer: auth_request, keepalive to the auth service and the upstream.
ngx peer "upstream up { server 127.0.0.1:$P_N; keepalive 64; }
    upstream auth { server 127.0.0.1:$P_A; keepalive 64; }
    server {
        listen 127.0.0.1:$P_G;
        keepalive_requests 100000;
        location = /_auth {
            internal;
            proxy_pass http://auth/verify;
            proxy_http_version 1.1;
            proxy_set_header Connection \"\";
            proxy_pass_request_body off;
            proxy_set_header Content-Length \"\";
            proxy_set_header X-Forwarded-Uri \$request_uri;
        }
        location / {
            auth_request /_auth;
            auth_request_set \$uid \$upstream_http_x_user_id;
            proxy_set_header X-User-Id \$uid;
            proxy_http_version 1.1;
            proxy_set_header Connection \"\";
            proxy_pass http://up;
        }
    }"
cat >"$TMP/w.yaml" <<EOF
workers: 1
listeners: [127.0.0.1:$P_W]
upstreams:
  n: {nodes: [127.0.0.1:$P_N], keepalive: {size: 64}}
routes:
  - {id: plain, paths: [/plain], upstream: n}
  - {id: fa, paths: [/fa], upstream: n,
     plugins: {forward-auth: {uri: "http://127.0.0.1:$P_A/verify", keepalive: 64,
                              request_headers: [authorization], upstream_headers: [x-user-id]}}}
  - {id: fac, paths: [/fa-cache], upstream: n,
     plugins: {forward-auth: {uri: "http://127.0.0.1:$P_A/verify", keepalive: 64,
                              request_headers: [authorization], upstream_headers: [x-user-id],
                              cache: {ttl: 1h, key: [authorization]}}}}
EOF
"$BUILD/weir" -c "$TMP/w.yaml" 2>"$TMP/w.err" &
PIDS+=($!)
for _ in $(seq 100); do grep -q 'listening on' "$TMP/w.err" && break; sleep 0.05; done
for p in $P_N $P_A $P_G; do
	for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$p) 2>/dev/null && break; sleep 0.05; done
done
cat >"$TMP/r.lua" <<'EOF'
wrk.headers["Authorization"] = "Bearer bench-token"
done = function(summary, latency, requests)
  io.write(string.format("RESULT %.0f %.0f %d\n", summary.requests / (summary.duration / 1e6),
    latency:percentile(99), summary.errors.status))
end
EOF

declare -A url=([plain]=http://127.0.0.1:$P_W/plain [fa]=http://127.0.0.1:$P_W/fa
		[fa-cache]=http://127.0.0.1:$P_W/fa-cache [nginx]=http://127.0.0.1:$P_G/x)
kinds="plain fa fa-cache nginx"
declare -A rps=() p99=() errs=()
for r in $(seq "$ROUNDS"); do
	for kind in $kinds; do
		out=$(wrk -t1 -c16 -d"$DURATION" -s "$TMP/r.lua" "${url[$kind]}" | grep '^RESULT')
		read -r _ q l e <<<"$out"
		rps[$kind]="${rps[$kind]:-} $q"
		p99[$kind]="${p99[$kind]:-} $l"
		errs[$kind]=$(( ${errs[$kind]:-0} + e ))
	done
done
med() { tr ' ' '\n' <<<"$1" | grep . | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
echo "| route | req/s (median of $ROUNDS) | p99 µs | non-2xx |"
echo "|---|---|---|---|"
for kind in $kinds; do
	echo "| $kind | $(med "${rps[$kind]}") | $(med "${p99[$kind]}") | ${errs[$kind]} |"
done
echo "| weir fa / nginx auth_request | $(awk -v a="$(med "${rps[fa]}")" -v b="$(med "${rps[nginx]}")" \
	'BEGIN {printf "%.2f", a / b}') | | |"
echo "nginx $(nginx -v 2>&1 | sed 's/.*nginx\///'), wrk -t1 -c16 -d$DURATION, $ROUNDS rounds"
