#!/usr/bin/python3
"""tlsbench.py - weir terminating TLS beside nginx terminating TLS, with the
same certificate, the same upstream and one worker each.

Driven by bench/http/run.sh (TLS=1 or --tls runs only this part):

  tlsbench.py --tmp DIR --build BUILD --out-dir bench/results [--quick]

One upstream (nginx, the 12-byte static file of httpbench.py, plaintext) on
127.0.0.1:PORT0; the proxies on PORT0+1 (nginx) and PORT0+2 (weir), each
terminating TLS with one ECDSA P-256 certificate made here with `openssl`,
TLS 1.2 and 1.3, the same ECDHE+AEAD cipher list, a session cache and
session tickets, keepalive to the upstream. Proxies on CPU 1; the clients,
the upstream and this script on CPU 0. Cases, each peer alternately, several
rounds:
  - full:      full TLS 1.3 handshakes/s: `openssl s_time -new`, N clients
               in parallel (each connects, handshakes, closes);
  - resumed:   resumed TLS 1.2 handshakes/s: `openssl s_time -reuse` (one
               full handshake, then every connection resumes its session);
               each resumption is checked ('r' in s_time's output);
  - keepalive: req/s over keepalive TLS 1.3 connections: wrk -c50 https.
Beside each rate, the proxy's CPU time per handshake or request (user +
system of its processes), which is blind to the client being the bottleneck:
on one client CPU, `s_time` spends as much on a handshake as the server.
Writes http_tls.json and http_tls.md. Every loop is bounded; every process
started is killed on the way out; traffic stays on 127.0.0.1.
"""
import argparse
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True
from hblib import (Procs, cpu_seconds, environment, git_rev, log, log_tail,  # noqa: E402
                   port_free, versions, wait_listen)

BODY = b"hello world\n"
CIPHERS = ("ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
           "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
           "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305")

NGINX_HTTP = """daemon off;
master_process on;
worker_processes 1;
worker_rlimit_nofile 16384;
user root;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 10240; }}
http {{
    access_log off;
    keepalive_timeout 75s;
    keepalive_requests 1000000;
    client_body_temp_path {d}/body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
"""

NGINX_TLS = NGINX_HTTP + """    upstream backend {{
        server 127.0.0.1:{up};
        keepalive 256;
        keepalive_requests 1000000;
        keepalive_timeout 60s;
    }}
    server {{
        listen 127.0.0.1:{port} ssl backlog=4096;
        ssl_certificate {cert};
        ssl_certificate_key {key};
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_ciphers {ciphers};
        ssl_prefer_server_ciphers on;
        ssl_session_cache shared:SSL:10m;
        ssl_session_timeout 1h;
        ssl_session_tickets on;
        location / {{
            proxy_pass http://backend;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }}
    }}
}}
"""

WEIR_TLS = """workers: 1
listeners:
  - listen: 127.0.0.1:{port}
    backlog: 4096
    tls:
      certificates: [{{cert: {cert}, key: {key}}}]
upstreams:
  up: {{nodes: [127.0.0.1:{up}]}}
routes:
  - {{path: /*, upstream: up}}
"""

UPSTREAM = NGINX_HTTP + """    default_type text/plain;
    server {{
        listen 127.0.0.1:{port} backlog=4096;
        root {d}/www;
        location / {{ try_files /body.txt =404; }}
    }}
}}
"""


def med(v):
    v = [x for x in v if x is not None]
    return statistics.median(v) if v else None


def make_dir(base, name):
    d = os.path.join(base, name)
    for sub in ("body", "proxy", "fastcgi", "uwsgi", "scgi", "www"):
        os.makedirs(os.path.join(d, sub), exist_ok=True)
    return d


def write(path, text):
    with open(path, "w") as f:
        f.write(text)
    return path


def tls_get(port, timeout=5.0):
    """One GET over TLS (no verification: a self-signed benchmark cert)."""
    p = subprocess.run(["curl", "-sk", "--max-time", str(timeout), "https://127.0.0.1:%d/" % port],
                       capture_output=True, timeout=timeout + 5)
    return p.stdout


