#!/bin/bash
# tests/e2e/test_svc_upgrade.sh - upgrading weir over a pinned service table
# laid out by another hash (weir_abi.h WEIR_SVC_LAYOUT; loader/xdp.c): no
# service is lost, and under traffic no packet misses its service.
#
#   [root] wxsu$$ 10.77.0.1 fd77::1, weir's XDP program, the pins
#      |
#   [netns wxsu$$] wxsp$$ 10.77.0.2 fd77::2 (10.77.1.0/24 via 10.77.0.1):
#                  sends one UDP datagram to each service, or a stream
#
# Every service is in drop mode, so a datagram that finds its service is
# counted as service_dropped and one that does not passes: "all found" is
# service_dropped going up by exactly the number sent.
#
# 1. A table of layout 0, written as the first builds wrote it
#    (svc_upgrade.py layout0 rewrites this build's table in place): weirctl
#    lists and refuses to add; attach rebuilds it and every service is
#    found again.
# 2. A real first build (weirctl and its program, built from
#    WEIR_LAYOUT0_REV, default the last commit of layout 0, into
#    build/layout0/; or WEIR_LAYOUT0_WEIRCTL): its program and services
#    upgraded by this build while a stream of datagrams runs, in native mode
#    (libxdp's dispatcher: both programs run for a moment) and in generic
#    mode (one program, replaced atomically). Skipped when that revision is
#    not in the repository.
set -u
cd "$(dirname "$0")/../.."
. tests/lib.sh

NS=wxsu$$ IF=wxsu$$ PEER=wxsp$$
PIN=/sys/fs/bpf/wx-svcup-$$
TMP=$(mktemp -d /tmp/wx-svcup.XXXXXX)
PY=tests/e2e/svc_upgrade.py
W() { "$WEIRCTL" --pin-dir "$PIN" "$@"; }
cleanup() {
	stop_pids
	W detach "$IF" --purge >/dev/null 2>&1
	rm -rf "$PIN"
	veth_ns_del "$NS" "$IF"
	rm -rf "$TMP" /tmp/weir-check.$$.out /tmp/weir-check.$$.err
}
trap cleanup EXIT
trap "exit 1" INT TERM

veth_ns "$NS" "$IF" "10.77.0.1/24 fd77::1/64" "$PEER" "10.77.0.2/24 fd77::2/64"
ip -n "$NS" route add 10.77.1.0/24 via 10.77.0.1

stat_of() { W stats --json | python3 -c "import json,sys; print(json.load(sys.stdin)['$1']['packets'])"; }
listed() { W service list | sort; }

# The services: consecutive ports on one address, consecutive addresses on
# one port, and IPv6 ports (320, or the first $1 of them).
services() {
	{ for p in $(seq 7000 7199); do echo "10.77.0.1 $p"; done
	  for a in $(seq 1 100); do echo "10.77.1.$a 9000"; done
	  for p in $(seq 7000 7019); do echo "fd77::1 $p"; done; } | head -n "$1"
}
spec() { case $1 in *:*) echo "[$1]:$2/udp" ;; *) echo "$1:$2/udp" ;; esac; }
add_all() { # WEIRCTL-BINARY FILE: adds every service of FILE in drop mode
	local a p n=0
	while read -r a p; do
		"$1" --pin-dir "$PIN" service add "$(spec "$a" "$p")" --mode drop >/dev/null &&
			n=$((n + 1))
	done <"$2"
	echo $n
}

# all_found DESC FILE: one datagram to each service of FILE; each found.
all_found() {
	local n d0
	n=$(wc -l <"$2")
	d0=$(stat_of service_dropped)
	ip netns exec "$NS" python3 $PY send "$2" "$n" 5000 >/dev/null
	wait_for 5 test "$(stat_of service_dropped)" -ge $((d0 + n))
	check_eq "$1" $((d0 + n)) "$(stat_of service_dropped)"
}

# 1. A table of layout 0 under this build.
services 320 >"$TMP/all"
check "attach natively" W attach "$IF" --mode native
check_eq "320 services added" 320 "$(add_all "$WEIRCTL" "$TMP/all")"
all_found "this build's table: every service found" "$TMP/all"
BEFORE=$(listed)
check "detach, maps kept" W detach "$IF"
check_eq "the table rewritten as the first builds laid it out" 320 \
	"$(python3 $PY layout0 "$PIN")"
check_eq "layout 0: weirctl lists every service" "$BEFORE" "$(listed)"
check_fails "layout 0: an add is refused, saying why" \
	"laid out by an older weir \(another hash\); 'weirctl attach IFACE'" \
	W service add 10.77.0.1:6999/udp --mode drop
