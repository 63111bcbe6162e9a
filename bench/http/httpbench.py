#!/usr/bin/python3
"""httpbench.py - weir's L7 reverse proxy beside nginx and HAProxy, with wrk.

Driven by bench/http/run.sh (which makes the temp dir, raises `ulimit -n` and
kills whatever this script recorded in TMP/pids if it is itself killed):

  httpbench.py --tmp DIR --build BUILD --out-dir bench/results [--quick]

One upstream (nginx, a 12-byte static file, one worker) on 127.0.0.1:PORT0;
the proxies under test, one worker each, keepalive to it, on PORT0+1.. :
nginx, HAProxy and `weir proxy`. Proxies run on CPU 1; wrk, the upstream and
this script on CPU 0. Cases, each peer alternately, several rounds:
  - keepalive clients: wrk -t1 -c {10,50,200};
  - a new connection per request: wrk -t1 -c 50 -H 'Connection: close';
  - a fixed rate below every peer's ceiling (bench/rateload.c, open loop:
    each request due at its time, latency counted from then), where the
    latency is what a user sees rather than the queue a saturating client
    builds;
  - HTTP/1.0 keepalive clients, as ApacheBench makes them: ab -k -c 50,
    whose requests each proxy must still carry over its upstream pool;
  - RSS per idle keepalive client connection (N connections, one request
    each, then idle), on a freshly started proxy.
Writes http.json, http.md, http_rps.png and http_latency.png (httpreport.py);
helpers (processes, /proc, the idle-connection client) in hblib.py.

Every loop is bounded (fixed rounds, fixed-length wrk runs under a timeout,
deadlines on the idle-connection client); every process started is killed
on the way out. Traffic stays on 127.0.0.1.
"""
import argparse
import json
import os
import resource
import signal
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True
from hblib import (VERBOSE, Procs, busy, busy_seconds, count_open, cpu_seconds,  # noqa: E402
                   cpu_stat, environment, git_rev, http_get, log, log_tail, open_idle,
                   port_free, rss_bytes, versions, wait_listen, wait_quiet)

BODY = b"hello world\n"  # 12 bytes


def med(v):
    v = [x for x in v if x is not None]
    return statistics.median(v) if v else None


# ------------------------------------------------------------------- peers

def fill(template, out, **kw):
    with open(os.path.join(HERE, template)) as f:
        text = f.read()
    for k, v in kw.items():
        text = text.replace("@%s@" % k, str(v))
    with open(out, "w") as f:
        f.write(text)
    return out


class Peer:
    def __init__(self, name, desc, port, cmd_fn, template=None, headers=()):
        self.name, self.desc, self.port = name, desc, port
        self.headers = list(headers)  # request header lines every request carries
        self.cmd_fn = cmd_fn      # () -> argv, or raises RuntimeError(reason)
        self.template = template  # its config template under bench/http/, if any
        self.proc = None
        self.available = True
        self.reason = None
        self.incidents = []  # exits during the runs, with the log's tail

    def argv(self):
        return self.cmd_fn()


def nginx_argv(d, conf):
    return ["nginx", "-p", d, "-c", conf, "-e", os.path.join(d, "error.log")]


def make_dir(base, name):
    d = os.path.join(base, name)
    os.makedirs(d, exist_ok=True)
    for sub in ("body", "proxy", "fastcgi", "uwsgi", "scgi", "www"):
        os.makedirs(os.path.join(d, sub), exist_ok=True)
    return d


