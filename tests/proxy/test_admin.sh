#!/bin/bash
# tests/proxy/test_admin.sh - the admin API end to end: the real weir daemon,
# curl and weirctl as clients of its admin listener, real upstreams
# (tests/proxy/upstream.py) behind its proxy listener, all on 127.0.0.1.
#
#   WEIR=build/asan/weir WEIRCTL=build/asan/weirctl tests/proxy/test_admin.sh
#
# Every refused request is followed by the same three checks: the answer
# names the field, the state file did not change, and a request through the
# proxy to a route nobody touches behaves as before. Nothing depends on
# timing: waits are bounded polls, and the change streams are counted, not
# timed.
set -u
cd "$(dirname "$0")/../.."
. tests/lib.sh

WEIR=${WEIR:-build/weir}
TMP=$(mktemp -d /tmp/weir-admin.XXXXXX)
PY=$(python3 -c 'import sys; print(sys.executable)')
UP=tests/proxy/upstream.py
CHURN=tests/proxy/admin_churn.py
cleanup_at_exit "$TMP"

# Six free ports in a row, somewhere in 23000-23999.
in_use() { (exec 3<>/dev/tcp/127.0.0.1/$1) 2>/dev/null; }
for try in $(seq 0 30); do
	BASE=$((23000 + (($$ + try * 37) % 160) * 6))
	free=1
	for p in $(seq $BASE $((BASE + 5))); do in_use $p && free=0 && break; done
	[ $free = 1 ] && break
done
[ $free = 1 ] || die "no six free ports in 23000-23999"
P_PROXY=$BASE P_ADMIN=$((BASE + 1)) P_A=$((BASE + 2)) P_B=$((BASE + 3)) P_C=$((BASE + 4))
ADMIN=http://127.0.0.1:$P_ADMIN
TOKEN=t0k-$$-secret
STATE=$TMP/state/weir-state.json
mkdir -p "$TMP/state"
printf '%s\n' "$TOKEN" >"$TMP/token"

start_upstream() { # NAME PORT
	$PY $UP --port "$2" --name "$1" --log "$TMP/$1.log" --ready "$TMP/$1.ready" \
		2>"$TMP/$1.err" &
	PIDS+=($!)
	wait_for 10 test -s "$TMP/$1.ready" || die "upstream $1 did not start: $(cat "$TMP/$1.err")"
}
start_upstream a $P_A
start_upstream b $P_B
start_upstream c $P_C

cat >"$TMP/weir.yaml" <<EOF
workers: 1
listeners: [127.0.0.1:$P_PROXY]
admin: {listen: 127.0.0.1:$P_ADMIN, token_file: $TMP/token, state: $STATE}
upstreams:
  a: {nodes: [127.0.0.1:$P_A]}
routes:
  - {id: stable, path: /stable/*, upstream: a}
EOF

# start_weir NAME: starts weir on the config, sets WPID, waits for it.
start_weir() {
	: >"$TMP/$1.err"	# now, not in the child: a NAME used before must not pass the wait
	"$WEIR" -c "$TMP/weir.yaml" 2>"$TMP/$1.err" &
	WPID=$!
	PIDS+=($WPID)
	wait_for 20 grep -q 'listening on' "$TMP/$1.err" ||
		die "weir $1 did not start: $(cat "$TMP/$1.err")"
}
stop_weir() { kill "$WPID" 2>/dev/null; wait "$WPID" 2>/dev/null; }

# api METHOD PATH [BODY]: the status on stdout, the answer in $TMP/body.
api() {
	local m=$1 p=$2; shift 2
	curl -s --max-time 30 -o "$TMP/body" -w '%{http_code}' -X "$m" -H "X-API-Key: $TOKEN" \
		${1+--data-binary "$1"} "$ADMIN$p"
}
# body JQ: a field of the last answer.
body() { jq -r "$1" "$TMP/body" 2>/dev/null; }
# via PATH: "STATUS NAME" of a request through the proxy (NAME: the upstream's).
via() {
	local out code
	out=$(curl -s --max-time 30 -w ' %{http_code}' "http://127.0.0.1:$P_PROXY$1")
	code=${out##* }
	echo "$code $(echo "${out% *}" | jq -r '.name // "-"' 2>/dev/null || echo -)"
}
# the state file and its journal of changes since it was written whole
state_sum() { [ -e "$STATE" ] && cat "$STATE" "$STATE.journal" 2>/dev/null | sha256sum | cut -c1-64; }

# refused DESC STATUS FIELD METHOD PATH [BODY]: the request is answered
# STATUS naming FIELD, the state file is as it was, and the stable route
# still answers from its upstream.
refused() {
	local desc=$1 want=$2 field=$3 before got; shift 3
	before=$(state_sum)
	got=$(api "$@")
	check_eq "$desc: status" "$want" "$got"
	[ -n "$field" ] && check_eq "$desc: field" "$field" "$(body .field)"
	check_eq "$desc: a reason is given" yes "$([ -n "$(body .reason)" ] && echo yes)"
	check_eq "$desc: state file unchanged" "$before" "$(state_sum)"
	check_eq "$desc: the proxy still routes as before" "200 a" "$(via /stable/x)"
}

start_weir w1
# The threads say what they are (top -H, perf): a worker, the admin API, the
# thread that folds route changes.
check_eq "threads are named" "weir-admin weir-fold weir-w0" \
	"$(grep -hxE 'weir-(admin|fold|w0)' /proc/"$WPID"/task/*/comm | sort | paste -sd' ')"