check_eq "layout 0: the refused add changed nothing" "$BEFORE" "$(listed)"
# A rebuild that cannot be put in place (a directory where it would wait)
# fails before anything changed, and lets go of the writers' lock.
mkdir "$PIN/weir_svc_tab_new"
check_fails "an attach whose rebuilt table cannot be pinned fails, saying where" \
	"weir_svc_tab_new: Is a directory" W attach "$IF" --mode native
rmdir "$PIN/weir_svc_tab_new"
check_eq "the failed attach left no program" 0 "$(W status --json | python3 -c "
import json, sys
print(sum(1 for i in json.load(sys.stdin)['interfaces'] if i['name'] == '$IF'))")"
check_eq "the failed attach left the table in layout 0" "$BEFORE" "$(listed)"
check_fails "the failed attach let go of the lock; the table is still of layout 0" \
	"laid out by an older weir" W service add 10.77.0.1:6999/udp --mode drop
W attach "$IF" --mode native >"$TMP/attach.out" 2>&1
check "attach over the table of layout 0" grep -q "weir attached" "$TMP/attach.out"
check "attach says it placed the 320 services by this build's hash" \
	grep -q "service table: 320 services placed by this build's hash" "$TMP/attach.out"
all_found "after the upgrade: every service found" "$TMP/all"
check_eq "after the upgrade: the same services" "$BEFORE" "$(listed)"
check "no temporary pin left" test ! -e "$PIN/weir_svc_tab_new"
check "an add works again" W service add 10.77.0.1:6999/udp --mode drop
check "and a delete" W service del 10.77.0.1:6999/udp
W attach "$IF" --mode native >"$TMP/attach.out" 2>&1
check "attach again: nothing to rebuild" bash -c \
	"grep -q 'weir attached' '$TMP/attach.out' && ! grep -q 'service table:' '$TMP/attach.out'"
check "detach and purge" W detach "$IF" --purge

# 2. A real first build, upgraded under traffic.
REV=${WEIR_LAYOUT0_REV:-4b42305}
OLD=${WEIR_LAYOUT0_WEIRCTL:-}
if [ -z "$OLD" ] && git cat-file -e "$REV^{commit}" 2>/dev/null; then
	OLD=build/layout0/weirctl
	if [ ! -x "$OLD" ]; then
		rm -rf build/layout0 && mkdir -p build/layout0/src &&
			git archive "$REV" | tar -x -C build/layout0/src &&
			env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -C build/layout0/src BUILD=build \
				build/weirctl >"$TMP/make.out" 2>&1 &&
			cp build/layout0/src/build/weirctl "$OLD" && rm -rf build/layout0/src ||
			{ sed 's/^/#   /' "$TMP/make.out" | tail -20; OLD=""; }
	fi
fi
if [ -z "$OLD" ]; then
	ok "# SKIP upgrade from a first build: revision $REV not here and no WEIR_LAYOUT0_WEIRCTL"
	finish
fi
services 64 >"$TMP/some"
for mode in native generic; do
	check "$mode: the first build attaches" "$OLD" --pin-dir "$PIN" attach "$IF" --mode $mode
	check_eq "$mode: the first build adds 64 services" 64 "$(add_all "$OLD" "$TMP/some")"
	all_found "$mode: the first build's program finds them" "$TMP/some"
	BEFORE=$(listed)
	D0=$(stat_of service_dropped)
	rm -f "$TMP/stop"
	ip netns exec "$NS" python3 $PY send "$TMP/some" 200000 10000 "$TMP/stop" \
		>"$TMP/sent" & SENDER=$!; PIDS+=($SENDER)
	sleep 0.3
	W attach "$IF" --mode $mode >"$TMP/attach.out" 2>&1; sed "s/^/# /" "$TMP/attach.out"
	check "$mode: this build attaches over it under traffic, placing the 64 services" \
		grep -q "service table: 64 services placed by this build's hash" "$TMP/attach.out"
	sleep 0.3
	touch "$TMP/stop"
	wait $SENDER
	SENT=$(cat "$TMP/sent")
	wait_for 5 test "$(stat_of service_dropped)" -ge $((D0 + SENT))
	check_ge "$mode: traffic ran across the upgrade" 1000 "$SENT"
	check_eq "$mode: every datagram found its service, before, during and after" \
		$((D0 + SENT)) "$(stat_of service_dropped)"
	check_eq "$mode: one weir program left on the interface" 1 \
		"$(W status --json | python3 -c "
import json, sys
s = json.load(sys.stdin)
print(sum(p['name'] == 'weir_xdp' for i in s['interfaces'] if i['name'] == '$IF'
          for p in i['programs']))")"
	check_eq "$mode: the same services" "$BEFORE" "$(listed)"
	check "$mode: this build adds to the table" W service add 10.77.0.1:6999/udp --mode drop
	check "$mode: detach and purge" W detach "$IF" --purge
done
finish
