#!/bin/bash
# bench/admin_apply.sh - what one change through the admin API costs, at 1k
# and 10k routes: the time from sending a PUT of one route to its answer
# (the change built into a whole configuration, validated, published to the
# workers and written to the state file with its fsyncs), median and p99
# over CHANGES changes, made one after the other.
#
#   BUILD=build bench/admin_apply.sh [ROUTES...]      (default: 1000 10000)
#   CHANGES=200 PORT_BASE=23900 bench/admin_apply.sh
#
# Beside it, its peer on the same machine in the same run: `weir --check` of
# a file holding the same routes (read, validate, build the router and
# snapshot; no publish, no state file), median of 5 runs before and 5 after
# the changes, alternated with them. The API's path rebuilds everything, so
# both grow with the routes; their ratio is the API's own overhead (the
# document copied and serialized, the publish, the write and the fsyncs).
# Writes bench/results/admin_apply.json and bench/results/admin_apply.md.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
CHANGES=${CHANGES:-200}
PORT_BASE=${PORT_BASE:-23900}
RESULTS=${RESULTS:-bench/results}
SIZES=("$@")
[ ${#SIZES[@]} -gt 0 ] || SIZES=(1000 10000)
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

echo "[" >"$TMP/results.json"
first=1
for n in "${SIZES[@]}"; do
	# The same n routes as a state file (the API's document) and as YAML.
	$PY - "$n" "$TMP" "$P_PROXY" "$P_ADMIN" "$TOKEN" <<'EOF'
import json, sys
n, tmp, pp, pa, tok = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5]
routes = [{"id": "r%d" % i, "path": "/svc%d/items/:id" % i, "upstream": "a"} for i in range(n)]
json.dump({"routes": routes, "upstreams": {"a": {"nodes": ["127.0.0.1:9"]}}, "plugins": {}},
          open(tmp + "/state.json", "w"))
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
	$PY tests/proxy/admin_churn.py $P_ADMIN $TOKEN "$CHANGES" --times "$TMP/times" >/dev/null
	kill $WPID; wait $WPID 2>/dev/null || true; WPID=
	after=$(check_ms "$TMP/check.yaml")
	read -r p50 p99 <<<"$(sort -n "$TMP/times" | awk '{a[NR] = $1}
		END {printf "%.2f %.2f", a[int((NR + 1) / 2)] / 1000, a[int(NR * 0.99 + 0.5)] / 1000}')"
	peer=$(awk -v a="$before" -v b="$after" 'BEGIN {printf "%.2f", (a + b) / 2}')
	ratio=$(awk -v a="$p50" -v b="$peer" 'BEGIN {printf "%.2f", a / b}')
	printf '%s routes: API change p50 %s ms, p99 %s ms; weir --check %s ms (%s/%s); ratio %s\n' \
		"$n" "$p50" "$p99" "$peer" "$before" "$after" "$ratio"
	[ $first = 1 ] || echo "," >>"$TMP/results.json"
	first=0
	printf '{"routes": %s, "changes": %s, "api_p50_ms": %s, "api_p99_ms": %s, "check_ms": %s, "ratio_p50_to_check": %s}\n' \
		"$n" "$CHANGES" "$p50" "$p99" "$peer" "$ratio" >>"$TMP/results.json"
done
echo "]" >>"$TMP/results.json"
mkdir -p "$RESULTS"
cp "$TMP/results.json" "$RESULTS/admin_apply.json"
{
	echo "# Admin API: one route change, request to answer"
	echo
	echo "$(date -u +%F), $(nproc) CPUs, 1 worker, state file on $(df -T "$TMP" | awk 'NR == 2 {print $2}');"
	echo "$CHANGES PUTs of one route, one after the other, each on a new connection"
	echo "(tests/proxy/admin_churn.py); peer: \`weir --check\` of a YAML file holding the same routes."
	echo
	echo "| routes | API p50 (ms) | API p99 (ms) | weir --check (ms) | p50 / check |"
	echo "|---|---|---|---|---|"
	jq -r '.[] | "| \(.routes) | \(.api_p50_ms) | \(.api_p99_ms) | \(.check_ms) | \(.ratio_p50_to_check) |"' \
		"$RESULTS/admin_apply.json"
} >"$RESULTS/admin_apply.md"
cat "$RESULTS/admin_apply.md"
