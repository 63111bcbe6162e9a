#!/bin/bash
# tests/proxy/test_cache.sh - the proxy-cache plugin end to end: the real weir
# daemon between curl (and python raw sockets) and tests/proxy/upstream.py,
# whose /cache/... answers carry the Cache-Control, Vary, Expires and Age
# the query asks for, and whose log tells how many times a target reached
# the upstream: "stored" means the upstream saw it once, whatever the
# client was told.
#
#   WEIR=build/asan/weir tests/proxy/test_cache.sh    the same with the sanitizers
#
# Nothing depends on timing for correctness: expiry is observed with a
# bounded poll until the upstream sees the target again.
set -u
cd "$(dirname "$0")/../.."
. tests/lib.sh
. tests/proxy/lib.sh

proxy_setup cache
proxy_ports 24000 24999 4
P_W=$BASE P_UP=$((BASE + 1)) P_PROM=$((BASE + 2)) P_EXT=$((BASE + 3))
# An address of this host that is not loopback, for PURGE from elsewhere.
EXT=$(hostname -I 2>/dev/null | tr ' ' '\n' | grep -E '^[0-9.]+$' | grep -v '^127\.' | head -1)
U=http://127.0.0.1:$P_W

start_upstream U $P_UP

write_conf() { # SMALL_ZONE_SIZE
	cat >"$TMP/c.yaml" <<EOF
workers: 2
listeners: [127.0.0.1:$P_W${EXT:+, $EXT:$P_EXT}]
metrics: {listen: 127.0.0.1:$P_PROM}
upstreams:
  up: {nodes: [127.0.0.1:$P_UP]}
plugins:
  proxy-cache:
    zones:
      default: {max_size: 16m}
      small: {max_size: $1}
      huge: {max_size: 256m}
      evict: {max_size: 256k}
routes:
  - path: /cache/*
    upstream: up
    plugins:
      proxy-cache: {allow_purge: true, max_object_size: 2m}
  - path: /ttl/*
    upstream: up
    rewrite: {strip_prefix: /ttl}
    plugins:
      proxy-cache: {default_ttl: 60s}
  - path: /obj/*
    upstream: up
    rewrite: {strip_prefix: /obj}
    plugins:
      proxy-cache: {max_object_size: 100k}
  - path: /lru/*
    upstream: up
    rewrite: {strip_prefix: /lru}
    plugins:
      proxy-cache: {zone: small, max_object_size: 12k}
  - path: /huge/*
    upstream: up
    rewrite: {strip_prefix: /huge}
    plugins:
      proxy-cache: {zone: huge, max_object_size: 12m}
  - path: /evict/*
    upstream: up
    rewrite: {strip_prefix: /evict}
    plugins:
      proxy-cache: {zone: evict, max_object_size: 60k}
  - path: /key/*
    upstream: up
    rewrite: {strip_prefix: /key}
    plugins:
      proxy-cache: {key: [path, "arg:v", "header:x-tenant"]}
  - path: /force/*
    upstream: up
    rewrite: {strip_prefix: /force}
    plugins:
      proxy-cache: {honor_request_no_cache: false, methods: [GET], statuses: [200, 500]}
  - path: /plain/*
    upstream: up
    rewrite: {strip_prefix: /plain}
EOF
}
write_conf 64k
start_weir w -c "$TMP/c.yaml"
W=$WPID

# get URL [CURL ARGS]: the response's head into $TMP/h, its body into $TMP/b;
# prints X-Cache-Status (or "-").
get() {
	local url=$1; shift
	C -D "$TMP/h" -o "$TMP/b" "$@" "$url"
	hv x-cache-status
}
# hv NAME: a field of the last head ("-" when absent).
hv() {
	local v
	v=$(tr -d '\r' <"$TMP/h" | awk -v n="$1" 'BEGIN{IGNORECASE=1} index(tolower($0), n ":") == 1 {sub(/^[^:]*: */, ""); print; exit}')
	echo "${v:--}"
}
body() { cat "$TMP/b"; }
# twice PATH [UPSTREAM_TARGET]: two GETs; prints how many reached the upstream
# (2: not stored).
twice() { get "$U$1" >/dev/null; get "$U$1" >/dev/null; seen_target U "${2:-$1}"; }
sha() { sha256sum "$TMP/b" | cut -d' ' -f1; }

