#!/bin/bash
# tests/e2e/test_e2e.sh - weir's XDP layer attached natively to a veth, with
# real TCP, UDP and ICMP from a client in its own network namespace.
#
#   [netns wcliN] wgw1 10.99.0.2, .3, fd99::2  <-->  wgw0 10.99.0.1, fd99::1 [root]
#                                                    weir_xdp (native) on wgw0
#
# weir's interface stays in the root namespace, where the pins live (ip netns
# exec would hide /sys/fs/bpf). Servers listen in the root namespace.
set -u
cd "$(dirname "$0")/../.."
. tests/lib.sh

NS=wcli$$
GW=wgw$$
PIN=/sys/fs/bpf/weir-test-e2e-$$
TMP=$(mktemp -d)
T=tests/e2e/traffic.py
W() { "$WEIRCTL" --pin-dir "$PIN" "$@"; }
C() { ip netns exec "$NS" "$@"; }
cleanup() {
	stop_pids
	W detach "$GW" >/dev/null 2>&1
	veth_ns_del "$NS" "$GW"
	rm -rf "$PIN" "$TMP"
}
trap cleanup EXIT

veth_ns "$NS" "$GW" "10.99.0.1/24 fd99::1/64" wgw1 "10.99.0.2/24 10.99.0.3/24 fd99::2/64"

python3 $T tcp-server 10.99.0.1 8080 & PIDS+=($!)
python3 $T tcp-server fd99::1 8080 & PIDS+=($!)
python3 $T udp-echo 10.99.0.1 5353 & PIDS+=($!)
python3 $T udp-echo fd99::1 5353 & PIDS+=($!)
sleep 0.3 # let the servers bind; correctness does not depend on it (clients retry below)

