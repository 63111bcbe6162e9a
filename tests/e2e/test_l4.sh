#!/bin/bash
# tests/e2e/test_l4.sh - l4 services through weir's XDP program with real TCP:
# a client, a gateway and four backends, each in its own network namespace.
#
#   [client] c1 10.98.1.2 fd98:1::2
#       |
#   c0 10.98.1.1 fd98:1::1   [gateway: weir_xdp native on c0, forwarding on]
#   bN0 10.98.1N.1 fd98:1N::1 ... (N = 1..4, MTU 1600 for the outer header)
#       |
#   [backend N] bN1 10.98.1N.2 fd98:1N::2, weir_decap native on bN1;
#               the service addresses 10.98.100.1 and fd98:100::1 on lo
#
# Packets to an l4 service leave the gateway's XDP program encapsulated (or,
# for --dsr, with new MACs) and redirected to bN0; weir_decap strips the outer
# header on the backend; answers go back through the gateway's kernel.
# The body runs inside the gateway namespace in one shell, so that the pins
# weirctl makes (on a bpffs it mounts there) stay visible to every command.
set -u
cd "$(dirname "$0")/../.."
. tests/lib.sh

G=wl4g$$ C=${C:-wl4c$$}
BS=(wl4b1$$ wl4b2$$ wl4b3$$ wl4b4$$)
DECAP=${DECAP:-build/weir_decap.bpf.o}
P=tests/e2e/l4_peer.py
VIP=10.98.100.1 VIP6=fd98:100::1

if [ "${1:-}" != --inner ]; then
	cleanup() {
		for ns in "$C" "$G" "${BS[@]}"; do
			ip netns pids "$ns" 2>/dev/null | xargs -r kill 2>/dev/null
			ip netns del "$ns" 2>/dev/null
		done
	}
	trap cleanup EXIT
	trap "exit 1" INT TERM
	for ns in "$C" "$G" "${BS[@]}"; do ip netns add "$ns"; ip -n "$ns" link set lo up; done
	ip -n "$G" link add name c0 type veth peer name c1 netns "$C"
	ip -n "$G" addr add 10.98.1.1/24 dev c0
	ip -n "$G" -6 addr add fd98:1::1/64 dev c0 nodad
	ip -n "$G" link set c0 up
	ip -n "$C" addr add 10.98.1.2/24 dev c1
	ip -n "$C" -6 addr add fd98:1::2/64 dev c1 nodad
	ip -n "$C" link set c1 up
	# A veth hands the peer frames with the TCP checksum still to be filled
	# in; a frame XDP redirects loses that state. Frames off a real wire
	# are complete: make the client's complete too.
	ip netns exec "$C" ethtool -K c1 tx off >/dev/null
	ip -n "$C" route add default via 10.98.1.1
	ip -n "$C" -6 route add default via fd98:1::1
	ip netns exec "$G" sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1
	for n in 1 2 3 4; do
		b=${BS[$((n - 1))]}
		ip -n "$G" link add name b${n}0 mtu 1600 type veth peer name b${n}1 netns "$b"
		ip -n "$G" addr add 10.98.1$n.1/24 dev b${n}0
		ip -n "$G" -6 addr add fd98:1$n::1/64 dev b${n}0 nodad
		ip -n "$G" link set b${n}0 up
		ip -n "$b" link set b${n}1 mtu 1600
		ip -n "$b" addr add 10.98.1$n.2/24 dev b${n}1
		ip -n "$b" -6 addr add fd98:1$n::2/64 dev b${n}1 nodad
		ip -n "$b" addr add $VIP/32 dev lo
		ip -n "$b" -6 addr add $VIP6/128 dev lo nodad
		ip -n "$b" link set b${n}1 up
		ip -n "$b" route add default via 10.98.1$n.1
		ip -n "$b" -6 route add default via fd98:1$n::1
		ip netns exec "$b" sysctl -qw net.ipv4.conf.all.rp_filter=0 \
			net.ipv4.conf.b${n}1.rp_filter=0
		ip -n "$b" link set dev b${n}1 xdpdrv obj "$DECAP" sec xdp
		for port in 80 81; do
			ip netns exec "$b" python3 $P serve b$n $VIP $port &
		done
		ip netns exec "$b" python3 $P serve b$n $VIP6 80 &
	done
	ip netns exec "$G" env C="$C" WEIRCTL="$WEIRCTL" bash "$0" --inner
	exit $?
fi

