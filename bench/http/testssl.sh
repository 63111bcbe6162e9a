#!/bin/bash
# bench/http/testssl.sh - Debian's testssl.sh against weir's TLS listener
# with its defaults, the audit issue 4 asks for ("finds nothing weak").
#
#   BUILD=build bench/http/testssl.sh
#
# Makes a CA and a server certificate (ECDSA P-256, as the TLS bench uses)
# in a temp dir, starts weir on 127.0.0.1 with a TLS listener that sets
# nothing but its certificate, runs `testssl` (protocols, ciphers, server
# defaults and preference, vulnerabilities) and keeps every finding of
# severity LOW or above. Writes bench/results/testssl.md and testssl.json
# (RESULTS=DIR to change); exits 1 when a finding of MEDIUM or above is left.
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
RESULTS=${RESULTS:-bench/results}
for t in testssl openssl python3; do
	command -v $t >/dev/null || { echo "$t not found (apt-get install testssl.sh)" >&2; exit 1; }
done
[ -x "$BUILD/weir" ] || { echo "$BUILD/weir not built" >&2; exit 1; }

TMP=$(mktemp -d /tmp/weir-testssl.XXXXXX)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null; rm -rf "$TMP"; }
trap cleanup EXIT

in_use() { (exec 3<>/dev/tcp/127.0.0.1/$1) 2>/dev/null; }
for try in $(seq 0 40); do
	P_TLS=$((27400 + (($$ + try) % 40) * 2)); P_UP=$((P_TLS + 1))
	in_use $P_TLS || in_use $P_UP || break
done

cd "$TMP"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key \
	-out ca.pem -days 30 -subj "/CN=weir testssl CA" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout site.key \
	-out site.csr -subj "/CN=site.test" 2>/dev/null
openssl x509 -req -in site.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 30 \
	-out site.pem -extfile <(echo "subjectAltName=DNS:site.test") 2>/dev/null
cd - >/dev/null

cat >"$TMP/weir.yaml" <<EOF
workers: 1
listeners:
  - listen: 127.0.0.1:$P_TLS
    tls:
      certificates: [{cert: $TMP/site.pem, key: $TMP/site.key}]
upstreams:
  u: {nodes: [127.0.0.1:$P_UP]}
routes:
  - {id: all, path: /*, plugins: {mock: {status: 200, body: ok}}}
EOF
"$BUILD/weir" -c "$TMP/weir.yaml" 2>"$TMP/weir.err" &
PIDS+=($!)
for _ in $(seq 100); do grep -q 'listening on' "$TMP/weir.err" && break; sleep 0.1; done
grep -q 'listening on' "$TMP/weir.err" || { cat "$TMP/weir.err" >&2; exit 1; }

start=$(date +%s)
testssl --quiet --color 0 --warnings off --openssl-timeout 10 \
	--protocols --std --server-defaults --server-preference --vulnerable \
	--jsonfile "$TMP/out.json" "127.0.0.1:$P_TLS" >"$TMP/out.txt" 2>&1 || true
elapsed=$(($(date +%s) - start))
[ -s "$TMP/out.json" ] || { tail -20 "$TMP/out.txt" >&2; exit 1; }

mkdir -p "$RESULTS"
python3 - "$TMP/out.json" "$RESULTS" "$elapsed" "$(testssl --version 2>/dev/null | grep -m1 -o 'testssl.sh *[0-9][^ ]*' || echo testssl)" "$(git rev-parse --short HEAD 2>/dev/null || echo -)" <<'PY'
import json, sys
src, out, elapsed, version, rev = sys.argv[1:]
found = json.load(open(src))
order = {"LOW": 1, "MEDIUM": 2, "HIGH": 3, "CRITICAL": 4}
# testssl's own findings about the test setup, not the server: the
# certificate is one a test made (its CA is not trusted, no OCSP, no CT),
# which says nothing about weir's TLS.
setup = ("cert_chain_of_trust", "cert_trust", "cert_ocspURL", "cert_crlDistributionPoints",
         "cert_certificateTransparency", "OCSP_stapling", "cert_revocation", "DNS_CAArecord",
         "cert_expirationStatus", "cert_validityPeriod", "cert_extlifeSpan", "cert_notAfter")
rows = [f for f in found if f.get("severity") in order]
kept = [f for f in rows if not f["id"].startswith(setup)]
setup_rows = [f for f in rows if f["id"].startswith(setup)]
worst = max([order[f["severity"]] for f in kept] or [0])
json.dump({"tool": version, "weir": rev, "elapsed_s": int(elapsed), "findings": kept,
           "setup_findings": setup_rows, "all": found}, open(out + "/testssl.json", "w"), indent=1)
L = ["# testssl.sh against weir's TLS listener", "",
     "`bench/http/testssl.sh` at weir %s, %s, %s s: a TLS listener with only its "
     "certificate set (ECDSA P-256, from a CA made for the run), so every other setting is "
     "weir's default. Checks run: protocols, cipher categories, server defaults and "
     "preference, vulnerabilities. Findings of severity LOW and above:" % (rev, version, elapsed), ""]
if kept:
    L += ["| id | severity | finding |", "| --- | --- | --- |"]
    L += ["| %s | %s | %s |" % (f["id"], f["severity"], f["finding"].replace("|", "/")) for f in kept]
else:
    L += ["**None.**"]
L += ["", "About the test's own certificate (not weir's TLS; left out above): " +
      (", ".join("%s (%s)" % (f["id"], f["severity"]) for f in setup_rows) or "none") + ".",
      "", "Raw output: [testssl.json](testssl.json)."]
open(out + "/testssl.md", "w").write("\n".join(L) + "\n")
print("\n".join(L))
sys.exit(1 if worst >= 2 else 0)
PY
