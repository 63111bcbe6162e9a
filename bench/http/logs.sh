#!/bin/bash
# bench/http/logs.sh - what the access log costs: wrk through `weir` with the
# log off, to a file, and shipped to an HTTP collector, in one run.
#
#   BUILD=build bench/http/logs.sh [--quick]
#
# On 127.0.0.1, ports 25900-25904: an nginx upstream serving 12 bytes (the
# upstream of bench/http/run.sh), one weir per case (1 worker, keepalive to
# the upstream), and for the http case tests/proxy/logsink.py --discard as
# the collector (batch_size 1000, flush_interval 1s). weir runs on CPU 1; wrk,
# nginx and the collector on CPU 0. The cases alternate (off file http, off
# file http, ...), ROUNDS rounds of DUR seconds at 50 keepalive connections,
# and the report gives each case's median req/s and its ratio to "off", and
# weir's CPU time per request (user + system of all its threads, from
# /proc/PID/stat over the wrk run, the shipper and sink threads included):
# on a shared machine the rate moves with the neighbours' load, the CPU a
# request costs much less.
# After each http run the collector's line count is checked against the
# requests wrk made (a benchmark of a sink that silently drops would measure
# nothing): the report says how many lines arrived and how many weir counted
# dropped. Writes bench/results/logs.json and logs.md (RESULTS=DIR), with the
# machine's load average before and after (other tenants' work moves the
# rates). ROUNDS, DUR and CASES ("off file http", in that order by
# default) change the run.
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
RESULTS=${RESULTS:-bench/results}
ROUNDS=${ROUNDS:-7} DUR=${DUR:-4}
[ "${1:-}" = "--quick" ] && ROUNDS=2 DUR=2
PY=/usr/bin/python3
WEIR=$BUILD/weir
P_UP=25900 P_W=25901 P_COL=25902 P_MET=25903

for t in nginx wrk taskset curl "$WEIR"; do
	command -v "$t" >/dev/null || [ -x "$t" ] || { echo "logs.sh: $t not found" >&2; exit 1; }
done
TMP=$(mktemp -d /tmp/weirlogs.XXXXXX)
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

wait_port() { for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$1) 2>/dev/null && return 0; sleep 0.1; done; return 1; }

mkdir -p "$TMP"/{body,proxy,fastcgi,uwsgi,scgi,www}
printf 'hello world\n' >"$TMP/www/body.txt"
sed -e "s|@DIR@|$TMP|g" -e "s|@PORT@|$P_UP|g" bench/http/upstream.nginx.conf >"$TMP/nginx.conf"
taskset -c 0 nginx -p "$TMP" -c "$TMP/nginx.conf" -e "$TMP/error.log" &
PIDS+=($!)
wait_port $P_UP || { echo "logs.sh: nginx did not start" >&2; exit 1; }
taskset -c 0 $PY tests/proxy/logsink.py --http $P_COL --out "$TMP/col.out" --discard &
PIDS+=($!)
wait_port $P_COL || { echo "logs.sh: the collector did not start" >&2; exit 1; }

conf() { # CASE
	cat <<EOF
workers: 1
listeners: [127.0.0.1:$P_W]
metrics: {listen: 127.0.0.1:$P_MET}
upstreams: {up: {nodes: [127.0.0.1:$P_UP]}}
routes: [{path: "/*", upstream: up}]
EOF
	case $1 in
	file) echo "access_log: {path: $TMP/access.log}" ;;
	http) echo "access_log: {sinks: [{type: http, url: 'http://127.0.0.1:$P_COL/bulk'}]}" ;;
	esac
}

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# run CASE: one wrk run through a fresh weir; prints
# "req/s lines_arrived dropped requests cpu_us_per_request".
run() {
	conf "$1" >"$TMP/$1.yaml"
	: >"$TMP/col.out"
	taskset -c 1 "$WEIR" -c "$TMP/$1.yaml" 2>"$TMP/weir.err" &
	local w=$!
	wait_port $P_W || { echo "logs.sh: weir did not start: $(cat "$TMP/weir.err")" >&2; exit 1; }
	curl -s -o /dev/null "http://127.0.0.1:$P_W/"	# warm: pool, first batch
	local t0 t1 dropped
	t0=$(cpu_ticks $w)
	taskset -c 0 wrk -t1 -c50 -d"${DUR}s" --latency "http://127.0.0.1:$P_W/" >"$TMP/wrk.out"
	sleep 2.5	# the last batches: a worker hands off within 1 s, the sink flushes within 1 s
	t1=$(cpu_ticks $w)
	dropped=$(curl -s "http://127.0.0.1:$P_MET/metrics" |
		awk '/^weir_access_log_dropped_lines_total/ {s += $2} END {print s + 0}')
	kill -TERM $w
	wait $w || true
	local rps reqs lines
	rps=$(awk '/^Requests\/sec:/ {print $2}' "$TMP/wrk.out")
	reqs=$(awk '/requests in/ {print $1}' "$TMP/wrk.out")
	lines=$($PY -c 'import json,sys; print(sum(json.loads(l)["n"] for l in open(sys.argv[1])))' "$TMP/col.out")
	echo "$rps $lines $dropped $((reqs + 1)) $($PY -c "print('%.2f' % (($t1 - $t0) * 1e6 / $(getconf CLK_TCK) / $reqs))")"
}

