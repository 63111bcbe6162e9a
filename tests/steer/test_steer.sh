#!/bin/bash
# tests/steer/test_steer.sh - worker steering end to end: the real weir, its
# SO_REUSEPORT program (bpf/weir_steer.bpf.c) and real TCP on 127.0.0.1.
#
#   WEIR=build/asan/weir tests/steer/test_steer.sh    the same with the sanitizers
#
# It runs in a network namespace of its own (it re-executes itself under
# `unshare --net`): net.ipv4.tcp_migrate_req, which it sets, is per
# namespace, and nothing else sees its ports. Which worker served a request
# is read from the JSON access log ("worker"); whether a weir holds the
# program, from /proc/PID/fdinfo (prog_type 21 is BPF_PROG_TYPE_SK_REUSEPORT).
# Waits are bounded polls; nothing asserts on time.
set -u
cd "$(dirname "$0")/../.."
if [ "${WEIR_STEER_NETNS:-}" != 1 ]; then
	exec unshare --net env WEIR_STEER_NETNS=1 "$PWD/tests/steer/test_steer.sh" "$@"
fi
. tests/lib.sh
ip link set lo up || { echo "not ok - loopback up in a new network namespace"; exit 1; }

WEIR=${WEIR:-build/weir}
TMP=$(mktemp -d /tmp/weir-steer.XXXXXX)
PY=$(python3 -c 'import sys; print(sys.executable)')
CL=tests/steer/client.py
cleanup_at_exit "$TMP"

# conf NAME "PORT..." [YAML...]: $TMP/NAME.yaml, two workers, a listener per
# port (on 127.0.0.1, or "[ADDR]:PORT" as it is), a JSON access log in
# $TMP/NAME.log, and no routes (weir answers 404 itself: no upstream is
# needed to see which worker took a connection).
conf() {
	local name=$1 ports=$2 p l=""; shift 2
	for p in $ports; do
		case $p in \[*) p="\"$p\"" ;; *) p=127.0.0.1:$p ;; esac
		l="$l${l:+, }$p"
	done
	{
		echo "workers: 2"
		echo "timeouts: {shutdown: 5s}"
		echo "access_log: {path: $TMP/$name.log}"
		echo "listeners: [$l]"
		for p; do echo "$p"; done
	} >"$TMP/$name.yaml"
}

# start NAME [WRAPPER...]: weir -c $TMP/NAME.yaml; sets WPID.
start() {
	local name=$1; shift
	"$@" "$WEIR" -c "$TMP/$name.yaml" 2>"$TMP/$name.err" &
	WPID=$!
	PIDS+=($WPID)
	wait_for 10 grep -q 'listening on' "$TMP/$name.err" ||
		die "weir $name did not start: $(cat "$TMP/$name.err")"
}

