#!/bin/bash
# bench/sign_http.sh - the throughput cost of body-crypto through the real
# weir: wrk POSTs of 1 KiB and 64 KiB to a route that streams the body
# (no plugin) and to one that holds, decrypts (AES-256-GCM) and encrypts the
# answer (body-crypto), alternated A B A B over ROUNDS rounds in one run;
# medians of req/s and p99 latency, and the ratio body-crypto / plain.
#
#   BUILD=build bench/sign_http.sh [PORT_BASE]    (default 26900: 26900-26901)
#
# One weir worker, keepalive to an nginx upstream that answers 2 bytes
# (`return 200`), wrk -t1 -c16 -d DURATION. The ciphertext is made once
# (body-crypto has no replay protection: the same sealed body is valid each
# time). Signatures are measured per call by build/bench_sign instead: wrk
# cannot sign each request with a fresh nonce.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
BASE=${1:-26900}
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-3s}
P_W=$BASE P_N=$((BASE + 1))
TMP=$(mktemp -d /tmp/weir-signbench.XXXXXX)
PIDS=()
trap 'for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done; wait 2>/dev/null; rm -rf "$TMP"' EXIT

mkdir -p "$TMP/ngx"
cat >"$TMP/ngx/nginx.conf" <<EOF
daemon off;
worker_processes 1;
pid $TMP/ngx/nginx.pid;
error_log $TMP/ngx/error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path $TMP/ngx;
    client_max_body_size 1m;
    client_body_buffer_size 128k;
    server { listen 127.0.0.1:$P_N; location / { return 200 "ok"; } }
}
EOF
nginx -p "$TMP/ngx" -c "$TMP/ngx/nginx.conf" -e "$TMP/ngx/error.log" &
PIDS+=($!)
KEY=$(head -c 32 /dev/urandom | base64)
cat >"$TMP/w.yaml" <<EOF
workers: 1
listeners: [127.0.0.1:$P_W]
upstreams:
  n: {nodes: [127.0.0.1:$P_N], keepalive: {size: 64}}
routes:
  - {id: plain, paths: [/plain], upstream: n}
  - id: enc
    paths: [/enc]
    upstream: n
    plugins:
      body-crypto: {keys: {k: "$KEY"}, max_body: 1m}
EOF
"$BUILD/weir" -c "$TMP/w.yaml" 2>"$TMP/w.err" &
PIDS+=($!)
for _ in $(seq 100); do grep -q 'listening on' "$TMP/w.err" && break; sleep 0.05; done

for size in 1024 65536; do
	head -c $size /dev/urandom >"$TMP/plain.$size"
	python3 - "$KEY" "$TMP/plain.$size" >"$TMP/enc.$size" <<'EOF'
import base64, os, sys
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
n = os.urandom(12)
sys.stdout.buffer.write(n + AESGCM(base64.b64decode(sys.argv[1])).encrypt(n, open(sys.argv[2], "rb").read(), None))
EOF
	for kind in plain enc; do
		cm=""
		[ $kind = plain ] && cm="--"
		cat >"$TMP/$kind.$size.lua" <<EOF
local f = io.open("$TMP/$kind.$size", "rb")
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/octet-stream"
$cm wrk.headers["X-Enc-Key-Id"] = "k"
done = function(summary, latency, requests)
  io.write(string.format("RESULT %.0f %.0f %d\n", summary.requests / (summary.duration / 1e6),
    latency:percentile(99), summary.errors.status))
end
EOF
	done
done

echo "| body | route | req/s (median of $ROUNDS) | p99 µs | non-2xx |"
echo "|---|---|---|---|---|"
for size in 1024 65536; do
	declare -A rps=() p99=() errs=()
	for r in $(seq "$ROUNDS"); do
		for kind in plain enc; do
			out=$(wrk -t1 -c16 -d"$DURATION" -s "$TMP/$kind.$size.lua" \
				http://127.0.0.1:$P_W/$kind | grep '^RESULT')
			read -r _ q l e <<<"$out"
			rps[$kind]="${rps[$kind]:-} $q"
			p99[$kind]="${p99[$kind]:-} $l"
			errs[$kind]=$(( ${errs[$kind]:-0} + e ))
		done
	done
	med() { tr ' ' '\n' <<<"$1" | grep . | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
	for kind in plain enc; do
		echo "| $size | $kind | $(med "${rps[$kind]}") | $(med "${p99[$kind]}") | ${errs[$kind]} |"
	done
	echo "| $size | enc/plain | $(awk -v a="$(med "${rps[enc]}")" -v b="$(med "${rps[plain]}")" \
		'BEGIN {printf "%.2f", a / b}') | | |"
	unset rps p99 errs
done