def s_time(a, peer, mode, secs):
    """a.hs_clients `openssl s_time` in parallel for secs; returns
    (handshakes, resumed, wall seconds, proxy CPU seconds)."""
    cmd = ["taskset", "-c", str(a.cpu_client), "openssl", "s_time", "-connect",
           "127.0.0.1:%d" % peer["port"], "-time", str(secs)]
    cmd += ["-new", "-tls1_3"] if mode == "full" else ["-reuse", "-tls1_2"]
    c0, t0 = cpu_seconds(peer["proc"].pid), time.monotonic()
    ps = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
          for _ in range(a.hs_clients)]
    outs = []
    for p in ps:
        try:
            outs.append(p.communicate(timeout=secs + 30)[0])
        except subprocess.TimeoutExpired:
            p.kill()
            outs.append(p.communicate()[0])
    t1, c1 = time.monotonic(), cpu_seconds(peer["proc"].pid)
    n = resumed = 0
    for out in outs:
        m = re.search(r"(\d+) connections in [\d.]+s", out)
        if not m:
            raise RuntimeError("s_time: %s" % out.strip()[-300:])
        n += int(m.group(1))
        # one character per connection before the summary: 'r' resumed
        body = out.split("Collecting")[-1].split("\n", 1)[-1].split(" connections in")[0]
        resumed += body.count("r")
    return n, resumed, t1 - t0, c1 - c0


def wrk(a, peer, secs):
    cmd = ["taskset", "-c", str(a.cpu_client), "wrk", "-t1", "-c50", "-d%ds" % secs,
           "--latency", "-s", os.path.join(HERE, "wrk_report.lua"),
           "https://127.0.0.1:%d/" % peer["port"]]
    c0 = cpu_seconds(peer["proc"].pid)
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=secs + 30)
    c1 = cpu_seconds(peer["proc"].pid)
    res = None
    for line in p.stdout.splitlines():
        if line.startswith("WRKJSON "):
            res = json.loads(line[8:])
    if p.returncode != 0 or res is None:
        raise RuntimeError("wrk: exit %d: %s" % (p.returncode, (p.stderr or p.stdout)[-300:]))
    errs = sum(res["errors"].values())
    secs_run = res["duration_us"] / 1e6
    return {"rps": round(res["requests"] / secs_run, 1), "requests": res["requests"],
            "p50_us": res["latency_us"]["p50"], "p99_us": res["latency_us"]["p99"],
            "errors": res["errors"],
            "cpu_us": round(1e6 * (c1 - c0) / res["requests"], 2) if res["requests"] else None,
            "valid": res["requests"] > 0 and errs <= 0.001 * res["requests"]}


