#!/usr/bin/env python3
"""tests/proxy/jwt_tool.py - keys and JSON Web Tokens for tests/proxy/test_auth.sh,
made with Debian's python3-cryptography (an implementation apart from weir's
OpenSSL calls, so a token weir accepts is one another library wrote).

  jwt_tool.py keys DIR          PEM key pairs (rsa, ec256, ec384, ed25519) and
                                rsa.jwks (the RSA public key as a JWK, kid r1)
  jwt_tool.py sign ALG KEY CLAIMS [--kid KID] [--alg-header ALG]
                                a token: KEY is a private PEM file for
                                RS/ES/EdDSA, a secret string for HS*, or
                                'none'; CLAIMS is JSON, with "exp"/"nbf"
                                given as offsets from now when --relative
"""
import base64
import hashlib
import hmac
import json
import sys
import time

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature


def b64u(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def write_pair(d, name, key):
    with open(f"{d}/{name}.pem", "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM,
                                  serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))
    with open(f"{d}/{name}.pub.pem", "wb") as f:
        f.write(key.public_key().public_bytes(serialization.Encoding.PEM,
                                              serialization.PublicFormat.SubjectPublicKeyInfo))


def keys(d):
    r = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    write_pair(d, "rsa", r)
    write_pair(d, "ec256", ec.generate_private_key(ec.SECP256R1()))
    write_pair(d, "ec384", ec.generate_private_key(ec.SECP384R1()))
    write_pair(d, "ed25519", ed25519.Ed25519PrivateKey.generate())
    n = r.public_key().public_numbers()
    jwk = {"kty": "RSA", "kid": "r1", "alg": "RS256",
           "n": b64u(n.n.to_bytes((n.n.bit_length() + 7) // 8, "big")),
           "e": b64u(n.e.to_bytes(3, "big"))}
    with open(f"{d}/rsa.jwks", "w") as f:
        json.dump({"keys": [jwk]}, f)


HASH = {"256": hashes.SHA256, "384": hashes.SHA384, "512": hashes.SHA512}


def sign(alg, key, claims, kid=None, alg_header=None, relative=False):
    claims = json.loads(claims)
    if relative:
        for k in ("exp", "nbf", "iat"):
            if k in claims:
                claims[k] += int(time.time())
    head = {"alg": alg_header or alg, "typ": "JWT"}
    if kid:
        head["kid"] = kid
    data = (b64u(json.dumps(head).encode()) + "." + b64u(json.dumps(claims).encode())).encode()
    if alg == "none":
        sig = b""
    elif alg.startswith("HS"):
        sig = hmac.new(key.encode(), data, getattr(hashlib, "sha" + alg[2:])).digest()
    else:
        with open(key, "rb") as f:
            priv = serialization.load_pem_private_key(f.read(), None)
        if alg.startswith("RS"):
            sig = priv.sign(data, padding.PKCS1v15(), HASH[alg[2:]]())
        elif alg.startswith("ES"):
            r, s = decode_dss_signature(priv.sign(data, ec.ECDSA(HASH[alg[2:]]())))
            size = 32 if alg == "ES256" else 48
            sig = r.to_bytes(size, "big") + s.to_bytes(size, "big")
        else:
            sig = priv.sign(data)
    return data.decode() + "." + b64u(sig)


def main():
    a = sys.argv[1:]
    if a[0] == "keys":
        keys(a[1])
        return
    opts = {}
    rest = []
    i = 1
    while i < len(a):
        if a[i] == "--kid":
            opts["kid"] = a[i + 1]
            i += 2
        elif a[i] == "--alg-header":
            opts["alg_header"] = a[i + 1]
            i += 2
        elif a[i] == "--relative":
            opts["relative"] = True
            i += 1
        else:
            rest.append(a[i])
            i += 1
    print(sign(rest[0], rest[1], rest[2], **opts))


if __name__ == "__main__":
    main()
