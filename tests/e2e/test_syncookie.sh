#!/bin/bash
# tests/e2e/test_syncookie.sh - the SYN-cookie defence end to end: a spoofed
# SYN flood (with bad ACKs in it) from a client namespace against an l7
# service with --syn-cookies, during which a real client still connects and
# exchanges data, again and again; IPv4 and IPv6.
#
#   [netns wscN] wsc1 10.97.0.2, fd97::2  <-->  wsgN 10.97.0.1, fd97::1 [root]
#                floods from 198.18.0.0/15,          weir_xdp (native) on wsgN,
#                2001:db8:f100::/40 (raw frames)     echo servers on :8080,
#                                                    nftables SYNPROXY (weirctl)
#
# XDP answers the SYNs over the service's rate with XDP_TX, and veth hands
# XDP_TX frames to its peer only when the peer runs XDP too: the client end
# gets a pass-all program (the kernel selftest does the same with its
# xdp_dummy), built here from three lines. The kernel's replies to the
# flood's sources (to the SYNs within the rate) are routed back to the client
# namespace, which drops them: none leaves the machine. The trap removes
# everything and restores the sysctls weirctl changes, pass or fail.
set -u
cd "$(dirname "$0")/../.."
. tests/lib.sh

NS=wsc$$
GW=wsg$$
PIN=/sys/fs/bpf/weir-test-syncookie-$$
# weirctl's table for this pin directory: its basename and FNV-1a of the path
TABLE=weir_synproxy_weir_test_syncookie_$$_$(python3 -c '
import sys
h = 2166136261
for b in sys.argv[1].encode():
    h = ((h ^ b) * 16777619) & 0xffffffff
print("%08x" % h)' "$PIN")
TMP=$(mktemp -d)
T=tests/e2e/syncookie_traffic.py
PORT=8080
RATE=20
W() { "$WEIRCTL" --pin-dir "$PIN" "$@"; }
C() { ip netns exec "$NS" "$@"; }
SYSCTLS="net.ipv4.tcp_syncookies net.ipv4.tcp_timestamps net.netfilter.nf_conntrack_tcp_loose"
# nf_conntrack_tcp_loose exists once conntrack is loaded; its default is 1.
SAVED=$(for s in $SYSCTLS; do v=$(sysctl -n "$s" 2>/dev/null || echo 1) && echo "$s=$v"; done)
cleanup() {
	stop_pids
	W service del "10.97.0.1:$PORT/tcp" >/dev/null 2>&1
	W service del "[fd97::1]:$PORT/tcp" >/dev/null 2>&1
	nft delete table inet "$TABLE" 2>/dev/null
	W detach "$GW" >/dev/null 2>&1
	veth_ns_del "$NS" "$GW"
	for kv in $SAVED; do sysctl -qw "$kv" 2>/dev/null; done
	rm -rf "$PIN" "$TMP"
}
trap cleanup EXIT

veth_ns "$NS" "$GW" "10.97.0.1/24 fd97::1/64" wsc1 "10.97.0.2/24 fd97::2/64"
ip route add 198.18.0.0/15 via 10.97.0.2 dev "$GW"
ip -6 route add 2001:db8:f100::/40 via fd97::2 dev "$GW"
printf '%s\n' '#include <linux/bpf.h>' '#include <bpf/bpf_helpers.h>' \
	'SEC("xdp") int xdp_pass(struct xdp_md *ctx) { return XDP_PASS; }' \
	'char LICENSE[] SEC("license") = "GPL";' |
	clang -O2 -target bpf -I/usr/include/"$(uname -m)"-linux-gnu -c -x c - -o "$TMP/pass.o"
C ip link set dev wsc1 xdpdrv obj "$TMP/pass.o" sec xdp
GWMAC=$(cat /sys/class/net/"$GW"/address)

python3 $T echo-server 10.97.0.1 $PORT 1024 & PIDS+=($!)
python3 $T echo-server fd97::1 $PORT 1024 & PIDS+=($!)

echo4() { C python3 $T echo-client 10.97.0.2 10.97.0.1 $PORT "$1" 5; }
echo6() { C python3 $T echo-client fd97::2 fd97::1 $PORT "$1" 5; }
stat_of() { W stats --json |
	python3 -c "import json,sys; print(json.load(sys.stdin)['$1']['packets'])"; }
# A counter of /proc/net/netstat (TcpExt) of the root namespace.
netstat_of() { awk -v k="$1" '$1 == "TcpExt:" { if (!n) { split($0, h); n = 1 } else
	for (i = 2; i <= NF; i++) if (h[i] == k) print $i }' /proc/net/netstat; }
# SYNPROXY's cookie_valid, summed over the CPUs (hex, one line per CPU).
synproxy_valid() { python3 -c "import sys
print(sum(int(l.split()[3], 16) for l in open('/proc/net/stat/synproxy').readlines()[1:]))"; }
conntrack_count() { cat /proc/sys/net/netfilter/nf_conntrack_count; }
txdropped() { C cat /sys/class/net/wsc1/statistics/tx_dropped; }
halfopen() { ss -Htn state syn-recv "( sport = :$PORT )" | wc -l; }
table_has() { nft list table inet "$TABLE" 2>/dev/null | grep -q -- "$1"; }

# Plain forwarding first, so a failure below is weir's, not the topology's.
for i in 1 2 3 4 5; do echo4 1 >/dev/null 2>&1 && break; sleep 0.3; done
check "baseline: echo over IPv4 without weir" echo4 1
check "baseline: echo over IPv6 without weir" echo6 1

check "attach natively to the veth" W attach "$GW" --mode native
check "add the IPv4 service with SYN cookies above $RATE/s" \
	W service add "10.97.0.1:$PORT/tcp" --mode l7 --syn-cookies $RATE/$RATE
check "the service says so in its list" bash -c \
	"'$WEIRCTL' --pin-dir '$PIN' service list | grep -q 'syn-cookies above $RATE/s'"
check "nftables table $TABLE holds the IPv4 service" table_has "10.97.0.1 . $PORT"
check "add the IPv6 service with SYN cookies" \
	W service add "[fd97::1]:$PORT/tcp" --mode l7 --syn-cookies $RATE/$RATE
check "the table holds both" bash -c "nft list table inet $TABLE | grep -q 'fd97::1 . $PORT' &&
	nft list table inet $TABLE | grep -q '10.97.0.1 . $PORT'"
check "the table hands ACKs without a connection to SYNPROXY" table_has "synproxy"
check_eq "conntrack no longer picks up connections it did not see open" 0 \
	"$(sysctl -n net.netfilter.nf_conntrack_tcp_loose)"
check "echo over IPv4 with the defence on, no flood" echo4 3
check "echo over IPv6 with the defence on, no flood" echo6 3

# flood FAMILY NSYN NACK SRCNET CLIENT: a flood of at least NSYN SYNs (and
# NACK bad ACKs) that goes on until CLIENT has made its connections.
flood() {
	local fam=$1 nsyn=$2 nack=$3 net=$4 client=$5 dst=10.97.0.1
	[ "$fam" = 6 ] && dst=fd97::1
	rm -f "$TMP/stop" "$TMP/flood"
	local valid0 ct0 drops0 of0 rq0 l0 txd0
	S0=$(stat_of syncookie_sent); B0=$(stat_of syncookie_bad_ack)
	valid0=$(synproxy_valid); ct0=$(conntrack_count); txd0=$(txdropped)
	drops0=$(netstat_of ListenDrops); of0=$(netstat_of ListenOverflows)
	rq0=$(netstat_of TCPReqQFullDoCookies); l0=$(netstat_of TCPReqQFullDrop)
	C python3 $T flood wsc1 "$GWMAC" $dst $PORT "$net" "$nsyn" "$nack" "$TMP/stop" \
		"$TMP/flood" & local fpid=$!; PIDS+=($fpid)
	# the client starts once the flood has drained the rate and its ACKs run
	for i in $(seq 200); do
		[ "$(cut -d' ' -f2 "$TMP/flood" 2>/dev/null || echo 0)" -gt 0 ] && break
		kill -0 $fpid 2>/dev/null || break
		sleep 0.1
	done
	local hmax=0 h ok=0 flooding=0
	for round in 1 2 3; do
		if $client 3 >"$TMP/client" 2>&1; then ok=$((ok + 1))
		else sed 's/^/#   /' "$TMP/client"; fi
		h=$(halfopen); [ "$h" -gt "$hmax" ] && hmax=$h
	done
	kill -0 $fpid 2>/dev/null && flooding=1
	touch "$TMP/stop"
	wait $fpid
	SYNS=0 ACKS=0
	[ -f "$TMP/flood" ] && read -r SYNS ACKS <"$TMP/flood"
	check_eq "IPv$fam: the flood was still on when the client was done" 1 $flooding
	check_eq "IPv$fam: a real client connected and echoed 9 times during $SYNS spoofed SYNs" \
		3 $ok
	check_eq "IPv$fam: the flood sent at least $nsyn SYNs and $nack bad ACKs" 1 \
		$(( SYNS >= nsyn && ACKS == nack ))
	# Frames the veth could not take are counted at the sender; the rest met
	# XDP. At most burst + rate x 60 s (the flood's limit) SYNs are within
	# the rate; a random ACK is a valid cookie with odds 4 in 2^24.
	local sent=$(( $(stat_of syncookie_sent) - S0 ))
	local bad=$(( $(stat_of syncookie_bad_ack) - B0 ))
	local valid=$(( $(synproxy_valid) - valid0 )) txd=$(( $(txdropped) - txd0 ))
	check_ge "IPv$fam: XDP answered the flood's SYNs over the rate with cookies ($sent)" \
		$(( SYNS - RATE - RATE * 60 - txd )) $sent
	check_ge "IPv$fam: every bad ACK that reached XDP was dropped and counted ($bad)" \
		$(( ACKS - txd - 1 )) $bad
	check_ge "IPv$fam: SYNPROXY completed the real client's cookie handshakes ($valid)" \
		1 $valid
	local ct=$(( $(conntrack_count) - ct0 ))
	check_eq "IPv$fam: the flood left no conntrack state (+$ct entries, < 2000)" 1 \
		$(( ct < 2000 ))
	check_eq "IPv$fam: the listener's SYN queue never overflowed" "$drops0 $of0 $rq0 $l0" \
		"$(netstat_of ListenDrops) $(netstat_of ListenOverflows) \
$(netstat_of TCPReqQFullDoCookies) $(netstat_of TCPReqQFullDrop)"
	check_eq "IPv$fam: half-open connections stayed under the backlog (max $hmax)" 1 \
		$(( hmax < 1024 ))
}

flood 4 20000 5000 198.18.0.0/15 echo4
flood 6 5000 1000 2001:db8:f100::/40 echo6

check "delete the IPv4 service" W service del "10.97.0.1:$PORT/tcp"
check "the table keeps only the IPv6 service" bash -c \
	"nft list table inet $TABLE | grep -q 'fd97::1 . $PORT' &&
	! nft list table inet $TABLE | grep -q '10.97.0.1 . $PORT'"
check "delete the IPv6 service" W service del "[fd97::1]:$PORT/tcp"
check "the nftables table is gone with the last such service" bash -c \
	"! nft list table inet $TABLE >/dev/null 2>&1"
check "echo over IPv4 without the service" echo4 2
check "echo over IPv6 without the service" echo6 2
finish
