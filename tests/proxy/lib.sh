# tests/proxy/lib.sh - helpers shared by the proxy end-to-end tests
# (tests/proxy/test_*.sh), sourced after tests/lib.sh: the scratch directory,
# ports, starting the upstream (tests/proxy/upstream.py) and weir, curl
# wrappers, reading what the upstream saw (its log and its /echo JSON),
# scraping metrics, stopping weir and the closing sanitizer check. One copy
# of each, so that a fix to how a test starts or reads things lands in every
# test at once.
#
# Files go to $TMP, named after what they belong to: $TMP/NAME.log and
# $TMP/NAME.err for the upstream NAME, $TMP/NAME.err for the weir NAME.

# proxy_setup NAME: sets WEIR (build/weir unless set), TMP (a fresh
# /tmp/weir-NAME.XXXXXX, removed at exit with the processes in PIDS), PY, UP
# and PROM.
proxy_setup() {
	WEIR=${WEIR:-build/weir}
	TMP=$(mktemp -d "/tmp/weir-$1.XXXXXX")
	# The interpreter itself, not a wrapper (pyenv's shims fork): $! must be
	# the process that serves, for cleanup to stop it.
	PY=$(python3 -c 'import sys; print(sys.executable)')
	UP=tests/proxy/upstream.py
	PROM="$PY tests/proxy/prom.py"
	cleanup_at_exit "$TMP"
}

# proxy_ports LO HI N: sets BASE to the first of N free ports in a row in
# [LO, HI] (free_ports), or ends the test. WEIR_PORTS=LO-HI in the
# environment replaces the range (several people testing on one machine).
proxy_ports() {
	local lo=$1 hi=$2
	if [ -n "${WEIR_PORTS:-}" ]; then lo=${WEIR_PORTS%-*} hi=${WEIR_PORTS#*-}; fi
	free_ports "$lo" "$hi" "$3" || die "no $3 free ports in a row in $lo-$hi"
}

# start_upstream NAME PORT [OPTION...]: upstream.py on 127.0.0.1:PORT,
# answering as NAME, logging to $TMP/NAME.log; its /healthz fails while
# $TMP/NAME.unhealthy exists. Returns once it listens.
start_upstream() {
	local name=$1 port=$2; shift 2
	$PY $UP --port "$port" --name "$name" --log "$TMP/$name.log" --ready "$TMP/$name.ready" \
		--unhealthy-if "$TMP/$name.unhealthy" "$@" 2>"$TMP/$name.err" &
	PIDS+=("$!")
	wait_for 10 test -s "$TMP/$name.ready" ||
		die "upstream $name did not start: $(cat "$TMP/$name.err")"
}

# start_weir NAME ARGS...: starts weir with ARGS, its stderr in
# $TMP/NAME.err; sets WPID; returns once it says "listening on".
start_weir() {
	local name=$1; shift
	"$WEIR" "$@" 2>"$TMP/$name.err" &
	WPID=$!
	PIDS+=("$WPID")
	wait_for 10 grep -q 'listening on' "$TMP/$name.err" ||
		die "weir $name did not start: $(cat "$TMP/$name.err")"
}

# check_stopped DESC PID...: SIGTERM to each weir; passes when every one
# exits 0.
check_stopped() {
	local desc=$1 p rc rcs=() want=(); shift
	kill -TERM "$@"
	for p; do
		rc=0; wait "$p" || rc=$?
		rcs+=("$rc") want+=(0)
	done
	check_eq "$desc" "${want[*]}" "${rcs[*]}"
}

# check_sanitizers [FILE...]: passes when no FILE (default: every
# $TMP/*.err) holds an AddressSanitizer, LeakSanitizer or UBSan report.
check_sanitizers() {
	[ $# -gt 0 ] || set -- "$TMP"/*.err
	if grep -q 'Sanitizer\|runtime error' "$@"; then
		fail "sanitizer reports"; grep -h -A20 'Sanitizer\|runtime error' "$@" | head -60
	else
		ok "no sanitizer report"
	fi
}

C() { curl -s --max-time 30 "$@"; }
code() { C -o /dev/null -w '%{http_code}' "$@"; }

# seen UPSTREAM TEXT: how many request heads UPSTREAM got with TEXT in them.
seen() { grep '"ev": "req"' "$TMP/$1.log" | grep -cF -- "$2"; }
# seen_target UPSTREAM TARGET: how many request heads UPSTREAM got for
# exactly TARGET; for any target starting with it when TARGET ends in '*'.
seen_target() {
	local t=$2
	case $t in *\*) t=${t%\*} ;; *) t=$t\" ;; esac
	seen "$1" "\"target\": \"$t"
}

# jf FIELD: a field of upstream.py's /echo JSON on stdin; h:NAME is the
# value(s) of request header NAME, " | "-joined, "-" when absent.
jf() {
	python3 -c '
import json, sys
j = json.load(sys.stdin)
if sys.argv[1].startswith("h:"):
    want = sys.argv[1][2:]
    print(" | ".join(v for k, v in j["headers"] if k == want) or "-")
else:
    print(j[sys.argv[1]])' "$1"
}

# scrape PORT: GET /metrics of 127.0.0.1:PORT into $TMP/prom.txt; prints the
# status. pget SERIES...: their values in it, on one line ("absent" for one
# not there).
scrape() { C -o "$TMP/prom.txt" -w '%{http_code}' "http://127.0.0.1:$1/metrics"; }
pget() { $PROM get "$TMP/prom.txt" "$@"; }
