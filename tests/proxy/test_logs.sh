#!/bin/bash
# tests/proxy/test_logs.sh - access log shipping and trace propagation, end to
# end: the real weir daemon with every kind of sink at once (a file, syslog
# over UDP, TCP and a unix socket, an HTTP collector), the receivers of
# tests/proxy/logsink.py, and tests/proxy/upstream.py, which logs the request
# heads weir sends (so the traceparent upstream is read from its log).
#
#   WEIR=build/asan/weir tests/proxy/test_logs.sh    the same with the sanitizers
#
# Requests carry their own X-Request-Id, so every check matches lines by id
# rather than by count or order. Collectors that fail are stopped (SIGSTOP:
# they accept and never read) or killed; what is asserted is that requests
# still all succeed and that the drop counter rises, never how fast anything
# is. Waits are bounded polls.
set -u
cd "$(dirname "$0")/../.."
. tests/lib.sh
. tests/proxy/lib.sh

proxy_setup logs
SINK=tests/proxy/logsink.py
proxy_ports 25000 25999 20
P_MAIN=$BASE P_A=$((BASE + 1)) P_UDP=$((BASE + 2)) P_TCP=$((BASE + 3)) P_HTTP=$((BASE + 4))
P_MET=$((BASE + 5)) P_OFF=$((BASE + 6)) P_SLOW=$((BASE + 7)) P_HTTP2=$((BASE + 8))
P_TCP2=$((BASE + 9)) P_MET2=$((BASE + 10)) P_RETRY=$((BASE + 11)) P_503=$((BASE + 12))
P_400=$((BASE + 13)) P_MET3=$((BASE + 14)) P_TOK=$((BASE + 15)) P_TBAD=$((BASE + 16))
P_TLSW=$((BASE + 17)) P_MET4=$((BASE + 18)) P_TSTOP=$((BASE + 19))

# start_sink NAME MODE ARG [OPTION...]: a receiver writing to $TMP/NAME.out;
# sets SPID.
start_sink() {
	local name=$1 mode=$2 arg=$3; shift 3
	rm -f "$TMP/$name.ready"
	$PY $SINK "--$mode" "$arg" "$@" --out "$TMP/$name.out" --ready "$TMP/$name.ready" \
		2>>"$TMP/$name.err" &
	SPID=$!
	PIDS+=($SPID)
	wait_for 10 test -s "$TMP/$name.ready" || die "sink $name did not start: $(cat "$TMP/$name.err")"
}

# ids_in FILE KIND PREFIX: the request ids starting with PREFIX found in a
# receiver's output (KIND msg: syslog messages, batch: HTTP batches, file:
# the access log itself), sorted, one per line.
ids_in() {
	$PY - "$@" <<'EOF'
import json, re, sys
path, kind, prefix = sys.argv[1:4]
ids = []
for raw in open(path):
    if kind == "file":
        lines = [raw]
    else:
        rec = json.loads(raw)
        if kind == "msg" and rec["ev"] == "msg":
            lines = [re.sub(r"^.*? access - ", "", rec["msg"], count=1)]
        elif kind == "batch" and rec["ev"] == "batch":
            lines = rec["lines"]
        else:
            continue
    for l in lines:
        try:
            rid = json.loads(l).get("request_id", "")
        except ValueError:
            continue
        if rid.startswith(prefix):
            ids.append(rid)
print("\n".join(sorted(ids)))
EOF
}
count_ids() { ids_in "$@" | grep -c .; }
expected_ids() { for i in $(seq 1 "$2"); do echo "$1$i"; done | sort; }

# ---- receivers, upstream, the main weir --------------------------------------------
start_upstream A $P_A
start_sink udp udp $P_UDP
start_sink tcp tcp $P_TCP
start_sink unix unix "$TMP/log.sock"
start_sink http http $P_HTTP