def run_case(a, peer, case):
    if case == "keepalive":
        return wrk(a, peer, a.duration)
    n, resumed, wall, cpu = s_time(a, peer, case, a.duration)
    r = {"rate": round(n / wall, 1), "handshakes": n, "resumed": resumed,
         "wall_s": round(wall, 2), "cpu_us": round(1e6 * cpu / n, 1) if n else None,
         "valid": n > 0}
    if case == "resumed":
        # s_time's first connection of each client is a full handshake
        r["valid"] = n > 0 and resumed >= n - a.hs_clients
    return r


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tmp", required=True)
    ap.add_argument("--build", default="build")
    ap.add_argument("--out-dir", default="bench/results")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--rounds", type=int)
    ap.add_argument("--duration", type=int)
    ap.add_argument("--hs-clients", type=int, default=2)
    ap.add_argument("--port-base", type=int, default=9180)
    ap.add_argument("--cpu-proxy", type=int, default=1)
    ap.add_argument("--cpu-client", type=int, default=0)
    ap.add_argument("--command", default="bench/http/run.sh --tls")
    a = ap.parse_args()
    a.rounds = min(a.rounds or (2 if a.quick else 5), 20)
    a.duration = min(a.duration or (3 if a.quick else 5), 60)
    os.sched_setaffinity(0, {a.cpu_client})
    signal.signal(signal.SIGTERM, lambda s, f: (_ for _ in ()).throw(KeyboardInterrupt()))
    t_start = time.monotonic()
    procs = Procs(os.path.join(a.tmp, "pids"))
    cert, key = os.path.join(a.tmp, "bench.pem"), os.path.join(a.tmp, "bench.key")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", cert,
                    "-days", "2", "-subj", "/CN=bench.test"], check=True,
                   capture_output=True, timeout=30)
    up_port = a.port_base
    cases = ["full", "resumed", "keepalive"]
    runs = []
    peers = []
    try:
        for port in (up_port, up_port + 1, up_port + 2):
            if not port_free(port):
                sys.exit("tlsbench.py: 127.0.0.1:%d already in use" % port)
        d = make_dir(a.tmp, "tls-upstream")
        with open(os.path.join(d, "www", "body.txt"), "wb") as f:
            f.write(BODY)
        os.chmod(a.tmp, 0o755)
        up = procs.spawn(["nginx", "-p", d, "-c", write(os.path.join(d, "nginx.conf"),
                                                        UPSTREAM.format(d=d, port=up_port)),
                          "-e", os.path.join(d, "error.log")], a.cpu_client,
                         os.path.join(a.tmp, "tls-upstream.log"))
        wait_listen(up_port, up)
        d = make_dir(a.tmp, "tls-nginx")
        nconf = write(os.path.join(d, "nginx.conf"),
                      NGINX_TLS.format(d=d, up=up_port, port=up_port + 1, cert=cert, key=key,
                                       ciphers=CIPHERS))
        wconf = write(os.path.join(a.tmp, "weir-tls.yaml"),
                      WEIR_TLS.format(port=up_port + 2, cert=cert, key=key, up=up_port))
        weir = os.path.join(a.build, "weir")
        peers = [
            {"name": "weir", "port": up_port + 2, "argv": [weir, "-c", wconf],
             "desc": "weir -c weir-tls.yaml (1 worker)", "config": WEIR_TLS},
            {"name": "nginx", "port": up_port + 1,
             "argv": ["nginx", "-p", d, "-c", nconf, "-e", os.path.join(d, "error.log")],
             "desc": "nginx, 1 worker, ssl_session_cache shared:SSL:10m, tickets on",
             "config": NGINX_TLS},
        ]
        for p in peers:
            p["proc"] = procs.spawn(p["argv"], a.cpu_proxy,
                                    os.path.join(a.tmp, "tls-%s.log" % p["name"]))
            wait_listen(p["port"], p["proc"])
            body = tls_get(p["port"])
            if body != BODY:
                raise RuntimeError("%s over TLS answered %r (log: %s)" % (
                    p["name"], body, log_tail(os.path.join(a.tmp, "tls-%s.log" % p["name"]))))
            wrk(a, p, 1)  # warm-up, not recorded
        log("== TLS: %d rounds x %d s per run, %d s_time clients; proxies on CPU %d"
            % (a.rounds, a.duration, a.hs_clients, a.cpu_proxy))
        for r in range(a.rounds):
            for c in cases:
                order = peers if r % 2 == 0 else peers[::-1]
                for p in order:
                    try:
                        res = run_case(a, p, c)
                    except (RuntimeError, subprocess.TimeoutExpired) as e:
                        res = {"valid": False, "error": str(e)}
                    res.update({"round": r + 1, "case": c, "peer": p["name"]})
                    runs.append(res)
                    log("   round %d %-9s %-6s %9s /s  %s CPU-us each%s" % (
                        r + 1, c, p["name"], res.get("rate", res.get("rps")), res.get("cpu_us"),
                        "" if res.get("valid") else "  INVALID %s" % res.get("error", "")))
    finally:
        procs.stop_all()

    medians, ratios = {}, {}
    for c in cases:
        m = {}
        for p in peers:
            rs = [x for x in runs if x["case"] == c and x["peer"] == p["name"] and x["valid"]]
            if rs:
                key_rate = "rps" if c == "keepalive" else "rate"
                m[p["name"]] = {"rate": round(med([x[key_rate] for x in rs]), 1),
                                "cpu_us": round(med([x["cpu_us"] for x in rs]), 1),
                                "runs": len(rs)}
        medians[c] = m
        if "weir" in m and "nginx" in m:
            # Each round's pair ran back to back: the median of the rounds'
            # own ratios follows the machine's load as it drifts.
            key_rate = "rps" if c == "keepalive" else "rate"
            pairs = []
            for r in range(1, a.rounds + 1):
                w = [x for x in runs if x["case"] == c and x["round"] == r
                     and x["peer"] == "weir" and x["valid"]]
                n = [x for x in runs if x["case"] == c and x["round"] == r
                     and x["peer"] == "nginx" and x["valid"]]
                if w and n and n[0][key_rate] and n[0]["cpu_us"]:
                    pairs.append((w[0][key_rate] / n[0][key_rate], w[0]["cpu_us"] / n[0]["cpu_us"]))
            ratios[c] = {"rate": round(m["weir"]["rate"] / m["nginx"]["rate"], 3),
                         "cpu_us": round(m["weir"]["cpu_us"] / m["nginx"]["cpu_us"], 3),
                         "paired_rate": round(med([x[0] for x in pairs]), 3) if pairs else None,
                         "paired_cpu_us": round(med([x[1] for x in pairs]), 3) if pairs else None}
    out = {"benchmark": "http_tls", "command": a.command, "mode": "quick" if a.quick else "full",
           "elapsed_s": round(time.monotonic() - t_start), "environment": environment(),
           "versions": dict(versions(), openssl=subprocess.run(
               ["openssl", "version"], capture_output=True, text=True).stdout.strip()),
           "git": git_rev(),
           "setup": {"certificate": "ECDSA P-256, self-signed (openssl req -x509 -newkey ec)",
                     "upstream": "nginx, 12-byte static file, plaintext, keepalive",
                     "rounds": a.rounds, "duration_s": a.duration, "hs_clients": a.hs_clients,
                     "full": "openssl s_time -new -tls1_3 (x%d in parallel)" % a.hs_clients,
                     "resumed": "openssl s_time -reuse -tls1_2 (x%d in parallel)" % a.hs_clients,
                     "keepalive": "wrk -t1 -c50 -dDs https://...",
                     "cpu_us": "the proxy's user+system CPU time per handshake / request"},
           "peers": {p["name"]: {"desc": p["desc"], "config": p["config"]} for p in peers},
           "runs": runs, "medians": medians, "ratios": ratios}
    os.makedirs(a.out_dir, exist_ok=True)
    with open(os.path.join(a.out_dir, "http_tls.json"), "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")
    write(os.path.join(a.out_dir, "http_tls.md"), report(out))
    log("== wrote %s/http_tls.json, http_tls.md (%d s)" % (a.out_dir, out["elapsed_s"]))


