#!/bin/bash
# bench/pktgen.sh - drive the kernel's packet generator (pktgen) at weir.
#
#   bench/pktgen.sh --dev DEV [--dst-mac MAC] [--src IP[-IP]] [--dst IP]
#                   [--size BYTES] [--count N] [--duration SEC]
#                   [--threads N] [--burst N] [--rx-count FILE]
#
# For hosts whose kernel has pktgen (CONFIG_NET_PKTGEN): sends --count
# frames of --size bytes (default 64, FCS included as pktgen counts) out of
# DEV, one pktgen thread per CPU up to --threads, and stops after --duration
# seconds at the latest (both bounded). With --src A-B the source address
# walks the range, e.g. the blocklisted hosts of a test list; with
# --rx-count (a receiver counter such as /sys/class/net/PEER/statistics/
# rx_packets, readable from here) it also prints the receive rate.
#
# DEV is the sending side: a veth whose peer carries weir (as in
# bench/run.sh: run this inside the generator's namespace with
# `ip netns exec weirbench-gen bench/pktgen.sh --dev wbgen0 ...`; pktgen is
# per network namespace), or a NIC cabled to the machine under test.
# Send only to your own test hosts.
#
# Kernel pktgen is not built into this project's CI/dev machines (no
# /proc/net/pktgen, no pktgen module), so there `make bench` uses
# build/livegen instead (BPF_PROG_TEST_RUN with live frames, see
# bench/livegen.c): this script then explains that and exits with status 2.
set -euo pipefail

DEV="" DST_MAC="" SRC="198.18.0.1" DST="198.19.0.1" SIZE=64 COUNT=10000000
DURATION=10 THREADS=1 BURST=32 RX_COUNT=""

usage() {
	sed -n '4,6p' "$0" | sed 's/^# \{0,1\}//'
	exit "${1:-2}"
}

while [ $# -gt 0 ]; do
	case "$1" in
	--dev) DEV=$2; shift 2 ;;
	--dst-mac) DST_MAC=$2; shift 2 ;;
	--src) SRC=$2; shift 2 ;;
	--dst) DST=$2; shift 2 ;;
	--size) SIZE=$2; shift 2 ;;
	--count) COUNT=$2; shift 2 ;;
	--duration) DURATION=$2; shift 2 ;;
	--threads) THREADS=$2; shift 2 ;;
	--burst) BURST=$2; shift 2 ;;
	--rx-count) RX_COUNT=$2; shift 2 ;;
	-h|--help) usage 0 ;;
	*) echo "pktgen.sh: unknown argument '$1'" >&2; usage ;;
	esac
done

if [ ! -d /proc/net/pktgen ]; then
	modprobe pktgen 2>/dev/null || true
fi
if [ ! -d /proc/net/pktgen ]; then
	cat >&2 <<'EOF'
pktgen.sh: this kernel has no pktgen: /proc/net/pktgen does not exist and
'modprobe pktgen' found no module (CONFIG_NET_PKTGEN is off).

Use build/livegen instead (what `make bench` runs): it sends real frames
through a veth with BPF_PROG_TEST_RUN and BPF_F_TEST_XDP_LIVE_FRAMES, e.g.
  build/livegen --netns weirbench-gen --dev wbgen0 --cpu 1 --src 198.18.0.1 \
      --duration 2 --rx-count /sys/class/net/wbrx0/statistics/rx_packets
On a kernel with pktgen, run this script with --dev DEV.
EOF
	exit 2
fi