# ---- reading the file's resources ------------------------------------------
check_eq "GET routes" 200 "$(api GET /admin/routes)"
check_eq "routes from the file, total" 1 "$(body .total)"
check_eq "routes from the file, id" stable "$(body '.items[0].id')"
check_eq "GET one upstream" 200 "$(api GET /admin/upstreams/a)"
check_eq "upstream shows its nodes" "127.0.0.1:$P_A" "$(body '.nodes[0]')"
check_eq "upstream shows node health" "true" "$(body '.status.nodes[0].up')"
check_eq "no state file before a change" "" "$(state_sum)"

# ---- authentication ---------------------------------------------------------
code=$(curl -s -o "$TMP/body" -w '%{http_code}' "$ADMIN/admin/routes")
check_eq "no token: 401" 401 "$code"
check_eq "no token: reason" "true" "$(body '.reason | test("token is required")')"
code=$(curl -s -o "$TMP/body" -w '%{http_code}' -H "X-API-Key: wrong" "$ADMIN/admin/routes")
check_eq "wrong token: 401" 401 "$code"
code=$(curl -s -o /dev/null -w '%{http_code}' -H "X-API-Key: ${TOKEN}x" "$ADMIN/admin/routes")
check_eq "token with a byte more: 401" 401 "$code"
code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $TOKEN" \
	"$ADMIN/admin/routes")
check_eq "Authorization: Bearer works" 200 "$code"
code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer wrong" \
	"$ADMIN/admin/routes")
check_eq "wrong bearer token: 401" 401 "$code"
before=$(state_sum)
code=$(curl -s -o /dev/null -w '%{http_code}' -X PUT -H "X-API-Key: nope" \
	--data-binary '{"path": "/x", "upstream": "a"}' "$ADMIN/admin/routes/x")
check_eq "a PUT with a wrong token: 401" 401 "$code"
check_eq "a PUT with a wrong token changes nothing" 404 "$(api GET /admin/routes/x)"

