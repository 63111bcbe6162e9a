#!/bin/bash
# bench/http/cache.sh - the proxy-cache plugin's worth, measured with wrk on
# 127.0.0.1: weir answering a route from its cache, the same route without
# the cache (proxied to the upstream every time), and nginx serving the file
# directly (the upstream itself: the ceiling of a cache in front of it).
#
#   BUILD=build bench/http/cache.sh [--quick]
#
# The upstream is nginx serving a 12-byte and a 100 KiB static file, one
# worker; weir runs one worker with two routes, /cached/* (proxy-cache,
# default_ttl 60s: the files carry no freshness of their own) and /plain/*.
# weir on CPU 1, wrk and nginx on CPU 0; 50 keepalive connections, one wrk
# thread. The three targets alternate over several rounds (A B C A B C ...)
# and the medians and ratios are reported; writes bench/results/cache.md
# (RESULTS=DIR to change). Full: 5 rounds x 5 s per run (~2.5 min); --quick:
# 2 rounds x 2 s. Bounded, and everything started is stopped on exit.
set -euo pipefail

cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
RESULTS=${RESULTS:-bench/results}
ROUNDS=5 SECS=5
[ "${1:-}" = "--quick" ] && ROUNDS=2 SECS=2
WEIR=$BUILD/weir
[ -x "$WEIR" ] || { echo "bench/http/cache.sh: $WEIR not built" >&2; exit 1; }
for t in nginx wrk taskset; do
	command -v $t >/dev/null || { echo "bench/http/cache.sh: $t not found" >&2; exit 1; }
done

TMP=$(mktemp -d /tmp/weircache.XXXXXX)
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

in_use() { (exec 3<>/dev/tcp/127.0.0.1/$1) 2>/dev/null; }
for try in $(seq 0 30); do
	P_NGX=$((24500 + (($$ + try * 7) % 240) * 2)) P_W=$((P_NGX + 1))
	in_use $P_NGX || in_use $P_W || break
done

mkdir -p "$TMP"/{body,proxy,fastcgi,uwsgi,scgi,www}
printf 'hello world\n' >"$TMP/www/small.txt"
head -c 102400 /dev/urandom >"$TMP/www/large.bin"
sed -e "s|@DIR@|$TMP|g" -e "s|@PORT@|$P_NGX|g" \
	-e 's|try_files /body.txt =404;||' bench/http/upstream.nginx.conf >"$TMP/nginx.conf"
taskset -c 0 nginx -p "$TMP" -c "$TMP/nginx.conf" -e "$TMP/error.log" &
PIDS+=($!)

cat >"$TMP/weir.yaml" <<EOF
workers: 1
listeners: [127.0.0.1:$P_W]
upstreams:
  up: {nodes: [127.0.0.1:$P_NGX]}
routes:
  - path: /cached/*
    upstream: up
    rewrite: {strip_prefix: /cached}
    plugins:
      proxy-cache: {default_ttl: 1h}
  - path: /plain/*
    upstream: up
    rewrite: {strip_prefix: /plain}
EOF
taskset -c 1 "$WEIR" -c "$TMP/weir.yaml" 2>"$TMP/weir.err" &
PIDS+=($!)
for _ in $(seq 100); do in_use $P_NGX && in_use $P_W && break; sleep 0.05; done
in_use $P_W || { echo "weir did not start: $(cat "$TMP/weir.err")" >&2; exit 1; }
for f in small.txt large.bin; do
	curl -sf -o /dev/null "http://127.0.0.1:$P_W/cached/$f"
	[ "$(curl -s -D - -o /dev/null "http://127.0.0.1:$P_W/cached/$f" |
		tr -d '\r' | awk -F': ' 'tolower($1) == "x-cache-status" {print $2}')" = HIT ] ||
		{ echo "bench/http/cache.sh: /cached/$f is not a HIT" >&2; exit 1; }
done

# rps URL: requests per second of one wrk run (non-2xx responses are errors).
rps() {
	taskset -c 0 timeout $((SECS + 10)) wrk -t1 -c50 -d${SECS}s -s bench/http/wrk_report.lua "$1" |
		python3 -c '
import json, sys
for line in sys.stdin:
    if line.startswith("WRKJSON "):
        j = json.loads(line[8:])
        bad = sum(j["errors"].values())
        print(0 if bad else round(j["requests"] * 1e6 / j["duration_us"]))'
}
median() { tr ' ' '\n' | sort -n | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }

{
	echo "# proxy-cache: req/s, cached vs proxied vs the upstream itself"
	echo
	echo "\`BUILD=$BUILD bench/http/cache.sh${1:+ $1}\`: wrk -t1 -c50 (keepalive), $ROUNDS rounds x ${SECS}s,"
	echo "targets alternated; weir 1 worker on CPU 1, wrk and nginx $(nginx -v 2>&1 | sed 's|.*/||') on CPU 0;"
	echo "load average when it started: $(cut -d' ' -f1-3 /proc/loadavg)."
	echo
	echo "| body | weir cached | weir proxied | nginx direct | cached/proxied | cached/nginx |"
	echo "|------|------------:|-------------:|-------------:|---------------:|-------------:|"
} >"$TMP/report.md"
for f in small.txt large.bin; do
	a="" b="" c=""
	for _ in $(seq $ROUNDS); do
		a="$a $(rps "http://127.0.0.1:$P_W/cached/$f")"
		b="$b $(rps "http://127.0.0.1:$P_W/plain/$f")"
		c="$c $(rps "http://127.0.0.1:$P_NGX/$f")"
	done
	A=$(echo $a | median) B=$(echo $b | median) C=$(echo $c | median)
	size=$([ $f = small.txt ] && echo "12 B" || echo "100 KiB")
	printf '| %s | %s | %s | %s | %.2f | %.2f |\n' "$size" "$A" "$B" "$C" \
		"$(echo "$A / $B" | bc -l)" "$(echo "$A / $C" | bc -l)" >>"$TMP/report.md"
	echo "# $size runs: cached [$a ] proxied [$b ] nginx [$c ]" >&2
done
mkdir -p "$RESULTS"
cp "$TMP/report.md" "$RESULTS/cache.md"
cat "$RESULTS/cache.md"
