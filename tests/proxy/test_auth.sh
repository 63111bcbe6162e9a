#!/bin/bash
# tests/proxy/test_auth.sh - consumers and the authentication plugins
# (key-auth, basic-auth, jwt-auth) end to end: curl through the real weir to
# tests/proxy/upstream.py, on 127.0.0.1.
#
#   WEIR=build/asan/weir tests/proxy/test_auth.sh    the same with the sanitizers
#
# For each plugin: a good credential is admitted and the upstream sees the
# consumer's name and not the credential; bad ones get 401 and the upstream
# sees nothing (its log of request heads does not grow). Password hashes
# come from the tools a user would use (htpasswd -B, mkpasswd), JWTs and
# keys from python3-cryptography (tests/proxy/jwt_tool.py). Then a config
# error for each kind of bad consumer setting (weir --check), and a SIGHUP
# that adds a consumer.
set -u
cd "$(dirname "$0")/../.."
. tests/lib.sh
. tests/proxy/lib.sh

proxy_setup auth
JWT="$PY tests/proxy/jwt_tool.py"

for t in htpasswd mkpasswd; do
	command -v $t >/dev/null || die "$t is missing (make deps: apache2-utils, whois)"
done

proxy_ports 21000 21999 3
P_MAIN=$BASE P_A=$((BASE + 1))

start_upstream A $P_A

