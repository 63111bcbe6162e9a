#!/bin/bash
# bench/http/run.sh - weir's L7 reverse proxy beside nginx and HAProxy (wrk).
#
#   BUILD=build bench/http/run.sh [--quick] [--tls]   (QUICK=1, TLS=1 work too)
#
# Starts, on 127.0.0.1 only: one upstream (nginx, a 12-byte static file,
# port 9080) and the proxies under test, one worker each, keepalive to it:
# nginx (9081), HAProxy (9082) and `$BUILD/weir proxy` (9083), which is
# reported as missing if it is not built or does not serve. Proxies run on
# CPU 1, wrk and the upstream on CPU 0. Measures req/s and p50/p99 with
# keepalive clients (10, 50, 200 connections) and with a new connection per
# request (50), peers alternated over several rounds, and RSS per idle client
# connection (5000 idle keepalive connections). Writes bench/results/http.json,
# http.md, http_rps.png and http_latency.png (RESULTS=DIR to change).
#
# Full: 5 rounds x 5 s per run, 3 memory rounds (~6-7 min with three peers,
# up to 90 s more waiting for other tenants' load to pass); --quick: 2 rounds
# x 2 s, 1 memory round, no waiting (~70 s). Every run is bounded; whatever
# the driver started is killed on exit (it records the pids in the temp dir;
# the trap below uses them if the driver itself dies). HTTP_BENCH_ARGS passes extra options to
# bench/http/httpbench.py (see its --help), e.g. "--peers nginx,haproxy".
#
# Then TLS (bench/http/tlsbench.py): weir and nginx terminating TLS with the
# same certificate: full and resumed handshakes/s (openssl s_time) and req/s
# on keepalive TLS connections (wrk https); writes http_tls.json and
# http_tls.md (~2 min full, ~40 s quick). --tls (TLS=1) runs this part alone;
# TLS_BENCH_ARGS passes options to tlsbench.py (e.g. "--port-base 20900").
set -euo pipefail

cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
QUICK=${QUICK:-0}
TLS=${TLS:-0}
for arg; do
	case $arg in
	--quick) QUICK=1 ;;
	--tls) TLS=1 ;;
	*) printf 'bench/http/run.sh: unknown option %s\n' "$arg" >&2; exit 2 ;;
	esac
done
RESULTS=${RESULTS:-bench/results}
PY=/usr/bin/python3 # Debian's, with python3-matplotlib
export PYTHONDONTWRITEBYTECODE=1

die() { printf 'bench/http/run.sh: %s\n' "$*" >&2; exit 1; }

TOOLS=(nginx wrk taskset openssl curl "$PY")
[ "$TLS" = 1 ] || TOOLS+=(haproxy)
for t in "${TOOLS[@]}"; do
	command -v "$t" >/dev/null || die "$t not found: run 'make deps'"
done
[ "$TLS" = 1 ] || "$PY" -c 'import matplotlib' 2>/dev/null ||
	die "python3-matplotlib missing: run 'make deps'"
[ "$(nproc)" -ge 2 ] || die "needs 2 CPUs (proxy on CPU 1, client on CPU 0)"
[ "$TLS" = 1 ] || [ -x "$BUILD/rateload" ] || die "$BUILD/rateload missing: run 'make bench' or 'make $BUILD/rateload'"

# 5000 idle connections in the client and as many in the proxy; HAProxy
# (maxconn 8000) wants 2 x maxconn descriptors.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
[ "$TLS" = 1 ] || [ "$(ulimit -n)" -ge 17000 ] ||
	die "ulimit -n is $(ulimit -n); needs 17000 (run as root)"

TMP=$(mktemp -d /tmp/weirhttp.XXXXXX)
DRIVER=

cleanup() {
	local rc=$?
	set +e
	trap - EXIT INT TERM
	if [ -n "$DRIVER" ] && kill -0 "$DRIVER" 2>/dev/null; then
		kill -TERM "$DRIVER" 2>/dev/null
		for _ in $(seq 50); do kill -0 "$DRIVER" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$DRIVER" 2>/dev/null
	fi
	# what the driver started and did not reap: process groups, by pid
	if [ -f "$TMP/pids" ]; then
		while read -r pid; do
			[ -n "$pid" ] && kill -KILL -- "-$pid" 2>/dev/null
		done <"$TMP/pids"
	fi
	rm -rf "$TMP"
	[ $rc = 0 ] || printf 'bench/http/run.sh: failed (exit %d); cleaned up\n' $rc >&2
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ -n "${MAKELEVEL:-}" ]; then
	CMD="make bench"
	if [ "$BUILD" != build ]; then CMD="$CMD BUILD=$BUILD"; fi
else
	CMD="BUILD=$BUILD bench/http/run.sh"
	if [ "$QUICK" = 1 ]; then CMD="$CMD --quick"; fi
	if [ "$TLS" = 1 ]; then CMD="$CMD --tls"; fi
fi
ARGS=(--tmp "$TMP" --build "$BUILD" --out-dir "$RESULTS" --command "$CMD")
[ "$QUICK" = 1 ] && ARGS+=(--quick)
# shellcheck disable=SC2206
[ -n "${HTTP_BENCH_ARGS:-}" ] && ARGS+=($HTTP_BENCH_ARGS)

# In the background so that the trap runs at once on a signal; bounded as a
# whole too (the full run takes ~6 min).
if [ "$TLS" != 1 ]; then
	timeout 1800 "$PY" bench/http/httpbench.py "${ARGS[@]}" &
	DRIVER=$!
	wait "$DRIVER"
fi
TARGS=(--tmp "$TMP" --build "$BUILD" --out-dir "$RESULTS" --command "$CMD")
[ "$QUICK" = 1 ] && TARGS+=(--quick)
# shellcheck disable=SC2206
[ -n "${TLS_BENCH_ARGS:-}" ] && TARGS+=($TLS_BENCH_ARGS)
timeout 900 "$PY" bench/http/tlsbench.py "${TARGS[@]}" &
DRIVER=$!
wait "$DRIVER"