# ---- stored, then answered from the store ------------------------------------
T="/cache/a?cc=max-age=60"
check_eq "a cacheable response: MISS, then HIT, HIT" "MISS HIT HIT" \
	"$(get $U$T) $(get $U$T) $(get $U$T)"
check_eq "... the upstream saw it once" 1 "$(seen_target U "$T")"
check_eq "... the hit has the stored body" "U $T #1" "$(body)"
check "... and an Age field" grep -qi '^age: [0-9]' "$TMP/h"
check_eq "... and the stored fields (Cache-Control, Content-Length), not the upstream's connection" \
	"max-age=60 $(body | wc -c)" "$(hv cache-control) $(hv content-length)"
# curl -I writes the head as the "body": nothing more came after it.
check_eq "HEAD is answered from the GET entry, without a body" "HIT same" \
	"$(get $U$T -I) $(cmp -s "$TMP/h" "$TMP/b" && echo same)"
check_eq "... and with the entry's Content-Length" "$(echo "U $T #1" | wc -c)" "$(hv content-length)"

T="/cache/age?cc=max-age=600&age=100"
get $U$T >/dev/null
check_eq "an Age from the upstream counts: HIT" HIT "$(get $U$T)"
check_ge "... with Age at least the upstream's 100" 100 "$(hv age)"

T="/cache/big?cc=max-age=60&n=1048576"
check_eq "a 1 MiB response: MISS then HIT" "MISS HIT" "$(get $U$T) $(get $U$T)"
check_eq "... its body intact from the store" "$(hv x-body-sha256)" "$(sha)"
check_eq "... fetched once" 1 "$(seen_target U "$T")"

T="/cache/chunked?cc=max-age=60&n=300000&chunk=7000"
check_eq "a chunked response: MISS then HIT" "MISS HIT" "$(get $U$T) $(get $U$T)"
check_eq "... replayed chunked, its body intact" "chunked $(hv x-body-sha256)" \
	"$(hv transfer-encoding) $(sha)"
check_eq "... fetched once" 1 "$(seen_target U "$T")"

check_eq "an HTTP/1.0 client is not answered from a chunked entry" BYPASS \
	"$(get $U$T --http1.0)"
T="/cache/chunked10?cc=max-age=60&n=100000&chunk=7000"
ST=$(get $U$T --http1.0)
check_eq "a chunked response an HTTP/1.0 client asked for goes to it de-chunked, intact" \
	"MISS - $(hv x-body-sha256)" "$ST $(hv transfer-encoding) $(sha)"
ST=$(get $U$T)
check_eq "... and is not stored so: the next client is a MISS, answered chunked, intact" \
	"MISS chunked $(hv x-body-sha256) 2" "$ST $(hv transfer-encoding) $(sha) $(seen_target U "$T")"
T="/cache/a?cc=max-age=60"
check_eq "... but from one with a Content-Length, keepalive as it asks" "HIT keep-alive" \
	"$(get $U$T --http1.0 -H 'Connection: keep-alive') $(hv connection)"

# ---- what is not stored ---------------------------------------------------------
for cc in no-store private no-cache "private, max-age=60" "no-store, max-age=60" "max-age=0"; do
	T="/cache/ns-${cc//[ ,=]/_}?cc=$(printf %s "$cc" | sed 's/ /%20/g; s/,/%2C/g')"
	check_eq "Cache-Control: $cc is not stored (the upstream saw both)" "2 MISS" \
		"$(twice "$T") $(hv x-cache-status)"
done
T="/cache/cookie?cc=max-age=60&cookie=1"
check_eq "a response with Set-Cookie is not stored" 2 "$(twice "$T")"
T="/cache/st?cc=max-age=60&status=500"
check_eq "a status not in statuses (500) is not stored" 2 "$(twice "$T")"
T="/cache/st?cc=max-age=60&status=404"
get $U$T >/dev/null
check_eq "a 404 is stored by default" "HIT 404" "$(get $U$T) $(code $U$T)"
T="/cache/none"
check_eq "no freshness information and default_ttl 0: not stored" 2 "$(twice "$T")"
T="/ttl/cache/none"
check_eq "no freshness information and default_ttl 60s: stored" "MISS HIT" "$(get $U$T) $(get $U$T)"

