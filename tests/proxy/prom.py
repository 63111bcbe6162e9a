#!/usr/bin/env python3
"""tests/proxy/prom.py - reads Prometheus text exposition (format 0.0.4) for
the proxy test, strictly enough to catch a malformed scrape.

  prom.py check FILE          the exposition is valid: every sample belongs to
                              a family announced by # TYPE (once, before its
                              samples), names and labels follow the
                              conventions (counters end in _total, no series
                              twice, histograms have cumulative buckets
                              ending in le="+Inf" equal to _count, and _sum)
  prom.py get FILE SERIES...  each series' value, or "absent"; SERIES is
                              name{label="value",...} in any label order
  prom.py sum FILE NAME       the sum of every series of NAME
  prom.py dashboard FILE JSON every weir_* metric the Grafana dashboard JSON
                              queries is a family of the exposition
"""
import re
import sys

NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*$")
LABEL = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"\s*(,|$)')
TYPES = ("counter", "gauge", "histogram", "summary", "untyped")


def parse_labels(text):
    labels, pos = {}, 0
    while pos < len(text):
        m = LABEL.match(text, pos)
        if not m:
            raise ValueError("bad labels: {%s}" % text)
        if m.group(1) in labels:
            raise ValueError("label %s twice" % m.group(1))
        labels[m.group(1)] = m.group(2)
        pos = m.end()
    return labels


def parse_series(s):
    m = re.match(r"([^{\s]+)(?:\{(.*)\})?$", s)
    if not m or not NAME.match(m.group(1)):
        raise ValueError("bad series: %r" % s)
    return m.group(1), parse_labels(m.group(2) or "")


def parse(text):
    """Returns (types, samples): {family: type}, [(name, labels, value)]."""
    types, samples, seen, done = {}, [], set(), set()
    current = None
    if text and not text.endswith("\n"):
        raise ValueError("the last line has no newline")
    for n, line in enumerate(text.splitlines(), 1):
        if not line:
            continue
        if line.startswith("#"):
            parts = line.split(None, 3)
            if len(parts) >= 2 and parts[1] == "TYPE":
                if len(parts) != 4 or parts[3] not in TYPES or not NAME.match(parts[2]):
                    raise ValueError("line %d: bad TYPE line" % n)
                if parts[2] in types:
                    raise ValueError("line %d: TYPE of %s twice" % (n, parts[2]))
                if current:
                    done.add(current)
                types[parts[2]] = parts[3]
                current = parts[2]
            continue
        m = re.match(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)(\s+-?\d+)?$", line)
        if not m:
            raise ValueError("line %d: not a sample: %r" % (n, line))
        name, labels = m.group(1), parse_labels((m.group(2) or "{}")[1:-1])
        value = float(m.group(3))
        fam = name
        for suffix in ("_bucket", "_sum", "_count"):
            if name.endswith(suffix) and types.get(name[: -len(suffix)]) == "histogram":
                fam = name[: -len(suffix)]
        if fam not in types:
            raise ValueError("line %d: %s has no # TYPE" % (n, name))
        if fam != current or fam in done:
            raise ValueError("line %d: %s is not with the rest of its family" % (n, name))
        key = (name, tuple(sorted(labels.items())))
        if key in seen:
            raise ValueError("line %d: series %s twice" % (n, line))
        seen.add(key)
        samples.append((name, labels, value))
    return types, samples


def check(types, samples):
    for fam, t in types.items():
        if not fam.startswith("weir_"):
            raise ValueError("%s: not in the weir_ namespace" % fam)
        if t == "counter" and not fam.endswith("_total"):
            raise ValueError("counter %s does not end in _total" % fam)
        if t != "counter" and fam.endswith("_total"):
            raise ValueError("%s %s ends in _total" % (t, fam))
        if t == "histogram":
            check_histogram(fam, samples)
    for name, labels, value in samples:
        if types.get(name) == "counter" and value < 0:
            raise ValueError("counter %s is negative" % name)


def check_histogram(fam, samples):
    groups = {}
    for name, labels, value in samples:
        if name not in (fam + "_bucket", fam + "_sum", fam + "_count"):
            continue
        rest = tuple(sorted((k, v) for k, v in labels.items() if k != "le"))
        g = groups.setdefault(rest, {"buckets": [], "sum": None, "count": None})
        if name.endswith("_bucket"):
            if "le" not in labels:
                raise ValueError("%s without le" % name)
            g["buckets"].append((float(labels["le"]), value))
        else:
            g[name.rsplit("_", 1)[1]] = value
    for rest, g in groups.items():
        b = g["buckets"]
        if not b or b[-1][0] != float("inf"):
            raise ValueError("%s%s: no le=\"+Inf\" bucket last" % (fam, dict(rest)))
        if any(b[i][0] >= b[i + 1][0] or b[i][1] > b[i + 1][1] for i in range(len(b) - 1)):
            raise ValueError("%s%s: buckets not increasing" % (fam, dict(rest)))
        if g["count"] != b[-1][1] or g["sum"] is None:
            raise ValueError("%s%s: _count differs from +Inf, or no _sum" % (fam, dict(rest)))


def fmt(v):
    return str(int(v)) if v == int(v) else repr(v)


def main():
    cmd, path = sys.argv[1], sys.argv[2]
    with open(path) as f:
        types, samples = parse(f.read())
    if cmd == "check":
        check(types, samples)
        print("ok: %d families, %d samples" % (len(types), len(samples)))
    elif cmd == "get":
        out = []
        for s in sys.argv[3:]:
            name, labels = parse_series(s)
            v = [x for n, l, x in samples if n == name and l == labels]
            out.append(fmt(v[0]) if v else "absent")
        print(" ".join(out))
    elif cmd == "sum":
        v = [x for n, l, x in samples if n == sys.argv[3]]
        print(fmt(sum(v)) if v else "absent")
    elif cmd == "dashboard":
        import json
        with open(sys.argv[3]) as f:
            dash = json.load(f)
        exprs = [t["expr"] for p in dash["panels"] for t in p.get("targets", [])]
        exprs += [v.get("query", "") for v in dash.get("templating", {}).get("list", [])]
        named = set()
        for e in exprs:
            for m in re.findall(r"\bweir_[a-z0-9_]+", e):
                named.add(re.sub(r"_(bucket|sum|count)$", "", m) if
                          re.sub(r"_(bucket|sum|count)$", "", m) in types else m)
        missing = sorted(n for n in named if n not in types)
        if missing or not exprs:
            sys.exit("the dashboard queries what weir does not serve: %s" %
                     " ".join(missing))
        print("ok: %d queries, %d metrics" % (len(exprs), len(named)))
    else:
        sys.exit("usage: prom.py check|get|sum|dashboard FILE ...")


if __name__ == "__main__":
    try:
        main()
    except ValueError as e:
        sys.exit("invalid exposition: %s" % e)