cat >"$TMP/main.yaml" <<EOF
workers: 2
listeners: [127.0.0.1:$P_MAIN]
metrics: {listen: 127.0.0.1:$P_MET}
upstreams: {a: {nodes: [127.0.0.1:$P_A]}}
routes: [{id: all, path: "/*", upstream: a}]
access_log:
  format: json
  sinks:
    - {type: file, path: $TMP/access.log}
    - {type: syslog, address: 127.0.0.1:$P_UDP}
    - {type: syslog, address: 127.0.0.1:$P_TCP, protocol: tcp, facility: local0, tag: weir-tcp}
    - {type: syslog, address: $TMP/log.sock, protocol: unix, facility: daemon}
    - type: http
      url: http://127.0.0.1:$P_HTTP/ingest
      batch_size: 5
      flush_interval: 200ms
      headers: {x-token: secret-1}
EOF
start_weir main -c "$TMP/main.yaml"
MAIN_PID=$WPID
M=http://127.0.0.1:$P_MAIN

# ---- N requests, N lines at every sink ------------------------------------------------
N=20
ok_n=0
for i in $(seq 1 $N); do
	[ "$(code -H "X-Request-Id: n-$i" "$M/echo?i=$i")" = 200 ] && ok_n=$((ok_n + 1))
done
check_eq "$N requests answered" $N $ok_n
want=$(expected_ids n- $N)
all_in() { [ "$(ids_in "$1" "$2" n-)" = "$want" ]; }
check "file sink: the $N lines" wait_for 10 all_in "$TMP/access.log" file
check "syslog udp: the $N lines" wait_for 10 all_in "$TMP/udp.out" msg
check "syslog tcp: the $N lines" wait_for 10 all_in "$TMP/tcp.out" msg
check "syslog unix: the $N lines" wait_for 10 all_in "$TMP/unix.out" msg
check "http sink: the $N lines" wait_for 10 all_in "$TMP/http.out" batch

# Each line: the fields, the trace ids beside request_id.
check "file sink: every line has its fields, trace_id (32 hex) and span_id (16 hex)" $PY - "$TMP/access.log" <<'EOF'
import json, re, sys
for raw in open(sys.argv[1]):
    j = json.loads(raw)
    assert j["request_id"].startswith("n-"), j
    assert j["status"] == 200 and j["method"] == "GET" and j["route"] == "all", j
    assert j["uri"].startswith("/echo?i="), j
    assert re.fullmatch(r"[0-9a-f]{32}", j["trace_id"]) and j["trace_id"] != "0" * 32, j
    assert re.fullmatch(r"[0-9a-f]{16}", j["span_id"]) and j["span_id"] != "0" * 16, j
    assert raw.endswith("}\n"), raw
EOF

# syslog_shape FILE PRI TAG: every message is RFC 5424 with that PRI and APP-NAME.
syslog_shape() {
	$PY - "$@" <<'EOF'
import json, re, sys
path, pri, tag = sys.argv[1:4]
hdr = re.compile(r"<(\d{1,3})>1 (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z) ([!-~]{1,255}) "
                 r"([!-~]{1,48}) (\d+) access - (\{.*\})$", re.S)
n = 0
for raw in open(path):
    rec = json.loads(raw)
    assert rec["ev"] == "msg", rec
    m = hdr.fullmatch(rec["msg"])
    assert m, rec["msg"][:200]
    assert m.group(1) == pri, (m.group(1), pri)
    assert m.group(4) == tag, m.group(4)
    json.loads(m.group(6))
    n += 1
assert n > 0
EOF
}
check "syslog udp: RFC 5424 header: <190>1 (local7.info), timestamp, host, app-name weir" \
	syslog_shape "$TMP/udp.out" 190 weir
check "syslog tcp: RFC 5424 header with facility local0 (<134>) and the tag" \
	syslog_shape "$TMP/tcp.out" 134 weir-tcp
check "syslog unix: RFC 5424 header with facility daemon (<30>)" \
	syslog_shape "$TMP/unix.out" 30 weir
check_eq "syslog tcp: octet counting framed every message (no framing error)" 0 \
	"$(grep -c '"ev": "error"' "$TMP/tcp.out")"