# ---- freshness -------------------------------------------------------------------
T="/cache/exp?expires=%2B60"
check_eq "Expires 60 s after Date: stored" "MISS HIT" "$(get $U$T) $(get $U$T)"
T="/cache/exp-past?expires=-10"
check_eq "Expires in the past: not stored" 2 "$(twice "$T")"
T="/cache/exp-bad?expires=0"
check_eq "Expires that is not a date (0): expired, not stored" 2 "$(twice "$T")"
T="/cache/exp-850?expires=Thursday,%2001-Jan-37%2000:00:00%20GMT"
check_eq "an Expires in the obsolete RFC 850 form (2037) parses: stored" "MISS HIT" \
	"$(get $U$T) $(get $U$T)"
T="/cache/exp-asc?expires=Thu%20Jan%20%201%2000:00:00%202037"
check_eq "an Expires in the obsolete asctime form parses: stored" "MISS HIT" \
	"$(get $U$T) $(get $U$T)"
T="/cache/smax?cc=max-age=0,%20s-maxage=60"
check_eq "s-maxage wins over max-age=0" "MISS HIT" "$(get $U$T) $(get $U$T)"
T="/cache/smax0?cc=max-age=60,%20s-maxage=0"
check_eq "s-maxage=0 wins over max-age=60" 2 "$(twice "$T")"

T="/cache/short?cc=max-age=3"
get $U$T >/dev/null
expired() { [ "$(get $U$T)" != HIT ]; }
check "max-age=3: after it runs out, the store does not answer" wait_for 15 expired
check_eq "... the upstream saw the target again, and the answer said EXPIRED" "2 EXPIRED" \
	"$(seen_target U "$T") $(hv x-cache-status)"
check_eq "... and the new response is stored in its place" "U $T #2" "$(body)"

# ---- Vary ---------------------------------------------------------------------------
T="/cache/vary?cc=max-age=60&vary=Accept-Language"
check_eq "Vary: two values are two upstream fetches" "MISS MISS" \
	"$(get $U$T -H 'Accept-Language: en') $(get $U$T -H 'Accept-Language: fr')"
check_eq "... then two hits, each with its own body" "HIT U $T #1 HIT U $T #2" \
	"$(get $U$T -H 'Accept-Language: en') $(body) $(get $U$T -H 'Accept-Language: fr') $(body)"
check_eq "... a request without the field is a third variant" "MISS 3" \
	"$(get $U$T) $(seen_target U "$T")"
T="/cache/vary-star?cc=max-age=60&vary=*"
check_eq "Vary: * is not stored" 2 "$(twice "$T")"

# ---- requests that bypass -------------------------------------------------------------
T="/cache/auth?cc=max-age=60"
get $U$T >/dev/null
check_eq "a request with Authorization is not answered from the store" "BYPASS 2" \
	"$(get $U$T -H 'Authorization: Bearer x') $(seen_target U "$T")"
check_eq "... nor stored: others still get the first stored body" "HIT U $T #1" \
	"$(get $U$T) $(body)"
T="/cache/auth-public?cc=public,%20max-age=60"
get $U$T -H 'Authorization: Bearer x' >/dev/null
check_eq "... unless the response says public: stored, and a hit for Authorization" "HIT 1" \
	"$(get $U$T -H 'Authorization: Bearer y') $(seen_target U "$T")"
T="/cache/post?cc=max-age=60"
check_eq "POST is not cached: BYPASS, twice upstream" "BYPASS BYPASS 2" \
	"$(get $U$T -d x=1) $(get $U$T -d x=1) $(seen_target U "$T")"
T="/cache/rnc?cc=max-age=60"
get $U$T >/dev/null
check_eq "request Cache-Control: no-cache goes upstream (BYPASS)" "BYPASS 2" \
	"$(get $U$T -H 'Cache-Control: no-cache') $(seen_target U "$T")"