# ---- routes: create, replace, read, patch, delete --------------------------
check_eq "PUT creates: 201" 201 "$(api PUT /admin/routes/r1 '{"path": "/r1/*", "upstream": "a"}')"
check_eq "PUT answers the route" "r1 /r1/*" "$(body '.id + " " + .path')"
check_eq "the new route is live" "200 a" "$(via /r1/x)"
check_eq "the state file exists and holds it" "/r1/*" \
	"$(jq -r '.routes[] | select(.id == "r1") | .path' "$STATE")"
check_eq "the state file keeps the file's route" stable \
	"$(jq -r '.routes[0].id' "$STATE")"
api PUT /admin/upstreams/b "{\"nodes\": [\"127.0.0.1:$P_B\"]}" >/dev/null
check_eq "PUT replaces: 200" 200 \
	"$(api PUT /admin/routes/r1 '{"id": "r1", "path": "/r1/*", "upstream": "b"}')"
check_eq "the replaced route is live" "200 b" "$(via /r1/x)"
check_eq "GET one route" 200 "$(api GET /admin/routes/r1)"
check_eq "GET one route: fields" "b" "$(body .upstream)"
check_eq "PATCH: 200" 200 "$(api PATCH /admin/routes/r1 '{"methods": ["POST"]}')"
check_eq "PATCH adds a member and keeps the others" "POST b /r1/*" \
	"$(body '.methods[0] + " " + .upstream + " " + .path')"
check_eq "PATCH is live: GET no longer matches" 404 "$(via /r1/x | cut -d' ' -f1)"
api PATCH /admin/routes/r1 '{"methods": null}' >/dev/null
check_eq "PATCH null removes a member" "null" "$(body .methods)"
check_eq "PATCH null is live" "200 b" "$(via /r1/x)"
api PUT /admin/routes/m '{"path": "/m", "plugins": {"mock": {"status": 202, "body": "one"}}}' \
	>/dev/null
api PATCH /admin/routes/m '{"plugins": {"mock": {"body": "two"}}}' >/dev/null
check_eq "PATCH merges nested objects" "202 two" \
	"$(body '(.plugins.mock.status | tostring) + " " + .plugins.mock.body')"
check_eq "PATCH merged settings are live" "two" \
	"$(curl -s "http://127.0.0.1:$P_PROXY/m")"
check_eq "PATCH a missing route: 404" 404 "$(api PATCH /admin/routes/nope '{"path": "/n"}')"

# Strings full of YAML syntax go through the config reader as plain text.
tricky='a: b\n- c # d &e *f !g {h} [i] \"j\" '"'"'k'"'"' %l @m `n ~ null true 1.5 \\u00e9 é'
check_eq "a mock body full of YAML syntax is accepted" 201 \
	"$(api PUT /admin/routes/tricky "{\"path\": \"/tricky\", \"plugins\": {\"mock\": {\"body\": \"$tricky\"}}}")"
check_eq "... and served byte for byte" \
	"$(printf 'a: b\n- c # d &e *f !g {h} [i] "j" '"'"'k'"'"' %%l @m `n ~ null true 1.5 \\u00e9 é')" \
	"$(curl -s "http://127.0.0.1:$P_PROXY/tricky")"

# ---- consumers ----------------------------------------------------------------
# keyed [CURL ARGS]: "STATUS CONSUMER" of a request to the key-auth route,
# CONSUMER the X-Consumer-Username the upstream saw ("-": none).
keyed() {
	local out
	out=$(curl -s --max-time 30 -w ' %{http_code}' "$@" "http://127.0.0.1:$P_PROXY/keyed/x")
	echo "${out##* } $(echo "${out% *}" | jq -r '[.headers[] | select(.[0] == "x-consumer-username") | .[1]][0] // "-"' 2>/dev/null || echo -)"
}
check_eq "PUT a consumer: 201" 201 \
	"$(api PUT /admin/consumers/ann '{"plugins": {"key-auth": {"key": "k-ann"}}}')"
check_eq "... answered with its username first" "username" "$(body 'keys_unsorted[0]')"
check_eq "a route with key-auth" 201 \
	"$(api PUT /admin/routes/keyed '{"path": "/keyed/*", "upstream": "a", "plugins": {"key-auth": {}}}')"
check_eq "the consumer's key passes, the upstream is told who" "200 ann" "$(keyed -H 'apikey: k-ann')"
check_eq "another key does not" "401 -" "$(keyed -H 'apikey: nope')"
check_eq "GET consumers lists it" "1 ann" \
	"$(api GET /admin/consumers >/dev/null; body '(.total | tostring) + " " + .items[0].username')"
refused "a consumer whose body names another" 400 consumers.ann.username \
	PUT /admin/consumers/ann '{"username": "bob", "plugins": {"key-auth": {"key": "k"}}}'
refused "a second consumer with ann's key" 400 consumers.bob.plugins.key-auth.key \
	PUT /admin/consumers/bob '{"plugins": {"key-auth": {"key": "k-ann"}}}'
check_eq "PATCH a consumer's key" 200 \
	"$(api PATCH /admin/consumers/ann '{"plugins": {"key-auth": {"key": "k-ann2"}}}')"
check_eq "... the new key passes, the old one no more" "200 ann 401 -" \
	"$(keyed -H 'apikey: k-ann2') $(keyed -H 'apikey: k-ann')"
check_eq "... and it is in the state file" "k-ann2" \
	"$(jq -r '.consumers[0].plugins["key-auth"].key' "$STATE")"
check_eq "DELETE the consumer: 204" 204 "$(api DELETE /admin/consumers/ann)"
check_eq "... its key passes no more" "401 -" "$(keyed -H 'apikey: k-ann2')"
api DELETE /admin/routes/keyed >/dev/null

# Characters YAML refuses raw or reads as line breaks arrive unchanged too.
odd=$(printf 'del\x7f nel\xc2\x85 c1\xc2\x90 ls\xe2\x80\xa8 ps\xe2\x80\xa9 bom\xef\xbb\xbf end')
check_eq "a mock body with DEL, C1, U+2028/9, U+FEFF is accepted" 201 \
	"$(api PUT /admin/routes/odd "{\"path\": \"/odd\", \"plugins\": {\"mock\": {\"body\": \"$odd\"}}}")"
check_eq "... and served byte for byte" "$(printf '%s' "$odd" | sha256sum)" \
	"$(curl -s "http://127.0.0.1:$P_PROXY/odd" | sha256sum)"
api DELETE /admin/routes/odd >/dev/null

curl -s -v -o /dev/null -X PUT -H "X-API-Key: $TOKEN" -H "Expect: 100-continue" \
	--data-binary '{"path": "/r1/*", "upstream": "b"}' "$ADMIN/admin/routes/r1" 2>"$TMP/expect"
check_eq "Expect: 100-continue is answered 100, then 200" "100 200" \
	"$(grep -o '^< HTTP/1.1 [0-9]*' "$TMP/expect" | cut -d' ' -f3 | tr '\n' ' ' | sed 's/ $//')"

check_eq "DELETE: 204" 204 "$(api DELETE /admin/routes/r1)"
check_eq "the deleted route is gone from the proxy" 404 "$(via /r1/x | cut -d' ' -f1)"
check_eq "GET a deleted route: 404" 404 "$(api GET /admin/routes/r1)"
check_eq "DELETE a missing route: 404" 404 "$(api DELETE /admin/routes/r1)"

# ---- bad input: each refused, naming the field, changing nothing -----------
refused "bad JSON" 400 body PUT /admin/routes/bad '{"path": "/x",'
refused "duplicate key" 400 body PUT /admin/routes/bad '{"path": "/x", "path": "/y"}'
refused "unknown field" 400 routes.bad.pth PUT /admin/routes/bad '{"pth": "/x", "upstream": "a"}'
check_eq "unknown field: did you mean" "true" "$(body '.reason | test("did you mean .path.")')"
refused "wrong type" 400 routes.bad.priority PUT /admin/routes/bad \
	'{"path": "/x", "upstream": "a", "priority": "high"}'
refused "not an object" 400 routes.bad PUT /admin/routes/bad '[1, 2]'
refused "missing upstream" 400 routes.bad.upstream PUT /admin/routes/bad \
	'{"path": "/x", "upstream": "nope"}'
check_eq "missing upstream: reason" "no upstream named 'nope'" "$(body .reason)"
refused "bad path pattern" 400 routes.bad PUT /admin/routes/bad \
	'{"path": "/a*b", "upstream": "a"}'
check_eq "bad path pattern: the reason names it" true "$(body '.reason | test("/a\\*b")')"
refused "id mismatch (PUT)" 400 routes.bad.id PUT /admin/routes/bad \
	'{"id": "other", "path": "/x", "upstream": "a"}'
refused "id mismatch (PATCH)" 400 routes.stable.id PATCH /admin/routes/stable '{"id": "other"}'
refused "bad id in the URL" 400 id PUT '/admin/routes/a%20b' '{"path": "/x", "upstream": "a"}'
refused "a NUL character" 400 body PUT /admin/routes/bad \
	'{"path": "/x", "upstream": "a", "hosts": ["a\u0000b"]}'
longkey=$(printf 'k%.0s' $(seq 129))
refused "a member name over 128 bytes" 400 "routes.bad.plugins.mock.$longkey" \
	PUT /admin/routes/bad "{\"path\": \"/x\", \"plugins\": {\"mock\": {\"$longkey\": 1}}}"
refused "a patch that breaks the route" 400 routes.stable.upstream PATCH /admin/routes/stable \
	'{"upstream": null}'
refused "bad node address" 400 'upstreams.bad.nodes[0]' PUT /admin/upstreams/bad \
	'{"nodes": ["example.com:80"]}'
refused "unknown upstream field" 400 upstreams.bad.balance_mode PUT /admin/upstreams/bad \
	'{"nodes": ["127.0.0.1:1"], "balance_mode": "rr"}'
refused "unknown plugin" 400 plugins.nosuch PUT /admin/plugins/nosuch '{}'
refused "upstream in use: 409" 409 upstreams.a DELETE /admin/upstreams/a
check_eq "in use: names the route" "route 'stable' uses it" "$(body .reason)"
refused "unknown resource" 404 path GET /admin/widgets
refused "unknown resource item" 404 path PUT /admin/widgets/x '{}'
refused "outside /admin/" 404 path GET /other
refused "missing route" 404 id GET /admin/routes/nope
refused "POST on a collection: 405" 405 method POST /admin/routes '{}'
refused "POST on a resource: 405" 405 method POST /admin/routes/x '{}'
curl -s -o /dev/null -D "$TMP/head" -X POST -H "X-API-Key: $TOKEN" "$ADMIN/admin/routes/x"
check_eq "405 says what is allowed" "Allow: GET, PUT, PATCH, DELETE" \
	"$(grep -i '^allow:' "$TMP/head" | tr -d '\r')"
head -c 1100000 /dev/zero | tr '\0' ' ' >"$TMP/big"
before=$(state_sum)
code=$(curl -s -o "$TMP/body" -w '%{http_code}' -X PUT -H "X-API-Key: $TOKEN" \
	--data-binary @"$TMP/big" "$ADMIN/admin/routes/big")
check_eq "too large body: 413" 413 "$code"
check_eq "too large body: field" body "$(body .field)"
code=$(curl -s -o "$TMP/body" -w '%{http_code}' -X PUT -H "X-API-Key: $TOKEN" \
	-H "Transfer-Encoding: chunked" --data-binary @"$TMP/big" "$ADMIN/admin/routes/big")
check_eq "too large chunked body: 413" 413 "$code"
check_eq "too large body: state unchanged" "$before" "$(state_sum)"
code=$(curl -s -o "$TMP/body" -w '%{http_code}' -X PUT -H "X-API-Key: nope" \
	--data-binary @"$TMP/big" "$ADMIN/admin/routes/big")
check_eq "a wrong token is answered before the body: 401, not 413" 401 "$code"
curl -s -v -o /dev/null -X PUT -H "X-API-Key: nope" -H "Expect: 100-continue" \
	--data-binary '{}' "$ADMIN/admin/routes/x" 2>"$TMP/expect"
check_eq "a wrong token gets no 100 Continue" "401" \
	"$(grep -o '^< HTTP/1.1 [0-9]*' "$TMP/expect" | cut -d' ' -f3 | tr '\n' ' ' | sed 's/ $//')"
check_eq "the proxy still routes after all that" "200 a" "$(via /stable/x)"

# A client of the admin port that sends nothing holds the admin thread only:
# the proxy answers meanwhile, and the API again once it is cut off.
exec 5<>/dev/tcp/127.0.0.1/$P_ADMIN
check_eq "a silent admin client: the proxy still answers" "200 a" "$(via /stable/x)"
check_eq "a silent admin client: the API answers after it" 200 "$(api GET /admin/routes/stable)"
exec 5>&-

# A state file that cannot be written: the change is undone and refused. An
# upstream changes the whole document, written whole (tmp file, rename).
mkdir "$STATE.tmp"
refused "state file not writable: 500, change undone" 500 state PUT /admin/upstreams/nosave \
	"{\"nodes\": [\"127.0.0.1:$P_B\"]}"
check_eq "the undone change is not listed" 404 "$(api GET /admin/upstreams/nosave)"
rmdir "$STATE.tmp"
check_eq "writable again: the change goes through" 201 \
	"$(api PUT /admin/upstreams/nosave "{\"nodes\": [\"127.0.0.1:$P_B\"]}")"
api DELETE /admin/upstreams/nosave >/dev/null

# A route change is appended to the journal: a record that cannot be written
# (a full file system here) undoes the change too. The journal grows ahead of
# its records, in zeroed chunks of 256 KiB: a record that fits in that room
# is written even on a full file system; one larger than it is not.
# The same ports: w1 stops meanwhile, and comes back on its state file.
mkdir -p "$TMP/small"
if mount -t tmpfs -o size=1m tmpfs "$TMP/small" 2>/dev/null; then
	trap 'umount -l "$TMP/small" 2>/dev/null; stop_pids; rm -rf "${CLEANUP_PATHS[@]}"' EXIT
	stop_weir
	sed "s|$STATE|$TMP/small/state.json|" "$TMP/weir.yaml" >"$TMP/small.yaml"
	"$WEIR" -c "$TMP/small.yaml" 2>"$TMP/ws.err" &
	SPID=$!
	PIDS+=($SPID)
	wait_for 20 grep -q 'admin API on' "$TMP/ws.err" || fail "weir on a small fs did not start"
	check_eq "small fs: a first change is saved" 201 \
		"$(api PUT /admin/routes/small '{"path": "/small", "plugins": {"mock": {}}}')"
	check_eq "small fs: a second goes to the journal" 200 \
		"$(api PUT /admin/routes/small '{"path": "/small", "plugins": {"mock": {"status": 202}}}')"
	check_eq "... which has room ahead of its records" 262144 "$(stat -c %s "$TMP/small/state.json.journal")"
	head -c 2M /dev/zero >"$TMP/small/fill" 2>/dev/null
	check_eq "the file system is full" 0 "$(df --output=avail -B1 "$TMP/small" | tail -n1 | tr -d ' ')"
	check_eq "a change that fits in the journal's room: saved on a full file system" 200 \
		"$(api PUT /admin/routes/small '{"path": "/small", "plugins": {"mock": {"status": 202, "body": "room"}}}')"
	# more than the room (about 400 kB of host names): the journal must grow
	for p in small big; do
		jq -nc --arg p "/$p" '{path: $p, hosts: [range(20000) | "h\(.).example.com"],
			plugins: {mock: {}}}' >"$TMP/big-$p.json"
	done
	check_eq "a record that does not fit: 500" 500 \
		"$(api PUT /admin/routes/small "@$TMP/big-small.json")"
	check_eq "... naming the state" state "$(body .field)"
	check_eq "... the route is as it was" 202 \
		"$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$P_PROXY/small")"
	check_eq "... and as it was listed" 202 \
		"$(api GET /admin/routes/small >/dev/null; body '.plugins.mock.status')"
	check_eq "... no part of the record is left" 2 "$(wc -l <"$TMP/small/state.json.journal")"
	check_eq "a new route that does not fit: 500" 500 \
		"$(api PUT /admin/routes/big "@$TMP/big-big.json")"
	check_eq "... is not served" 404 \
		"$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$P_PROXY/big")"
	check_eq "... nor listed" 404 "$(api GET /admin/routes/big)"
	rm -f "$TMP/small/fill"
	check_eq "room again: the change goes through" 200 \
		"$(api PUT /admin/routes/small "@$TMP/big-small.json")"
	kill "$SPID"; wait "$SPID" 2>/dev/null
	umount "$TMP/small"
	start_weir w1
else
	echo "# skipped: no tmpfs mount here (not root?)"
fi

# ---- pagination ---------------------------------------------------------------
for i in $(seq -w 1 25); do
	c=$(api PUT "/admin/routes/p$i" "{\"path\": \"/p/$i\", \"upstream\": \"a\"}")
	[ "$c" = 201 ] || fail "PUT p$i: $c $(cat "$TMP/body")"
done
api GET /admin/routes >/dev/null
total=$(body .total)
check_eq "25 more routes" 28 "$total"
check_eq "page 2 of 10" 200 "$(api GET '/admin/routes?page=2&page_size=10')"
check_eq "page 2 of 10: items" "10 p08 28" \
	"$(body '(.items | length | tostring) + " " + .items[0].id + " " + (.total | tostring)')"
check_eq "offset 25 limit 10" 200 "$(api GET '/admin/routes?offset=25&limit=10')"
check_eq "offset 25 limit 10: the last 3" "3 p23" "$(body '(.items | length | tostring) + " " + .items[0].id')"
check_eq "past the end: empty" 0 "$(api GET '/admin/routes?offset=100' >/dev/null; body '.items | length')"
refused "page_size 0" 400 page_size GET '/admin/routes?page_size=0'
refused "page_size too large" 400 page_size GET '/admin/routes?page_size=1001'
refused "page and offset mixed" 400 offset GET '/admin/routes?page=1&offset=3'
refused "unknown query parameter" 400 query GET '/admin/routes?sort=id'
check_eq "upstreams paginate too" "1 b" \
	"$(api GET '/admin/upstreams?page=2&page_size=1' >/dev/null; body '(.items | length | tostring) + " " + .items[0].id')"

# ---- upstream nodes changed at runtime --------------------------------------
api PUT /admin/routes/up '{"path": "/up/*", "upstream": "b"}' >/dev/null
# One client connection across the changes: it keeps being served, and the
# node that stays keeps its pooled upstream connection.
cat >"$TMP/keep.py" <<EOF
import http.client, json, subprocess, sys
c = http.client.HTTPConnection("127.0.0.1", $P_PROXY, timeout=30)
def name():
    c.request("GET", "/up/x"); r = c.getresponse(); return json.loads(r.read())["name"]
out = [name()]
for cmd in sys.argv[1:]:
    subprocess.run(cmd, shell=True, check=True, stdout=subprocess.DEVNULL)
    out += [name() for _ in range(4)]
print(" ".join(sorted(set(out[1:5]))), " ".join(sorted(set(out[5:9]))), " ".join(sorted(set(out[9:]))), sep="|")
EOF
add_c="curl -sf -X PUT -H 'X-API-Key: $TOKEN' --data-binary '{\"nodes\": [\"127.0.0.1:$P_B\", \"127.0.0.1:$P_C\"]}' $ADMIN/admin/upstreams/b"
reweigh="curl -sf -X PATCH -H 'X-API-Key: $TOKEN' --data-binary '{\"nodes\": [{\"addr\": \"127.0.0.1:$P_B\", \"weight\": 0}, \"127.0.0.1:$P_C\"]}' $ADMIN/admin/upstreams/b"
drop_b="curl -sf -X PUT -H 'X-API-Key: $TOKEN' --data-binary '{\"nodes\": [\"127.0.0.1:$P_C\"]}' $ADMIN/admin/upstreams/b"
got=$($PY "$TMP/keep.py" "$add_c" "$reweigh" "$drop_b")
check_eq "node added, drained by weight, removed: one client connection served throughout" \
	"b c|c|c" "$got"
check_eq "the node that stayed kept its pooled connection across the changes" 1 \
	"$(grep '"target": "/up/x"' "$TMP/b.log" | jq -r .conn | sort -u | wc -l)"
api GET /admin/upstreams/b >/dev/null
check_eq "GET shows the new node and its health" "127.0.0.1:$P_C true 0" \
	"$(body '.status.nodes[0] | .addr + " " + (.up | tostring) + " " + (.ejected_workers | tostring)')"
# Passive health: a node that refuses connections is ejected, and GET says so.
P_DEAD=$((BASE + 5))
api PUT /admin/upstreams/dead "{\"nodes\": [\"127.0.0.1:$P_DEAD\"], \"health\": {\"max_fails\": 1, \"window\": \"60s\", \"eject\": \"60s\"}, \"retries\": 0}" >/dev/null
api PUT /admin/routes/dead '{"path": "/dead/*", "upstream": "dead"}' >/dev/null
check_eq "a dead node: 502" 502 "$(via /dead/x | cut -d' ' -f1)"
check_eq "GET shows the dead node ejected (passive health)" "false 1" \
	"$(api GET /admin/upstreams/dead >/dev/null; body '.status.nodes[0] | (.up | tostring) + " " + (.ejected_workers | tostring)')"
api DELETE /admin/routes/dead >/dev/null
api DELETE /admin/upstreams/dead >/dev/null
api PUT /admin/upstreams/hc "{\"nodes\": [\"127.0.0.1:$P_A\"], \"health_check\": {\"interval\": \"100ms\", \"timeout\": \"100ms\", \"path\": \"/healthz\"}}" >/dev/null
check_eq "an upstream with active checks shows healthy" true \
	"$(api GET /admin/upstreams/hc >/dev/null; body '.status.health_check and .status.nodes[0].healthy')"
check_eq "status is read-only: a PUT ignores it" 200 \
	"$(api GET /admin/upstreams/hc >/dev/null; api PUT /admin/upstreams/hc "$(cat "$TMP/body")")"
check_eq "DELETE an unused upstream" 204 "$(api DELETE /admin/upstreams/hc)"

# ---- global plugin settings --------------------------------------------------
check_eq "GET plugins" 200 "$(api GET /admin/plugins)"
check_eq "no global plugin settings yet" 0 "$(body .total)"

# ---- 1000 route changes under load ------------------------------------------
: >"$TMP/ack"
$PY $CHURN $P_ADMIN "$TOKEN" 1000 --ack "$TMP/ack" >"$TMP/churn.out" 2>&1 &
CHURN_PID=$!
PIDS+=($CHURN_PID)
rounds=0 bad=0
while kill -0 $CHURN_PID 2>/dev/null && [ $rounds -lt 200 ]; do
	wrk -t1 -c4 -d2s "http://127.0.0.1:$P_PROXY/stable/x" >"$TMP/wrk.out" 2>&1
	rounds=$((rounds + 1))
	grep -q 'requests in' "$TMP/wrk.out" || bad=$((bad + 1))
	grep -Eq 'Non-2xx|Socket errors' "$TMP/wrk.out" && { bad=$((bad + 1)); cat "$TMP/wrk.out"; }
done
wait $CHURN_PID
check_eq "1000 route changes acknowledged" "ok 1000" "$(cat "$TMP/churn.out")"
check_ge "wrk ran during the changes" 1 "$rounds"
check_eq "wrk: no non-2xx and no socket errors in $rounds runs" 0 "$bad"
check_eq "the last change is live" 1000 "$(api GET /admin/routes/churn >/dev/null; body .priority)"

# A route change is one record appended to the journal; the state file is
# written whole again once the journal has as many records as it has routes,
# and at least 4096.
check_ge "route changes are journal records" 1000 "$(wc -l <"$STATE.journal")"
check_eq "... each naming its change" 1000 \
	"$(tr -d '\0' <"$STATE.journal" | tail -n1 | jq -r 'select(.kind == "routes" and .id == "churn") | .value.priority')"
$PY $CHURN $P_ADMIN "$TOKEN" 3200 >"$TMP/churn.out" 2>&1
check_eq "3200 more changes acknowledged" "ok 3200" "$(cat "$TMP/churn.out")"
check_eq "the journal was compacted into the state file" yes \
	"$([ "$(wc -l <"$STATE.journal")" -lt 4096 ] && echo yes)"
check_eq "... which holds a change the journal no longer has" yes \
	"$([ "$(jq '.routes[] | select(.id == "churn") | .priority' "$STATE")" -gt 1000 ] && echo yes)"
check_eq "... and its sequence number" yes \
	"$([ "$(jq '._seq' "$STATE")" -gt 4000 ] && echo yes)"

# ---- weirctl api ---------------------------------------------------------------
W() { WEIR_ADMIN=127.0.0.1:$P_ADMIN WEIR_ADMIN_TOKEN=$TOKEN "$WEIRCTL" "$@"; }
echo '{"path": "/ctl/*", "upstream": "a"}' >"$TMP/ctl.json"
check "weirctl api routes put" W api routes put ctl "$TMP/ctl.json"
check_eq "weirctl: the route is live" "200 a" "$(via /ctl/x)"
check_eq "weirctl api routes get" "/ctl/*" "$(W api routes get ctl | jq -r .path)"
check_eq "weirctl api routes list: every page" "$(api GET /admin/routes >/dev/null; body .total)" \
	"$(W api routes list | jq '.items | length')"
check_eq "weirctl api routes list --page" 2 "$(W api routes list --page 1 --page-size 2 | jq '.items | length')"
echo '{"plugins": {"key-auth": {"key": "k-carl"}}}' >"$TMP/carl.json"
check "weirctl api consumers put" W api consumers put carl "$TMP/carl.json"
check_eq "weirctl api consumers get" "carl k-carl" \
	"$(W api consumers get carl | jq -r '.username + " " + .plugins["key-auth"].key')"
check "weirctl api consumers del" W api consumers del carl
echo '{"methods": ["GET"]}' >"$TMP/patch.json"
check_eq "weirctl api routes patch" GET "$(W api routes patch ctl "$TMP/patch.json" | jq -r '.methods[0]')"
check_eq "weirctl api upstreams get" "127.0.0.1:$P_A" "$(W api upstreams get a | jq -r '.nodes[0]')"
check_eq "weirctl --addr and --token flags" stable \
	"$("$WEIRCTL" api routes get stable --addr 127.0.0.1:$P_ADMIN --token "$TOKEN" | jq -r .id)"
check "weirctl api routes del" W api routes del ctl
check_eq "weirctl: the route is gone" 404 "$(via /ctl/x | cut -d' ' -f1)"
echo '{"path": "/ctl/*", "upstream": "nope"}' >"$TMP/bad.json"
check_fails "weirctl: a refused change names the field" \
	"^weirctl: api routes put: 400: routes.ctl.upstream: no upstream named 'nope'$" \
	W api routes put ctl "$TMP/bad.json"
echo '{"path": ' >"$TMP/broken.json"
check_fails "weirctl: a file that is not JSON" "broken.json:[0-9]+:[0-9]+: " \
	W api routes put ctl "$TMP/broken.json"
check_fails "weirctl: a missing file" "nofile.json" W api routes put ctl "$TMP/nofile.json"
check_fails "weirctl: a missing route" "404: id: 'nope' is not in routes$" W api routes get nope
check_fails "weirctl: in use" "409: upstreams.a: route 'stable' uses it" W api upstreams del a
check_fails "weirctl: a bad id" "id 'a b'" W api routes get "a b"
check_fails "weirctl: no token" "no token" env -u WEIR_ADMIN_TOKEN \
	WEIR_ADMIN=127.0.0.1:$P_ADMIN "$WEIRCTL" api routes list
check_fails "weirctl: a wrong token" "401: X-API-Key: wrong token" \
	"$WEIRCTL" api routes list --addr 127.0.0.1:$P_ADMIN --token nope
check_fails "weirctl: nothing listening" "connecting to the admin API" \
	"$WEIRCTL" api routes list --addr 127.0.0.1:1 --token x
check_fails "weirctl: a bad address" "address 'nowhere'" \
	"$WEIRCTL" api routes list --addr nowhere --token x
rc=0; W api routes get >/dev/null 2>&1 || rc=$?
check_eq "weirctl: a missing ID is a usage error" 2 "$rc"

# ---- SIGHUP: the file's server settings, the state file's resources ---------
sed -i 's|path: /stable/\*|path: /stable-from-file/*|' "$TMP/weir.yaml"
kill -HUP $WPID
wait_for 20 grep -q 'reloaded' "$TMP/w1.err" || fail "no reload message"
check_eq "SIGHUP keeps the saved resources" "200 a" "$(via /stable/x)"
check_eq "SIGHUP: the file's changed route is not taken" 404 \
	"$(via /stable-from-file/x | cut -d' ' -f1)"
check_eq "SIGHUP says where the resources come from" 1 \
	"$(grep -c 'from the admin state file' "$TMP/w1.err")"
sed -i 's|path: /stable-from-file/\*|path: /stable/*|' "$TMP/weir.yaml"

# ---- restart: every acknowledged change is still there -----------------------
api GET /admin/routes >/dev/null
before=$(jq -c '.items' "$TMP/body")
stop_weir
start_weir w2
check_eq "restart: the state file's resources are served" 1 \
	"$(grep -c 'from the state file' "$TMP/w2.err")"
api GET /admin/routes >/dev/null
check_eq "restart: every route as acknowledged" "$before" "$(jq -c '.items' "$TMP/body")"
check_eq "restart: the churned route at its last change" 3200 \
	"$(api GET /admin/routes/churn >/dev/null; body .priority)"
check_eq "restart: a route made through the API is live" "200 c" "$(via /up/x)"

# ---- kill -9 in the middle of a stream of changes ---------------------------
: >"$TMP/ack"
$PY $CHURN $P_ADMIN "$TOKEN" 100000 --ack "$TMP/ack" >"$TMP/churn.out" 2>&1 &
CHURN_PID=$!
PIDS+=($CHURN_PID)
wait_for 60 sh -c "test \$(wc -l <'$TMP/ack') -ge 50" || fail "changes did not flow"
kill -9 $WPID
wait $WPID 2>/dev/null
wait $CHURN_PID 2>/dev/null
last=$(tail -n1 "$TMP/ack")
check "after kill -9 the state file is whole JSON" jq -e . "$STATE"
start_weir w3
v=$(api GET /admin/routes/churn >/dev/null; body .priority)
check_eq "after kill -9: the state is the last acknowledged change or the one in flight" yes \
	"$([ "$v" = "$last" ] || [ "$v" = "$((last + 1))" ] && echo yes)"
check_eq "after kill -9: the proxy routes" "200 a" "$(via /stable/x)"
stop_weir

# ---- a state file that does not validate stops weir ---------------------------
cp "$STATE" "$TMP/good-state.json"
jq '.routes[0].upstream = "gone"' "$TMP/good-state.json" >"$STATE"
rc=0; "$WEIR" -c "$TMP/weir.yaml" 2>"$TMP/w4.err" || rc=$?
check_eq "an invalid state file: weir refuses to start" 1 "$rc"
check_eq "... naming the file and the field" 1 \
	"$(grep -c "state file $STATE: routes.stable.upstream: no upstream named 'gone'" "$TMP/w4.err")"
echo '{"routes": [' >"$STATE"
rc=0; "$WEIR" -c "$TMP/weir.yaml" 2>"$TMP/w5.err" || rc=$?
check_eq "a torn state file: weir refuses to start" 1 "$rc"
check_eq "... naming the file and the place" 1 "$(grep -c "state file $STATE:[0-9]*:[0-9]*:" "$TMP/w5.err")"
echo '{"listeners": []}' >"$STATE"
rc=0; "$WEIR" -c "$TMP/weir.yaml" 2>"$TMP/w6.err" || rc=$?
check_eq "a state file with server settings: refused" 1 "$rc"
check_eq "... saying what is wrong" 1 "$(grep -c "listeners: not a resource" "$TMP/w6.err")"
cp "$TMP/good-state.json" "$STATE"

# The journal at start: a half-written last record (a crash while it was
# written, never acknowledged) is cut off; a bad record before it is an error.
cp "$STATE.journal" "$TMP/good-journal"
printf '{"seq": 999999, "kind": "routes", "id": "torn", "value": {"pa' >>"$STATE.journal"
start_weir w8
check_eq "a torn last record: weir starts, saying so" 1 \
	"$(grep -c "cutting off a half-written last record" "$TMP/w8.err")"
check_eq "... without it" 404 "$(api GET /admin/routes/torn)"
check_eq "... and the file ends at the last whole record" "$(tr -d '\0' <"$TMP/good-journal" | sha256sum)" \
	"$(tr -d '\0' <"$STATE.journal" | sha256sum)"
check_eq "... with nothing after it" 0 "$(tr -d '\0' <"$STATE.journal" | tail -c1 | tr -d '\n' | wc -c)"
check_eq "... the routes as before" "200 a" "$(via /stable/x)"
stop_weir
# The same inside the room the journal keeps ahead of its records: a record
# whose start was written and the rest is still zeros, and one with zeros
# inside it (a block of it that did not reach the disk, and its newline that
# did).
for torn in prefix hole; do
	cp "$TMP/good-journal" "$STATE.journal"
	end=$(tr -d '\0' <"$STATE.journal" | wc -c)
	[ "$(stat -c %s "$STATE.journal")" -gt $((end + 100)) ] ||
		truncate -s $((end + 4096)) "$STATE.journal"
	case $torn in
	prefix) printf '{"seq": 999999, "kind": "routes", "id": "torn", "value": {"pa' ;;
	hole) printf '{"seq": 999999, "kind": "routes", "id": "torn", \0\0\0\0 "value": null}\n' ;;
	esac | dd of="$STATE.journal" bs=1 seek="$end" conv=notrunc status=none
	start_weir "w8$torn"
	check_eq "a record torn in the journal's room ($torn): weir starts, saying so" 1 \
		"$(grep -c "cutting off a half-written last record" "$TMP/w8$torn.err")"
	check_eq "... without it ($torn)" 404 "$(api GET /admin/routes/torn)"
	check_eq "... the records as before ($torn)" "$(tr -d '\0' <"$TMP/good-journal" | sha256sum)" \
		"$(tr -d '\0' <"$STATE.journal" | sha256sum)"
	check_eq "... the routes as before ($torn)" "200 a" "$(via /stable/x)"
	stop_weir
done
{ echo 'not json'; cat "$TMP/good-journal"; } >"$STATE.journal"
rc=0; "$WEIR" -c "$TMP/weir.yaml" 2>"$TMP/w9.err" || rc=$?
check_eq "a bad record in the journal: weir refuses to start" 1 "$rc"
check_eq "... naming the journal and the line" 1 \
	"$(grep -c "state journal $STATE.journal:1:" "$TMP/w9.err")"
printf '{"seq": 999999, "kind": "listeners", "id": "x", "value": {}}\n' >"$STATE.journal"
rc=0; "$WEIR" -c "$TMP/weir.yaml" 2>"$TMP/w10.err" || rc=$?
check_eq "a record of no resource: refused" 1 "$rc"
check_eq "... saying why" 1 "$(grep -c "journal.*:1: listeners 'x': not a resource" "$TMP/w10.err")"
cp "$TMP/good-journal" "$STATE.journal"
check_eq "no sanitizer reports from any weir run" 0 "$(cat "$TMP"/w*.err | grep -c Sanitizer)"

# ---- before the first change, SIGHUP takes the file's resources ------------
sed "s|$STATE|$TMP/state/fresh.json|" "$TMP/weir.yaml" >"$TMP/fresh.yaml"
cp "$TMP/fresh.yaml" "$TMP/weir.yaml"
start_weir w7
printf '  - {id: added, path: /added/*, upstream: a}\n' >>"$TMP/weir.yaml"
kill -HUP $WPID
wait_for 20 grep -q 'reloaded' "$TMP/w7.err" || fail "no reload message"
check_eq "no state file yet: SIGHUP serves the file's new route" "200 a" "$(via /added/x)"
check_eq "... and the API lists it" 200 "$(api GET /admin/routes/added)"
check_eq "... no state file is written by a reload" no \
	"$([ -e "$TMP/state/fresh.json" ] && echo yes || echo no)"
api PUT /admin/routes/api-made '{"path": "/api-made", "plugins": {"mock": {}}}' >/dev/null
check_eq "the first change saves the file's resources with it" "added api-made stable" \
	"$(jq -r '[.routes[].id] | sort | join(" ")' "$TMP/state/fresh.json")"
stop_weir

# ---- admin settings --------------------------------------------------------------
cat >"$TMP/bad.yaml" <<EOF
listeners: [127.0.0.1:$P_PROXY]
admin: {listen: 127.0.0.1:$P_ADMIN, state: $STATE}
EOF
check_fails "admin without a token is refused" "admin: exactly one of token and token_file" \
	"$WEIR" --check "$TMP/bad.yaml"
printf 'listeners: [127.0.0.1:%s]\nadmin: {token: x, state: s, listen: 127.0.0.1:%s}\n' \
	$P_PROXY $P_PROXY >"$TMP/bad.yaml"
check_fails "admin on a proxy listener is refused" "admin.listen: .* is also listeners" \
	"$WEIR" --check "$TMP/bad.yaml"

finish