def make_peers(a, up_port):
    peers = []
    d = make_dir(a.tmp, "nginx-proxy")
    conf = fill("proxy.nginx.conf", os.path.join(d, "nginx.conf"), DIR=d,
                PORT=a.port_base + 1, UPSTREAM_PORT=up_port,
                KEEPALIVE=a.nginx_keepalive)
    peers.append(Peer("nginx", "nginx %s as a reverse proxy (1 worker, upstream keepalive %d)"
                      % (a.versions["nginx"], a.nginx_keepalive), a.port_base + 1,
                      lambda d=d, conf=conf: nginx_argv(d, conf), "proxy.nginx.conf"))
    d = make_dir(a.tmp, "haproxy")
    conf = fill("haproxy.cfg", os.path.join(d, "haproxy.cfg"), DIR=d,
                PORT=a.port_base + 2, UPSTREAM_PORT=up_port)
    peers.append(Peer("haproxy", "HAProxy %s (nbthread 1, http-reuse always)"
                      % a.versions["haproxy"], a.port_base + 2,
                      lambda conf=conf: ["haproxy", "-db", "-f", conf], "haproxy.cfg"))
    weir = os.path.join(a.build, "weir")
    wport = a.port_base + 3

    def weir_argv():
        if not os.access(weir, os.X_OK):
            raise RuntimeError("%s not built" % weir)
        return [weir, "proxy", "--from", "127.0.0.1:%d" % wport,
                "--to", "127.0.0.1:%d" % up_port, "--workers", "1"]
    peers.append(Peer("weir", "weir proxy (--workers 1)", wport, weir_argv))
    # The same weir with an authentication and a limit plugin on the route
    # (issue 4's case: plugins on, beside nginx proxying without any).
    ppport = a.port_base + 4
    pconf = fill("weir_plugins.yaml", os.path.join(make_dir(a.tmp, "weir-plugins"), "weir.yaml"),
                 PORT=ppport, UPSTREAM_PORT=up_port)

    def weir_plugins_argv():
        if not os.access(weir, os.X_OK):
            raise RuntimeError("%s not built" % weir)
        return [weir, "-c", pconf]
    peers.append(Peer("weir_plugins", "weir (1 worker) with key-auth and limit-count by "
                      "consumer on the route, every request authenticated and counted",
                      ppport, weir_plugins_argv, "weir_plugins.yaml",
                      headers=["apikey: bench-key"]))
    order = [p.strip() for p in a.peers.split(",") if p.strip()]
    byname = {p.name: p for p in peers}
    # weir first: the peer the ratios are about
    return [byname[n] for n in order if n in byname]


def start_peer(procs, a, peer):
    """Starts peer on the proxy CPU and checks it serves the upstream's
    body; on failure marks it unavailable (reason kept), never raises."""
    try:
        argv = peer.argv()
        if not port_free(peer.port):
            raise RuntimeError("port 127.0.0.1:%d already in use" % peer.port)
        logpath = os.path.join(a.tmp, "%s.log" % peer.name)
        peer.proc = procs.spawn(argv, a.cpu_proxy, logpath)
        wait_listen(peer.port, peer.proc)
        status, body = http_get(peer.port, headers=peer.headers)
        if status != 200 or body != BODY:
            raise RuntimeError("GET / gave status %d body %r, want 200 %r" % (status, body, BODY))
        return True
    except (RuntimeError, OSError) as e:
        peer.available = False
        peer.reason = str(e)
        tail = log_tail(os.path.join(a.tmp, "%s.log" % peer.name))
        if tail:
            peer.reason += " (log: %s)" % tail
        log("   %s unavailable: %s" % (peer.name, peer.reason))
        if peer.proc is not None:
            procs.stop(peer.proc)
            peer.proc = None
        return False


def stop_peer(procs, peer):
    if peer.proc is not None:
        procs.stop(peer.proc)
        peer.proc = None


def rotated(items, r):
    r %= max(len(items), 1)
    return items[r:] + items[:r]