[ -n "$DEV" ] || { echo "pktgen.sh: --dev is required" >&2; usage; }
[ "$(id -u)" = 0 ] || { echo "pktgen.sh: needs root" >&2; exit 1; }
ip link show "$DEV" >/dev/null 2>&1 || { echo "pktgen.sh: no device $DEV here" >&2; exit 1; }
case "$COUNT" in ''|*[!0-9]*) echo "pktgen.sh: --count must be a number" >&2; exit 2 ;; esac
[ "$COUNT" -ge 1 ] && [ "$COUNT" -le 10000000000 ] || { echo "pktgen.sh: --count 1..1e10" >&2; exit 2; }
case "$DURATION" in ''|*[!0-9]*) echo "pktgen.sh: --duration must be whole seconds" >&2; exit 2 ;; esac
[ "$DURATION" -ge 1 ] && [ "$DURATION" -le 600 ] || { echo "pktgen.sh: --duration 1..600" >&2; exit 2; }
NCPU=$(nproc)
[ "$THREADS" -ge 1 ] && [ "$THREADS" -le "$NCPU" ] || { echo "pktgen.sh: --threads 1..$NCPU" >&2; exit 2; }
if [ -z "$DST_MAC" ]; then
	# a veth's peer, or the sender's own MAC as a harmless default
	DST_MAC=$(cat "/sys/class/net/$DEV/address")
fi

pg() { # pg FILE CMD: write one pktgen command and check its answer
	echo "$2" >"$1"
	if [ "$1" != /proc/net/pktgen/pgctrl ] && ! grep -q "Result: OK" "$1"; then
		echo "pktgen.sh: '$2' -> $(grep Result: "$1")" >&2
		return 1
	fi
}

cleanup() {
	set +e
	echo stop >/proc/net/pktgen/pgctrl 2>/dev/null
	for ((t = 0; t < THREADS; t++)); do
		echo rem_device_all >"/proc/net/pktgen/kpktgend_$t" 2>/dev/null
	done
}
trap cleanup EXIT INT TERM

SRC_MIN=${SRC%-*} SRC_MAX=${SRC#*-}
PER_THREAD=$((COUNT / THREADS))
for ((t = 0; t < THREADS; t++)); do
	th=/proc/net/pktgen/kpktgend_$t
	name="$DEV@$t"
	pg "$th" rem_device_all
	pg "$th" "add_device $name"
	d=/proc/net/pktgen/$name
	pg "$d" "count $PER_THREAD"
	pg "$d" "pkt_size $SIZE"
	pg "$d" "delay 0"
	pg "$d" "burst $BURST"
	pg "$d" "clone_skb 1000"
	pg "$d" "dst $DST"
	pg "$d" "dst_mac $DST_MAC"
	pg "$d" "src_min $SRC_MIN"
	pg "$d" "src_max $SRC_MAX"
	pg "$d" "flag IPSRC_RND"
	pg "$d" "udp_src_min 9"
	pg "$d" "udp_src_max 9"
	pg "$d" "udp_dst_min 9"
	pg "$d" "udp_dst_max 9"
done

rx0=0
[ -n "$RX_COUNT" ] && rx0=$(cat "$RX_COUNT")
t0=$(date +%s.%N)
# 'start' blocks until every thread is done; stop it after DURATION.
(sleep "$DURATION"; echo stop >/proc/net/pktgen/pgctrl 2>/dev/null) &
stopper=$!
echo start >/proc/net/pktgen/pgctrl || true
kill "$stopper" 2>/dev/null || true
wait "$stopper" 2>/dev/null || true
t1=$(date +%s.%N)

echo "pktgen on $DEV: $THREADS thread(s), $SIZE-byte frames, src $SRC, dst $DST ($DST_MAC)"
for ((t = 0; t < THREADS; t++)); do
	grep -A2 '^Result' "/proc/net/pktgen/$DEV@$t" | sed "s/^/  [$t] /"
done
if [ -n "$RX_COUNT" ]; then
	rx1=$(cat "$RX_COUNT")
	awk -v a="$rx0" -v b="$rx1" -v t0="$t0" -v t1="$t1" 'BEGIN {
		printf "received %d frames in %.2f s: %.2f Mpps\n", b - a, t1 - t0, (b - a) / (t1 - t0) / 1e6 }'
fi