PIN=/sys/fs/bpf/weir-test-l4
W() { "$WEIRCTL" --pin-dir "$PIN" "$@"; }
CL() { ip netns exec "$C" "$@"; }
spread() { CL python3 $P spread "$1" "$2" "$3" "${4:-3}"; }
field() { python3 -c "import json,sys; print(json.load(sys.stdin).get('$1', 0))"; }
stat_of() { W stats --json | python3 -c "import json,sys; print(json.load(sys.stdin)['$1']['packets'])"; }
list() { W service list --json; }

check "attach natively to the client-facing veth" W attach c0 --mode native
check "add an l4 service" W service add $VIP:80/tcp --mode l4
check_eq "the flow budget starts at a quarter of the flow table per CPU" 65536 \
	"$(list | field flow_track_rate)"
for n in 1 2 3; do
	check "add backend b$n (next hop resolved over netlink)" \
		W service backend add $VIP:80 10.98.1$n.2
done

# New connections spread over the three backends.
S=$(spread $VIP 80 90)
check_eq "90 connections through XDP, none failed" 0 "$(echo "$S" | field failed)"
for n in 1 2 3; do
	check_ge "backend b$n got its share (>= 10 of 90)" 10 "$(echo "$S" | field b$n)"
done
check_ge "forwarded packets are counted" 90 "$(stat_of l4_forwarded)"
status_of() { W status --json | python3 -c "import json,sys; print(json.load(sys.stdin)['maps']['$1'])"; }
check_eq "status counts the service" 1 "$(status_of services)"
check_ge "status counts the tracked flows" 90 "$(status_of flows)"

