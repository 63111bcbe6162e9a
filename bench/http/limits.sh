#!/bin/bash
# bench/http/limits.sh - how exactly weir's rate limits admit what they are
# configured to, beside nginx's limit_req at the same rate (the peer).
#
#   BUILD=build bench/http/limits.sh [SECONDS] [ROUNDS]     (default 5 s x 3)
#
# On 127.0.0.1 only: nginx as the upstream (a fixed 2-byte answer), weir
# (2 workers) with three limited routes, and nginx as a second proxy with
# limit_req. wrk (1 thread, 16 keepalive connections, all from one source)
# offers far more than the limits admit; admitted = responses that are 2xx.
# Cases, alternated weir/nginx each round, medians reported:
#   weir limit-req     rate 500/s, burst 0
#   nginx limit_req    rate=500r/s, no burst (the peer of the one above)
#   weir limit-req     rate 500/s, burst 50 (nodelay)
#   nginx limit_req    rate=500r/s, burst=50 nodelay
#   weir limit-count   count 50 per 100 ms, fixed windows   (500/s)
#   weir limit-count   count 50 per 100 ms, sliding         (500/s)
# With burst 0 a leaky bucket loses whatever time a worker spends away from
# its loop (a scheduling gap of a few ms on a shared 2-core machine is a lost
# admission), nginx's as much as weir's; a small burst absorbs that. The
# burst cases admit rate + (burst + 1) / SECONDS by design.
# Writes bench/results/limits.md and limits.json (RESULTS=DIR to change).
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
D=${1:-5}
ROUNDS=${2:-3}
RATE=500
RESULTS=${RESULTS:-bench/results}
for t in nginx wrk; do command -v $t >/dev/null || { echo "$t not found" >&2; exit 1; }; done
[ -x "$BUILD/weir" ] || { echo "$BUILD/weir not built" >&2; exit 1; }

TMP=$(mktemp -d /tmp/weir-limbench.XXXXXX)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null; rm -rf "$TMP"; }
trap cleanup EXIT

in_use() { (exec 3<>/dev/tcp/127.0.0.1/$1) 2>/dev/null; }
for try in $(seq 0 30); do
	BASE=$((22900 + (($$ + try) % 30) * 3))
	free=1
	for p in $BASE $((BASE + 1)) $((BASE + 2)); do in_use $p && free=0 && break; done
	[ $free = 1 ] && break
done
P_UP=$BASE P_W=$((BASE + 1)) P_N=$((BASE + 2))