tcp4() { C python3 $T tcp-connect 10.99.0.1 8080 "${1:-2}"; }
tcp6() { C python3 $T tcp-connect fd99::1 8080 "${1:-2}"; }
udp4() { C python3 $T udp-ask 10.99.0.1 5353 "${1:-2}"; }
udp6() { C python3 $T udp-ask fd99::1 5353 "${1:-2}"; }
ping4() { C ping -c 1 -W "${1:-2}" 10.99.0.1 >/dev/null; }
ping6() { C ping -6 -c 1 -W "${1:-2}" fd99::1 >/dev/null; }
passes() { "$@" 2>/dev/null; }
blocked() { ! "$@" 1 2>/dev/null; }
stat_of() { W stats --json | python3 -c "import json,sys; print(json.load(sys.stdin)['$1']['packets'])"; }
hits_of() { W "$1" list --json | python3 -c "
import json,sys
print(sum(e['hits'] for e in json.load(sys.stdin) if e['cidr'] == '$2'))"; }

# Plain forwarding first, so a failure below is weir's, not the topology's.
for i in 1 2 3; do tcp4 && break; sleep 0.5; done
check "baseline: TCP over IPv4 without weir" passes tcp4

check "attach natively to the veth" W attach "$GW" --mode native
check "status shows the native attachment" bash -c \
	"'$WEIRCTL' --pin-dir '$PIN' status | grep -E '^$GW +native +[0-9]+ +weir_xdp'"
check "TCP connect over IPv4 passes" passes tcp4
check "TCP connect over IPv6 passes" passes tcp6
check "UDP over IPv4 passes" passes udp4
check "UDP over IPv6 passes" passes udp6
check "ICMP echo over IPv4 passes" passes ping4
check "ICMPv6 echo passes" passes ping6
check_ge "passed packets are counted" 6 "$(stat_of passed)"

B0=$(stat_of blocklisted)
check "block the client's IPv4 prefix at runtime" W block add 10.99.0.0/29 --comment e2e
check "TCP over IPv4 is dropped" blocked tcp4
check "UDP over IPv4 is dropped" blocked udp4
check "ICMP over IPv4 is dropped" blocked ping4
check "IPv6 from the same client still passes" passes tcp6
check_ge "blocklisted packets are counted" $((B0 + 3)) "$(stat_of blocklisted)"
check_ge "the entry counts its hits" 3 "$(hits_of block 10.99.0.0/29)"

check "block the client's IPv6 address" W block add fd99::2/128
check "TCP over IPv6 is dropped" blocked tcp6
check "ICMPv6 is dropped" blocked ping6

check "allowlist the client's IPv4 address" W allow add 10.99.0.2/32
check "allowlisted source passes despite the block" passes tcp4
check_ge "allowlisted packets are counted" 1 "$(stat_of allowlisted)"
check "remove the allow entry" W allow del 10.99.0.2/32
check "blocked again without the allow entry" blocked tcp4
check "unblock IPv4 at runtime" W block del 10.99.0.0/29
check "TCP over IPv4 passes again" passes tcp4
check "IPv6 stays blocked" blocked tcp6

# 802.1Q and 802.1ad frames on the wire (this kernel has no VLAN devices:
# the client writes tagged frames itself), judged by the attached program.
GWMAC=$(cat /sys/class/net/"$GW"/address)
vlan() { C python3 $T vlan-send wgw1 "$GWMAC" "$1" 10.99.0.1 "$2" "$3"; }
check "block a source that only tagged frames carry" W block add 10.99.5.5/32
B0=$(stat_of blocklisted); P0=$(stat_of passed)
vlan 10.99.5.5 25 100
vlan 10.99.5.5 25 200,100
vlan 10.99.6.6 30 100
check_eq "tagged frames from the blocked source are dropped as blocklisted" \
	$((B0 + 50)) "$(stat_of blocklisted)"
check_ge "tagged frames from another source pass" $((P0 + 30)) "$(stat_of passed)"
check_eq "the entry counted the tagged frames" 50 "$(hits_of block 10.99.5.5/32)"
M0=$(stat_of malformed)
vlan 10.99.6.6 10 300,200,100
check_eq "three tags are malformed" $((M0 + 10)) "$(stat_of malformed)"
check "remove the tagged source's entry" W block del 10.99.5.5/32

# Detach restores plain forwarding; the entries stay pinned.
check "detach" W detach "$GW"
check "detached: blocked IPv6 source passes" passes tcp6
check_eq "detached: entries kept" "fd99::2/128" \
	"$(W block list --json | python3 -c 'import json,sys; print(" ".join(e["cidr"] for e in json.load(sys.stdin)))')"
check "re-attach" W attach "$GW"
check "re-attached: kept entry drops again" blocked tcp6
check "unblock IPv6" W block del fd99::2/128
check "IPv6 passes again" passes tcp6

# Per-source packet rate: 1 packet/s with a burst of 5. 50 datagrams sent
# back to back (microseconds apart) can only be admitted as the burst plus
# what the rate adds over the sending time.
check "set a packet rate limit for the client" W limit set 10.99.0.2/32 --pkt 1 --pkt-burst 5
python3 $T udp-sink 10.99.0.1 9100 "$TMP/limited" & SINK=$!; PIDS+=($SINK)
sleep 0.3
L0=$(stat_of pkt_limited)
C python3 $T udp-send 10.99.0.2 10.99.0.1 9100 50 1000000
sleep 0.5; kill -TERM $SINK; wait $SINK 2>/dev/null
GOT=$(cat "$TMP/limited")
check "rate-limited source gets at most burst + rate x time through" test "$GOT" -ge 1 -a "$GOT" -le 7
check_ge "packet-limited drops are counted" $((L0 + 43)) "$(stat_of pkt_limited)"
check "remove the override" W limit del 10.99.0.2/32
check "unlimited again" passes tcp4

# Upgrade under live traffic: every datagram from an allowlisted source must
# meet a weir program (its hits count them) and arrive (the sink counts them)
# while the program is replaced again and again.
N=20000
check "allowlist the upgrade test's source" W allow add 10.99.0.3/32
H0=$(hits_of allow 10.99.0.3/32)
python3 $T udp-sink 10.99.0.1 9000 "$TMP/received" & SINK=$!; PIDS+=($SINK)
sleep 0.3
C python3 $T udp-send 10.99.0.3 10.99.0.1 9000 $N 10000 & SENDER=$!
UPGRADES=0
while kill -0 $SENDER 2>/dev/null && [ $UPGRADES -lt 40 ]; do
	W attach "$GW" >/dev/null && UPGRADES=$((UPGRADES + 1))
done
wait $SENDER
sleep 0.5; kill -TERM $SINK; wait $SINK 2>/dev/null
check_ge "program replaced under traffic" 3 $UPGRADES
check_eq "no datagram lost across $UPGRADES upgrades" $N "$(cat "$TMP/received")"
check_eq "every datagram met a weir program" $N $(( $(hits_of allow 10.99.0.3/32) - H0 ))

# Upgrade from a build whose settings and counters had another shape (the
# first builds: a 24-byte config, 7 counters). The settings, the seed the
# tables' entries hash with among them, carry over; the counters restart.
check "block the client's address" W block add 10.99.0.2/32
cfg_bytes() { bpftool map dump pinned "$PIN/weir_config" -j | python3 -c '
import json, sys
print(" ".join(json.load(sys.stdin)[0]["value"][:int(sys.argv[1])]))' "$1"; }
OLD=$(cfg_bytes 24)
W detach "$GW" >/dev/null
rm "$PIN/weir_config" "$PIN/weir_stats"
bpftool map create "$PIN/weir_config" type array key 4 value 24 entries 1 name weir_config
bpftool map update pinned "$PIN/weir_config" key 0 0 0 0 value $OLD
bpftool map create "$PIN/weir_stats" type percpu_array key 4 value 16 entries 7 name weir_stats
check "attach over the older layout's config and counters" bash -c \
	"'$WEIRCTL' --pin-dir '$PIN' attach '$GW' | grep -q 'settings carried over'"
check_eq "the settings and the seed carried over" "$OLD" "$(cfg_bytes 24)"
check "the blocked address, found through the seeded table, is still dropped" blocked tcp4
check "unblock" W block del 10.99.0.2/32
check "and it passes" passes tcp4
finish