def measure_idle(procs, a, peer):
    if not start_peer(procs, a, peer):
        return None
    try:
        for _ in range(3):  # lazy initialisation, the upstream pool
            http_get(peer.port, headers=peer.headers)
        time.sleep(0.5)
        before = rss_bytes(peer.proc.pid)
        t0 = time.monotonic()
        socks, failed = open_idle(peer.port, a.idle_conns)
        took = time.monotonic() - t0
        time.sleep(1.0)
        open1 = count_open(socks)
        after = rss_bytes(peer.proc.pid)
        open2 = count_open(socks)
        for s in socks:
            s.close()
        alive = peer.proc.poll() is None
        n = min(open1, open2)
        r = {"rss_before": before, "rss_after": after, "requested": a.idle_conns,
             "completed": len(socks), "failed": failed, "still_open": n,
             "open_s": round(took, 2), "peer_alive": alive,
             "bytes_per_conn": round((after - before) / n, 1) if n else None}
        log("   %-8s RSS %.1f -> %.1f MiB with %d idle connections: %s bytes/connection%s"
            % (peer.name, before / 2**20, after / 2**20, n, r["bytes_per_conn"],
               "" if n == a.idle_conns and alive else
               " (%d completed, %d failed, %d still open%s)" % (
                   len(socks), failed, n, "" if alive else ", the proxy exited")))
        return r
    finally:
        stop_peer(procs, peer)


# ------------------------------------------------------------------- wrk

def wrk_request_bytes(port, close):
    req = "GET / HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n" % port
    if close:
        req += "Connection: close\r\n"
    return len(req) + 2


def run_measured(a, peer, cmd, duration):
    """Runs a load command against peer (after waiting for quiet CPUs) and
    measures the peer's CPU meanwhile. Returns the finished process and a
    function of the request count giving the CPU fields of a run."""
    if VERBOSE:
        log("  $ " + " ".join(cmd))
    waited, load = wait_quiet(min(5.0, a.quiet_wait - a.quiet_spent),
                              cpus=(a.cpu_client, a.cpu_proxy))
    a.quiet_spent += waited
    s0, c0, t0 = cpu_stat(), cpu_seconds(peer.proc.pid), time.monotonic()
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 30)
    s1, c1, t1 = cpu_stat(), cpu_seconds(peer.proc.pid), time.monotonic()

    def cpu_fields(n):
        return {
            "proxy_cpu_pct": round(100.0 * (c1 - c0) / (t1 - t0), 1),
            "cpu_us_per_req": round(1e6 * (c1 - c0) / n, 2) if n else None,
            "other_on_proxy_cpu_pct": round(max(0.0, busy(s0, s1, a.cpu_proxy)
                                                - 100.0 * (c1 - c0) / (t1 - t0)), 1),
            "quiet_wait_s": waited, "load_before_pct": load,
            "cpu_busy_pct": {"client": busy(s0, s1, a.cpu_client),
                             "proxy": busy(s0, s1, a.cpu_proxy)},
            "duration_s": round(t1 - t0, 3),
        }
    return p, cpu_fields


def run_rate(a, peer, c, duration):
    """rateload at c["rate"] requests a second on c["conns"] keepalive
    connections, 0.5 s of warm-up (sent, not counted in the latency)."""
    cmd = ["taskset", "-c", str(a.cpu_client), os.path.join(a.build, "rateload"),
           "--addr", "127.0.0.1:%d" % peer.port, "--path", "/", "--rate", str(c["rate"]),
           "--conns", str(c["conns"]), "--duration", str(duration), "--warmup", "0.5"]
    for h in peer.headers:
        cmd += ["--header", h]
    p, cpu_fields = run_measured(a, peer, cmd, duration)
    try:
        res = json.loads(p.stdout)
    except ValueError:
        raise RuntimeError("rateload: exit %d: %s" % (p.returncode, (p.stderr or p.stdout).strip()[-300:]))
    r = {
        "rps": res["achieved_rate"], "requests": res["counted"],
        "p50_us": res["p50_us"], "p90_us": res["p90_us"], "p99_us": res["p99_us"],
        "p99_9_us": res["p999_us"], "max_us": res["max_us"], "response_bytes": None,
        "errors": {"status": res["errors"], "unanswered": res["unanswered"]},
        "valid": res["counted"] > 0 and res["errors"] == 0 and res["unanswered"] == 0,
    }
    # over every request, the warm-up's too, as the CPU time is
    r.update(cpu_fields(res["answered"]))
    return r


