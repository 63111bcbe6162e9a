#!/bin/bash
# tests/proxy/test_admin_certs.sh - TLS certificates as an admin API resource,
# end to end: the real weir daemon with a TLS listener, certificates put,
# replaced, patched and deleted through /admin/certificates and weirctl, and
# what the listener serves for a server name read back with openssl s_client
# (and curl --resolve) after each change, without a restart.
#
#   WEIR=build/asan/weir WEIRCTL=build/asan/weirctl tests/proxy/test_admin_certs.sh
#
# Every key and certificate is made here with openssl. A served certificate
# is compared by its SHA-256 fingerprint with the file it came from. Every
# refused change is checked to name the field, to leave the state file as it
# was and to leave the served certificate as it was; no answer may carry a
# private key. Waits are bounded polls.
set -u
cd "$(dirname "$0")/../.."
. tests/lib.sh
. tests/proxy/lib.sh

proxy_setup certs
proxy_ports 22000 22999 5
P_TLS=$BASE P_TLS2=$((BASE + 1)) P_ADMIN=$((BASE + 2)) P_A=$((BASE + 3))
ADMIN=http://127.0.0.1:$P_ADMIN
TOKEN=t0k-$$-certs
STATE=$TMP/state/weir-state.json
mkdir -p "$TMP/state"
printf '%s\n' "$TOKEN" >"$TMP/token"

tls_ca ca "weir test CA"
tls_cert dflt default.test "DNS:default.test" ca
tls_cert file file.test "DNS:file.test" ca
tls_cert api1 api.test "DNS:api.test" ca
tls_cert api2 api.test "DNS:api.test" ca
tls_cert wild wild "DNS:*.w.test" ca
tls_cert over default.test "DNS:default.test" ca
tls_cert ctl ctl.test "DNS:ctl.test" ca
[ -s "$TMP/ctl.pem" ] || die "openssl did not make the certificates"

start_upstream a $P_A
cat >"$TMP/weir.yaml" <<EOF
workers: 1
listeners:
  - listen: 127.0.0.1:$P_TLS
    tls: {certificates: [{cert: $TMP/dflt.pem, key: $TMP/dflt.key}]}
  - listen: 127.0.0.1:$P_TLS2
    tls: {}
admin: {listen: 127.0.0.1:$P_ADMIN, token_file: $TMP/token, state: $STATE}
upstreams: {a: {nodes: [127.0.0.1:$P_A]}}
routes: [{id: all, path: "/*", upstream: a}]
certificates:
  filecert: {cert: $TMP/file.pem, key: $TMP/file.key}
EOF
start_weir w1 -c "$TMP/weir.yaml"

