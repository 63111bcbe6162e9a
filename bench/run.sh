#!/bin/bash
# bench/run.sh - weir's XDP benchmarks, side by side with their peers.
#
#   make bench                 (builds, then runs this with BUILD=build)
#   BUILD=build/x bench/run.sh [--quick] [--only l4]
#
# Runs, in one go and on this machine:
#   1. per-packet cost (build/bench_xdp): BPF_PROG_TEST_RUN, one case per
#      verdict, and ns/packet against blocklist size (0 .. 1M, v4 and v6);
#   2. blocklist import: `weirctl block import` of 1M prefixes beside
#      `ipset restore` of the same list (hash:net), v4 and v6;
#   3. live packet rate (build/livegen): 64-byte frames through a veth into
#      weir with 1M prefixes, a trivial XDP_DROP program, xdp-filter and an
#      nftables netdev ingress drop, alternated, several rounds;
#   4. l4 forwarding: weir's l4 path beside a trivial XDP_TX program, per
#      packet (bench_xdp's l4 section) and live (64-byte frames from 1k and
#      64k sources to an l4 service whose backends are reached back through
#      the receiving veth, so XDP_TX), alternated, several rounds;
# and writes bench/results/xdp.json, bench/results/README.md and PNG plots,
# then runs the router and HTTP benchmarks.
#
# --only l4 runs part 4 alone (about a minute) and merges its figures into
# the xdp.json and README.md of the last full run.
#
# Traffic stays on a veth pair this script creates: wbrx0 in the root
# namespace (the receiver: weir's pinned maps must stay visible) and wbgen0
# in the namespace weirbench-gen (the generator). Every loop is bounded; the
# trap below removes the namespace, the veth, the programs, the pins and the
# ipsets this script made, however it exits. The full run takes ~5 minutes;
# --quick (or QUICK=1) a short smoke run with small lists and few rounds.
set -euo pipefail

cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
QUICK=${QUICK:-0}
ONLY=all
RESULTS=${RESULTS:-bench/results}
PY=/usr/bin/python3 # Debian's, with python3-matplotlib
CPU=${BENCH_CPU:-1}  # generator and receiver; the sampler gets the other CPU

NS=weirbench-gen
RX=wbrx0
GEN=wbgen0
PIN=/sys/fs/bpf/weirbench
PIN1=/sys/fs/bpf/weirbench1
PINI=/sys/fs/bpf/weirbench-import
PINL=/sys/fs/bpf/weirbench-l4

BENCH_XDP=$BUILD/bench_xdp
LIVEGEN=$BUILD/livegen
WEIRCTL=$BUILD/weirctl
DROP_OBJ=$BUILD/xdp_drop.bpf.o
TX_OBJ=$BUILD/xdp_tx.bpf.o

say() { printf '== %s\n' "$*" >&2; }
die() { printf 'bench/run.sh: %s\n' "$*" >&2; exit 1; }

while [ $# -gt 0 ]; do
	case $1 in
	--quick) QUICK=1 ;;
	--only)
		[ "${2:-}" = l4 ] || die "--only: l4 is the part that runs alone"
		ONLY=l4
		shift
		;;
	*) die "usage: bench/run.sh [--quick] [--only l4]" ;;
	esac
	shift
done

[ "$(id -u)" = 0 ] || die "needs root (veth, XDP, nftables, ipset)"
for f in "$BENCH_XDP" "$LIVEGEN" "$WEIRCTL" "$DROP_OBJ" "$TX_OBJ"; do
	[ -e "$f" ] || die "$f missing: run 'make bench' (or make BUILD=$BUILD $f)"
done
for t in ip ethtool nft ipset xdp-filter "$PY"; do
	command -v "$t" >/dev/null || die "$t not found: run 'make deps'"
done
"$PY" -c 'import matplotlib' 2>/dev/null || die "python3-matplotlib missing: run 'make deps'"

TMP=$(mktemp -d /tmp/weirbench.XXXXXX)