def ab_field(out, name):
    for line in out.splitlines():
        if line.startswith(name + ":"):
            return line.split(":", 1)[1].split()[0]
    return None


def run_ab(a, peer, c, duration):
    """ab -k (HTTP/1.0 with Connection: keep-alive) on c["conns"]
    connections for `duration` seconds. ab's percentiles are whole
    milliseconds: only req/s and CPU are kept."""
    cmd = ["taskset", "-c", str(a.cpu_client), "ab", "-k", "-q", "-c", str(c["conns"]),
           "-t", str(duration), "-n", "100000000"]
    for h in peer.headers:
        cmd += ["-H", h]
    cmd.append("http://127.0.0.1:%d/" % peer.port)
    p, cpu_fields = run_measured(a, peer, cmd, duration)
    n, rps = ab_field(p.stdout, "Complete requests"), ab_field(p.stdout, "Requests per second")
    if p.returncode != 0 or n is None or rps is None:
        raise RuntimeError("ab: exit %d: %s" % (p.returncode, (p.stderr or p.stdout).strip()[-300:]))
    n = int(n)
    failed = int(ab_field(p.stdout, "Failed requests") or 0)
    non2xx = int(ab_field(p.stdout, "Non-2xx responses") or 0)
    r = {
        "rps": float(rps), "requests": n,
        "p50_us": None, "p90_us": None, "p99_us": None, "p99_9_us": None, "max_us": None,
        "response_bytes": None,
        "errors": {"status": non2xx, "failed": failed},
        "valid": n > 0 and non2xx == 0 and failed <= 0.001 * n,
    }
    r.update(cpu_fields(n))
    return r


def run_wrk(a, peer, conns, duration, close):
    cmd = ["taskset", "-c", str(a.cpu_client), "wrk", "-t1", "-c%d" % conns,
           "-d%ds" % duration, "--latency", "-s", os.path.join(HERE, "wrk_report.lua")]
    if close:
        cmd += ["-H", "Connection: close"]
    for h in peer.headers:
        cmd += ["-H", h]
    cmd.append("http://127.0.0.1:%d/" % peer.port)
    if VERBOSE:
        log("  $ " + " ".join(cmd))
    waited, load = wait_quiet(min(5.0, a.quiet_wait - a.quiet_spent),
                              cpus=(a.cpu_client, a.cpu_proxy))
    a.quiet_spent += waited
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    s0, c0, u0, t0 = cpu_stat(), cpu_seconds(peer.proc.pid), cpu_seconds(a.up_pid), time.monotonic()
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 30)
    s1, c1, u1, t1 = cpu_stat(), cpu_seconds(peer.proc.pid), cpu_seconds(a.up_pid), time.monotonic()
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    wrk_cpu = (r1.ru_utime + r1.ru_stime) - (r0.ru_utime + r0.ru_stime)
    wall = t1 - t0
    res = None
    for line in p.stdout.splitlines():
        if line.startswith("WRKJSON "):
            res = json.loads(line[8:])
    if p.returncode != 0 or res is None:
        raise RuntimeError("wrk: exit %d: %s" % (p.returncode, (p.stderr or p.stdout).strip()[-300:]))
    secs = res["duration_us"] / 1e6
    errs = sum(res["errors"].values())
    return {
        "rps": round(res["requests"] / secs, 1) if secs else 0.0,
        "requests": res["requests"],
        "p50_us": res["latency_us"]["p50"], "p90_us": res["latency_us"]["p90"],
        "p99_us": res["latency_us"]["p99"], "p99_9_us": res["latency_us"]["p99_9"],
        "max_us": res["latency_us"]["max"], "mean_us": res["latency_us"]["mean"],
        "errors": res["errors"],
        "response_bytes": round(res["bytes"] / res["requests"], 1) if res["requests"] else None,
        "valid": res["requests"] > 0 and res["errors"]["status"] == 0
        and errs <= 0.001 * res["requests"],
        "proxy_cpu_pct": round(100.0 * (c1 - c0) / secs, 1) if secs else None,
        # the proxy's CPU time (user + system, which includes the softirq
        # work done in its context) per request: its cost, whether or not
        # the client side was the bottleneck, and blind to other tenants
        "cpu_us_per_req": round(1e6 * (c1 - c0) / res["requests"], 2)
        if res["requests"] else None,
        # all the time the proxy's CPU was busy per request, and the part of
        # that CPU other processes took (another tenant's load, if any)
        "cpu1_us_per_req": round(1e6 * busy_seconds(s0, s1, a.cpu_proxy) / res["requests"], 2)
        if res["requests"] else None,
        "other_on_proxy_cpu_pct": round(max(0.0, busy(s0, s1, a.cpu_proxy)
                                            - 100.0 * (c1 - c0) / wall), 1),
        # the client CPU's time taken by neither wrk nor the upstream
        "other_on_client_cpu_pct": round(max(0.0, busy(s0, s1, a.cpu_client)
                                             - 100.0 * (wrk_cpu + u1 - u0) / wall), 1),
        "wrk_cpu_pct": round(100.0 * wrk_cpu / wall, 1),
        "upstream_cpu_pct": round(100.0 * (u1 - u0) / wall, 1),
        "quiet_wait_s": waited, "load_before_pct": load,
        "cpu_busy_pct": {"client": busy(s0, s1, a.cpu_client), "proxy": busy(s0, s1, a.cpu_proxy)},
        "duration_s": round(secs, 3),
    }


