#!/usr/bin/env python3
"""tests/proxy/sign_client.py - a client of weir's hmac-auth and body-crypto
plugins for the end-to-end tests: builds signed and/or encrypted requests
the way the README describes them (written here from the README, with
python's hmac, hashlib and the `cryptography` module, not from weir's code),
sends them, and prints what came back as one JSON line:

    {"status": [200, ...], "why": "...", "echo": {...}, "kid": "...", "ctype": "..."}

status: one per send (--repeat N sends the very same bytes N times, each on
a new connection); why: the text of weir's own answer; echo: the upstream's
/echo JSON (decrypted first with --dec-keys when the response is
encrypted); kid, ctype: the response's X-Enc-Key-Id and X-Enc-Content-Type.

Tampering switches change one thing after signing or encrypting: --bad-sig,
--digest-of (a digest of another body), --body-after (send another body
than the one signed), --tamper-ct, --truncate-ct.
"""
import argparse
import base64
import hashlib
import hmac
import http.client
import json
import os
import sys
import time
from email.utils import formatdate

from cryptography.hazmat.primitives.ciphers.aead import AESGCM


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("port", type=int)
    ap.add_argument("--path", default="/echo")
    ap.add_argument("--method", default="POST")
    ap.add_argument("--host", default="sign.test")
    ap.add_argument("--body", default="")
    ap.add_argument("--body-size", type=int, default=0, help="a body of N bytes instead")
    ap.add_argument("--ctype", default="application/json")
    ap.add_argument("--chunked", action="store_true")
    ap.add_argument("--key-id")
    ap.add_argument("--secret")
    ap.add_argument("--alg", default="hmac-sha256")
    ap.add_argument("--headers", default="@method @path @query host x-date x-nonce")
    ap.add_argument("--digest", action="store_true", help="send a Content-Digest")
    ap.add_argument("--digest-alg", default="sha-256")
    ap.add_argument("--digest-of", help="digest this text instead of the body")
    ap.add_argument("--body-after", help="send this body instead of the signed one")
    ap.add_argument("--nonce")
    ap.add_argument("--skew", type=int, default=0, help="seconds added to X-Date")
    ap.add_argument("--bad-sig", action="store_true")
    ap.add_argument("--drop", action="append", default=[], help="leave this header out")
    ap.add_argument("--header", action="append", default=[], help="NAME:VALUE, signable")
    ap.add_argument("--enc-kid")
    ap.add_argument("--enc-key")
    ap.add_argument("--tamper-ct", action="store_true")
    ap.add_argument("--truncate-ct", action="store_true")
    ap.add_argument("--dec-keys", default="", help="KID=B64,... to decrypt the response")
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--same-conn", action="store_true", help="repeat on one connection")
    a = ap.parse_args()

    body = a.body.encode() if not a.body_size else bytes(i % 251 for i in range(a.body_size))
    hdrs = {"Host": a.host}
    for h in a.header:
        k, _, v = h.partition(":")
        hdrs[k.strip()] = v.strip()
    if a.enc_kid:
        nonce = os.urandom(12)
        ct = AESGCM(base64.b64decode(a.enc_key)).encrypt(nonce, body, None)
        body = nonce + ct
        if a.tamper_ct:
            body = body[:20] + bytes([body[20] ^ 1]) + body[21:]
        if a.truncate_ct:
            body = body[:-1]
        hdrs["X-Enc-Key-Id"] = a.enc_kid
        hdrs["X-Enc-Content-Type"] = a.ctype
        hdrs["Content-Type"] = "application/octet-stream"
    elif body:
        hdrs["Content-Type"] = a.ctype
    if a.digest:
        src = a.digest_of.encode() if a.digest_of is not None else body
        h = hashlib.sha256 if a.digest_alg == "sha-256" else hashlib.sha512
        hdrs["Content-Digest"] = "%s=:%s:" % (a.digest_alg, base64.b64encode(h(src).digest()).decode())
    if a.key_id:
        hdrs["X-Date"] = formatdate(time.time() + a.skew, usegmt=True)
        hdrs["X-Nonce"] = a.nonce or os.urandom(12).hex()
        path, _, query = a.path.partition("?")
        lower = {k.lower(): v for k, v in hdrs.items()}
        lines = []
        for e in a.headers.split():
            v = {"@method": a.method, "@path": path, "@query": query}.get(e)
            lines.append("%s: %s" % (e, v if v is not None else lower.get(e, "")))
        md = hashlib.sha256 if a.alg != "hmac-sha512" else hashlib.sha512
        sig = hmac.new(a.secret.encode(), "\n".join(lines).encode(), md).digest()
        if a.bad_sig:
            sig = bytes([sig[0] ^ 1]) + sig[1:]
        hdrs["Authorization"] = 'Signature keyId="%s",algorithm="%s",headers="%s",signature="%s"' % (
            a.key_id, a.alg, a.headers, base64.b64encode(sig).decode())
    if a.body_after is not None:
        body = a.body_after.encode()
    for d in a.drop:
        hdrs = {k: v for k, v in hdrs.items() if k.lower() != d.lower()}

    out = {"status": []}
    c = None
    for _ in range(a.repeat):
        if not (a.same_conn and c):
            c = http.client.HTTPConnection("127.0.0.1", a.port, timeout=30)
        c.putrequest(a.method, a.path, skip_host=True, skip_accept_encoding=True)
        for k, v in hdrs.items():
            c.putheader(k, v)
        if a.chunked:
            c.putheader("Transfer-Encoding", "chunked")
            c.endheaders()
            for i in range(0, len(body), 1000):
                piece = body[i:i + 1000]
                c.send(b"%x\r\n%s\r\n" % (len(piece), piece))
            c.send(b"0\r\n\r\n")
        else:
            if body or a.method in ("POST", "PUT", "PATCH"):
                c.putheader("Content-Length", str(len(body)))
            c.endheaders(body)
        r = c.getresponse()
        data = r.read() if r.status != 101 else b""  # a tunnel: nothing more to read
        out["status"].append(r.status)
        out["kid"] = r.getheader("X-Enc-Key-Id") or "-"
        out["ctype"] = r.getheader("X-Enc-Content-Type") or "-"
        if out["kid"] != "-":
            keys = dict(kv.split("=", 1) for kv in a.dec_keys.split(",") if kv)
            key = keys.get(out["kid"])
            try:
                data = AESGCM(base64.b64decode(key + "=" * (-len(key) % 4))).decrypt(
                    data[:12], data[12:], None) if key else b""
            except Exception:
                data = b""
                out["decrypt"] = "failed"
        if r.getheader("Content-Type", "").startswith("text/plain"):
            out["why"] = data.decode(errors="replace").strip()
        else:
            try:
                out["echo"] = json.loads(data)
            except ValueError:
                out["raw_len"] = len(data)
        if not a.same_conn:
            c.close()
    out["sent_sha256"] = hashlib.sha256(
        bytes(i % 251 for i in range(a.body_size)) if a.body_size else a.body.encode()).hexdigest()
    print(json.dumps(out))


if __name__ == "__main__":
    sys.exit(main())