batches() { grep -c '"ev": "batch"' "$TMP/http.out"; }
check "http sink: batches, at most $N of them, none over batch_size 5" $PY - "$TMP/http.out" $N <<'EOF'
import json, sys
b = [json.loads(l) for l in open(sys.argv[1])]
b = [x for x in b if x["ev"] == "batch"]
assert 0 < len(b) <= int(sys.argv[2]), len(b)
assert sum(len(x["lines"]) for x in b) == int(sys.argv[2])
assert all(1 <= len(x["lines"]) <= 5 for x in b), [len(x["lines"]) for x in b]
for x in b:
    h = x["headers"]
    assert x["method"] == "POST" and x["path"] == "/ingest", x
    assert h["content-type"] == "application/x-ndjson", h
    assert h["x-token"] == "secret-1" and h["host"] == "127.0.0.1:" + h["host"].split(":")[1], h
    for l in x["lines"]:
        json.loads(l)
EOF
check "http sink: batches share a keepalive connection" $PY - "$TMP/http.out" <<'EOF'
import json, sys
b = [json.loads(l) for l in open(sys.argv[1])]
conns = {x["conn"] for x in b if x["ev"] == "batch"}
assert len(b) < 2 or len(conns) < len(b), (len(conns), len(b))
EOF

scrape $P_MET >/dev/null
check "metrics: the exposition is valid" $PROM check "$TMP/prom.txt"
lines_of() { scrape $P_MET >/dev/null; pget "weir_access_log_lines_total{sink=\"$1\",type=\"$2\"}"; }
http_all() { [ "$(lines_of "http://127.0.0.1:$P_HTTP/ingest" http)" = $N ]; }
check "metrics: the http sink delivered $N lines" wait_for 10 http_all
check_eq "metrics: no line dropped (each sink, and at the hand-off)" "0 0 0 0 0 0" \
	"$(pget "weir_access_log_dropped_lines_total{sink=\"$TMP/access.log\",type=\"file\"}" \
		"weir_access_log_dropped_lines_total{sink=\"udp://127.0.0.1:$P_UDP\",type=\"syslog\"}" \
		"weir_access_log_dropped_lines_total{sink=\"tcp://127.0.0.1:$P_TCP\",type=\"syslog\"}" \
		"weir_access_log_dropped_lines_total{sink=\"unix://$TMP/log.sock\",type=\"syslog\"}" \
		"weir_access_log_dropped_lines_total{sink=\"http://127.0.0.1:$P_HTTP/ingest\",type=\"http\"}" \
		'weir_access_log_dropped_lines_total{sink="",type=""}' | tr '\n' ' ' | sed 's/ $//')"

# ---- traceparent ----------------------------------------------------------------------
TP_TRACE=0af7651916cd43dd8448eb211c80319c
TP_PARENT=b7ad6b7169203331
# up_header ID NAME: the header NAME the upstream saw on the request with X-Request-Id ID.
up_header() {
	$PY - "$TMP/A.log" "$1" "$2" <<'EOF'
import json, sys
for l in open(sys.argv[1]):
    j = json.loads(l)
    if j["ev"] != "req":
        continue
    h = j["headers"]
    if ["x-request-id", sys.argv[2]] in h:
        v = [b for a, b in h if a == sys.argv[3]]
        print(" | ".join(v) if v else "-")
EOF
}
# log_ids ID: "trace_id span_id" of the access log line of the request.
log_ids() {
	$PY - "$TMP/access.log" "$1" <<'EOF'
import json, sys
for l in open(sys.argv[1]):
    j = json.loads(l)
    if j["request_id"] == sys.argv[2]:
        print(j.get("trace_id", "-"), j.get("span_id", "-"))
EOF
}
logged() { [ -n "$(log_ids "$1")" ]; }

code -H 'X-Request-Id: tp-valid' -H "traceparent: 00-$TP_TRACE-$TP_PARENT-01" \
	-H 'tracestate: congo=t61rcWkgMzE,rojo=00f067aa0ba902b7' "$M/echo" >/dev/null
tp=$(up_header tp-valid traceparent)
check "traceparent valid: forwarded once, with the same trace-id and flags" \
	bash -c "[[ '$tp' =~ ^00-$TP_TRACE-[0-9a-f]{16}-01\$ ]]"
up_parent=${tp:36:16}
check "traceparent valid: the parent-id is weir's own span id" \
	bash -c "[ '$up_parent' != '$TP_PARENT' ] && [ '$up_parent' != 0000000000000000 ]"
check_eq "tracestate passes unchanged" "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7" \
	"$(up_header tp-valid tracestate)"
check "the access log line of that request is written" wait_for 10 logged tp-valid
check_eq "the log's trace_id and span_id are what the upstream saw" "$TP_TRACE $up_parent" \
	"$(log_ids tp-valid)"

code -H 'X-Request-Id: tp-unsampled' -H "traceparent: 00-$TP_TRACE-$TP_PARENT-00" "$M/echo" >/dev/null
check "traceparent with flags 00: the flags are kept" \
	bash -c "[[ '$(up_header tp-unsampled traceparent)' =~ ^00-$TP_TRACE-[0-9a-f]{16}-00\$ ]]"
code -H 'X-Request-Id: tp-v1' -H "traceparent: 01-$TP_TRACE-$TP_PARENT-01-future" "$M/echo" >/dev/null
check "traceparent of a later version with more fields: read as 00, sent as 00" \
	bash -c "[[ '$(up_header tp-v1 traceparent)' =~ ^00-$TP_TRACE-[0-9a-f]{16}-01\$ ]]"

# new_trace ID: the upstream got a fresh trace: valid, not TP_TRACE, sampled,
# no tracestate, and the log line names it.
new_trace() {
	local tp
	tp=$(up_header "$1" traceparent)
	[[ $tp =~ ^00-[0-9a-f]{32}-[0-9a-f]{16}-01$ ]] || { echo "traceparent '$tp'"; return 1; }
	[ "${tp:3:32}" != $TP_TRACE ] || { echo "kept the trace"; return 1; }
	[ "${tp:3:32}" != 00000000000000000000000000000000 ] || return 1
	[ "$(up_header "$1" tracestate)" = - ] || { echo "tracestate kept"; return 1; }
	wait_for 10 logged "$1" || return 1
	[ "$(log_ids "$1")" = "${tp:3:32} ${tp:36:16}" ] || { echo "log $(log_ids "$1")"; return 1; }
}
bad() { # NAME VALUE...
	local name=$1 h=(); shift
	for v; do h+=(-H "traceparent: $v"); done
	code -H "X-Request-Id: tp-$name" "${h[@]}" -H 'tracestate: congo=t61rcWkgMzE' "$M/echo" >/dev/null
	check "traceparent $name: replaced by a new trace, tracestate dropped, logged" new_trace "tp-$name"
}
bad "version ff" "ff-$TP_TRACE-$TP_PARENT-01"
bad "all-zero trace-id" "00-00000000000000000000000000000000-$TP_PARENT-01"
bad "all-zero parent-id" "00-$TP_TRACE-0000000000000000-01"
bad "too short" "00-${TP_TRACE:1}-$TP_PARENT-01"
bad "too long for version 00" "00-$TP_TRACE-$TP_PARENT-01-x"
bad "upper-case hex" "00-${TP_TRACE^^}-$TP_PARENT-01"
bad "non-hex flags" "00-$TP_TRACE-$TP_PARENT-0g"
bad "twice" "00-$TP_TRACE-$TP_PARENT-01" "00-$TP_TRACE-$TP_PARENT-01"
code -H 'X-Request-Id: tp-absent' "$M/echo" >/dev/null
check "traceparent absent: a new trace, logged" new_trace tp-absent
t1=$(up_header tp-absent traceparent)
code -H 'X-Request-Id: tp-absent2' "$M/echo" >/dev/null
t2=$(up_header tp-absent2 traceparent)
check "two new traces differ in trace-id and span id" \
	bash -c "[ '${t1:3:32}' != '${t2:3:32}' ] && [ '${t1:36:16}' != '${t2:36:16}' ]"

# tracing off: headers pass untouched, no ids in the log; sample_percent 0:
# weir's own traces are not sampled.
cat >"$TMP/off.yaml" <<EOF
workers: 1
listeners: [127.0.0.1:$P_OFF]
upstreams: {a: {nodes: [127.0.0.1:$P_A]}}
routes: [{path: "/*", upstream: a}]
access_log: {path: $TMP/off.log}
tracing: {mode: off}
EOF
start_weir off -c "$TMP/off.yaml"
OFF_PID=$WPID
code -H 'X-Request-Id: off-1' -H 'traceparent: ff-bad' -H 'tracestate: a=b' \
	"http://127.0.0.1:$P_OFF/echo" >/dev/null
check_eq "tracing off: traceparent and tracestate pass as they came" "ff-bad a=b" \
	"$(up_header off-1 traceparent) $(up_header off-1 tracestate)"
off_logged() { grep -q '"request_id":"off-1"' "$TMP/off.log"; }
check "tracing off: the line is logged" wait_for 10 off_logged
check_eq "tracing off: no trace_id in it" 0 "$(grep -c trace_id "$TMP/off.log")"
sed -i 's/tracing: {mode: off}/tracing: {sample_percent: 0}/' "$TMP/off.yaml"
kill -HUP $OFF_PID
reloaded() { grep -q 'reloaded' "$TMP/off.err"; }
check "tracing: reload to sample_percent 0" wait_for 10 reloaded
code -H 'X-Request-Id: off-2' "http://127.0.0.1:$P_OFF/echo" >/dev/null
check "sample_percent 0: a new trace is not sampled (flags 00)" \
	bash -c "[[ '$(up_header off-2 traceparent)' =~ ^00-[0-9a-f]{32}-[0-9a-f]{16}-00\$ ]]"

# ---- reloads: sinks kept, a bad sink refused ---------------------------------------------
tcp_conns() { grep '"ev": "msg"' "$TMP/tcp.out" | $PY -c 'import json,sys; print(len({json.loads(l)["conn"] for l in sys.stdin}))'; }
conns_before=$(tcp_conns)
kill -HUP $MAIN_PID
main_reloaded() { grep -q 'reloaded' "$TMP/main.err"; }
check "main: reload with the same sinks" wait_for 10 main_reloaded
code -H 'X-Request-Id: reload-1' "$M/echo" >/dev/null
after_reload() { [ "$(ids_in "$TMP/tcp.out" msg reload-)" = reload-1 ]; }
check "after a reload the tcp sink delivers" wait_for 10 after_reload
check_eq "... on the connection it had (the sink was kept)" "$conns_before" "$(tcp_conns)"
cp "$TMP/main.yaml" "$TMP/main.good"
sed -i "s|protocol: tcp, facility: local0|protocol: tcp, facility: local9|" "$TMP/main.yaml"
kill -HUP $MAIN_PID
refused() { grep -q "reload failed, configuration unchanged: $TMP/main.yaml:[0-9]*: access_log.sinks\[2\].facility: 'local9' is not one of" "$TMP/main.err"; }
check "a reload with a bad sink is refused, naming the field" wait_for 10 refused
cp "$TMP/main.good" "$TMP/main.yaml"
code -H 'X-Request-Id: reload-2' "$M/echo" >/dev/null
after_bad() { [ "$(ids_in "$TMP/http.out" batch reload-)" = "$(printf 'reload-1\nreload-2')" ]; }
check "... and the sinks go on" wait_for 10 after_bad

# ---- a collector that stops answering, one that dies ------------------------------------------
start_sink http2 http $P_HTTP2
H2=$SPID
start_sink tcp2 tcp $P_TCP2
T2=$SPID
cat >"$TMP/slow.yaml" <<EOF
workers: 2
listeners: [127.0.0.1:$P_SLOW]
metrics: {listen: 127.0.0.1:$P_MET2}
upstreams: {a: {nodes: [127.0.0.1:$P_A]}}
routes: [{path: "/*", upstream: a}]
access_log:
  sinks:
    - {type: http, url: "http://127.0.0.1:$P_HTTP2/", buffer_size: 2k, batch_size: 2,
       flush_interval: 50ms, timeout: 500ms}
    - {type: syslog, protocol: tcp, address: 127.0.0.1:$P_TCP2, buffer_size: 2k}
EOF
start_weir slow -c "$TMP/slow.yaml"
SLOW_PID=$WPID
S=http://127.0.0.1:$P_SLOW
code -H 'X-Request-Id: s-0' "$S/echo" >/dev/null
first_in() { [ "$(ids_in "$TMP/$1.out" "$2" s-0)" = s-0 ]; }
both_first() { wait_for 10 first_in http2 batch && wait_for 10 first_in tcp2 msg; }
check "slow case: both collectors get the first line" both_first

kill -STOP $H2
{ kill -KILL $T2; wait $T2; } 2>/dev/null
ok_n=0
for i in $(seq 1 40); do
	[ "$(code -H "X-Request-Id: stall-$i" "$S/echo")" = 200 ] && ok_n=$((ok_n + 1))
done
check_eq "collectors stalled and dead: 40 requests all answered" 40 $ok_n
dropped() { scrape $P_MET2 >/dev/null; v=$(pget "weir_access_log_dropped_lines_total{sink=\"$1\",type=\"$2\"}"); [ "$v" != absent ] && [ "$v" -gt 0 ]; }
check "the stalled http sink drops lines once its 2k buffer is full (counted)" \
	wait_for 20 dropped "http://127.0.0.1:$P_HTTP2/" http
check "the dead tcp sink drops lines once its buffer is full (counted)" \
	wait_for 20 dropped "tcp://127.0.0.1:$P_TCP2" syslog
errors() { scrape $P_MET2 >/dev/null; v=$(pget "weir_access_log_send_errors_total{sink=\"$1\",type=\"$2\"}"); [ "$v" != absent ] && [ "$v" -ge 2 ]; }
check "the stalled http sink counts its failed attempts (timed out, retried)" \
	wait_for 20 errors "http://127.0.0.1:$P_HTTP2/" http
buffered=$(pget "weir_access_log_buffer_bytes{sink=\"http://127.0.0.1:$P_HTTP2/\",type=\"http\"}")
check "its buffer stays within buffer_size (2048): $buffered" test "$buffered" -le 2048

kill -CONT $H2
start_sink tcp2 tcp $P_TCP2
# back: requests go on until one of them reaches both collectors.
k=0
back() {
	k=$((k + 1))
	code -H "X-Request-Id: back-$k" "$S/echo" >/dev/null
	sleep 0.2
	[ -n "$(ids_in "$TMP/http2.out" batch back-)" ] && [ -n "$(ids_in "$TMP/tcp2.out" msg back-)" ]
}
check "collectors back: new lines reach both" wait_for 60 back
check_eq "tcp: octet counting held across the reconnects" 0 "$(grep -c '"ev": "error"' "$TMP/tcp2.out")"

# ---- collectors that answer 503 (retried) and 400 (refused) ------------------------------------
start_sink c503 http $P_503 --fail 503:2
start_sink c400 http $P_400 --fail 400:1
cat >"$TMP/retry.yaml" <<EOF
workers: 1
listeners: [127.0.0.1:$P_RETRY]
metrics: {listen: 127.0.0.1:$P_MET3}
upstreams: {a: {nodes: [127.0.0.1:$P_A]}}
routes: [{path: "/*", upstream: a}]
access_log:
  sinks:
    - {type: http, url: "http://127.0.0.1:$P_503/", flush_interval: 50ms}
    - {type: http, url: "http://127.0.0.1:$P_400/", flush_interval: 50ms}
EOF
start_weir retry -c "$TMP/retry.yaml"
RETRY_PID=$WPID
code -H 'X-Request-Id: r-1' "http://127.0.0.1:$P_RETRY/echo" >/dev/null
r503() { [ "$(ids_in "$TMP/c503.out" batch r-)" = r-1 ]; }
check "503 twice: the batch is retried whole until it is taken" wait_for 20 r503
check_eq "... two refusals of that one line, then one batch" "2 2 1" "$($PY -c '
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
print(sum(r["ev"] == "failed" for r in recs), sum(r["ev"] == "failed" and r["lines"] == 1 for r in recs),
      sum(r["ev"] == "batch" for r in recs))' "$TMP/c503.out")"
m503() {
	scrape $P_MET3 >/dev/null
	[ "$(pget "weir_access_log_send_errors_total{sink=\"http://127.0.0.1:$P_503/\",type=\"http\"}" \
		"weir_access_log_dropped_lines_total{sink=\"http://127.0.0.1:$P_503/\",type=\"http\"}" \
		"weir_access_log_lines_total{sink=\"http://127.0.0.1:$P_503/\",type=\"http\"}" |
		tr '\n' ' ')" = "2 0 1 " ]
}
check "... counted: two send errors, one line delivered, none dropped" wait_for 10 m503
r400() { grep -q '"ev": "failed", "status": 400' "$TMP/c400.out"; }
check "400: the collector refused the batch" wait_for 20 r400
d400() { scrape $P_MET3 >/dev/null; [ "$(pget "weir_access_log_dropped_lines_total{sink=\"http://127.0.0.1:$P_400/\",type=\"http\"}")" = 1 ]; }
check "... which is dropped for good (not retried), counted" wait_for 10 d400
code -H 'X-Request-Id: r-2' "http://127.0.0.1:$P_RETRY/echo" >/dev/null
r400b() { [ "$(ids_in "$TMP/c400.out" batch r-)" = r-2 ]; }
check "... and the next batch is delivered" wait_for 20 r400b

# ---- https collectors: verified against a CA by IP or by sni; untrusted ones -------------
tls_ca ca "log CA"
tls_ca rogue_ca "rogue CA"
tls_cert col logs.test "DNS:logs.test,IP:127.0.0.1" ca
tls_cert rogue rogue.test "DNS:logs.test,IP:127.0.0.1" rogue_ca
[ -s "$TMP/col.pem" ] && [ -s "$TMP/rogue.pem" ] || die "openssl did not make the certificates"
start_sink tok http $P_TOK --cert "$TMP/col.pem" --key "$TMP/col.key"
start_sink tbad http $P_TBAD --cert "$TMP/rogue.pem" --key "$TMP/rogue.key"
start_sink tstop http $P_TSTOP --cert "$TMP/col.pem" --key "$TMP/col.key"
kill -STOP $SPID		# accepts (the kernel does), never answers the handshake
U_OK=https://127.0.0.1:$P_TOK U_BAD=https://127.0.0.1:$P_TBAD
cat >"$TMP/tls.yaml" <<EOF
workers: 1
listeners: [127.0.0.1:$P_TLSW]
metrics: {listen: 127.0.0.1:$P_MET4}
upstreams: {a: {nodes: [127.0.0.1:$P_A]}}
routes: [{path: "/*", upstream: a}]
access_log:
  sinks:
    - {type: http, url: "$U_OK/ip", tls: {ca: $TMP/ca.pem}, flush_interval: 50ms}
    - {type: http, url: "$U_OK/sni", tls: {ca: $TMP/ca.pem, sni: logs.test}, flush_interval: 50ms}
    - {type: http, url: "$U_OK/badname", tls: {ca: $TMP/ca.pem, sni: other.test},
       flush_interval: 50ms, buffer_size: 1k}
    - {type: http, url: "$U_BAD/", tls: {ca: $TMP/ca.pem}, flush_interval: 50ms, buffer_size: 1k}
    - {type: http, url: "$U_BAD/noverify", tls: {verify: false}, flush_interval: 50ms}
    - {type: http, url: "https://127.0.0.1:$P_TSTOP/", tls: {ca: $TMP/ca.pem}, flush_interval: 50ms,
       timeout: 300ms, buffer_size: 1k}
EOF
start_weir tls -c "$TMP/tls.yaml"
TLS_PID=$WPID
T=8
for i in $(seq 1 $T); do code -H "X-Request-Id: t-$i" "http://127.0.0.1:$P_TLSW/echo" >/dev/null; done
want_t=$(expected_ids t- $T)
# at NAME PATH: the request ids (t-*) in the batches collector NAME got at PATH.
at() {
	$PY - "$TMP/$1.out" "$2" <<'EOF' | sort
import json, sys
for raw in open(sys.argv[1]):
    r = json.loads(raw)
    if r["ev"] == "batch" and r["path"] == sys.argv[2]:
        for l in r["lines"]:
            rid = json.loads(l)["request_id"]
            if rid.startswith("t-"):
                print(rid)
EOF
}
tls_all() { [ "$(at "$1" "$2")" = "$want_t" ]; }
check "https: the collector verified by its IP gets the $T lines" wait_for 20 tls_all tok /ip
check "https: the collector verified by sni logs.test gets them" wait_for 20 tls_all tok /sni
check "https, verify: false: the untrusted collector gets them" wait_for 20 tls_all tbad /noverify
check "https: each sink's batches share one keepalive connection" $PY - "$TMP/tok.out" <<'EOF'
import json, sys
conns = {}
for l in open(sys.argv[1]):
    r = json.loads(l)
    if r["ev"] == "batch":
        conns.setdefault(r["path"], set()).add(r["conn"])
assert len(conns) == 2 and all(len(c) == 1 for c in conns.values()), conns
EOF
# refused URL: the sink has failed attempts and dropped lines, both counted.
refused() {
	scrape $P_MET4 >/dev/null
	[ "$(pget "weir_access_log_send_errors_total{sink=\"$1\",type=\"http\"}")" -ge 2 ] &&
		[ "$(pget "weir_access_log_dropped_lines_total{sink=\"$1\",type=\"http\"}")" -ge 1 ]
}
# Enough lines to overflow the 1k buffers of the sinks that cannot deliver.
for i in $(seq 1 12); do code -H "X-Request-Id: fill-$i" "http://127.0.0.1:$P_TLSW/echo" >/dev/null; done
check "https, a certificate of another CA: failed attempts and dropped lines counted" \
	wait_for 30 refused "$U_BAD/"
check "https, a name the certificate does not hold (sni other.test): counted the same" \
	wait_for 30 refused "$U_OK/badname"
check "https, a collector that never answers the handshake: counted the same" \
	wait_for 30 refused "https://127.0.0.1:$P_TSTOP/"
check_eq "... and not one line reached them" "" "$(at tbad /)$(at tok /badname)"
check "the untrusted collector saw weir refuse its certificate" \
	grep -q '"ev": "tls-error"' "$TMP/tbad.out"
check_eq "weir said why once per sink, not at every retry" "1 1 1 3" \
	"$(grep -c "$U_BAD/: TLS handshake failed: unable to get local issuer certificate" "$TMP/tls.err") $(grep -c "$U_OK/badname: TLS handshake failed: hostname mismatch" "$TMP/tls.err") $(grep -c "127.0.0.1:$P_TSTOP/: TLS handshake failed: handshake timed out" "$TMP/tls.err") $(grep -c 'TLS handshake failed' "$TMP/tls.err")"
check_eq "the verified sinks dropped nothing" "0 0" "$(pget \
	"weir_access_log_dropped_lines_total{sink=\"$U_OK/ip\",type=\"http\"}" \
	"weir_access_log_dropped_lines_total{sink=\"$U_OK/sni\",type=\"http\"}" | tr '\n' ' ' | sed 's/ $//')"
cat >"$TMP/tls-bad.yaml" <<EOF
listeners: [127.0.0.1:$P_TLSW]
upstreams: {a: {nodes: [127.0.0.1:$P_A]}}
routes: [{path: "/*", upstream: a}]
access_log:
  sinks:
    - {type: http, url: "$U_OK/", tls: {ca: $TMP/nope.pem}}
EOF
check_fails "https: a CA file that is missing stops weir, naming the field" \
	"tls-bad.yaml:6: access_log.sinks\[0\]\.tls\.ca: '$TMP/nope.pem': No such file or directory" \
	"$WEIR" -c "$TMP/tls-bad.yaml"

# ---- stop: what is buffered is delivered -------------------------------------------------------
code -H 'X-Request-Id: last-1' "$M/echo" >/dev/null
check_stopped "the weirs exit 0 on SIGTERM" $MAIN_PID $OFF_PID $SLOW_PID $RETRY_PID $TLS_PID
check_eq "the line of the last request reached the http collector before the stop" last-1 \
	"$(ids_in "$TMP/http.out" batch last-)"
check_sanitizers

finish