cleanup() {
	local rc=$?
	set +e
	trap - EXIT INT TERM
	if ip link show "$RX" >/dev/null 2>&1; then
		ip link set dev "$RX" xdpdrv off 2>/dev/null
		ip link show "$RX" 2>/dev/null | grep -q xdpfilt && xdp-filter unload "$RX" >/dev/null 2>&1
		for p in "$PIN" "$PIN1" "$PINL"; do
			"$WEIRCTL" --pin-dir "$p" detach "$RX" >/dev/null 2>&1
		done
	fi
	nft delete table netdev weirbench 2>/dev/null
	ipset destroy wbench4 2>/dev/null
	ipset destroy wbench6 2>/dev/null
	ip link del "$RX" 2>/dev/null
	ip netns del "$NS" 2>/dev/null
	rm -rf "$PIN" "$PIN1" "$PINL" "$PINI"-* 2>/dev/null
	rm -rf "$TMP"
	[ $rc = 0 ] || printf 'bench/run.sh: failed (exit %d); cleaned up\n' $rc >&2
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Leftovers of an interrupted run are ours by name: clear them first.
ip link del "$RX" 2>/dev/null || true
ip netns del "$NS" 2>/dev/null || true
nft delete table netdev weirbench 2>/dev/null || true
rm -rf "$PIN" "$PIN1" "$PINL" "$PINI"-* 2>/dev/null || true

start=$(date +%s)
if [ "$QUICK" = 1 ]; then
	N=20000 ROUNDS=2 DUR=1 XDP_ARGS=(--quick) IMPORT_ROUNDS=1 MODE=quick
else
	N=1000000 ROUNDS=5 DUR=2 XDP_ARGS=() IMPORT_ROUNDS=5 MODE=full
fi
if [ "$ONLY" = l4 ]; then
	XDP_ARGS+=(--only l4)
	MODE="$MODE, l4 only"
	[ -e "$RESULTS/xdp.json" ] || die "--only l4 merges into $RESULTS/xdp.json: run a full bench first"
fi

say "veth pair: $RX (root namespace, receiver) <-> $GEN (namespace $NS, generator)"
ip netns add "$NS"
ip link add "$RX" type veth peer name "$GEN" netns "$NS"
ip link set dev "$RX" up
ip -n "$NS" link set dev "$GEN" up
ip -n "$NS" link set dev lo up
ethtool -K "$RX" gro off >/dev/null 2>&1 || true

if [ "$ONLY" = all ]; then
	say "prefix lists: $N IPv4 and $N IPv6 (90% hosts, 10% networks, seed 1)"
	"$BENCH_XDP" gen --family 4 --count $N --seed 1 --out "$TMP/block4.txt" \
		--ipset-out "$TMP/ipset4.txt" --ipset-name wbench4 \
		--hosts "$TMP/hosts4.txt" --net-hosts "$TMP/nethosts4.txt" --hosts-count 4096
	"$BENCH_XDP" gen --family 6 --count $N --seed 1 --out "$TMP/block6.txt" \
		--ipset-out "$TMP/ipset6.txt" --ipset-name wbench6
	SRC=$(head -n1 "$TMP/hosts4.txt")
fi

say "per-packet cost (bench_xdp, BPF_PROG_TEST_RUN)"
timeout 900 "$BENCH_XDP" --cpu "$CPU" ${XDP_ARGS[@]+"${XDP_ARGS[@]}"} \
	--out "$TMP/per_packet.json"

live_l4() {
	say "live l4 forwarding (livegen -> veth -> weir l4 / trivial XDP_TX -> back)"
	timeout 900 "$PY" bench/xdpbench.py live-l4 --iface "$RX" --gen-netns "$NS" \
		--gen-dev "$GEN" --livegen "$LIVEGEN" --weirctl "$WEIRCTL" \
		--tx-obj "$TX_OBJ" --drop-obj "$DROP_OBJ" --pin-dir "$PINL" \
		--sources-file "$TMP/l4_sources.txt" --cpu "$CPU" \
		--rounds $ROUNDS --duration $DUR --out "$TMP/live_l4.json"
}

# What was measured (into $TMP/meta.json, and $REV): the command, the
# commit, whether weir's sources differed from it, and the BPF object's hash.
meta() {
	local cmd sha
	if [ -n "${MAKELEVEL:-}" ]; then
		cmd="make bench"
		if [ "$BUILD" != build ]; then cmd="$cmd BUILD=$BUILD"; fi
		if [ "$ONLY" = l4 ]; then cmd="$cmd BENCH_ARGS='--only l4'"; fi
	else
		cmd="BUILD=$BUILD bench/run.sh"
		if [ "$QUICK" = 1 ]; then cmd="$cmd --quick"; fi
		if [ "$ONLY" = l4 ]; then cmd="$cmd --only l4"; fi
	fi
	REV=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
	if [ -n "$(git status --porcelain -- bpf maps loader 2>/dev/null)" ]; then
		REV="$REV + uncommitted changes in bpf/ maps/ loader/"
	fi
	sha=$(sha256sum "$BUILD/weir_xdp.bpf.o" 2>/dev/null | cut -c1-12)
	printf '{"command": "%s", "mode": "%s", "elapsed_s": %d, "build": "%s", "git": "%s", "weir_xdp_bpf_o_sha256": "%s"}\n' \
		"$cmd" "$MODE" $(($(date +%s) - start)) "$BUILD" "$REV" "$sha" >"$TMP/meta.json"
}

if [ "$ONLY" = l4 ]; then
	live_l4
	say "report and plots -> $RESULTS/ (merged into the last full run's)"
	meta
	"$PY" bench/xdpbench.py report --base "$RESULTS/xdp.json" \
		--per-packet "$TMP/per_packet.json" --live-l4 "$TMP/live_l4.json" \
		--meta "$TMP/meta.json" --out-json "$RESULTS/xdp.json" --out-md "$RESULTS/README.md"
	"$PY" bench/plot.py "$RESULTS/xdp.json" "$RESULTS" l4
	say "done in $(($(date +%s) - start)) s: $RESULTS/README.md"
	exit 0
fi

say "blocklist import: weirctl beside ipset restore"
timeout 900 "$PY" bench/xdpbench.py import --iface "$RX" --weirctl "$WEIRCTL" \
	--pin-dir "$PINI" --list4 "$TMP/block4.txt" --list6 "$TMP/block6.txt" \
	--ipset4 "$TMP/ipset4.txt" --ipset6 "$TMP/ipset6.txt" \
	--rounds $IMPORT_ROUNDS --out "$TMP/import.json"

say "live packet rate (livegen -> veth -> receiver), source $SRC"
timeout 900 "$PY" bench/xdpbench.py live --iface "$RX" --gen-netns "$NS" \
	--gen-dev "$GEN" --livegen "$LIVEGEN" --weirctl "$WEIRCTL" \
	--drop-obj "$DROP_OBJ" --list4 "$TMP/block4.txt" --hosts "$TMP/hosts4.txt" \
	--net-hosts "$TMP/nethosts4.txt" \
	--src "$SRC" --pin-dir "$PIN" --pin-dir1 "$PIN1" --cpu "$CPU" \
	--rounds $ROUNDS --duration $DUR --out "$TMP/live.json"

live_l4

say "report and plots -> $RESULTS/"
mkdir -p "$RESULTS"
meta
"$PY" bench/xdpbench.py report --per-packet "$TMP/per_packet.json" \
	--import "$TMP/import.json" --live "$TMP/live.json" --live-l4 "$TMP/live_l4.json" \
	--meta "$TMP/meta.json" --out-json "$RESULTS/xdp.json" --out-md "$RESULTS/README.md"
"$PY" bench/plot.py "$RESULTS/xdp.json" "$RESULTS"
say "router: match cost at 1k/10k/100k routes of each kind -> $RESULTS/router.md"
"$BUILD/bench_router" >"$RESULTS/router.json" 2>"$TMP/router.txt"
{
	echo "# Route matching"
	echo
	echo "\`$BUILD/bench_router\` at $REV: routers of 1k, 10k and 100k routes of each kind,"
	echo "random existing requests, ns per match (median of 5 rounds, thread CPU time) and"
	echo "bytes per route. Goal at 100k: static <= 100 ns, prefix and param <= 250 ns."
	echo
	echo '\`\`\`'
	cat "$TMP/router.txt"
	echo '\`\`\`'
} >"$RESULTS/router.md"

say "sign: signature and AES-GCM costs per call, body-crypto through weir -> $RESULTS/sign.md"
"$BUILD/bench_sign" >"$RESULTS/sign.json" 2>"$TMP/sign.txt"
{
	echo "# Request signatures and body encryption"
	echo
	echo "\`$BUILD/bench_sign\` at $REV: ns per call (median of 5 rounds, thread CPU time),"
	echo "beside memcpy of the same body."
	echo
	echo '```'
	cat "$TMP/sign.txt"
	echo '```'
	echo
	echo "\`bench/sign_http.sh\`: wrk POSTs through one weir worker to a plain route and a"
	echo "body-crypto route, alternated."
	echo
	BUILD=$BUILD ROUNDS=$([ "$QUICK" = 1 ] && echo 1 || echo 5) bench/sign_http.sh
} >"$RESULTS/sign.md"

say "forward-auth: wrk against weir's forward-auth and nginx auth_request -> $RESULTS/fwdauth.md"
{
	echo "# Forward authentication"
	echo
	echo "\`bench/fwdauth_http.sh\` at $REV: every request asks an auth service (nginx) and goes"
	echo "to the upstream (nginx), through one weir worker or one nginx worker, alternated."
	echo
	BUILD=$BUILD ROUNDS=$([ "$QUICK" = 1 ] && echo 1 || echo 5) bench/fwdauth_http.sh
} >"$RESULTS/fwdauth.md"

say "http: wrk against weir, nginx and HAProxy -> $RESULTS/http.md"
BUILD=$BUILD RESULTS=$RESULTS QUICK=$QUICK bench/http/run.sh

say "cache: wrk against weir's proxy-cache, the route uncached, nginx -> $RESULTS/cache.md"
if [ "$QUICK" = 1 ]; then
	BUILD=$BUILD RESULTS=$RESULTS bench/http/cache.sh --quick
else
	BUILD=$BUILD RESULTS=$RESULTS bench/http/cache.sh
fi

say "done in $(($(date +%s) - start)) s: $RESULTS/README.md, router.md, sign.md, fwdauth.md, http.md, cache.md"