check_eq "... and its fresh response replaced the stored one" "HIT U $T #2" "$(get $U$T) $(body)"
check_eq "request Cache-Control: no-store goes upstream and stores nothing" "BYPASS HIT U $T #2" \
	"$(get $U$T -H 'Cache-Control: no-store') $(get $U$T) $(body)"
T="/force/cache/f?cc=max-age=60"
get $U$T >/dev/null
check_eq "honor_request_no_cache: false: a request's no-cache is answered from the store" \
	"HIT 1" "$(get $U$T -H 'Cache-Control: no-cache') $(seen_target U /cache/f?cc=max-age=60)"
check_eq "methods: [GET]: HEAD bypasses" BYPASS "$(get $U$T -I)"
T="/force/cache/st5?cc=max-age=60&status=500"
check_eq "statuses: [200, 500]: a 500 is stored" "MISS HIT" "$(get $U$T) $(get $U$T)"
T="/plain/cache/x?cc=max-age=60"
check_eq "a route without the plugin: no X-Cache-Status, not stored" "- - 2" \
	"$(get $U$T) $(get $U$T) $(seen_target U "/cache/x?cc=max-age=60")"

# ---- keys ------------------------------------------------------------------------------
T="/key/cache/k?cc=max-age=60&v=1"
get $U$T -H 'X-Tenant: a' >/dev/null
check_eq "key [path, arg:v, header:x-tenant]: another unkeyed arg is the same entry" HIT \
	"$(get "$U$T&other=2" -H 'X-Tenant: a')"
check_eq "... another v or tenant is not" "MISS MISS" \
	"$(get "$U/key/cache/k?cc=max-age=60&v=2" -H 'X-Tenant: a') $(get $U$T -H 'X-Tenant: b')"

# ---- sizes ------------------------------------------------------------------------------
T="/obj/cache/o?cc=max-age=60&n=200000"
check_eq "a body over max_object_size (Content-Length) is not stored" "2 MISS" \
	"$(twice "$T" "/cache/o?cc=max-age=60&n=200000") $(hv x-cache-status)"
check_eq "... the client still got all of it" "$(hv x-body-sha256)" "$(sha)"
T="/obj/cache/oc?cc=max-age=60&n=200000&chunk=8192"
check_eq "a chunked body over max_object_size is abandoned mid-way" "2 MISS" \
	"$(twice "$T" "/cache/oc?cc=max-age=60&n=200000&chunk=8192") $(hv x-cache-status)"
check_eq "... the client still got all of it" "$(hv x-body-sha256)" "$(sha)"
T="/obj/cache/os?cc=max-age=60&n=90000"
check_eq "a body under max_object_size is stored" "MISS HIT" "$(get $U$T) $(get $U$T)"

# The small zone (64k, one shard) holds six 10 kB objects (with their heads
# and keys); the seventh evicts the oldest.
for i in 1 2 3 4 5 6 7; do get "$U/lru/cache/l$i?cc=max-age=60&n=10000" >/dev/null; done
check_eq "LRU: the newest objects are still stored" "HIT HIT" \
	"$(get "$U/lru/cache/l7?cc=max-age=60&n=10000") $(get "$U/lru/cache/l6?cc=max-age=60&n=10000")"
check_eq "LRU: filled beyond max_size, the oldest is a MISS again" "MISS 2" \
	"$(get "$U/lru/cache/l1?cc=max-age=60&n=10000") $(seen_target U "/cache/l1?cc=max-age=60&n=10000")"
check_eq "LRU: a hit keeps an object: l7 (used) stays, l2 (oldest now) went" "HIT MISS" \
	"$(get "$U/lru/cache/l7?cc=max-age=60&n=10000") $(get "$U/lru/cache/l2?cc=max-age=60&n=10000")"

# Hits written from entries that two workers evict meanwhile: 50 kB bodies
# (larger than a connection buffer, so written from the entry itself), 12
# keys in a zone that holds 5. Under ASan a use after free would end weir.
cat >"$TMP/evict.lua" <<'EOF'
request = function()
    return wrk.format("GET", "/evict/cache/e" .. math.random(1, 12) .. "?cc=max-age=60&n=50000")