has_prog() { grep -qsx 'prog_type:[[:space:]]*21' /proc/"$1"/fdinfo/*; }
# served LOG TAG [WORKER]: lines of LOG for requests /TAG-N (by WORKER).
served() {
	local w=${3:-}
	grep -F "\"uri\":\"/$2-" "$TMP/$1.log" 2>/dev/null | grep -cF "${w:+\"worker\":$w,}"
}
# logged LOG TAG N: the access log holds N lines for TAG (batches are flushed
# within a second).
logged() { [ "$(served "$1" "$2")" -ge "$3" ]; }
progress() { cat "$TMP/$1.progress" 2>/dev/null || echo 0; }
above() { [ "$(progress "$1")" -ge "$2" ]; }
gone() { ! kill -0 "$1" 2>/dev/null; }
steer_lines() { grep -c 'steering' "$TMP/$1.err"; }
# idle PORT: weir holds no client connection on PORT any more (it has read
# the clients' FIN and closed), so no worker counts one toward its load.
idle() {
	[ -z "$(ss -Htan state established state close-wait state fin-wait-1 state fin-wait-2 \
		"( sport = :$1 )")" ]
}
# stop_under_load TAG NAME PID DESC: 4 clients send requests /TAG-N to $PS
# in a loop; weir NAME (PID) gets SIGTERM, and once it is gone the load must
# go on. Checks, as DESC, that no request was lost; sets RC to its exit status.
stop_under_load() {
	local tag=$1 name=$2 pid=$3 desc=$4 lp at
	$PY $CL load $PS 4 "$tag" "$TMP/$tag.progress" "$TMP/$tag.stop" 20000 >"$TMP/$tag.res" &
	lp=$!
	PIDS+=($lp)
	wait_for 30 above "$tag" 100 || fail "the load did not start"
	kill -TERM "$pid"
	wait_for 15 gone "$pid" || fail "weir ($name) did not stop"
	RC=0; wait "$pid" || RC=$?
	at=$(progress "$tag")
	wait_for 30 above "$tag" $((at + 100)) || fail "the load did not go on after the stop"
	touch "$TMP/$tag.stop"
	wait $lp
	check_eq "$desc" 0 "$(head -1 "$TMP/$tag.res" | cut -d' ' -f2)"
	echo "# $(head -1 "$TMP/$tag.res" | cut -d' ' -f1) answered"; sed -n '2,$p' "$TMP/$tag.res"
}

P=19100
migrate() { sysctl -qw net.ipv4.tcp_migrate_req="$1"; }
migrate 0
check_eq "the namespace starts with net.ipv4.tcp_migrate_req = 0" 0 \
	"$(sysctl -n net.ipv4.tcp_migrate_req)"

# ---- one weir, steering: bpf (the default) --------------------------------------
conf one $P "max_connections: 8"
start one
ONE=$WPID
check "steering: bpf (default): weir holds an sk_reuseport program" has_prog $ONE
check_eq "... and says nothing about steering" 0 "$(steer_lines one)"
check_eq "64 connections, one after the other: all answered" "64 0" "$($PY $CL spread $P 64 spread)"
wait_for 5 logged one spread 64 || fail "the access log has no 64 lines for them"
W0=$(served one spread 0) W1=$(served one spread 1)
check_eq "... logged with their worker" 64 $((W0 + W1))
check_ge "... worker 0 took a share (at least 16 of 64)" 16 "$W0"
check_ge "... worker 1 took a share (at least 16 of 64)" 16 "$W1"

# max_connections 8: a worker is overloaded from 7 open connections, so the
# program gives new ones to the other worker, whatever their hash.
wait_for 10 idle $P || fail "weir still holds connections on $P"
$PY $CL hold $P 14 hold "$TMP/hold.out" >/dev/null &
HOLD=$!
PIDS+=($HOLD)
wait_for 30 test -s "$TMP/hold.out" || fail "the holding client did not finish"
check_eq "14 kept connections with max_connections 8: all answered" "held 14 0" \
	"$(cat "$TMP/hold.out")"
wait_for 5 logged one hold 14 || fail "the access log has no 14 lines for them"
check_eq "... split 7 and 7: an overloaded worker gets no new connection" "7 7" \
	"$(served one hold 0) $(served one hold 1)"
kill $HOLD 2>/dev/null; wait $HOLD 2>/dev/null
wait_for 10 idle $P || fail "weir still holds connections on $P"

# A reload that adds a listener puts it under the program too (IPv6 here).
conf one "$P [::1]:$((P + 1))" "max_connections: 8"
kill -HUP $ONE
wait_for 5 grep -q 'reloaded' "$TMP/one.err" || fail "the reload was not applied: $(cat "$TMP/one.err")"
$PY $CL hold "[::1]:$((P + 1))" 14 added "$TMP/added.out" >/dev/null &
HOLD=$!
PIDS+=($HOLD)
wait_for 30 test -s "$TMP/added.out" || fail "the holding client did not finish"
wait_for 5 logged one added 14 || fail "the access log has no 14 lines for them"
check_eq "an IPv6 listener added by a reload is steered: 14 kept connections split 7 and 7" \
	"held 14 0 7 7" "$(cat "$TMP/added.out") $(served one added 0) $(served one added 1)"
kill $HOLD 2>/dev/null; wait $HOLD 2>/dev/null
echo "steering: kernel" >>"$TMP/one.yaml"
kill -HUP $ONE
check "changing steering by a reload: weir says it takes effect at restart" \
	wait_for 5 grep -q 'steering takes effect at restart' "$TMP/one.err"
kill -TERM $ONE
RC=0; wait $ONE || RC=$?
check_eq "weir exits 0" 0 $RC

# ---- steering: kernel, and a program that cannot be loaded --------------------------
conf kern $((P + 2)) "steering: kernel"
start kern
check "steering: kernel: no sk_reuseport program" bash -c "! grep -qsx 'prog_type:[[:space:]]*21' /proc/$WPID/fdinfo/*"
check_eq "... and connections are answered" "20 0" "$($PY $CL spread $((P + 2)) 20 kern)"
check_eq "... and nothing is said about steering" 0 "$(steer_lines kern)"
kill -TERM $WPID; wait $WPID

# Without CAP_BPF and CAP_SYS_ADMIN the program does not load: one line,
# and weir serves on the kernel's hash.
conf nocap $((P + 3))
start nocap setpriv --bounding-set=-bpf,-sys_admin,-perfmon --inh-caps=-bpf,-sys_admin,-perfmon
check_eq "no CAP_BPF: one line says the program was not loaded, and why" \
	"1 1" "$(steer_lines nocap) $(grep -c 'steering: BPF program not loaded (Operation not permitted)' "$TMP/nocap.err")"
check "... weir runs without the program" bash -c "! grep -qsx 'prog_type:[[:space:]]*21' /proc/$WPID/fdinfo/*"
check_eq "... and answers" "20 0" "$($PY $CL spread $((P + 3)) 20 nocap)"
kill -TERM $WPID; wait $WPID

# ---- two weirs on one port ------------------------------------------------------------
# The sockets of both join one SO_REUSEPORT group (same user); the program
# attached last steers the whole group, to its own workers.
PS=$((P + 4))
conf old $PS
conf new $PS
start old
OLD=$WPID
start new
NEW=$WPID
check_eq "two weirs on one port: the one started last takes the new connections" "20 0 20 0" \
	"$($PY $CL spread $PS 20 both) $(wait_for 5 logged new both 20; served new both) $(served old both)"

# Its accept queue is not lost when its sockets close, even abruptly: the
# program migrates each waiting connection to a listener that stays.
kill -STOP $NEW
$PY $CL queue $PS 16 queued "$TMP/queued.out" >"$TMP/queued.res" &
QP=$!
PIDS+=($QP)
wait_for 20 test -s "$TMP/queued.out" || fail "the queueing client did not connect"
check_eq "16 connections wait in the stopped weir's accept queues" "sent 16" "$(cat "$TMP/queued.out")"
kill -KILL $NEW; wait $NEW 2>/dev/null
wait $QP
check_eq "... it is killed: all 16 are answered by the other (tcp_migrate_req = 0)" "16 0 16" \
	"$(cat "$TMP/queued.res") $(wait_for 5 logged old queued 16; served old queued)"

# A graceful stop of the weir whose program steers, under load: its workers
# drain, and nothing is refused, reset or left unanswered.
conf new2 $PS
start new2
stop_under_load stopnew new $WPID \
	"SIGTERM to the steering weir under load (4 clients): no request lost"
check_eq "... it exits 0" 0 $RC
wait_for 5 logged old stopnew 100
check_ge "... and the other weir answers after it" 100 "$(served old stopnew)"

# A binary upgrade: a new weir starts on the port, the old one stops.
conf up $PS
start up
UP=$WPID
stop_under_load upgrade old $OLD "upgrade: SIGTERM to the old weir under load: no request lost"
check_eq "... it exits 0" 0 $RC
check "... and the new one still holds its program" has_prog $UP
kill -TERM $UP
RC=0; wait $UP || RC=$?
check_eq "... and stops with 0 in turn" 0 $RC

# ---- without the program: net.ipv4.tcp_migrate_req decides --------------------------
# queue_then_kill NAME PORT: two weirs with steering: kernel; the second is
# stopped, 16 connections are made, it is killed; "ANSWERED FAILED" in
# $TMP/NAME.res.
queue_then_kill() {
	conf "$1-a" "$2" "steering: kernel"
	conf "$1-b" "$2" "steering: kernel"
	start "$1-a"
	local a=$WPID
	start "$1-b"
	local b=$WPID
	kill -STOP $b
	$PY $CL queue "$2" 16 "$1" "$TMP/$1.out" >"$TMP/$1.res" &
	local q=$!
	PIDS+=($q)
	wait_for 20 test -s "$TMP/$1.out" || fail "$1: the queueing client did not connect"
	kill -KILL $b; wait $b 2>/dev/null
	wait $q
	kill -TERM $a; wait $a
}
queue_then_kill lost $((P + 5))
R=$(cat "$TMP/lost.res")
if [ "${R#* }" -gt 0 ] 2>/dev/null; then
	ok "control: steering: kernel and tcp_migrate_req = 0: a killed weir's queued connections are reset ($R)"
else
	fail "control: steering: kernel and tcp_migrate_req = 0 lost nothing ($R): the migration tests prove nothing"
fi
migrate 1
queue_then_kill kept $((P + 6))
check_eq "steering: kernel with tcp_migrate_req = 1: nothing lost" "16 0" "$(cat "$TMP/kept.res")"
migrate 0

if grep -q 'ERROR: \(Address\|Leak\)Sanitizer\|runtime error' "$TMP"/*.err; then
	fail "sanitizer reports"; grep -h -A20 'Sanitizer\|runtime error' "$TMP"/*.err | head -60
else
	ok "no sanitizer report"
fi
finish
