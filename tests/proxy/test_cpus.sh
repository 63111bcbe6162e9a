#!/bin/bash
# tests/proxy/test_cpus.sh - CPU affinity (`cpus:`; README: CPUs), read off
# the kernel: each thread's Cpus_allowed_list in /proc/PID/task/TID/status,
# found by the thread's name (weir-w0, weir-admin, ...). The workers on
# theirs, every other thread on the control set, the offload pool too
# (started from a worker); each set alone; bad values refused with the field
# and the reason, at --check or at start; a reload that changes them says
# they wait for a restart and changes nothing. Needs two CPUs (0 and 1).
set -u
cd "$(dirname "$0")/../.."
. tests/lib.sh
. tests/proxy/lib.sh

proxy_setup cpus
proxy_ports 22600 22999 4
P_MAIN=$BASE P_A=$((BASE + 1)) P_ADM=$((BASE + 2)) P_MET=$((BASE + 3))
start_upstream A $P_A

[ "$(nproc)" -ge 2 ] || die "two CPUs are needed, $(nproc) here"

# A cheap hash for basic-auth, so that a request starts the offload pool.
HASH=$($PY -c '
import base64, hashlib, os
salt = os.urandom(16)
dk = hashlib.pbkdf2_hmac("sha256", b"pw", salt, 1000)
b = lambda x: base64.b64encode(x).decode().rstrip("=").replace("+", ".")
print("$pbkdf2-sha256$1000$" + b(salt) + "$" + b(dk))')

# conf CPUS_YAML: a config with two workers, the admin API and metrics (each
# a thread of its own), a basic-auth route, and `cpus:` as given.
conf() {
	cat <<EOF
workers: 2
$1
listeners: [127.0.0.1:$P_MAIN]
admin: {listen: 127.0.0.1:$P_ADM, token: t, state: $TMP/state.json}
metrics: {listen: 127.0.0.1:$P_MET}
upstreams: {a: {nodes: [127.0.0.1:$P_A]}}
consumers:
  - username: u
    plugins: {basic-auth: {username: u, password_hash: '$HASH'}}
routes:
  - {id: auth, path: /auth/*, upstream: a, plugins: {basic-auth: {cache_ttl: 0}}}
  - {id: all, path: /*, upstream: a}
EOF
}

# cpus_of NAME: the CPUs the threads called NAME may run on, one line each
# ("weir" is the main thread), sorted and joined.
cpus_of() {
	local t out=()
	for t in /proc/$WPID/task/*; do
		[ "$(cat "$t/comm" 2>/dev/null)" = "$1" ] || continue
		out+=("$(awk '/^Cpus_allowed_list/ {print $2}' "$t/status")")
	done
	printf '%s\n' "${out[@]}" | sort -u | paste -sd' '
}
ALL=$(awk '/^Cpus_allowed_list/ {print $2}' /proc/self/status)

# ---- workers on 0, the rest on 1 --------------------------------------------------
conf "cpus: {workers: [0], control: [1]}" >"$TMP/a.yaml"
start_weir a -c "$TMP/a.yaml"
check_eq "a request through the pinned workers" 200 "$(code http://127.0.0.1:$P_MAIN/x)"
check_eq "worker 0 on CPU 0, worker 1 on CPU 0 (the list wraps)" "0 0" \
	"$(cpus_of weir-w0) $(cpus_of weir-w1)"
check_eq "control: [1]: the main, admin, fold and metrics threads on CPU 1" "1 1 1 1" \
	"$(cpus_of weir) $(cpus_of weir-admin) $(cpus_of weir-fold) $(cpus_of weir-metrics)"
check_eq "a password checked off the loop" 200 \
	"$(code -u u:pw http://127.0.0.1:$P_MAIN/auth/x)"
check_eq "... by offload threads a worker started, on the control CPU, not the worker's" "1" \
	"$(cpus_of weir-offload)"

# A reload that changes them: said, and nothing moves.
conf "cpus: {workers: [1], control: [0]}" >"$TMP/a.yaml"
kill -HUP $WPID
check "SIGHUP with other cpus: they take effect at restart" \
	wait_for 10 grep -q 'cpus take effect at restart' "$TMP/a.err"
check_eq "... and every thread stays where it was" "0 0 1 1" \
	"$(cpus_of weir-w0) $(cpus_of weir-w1) $(cpus_of weir-admin) $(cpus_of weir-fold)"
check_eq "... while it serves" 200 "$(code http://127.0.0.1:$P_MAIN/x)"
conf "cpus: {workers: [1023], control: [0]}" >"$TMP/a.yaml"
kill -HUP $WPID
check "SIGHUP with a CPU this host lacks: said now, not at the next restart" \
	wait_for 10 grep -q 'restart, where these would stop weir: cpus.workers\[0\]: CPU 1023 is not one' "$TMP/a.err"
check_eq "... and nothing moves" "0 0 1" "$(cpus_of weir-w0) $(cpus_of weir-w1) $(cpus_of weir-admin)"
check_stopped "weir stops" $WPID

# ---- one set alone ------------------------------------------------------------------
conf "cpus: {workers: [1, 0]}" >"$TMP/b.yaml"
start_weir b -c "$TMP/b.yaml"
check_eq "workers: [1, 0] alone: worker 0 on 1, worker 1 on 0" "1 0" \
	"$(cpus_of weir-w0) $(cpus_of weir-w1)"
check_eq "... the other threads where the process may run ($ALL)" "$ALL $ALL" \
	"$(cpus_of weir-admin) $(cpus_of weir-fold)"
check_stopped "weir stops" $WPID

conf "cpus: {control: [1]}" >"$TMP/c.yaml"
start_weir c -c "$TMP/c.yaml"
check_eq "control: [1] alone: the control threads on 1" "1 1" \
	"$(cpus_of weir-admin) $(cpus_of weir-fold)"
check_eq "... and the workers not confined with them ($ALL)" "$ALL $ALL" \
	"$(cpus_of weir-w0) $(cpus_of weir-w1)"
check_eq "... a password checked by the offload pool on 1" "200 1" \
	"$(code -u u:pw http://127.0.0.1:$P_MAIN/auth/y) $(cpus_of weir-offload)"
check_stopped "weir stops" $WPID

# ---- bad values ---------------------------------------------------------------------
bad() { conf "cpus: $1" >"$TMP/bad.yaml"; }
bad "{workers: [0, 0]}"
check_fails "--check: a CPU listed twice" "bad.yaml:[0-9]+: cpus.workers\[1\]: CPU 0 is listed twice" \
	"$WEIR" --check "$TMP/bad.yaml"
bad "{control: [1024]}"
check_fails "--check: a CPU past CPU_SETSIZE" "cpus.control\[0\]: 1024 is out of range: 0 to 1023" \
	"$WEIR" --check "$TMP/bad.yaml"
bad "{workers: []}"
check_fails "--check: an empty list" "cpus.workers: expected a list of CPU numbers" \
	"$WEIR" --check "$TMP/bad.yaml"
bad "{workers: [one]}"
check_fails "--check: not a number" "cpus.workers\[0\]: expected an integer" \
	"$WEIR" --check "$TMP/bad.yaml"
bad "{workers: [0], other: [1]}"
check_fails "--check: an unknown key" "cpus.other" "$WEIR" --check "$TMP/bad.yaml"
bad "{workers: [1023]}"
check_fails "a CPU this host does not have: weir does not start, and says which" \
	"bad.yaml: cpus.workers\[0\]: CPU 1023 is not one weir may run on \(these are: $ALL\)" \
	"$WEIR" -c "$TMP/bad.yaml"
check "... and served nothing" sh -c "! curl -s -o /dev/null http://127.0.0.1:$P_MAIN/"

check_sanitizers
finish
