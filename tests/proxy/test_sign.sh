#!/bin/bash
# tests/proxy/test_sign.sh - hmac-auth and body-crypto end to end: the real
# weir between tests/proxy/sign_client.py (signatures with python's hmac and
# hashlib, AES-GCM with the `cryptography` module, written from the README's
# formats) or curl, and the real upstream tests/proxy/upstream.py.
#
#   WEIR=build/asan/weir tests/proxy/test_sign.sh    the same with the sanitizers
#
# "The upstream saw the body" is read from /echo's body_sha256; "nothing was
# forwarded" from the upstream's log of request heads, each check on a path
# of its own. No check depends on timing: the clock skew under test is a
# client's X-Date 400 s off, against a window of 300 s.
set -u
cd "$(dirname "$0")/../.."
. tests/lib.sh
. tests/proxy/lib.sh

proxy_setup sign
SC=tests/proxy/sign_client.py
proxy_ports 26000 26999 4
P_W=$BASE P_A=$((BASE + 1))

start_upstream A $P_A

SECRET=0123456789abcdef-secret
head -c 5000000 /dev/urandom >"$TMP/big.bin"
K_OLD=$(head -c 32 /dev/urandom | base64)
K_NEW=$(head -c 32 /dev/urandom | base64)
cat >"$TMP/w.yaml" <<EOF
workers: 2
limits: {max_body: 64m}
listeners: [127.0.0.1:$P_W]
upstreams:
  a: {nodes: [127.0.0.1:$P_A]}