end
EOF
wrk -t2 -c8 -d3s -s "$TMP/evict.lua" $U/ >"$TMP/wrk.out" 2>&1
check "hits and evictions at once, two workers: wrk ran" grep -q "requests in" "$TMP/wrk.out"
check "... and got no error and no other status than 200" \
	bash -c "! grep -q 'Non-2xx\|Socket errors' '$TMP/wrk.out'"
get "$U/evict/cache/e1?cc=max-age=60&n=50000" >/dev/null
check_eq "... weir serves on" HIT "$(get "$U/evict/cache/e1?cc=max-age=60&n=50000")"
check_eq "... a stored 50 kB body intact" "$(hv x-body-sha256)" "$(sha)"

# ---- failures mid-way are never stored ---------------------------------------------------
T="/huge/cache/die?cc=max-age=60&n=100000&die=1"
check_eq "an upstream that dies mid-body: nothing stored" 2 \
	"$(twice "$T" "/cache/die?cc=max-age=60&n=100000&die=1")"
T="/huge/cache/abort?cc=max-age=60&n=10000000"
abort_read() {
	$PY - "$P_W" "$T" <<'EOF'
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
s.connect(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"GET %s HTTP/1.1\r\nHost: t\r\n\r\n" % sys.argv[2].encode())
got = s.recv(1000)
s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\1\0\0\0\0\0\0\0")
s.close()  # a reset, with most of 10 MB unread
sys.exit(0 if got.startswith(b"HTTP/1.1 200") else 1)
EOF
}
check "a client that goes away mid-body (10 MB, reset)" abort_read
up2() { [ "$(seen_target U "/cache/abort?cc=max-age=60&n=10000000")" -ge 1 ]; }
wait_for 10 up2
check_eq "... left nothing stored: the next request is a MISS" "MISS 2" \
	"$(get $U$T) $(seen_target U "/cache/abort?cc=max-age=60&n=10000000")"
check_eq "... which is stored whole (10 MB), a HIT after" "HIT $(hv x-body-sha256)" "$(get $U$T) $(sha)"

# ---- PURGE -------------------------------------------------------------------------------
T="/cache/p?cc=max-age=60"
get $U$T >/dev/null
check_eq "PURGE of a stored key: 200" 200 "$(code -X PURGE $U$T)"
check_eq "... then a MISS" "MISS 2" "$(get $U$T) $(seen_target U "$T")"
T="/cache/p-none?cc=max-age=60"
check_eq "PURGE of a key not stored: 404, and nothing reached the upstream" "404 0" \
	"$(code -X PURGE $U$T) $(seen_target U "$T")"
if [ -n "$EXT" ]; then
	T="/cache/p-ext?cc=max-age=60"
	get "http://$EXT:$P_EXT$T" >/dev/null
	check_eq "PURGE from an address that is not loopback ($EXT): 403, the entry stays" "403 HIT" \
		"$(code -X PURGE "http://$EXT:$P_EXT$T") $(get "http://$EXT:$P_EXT$T")"
else
	ok "# SKIP PURGE from an address that is not loopback: this host has none"
fi
check_eq "PURGE on a route without allow_purge goes upstream (BYPASS)" "BYPASS 1" \
	"$(get "$U/ttl/cache/pp" -X PURGE) $(seen_target U /cache/pp)"

# ---- metrics -------------------------------------------------------------------------------
scrape $P_PROM >/dev/null
check "metrics: the exposition with the cache's families is valid" $PROM check "$TMP/prom.txt"
check_ge "metrics: hits of the default zone" 20 \
	"$(pget 'weir_cache_lookups_total{zone="default",result="hit"}')"
check_ge "metrics: expired lookups of the default zone" 1 \
	"$(pget 'weir_cache_lookups_total{zone="default",result="expired"}')"
check_ge "metrics: evictions in the small zone" 2 "$(pget 'weir_cache_evicted_total{zone="small"}')"
check_ge "metrics: the evict zone under wrk: evictions" 10 \
	"$(pget 'weir_cache_evicted_total{zone="evict"}')"
check_ge "metrics: ... and hits" 10 "$(pget 'weir_cache_lookups_total{zone="evict",result="hit"}')"
check_eq "metrics: the small zone's size and bound" "65536 6" \
	"$(pget 'weir_cache_max_bytes{zone="small"}' 'weir_cache_entries{zone="small"}')"
