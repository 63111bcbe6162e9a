#!/bin/bash
# tests/e2e/test_ban.sh - L7 abuse becomes an XDP drop: weir counts a
# client's 429s (limit-count) and 403s (ip-restriction), and past the ban
# threshold writes the client's address into the XDP blocklist with a TTL
# and a reason; the client's next TCP connect is dropped by XDP.
#
#   [netns wlimN] wlp 10.213.K.2, .3  <-->  wlgN 10.213.K.1 [root]
#                                           weir_xdp (native) on wlgN,
#                                           weir listening on 10.213.K.1
#
#   WEIR=build/asan/weir tests/e2e/test_ban.sh    the same with the sanitizers
#
# The XDP interface and the pins stay in the root namespace (ip netns exec
# would hide /sys/fs/bpf); the pins go in a directory of this test's own.
set -u
cd "$(dirname "$0")/../.."
. tests/lib.sh

WEIR=${WEIR:-build/weir}
NS=wlim$$
GW=wlg$$
K=$(( $$ % 200 + 20 ))
NET=10.213.$K
PIN=/sys/fs/bpf/wlim-ban-$$
TMP=$(mktemp -d /tmp/weir-ban.XXXXXX)
PY=$(python3 -c 'import sys; print(sys.executable)')
W() { "$WEIRCTL" --pin-dir "$PIN" "$@"; }
N() { ip netns exec "$NS" "$@"; }
cleanup() {
	stop_pids
	W detach "$GW" >/dev/null 2>&1
	veth_ns_del "$NS" "$GW"
	rm -rf "$PIN" "$TMP" /tmp/weir-check.$$.out /tmp/weir-check.$$.err
}
trap cleanup EXIT
trap "exit 1" INT TERM

in_use() { (exec 3<>/dev/tcp/127.0.0.1/$1) 2>/dev/null; }
for try in $(seq 0 30); do
	BASE=$((22000 + (($$ + try * 53) % 300) * 3))
	free=1
	for p in $(seq $BASE $((BASE + 2))); do in_use $p && free=0 && break; done
	[ $free = 1 ] && break
done
[ $free = 1 ] || die "no three free ports in 22000-22999"
P_WEIR=$BASE P_A=$((BASE + 1))

veth_ns "$NS" "$GW" "$NET.1/24" wlp "$NET.2/24 $NET.3/24"

$PY tests/proxy/upstream.py --port $P_A --name A --log "$TMP/A.log" --ready "$TMP/A.ready" \
	2>"$TMP/A.err" &
PIDS+=($!)
wait_for 10 test -s "$TMP/A.ready" || die "upstream did not start: $(cat "$TMP/A.err")"

# client SRC PATH: the status code, 000 when no connection could be made
client() { N curl -s -o /dev/null -w '%{http_code}' --max-time "${3:-5}" --interface "$1" \
	"http://$NET.1:$P_WEIR$2"; }
check "baseline: the client reaches the gateway" wait_for 10 N ping -c 1 -W 1 $NET.1

check "attach the XDP program natively to the veth" W attach "$GW" --mode native

cat >"$TMP/weir.yaml" <<EOF
workers: 2
listeners: ["$NET.1:$P_WEIR"]
upstreams: {a: {nodes: [127.0.0.1:$P_A]}}
ban: {threshold: 3, window: 1m, ttl: 10m, pin_dir: $PIN}
routes:
  - {id: count, path: /count/*, upstream: a,
     plugins: {limit-count: {count: 1, time_window: 1h}}}
  - {id: ip, path: /ip/*, upstream: a,
     plugins: {ip-restriction: {denylist: [$NET.3]}}}
EOF
"$WEIR" -c "$TMP/weir.yaml" 2>"$TMP/weir.err" &
WPID=$!
PIDS+=($WPID)
wait_for 10 grep -q 'listening on' "$TMP/weir.err" || die "weir did not start: $(cat "$TMP/weir.err")"
check "weir finds the XDP layer's pinned maps" wait_for 10 \
	grep -q "ban: writing L7 bans to the XDP blocklist under $PIN" "$TMP/weir.err"

blocked_pkts() { W stats --json | python3 -c "import json,sys; print(json.load(sys.stdin)['blocklisted']['packets'])"; }
# note CIDR: the comment of CIDR's blocklist entry, "-" when it has none
note() { W block list --json | python3 -c "
import json, sys
print(next((e.get('comment') or '-' for e in json.load(sys.stdin) if e['cidr'] == sys.argv[1]), '-'))" "$1"; }

# ---- limit violations -----------------------------------------------------
check_eq "a client's first request passes" 200 "$(client $NET.2 /count/1)"
check_eq "the second is over the limit" 429 "$(client $NET.2 /count/2)"
check_eq "two violations are not a ban yet" 429 "$(client $NET.2 /count/3)"
check_eq "... and not in the blocklist" - "$(note $NET.2/32)"
B0=$(blocked_pkts)
check_eq "the third violation is still answered (429)" 429 "$(client $NET.2 /count/4)"
check "weir logs the ban" wait_for 10 grep -q "ban: blocked $NET.2/32 for 600s" "$TMP/weir.err"
check_eq "weirctl block list shows the client with the reason" "weir: 3 limit violations in 1m" \
	"$(note $NET.2/32)"
check "the entry has a TTL of about 10 minutes" bash -c "'$WEIRCTL' --pin-dir '$PIN' block list --json |
	python3 -c \"
import json, sys
e = [e for e in json.load(sys.stdin) if e['cidr'] == '$NET.2/32'][0]
sys.exit(0 if 500 <= e['expires_in_s'] <= 600 else 1)\""
check_eq "the client's next TCP connect is dropped in XDP" 000 "$(client $NET.2 /count/5 2)"
check_ge "... counted as blocklisted by XDP" $((B0 + 1)) "$(blocked_pkts)"
check_eq "another address of the same host is not banned" 200 "$(client $NET.3 /count/6)"
check_eq "weir wrote the ban once" 1 "$(grep -c "ban: blocked $NET.2/32" "$TMP/weir.err")"

# ---- auth refusals (403) --------------------------------------------------
check_eq "a denied source gets 403" 403 "$(client $NET.3 /ip/1)"
check_eq "... twice" 403 "$(client $NET.3 /ip/2)"
check_eq "... three times" 403 "$(client $NET.3 /ip/3)"
check "the 403s ban it too" wait_for 10 grep -q "ban: blocked $NET.3/32" "$TMP/weir.err"
check_eq "with the reason auth failures" "weir: 3 auth failures in 1m" "$(note $NET.3/32)"
check_eq "its next connect is dropped" 000 "$(client $NET.3 /ip/4 2)"

# ---- lifting a ban --------------------------------------------------------
check "weirctl block del lifts the ban" W block del $NET.2/32
check_eq "the client connects again (and is still over its L7 limit)" 429 \
	"$(client $NET.2 /count/7)"

kill $WPID
wait $WPID 2>/dev/null
check "weir stops cleanly" grep -q 'weir: stopped' "$TMP/weir.err"
check_eq "no sanitizer reports (ASan build)" 0 "$(grep -c Sanitizer "$TMP/weir.err")"
finish
