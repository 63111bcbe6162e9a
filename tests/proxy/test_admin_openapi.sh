#!/bin/bash
# tests/proxy/test_admin_openapi.sh - the admin API's two paths that are not
# resources, end to end against the real weir daemon: GET
# /admin/openapi.json (the routes as an OpenAPI 3.0 document, its structure
# checked by tests/proxy/openapi_check.py: Debian 12 packages no OpenAPI
# validator for python) and POST /admin/cache/purge (a HIT from the
# proxy-cache, purged, is a MISS that reaches tests/proxy/upstream.py again).
#
#   WEIR=build/asan/weir WEIRCTL=build/asan/weirctl tests/proxy/test_admin_openapi.sh
#
# Nothing depends on timing: waits are bounded polls.
set -u
cd "$(dirname "$0")/../.."
. tests/lib.sh
. tests/proxy/lib.sh

proxy_setup openapi
WEIRCTL=${WEIRCTL:-build/weirctl}
proxy_ports 29000 29999 3
P_W=$BASE P_ADMIN=$((BASE + 1)) P_UP=$((BASE + 2))
U=http://127.0.0.1:$P_W
ADMIN=http://127.0.0.1:$P_ADMIN
TOKEN=t0k-$$-openapi

start_upstream U $P_UP

cat >"$TMP/c.yaml" <<EOF
workers: 1
listeners: [127.0.0.1:$P_W]
admin: {listen: 127.0.0.1:$P_ADMIN, token: $TOKEN, state: $TMP/state.json}
upstreams:
  up: {nodes: [127.0.0.1:$P_UP]}
plugins:
  proxy-cache: {zones: {default: {max_size: 16m}, other: {max_size: 1m}}}