mkdir -p "$TMP/ngx"
cat >"$TMP/ngx/nginx.conf" <<EOF
daemon off;
worker_processes 1;
pid $TMP/ngx/nginx.pid;
error_log $TMP/ngx/error.log crit;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path $TMP/ngx;
    proxy_temp_path $TMP/ngx;
    fastcgi_temp_path $TMP/ngx;
    uwsgi_temp_path $TMP/ngx;
    scgi_temp_path $TMP/ngx;
    upstream up { server 127.0.0.1:$P_UP; keepalive 64; }
    limit_req_zone \$binary_remote_addr zone=z:1m rate=${RATE}r/s;
    limit_req_zone \$binary_remote_addr zone=b:1m rate=${RATE}r/s;
    limit_req_status 429;
    server { listen 127.0.0.1:$P_UP; location / { return 200 "ok"; } }
    server {
        listen 127.0.0.1:$P_N;
        location / { limit_req zone=z; proxy_http_version 1.1;
                     proxy_set_header Connection ""; proxy_pass http://up; }
        location /burst { limit_req zone=b burst=$((RATE / 10)) nodelay; proxy_http_version 1.1;
                     proxy_set_header Connection ""; proxy_pass http://up; }
    }
}
EOF
nginx -p "$TMP/ngx" -c "$TMP/ngx/nginx.conf" -e "$TMP/ngx/error.log" &
PIDS+=($!)
cat >"$TMP/weir.yaml" <<EOF
workers: 2
listeners: [127.0.0.1:$P_W]
upstreams: {up: {nodes: [127.0.0.1:$P_UP]}}
routes:
  - {id: req, path: /req, upstream: up, plugins: {limit-req: {rate: $RATE}}}
  - {id: burst, path: /burst, upstream: up,
     plugins: {limit-req: {rate: $RATE, burst: $((RATE / 10)), nodelay: true}}}
  - {id: fixed, path: /fixed, upstream: up,
     plugins: {limit-count: {count: $((RATE / 10)), time_window: 100ms}}}
  - {id: sliding, path: /sliding, upstream: up,
     plugins: {limit-count: {count: $((RATE / 10)), time_window: 100ms, policy: sliding}}}
EOF
"$BUILD/weir" -c "$TMP/weir.yaml" 2>"$TMP/weir.err" &
PIDS+=($!)
for _ in $(seq 100); do in_use $P_W && in_use $P_N && break; sleep 0.1; done

# run URL: "ADMITTED:OFFERED" per second over D seconds
run() {
	wrk -t1 -c16 -d${D}s "$1" >"$TMP/wrk.out" 2>&1
	python3 - "$TMP/wrk.out" "$D" <<'EOF'
import re, sys
t = open(sys.argv[1]).read()
total = int(re.search(r'(\d+) requests in', t).group(1))
secs = float(re.search(r'requests in ([\d.]+)s', t).group(1))
m = re.search(r'Non-2xx or 3xx responses: (\d+)', t)
bad = int(m.group(1)) if m else 0
print(f"{(total - bad) / secs:.1f}:{total / secs:.1f}")
EOF
}

declare -A R
CASES="weir-limit-req nginx-limit_req weir-limit-req-burst nginx-limit_req-burst
	weir-limit-count-fixed weir-limit-count-sliding"
url_of() { case $1 in
	weir-limit-req) echo http://127.0.0.1:$P_W/req ;;
	nginx-limit_req) echo http://127.0.0.1:$P_N/ ;;
	weir-limit-req-burst) echo http://127.0.0.1:$P_W/burst ;;
	nginx-limit_req-burst) echo http://127.0.0.1:$P_N/burst ;;
	weir-limit-count-fixed) echo http://127.0.0.1:$P_W/fixed ;;
	weir-limit-count-sliding) echo http://127.0.0.1:$P_W/sliding ;;
	esac; }
for r in $(seq "$ROUNDS"); do
	for c in $CASES; do
		R[$c]+="$(run "$(url_of $c)"),"
		sleep 0.2
	done
done

python3 - "$RATE" "$D" "$ROUNDS" "$RESULTS" "$(wrk --version 2>&1 | head -1)" \
	"$(nginx -v 2>&1)" $(for c in $CASES; do echo "$c=${R[$c]}"; done) <<'EOF'
import json, statistics, sys
rate, d, rounds, out, wrkv, ngxv = sys.argv[1:7]
rate = float(rate)
rows = []
for arg in sys.argv[7:]:
    name, runs = arg.split("=")
    pairs = [tuple(map(float, p.split(":"))) for p in runs.strip(",").split(",")]
    adm = statistics.median(p[0] for p in pairs)
    off = statistics.median(p[1] for p in pairs)
    rows.append({"case": name, "configured_per_s": rate, "admitted_per_s": adm,
                 "offered_per_s": off, "error_pct": 100 * (adm - rate) / rate,
                 "runs": [{"admitted_per_s": a, "offered_per_s": o} for a, o in pairs]})
md = ["# Rate-limit accuracy", "",
      f"wrk -t1 -c16 -d{d}s, {rounds} rounds alternated, medians; one source address; "
      f"upstream nginx `return 200`; weir 2 workers; {wrkv}; {ngxv}.", "",
      "| case | configured/s | admitted/s | error | offered/s |",
      "|---|---:|---:|---:|---:|"]
for r in rows:
    md.append(f"| {r['case']} | {r['configured_per_s']:.0f} | {r['admitted_per_s']:.1f} | "
              f"{r['error_pct']:+.1f}% | {r['offered_per_s']:.0f} |")
text = "\n".join(md) + "\n"
print(text)
import os
os.makedirs(out, exist_ok=True)
open(os.path.join(out, "limits.md"), "w").write(text)
json.dump(rows, open(os.path.join(out, "limits.json"), "w"), indent=1)
EOF