# -------------------------------------------------------------------- main

def cases_of(a):
    cs = [{"id": "keepalive_c%d" % c, "kind": "keepalive", "conns": c, "close": False}
          for c in a.conns]
    cs.append({"id": "close_c%d" % a.close_conns, "kind": "close", "conns": a.close_conns,
               "close": True})
    if a.rate:
        cs.append({"id": "rate_r%d" % a.rate, "kind": "rate", "conns": 50, "close": False,
                   "rate": a.rate})
    if a.http10_conns:
        cs.append({"id": "http10_c%d" % a.http10_conns, "kind": "http10",
                   "conns": a.http10_conns, "close": False})
    return cs


def summarize(runs, peers, cases):
    medians, ratios = {}, {}
    for c in cases:
        m = {}
        for p in peers:
            rs = [r for r in runs if r["case"] == c["id"] and r["peer"] == p and r.get("valid")]
            if not rs:
                continue
            m[p] = {k: med([r[k] for r in rs]) for k in
                    ("rps", "p50_us", "p90_us", "p99_us", "p99_9_us", "proxy_cpu_pct",
                     "cpu_us_per_req", "response_bytes")}
            m[p]["client_cpu_busy_pct"] = med([r["cpu_busy_pct"]["client"] for r in rs])
            m[p]["other_on_proxy_cpu_pct"] = med([r.get("other_on_proxy_cpu_pct") for r in rs])
            m[p]["runs"] = len(rs)
            m[p]["invalid_runs"] = len([r for r in runs if r["case"] == c["id"]
                                        and r["peer"] == p and not r.get("valid")])
        medians[c["id"]] = m
        rt = {}
        for num, den in (("weir", "nginx"), ("weir", "haproxy"), ("haproxy", "nginx"),
                         ("weir_plugins", "nginx"), ("weir_plugins", "weir")):
            if num in m and den in m:
                rt["%s/%s" % (num, den)] = {
                    k: round(m[num][k] / m[den][k], 3)
                    if m[den][k] and m[num][k] is not None else None
                    for k in ("rps", "p50_us", "p99_us", "cpu_us_per_req")}
        ratios[c["id"]] = rt
    return medians, ratios


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tmp", required=True)
    ap.add_argument("--build", default="build")
    ap.add_argument("--out-dir", default="bench/results")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--rounds", type=int)
    ap.add_argument("--duration", type=int)
    ap.add_argument("--conns", default="10,50,200")
    ap.add_argument("--close-conns", type=int, default=50)
    ap.add_argument("--rate", type=int, default=20000,
                    help="the fixed-rate case's requests a second (0: none); below every "
                         "peer's ceiling")
    ap.add_argument("--http10-conns", type=int, default=50,
                    help="connections of the HTTP/1.0 keepalive case, ab -k (0: none)")
    ap.add_argument("--idle-conns", type=int, default=5000)
    ap.add_argument("--mem-rounds", type=int)
    ap.add_argument("--peers", default="weir,weir_plugins,nginx,haproxy")
    ap.add_argument("--port-base", type=int, default=9080)
    ap.add_argument("--nginx-keepalive", type=int, default=256,
                    help="nginx's upstream idle pool; below the client count it reconnects")
    ap.add_argument("--quiet-wait", type=float,
                    help="in all, wait up to this many seconds (5 s a run at most) for the "
                         "CPUs to be idle before runs (other tenants); default 90, quick 0")
    ap.add_argument("--cpu-proxy", type=int, default=1)
    ap.add_argument("--cpu-client", type=int, default=0)
    ap.add_argument("--command", default="bench/http/run.sh")
    a = ap.parse_args()
    a.rounds = a.rounds or (2 if a.quick else 5)
    a.duration = a.duration or (2 if a.quick else 5)
    a.mem_rounds = a.mem_rounds or (1 if a.quick else 3)
    if a.quiet_wait is None:
        a.quiet_wait = 0.0 if a.quick else 90.0
    a.quiet_wait = min(a.quiet_wait, 300.0)
    a.quiet_spent = 0.0
    a.conns = [int(x) for x in a.conns.split(",")]
    a.rounds = min(a.rounds, 20)
    a.duration = min(a.duration, 60)

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = a.idle_conns + 1024
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(max(want, soft), hard), hard))
    if resource.getrlimit(resource.RLIMIT_NOFILE)[0] < want:
        sys.exit("httpbench.py: ulimit -n is below %d: raise it (run.sh does)" % want)
    os.sched_setaffinity(0, {a.cpu_client})

    t_start = time.monotonic()
    procs = Procs(os.path.join(a.tmp, "pids"))

    def on_term(sig, frame):
        raise KeyboardInterrupt("signal %d" % sig)
    signal.signal(signal.SIGTERM, on_term)

    a.versions = versions()
    env = environment()
    up_port = a.port_base
    cases = cases_of(a)
    runs, memory = [], {}
    try:
        log("== upstream: nginx serving %d bytes on 127.0.0.1:%d (CPU %d)"
            % (len(BODY), up_port, a.cpu_client))
        if not port_free(up_port):
            sys.exit("httpbench.py: 127.0.0.1:%d already in use" % up_port)
        d = make_dir(a.tmp, "upstream")
        with open(os.path.join(d, "www", "body.txt"), "wb") as f:
            f.write(BODY)
        os.chmod(a.tmp, 0o755)
        up_conf = fill("upstream.nginx.conf", os.path.join(d, "nginx.conf"), DIR=d, PORT=up_port)
        up = procs.spawn(nginx_argv(d, up_conf), a.cpu_client, os.path.join(a.tmp, "upstream.log"))
        try:
            wait_listen(up_port, up)
        except RuntimeError as e:
            with open(os.path.join(d, "error.log"), errors="replace") as f:
                sys.exit("httpbench.py: upstream nginx %s: %s" % (e, f.read().strip()[-500:]))
        a.up_pid = up.pid
        st, body = http_get(up_port)
        if st != 200 or body != BODY:
            sys.exit("httpbench.py: upstream answered %d %r" % (st, body))

        peers = make_peers(a, up_port)
        for p in peers:  # check each starts and serves; reason kept if not
            if start_peer(procs, a, p):
                stop_peer(procs, p)
        avail = [p for p in peers if p.available]
        if not avail:
            sys.exit("httpbench.py: no peer could be started")
        log("== peers: %s; missing: %s" % (
            ", ".join(p.name for p in avail),
            ", ".join("%s (%s)" % (p.name, p.reason) for p in peers if not p.available) or "none"))

        log("== memory: %d idle keepalive connections per peer, %d round(s), fresh process each"
            % (a.idle_conns, a.mem_rounds))
        for r in range(a.mem_rounds):
            for p in rotated(avail, r):
                # weir_plugins is weir's binary: its idle connections cost
                # the same, and the idle opener sends no credentials
                if p.available and not p.headers:
                    m = measure_idle(procs, a, p)
                    if m is not None:
                        memory.setdefault(p.name, []).append(m)

        avail = [p for p in peers if p.available]
        log("== throughput: %d rounds x %d s per run; proxies on CPU %d, wrk and upstream on CPU %d"
            % (a.rounds, a.duration, a.cpu_proxy, a.cpu_client))
        for p in avail:
            if start_peer(procs, a, p):
                try:
                    run_wrk(a, p, 50, 1, False)  # warm-up, not recorded
                except (RuntimeError, subprocess.TimeoutExpired) as e:
                    log("   %s warm-up failed: %s" % (p.name, e))
        for r in range(a.rounds):
            for c in cases:
                for p in rotated(avail, r):
                    if not p.available:
                        continue
                    try:
                        if c["kind"] == "rate":
                            res = run_rate(a, p, c, a.duration)
                        elif c["kind"] == "http10":
                            res = run_ab(a, p, c, a.duration)
                        else:
                            res = run_wrk(a, p, c["conns"], a.duration, c["close"])
                    except (RuntimeError, subprocess.TimeoutExpired) as e:
                        res = {"valid": False, "error": str(e)}
                    if p.proc.poll() is not None:
                        # a crash is a finding; so is being stopped by someone
                        # else on a shared machine: recorded, then restarted
                        # (twice at most) so that one incident costs one run
                        what = "exited with status %d during %s, round %d" % (
                            p.proc.returncode, c["id"], r + 1)
                        tail = log_tail(os.path.join(a.tmp, "%s.log" % p.name))
                        p.incidents.append(what + (" (log: %s)" % tail if tail else ""))
                        log("   %s %s" % (p.name, p.incidents[-1]))
                        res["valid"] = False
                        res["error"] = what
                        procs.stop(p.proc)
                        p.proc = None
                        if len(p.incidents) > 2:
                            p.available = False
                            p.reason = "stopped after %d exits: %s" % (
                                len(p.incidents), "; ".join(p.incidents))
                        elif start_peer(procs, a, p):
                            log("   %s restarted" % p.name)
                    res.update({"round": r + 1, "case": c["id"], "peer": p.name,
                                "conns": c["conns"], "close": c["close"]})
                    runs.append(res)
                    log("   round %d %-14s %-8s %9s req/s  p50 %6s us  p99 %6s us  %s CPU-us/req  "
                        "proxy CPU %s%%  client CPU %s%%%s" % (
                            r + 1, c["id"], p.name, res.get("rps"), res.get("p50_us"),
                            res.get("p99_us"), res.get("cpu_us_per_req"), res.get("proxy_cpu_pct"),
                            (res.get("cpu_busy_pct") or {}).get("client"),
                            "" if res.get("valid") else "  INVALID %s" % (
                                res.get("error") or res.get("errors"))))
        for p in peers:
            stop_peer(procs, p)
        procs.stop(up)
    finally:
        procs.stop_all()

    names = [p.name for p in peers]
    os.makedirs(a.out_dir, exist_ok=True)
    jpath = os.path.join(a.out_dir, "http.json")
    try:
        medians, ratios = summarize(runs, names, cases)
    except Exception:
        with open(jpath, "w") as f:  # keep the raw figures of a long run
            json.dump({"error": "summary failed", "runs": runs, "memory": memory}, f, indent=1)
        raise
    mem_summary = {}
    for name, ms in memory.items():
        mem_summary[name] = {
            "rounds": ms,
            "bytes_per_conn": med([m["bytes_per_conn"] for m in ms]),
            "rss_before": med([m["rss_before"] for m in ms]),
            "rss_after": med([m["rss_after"] for m in ms]),
        }
    for num, den in (("weir", "nginx"), ("weir", "haproxy")):
        if (num in mem_summary and den in mem_summary and mem_summary[den]["bytes_per_conn"]
                and mem_summary[num]["bytes_per_conn"] is not None):
            mem_summary.setdefault("ratios", {})["%s/%s" % (num, den)] = round(
                mem_summary[num]["bytes_per_conn"] / mem_summary[den]["bytes_per_conn"], 3)

    out = {
        "benchmark": "http",
        "command": a.command,
        "mode": "quick" if a.quick else "full",
        "elapsed_s": round(time.monotonic() - t_start),
        "environment": env,
        "versions": a.versions,
        "git": git_rev(),
        "setup": {
            "upstream": "nginx %s, 1 worker, static file of %d bytes, 127.0.0.1:%d"
                        % (a.versions["nginx"], len(BODY), up_port),
            "pinning": {"proxy_cpu": a.cpu_proxy, "client_cpu": a.cpu_client,
                        "note": "each proxy on its CPU; wrk, the upstream and the driver on "
                                "the other"},
            "wrk": "wrk -t1 -cN -dDs --latency -s bench/http/wrk_report.lua [-H 'Connection: close']",
            "rateload": "build/rateload --rate R --conns 50 --duration D --warmup 0.5"
                        if a.rate else None,
            "ab": "ab -k -q -c N -t D -n 100000000" if a.http10_conns else None,
            "duration_s": a.duration, "rounds": a.rounds, "conns": a.conns,
            "close_conns": a.close_conns, "idle_conns": a.idle_conns,
            "mem_rounds": a.mem_rounds, "body_bytes": len(BODY),
            "request_bytes": {"keepalive": wrk_request_bytes(a.port_base + 1, False),
                              "close": wrk_request_bytes(a.port_base + 1, True)},
            "cases": cases,
            "nginx_keepalive": a.nginx_keepalive, "quiet_wait_s": a.quiet_wait,
            "quiet_waited_s": round(a.quiet_spent, 1),
            "valid_run": "no non-2xx/3xx responses and socket errors <= 0.1% of requests",
        },
        "peers": {p.name: {"desc": p.desc, "port": p.port, "available": p.available,
                           "reason": p.reason, "incidents": p.incidents, "argv": safe_argv(p),
                           "config": "bench/http/" + p.template if p.template else None}
                  for p in peers},
        "runs": runs,
        "medians": medians,
        "ratios": ratios,
        "memory": mem_summary,
    }
    with open(jpath, "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")
    import httpreport  # noqa: E402 (matplotlib only needed here)
    httpreport.write_all(out, a.out_dir)
    log("== wrote %s, http.md, http_rps.png, http_latency.png (%d s)"
        % (jpath, out["elapsed_s"]))


def safe_argv(p):
    try:
        return " ".join(p.argv())
    except RuntimeError:
        return None



if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt as e:
        log("httpbench.py: interrupted (%s); stopped everything it started" % e)
        sys.exit(130)