routes:
  - id: signed
    paths: [/signed/*]
    upstream: a
    rewrite: {strip_prefix: /signed}
    plugins:
      hmac-auth:
        keys:
          k1: {secret: "$SECRET", consumer: alice}
        validate_body: true
        max_body: 64k
        hide_credentials: true
  - id: signed-stream
    paths: [/stream/*]
    upstream: a
    rewrite: {strip_prefix: /stream}
    plugins:
      hmac-auth:
        keys:
          k1: {secret: "$SECRET"}
        algorithms: [hmac-sha512]
  - id: enc
    paths: [/enc/*]
    upstream: a
    rewrite: {strip_prefix: /enc}
    plugins:
      body-crypto:
        keys: {old: "$K_OLD", new: "$K_NEW"}
        encrypt_with: new
  - id: small
    paths: [/small/*]
    upstream: a
    rewrite: {strip_prefix: /small}
    plugins:
      body-crypto:
        keys: {new: "$K_NEW"}
        max_body: 4k
  - id: both
    paths: [/both/*]
    upstream: a
    rewrite: {strip_prefix: /both}
    plugins:
      hmac-auth:
        keys:
          k1: {secret: "$SECRET", consumer: alice}
        validate_body: true
      body-crypto:
        keys: {old: "$K_OLD", new: "$K_NEW"}
        encrypt_with: new
        consumer_keys: {alice: old}
  - id: plain
    paths: [/plain/*]
    upstream: a
    rewrite: {strip_prefix: /plain}
EOF
start_weir w -c "$TMP/w.yaml"

# sc ARGS...: one JSON line from sign_client.py; f JSON FIELD: a field of it
# (status as "200 401", echo.X for the upstream's echo, h:NAME for a header
# the upstream got).
sc() { $PY $SC $P_W "$@"; }
f() {
	python3 -c '
import json, sys
j = json.loads(sys.argv[1]); k = sys.argv[2]
if k == "status": print(" ".join(map(str, j["status"])))
elif k.startswith("echo."): print(j.get("echo", {}).get(k[5:], "-"))
elif k.startswith("h:"):
    print(" | ".join(v for n, v in j.get("echo", {}).get("headers", []) if n == k[2:]) or "-")
elif k == "saw_body": print(j.get("echo", {}).get("body_sha256") == j["sent_sha256"])
else: print(j.get(k, "-"))' "$1" "$2"
}
SIGN=(--key-id k1 --secret "$SECRET")
BODYSIGNED="@method @path @query host x-date x-nonce content-digest"

# ---- hmac-auth ---------------------------------------------------------------
J=$(sc --path /signed/echo?x=1 "${SIGN[@]}" --headers "$BODYSIGNED" --digest --body '{"order":1}')
check_eq "signed (hmac-sha256): accepted" "200" "$(f "$J" status)"
check_eq "signed: the upstream got the body" "True" "$(f "$J" saw_body)"
check_eq "signed: Authorization not forwarded (hide_credentials)" "-" "$(f "$J" h:authorization)"
check_eq "signed: the held body goes with its own Content-Length" "11" "$(f "$J" h:content-length)"

J=$(sc --path /signed/echo?y=2 "${SIGN[@]}" --alg hmac-sha512 --headers "$BODYSIGNED" \
	--digest --digest-alg sha-512 --body-size 40000 --chunked)
check_eq "signed (hmac-sha512, chunked, sha-512 digest): accepted" "200" "$(f "$J" status)"
check_eq "signed, chunked: the upstream got the whole body" "True" "$(f "$J" saw_body)"
check_eq "signed, chunked: sent on with a Content-Length, not chunked" "40000 -" \
	"$(f "$J" h:content-length) $(f "$J" h:transfer-encoding)"

J=$(sc --path /signed/echo?get=1 --method GET "${SIGN[@]}" --headers "$BODYSIGNED" --digest)
check_eq "signed GET with the digest of an empty body: accepted" "200" "$(f "$J" status)"

refused() { # DESC STATUS REASON PATH ARGS...: refused, and not forwarded
	local desc=$1 st=$2 why=$3 path=$4 J; shift 4
	J=$(sc --path "$path" "$@")
	check_eq "$desc: $st" "$st" "$(f "$J" status)"
	check_eq "$desc: says why" "$st $(weir_status "$st"): $why" "$(f "$J" why)"
	check_eq "$desc: the upstream saw nothing" "0" "$(seen_target A "${path#/signed}")"
}
weir_status() { case $1 in 400) echo "Bad Request";; 401) echo Unauthorized;;
	413) echo "Content Too Large";; esac; }

WS=(--method GET --header "Connection: Upgrade" --header "Upgrade: websocket" \
	--header "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==" --header "Sec-WebSocket-Version: 13")
J=$(sc --path /signed/ws "${SIGN[@]}" --headers "$BODYSIGNED" --digest "${WS[@]}")
check_eq "a signed upgrade, with the digest of no body: 101" "101" "$(f "$J" status)"
J=$(sc --path /signed/ws?bad=1 "${SIGN[@]}" --headers "$BODYSIGNED" --digest --digest-of x "${WS[@]}")
check_eq "a signed upgrade whose digest claims a body: 401, not tunnelled" \
	"401 Unauthorized: body does not match its Content-Digest 0" \
	"$(f "$J" why) $(seen_target A /ws?bad=1)"

refused "a body changed after signing" 401 "body does not match its Content-Digest" \
	/signed/t-body "${SIGN[@]}" --headers "$BODYSIGNED" --digest --body '{"amount":1}' \
	--body-after '{"amount":9}'
refused "a digest of another body" 401 "body does not match its Content-Digest" \
	/signed/t-digest "${SIGN[@]}" --headers "$BODYSIGNED" --digest --digest-of other --body x
refused "a bad signature" 401 "bad signature" /signed/t-sig "${SIGN[@]}" \
	--headers "$BODYSIGNED" --digest --body x --bad-sig
refused "an X-Date 400 s late" 401 "X-Date outside the allowed clock skew" /signed/t-skew \
	"${SIGN[@]}" --headers "$BODYSIGNED" --digest --body x --skew -400
refused "an X-Date 400 s ahead" 401 "X-Date outside the allowed clock skew" /signed/t-ahead \
	"${SIGN[@]}" --headers "$BODYSIGNED" --digest --body x --skew 400
refused "an unknown key id" 401 "unknown key id" /signed/t-kid --key-id k9 \
	--secret "$SECRET" --headers "$BODYSIGNED" --digest --body x
refused "no Authorization" 401 "missing Authorization" /signed/t-none --digest --body x
refused "Content-Digest not signed" 401 "a required header is not signed" /signed/t-unsigned \
	"${SIGN[@]}" --digest --body x
refused "a signed header left out of the request" 401 \
	"a signed header is missing from the request" /signed/t-dropped "${SIGN[@]}" \
	--headers "$BODYSIGNED x-tenant" --digest --body x
refused "Content-Digest signed but not sent" 401 "a signed header is missing from the request" \
	/signed/t-nodigest "${SIGN[@]}" \
	--headers "$BODYSIGNED" --digest --body x --drop content-digest
refused "a body over max_body (64k)" 413 "body larger than the limit" /signed/t-big \
	"${SIGN[@]}" --headers "$BODYSIGNED" --digest --body-size 70000 --chunked
J=$(C -H 'Authorization: Signature keyId=k1' http://127.0.0.1:$P_W/signed/t-malformed)
check_eq "a malformed Signature parameter list: 400" \
	"400 Bad Request: malformed Signature parameters (keyId, headers, signature required)" "$J"

J=$(sc --path /signed/replay "${SIGN[@]}" --headers "$BODYSIGNED" --digest --body '{"pay":1}' \
	--nonce "once-$$" --repeat 2 --same-conn)
check_eq "a replayed request: accepted once, then refused on the same connection" "200 401" \
	"$(f "$J" status)"
check_eq "a replayed request: the upstream saw it once" "1" "$(seen_target A /replay)"
check_eq "a replayed request: says why" "401 Unauthorized: replayed nonce" "$(f "$J" why)"
J=$(sc --path /signed/replay "${SIGN[@]}" --headers "$BODYSIGNED" --digest --body '{"pay":1}' \
	--nonce "once-$$" --repeat 6)
check_eq "a nonce seen is refused on six new connections (spread over both workers)" \
	"401 401 401 401 401 401" "$(f "$J" status)"
# A reload builds new plugin instances; the replay table is the process's.
kill -HUP "${PIDS[1]}"
wait_for 10 grep -q 'weir: reloaded' "$TMP/w.err" || fail "weir did not reload: $(tail -3 "$TMP/w.err")"
J=$(sc --path /signed/replay "${SIGN[@]}" --headers "$BODYSIGNED" --digest --body '{"pay":1}' \
	--nonce "once-$$")
check_eq "a nonce seen before a reload is refused after it" "401" "$(f "$J" status)"
check_eq "... and the upstream still saw the request once" "1" "$(seen_target A /replay)"

# Without validate_body the body streams (not held): large bodies pass.
J=$(sc --path /stream/echo "${SIGN[@]}" --alg hmac-sha512 --body-size 3000000)
check_eq "signed without validate_body: a 3 MB body streams through" "200 True" \
	"$(f "$J" status) $(f "$J" saw_body)"
J=$(sc --path /stream/t-alg "${SIGN[@]}" --body x)
check_eq "an algorithm the route does not allow: 401" "401 Unauthorized: algorithm not allowed" \
	"$(f "$J" why)"

# ---- body-crypto -------------------------------------------------------------
DEC="new=$K_NEW,old=$K_OLD"
J=$(sc --path /enc/echo --enc-kid new --enc-key "$K_NEW" --body '{"card":"4111"}' --dec-keys "$DEC")
check_eq "encrypted body: accepted" "200" "$(f "$J" status)"
check_eq "encrypted body: the upstream got the plaintext" "True" "$(f "$J" saw_body)"
check_eq "encrypted body: the upstream got the plaintext's Content-Type, no X-Enc-*" \
	"application/json - -" \
	"$(f "$J" h:content-type) $(f "$J" h:x-enc-key-id) $(f "$J" h:x-enc-content-type)"
check_eq "response: encrypted under encrypt_with, its Content-Type carried aside" \
	"new application/json" "$(f "$J" kid) $(f "$J" ctype)"
check_eq "response: decrypts with the key to the upstream's answer" "/echo" "$(f "$J" echo.target)"

J=$(sc --path /enc/echo --enc-kid old --enc-key "$K_OLD" --body '{"v":"old"}' --dec-keys "$DEC")
check_eq "rotation: a body under the old key still decrypts; the answer uses the new" \
	"200 True new" "$(f "$J" status) $(f "$J" saw_body) $(f "$J" kid)"

J=$(sc --path /enc/echo --enc-kid new --enc-key "$K_NEW" --body-size 300000 --chunked \
	--dec-keys "$DEC" --repeat 2 --same-conn)
check_eq "a 300 KB encrypted chunked body, twice on one connection" "200 200 True" \
	"$(f "$J" status) $(f "$J" saw_body)"

enc_refused() { # DESC REASON PATH ARGS...
	local desc=$1 why=$2 path=$3 J; shift 3
	J=$(sc --path "$path" "$@")
	check_eq "$desc: 400" "400 400 Bad Request: $why" "$(f "$J" status) $(f "$J" why)"
	check_eq "$desc: the upstream saw nothing" "0" "$(seen_target A "${path#/enc}")"
}
enc_refused "a tampered ciphertext" "encrypted body failed authentication" /enc/t-tamper \
	--enc-kid new --enc-key "$K_NEW" --body secret-data --tamper-ct
enc_refused "a truncated ciphertext" "encrypted body failed authentication" /enc/t-trunc \
	--enc-kid new --enc-key "$K_NEW" --body secret-data --truncate-ct
enc_refused "the wrong key id" "encrypted body failed authentication" /enc/t-wrongkid \
	--enc-kid old --enc-key "$K_NEW" --body secret-data
enc_refused "an unknown key id" "unknown encryption key id" /enc/t-unknown \
	--enc-kid gone --enc-key "$K_NEW" --body secret-data
enc_refused "a body in clear" "body not encrypted (no X-Enc-Key-Id)" /enc/t-clear --body x

# curl: Expect: 100-continue on a held route, and a body from a file.
$PY - "$K_NEW" >"$TMP/sealed.bin" <<'EOF'
import base64, os, sys
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
n = os.urandom(12)
sys.stdout.buffer.write(n + AESGCM(base64.b64decode(sys.argv[1])).encrypt(n, b"x" * 5000, None))
EOF
J=$(C -o "$TMP/curl.out" -w '%{http_code} %header{x-enc-key-id}' \
	-H 'Expect: 100-continue' -H 'X-Enc-Key-Id: new' -H 'Content-Type: application/octet-stream' \
	--data-binary @"$TMP/sealed.bin" http://127.0.0.1:$P_W/enc/expect)
check_eq "curl with Expect: 100-continue: weir says go, then decrypts" "200 new" "$J"
check_eq "curl with Expect: 100-continue: the upstream got the plaintext, no Expect" \
	"5000 0" "$($PY - "$K_NEW" "$TMP/curl.out" <<'EOF'
import base64, json, sys
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
d = open(sys.argv[2], "rb").read()
j = json.loads(AESGCM(base64.b64decode(sys.argv[1])).decrypt(d[:12], d[12:], None))
print(j["body_len"], sum(1 for n, v in j["headers"] if n == "expect"))
EOF
)"

J=$(C -o /dev/null -w '%{http_code} %header{x-enc-key-id}' -I \
	http://127.0.0.1:$P_W/enc/echo)
check_eq "HEAD: no body to encrypt, passes in clear" "200 " "$J"
J=$(sc --path /small/big?n=10000 --method GET --dec-keys "new=$K_NEW")
check_eq "a response over max_body: 502" "502 502 Bad Gateway: response body larger than the limit" \
	"$(f "$J" status) $(f "$J" why)"
J=$(sc --path /small/t-413 --enc-kid new --enc-key "$K_NEW" --body-size 5000)
check_eq "a request over max_body: 413" "413" "$(f "$J" status)"
J=$(C -o /dev/null -w '%{http_code}' -H 'Expect: 100-continue' \
	-H 'X-Enc-Key-Id: new' --data-binary @"$TMP/big.bin" http://127.0.0.1:$P_W/small/t-413-expect)
check_eq "a declared length over max_body: 413 at once, no 100 Continue" "413" "$J"
check_eq "... and the upstream saw neither" "0 0" "$(seen_target A /t-413) $(seen_target A /t-413-expect)"

# ---- both: the signature covers the encrypted body; the consumer's key -------
J=$(sc --path /both/echo "${SIGN[@]}" --headers "$BODYSIGNED" --digest --enc-kid old \
	--enc-key "$K_OLD" --body '{"both":true}' --dec-keys "$DEC")
check_eq "signed and encrypted: accepted, the upstream got the plaintext" "200 True" \
	"$(f "$J" status) $(f "$J" saw_body)"
check_eq "signed and encrypted: the answer under the consumer's own key" "old" "$(f "$J" kid)"
J=$(sc --path /both/t-otherkey "${SIGN[@]}" --headers "$BODYSIGNED" --digest --enc-kid new \
	--enc-key "$K_NEW" --body x)
check_eq "signed by alice, encrypted under another key: 400" \
	"400 400 Bad Request: not this consumer's encryption key" "$(f "$J" status) $(f "$J" why)"
check_eq "signed by alice, encrypted under another key: the upstream saw nothing" "0" \
	"$(seen_target A /t-otherkey)"

# ---- streaming routes are untouched -----------------------------------------
J=$(curl -s --max-time 60 --data-binary @"$TMP/big.bin" http://127.0.0.1:$P_W/plain/echo)
check_eq "a route without these plugins streams a 5 MB body" \
	"$(sha256sum <"$TMP/big.bin" | cut -d' ' -f1)" \
	"$(echo "$J" | jf body_sha256)"

# ---- settings ----------------------------------------------------------------
sed 's/k1: {secret: "'$SECRET'", consumer: alice}/k1: {secret: short}/' "$TMP/w.yaml" >"$TMP/bad.yaml"
check_fails "weir --check: a short secret, at the plugin's line" \
	"bad.yaml:[0-9]+: routes\[0\]\.plugins\.hmac-auth: keys\.k1\.secret: required, a string of at least 16 bytes" \
	"$WEIR" --check "$TMP/bad.yaml"
sed 's/encrypt_with: new/encrypt_with: newer/' "$TMP/w.yaml" >"$TMP/bad2.yaml"
check_fails "weir --check: encrypt_with naming no key" \
	"bad2.yaml:[0-9]+: routes\[2\]\.plugins\.body-crypto: encrypt_with: must name a key of .keys." \
	"$WEIR" --check "$TMP/bad2.yaml"

check "weir is still up" kill -0 $WPID
check_stopped "weir exits 0 on SIGTERM" $WPID
check_sanitizers
finish