read -ra CASES <<<"${CASES:-off file http}"
LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
: >"$TMP/runs"
for r in $(seq 1 $ROUNDS); do
	for c in "${CASES[@]}"; do
		echo "$c $(run "$c")" | tee -a "$TMP/runs" >&2
	done
done

mkdir -p "$RESULTS"
LOAD1=$(cut -d' ' -f1-3 /proc/loadavg)
REV=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
$PY - "$TMP/runs" "$RESULTS" "$ROUNDS" "$DUR" "$(wrk --version 2>&1 | head -1)" "$LOAD0" "$LOAD1" \
	"$REV" "$(nproc)" <<'EOF'
import json, statistics, sys
runs, out, rounds, dur, wrkv = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
load0, load1, rev, ncpu = sys.argv[6:10]
by = {}
for l in open(runs):
    c, rps, lines, dropped, reqs, cpu = l.split()
    by.setdefault(c, []).append({"rps": float(rps), "lines": int(lines), "dropped": int(dropped),
                                 "requests": int(reqs), "cpu_us_per_request": float(cpu)})
med = {c: statistics.median(x["rps"] for x in v) for c, v in by.items()}
cpu = {c: statistics.median(x["cpu_us_per_request"] for x in v) for c, v in by.items()}
res = {"command": "bench/http/logs.sh", "rounds": rounds, "duration_s": dur,
       "wrk": "wrk -t1 -c50 -d%ds --latency (keepalive), 12-byte body, nginx upstream" % dur,
       "weir": "1 worker on CPU 1; wrk, nginx, collector on CPU 0", "wrk_version": wrkv,
       "weir_rev": rev, "cpus": int(ncpu), "loadavg_before": load0, "loadavg_after": load1,
       "cases": {c: {"runs": v, "median_rps": med[c], "ratio_to_off": med[c] / med["off"],
                     "median_cpu_us_per_request": cpu[c]}
                 for c, v in by.items()}}
json.dump(res, open(out + "/logs.json", "w"), indent=1)
with open(out + "/logs.md", "w") as f:
    f.write("# Access log cost (bench/http/logs.sh)\n\n")
    f.write("%s; weir 1 worker on CPU 1, wrk/nginx/collector on CPU 0; %d rounds x %d s, "
            "cases alternated. The http sink: tests/proxy/logsink.py --discard, batch_size "
            "1000, flush_interval 1s. Lines: what reached the sink over what weir answered; "
            "dropped: weir_access_log_dropped_lines_total.\n\n" % (res["wrk"], rounds, dur))
    f.write("weir at %s; %s CPUs; load average %s before, %s after (1, 5, 15 min): on a "
            "shared machine the rates move with the other tenants' load, weir's CPU time per "
            "request much less.\n\n" % (rev, ncpu, load0, load1))
    f.write("| case | median req/s | ratio to off | weir CPU us/request (median) | ratio to off | lines arrived / requests (all rounds) | dropped |\n|---|---|---|---|---|---|---|\n")
    for c in ("off", "file", "http"):
        v = by[c]
        arrived = "-" if c != "http" else "%d / %d" % (sum(x["lines"] for x in v), sum(x["requests"] for x in v))
        f.write("| %s | %.0f | %.3f | %.1f | %.2f | %s | %d |\n" % (
            c, med[c], med[c] / med["off"], cpu[c], cpu[c] / cpu["off"], arrived,
            sum(x["dropped"] for x in v)))
print(open(out + "/logs.md").read())
EOF
