#!/usr/bin/env python3
"""tests/proxy/openapi_check.py FILE - checks that FILE is an OpenAPI 3.0
document by the rules of the specification that a generator can break:
the required fields (openapi, info.title, info.version, paths, every
operation's responses with a description), path templates whose every
{name} is a required path parameter and whose path parameters are all in
the template, unique operationIds, parameters unique by name and location,
and security requirements that name a declared scheme of a valid shape.
Debian 12 packages no OpenAPI validator for python, hence this. Prints
each problem and exits 1, or exits 0 silently.
"""
import json
import re
import sys

METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}
ITEM_KEYS = METHODS | {"$ref", "summary", "description", "servers", "parameters"}
NAME = re.compile(r"^[a-zA-Z0-9.\-_]+$")
problems = []


def bad(where, why):
    problems.append(f"{where}: {why}")


def check_params(where, params, template):
    seen = set()
    for i, p in enumerate(params or []):
        w = f"{where}.parameters[{i}]"
        if not isinstance(p.get("name"), str) or p.get("in") not in ("path", "query", "header", "cookie"):
            bad(w, "needs a name and in: path, query, header or cookie")
            continue
        if (p["name"], p["in"]) in seen:
            bad(w, f"duplicate parameter {p['name']} in {p['in']}")
        seen.add((p["name"], p["in"]))
        if "schema" not in p and "content" not in p:
            bad(w, "needs a schema or content")
        if p["in"] == "path":
            if p.get("required") is not True:
                bad(w, "a path parameter must be required")
            if p["name"] not in template:
                bad(w, f"path parameter {p['name']} is not in the path")
    return {n for n, i in seen if i == "path"}


def main(path):
    doc = json.load(open(path))
    if not isinstance(doc.get("openapi"), str) or not doc["openapi"].startswith("3.0."):
        bad("openapi", "must be a 3.0.x version string")
    info = doc.get("info")
    if not isinstance(info, dict) or not all(isinstance(info.get(k), str) for k in ("title", "version")):
        bad("info", "needs title and version strings")
    schemes = doc.get("components", {}).get("securitySchemes", {})
    for n, s in schemes.items():
        w = f"components.securitySchemes.{n}"
        if not NAME.match(n):
            bad(w, "a component name must match ^[a-zA-Z0-9.-_]+$")
        t = s.get("type")
        if t == "apiKey":
            if not isinstance(s.get("name"), str) or s.get("in") not in ("query", "header", "cookie"):
                bad(w, "apiKey needs name and in: query, header or cookie")
        elif t == "http":
            if not isinstance(s.get("scheme"), str):
                bad(w, "http needs a scheme")
        elif t not in ("oauth2", "openIdConnect"):
            bad(w, f"unknown type {t!r}")
    paths = doc.get("paths")
    if not isinstance(paths, dict):
        bad("paths", "must be an object")
        paths = {}
    ids = {}
    for p, item in paths.items():
        if not p.startswith("/"):
            bad(p, "a path must start with /")
        template = set(re.findall(r"\{([^}/]+)\}", p))
        for k in item:
            if k not in ITEM_KEYS and not k.startswith("x-"):
                bad(p, f"unknown member {k!r} of a path item")
        common = check_params(p, item.get("parameters"), template)
        for m in METHODS & set(item):
            op, w = item[m], f"{p}.{m}"
            declared = common | check_params(w, op.get("parameters"), template)
            for t in template - declared:
                bad(w, f"{{{t}}} has no path parameter")
            resp = op.get("responses")
            if not isinstance(resp, dict) or not resp:
                bad(w, "needs responses")
            else:
                for c, r in resp.items():
                    if not isinstance(r.get("description"), str):
                        bad(f"{w}.responses.{c}", "needs a description")
            oid = op.get("operationId")
            if oid is not None:
                if oid in ids:
                    bad(w, f"operationId {oid} also at {ids[oid]}")
                ids[oid] = w
            for req in op.get("security", []):
                for n in req:
                    if n not in schemes:
                        bad(w, f"security names {n}, not in components.securitySchemes")
    for p in problems:
        print(p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