# api METHOD PATH [BODY]: the status on stdout, the answer in $TMP/body.
api() {
	local m=$1 p=$2; shift 2
	curl -s --max-time 30 -o "$TMP/body" -w '%{http_code}' -X "$m" -H "X-API-Key: $TOKEN" \
		${1+--data-binary "$1"} "$ADMIN$p"
}
body() { jq -r "$1" "$TMP/body" 2>/dev/null; }
# pem NAME [KEYNAME]: the JSON body {cert, key} with the PEM text of the files.
pem() { jq -cn --rawfile c "$TMP/$1.pem" --rawfile k "$TMP/${2:-$1}.key" '{cert: $c, key: $k}'; }
# fp NAME: the fingerprint of $TMP/NAME.pem; served [PORT] NAME: of the
# certificate the listener serves for server name NAME ("" for none).
fp() { openssl x509 -in "$TMP/$1.pem" -noout -fingerprint -sha256 | cut -d= -f2; }
served() {
	local port=$P_TLS
	[ $# = 2 ] && port=$1 && shift
	timeout 20 openssl s_client -connect 127.0.0.1:$port ${1:+-servername "$1"} </dev/null \
		2>/dev/null | openssl x509 -noout -fingerprint -sha256 | cut -d= -f2
}
state_sum() { sha256sum "$STATE" 2>/dev/null | cut -c1-64; }
# no_key: the last answer holds no private key, as text or as a member.
no_key() { ! grep -q 'PRIVATE KEY' "$TMP/body" && [ "$(jq 'paths | select(.[-1] == "key")' "$TMP/body" | wc -l)" = 0 ]; }

# refused DESC FIELD REASON_PART METHOD PATH [BODY]: 400 naming FIELD with
# REASON_PART in its reason, no key in the answer, the state file and the
# certificate served for api.test as they were.
refused() {
	local desc=$1 field=$2 part=$3 before served_before got; shift 3
	before=$(state_sum)
	served_before=$(served api.test)
	got=$(api "$@")
	check_eq "$desc: 400" 400 "$got"
	check_eq "$desc: the field" "$field" "$(body .field)"
	check "$desc: the reason ($part)" grep -qF -- "$part" "$TMP/body"
	check "$desc: no key in the answer" no_key
	check_eq "$desc: state file unchanged" "$before" "$(state_sum)"
	check_eq "$desc: the served certificate unchanged" "$served_before" "$(served api.test)"
}

# ---- the file's certificates ----------------------------------------------------
check_eq "GET /admin/certificates: the file's one" "200 1 filecert" \
	"$(api GET /admin/certificates) $(body .total) $(body '.items[0].id')"
check_eq "... with its fingerprint, names and dates" "$(fp file) file.test true" \
	"$(body '.items[0].info.sha256') $(body '.items[0].info.names[0]') $(body '.items[0].info.not_after | test("^20[0-9-]+T[0-9:]+Z$")')"
check "... and no key" no_key
check_eq "... nor the key's file name" 0 "$(grep -c 'file.key' "$TMP/body")"
check_eq "file.test: the top-level certificate is served" "$(fp file)" "$(served file.test)"
check_eq "api.test, no certificate holds it: the listener's default" "$(fp dflt)" "$(served api.test)"
check_eq "no SNI: the listener's own first certificate" "$(fp dflt)" "$(served "")"
check_eq "a listener with none of its own starts on the first top-level one" "$(fp file)" \
	"$(served $P_TLS2 "")"

# ---- SIGHUP with a top-level certificate that does not load: nothing changes ---
sed -i "s|cert: $TMP/file.pem, key: $TMP/file.key|cert: $TMP/file.pem, key: $TMP/api1.key|" "$TMP/weir.yaml"
kill -HUP "$WPID"
check "SIGHUP, a key of another certificate: the reload fails naming it" wait_for 20 grep -q \
	"reload failed, configuration unchanged: .*weir.yaml:11: certificates.filecert.key: '$TMP/api1.key' does not match the certificate '$TMP/file.pem'" \
	"$TMP/w1.err"
check_eq "... file.test is served what it was" "$(fp file)" "$(served file.test)"
sed -i "s|cert: $TMP/file.pem, key: $TMP/api1.key|cert: $TMP/file.pem, key: $TMP/file.key|" "$TMP/weir.yaml"

# ---- PUT, as PEM text: served at once -----------------------------------------
check_eq "PUT a certificate (PEM text): 201" 201 "$(api PUT /admin/certificates/api "$(pem api1)")"
check "... the answer has no key" no_key
check_eq "... the answer describes it" "api $(fp api1) api.test false" \
	"$(body .id) $(body .info.sha256) $(body '.info.names | join(",")') $(body .info.expired)"
check_eq "api.test is served the new certificate, no restart" "$(fp api1)" "$(served api.test)"
check_eq "curl --resolve api.test verifies it and is proxied" 200 \
	"$(code --cacert "$TMP/ca.pem" --resolve api.test:$P_TLS:127.0.0.1 "https://api.test:$P_TLS/x")"
check_eq "... on every TLS listener" "$(fp api1)" "$(served $P_TLS2 api.test)"
check "the state file holds the key (persisted)" grep -q 'PRIVATE KEY' "$STATE"
check_eq "... and only its owner may read it" 600 "$(stat -c %a "$STATE")"
check_eq "GET one: no key" "200 api" "$(api GET /admin/certificates/api) $(body .id)"
check "... none" no_key
check_eq "GET the list: paginated" "2 1" \
	"$(api GET '/admin/certificates?page=2&page_size=1' >/dev/null; body .total) $(body '.items | length')"
check "... no key in it" no_key

# ---- PUT again: replaced ----------------------------------------------------------
check_eq "PUT the same id again: 200" 200 "$(api PUT /admin/certificates/api "$(pem api2)")"
check_eq "api.test is served the replacement" "$(fp api2)" "$(served api.test)"

# ---- PATCH: snis replace the certificate's own names --------------------------------
check_eq "PATCH snis: 200" 200 "$(api PATCH /admin/certificates/api '{"snis": ["alt.test", "*.alt.test"]}')"
check "... no key in the answer" no_key
check_eq "alt.test is served it" "$(fp api2)" "$(served alt.test)"
check_eq "v1.alt.test too (a wildcard sni)" "$(fp api2)" "$(served v1.alt.test)"
check_eq "api.test is not any more (the default)" "$(fp dflt)" "$(served api.test)"
check_eq "PATCH snis null: its own names again" 200 "$(api PATCH /admin/certificates/api '{"snis": null}')"
check_eq "api.test is served it again" "$(fp api2)" "$(served api.test)"

# ---- refused: bad PEM, a key of another certificate, a missing file ---------------
BADPEM=$(jq -cn --rawfile k "$TMP/api2.key" \
	'{cert: "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n", key: $k}')
refused "a certificate that is not PEM" certificates.api.cert "not a PEM certificate" \
	PUT /admin/certificates/api "$BADPEM"
refused "a key of another certificate" certificates.api.key "does not match the certificate" \
	PUT /admin/certificates/api "$(pem api1 api2)"
refused "a key of another certificate, by PATCH" certificates.api.key "does not match the certificate" \
	PATCH /admin/certificates/api "$(jq -cn --rawfile k "$TMP/api1.key" '{key: $k}')"
refused "a key that is not PEM" certificates.api.key "not a PEM private key" \
	PUT /admin/certificates/api "$(jq -cn --rawfile c "$TMP/api1.pem" '{cert: $c, key: "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"}')"
refused "no key" certificates.api.key "required field missing" \
	PUT /admin/certificates/api "$(jq -cn --rawfile c "$TMP/api1.pem" '{cert: $c}')"
refused "a file that does not exist" certificates.api.cert "No such file or directory" \
	PUT /admin/certificates/api "{\"cert\": \"$TMP/nope.pem\", \"key\": \"$TMP/api1.key\"}"
refused "a bad sni" "certificates.api.snis[0]" "is not a host name" \
	PATCH /admin/certificates/api '{"snis": ["a.test:443"]}'
refused "an unknown member" certificates.api.sni "unknown field" \
	PATCH /admin/certificates/api '{"sni": ["a.test"]}'
# jansson quotes a short token it stopped in: here a piece of a key.
KEYBIT=$(sed -n 2p "$TMP/api1.key" | cut -c20-34)
refused "a body cut short inside a key: not JSON, the key not quoted back" body \
	"not valid JSON" PUT /admin/certificates/api "{\"key\": \"$KEYBIT"
check_eq "... not that piece of it in the answer" 0 "$(grep -cF -- "$KEYBIT" "$TMP/body")"
refused "a new certificate that is not PEM either" certificates.new.cert "not a PEM certificate" \
	PUT /admin/certificates/new "$BADPEM"
check_eq "... and it was not created" 404 "$(api GET /admin/certificates/new)"

# ---- files by name; a name the listener holds too ---------------------------------
check_eq "PUT a certificate by file names: 201" 201 \
	"$(api PUT /admin/certificates/wild "{\"cert\": \"$TMP/wild.pem\", \"key\": \"$TMP/wild.key\"}")"
check_eq "... GET shows the cert's file, not the key's" "$TMP/wild.pem 0" \
	"$(api GET /admin/certificates/wild >/dev/null; body .cert) $(grep -c wild.key "$TMP/body")"
check_eq "x.w.test is served the wildcard" "$(fp wild)" "$(served x.w.test)"
check_eq "PUT one for default.test, a name the listener's own holds" 201 \
	"$(api PUT /admin/certificates/over "$(pem over)")"
check_eq "default.test: the top-level certificate wins" "$(fp over)" "$(served default.test)"
check_eq "no SNI: still the listener's own" "$(fp dflt)" "$(served "")"
check_eq "DELETE it: 204" 204 "$(api DELETE /admin/certificates/over)"
check_eq "default.test: the listener's own again" "$(fp dflt)" "$(served default.test)"

# ---- DELETE: the fallback ------------------------------------------------------------
check_eq "DELETE api: 204" 204 "$(api DELETE /admin/certificates/api)"
check_eq "api.test falls back to the listener's default" "$(fp dflt)" "$(served api.test)"
check_eq "GET api: 404" 404 "$(api GET /admin/certificates/api)"
check_eq "DELETE api again: 404" 404 "$(api DELETE /admin/certificates/api)"

# ---- weirctl --------------------------------------------------------------------------
W() { WEIR_ADMIN=127.0.0.1:$P_ADMIN WEIR_ADMIN_TOKEN=$TOKEN "$WEIRCTL" "$@"; }
pem ctl >"$TMP/ctl.json"
check "weirctl api certificates put" W api certificates put ctl "$TMP/ctl.json"
check_eq "ctl.test is served it" "$(fp ctl)" "$(served ctl.test)"
check_eq "weirctl api certificates get: the fingerprint, no key" "$(fp ctl) false" \
	"$(W api certificates get ctl | jq -r '.info.sha256 + " " + (has("key") | tostring)')"
check_eq "weirctl api certificates list" "ctl filecert wild" \
	"$(W api certificates list | jq -r '[.items[].id] | sort | join(" ")')"
check_eq "weirctl api certificates list: no key anywhere" 0 \
	"$(W api certificates list | grep -c 'PRIVATE KEY\|"key"')"
pem api1 api2 >"$TMP/mismatch.json"
check_fails "weirctl: a mismatched key is refused, naming the field" \
	"^weirctl: api certificates put: 400: certificates.ctl.key: does not match the certificate$" \
	W api certificates put ctl "$TMP/mismatch.json"
check "weirctl api certificates del" W api certificates del ctl
check_eq "ctl.test: the default again" "$(fp dflt)" "$(served ctl.test)"

# ---- restart: what was acknowledged is served -------------------------------------------
kill "$WPID"; wait "$WPID" 2>/dev/null
start_weir w2 -c "$TMP/weir.yaml"
check_eq "restart: the resources come from the state file" 1 \
	"$(grep -c 'certificates from the state file' "$TMP/w2.err")"
check_eq "restart: x.w.test is served the wildcard put through the API" "$(fp wild)" \
	"$(served x.w.test)"
check_eq "restart: the deleted one stays deleted" "$(fp dflt)" "$(served api.test)"
check_eq "restart: GET lists them" "filecert wild" \
	"$(api GET /admin/certificates >/dev/null; body '[.items[].id] | sort | join(" ")')"

# ---- the last certificate of a listener with none of its own ----------------------------
check_eq "DELETE wild: 204" 204 "$(api DELETE /admin/certificates/wild)"
before=$(state_sum)
check_eq "DELETE the last one, which listeners[1] needs: 400" 400 \
	"$(api DELETE /admin/certificates/filecert)"
check_eq "... naming the listener" "listeners[1].tls.certificates" "$(body .field)"
check_eq "... state file unchanged" "$before" "$(state_sum)"
check_eq "... still served" "$(fp file)" "$(served $P_TLS2 "")"

check_stopped "weir exits 0 on SIGTERM" $WPID
check_sanitizers
finish