check "metrics: ... its bytes within it" \
	test "$(pget 'weir_cache_bytes{zone="small"}')" -le 65536

# ---- configuration errors ------------------------------------------------------------------
bad() { # DESC PATTERN ROUTE_SETTINGS [GLOBAL_SETTINGS]
	local g=${4:-"{}"}
	printf 'listeners: [127.0.0.1:%s]\nupstreams:\n  up: {nodes: [127.0.0.1:%s]}\nplugins:\n  proxy-cache: %s\nroutes:\n  - path: /*\n    upstream: up\n    plugins:\n      proxy-cache: %s\n' \
		$P_W $P_UP "$g" "$3" >"$TMP/bad.yaml"
	check_fails "config error: $1" "$2" "$WEIR" --check "$TMP/bad.yaml"
}
E="bad.yaml:10: routes\\[0\\]\\.plugins\\.proxy-cache: "
bad "an unknown field" "${E}colour: unknown field" "{colour: red}"
bad "zones in a route" "${E}zones: unknown field \\(zones are set in the global" "{zones: {}}"
bad "a key part" "${E}key\\[1\\]: expected method, host, uri, path, header:NAME" "{key: [uri, 'foo:x']}"
bad "an empty key" "${E}key: expected a list of 1 to 16 parts" "{key: []}"
bad "a method" "${E}methods\\[0\\]: only GET and HEAD are cached" "{methods: [POST]}"
bad "a status" "${E}statuses\\[0\\]: expected a final status from 200 to 599" "{statuses: [304]}"
bad "default_ttl" "${E}default_ttl: expected a duration" "{default_ttl: soon}"
bad "max_object_size" "${E}max_object_size: expected a size" "{max_object_size: big}"
bad "max_object_size over the zone" "${E}max_object_size: larger than what zone 'default' can hold" \
	"{max_object_size: 1g}"
bad "honor_request_no_cache" "${E}honor_request_no_cache: expected true or false" \
	"{honor_request_no_cache: maybe}"
bad "allow_purge" "${E}allow_purge: expected true or false" "{allow_purge: 1}"
bad "an undeclared zone" "${E}zone: 'z' is not declared in the global plugins.proxy-cache.zones" \
	"{zone: z}"
bad "a zone's max_size" "${E}zones\\.z\\.max_size: expected a size of at least 4k" \
	"{zone: z}" "{zones: {z: {max_size: 1k}}}"
bad "a zone's name" "${E}zone: expected a name of 1 to 63 of A-Z a-z 0-9" "{zone: 'a b'}"
bad "a zone's field" "${E}zones\\.z\\.size: unknown field" "{zone: z}" "{zones: {z: {size: 1m}}}"

# ---- reload --------------------------------------------------------------------------------
T="/cache/reload?cc=max-age=600"
get $U$T >/dev/null
check_eq "before a reload: HIT" HIT "$(get $U$T)"
echo "access_log: {path: $TMP/access.log}" >>"$TMP/c.yaml"
kill -HUP $W
reloaded() { [ "$(grep -c 'weir: reloaded' "$TMP/w.err")" -ge "$1" ]; }
check "SIGHUP with the cache settings kept reloads" wait_for 10 reloaded 1
check_eq "... and the stored response survived it" "HIT 1" "$(get $U$T) $(seen_target U "$T")"
get "$U/lru/cache/l7?cc=max-age=60&n=10000" >/dev/null
write_conf 128k
kill -HUP $W
check "SIGHUP with the small zone's max_size changed reloads" wait_for 10 reloaded 2
check_eq "... its zone starts empty, the others keep theirs" "MISS HIT" \
	"$(get "$U/lru/cache/l7?cc=max-age=60&n=10000") $(get $U$T)"
echo "  - {path: /x, upstream: nosuch}" >>"$TMP/c.yaml"
kill -HUP $W
failed() { grep -q 'reload failed' "$TMP/w.err"; }
check "a bad reload fails" wait_for 10 failed
check_eq "... and the stores go on" "HIT HIT" \
	"$(get "$U/lru/cache/l7?cc=max-age=60&n=10000") $(get $U$T)"

check_stopped "weir exits 0 on SIGTERM" $W
finish
