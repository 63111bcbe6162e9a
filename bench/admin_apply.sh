#!/bin/bash
# bench/admin_apply.sh - what one route change through the admin API costs
# at 1k, 10k and 100k routes, and what a stream of them costs the requests
# served meanwhile.
#
#   BUILD=build bench/admin_apply.sh [ROUTES...]      (default: 1000 10000 100000)
#   CHANGES=300 RATE=50 ROUNDS=3 PORT_BASE=23900 bench/admin_apply.sh
#
# 1. CHANGES PUTs of one route, one after the other: weir's own account of
#    each (its Server-Timing header: "apply", the route built and the
#    derived snapshot published; "save", the journal record written and
#    synced) and the client's, request to answer, median and p99. Beside
#    it, its peer on the same machine in the same run: `weir --check` of a
#    file holding the same routes (a full build: what a change cost before
#    changes were applied one route at a time), median of 5 runs before and
#    5 after the changes.
# 2. wrk against one of the routes (a mock: no upstream in the way),
#    ROUNDS rounds of 10 s each with no admin traffic (A), with RATE GETs a
#    second through the admin API (R: the control, the same client work
#    with nothing changed) and with RATE changes a second (B), alternated:
#    the request p99 of each and the ratios B/A and B/R.
# Writes bench/results/admin_apply.json and bench/results/admin_apply.md.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
CHANGES=${CHANGES:-300}
RATE=${RATE:-50}
ROUNDS=${ROUNDS:-3}
PORT_BASE=${PORT_BASE:-23900}
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

median() { printf '%s\n' "$@" | sort -n | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }
# pct COLUMN FILE: median and p99 of a column of microseconds, in ms.
pct() {
	sort -n -k"$1" "$2" | awk -v c="$1" '{a[NR] = $c}
		END {printf "%.3f %.3f", a[int((NR + 1) / 2)] / 1000, a[int(NR * 0.99 + 0.5)] / 1000}'
}

echo "[" >"$TMP/results.json"
first=1
for n in "${SIZES[@]}"; do
	# The same n routes as a state file (the API's document) and as YAML.
	$PY - "$n" "$TMP" "$P_PROXY" "$P_ADMIN" "$TOKEN" <<'EOF'
import json, sys
n, tmp, pp, pa, tok = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5]
routes = [{"id": "r%d" % i, "path": "/svc%d/items/:id" % i, "upstream": "a"} for i in range(n)]
routes[n // 3] = {"id": "r%d" % (n // 3), "path": "/svc%d/items/:id" % (n // 3),
                  "plugins": {"mock": {"body": "ok"}}}	# what wrk asks: no upstream in the way
json.dump({"routes": routes, "upstreams": {"a": {"nodes": ["127.0.0.1:%d" % (int(pp) + 2)]}},
           "plugins": {}}, open(tmp + "/state.json", "w"))