# Established connections keep their backend while the set changes.
coproc HOLD { CL python3 $P hold $VIP 80 24 3; }
read -r -t 20 NAMES <&"${HOLD[0]}"
ping_all() { echo ping >&"${HOLD[1]}"; read -r -t 30 R <&"${HOLD[0]}"; echo "$R"; }
all_true() { python3 -c "import json,sys; v=json.loads(sys.argv[1]); sys.exit(0 if v and all(v) else 1)" "$1"; }
on_alive() { # the results of the connections not on backend $2
	python3 -c "
import json,sys
names, oks = json.loads(sys.argv[1]), json.loads(sys.argv[2])
sys.exit(0 if all(ok for n, ok in zip(names, oks) if n != sys.argv[3]) else 1)" "$NAMES" "$1" "$2"; }
check "24 held connections opened" python3 -c "import json,sys; v=json.loads(sys.argv[1]); sys.exit(0 if len(v)==24 and all(v) else 1)" "$NAMES"
check "held connections echo" all_true "$(ping_all)"
check "add a fourth backend" W service backend add $VIP:80 10.98.14.2
check "after the add, every held connection still echoes" all_true "$(ping_all)"
S=$(spread $VIP 80 60)
check_ge "the fourth backend gets new connections" 5 "$(echo "$S" | field b4)"
check "remove the fourth backend" W service backend del $VIP:80 10.98.14.2
check "after the removal, every held connection still echoes" all_true "$(ping_all)"
check_ge "service list counts tracked flows" 24 "$(list | python3 -c "
import json,sys
print(sum(b['flows'] for s in json.load(sys.stdin)['services'] for b in s['backends']))")"

# Draining: no new flows, the tracked ones go on.
check "drain b1 (weight 0)" W service backend set-weight $VIP:80 10.98.11.2 0
S=$(spread $VIP 80 60)
check_eq "a draining backend gets no new connection" 0 "$(echo "$S" | field b1)"
check_eq "the others take all of them" 0 "$(echo "$S" | field failed)"
check "held connections on the draining backend still echo" all_true "$(ping_all)"
check "remove b1" W service backend del $VIP:80 10.98.11.2
check "connections on the other backends survive the removal" on_alive "$(ping_all)" b1
echo quit >&"${HOLD[1]}"; wait "$HOLD_PID" 2>/dev/null

# L2 direct server return: MACs rewritten, no encapsulation.
check "add a dsr service" W service add $VIP:81 --mode l4 --dsr
check "dsr backend b2" W service backend add $VIP:81 10.98.12.2
check "dsr backend b3" W service backend add $VIP:81 10.98.13.2 --weight 2
S=$(spread $VIP 81 40)
check_eq "40 dsr connections, none failed" 0 "$(echo "$S" | field failed)"
check_ge "dsr: b2 used" 5 "$(echo "$S" | field b2)"
check_ge "dsr: b3 used" 5 "$(echo "$S" | field b3)"

# IPv6 in IPv6.
check "add an IPv6 l4 service" W service add "[$VIP6]:80" --mode l4
for n in 1 2 3; do
	check "IPv6 backend b$n" W service backend add "[$VIP6]:80" fd98:1$n::2
done
S=$(spread $VIP6 80 45)
check_eq "45 IPv6 connections, none failed" 0 "$(echo "$S" | field failed)"
check_ge "IPv6: b1 used" 3 "$(echo "$S" | field b1)"
check_ge "IPv6: b2 used" 3 "$(echo "$S" | field b2)"
check_ge "IPv6: b3 used" 3 "$(echo "$S" | field b3)"

# Bad input: one line, non-zero, nothing changed.
ip route add 10.98.200.0/24 via 10.98.13.2
W service add $VIP:8080 --mode l7 >/dev/null
BEFORE=$(list)
check_fails "no port" "expected ADDR:PORT" W service add $VIP --mode l4
check_fails "port out of range" "port '70000'" W service add $VIP:70000 --mode l4
check_fails "protocol" "tcp or udp" W service add $VIP:90/sctp --mode l4
check_fails "IPv6 without brackets" "\[ADDR\]:PORT" W service add fd98::1:80 --mode l4
check_fails "missing mode" "--mode is required" W service add $VIP:90
check_fails "unknown mode" "--mode 'l5'" W service add $VIP:90 --mode l5
check_fails "dsr without l4" "only for --mode l4" W service add $VIP:90 --mode l7 --dsr
check_fails "syn cookies on udp" "only for --mode l7 TCP" W service add $VIP:90/udp --mode l7 --syn-cookies 10
check_fails "syn cookies rate 0" "at least 1" W service add $VIP:90 --mode l7 --syn-cookies 0
check_fails "syn cookies garbage" "--syn-cookies rate 'x'" W service add $VIP:90 --mode l7 --syn-cookies x
check_fails "existing service" "exists" W service add $VIP:80 --mode l7
check_fails "delete a missing service" "no service" W service del $VIP:99
check_fails "backend of a missing service" "no service" W service backend add $VIP:99 10.98.12.2
check_fails "backend of an l7 service" "only l4 services" W service backend add $VIP:8080 10.98.12.2
check_fails "IPv6 backend of an IPv4 service" "needs IPv4 backends" W service backend add $VIP:80 fd98:12::2
check_fails "backend twice" "already a backend" W service backend add $VIP:80 10.98.12.2
check_fails "backend without a route" "no route|unicast route" W service backend add $VIP:80 192.0.2.77
check_fails "backend on this host" "address of this host" W service backend add $VIP:80 10.98.12.1
check_fails "dsr backend behind a gateway" "through a gateway" W service backend add $VIP:81 10.98.200.5
check_fails "weight too large" "--weight '70000'" W service backend add $VIP:80 10.98.14.2 --weight 70000
check_fails "bad mac" "--mac 'zz'" W service backend add $VIP:80 10.98.14.2 --mac zz
check_fails "backend address" "not an IPv4 or IPv6" W service backend add $VIP:80 10.98.14
check_fails "set-weight of a stranger" "not a backend" W service backend set-weight $VIP:80 10.98.14.2 3
check_fails "set-weight garbage" "WEIGHT 'x'" W service backend set-weight $VIP:80 10.98.12.2 x
check_fails "del a stranger" "not a backend" W service backend del $VIP:80 10.98.14.2
check_fails "flow-limit garbage" "RATE 'x'" W service flow-limit x
check_eq "after the bad input, the services are as they were" "$BEFORE" "$(list)"

check "flow-limit" W service flow-limit 100000
check_eq "flow-limit shown" 100000 "$(list | field flow_track_rate)"

# Deleting a service stops the steering.
check "delete the IPv4 service" W service del $VIP:80
S=$(spread $VIP 80 2 1)
check_eq "without the service, nothing answers on it" 2 "$(echo "$S" | field failed)"
check "delete the others" bash -c "'$WEIRCTL' --pin-dir $PIN service del $VIP:81 &&
	'$WEIRCTL' --pin-dir $PIN service del '[$VIP6]:80' &&
	'$WEIRCTL' --pin-dir $PIN service del $VIP:8080"
check_eq "no services left" "[]" "$(list | python3 -c 'import json,sys; print(json.load(sys.stdin)["services"])')"
W detach c0 --purge >/dev/null 2>&1
finish