# ---- credentials -------------------------------------------------------------
$JWT keys "$TMP" || die "jwt_tool.py keys failed"
BCRYPT=$(htpasswd -nbB -C 5 bob bob-pw | cut -d: -f2)
YESCRYPT=$(mkpasswd -m yescrypt carol-pw)
SHA512=$(mkpasswd -m sha-512 dave-pw)
PBKDF2=$($PY -c '
import base64, hashlib, os
salt = os.urandom(16)
dk = hashlib.pbkdf2_hmac("sha256", b"erin-pw", salt, 10000)
b = lambda x: base64.b64encode(x).decode().rstrip("=").replace("+", ".")
print("$pbkdf2-sha256$10000$" + b(salt) + "$" + b(dk))')
indent() { sed 's/^/          /' "$1"; }

write_conf() { # FILE [EXTRA CONSUMER LINES...]
	local f=$1; shift
	cat >"$f" <<EOF
workers: 2
listeners: [127.0.0.1:$P_MAIN]
upstreams:
  a: {nodes: [127.0.0.1:$P_A]}
consumers:
  - username: alice
    plugins:
      key-auth: {key: alice-key-0123456789}
      jwt-auth: {key: alice, secret: alice-hs-secret}
  - username: bob
    plugins:
      basic-auth: {username: bob, password_hash: '$BCRYPT'}
      jwt-auth:
        key: bob
        algorithm: RS256
        public_key: |
$(indent "$TMP/rsa.pub.pem")
  - username: carol
    plugins:
      basic-auth: {username: carol, password_hash: '$YESCRYPT'}
      jwt-auth:
        key: carol
        algorithm: ES256
        public_key: |
$(indent "$TMP/ec256.pub.pem")
  - username: dave
    plugins:
      basic-auth: {username: dave, password_hash: '$SHA512'}
      jwt-auth:
        key: dave
        algorithm: EdDSA
        public_key: |
$(indent "$TMP/ed25519.pub.pem")
  - username: erin
    plugins:
      basic-auth: {username: erin, password_hash: '$PBKDF2'}
      jwt-auth: {key: erin, algorithm: RS256, jwks_file: $TMP/rsa.jwks}
  - username: frank
    plugins:
      jwt-auth:
        key: frank
        algorithm: ES384
        public_key: |
$(indent "$TMP/ec384.pub.pem")
$(printf '%s\n' "$@")
routes:
  - {id: key, path: /key/*, upstream: a}
  - {id: basic, path: /basic/*, upstream: a, plugins: {basic-auth: {realm: test}}}
  - id: jwt
    path: /jwt/*
    upstream: a
    plugins: {jwt-auth: {issuer: weir-test, audience: api, leeway: 5}}
  - id: keyq
    path: /keyq/*
    upstream: a
    plugins: {key-auth: {header: x-key, query: k, consumer_header: x-who, hide_credentials: false}}
plugins:
  key-auth: {}
EOF
}
# The key route takes its plugin from the route, the global map only adds
# defaults; add it to the route here (the heredoc stays readable).
write_conf "$TMP/auth.yaml"
sed -i 's|{id: key, path: /key/\*, upstream: a}|{id: key, path: /key/*, upstream: a, plugins: {key-auth: {}}}|' \
	"$TMP/auth.yaml"
check "weir --check accepts the consumers" "$WEIR" --check "$TMP/auth.yaml"

start_weir weir -c "$TMP/auth.yaml"

URL=http://127.0.0.1:$P_MAIN
reqs() { grep -c '"ev": "req"' "$TMP/A.log"; }
# refused DESC EXPECTED-BODY-PART CURL-ARGS...: 401, the body says why, and
# the upstream saw nothing.
refused() {
	local desc=$1 want=$2; shift 2
	local before out st
	before=$(reqs)
	out=$(C -w '\n%{http_code}' "$@")
	st=${out##*$'\n'}
	if [ "$st" = 401 ] && [[ "$out" == *"$want"* ]] && [ "$(reqs)" = "$before" ]; then
		ok "$desc"
	else
		fail "$desc: status $st, body '${out%$'\n'*}', upstream requests $before -> $(reqs)"
	fi
}

# ---- key-auth -----------------------------------------------------------------
out=$(C -H 'apikey: alice-key-0123456789' -H 'x-consumer-username: mallory' "$URL/key/x")
check_eq "key-auth: a good key: the upstream sees the consumer (not the client's claim)" \
	alice "$(echo "$out" | jf h:x-consumer-username)"
check_eq "key-auth: the upstream does not see the key (hide_credentials)" \
	- "$(echo "$out" | jf h:apikey)"
out=$(C "$URL/key/x?a=1&apikey=alice-key-0123456789&b=2")
check_eq "key-auth: a key in the query is accepted, and taken out of the query" \
	"alice /key/x?a=1&b=2" "$(echo "$out" | jf h:x-consumer-username) $(echo "$out" | jf target)"
check_eq "key-auth: a query of the key alone loses its '?'" /key/x \
	"$(C "$URL/key/x?apikey=alice-key-0123456789" | jf target)"
refused "key-auth: no key: 401" "missing API key" "$URL/key/x"
refused "key-auth: an unknown key: 401" "invalid API key" -H 'apikey: alice-key-012345678' "$URL/key/x"
refused "key-auth: an empty key: 401" "missing API key" -H 'apikey;' "$URL/key/x"
refused "key-auth: another consumer's basic credentials are no key" "missing API key" \
	-u bob:bob-pw "$URL/key/x"
out=$(C -H 'x-key: alice-key-0123456789' "$URL/keyq/x")
check_eq "key-auth: own header, own consumer header" alice "$(echo "$out" | jf h:x-who)"
check_eq "key-auth: hide_credentials false passes the key on" alice-key-0123456789 \
	"$(echo "$out" | jf h:x-key)"
check_eq "key-auth: own query parameter, kept with hide_credentials false" /keyq/x?a=1\&k=alice-key-0123456789 \
	"$(C "$URL/keyq/x?a=1&k=alice-key-0123456789" | jf target)"
refused "key-auth: the default header is not the route's" "missing API key" \
	-H 'apikey: alice-key-0123456789' "$URL/keyq/x"

# ---- basic-auth ----------------------------------------------------------------
for u in bob:bob-pw carol:carol-pw dave:dave-pw erin:erin-pw; do
	out=$(C -u "$u" "$URL/basic/x")
	check_eq "basic-auth: ${u%%:*}'s password ($(case ${u%%:*} in bob) echo bcrypt;;
		carol) echo yescrypt;; dave) echo sha-512 crypt;; erin) echo pbkdf2-sha256;; esac)) admits" \
		"${u%%:*} -" "$(echo "$out" | jf h:x-consumer-username) $(echo "$out" | jf h:authorization)"
done
check_eq "basic-auth: again (from the cache)" 200 "$(code -u bob:bob-pw "$URL/basic/x")"
refused "basic-auth: a wrong password" "invalid username or password" -u bob:wrong "$URL/basic/x"
refused "basic-auth: a wrong password after a cached right one" "invalid username or password" \
	-u bob:bob-pw2 "$URL/basic/x"
refused "basic-auth: an unknown user" "invalid username or password" -u zed:bob-pw "$URL/basic/x"
refused "basic-auth: no credentials" "missing credentials" "$URL/basic/x"
refused "basic-auth: bad base64" "malformed" -H 'Authorization: Basic !!!!' "$URL/basic/x"
refused "basic-auth: no colon" "malformed" -H "Authorization: Basic $(printf bob | base64)" \
	"$URL/basic/x"
refused "basic-auth: not Basic" "malformed" -H 'Authorization: Bearer x' "$URL/basic/x"
check "basic-auth: 401 carries WWW-Authenticate with the realm" bash -c \
	"curl -si '$URL/basic/x' | tr -d '\\r' | grep -qx 'WWW-Authenticate: Basic realm=\"test\"'"
check "jwt-auth: 401 carries WWW-Authenticate: Bearer" bash -c \
	"curl -si '$URL/jwt/x' | tr -d '\\r' | grep -qx 'WWW-Authenticate: Bearer'"

# ---- jwt-auth ------------------------------------------------------------------
claims() { echo "{\"key\": \"$1\", \"iss\": \"weir-test\", \"aud\": \"api\", \"exp\": ${2:-300}}"; }
tok() { # ALG KEY CONSUMER [EXP] [MORE jwt_tool ARGS]
	local alg=$1 key=$2 who=$3 exp=${4:-300}; shift 4 2>/dev/null || shift 3
	$JWT sign "$alg" "$key" "$(claims "$who" "$exp")" --relative "$@"
}
jwt_ok() { # DESC TOKEN CONSUMER
	local out
	out=$(C -H "Authorization: Bearer $2" "$URL/jwt/x")
	check_eq "$1" "$3 -" "$(echo "$out" | jf h:x-consumer-username) $(echo "$out" | jf h:authorization)"
}
jwt_ok "jwt-auth: HS256 admits, the upstream does not see the token" \
	"$(tok HS256 alice-hs-secret alice)" alice
jwt_ok "jwt-auth: RS256 (PEM)" "$(tok RS256 "$TMP/rsa.pem" bob)" bob
jwt_ok "jwt-auth: ES256 (PEM)" "$(tok ES256 "$TMP/ec256.pem" carol)" carol
jwt_ok "jwt-auth: ES384 (PEM)" "$(tok ES384 "$TMP/ec384.pem" frank)" frank
jwt_ok "jwt-auth: EdDSA (PEM)" "$(tok EdDSA "$TMP/ed25519.pem" dave)" dave
jwt_ok "jwt-auth: RS256 from a JWKS file, by kid" "$(tok RS256 "$TMP/rsa.pem" erin 300 --kid r1)" erin
T=$(tok HS256 alice-hs-secret alice)
out=$(C "$URL/jwt/x?jwt=$T&z=9")
check_eq "jwt-auth: a token in the query, taken out of it" "alice /jwt/x?z=9" \
	"$(echo "$out" | jf h:x-consumer-username) $(echo "$out" | jf target)"
check_eq "jwt-auth: a token in a cookie" 200 "$(code -b "a=b; jwt=$T" "$URL/jwt/x")"
refused "jwt-auth: no token" "missing JWT" "$URL/jwt/x"
refused "jwt-auth: expired (past the leeway)" "expired" \
	-H "Authorization: Bearer $(tok HS256 alice-hs-secret alice -60)" "$URL/jwt/x"
check_eq "jwt-auth: expired within the leeway passes" 200 \
	"$(code -H "Authorization: Bearer $(tok HS256 alice-hs-secret alice -1)" "$URL/jwt/x")"
refused "jwt-auth: not yet valid" "not valid yet" -H "Authorization: Bearer $($JWT sign HS256 \
	alice-hs-secret '{"key": "alice", "iss": "weir-test", "aud": "api", "nbf": 600}' --relative)" \
	"$URL/jwt/x"
refused "jwt-auth: wrong issuer" "wrong issuer" -H "Authorization: Bearer $($JWT sign HS256 \
	alice-hs-secret '{"key": "alice", "iss": "evil", "aud": "api"}')" "$URL/jwt/x"
refused "jwt-auth: wrong audience" "wrong audience" -H "Authorization: Bearer $($JWT sign HS256 \
	alice-hs-secret '{"key": "alice", "iss": "weir-test", "aud": ["web"]}')" "$URL/jwt/x"
refused "jwt-auth: a bad signature (another secret)" "bad signature" \
	-H "Authorization: Bearer $(tok HS256 not-the-secret alice)" "$URL/jwt/x"
refused "jwt-auth: alg none" "alg none" \
	-H "Authorization: Bearer $(tok none x alice 300)" "$URL/jwt/x"
refused "jwt-auth: HS256 signed with bob's RSA public key PEM (key confusion)" "algorithm not allowed" \
	-H "Authorization: Bearer $(tok HS256 "$(cat "$TMP/rsa.pub.pem")" bob)" "$URL/jwt/x"
refused "jwt-auth: unknown consumer" "no consumer" \
	-H "Authorization: Bearer $(tok HS256 alice-hs-secret nobody)" "$URL/jwt/x"
refused "jwt-auth: unknown kid" "unknown key id" \
	-H "Authorization: Bearer $(tok RS256 "$TMP/rsa.pem" erin 300 --kid r2)" "$URL/jwt/x"
T=$(tok ES256 "$TMP/ec256.pem" carol)
refused "jwt-auth: a truncated token" "malformed" -H "Authorization: Bearer ${T%.*}" "$URL/jwt/x"
refused "jwt-auth: bad base64url" "malformed" -H "Authorization: Bearer ${T%.*}.a" "$URL/jwt/x"
refused "jwt-auth: ES256 with a signature of the wrong length" "bad signature" \
	-H "Authorization: Bearer ${T%??}" "$URL/jwt/x"

# ---- one auth plugin per route, consumers checked at load ----------------------
bad() { # NAME PATTERN CONSUMER-LINES...: weir --check refuses with PATTERN
	local name=$1 pat=$2; shift 2
	{ printf 'listeners: [127.0.0.1:%s]\nupstreams:\n  a: {nodes: [127.0.0.1:%s]}\n' $P_MAIN $P_A
	  printf 'routes: [{path: /x, upstream: a, plugins: {key-auth: {}}}]\nconsumers:\n'
	  printf '%s\n' "$@"; } >"$TMP/$name.yaml"
	check_fails "config: $name" "$TMP/$name.yaml:$pat" "$WEIR" --check "$TMP/$name.yaml"
}
bad "a duplicate key-auth key" "10: consumers\\[1\\]\\.plugins\\.key-auth\\.key: the same as consumer 'a' has" \
	'  - {username: a, plugins: {key-auth: {key: k1}}}' \
	'  - username: b' '    plugins:' '      key-auth:' '        key: k1'
bad "a duplicate consumer" "7: consumers\\[1\\]\\.username: duplicate consumer 'a'" \
	'  - {username: a, plugins: {key-auth: {key: k1}}}' '  - {username: a, plugins: {key-auth: {key: k2}}}'
bad "a bad consumer name" "6: consumers\\[0\\]\\.username: 'a b': use 1 to 64" \
	"  - {username: 'a b', plugins: {key-auth: {key: k1}}}"
bad "no username" "6: consumers\\[0\\]\\.username: required field missing" \
	'  - {plugins: {key-auth: {key: k1}}}'
bad "key-auth without a key" "6: consumers\\[0\\]\\.plugins\\.key-auth\\.key: required field missing" \
	'  - {username: a, plugins: {key-auth: {}}}'
bad "key-auth with an unknown field" "6: consumers\\[0\\]\\.plugins\\.key-auth\\.kye: unknown field \\(did you mean 'key'\\?\\)" \
	'  - {username: a, plugins: {key-auth: {kye: k1}}}'
bad "a plaintext password" "6: consumers\\[0\\]\\.plugins\\.basic-auth\\.password_hash: not a password hash" \
	'  - {username: a, plugins: {basic-auth: {username: a, password_hash: hunter2}}}'
bad "a legacy MD5 crypt hash" "6: consumers\\[0\\]\\.plugins\\.basic-auth\\.password_hash: a legacy crypt" \
	'  - {username: a, plugins: {basic-auth: {username: a, password_hash: "$1$abc$defghijklmnopqrstuv"}}}'
bad "a bad pbkdf2 hash" "6: consumers\\[0\\]\\.plugins\\.basic-auth\\.password_hash: expected \\\$pbkdf2-sha256" \
	'  - {username: a, plugins: {basic-auth: {username: a, password_hash: "$pbkdf2-sha256$10$xx$yy"}}}'
bad "a duplicate basic-auth username" "7: consumers\\[1\\]\\.plugins\\.basic-auth\\.username: the same as consumer 'a' has" \
	"  - {username: a, plugins: {basic-auth: {username: u, password_hash: '$BCRYPT'}}}" \
	"  - {username: b, plugins: {basic-auth: {username: u, password_hash: '$BCRYPT'}}}"
bad "an unknown JWT algorithm" "6: consumers\\[0\\]\\.plugins\\.jwt-auth\\.algorithm: " \
	'  - {username: a, plugins: {jwt-auth: {key: a, algorithm: none, secret: s}}}'
bad "HS256 without a secret" "6: consumers\\[0\\]\\.plugins\\.jwt-auth\\.secret: required with an HS\\* algorithm" \
	'  - {username: a, plugins: {jwt-auth: {key: a}}}'
bad "RS256 with a secret" "6: consumers\\[0\\]\\.plugins\\.jwt-auth\\.secret: only used with HS\\*" \
	'  - {username: a, plugins: {jwt-auth: {key: a, algorithm: RS256, secret: s}}}'
bad "RS256 with a bad PEM" "6: consumers\\[0\\]\\.plugins\\.jwt-auth\\.public_key: not a PEM public key" \
	'  - {username: a, plugins: {jwt-auth: {key: a, algorithm: RS256, public_key: nope}}}'
bad "ES256 with an RSA key" "11: consumers\\[0\\]\\.plugins\\.jwt-auth\\.public_key: ES256 needs an EC key on P-256" \
	'  - username: a' '    plugins:' '      jwt-auth:' '        key: a' '        algorithm: ES256' \
	'        public_key: |' "$(indent "$TMP/rsa.pub.pem")"
bad "a missing JWKS file" "6: consumers\\[0\\]\\.plugins\\.jwt-auth\\.jwks_file: '/nonexistent.jwks': " \
	'  - {username: a, plugins: {jwt-auth: {key: a, algorithm: RS256, jwks_file: /nonexistent.jwks}}}'
echo '{"keys": [{"kty": "EC", "crv": "P-256", "x": "AA", "y": "AA"}]}' >"$TMP/bad.jwks"
bad "a JWKS with a bad key" "6: consumers\\[0\\]\\.plugins\\.jwt-auth\\.jwks_file: '.*': keys\\[0\\]: EC key with missing or bad members" \
	"  - {username: a, plugins: {jwt-auth: {key: a, algorithm: ES256, jwks_file: $TMP/bad.jwks}}}"
bad "a JWKS whose key is for another algorithm" "6: consumers\\[0\\]\\.plugins\\.jwt-auth\\.jwks_file: '.*': keys\\[0\\]: alg RS256, but the consumer's algorithm is RS384" \
	"  - {username: a, plugins: {jwt-auth: {key: a, algorithm: RS384, jwks_file: $TMP/rsa.jwks}}}"
bad "a plugin that is not an auth plugin" "6: consumers\\[0\\]\\.plugins\\.mock: not an authentication plugin" \
	'  - {username: a, plugins: {mock: {}}}'
bad "a plugin that does not exist" "6: consumers\\[0\\]\\.plugins\\.nosuch: no such plugin" \
	'  - {username: a, plugins: {nosuch: {}}}'
{ printf 'listeners: [127.0.0.1:%s]\nupstreams:\n  a: {nodes: [127.0.0.1:%s]}\n' $P_MAIN $P_A
  printf 'routes:\n  - {path: /x, upstream: a, plugins: {key-auth: {}, jwt-auth: {}}}\n'; } >"$TMP/two.yaml"
check_fails "config: two auth plugins on one route" \
	"two.yaml:5: routes\\[0\\]\\.plugins\\.(key|jwt)-auth: a route runs one authentication plugin" \
	"$WEIR" --check "$TMP/two.yaml"
{ printf 'listeners: [127.0.0.1:%s]\nupstreams:\n  a: {nodes: [127.0.0.1:%s]}\n' $P_MAIN $P_A
  printf 'plugins:\n  key-auth: {consumers: []}\n'; } >"$TMP/reserved.yaml"
check_fails "config: a global consumers setting is reserved" \
	"reserved.yaml:5: plugins\\.key-auth\\.consumers: reserved" "$WEIR" --check "$TMP/reserved.yaml"
{ printf 'listeners: [127.0.0.1:%s]\nupstreams:\n  a: {nodes: [127.0.0.1:%s]}\n' $P_MAIN $P_A
  printf 'routes:\n  - {path: /x, upstream: a, plugins: {key-auth: {headr: x}}}\n'; } >"$TMP/set.yaml"
check_fails "config: an unknown key-auth setting" \
	"set.yaml:5: routes\\[0\\]\\.plugins\\.key-auth: headr: unknown field" "$WEIR" --check "$TMP/set.yaml"

# ---- SIGHUP: a new consumer's key works without a restart ----------------------
refused "reload: before, grace's key is unknown" "invalid API key" -H 'apikey: grace-key' "$URL/key/x"
write_conf "$TMP/auth.yaml.new" '  - {username: grace, plugins: {key-auth: {key: grace-key}}}'
sed -i 's|{id: key, path: /key/\*, upstream: a}|{id: key, path: /key/*, upstream: a, plugins: {key-auth: {}}}|' \
	"$TMP/auth.yaml.new"
mv "$TMP/auth.yaml.new" "$TMP/auth.yaml"
kill -HUP $WPID
check "reload: SIGHUP reloads" wait_for 10 grep -q 'weir: reloaded' "$TMP/weir.err"
check_eq "reload: grace's key now admits grace" grace \
	"$(C -H 'apikey: grace-key' "$URL/key/x" | jf h:x-consumer-username)"
check_eq "reload: alice's key still works" 200 "$(code -H 'apikey: alice-key-0123456789' "$URL/key/x")"
# A bad consumer on reload changes nothing.
write_conf "$TMP/auth.yaml" '  - {username: grace, plugins: {key-auth: {key: alice-key-0123456789}}}'
kill -HUP $WPID
check "reload: a duplicate key fails the reload" wait_for 10 grep -q 'reload failed.*consumers\[6\]' \
	"$TMP/weir.err"
check_eq "reload: ... and grace's key still works" 200 "$(code -H 'apikey: grace-key' "$URL/key/x")"

check_stopped "weir exits cleanly (no sanitizer report)" $WPID
finish
