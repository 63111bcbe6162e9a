#!/usr/bin/env python3
"""tests/proxy/admin_churn.py - a stream of route changes through weir's
admin API, for tests/proxy/test_admin.sh and bench/admin_apply.sh.

    admin_churn.py PORT TOKEN COUNT [--ack FILE] [--route ID] [--times FILE]
                   [--server-times FILE] [--rate N] [--read]

Change i (1..COUNT) PUTs route ID (default "churn") with priority i and a
path that alternates between /churn/a/* and /churn/b/*, each on a new
connection, waiting for the answer. Every answer must be 200 or 201; the
number of each acknowledged change is appended to --ack FILE (flushed, so a
reader sees it as soon as weir answered), and the time from request to
answer, in microseconds, to --times FILE, and weir's own account of it (its
Server-Timing header: "APPLY SAVE", in microseconds) to --server-times FILE.
With --rate, changes start at most N a second. With --read, each change is
a GET of the route instead (the same client work, nothing changed: a control
for benchmarks). Prints "ok COUNT" or the first
failure, and exits non-zero on one.
"""
import argparse
import http.client
import json
import sys
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("port", type=int)
    ap.add_argument("token")
    ap.add_argument("count", type=int)
    ap.add_argument("--ack")
    ap.add_argument("--route", default="churn")
    ap.add_argument("--upstream", default="a")
    ap.add_argument("--times")
    ap.add_argument("--server-times")
    ap.add_argument("--rate", type=float)
    ap.add_argument("--read", action="store_true")
    a = ap.parse_args()
    stimes = open(a.server_times, "w") if a.server_times else None
    start = time.perf_counter()
    ack = open(a.ack, "a", buffering=1) if a.ack else None
    times = open(a.times, "w") if a.times else None
    for i in range(1, a.count + 1):
        body = json.dumps({"path": "/churn/%s/*" % "ab"[i % 2], "upstream": a.upstream,
                           "priority": i})
        if a.rate:
            wait = start + (i - 1) / a.rate - time.perf_counter()
            if wait > 0:
                time.sleep(wait)
        c = http.client.HTTPConnection("127.0.0.1", a.port, timeout=60)
        t0 = time.perf_counter()
        try:
            c.request("GET" if a.read else "PUT", "/admin/routes/" + a.route,
                      None if a.read else body,
                      {"X-API-Key": a.token, "Content-Type": "application/json"})
            r = c.getresponse()
            data = r.read()
        except OSError as e:
            print("change %d: %s" % (i, e))
            return 1
        dt = time.perf_counter() - t0
        c.close()
        if r.status not in (200, 201):
            print("change %d: %d %s" % (i, r.status, data[:200]))
            return 1
        if ack:
            ack.write("%d\n" % i)
        if times:
            times.write("%d\n" % int(dt * 1e6))
        if stimes:
            st = dict(p.strip().split(";dur=") for p in
                      (r.getheader("Server-Timing") or "apply;dur=0, save;dur=0").split(","))
            stimes.write("%d %d\n" % (float(st["apply"]) * 1000, float(st["save"]) * 1000))
    print("ok %d" % a.count)
    return 0


if __name__ == "__main__":
    sys.exit(main())
