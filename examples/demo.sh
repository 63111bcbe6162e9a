#!/bin/bash
# examples/demo.sh - `make run`: the whole gateway on an embedded default.
#
# Builds a demo network: a client namespace "weir-demo" (10.77.0.2, fd77::2)
# joined by a veth pair to the root namespace (weir-demo0: 10.77.0.1,
# fd77::1), attaches weir's XDP program natively to weir-demo0, starts a demo
# upstream (examples/demo-site on 127.0.0.1:9088) and the weir proxy in front
# of it with examples/demo.yaml (10.77.0.1:8080 and 127.0.0.1:8080), plus a
# UDP echo service, and prints what to try. Ctrl-C (or WEIR_DEMO_SECONDS
# elapsing) stops weir, detaches XDP and removes the demo network; the pinned
# maps under /sys/fs/bpf/weir stay, as they do in production.
set -eu
cd "$(dirname "$0")/.."

NS=weir-demo
IF=weir-demo0
W=build/weirctl
WEIR=build/weir
T=tests/e2e/traffic.py
PIDS=()

cleanup() {
	trap - EXIT INT TERM
	echo
	pkill -TERM -f "^$WEIR -c examples/demo.yaml" 2>/dev/null || true
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	$W detach $IF 2>/dev/null || true
	ip link del $IF 2>/dev/null || true
	ip netns del $NS 2>/dev/null || true
	echo "demo network removed (maps stay pinned under /sys/fs/bpf/weir;" \
	     "'$W detach IFACE --purge' removes them with an interface)"
}
trap cleanup EXIT INT TERM

if [ "$(id -u)" -ne 0 ]; then
	echo "make run needs root (it creates a network namespace and attaches XDP)" >&2
	exit 1
fi
ip link del $IF 2>/dev/null || true
ip netns del $NS 2>/dev/null || true
ip netns add $NS
ip link add $IF type veth peer name ${IF}c
ip link set ${IF}c netns $NS
ip addr add 10.77.0.1/24 dev $IF
ip -6 addr add fd77::1/64 dev $IF nodad
ip link set $IF up
ip netns exec $NS ip link set lo up
ip netns exec $NS ip link set ${IF}c name eth0
ip netns exec $NS ip addr add 10.77.0.2/24 dev eth0
ip netns exec $NS ip -6 addr add fd77::2/64 dev eth0 nodad
ip netns exec $NS ip link set eth0 up

$W attach $IF --mode native
python3 -m http.server 9088 --bind 127.0.0.1 --directory examples/demo-site \
	>/dev/null 2>&1 & PIDS+=($!)
python3 $T udp-echo 10.77.0.1 5353 & PIDS+=($!)
$WEIR --check examples/demo.yaml
$WEIR -c examples/demo.yaml 2>&1 | sed -u 's/^/  [weir] /' & PIDS+=($!)
for _ in $(seq 50); do
	python3 -c 'import socket; socket.create_connection(("127.0.0.1", 9088), 1).close(); socket.create_connection(("10.77.0.1", 8080), 1).close()' 2>/dev/null && break
	sleep 0.1
done

cat <<MSG

weir is running: its XDP layer on $IF, its proxy on 10.77.0.1:8080 and
127.0.0.1:8080 in front of a demo upstream (examples/demo.yaml). The client
namespace '$NS' is 10.77.0.2 and fd77::2; the gateway side is 10.77.0.1 and
fd77::1. In another terminal:

  ip netns exec $NS curl -i http://10.77.0.1:8080/         # through XDP and weir
  curl -i http://127.0.0.1:8080/api/status.json             # /api/* stripped, a plugin header
  curl http://127.0.0.1:8080/users/42                       # a :param rewritten upstream
  curl -i -H 'Transfer-Encoding: chunked' -H 'Content-Length: 3' \
       -d x http://127.0.0.1:8080/                          # ambiguous: 400, never forwarded
  pkill -HUP -x weir                                        # reload examples/demo.yaml

  ip netns exec $NS ping -c 3 10.77.0.1            # passes
  $W block add 10.77.0.2 --ttl 5m --comment demo   # drop the client for 5 minutes
  ip netns exec $NS ping -c 3 -W 1 10.77.0.1       # dropped in XDP
  $W block list                                    # the entry, its hits and expiry
  $W stats --watch                                 # per-reason rates
  $W limit set 10.77.0.2 --pkt 2 --pkt-burst 2     # 2 packets/s for the client
  $W block del 10.77.0.2
  ip netns exec $NS ping -i 0.2 -c 10 10.77.0.1    # 2/s get through
  $W service add 10.77.0.1:5353/udp --mode drop   # a service XDP drops:
  ip netns exec $NS python3 $T udp-ask 10.77.0.1 5353 1; echo \$?  # 1: no echo
  $W service list                                  # services (l4: backends, flows)
  $W service del 10.77.0.1:5353/udp
  $W status                                        # attachment and map fill
  $W --help                                        # everything else

Press Ctrl-C to stop.
MSG
if [ -n "${WEIR_DEMO_SECONDS:-}" ]; then
	sleep "$WEIR_DEMO_SECONDS"
else
	while true; do sleep 3600; done
fi
