#!/bin/bash
# bench/admin_apply.sh - what one route change through the admin API costs
# at 1k, 10k and 100k routes, and what a stream of them costs the requests
# served meanwhile.
#
#   BUILD=build bench/admin_apply.sh [ROUTES...]      (default: 1000 10000 100000)
#   CHANGES=300 RATE=50 ROUNDS=20 SECS=2 REQ_RATE=20000 PORT_BASE=23900 \
#       bench/admin_apply.sh
#
# 1. CHANGES PUTs of one route, one after the other: weir's own account of
#    each (its Server-Timing header: "apply", the route built and the
#    derived snapshot published; "save", the journal record written and
#    synced) and the client's, request to answer, median and p99. Beside
#    it, its peer on the same machine in the same run: `weir --check` of a
#    file holding the same routes (a full build: what a change cost before
#    changes were applied one route at a time), median of 5 runs before and
#    5 after the changes.
# 2. Requests at a fixed rate (bench/rateload.c, REQ_RATE a second, open
#    loop, latency counted from when each request was due) to one of the
#    routes (a mock: no upstream in the way), ROUNDS rounds of SECS seconds
#    with no admin traffic (A), with RATE GETs a second through the admin
#    API (R: the control, the same client work with nothing changed) and
#    with RATE changes a second (B), alternated; each mode's histograms
#    pooled: the request p99 of each, the ratios B/A and B/R, and B/R from
#    the odd and the even rounds apart (how far the estimate itself moves).
#    Why not wrk: a closed loop keeps the worker saturated, so its p99 is
#    the length of the queue it builds, which any other thread on these 2
#    cores (the API client's own) moves by tens of percent from one 10 s
#    run to the next; a fixed rate below saturation measures the wait a
#    change adds to the requests it meets.
# 3. Both in two placements (PLACEMENTS): "shared", every thread where the
#    scheduler puts it; "pinned", weir's `cpus:` with its control threads
#    on the CPU that takes the disk's interrupts (found by counting them
#    over fdatasyncs of a file here) and the worker on another, the load on
#    the worker's CPU and the API client on the control CPU: the control
#    plane with a core of its own, as a deployment that cares gives it.
# Writes bench/results/admin_apply.json and bench/results/admin_apply.md.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
CHANGES=${CHANGES:-300}
RATE=${RATE:-50}
ROUNDS=${ROUNDS:-20}
SECS=${SECS:-2}
REQ_RATE=${REQ_RATE:-20000}
PORT_BASE=${PORT_BASE:-23900}
PLACEMENTS=${PLACEMENTS:-shared pinned}
RESULTS=${RESULTS:-bench/results}
SIZES=("$@")
[ ${#SIZES[@]} -gt 0 ] || SIZES=(1000 10000 100000)
PY=$(python3 -c 'import sys; print(sys.executable)')
TMP=$(mktemp -d /tmp/weir-admin-bench.XXXXXX)
WPID=
trap '[ -n "$WPID" ] && kill $WPID 2>/dev/null; wait 2>/dev/null; rm -rf "$TMP"' EXIT
P_PROXY=$PORT_BASE P_ADMIN=$((PORT_BASE + 1))
TOKEN=bench

# check_ms FILE: median wall time of `weir --check FILE` over 5 runs, in ms.
check_ms() {
	for i in 1 2 3 4 5; do
		local t0=$(date +%s%N)
		"$BUILD/weir" --check "$1" >/dev/null
		echo $(( ($(date +%s%N) - t0) / 1000 ))
	done | sort -n | sed -n 3p | awk '{printf "%.2f", $1 / 1000}'
}

# cpu_us: the CPU time weir has used, all its threads, in microseconds
cpu_us() { cat /proc/"$WPID"/task/*/schedstat | awk '{s += $1} END {printf "%.0f", s / 1000}'; }
# worker_ns: the CPU time of weir's worker thread, in nanoseconds
worker_ns() { cut -d' ' -f1 "$(grep -l '^weir-w0$' /proc/"$WPID"/task/*/comm | sed 's/comm$/schedstat/')"; }
# pct COLUMN FILE: median and p99 of a column of microseconds, in ms.
pct() {
	sort -n -k"$1" "$2" | awk -v c="$1" '{a[NR] = $c}
		END {printf "%.3f %.3f", a[int((NR + 1) / 2)] / 1000, a[int(NR * 0.99 + 0.5)] / 1000}'
}

# disk_cpu: the CPU whose interrupts rise most over 200 fdatasyncs of a file
# in $TMP (the disk's completion interrupts: what a journal sync brings).
disk_cpu() {
	$PY - "$TMP" <<'EOF'
import os, sys
def per_irq():
    with open("/proc/interrupts") as f:
        ncpu = len(f.readline().split())
        return {p[0]: [int(x) for x in p[1:ncpu + 1]] for p in (l.split() for l in f)
                if p[0].rstrip(":").isdigit() and len(p) > ncpu}
a = per_irq()
fd = os.open(sys.argv[1] + "/irq-probe", os.O_WRONLY | os.O_CREAT, 0o600)
for i in range(200):
    os.pwrite(fd, b"x" * 4096, 0)
    os.fdatasync(fd)
os.close(fd)
b = per_irq()
rise = {k: [y - x for x, y in zip(a[k], b[k])] for k in b if k in a}
best = max(rise, key=lambda k: sum(rise[k]))
print(rise[best].index(max(rise[best])))
EOF
}
if [[ " $PLACEMENTS " == *" pinned "* ]]; then
	K_CPU=$(disk_cpu)
	W_CPU=$(taskset -pc $$ | awk -F': ' '{print $2}' | tr ',' '\n' |
		awk -F- -v k="$K_CPU" '{for (i = $1; i <= ($2 == "" ? $1 : $2); i++) if (i != k) {print i; exit}}')
	[ -n "$W_CPU" ] || { echo "admin_apply.sh: pinned needs two CPUs" >&2; exit 1; }
fi

echo "[" >"$TMP/results.json"
first=1
for place in $PLACEMENTS; do
LOAD_PIN=() API_PIN=() CPUS_LINE=
if [ "$place" = pinned ]; then
	LOAD_PIN=(taskset -c "$W_CPU") API_PIN=(taskset -c "$K_CPU")
	CPUS_LINE="cpus: {workers: [$W_CPU], control: [$K_CPU]}"
fi
for n in "${SIZES[@]}"; do
	# The same n routes as a state file (the API's document) and as YAML.
	$PY - "$n" "$TMP" "$P_PROXY" "$P_ADMIN" "$TOKEN" "$CPUS_LINE" <<'EOF'
import json, sys
n, tmp, pp, pa, tok = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5]
cpus = sys.argv[6] + "\n" if sys.argv[6] else ""
routes = [{"id": "r%d" % i, "path": "/svc%d/items/:id" % i, "upstream": "a"} for i in range(n)]
routes[n // 3] = {"id": "r%d" % (n // 3), "path": "/svc%d/items/:id" % (n // 3),
                  "plugins": {"mock": {"body": "ok"}}}	# what the load asks: no upstream in the way
json.dump({"routes": routes, "upstreams": {"a": {"nodes": ["127.0.0.1:%d" % (int(pp) + 2)]}},
           "plugins": {}}, open(tmp + "/state.json", "w"))
head = "workers: 1\nlisteners: [127.0.0.1:%s]\n" % pp
open(tmp + "/weir.yaml", "w").write(head + cpus + "admin: {listen: 127.0.0.1:%s, token: %s, state: %s/state.json}\n" % (pa, tok, tmp))
with open(tmp + "/check.yaml", "w") as f:
    f.write(head + "upstreams: {a: {nodes: [127.0.0.1:9]}}\nroutes:\n")
    for r in routes:
        f.write("  - {id: %s, path: \"%s\", upstream: a}\n" % (r["id"], r["path"]))
EOF
	before=$(check_ms "$TMP/check.yaml")
	"$BUILD/weir" -c "$TMP/weir.yaml" 2>"$TMP/weir.err" &
	WPID=$!
	for i in $(seq 600); do grep -q 'listening on' "$TMP/weir.err" && break; sleep 0.1; done
	grep -q 'listening on' "$TMP/weir.err" || { cat "$TMP/weir.err"; exit 1; }
	rm -f "$TMP/state.json.journal"
	c0=$(cpu_us)
	$PY tests/proxy/admin_churn.py $P_ADMIN $TOKEN "$CHANGES" --times "$TMP/times" \
		--server-times "$TMP/stimes" --route "r$((n / 2))" >/dev/null
	sleep 0.5	# the fold after them
	c1=$(cpu_us)
	$PY tests/proxy/admin_churn.py $P_ADMIN $TOKEN "$CHANGES" --route "r$((n / 2))" --read >/dev/null
	sleep 0.5
	c2=$(cpu_us)
	cpu_change=$(( (c1 - c0) / CHANGES )) cpu_read=$(( (c2 - c1) / CHANGES ))
	read -r p50 p99 <<<"$(pct 1 "$TMP/times")"
	read -r a50 a99 <<<"$(pct 1 "$TMP/stimes")"
	read -r s50 s99 <<<"$(pct 2 "$TMP/stimes")"
	# requests while changes stream in (B), or reads (R), or nothing (A):
	# short rounds alternated, so that the machine's own hiccups fall on
	# every mode alike; each mode's histograms pooled.
	rm -f "$TMP"/h.* "$TMP/worker"
	for r in $(seq "$ROUNDS"); do
		for mode in A R B; do
			cpid=
			if [ $mode != A ]; then
				"${API_PIN[@]}" $PY tests/proxy/admin_churn.py $P_ADMIN $TOKEN $((RATE * (SECS + 3))) \
					--rate "$RATE" --route "r$((n / 2))" $([ $mode = R ] && echo --read) \
					>"$TMP/churn.out" 2>&1 &
				cpid=$!
			fi
			w0=$(worker_ns)
			"${LOAD_PIN[@]}" "$BUILD/rateload" --addr "127.0.0.1:$P_PROXY" --path "/svc$((n / 3))/items/7" \
				--rate "$REQ_RATE" --duration "$SECS" --warmup 0.5 \
				--hist "$TMP/h.$mode.$r" >"$TMP/load.out" || { cat "$TMP/load.out"; exit 1; }
			echo "$mode $(( $(worker_ns) - w0 )) $(jq .answered "$TMP/load.out")" >>"$TMP/worker"
			if [ -n "$cpid" ]; then
				grep -q '^change' "$TMP/churn.out" && { cat "$TMP/churn.out"; exit 1; }
				kill $cpid 2>/dev/null || true
				wait $cpid 2>/dev/null || true
			fi
		done
	done
	# pooled p99 of each mode, and B/R from the odd and the even rounds
	# apart: how far the estimate itself moves
	read -r q_a q_r q_b q_ratio q_ratio_r half_odd half_even \
		<<<"$($PY bench/hist_pool.py "$TMP" "$ROUNDS")"
	# the worker's CPU per request (the warm-up's included in both): what a change costs
	# the request path itself, whatever the machine's hiccups
	read -r wr_r wr_b <<<"$(awk '{ns[$1] += $2; n[$1] += $3}
		END {printf "%.2f %.2f", ns["R"] / n["R"] / 1000, ns["B"] / n["B"] / 1000}' "$TMP/worker")"
	kill $WPID; wait $WPID 2>/dev/null || true; WPID=
	after=$(check_ms "$TMP/check.yaml")
	peer=$(awk -v a="$before" -v b="$after" 'BEGIN {printf "%.2f", (a + b) / 2}')
	printf '%s, %s routes: apply p50 %s p99 %s ms, save p50 %s p99 %s ms, API p50 %s p99 %s ms; weir CPU %s us a change, %s a read; weir --check %s ms; request p99 %s / %s / %s ms (%s, %s; halves %s %s); worker CPU a request %s / %s us\n' \
		"$place" "$n" "$a50" "$a99" "$s50" "$s99" "$p50" "$p99" "$cpu_change" "$cpu_read" "$peer" "$q_a" "$q_r" "$q_b" "$q_ratio" "$q_ratio_r" "$half_odd" "$half_even" "$wr_r" "$wr_b"
	[ $first = 1 ] || echo "," >>"$TMP/results.json"
	first=0
	printf '{"placement": "%s", "worker_cpu": "%s", "control_cpu": "%s", "routes": %s, "changes": %s, "apply_p50_ms": %s, "apply_p99_ms": %s, "save_p50_ms": %s, "save_p99_ms": %s, "api_p50_ms": %s, "api_p99_ms": %s, "cpu_us_per_change": %s, "cpu_us_per_read": %s, "check_ms": %s, "rate": %s, "req_p99_ms_quiet": %s, "req_p99_ms_reading": %s, "req_p99_ms_changing": %s, "req_p99_ratio": %s, "req_p99_ratio_to_reading": %s, "ratio_to_reading_odd_rounds": %s, "ratio_to_reading_even_rounds": %s, "worker_us_per_req_reading": %s, "worker_us_per_req_changing": %s, "req_rate": %s, "rounds": %s, "round_s": %s}\n' \
		"$place" "${W_CPU:-}" "${K_CPU:-}" "$n" "$CHANGES" "$a50" "$a99" "$s50" "$s99" "$p50" "$p99" "$cpu_change" "$cpu_read" "$peer" "$RATE" "$q_a" "$q_r" "$q_b" "$q_ratio" "$q_ratio_r" "$half_odd" "$half_even" "$wr_r" "$wr_b" "$REQ_RATE" "$ROUNDS" "$SECS" >>"$TMP/results.json"
done
done
echo "]" >>"$TMP/results.json"
mkdir -p "$RESULTS"
cp "$TMP/results.json" "$RESULTS/admin_apply.json"
{
	echo "# Admin API: one route change"
	echo
	echo "$(date -u +%F), $(nproc) CPUs, 1 worker, state file on $(df -T "$TMP" | awk 'NR == 2 {print $2}');"
	echo "$CHANGES PUTs of one route, one after the other, each on a new connection"
	echo "(tests/proxy/admin_churn.py). apply: weir's Server-Timing, the route built and the"
	echo "derived snapshot published; save: the journal record written and synced (fdatasync);"
	echo "API: the client's time, request to answer. Peer: \`weir --check\` of a YAML file holding the"
	echo "same routes, a full build, which is what every change cost before. CPU: what weir's"
	echo "threads used (schedstat) over those changes, fold included, and over as many GETs of"
	echo "the route, per request."
	echo
	echo "| placement | routes | apply p50 (ms) | apply p99 (ms) | save p50 (ms) | save p99 (ms) | API p50 (ms) | API p99 (ms) | weir CPU a change / a read (us) | weir --check (ms) |"
	echo "|---|---|---|---|---|---|---|---|---|---|"
	jq -r '.[] | "| \(.placement) | \(.routes) | \(.apply_p50_ms) | \(.apply_p99_ms) | \(.save_p50_ms) | \(.save_p99_ms) | \(.api_p50_ms) | \(.api_p99_ms) | \(.cpu_us_per_change) / \(.cpu_us_per_read) | \(.check_ms) |"' \
		"$RESULTS/admin_apply.json"
	echo
	echo "Requests meanwhile: bench/rateload.c, $REQ_RATE GETs a second (open loop: latency from"
	echo "when each was due) on one route of the table, $ROUNDS rounds of ${SECS} s of each mode,"
	echo "alternated: no admin traffic (quiet); $RATE GETs a second of another route through the"
	echo "admin API (reading: the same client and admin work, nothing changed); $RATE changes a"
	echo "second to that route (changing). p99 of each mode's pooled histograms; the last two"
	echo "columns are changing / reading over the odd and the even rounds apart; then the worker"
	echo "thread's CPU time (schedstat) over the requests of each mode, warm-up included: what a"
	echo "change costs the request path itself."
	echo
	if [ -n "${K_CPU:-}" ]; then
		echo "Placements: shared, every thread where the scheduler puts it (the load generator,"
		echo "the API client, the worker and the admin thread on 2 CPUs); pinned, weir with"
		echo "\`cpus: {workers: [$W_CPU], control: [$K_CPU]}\` (CPU $K_CPU takes the disk's interrupts, counted"
		echo "over fdatasyncs here), the load generator on the worker's CPU $W_CPU, the API client on CPU"
		echo "$K_CPU: the control plane and what it brings (its syncs' interrupts) on a core of its own."
		echo
	fi
	echo "| placement | routes | request p99 quiet (ms) | reading (ms) | changing (ms) | changing / quiet | changing / reading | odd rounds | even rounds | worker CPU a request, reading / changing (us) |"
	echo "|---|---|---|---|---|---|---|---|---|---|"
	jq -r '.[] | "| \(.placement) | \(.routes) | \(.req_p99_ms_quiet) | \(.req_p99_ms_reading) | \(.req_p99_ms_changing) | \(.req_p99_ratio) | \(.req_p99_ratio_to_reading) | \(.ratio_to_reading_odd_rounds) | \(.ratio_to_reading_even_rounds) | \(.worker_us_per_req_reading) / \(.worker_us_per_req_changing) |"' \
		"$RESULTS/admin_apply.json"
} >"$RESULTS/admin_apply.md"
cat "$RESULTS/admin_apply.md"