head = "workers: 1\nlisteners: [127.0.0.1:%s]\n" % pp
open(tmp + "/weir.yaml", "w").write(head + "admin: {listen: 127.0.0.1:%s, token: %s, state: %s/state.json}\n" % (pa, tok, tmp))
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
	$PY tests/proxy/admin_churn.py $P_ADMIN $TOKEN "$CHANGES" --times "$TMP/times" \
		--server-times "$TMP/stimes" --route "r$((n / 2))" >/dev/null
	read -r p50 p99 <<<"$(pct 1 "$TMP/times")"
	read -r a50 a99 <<<"$(pct 1 "$TMP/stimes")"
	read -r s50 s99 <<<"$(pct 2 "$TMP/stimes")"
	# requests while changes stream in (B) or not (A)
	lat_a=() lat_r=() lat_b=()
	for r in $(seq "$ROUNDS"); do
		for mode in A R B; do
			cpid=
			if [ $mode != A ]; then
				$PY tests/proxy/admin_churn.py $P_ADMIN $TOKEN $((RATE * 12)) --rate "$RATE" \
					--route "r$((n / 2))" $([ $mode = R ] && echo --read) >"$TMP/churn.out" 2>&1 &
				cpid=$!
			fi
			wrk -t1 -c20 -d10s --latency "http://127.0.0.1:$P_PROXY/svc$((n / 3))/items/7" \
				>"$TMP/wrk.out" 2>&1
			if [ -n "$cpid" ]; then
				grep -q '^change' "$TMP/churn.out" && { cat "$TMP/churn.out"; exit 1; }
				kill $cpid 2>/dev/null || true
				wait $cpid 2>/dev/null || true
			fi
			v=$(awk '$1 == "99%" {v = $2; if (v ~ /us$/) {sub(/us/, "", v); v /= 1000}
				else if (v ~ /ms$/) sub(/ms/, "", v); else if (v ~ /s$/) {sub(/s/, "", v); v *= 1000}
				printf "%.3f", v}' "$TMP/wrk.out")
			grep -Eq 'Non-2xx|Socket errors' "$TMP/wrk.out" && { cat "$TMP/wrk.out"; exit 1; }
			case $mode in A) lat_a+=("$v") ;; R) lat_r+=("$v") ;; B) lat_b+=("$v") ;; esac
			sleep 1	# the fold after a stream of changes is not the next round's
		done
	done
	kill $WPID; wait $WPID 2>/dev/null || true; WPID=
	after=$(check_ms "$TMP/check.yaml")
	peer=$(awk -v a="$before" -v b="$after" 'BEGIN {printf "%.2f", (a + b) / 2}')
	q_a=$(median "${lat_a[@]}") q_r=$(median "${lat_r[@]}") q_b=$(median "${lat_b[@]}")
	q_ratio=$(awk -v a="$q_a" -v b="$q_b" 'BEGIN {printf "%.2f", b / a}')
	q_ratio_r=$(awk -v a="$q_r" -v b="$q_b" 'BEGIN {printf "%.2f", b / a}')
	printf '%s routes: apply p50 %s p99 %s ms, save p50 %s p99 %s ms, API p50 %s p99 %s ms; weir --check %s ms; request p99 %s / %s / %s ms (%s, %s)\n' \
		"$n" "$a50" "$a99" "$s50" "$s99" "$p50" "$p99" "$peer" "$q_a" "$q_r" "$q_b" "$q_ratio" "$q_ratio_r"
	[ $first = 1 ] || echo "," >>"$TMP/results.json"
	first=0
	printf '{"routes": %s, "changes": %s, "apply_p50_ms": %s, "apply_p99_ms": %s, "save_p50_ms": %s, "save_p99_ms": %s, "api_p50_ms": %s, "api_p99_ms": %s, "check_ms": %s, "rate": %s, "req_p99_ms_quiet": %s, "req_p99_ms_reading": %s, "req_p99_ms_changing": %s, "req_p99_ratio": %s, "req_p99_ratio_to_reading": %s}\n' \
		"$n" "$CHANGES" "$a50" "$a99" "$s50" "$s99" "$p50" "$p99" "$peer" "$RATE" "$q_a" "$q_r" "$q_b" "$q_ratio" "$q_ratio_r" >>"$TMP/results.json"
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
	echo "same routes, a full build, which is what every change cost before."
	echo
	echo "| routes | apply p50 (ms) | apply p99 (ms) | save p50 (ms) | save p99 (ms) | API p50 (ms) | API p99 (ms) | weir --check (ms) |"
	echo "|---|---|---|---|---|---|---|---|"
	jq -r '.[] | "| \(.routes) | \(.apply_p50_ms) | \(.apply_p99_ms) | \(.save_p50_ms) | \(.save_p99_ms) | \(.api_p50_ms) | \(.api_p99_ms) | \(.check_ms) |"' \
		"$RESULTS/admin_apply.json"
	echo
	echo "Requests meanwhile: wrk -t1 -c20 -d10s --latency on one route of the table, $ROUNDS rounds"
	echo "of each, alternated: no admin traffic (quiet); $RATE GETs a second of another route through"
	echo "the admin API (reading: the same client and admin work, nothing changed); $RATE changes a"
	echo "second to that route (changing). Median of the rounds' p99. On 2 cores, wrk and the worker"
	echo "fill both: the admin client's own CPU shows in the quiet/changing ratio, hence the control."
	echo
	echo "| routes | request p99 quiet (ms) | reading (ms) | changing (ms) | changing / quiet | changing / reading |"
	echo "|---|---|---|---|---|---|"
	jq -r '.[] | "| \(.routes) | \(.req_p99_ms_quiet) | \(.req_p99_ms_reading) | \(.req_p99_ms_changing) | \(.req_p99_ratio) | \(.req_p99_ratio_to_reading) |"' \
		"$RESULTS/admin_apply.json"
} >"$RESULTS/admin_apply.md"
cat "$RESULTS/admin_apply.md"