def report(o):
    what = {"full": "full TLS 1.3 handshakes/s", "resumed": "resumed TLS 1.2 handshakes/s",
            "keepalive": "req/s, keepalive TLS 1.3 (wrk -c50)"}
    lines = ["# weir TLS beside nginx", "",
             "Written by `%s` (%s) on %s; weir at %s. Machine: %s, %d CPUs. OpenSSL: %s; "
             "nginx %s. A shared 2-core VM: read the ratios (same run, peers alternated), not "
             "the absolute figures." % (o["command"], o["mode"], o["environment"]["date"], o["git"],
                                        o["environment"]["cpu"], o["environment"]["cpus"],
                                        o["versions"]["openssl"], o["versions"]["nginx"]), "",
             "Both terminate TLS with the same ECDSA P-256 certificate, one worker on CPU 1, and "
             "proxy to the same plaintext nginx upstream over keepalive; clients on CPU 0. "
             "%d rounds x %d s; medians. CPU-us: the proxy's own CPU time per handshake or "
             "request (the rate is bounded by the one client CPU, which works as hard per "
             "handshake as the server)." % (o["setup"]["rounds"], o["setup"]["duration_s"]), "",
             "| case | weir | nginx | weir/nginx rate | weir CPU-us | nginx CPU-us | "
             "weir/nginx CPU (lower is better) |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for c in ("full", "resumed", "keepalive"):
        m, r = o["medians"].get(c, {}), o["ratios"].get(c, {})
        w, n = m.get("weir", {}), m.get("nginx", {})
        lines.append("| %s | %s | %s | %s (paired %s) | %s | %s | %s (paired %s) |" % (
            what[c], w.get("rate"), n.get("rate"),
            "%.2fx" % r["rate"] if r else "-",
            "%.2fx" % r["paired_rate"] if r.get("paired_rate") else "-",
            w.get("cpu_us"), n.get("cpu_us"),
            "%.2fx" % r["cpu_us"] if r else "-",
            "%.2fx" % r["paired_cpu_us"] if r.get("paired_cpu_us") else "-"))
    lines += ["", "Ratios: of the medians, and (paired) the median of each round's own ratio, "
              "its two runs back to back, which follows the machine's load as other tenants "
              "come and go."]
    lines += ["", "Commands: full `%s`; resumed `%s`; keepalive `%s`." % (
        o["setup"]["full"], o["setup"]["resumed"], o["setup"]["keepalive"]), ""]
    return "\n".join(lines)


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        log("tlsbench.py: interrupted; stopped everything it started")
        sys.exit(130)