routes:
  - {id: users, path: /users/:id, methods: [GET, PUT], upstream: up}
  - {id: users-del, path: /users/:id, methods: [DELETE], upstream: up}
  - {id: api, path: /api/*, upstream: up, hosts: [api.example.com, "*.example.org"]}
  - {id: keyed, path: /keyed, methods: [GET], upstream: up,
     plugins: {key-auth: {header: x-api-key}}}
  - {id: basic, path: /basic, methods: [POST], upstream: up, plugins: {basic-auth: {}}}
  - {id: v-any, path: /ver, methods: [GET], upstream: up}
  - {id: v-two, path: /ver, methods: [GET], headers: {x-version: ["2", "3"]}, upstream: up}
  - id: cached
    path: /cache/*
    upstream: up
    plugins:
      proxy-cache: {}
  - id: cached2
    path: /c2/*
    upstream: up
    rewrite: {strip_prefix: /c2}
    plugins:
      proxy-cache: {zone: other}
EOF
start_weir w -c "$TMP/c.yaml"

# api METHOD PATH [BODY]: the status on stdout, the answer in $TMP/body.
api() {
	local m=$1 p=$2; shift 2
	C -o "$TMP/body" -w '%{http_code}' -X "$m" -H "X-API-Key: $TOKEN" \
		${1+--data-binary "$1"} "$ADMIN$p"
}
jb() { jq -r "$1" "$TMP/body" 2>/dev/null; }
# op PATH METHOD JQ: a field of one operation of the document.
op() { jq -r --arg p "$1" --arg m "$2" ".paths[\$p][\$m]$3" "$TMP/oa.json" 2>/dev/null; }

# ---- GET /admin/openapi.json ------------------------------------------------
check_eq "openapi.json without the token: 401" 401 \
	"$(code "$ADMIN/admin/openapi.json")"
check_eq "openapi.json: 200" 200 "$(api GET /admin/openapi.json)"
cp "$TMP/body" "$TMP/oa.json"
check "... parses as JSON" jq -e . "$TMP/oa.json"
check "... has the structure OpenAPI 3.0 requires" $PY tests/proxy/openapi_check.py "$TMP/oa.json"
check_eq "... title weir, a version" "weir yes" \
	"$(jq -r '.info.title + " " + (if (.info.version | length) > 0 then "yes" else "no" end)' "$TMP/oa.json")"
check_eq "... every route has an operation, but one listed in x-weir-also" \
	"api basic cached cached2 keyed users users-del v-two" \
	"$(jq -r '[.paths[][] | objects | .operationId // empty | sub("_[a-z]+(_[0-9]+)?$"; "")] | unique | join(" ")' "$TMP/oa.json")"
check_eq "... operationIds are the route's id and method" "users_get users_put" \
	"$(op /users/{id} get .operationId) $(op /users/{id} put .operationId)"
check_eq "... two routes of one pattern, other methods: one path item" "users-del_delete" \
	"$(op /users/{id} delete .operationId)"
check_eq "... a :param route has its parameter" "id path true string" \
	"$(op /users/{id} get '.parameters[0] | "\(.name) \(.in) \(.required) \(.schema.type)"')"
check_eq "... a prefix route: {path}, the rest of the path, x-weir-match" \
	"path the rest of the path prefix" \
	"$(op /api/{path} get '| "\(.parameters[0].name) \(.parameters[0].description) \(.["x-weir-match"])"')"
check_eq "... a route of any method: the common seven" "delete get head options patch post put" \
	"$(jq -r '.paths["/api/{path}"] | [keys[] | select(startswith("x-") | not)] | sort | join(" ")' "$TMP/oa.json")"
check_eq "... its hosts in x-weir-hosts" "api.example.com *.example.org" \
	"$(jq -r '.paths["/api/{path}"]["x-weir-hosts"] | join(" ")' "$TMP/oa.json")"
check_eq "... a route of any host has no x-weir-hosts" null \
	"$(jq -r '.paths["/keyed"]["x-weir-hosts"]' "$TMP/oa.json")"
check_eq "... a key-auth route has security" "key-auth-x-api-key key-auth-query" \
	"$(op /keyed get '.security | map(keys[0]) | join(" ")')"
check_eq "... and its scheme: apiKey in the header it names" "apiKey header x-api-key" \
	"$(jq -r '.components.securitySchemes["key-auth-x-api-key"] | "\(.type) \(.in) \(.name)"' "$TMP/oa.json")"
check_eq "... basic-auth: http basic" "http basic basic-auth" \
	"$(jq -r '.components.securitySchemes["basic-auth"] | "\(.type) \(.scheme)"' "$TMP/oa.json") $(op /basic post '.security[0] | keys[0]')"
check_eq "... a route without auth has no security" null "$(op /users/{id} get .security)"
check_eq "... same path and method: the header route first, the other in x-weir-also" \
	"v-two v-any" "$(op /ver get '| "\(.["x-weir-route"]) \(.["x-weir-also"] | join(","))"')"
check_eq "... the header match as a required header parameter" "x-version header true 2,3" \
	"$(op /ver get '.parameters[0] | "\(.name) \(.in) \(.required) \(.schema.enum | join(","))"')"
check_eq "POST openapi.json: 405" "405 method" "$(api POST /admin/openapi.json '{}') $(jb .field)"

# A route added through the API is in the next document, with a new version.
v1=$(jq -r .info.version "$TMP/oa.json")
api PUT /admin/routes/added '{"path": "/added/:a/:b", "upstream": "up"}' >/dev/null
api GET /admin/openapi.json >/dev/null
check_eq "a route the API adds is in the document" "added_get a b" \
	"$(jq -r '.paths["/added/{a}/{b}"].get | .operationId + " " + ([.parameters[].name] | join(" "))' "$TMP/body")"
check "... under a new version" test "$(jb .info.version)" != "$v1"

# ---- POST /admin/cache/purge --------------------------------------------------
# get PATH: X-Cache-Status of a GET through the proxy.
get() { C -o /dev/null -D "$TMP/h" "$U$1"; tr -d '\r' <"$TMP/h" | awk 'tolower($1) == "x-cache-status:" {print $2}'; }
T="/cache/a?cc=max-age=600"
check_eq "a cacheable response: MISS, then HIT" "MISS HIT" "$(get $T) $(get $T)"
check_eq "... the upstream saw it once" 1 "$(seen_target U "$T")"
check_eq "purge its key: 200, one purged" "200 1" \
	"$(api POST /admin/cache/purge "{\"zone\": \"default\", \"key\": \"GET 127.0.0.1 $T\"}") $(jb .purged)"
check_eq "... the next request is a MISS" MISS "$(get $T)"
check_eq "... and reaches the upstream again" 2 "$(seen_target U "$T")"
api POST /admin/cache/purge "{\"zone\": \"default\", \"key\": \"GET 127.0.0.1 $T\"}" >/dev/null
check_eq "purging it twice: none the second time" "200 0" \
	"$(api POST /admin/cache/purge "{\"zone\": \"default\", \"key\": \"GET 127.0.0.1 $T\"}") $(jb .purged)"

get "/cache/p/1?cc=max-age=600" >/dev/null; get "/cache/p/2?cc=max-age=600" >/dev/null
get "/cache/q?cc=max-age=600" >/dev/null
check_eq "three stored: HIT" "HIT HIT HIT" \
	"$(get "/cache/p/1?cc=max-age=600") $(get "/cache/p/2?cc=max-age=600") $(get "/cache/q?cc=max-age=600")"
check_eq "purge a prefix: two" "200 2" \
	"$(api POST /admin/cache/purge '{"zone": "default", "prefix": "GET 127.0.0.1 /cache/p/"}') $(jb .purged)"
check_eq "... those two are MISSes, the other still a HIT" "MISS MISS HIT" \
	"$(get "/cache/p/1?cc=max-age=600") $(get "/cache/p/2?cc=max-age=600") $(get "/cache/q?cc=max-age=600")"
check_eq "... and the upstream saw the purged ones again" "2 2 1" \
	"$(seen_target U "/cache/p/1?cc=max-age=600") $(seen_target U "/cache/p/2?cc=max-age=600") $(seen_target U "/cache/q?cc=max-age=600")"

T2="/c2/cache/z?cc=max-age=600"
check_eq "another zone: MISS, HIT" "MISS HIT" "$(get $T2) $(get $T2)"
check_eq "the key holds the client's target, before the route's rewrite" "200 1 MISS HIT" \
	"$(api POST /admin/cache/purge "{\"zone\": \"other\", \"key\": \"GET 127.0.0.1 $T2\"}") $(jb .purged) $(get $T2) $(get $T2)"
check_eq "purge all of zone default leaves zone other" "200 HIT" \
	"$(api POST /admin/cache/purge '{"zone": "default", "all": true}') $(get $T2)"
check_eq "... and empties default" MISS "$(get "/cache/q?cc=max-age=600")"
check_eq "purge all of zone other: one" "200 1" \
	"$(api POST /admin/cache/purge '{"zone": "other", "all": true}') $(jb .purged)"
check_eq "... its entry is a MISS" MISS "$(get $T2)"

# refused DESC STATUS FIELD BODY: the purge is refused naming FIELD, and the
# stored entry of $T stays a HIT.
get $T >/dev/null
refused() {
	check_eq "$1" "$2 $3" "$(api POST /admin/cache/purge "$4") $(jb .field)"
	check_eq "$1: a reason is given" yes "$([ -n "$(jb .reason)" ] && echo yes)"
	check_eq "$1: nothing purged" HIT "$(get $T)"
}
refused "unknown zone: 404" 404 zone '{"zone": "nope", "all": true}'
refused "no zone: 400" 400 zone '{"all": true}'
refused "zone not a string: 400" 400 zone '{"zone": 1, "all": true}'
refused "neither key, prefix nor all: 400" 400 key '{"zone": "default"}'
refused "key and prefix: 400" 400 prefix '{"zone": "default", "key": "a", "prefix": "b"}'
refused "all: false: 400" 400 all '{"zone": "default", "all": false}'
refused "an empty key: 400" 400 key '{"zone": "default", "key": ""}'
refused "an unknown field: 400" 400 keys '{"zone": "default", "keys": "a"}'
refused "not JSON: 400" 400 body '{"zone": '
refused "not an object: 400" 400 body '["default"]'
check_eq "GET cache/purge: 405" "405 method" "$(api GET /admin/cache/purge) $(jb .field)"
check_eq "purge without the token: 401" 401 \
	"$(code -X POST --data-binary '{"zone": "default", "all": true}' "$ADMIN/admin/cache/purge")"
check_eq "... nothing purged" HIT "$(get $T)"

# ---- weirctl api cache purge ---------------------------------------------------
W() { WEIR_ADMIN=127.0.0.1:$P_ADMIN WEIR_ADMIN_TOKEN=$TOKEN "$WEIRCTL" "$@"; }
check_eq "weirctl api cache purge --key: one" 1 \
	"$(W api cache purge --zone default --key "GET 127.0.0.1 $T" | jq .purged)"
check_eq "... the next request is a MISS" MISS "$(get $T)"
check_eq "weirctl api cache purge --prefix: the two stored under /cache/" 2 \
	"$(W api cache purge --zone default --prefix "GET 127.0.0.1 /cache/" | jq .purged)"
check_eq "weirctl api cache purge --all: none left" 0 \
	"$(W api cache purge --zone default --all | jq .purged)"
check_fails "weirctl: an unknown zone is the API's 404" "404: zone: no proxy-cache zone 'nope'" \
	W api cache purge --zone nope --all
check_fails "weirctl: two selections are refused" "give one of --key, --prefix and --all" \
	W api cache purge --zone default --key a --all

check_stopped "weir stops cleanly" "$WPID"
check_sanitizers
finish
