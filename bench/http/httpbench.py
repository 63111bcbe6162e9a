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
  - RSS per idle keepalive client connection (N connections, one request
    each, then idle), on a freshly started proxy.
Writes http.json, http.md, http_rps.png and http_latency.png.

Every loop is bounded (fixed rounds, fixed-length wrk runs under a timeout,
deadlines on the idle-connection client); every process started is killed
on the way out. Traffic stays on 127.0.0.1.
"""
import argparse
import datetime
import errno
import json
import os
import platform
import resource
import selectors
import signal
import socket
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
BODY = b"hello world\n"  # 12 bytes
VERBOSE = os.environ.get("V") == "1"


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def med(v):
    v = [x for x in v if x is not None]
    return statistics.median(v) if v else None


# ---------------------------------------------------------------- processes

class Procs:
    """Every long-lived process started here, recorded in TMP/pids (one pid
    a line, each the leader of its own process group) so that run.sh can
    kill them if this script dies; removed from the file once reaped."""

    def __init__(self, pidfile):
        self.pidfile = pidfile
        self.live = {}
        self._write()

    def _write(self):
        tmp = self.pidfile + ".new"
        with open(tmp, "w") as f:
            for pid in self.live:
                f.write("%d\n" % pid)
        os.replace(tmp, self.pidfile)

    def spawn(self, cmd, cpu, logpath):
        full = ["taskset", "-c", str(cpu)] + cmd
        if VERBOSE:
            log("  $ " + " ".join(full))
        with open(logpath, "ab") as lf:
            p = subprocess.Popen(full, stdin=subprocess.DEVNULL, stdout=lf,
                                 stderr=subprocess.STDOUT, start_new_session=True)
        self.live[p.pid] = p
        self._write()
        return p

    def stop(self, p, grace=5.0):
        if p is None or p.pid not in self.live:
            return
        for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
            try:
                os.killpg(p.pid, sig)
            except ProcessLookupError:
                pass
            try:
                p.wait(timeout=wait)
                break
            except subprocess.TimeoutExpired:
                continue
        # workers of the group that outlived their parent
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        del self.live[p.pid]
        self._write()

    def stop_all(self):
        for p in list(self.live.values()):
            self.stop(p, grace=2.0)


def port_free(port):
    s = socket.socket()
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def wait_listen(port, proc, timeout=8.0):
    """Waits until 127.0.0.1:port accepts; fails if proc exits first."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise RuntimeError("exited with status %d before listening" % proc.returncode)
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("not listening on 127.0.0.1:%d after %.0f s" % (port, timeout))


def http_get(port, timeout=3.0):
    """One GET over a fresh connection; returns (status, body)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        s.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        data = b""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
            r = parse_response(data)
            if r is not None:
                break
    finally:
        s.close()
    r = parse_response(data)
    if r is None:
        raise RuntimeError("no complete HTTP response (%d bytes: %r)" % (len(data), data[:80]))
    return r[0], r[1]


def parse_response(data):
    """(status, body) if data holds one complete response, else None."""
    h = data.find(b"\r\n\r\n")
    if h < 0:
        return None
    head = data[:h].decode("latin-1").split("\r\n")
    try:
        status = int(head[0].split()[1])
    except (IndexError, ValueError):
        return (0, b"")
    clen, chunked = None, False
    for line in head[1:]:
        k, _, v = line.partition(":")
        k = k.strip().lower()
        if k == "content-length":
            clen = int(v.strip())
        elif k == "transfer-encoding" and "chunked" in v.lower():
            chunked = True
    rest = data[h + 4:]
    if chunked:
        return (status, rest) if rest.endswith(b"0\r\n\r\n") else None
    if clen is None:
        clen = 0
    return (status, rest[:clen]) if len(rest) >= clen else None


# ------------------------------------------------------------ /proc readers

def proc_tree(root):
    """root and its descendants (processes, not threads)."""
    kids = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                st = f.read()
        except OSError:
            continue
        ppid = int(st[st.rfind(")") + 2:].split()[1])
        kids.setdefault(ppid, []).append(int(d))
    out, todo = [], [root]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(kids.get(p, []))
    return out


def rss_bytes(root):
    total = 0
    for pid in proc_tree(root):
        try:
            with open("/proc/%d/status" % pid) as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1]) * 1024
        except OSError:
            pass
    return total


def cpu_seconds(root):
    hz = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in proc_tree(root):
        try:
            with open("/proc/%d/stat" % pid) as f:
                st = f.read()
        except OSError:
            continue
        fields = st[st.rfind(")") + 2:].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / hz


def cpu_stat():
    out = {}
    with open("/proc/stat") as f:
        for line in f:
            if line.startswith("cpu") and line[3].isdigit():
                p = line.split()
                v = [int(x) for x in p[1:]]
                out[int(p[0][3:])] = (sum(v), v[3] + v[4])  # total, idle+iowait
    return out


def busy(a, b, cpu):
    if cpu not in a or cpu not in b:
        return None
    dt = b[cpu][0] - a[cpu][0]
    di = b[cpu][1] - a[cpu][1]
    return round(100.0 * (dt - di) / dt, 1) if dt > 0 else None


def busy_seconds(a, b, cpu):
    if cpu not in a or cpu not in b:
        return None
    return ((b[cpu][0] - a[cpu][0]) - (b[cpu][1] - a[cpu][1])) / os.sysconf("SC_CLK_TCK")


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
    def __init__(self, name, desc, port, cmd_fn, template=None):
        self.name, self.desc, self.port = name, desc, port
        self.cmd_fn = cmd_fn      # () -> argv, or raises RuntimeError(reason)
        self.template = template  # its config template under bench/http/, if any
        self.proc = None
        self.available = True
        self.reason = None
        self.response_headers = None

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
        status, body = http_get(peer.port)
        if status != 200 or body != BODY:
            raise RuntimeError("GET / gave status %d body %r, want 200 %r" % (status, body, BODY))
        return True
    except (RuntimeError, OSError) as e:
        peer.available = False
        peer.reason = str(e)
        tail = ""
        logpath = os.path.join(a.tmp, "%s.log" % peer.name)
        if os.path.exists(logpath):
            with open(logpath, errors="replace") as f:
                tail = " | ".join(f.read().strip().splitlines()[-3:])
        if tail:
            peer.reason += " (log: %s)" % tail[:300]
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


# ------------------------------------------------------- idle connections

REQ_IDLE = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"


def open_idle(port, n, window=200, timeout=60.0):
    """Opens n keepalive connections to port, at most `window` in progress
    at a time; each sends one request and reads its whole response, then
    stays open and idle. Returns (sockets that completed, failures)."""
    sel = selectors.DefaultSelector()
    done, failed, started, inflight = [], 0, 0, 0
    end = time.monotonic() + timeout
    try:
        while (started < n or inflight) and time.monotonic() < end:
            while started < n and inflight < window:
                s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                s.setblocking(False)
                err = s.connect_ex(("127.0.0.1", port))
                started += 1
                if err not in (0, errno.EINPROGRESS):
                    s.close()
                    failed += 1
                    continue
                sel.register(s, selectors.EVENT_WRITE, [b"", False])
                inflight += 1
            for key, ev in sel.select(timeout=0.5):
                s, st = key.fileobj, key.data
                try:
                    if not st[1]:
                        e = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                        if e:
                            raise OSError(e, os.strerror(e))
                        s.send(REQ_IDLE)  # 35 bytes: one send on a fresh socket
                        st[1] = True
                        sel.modify(s, selectors.EVENT_READ, st)
                        continue
                    chunk = s.recv(65536)
                    if not chunk:
                        raise OSError("closed before the response")
                    st[0] += chunk
                    r = parse_response(st[0])
                    if r is None:
                        continue
                    sel.unregister(s)
                    inflight -= 1
                    if r[0] == 200:
                        done.append(s)
                    else:
                        s.close()
                        failed += 1
                except OSError:
                    sel.unregister(s)
                    inflight -= 1
                    s.close()
                    failed += 1
    finally:
        for key in list(sel.get_map().values()):
            key.fileobj.close()
            failed += 1
        sel.close()
    failed += n - started
    return done, failed


def count_open(socks):
    """How many of socks the peer has not closed (no EOF or error pending)."""
    sel = selectors.DefaultSelector()
    for s in socks:
        sel.register(s, selectors.EVENT_READ)
    closed = 0
    for key, _ in sel.select(timeout=0):
        try:
            if key.fileobj.recv(1, socket.MSG_PEEK) == b"":
                closed += 1
        except OSError:
            closed += 1
    sel.close()
    return len(socks) - closed


def measure_idle(procs, a, peer):
    if not start_peer(procs, a, peer):
        return None
    try:
        for _ in range(3):  # lazy initialisation, the upstream pool
            http_get(peer.port)
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


def run_wrk(a, peer, conns, duration, close):
    cmd = ["taskset", "-c", str(a.cpu_client), "wrk", "-t1", "-c%d" % conns,
           "-d%ds" % duration, "--latency", "-s", os.path.join(HERE, "wrk_report.lua")]
    if close:
        cmd += ["-H", "Connection: close"]
    cmd.append("http://127.0.0.1:%d/" % peer.port)
    if VERBOSE:
        log("  $ " + " ".join(cmd))
    s0, c0 = cpu_stat(), cpu_seconds(peer.proc.pid)
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 30)
    s1, c1 = cpu_stat(), cpu_seconds(peer.proc.pid)
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
        "other_on_proxy_cpu_pct": round(max(0.0, busy(s0, s1, a.cpu_proxy) - 100.0 * (c1 - c0)
                                            / secs), 1) if secs else None,
        "cpu_busy_pct": {"client": busy(s0, s1, a.cpu_client), "proxy": busy(s0, s1, a.cpu_proxy)},
        "duration_s": round(secs, 3),
    }


# ---------------------------------------------------------------- versions

def first_line(cmd):
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
        return (p.stdout + p.stderr).strip().splitlines()[0]
    except (OSError, IndexError, subprocess.SubprocessError):
        return "unknown"


def deb(pkg):
    try:
        return subprocess.run(["dpkg-query", "-W", "-f=${Version}", pkg], capture_output=True,
                              text=True, timeout=10).stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def versions():
    ng = first_line(["nginx", "-v"]).replace("nginx version: ", "")
    ha = first_line(["haproxy", "-v"]).split(" - ")[0].replace("HAProxy version ", "")
    wk = first_line(["wrk", "--version"]).split(" [")[0].replace("wrk ", "")
    return {"nginx": ng, "nginx_deb": deb("nginx-light") if deb("nginx-light") != "unknown"
            else deb("nginx"), "haproxy": ha.split()[0], "haproxy_deb": deb("haproxy"),
            "wrk": wk, "wrk_deb": deb("wrk")}


def environment():
    model = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {"cpu": model, "cpus": os.cpu_count(), "kernel": platform.release(),
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}


# -------------------------------------------------------------------- main

def cases_of(a):
    cs = [{"id": "keepalive_c%d" % c, "kind": "keepalive", "conns": c, "close": False}
          for c in a.conns]
    cs.append({"id": "close_c%d" % a.close_conns, "kind": "close", "conns": a.close_conns,
               "close": True})
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
        for num, den in (("weir", "nginx"), ("weir", "haproxy"), ("haproxy", "nginx")):
            if num in m and den in m:
                rt["%s/%s" % (num, den)] = {
                    k: round(m[num][k] / m[den][k], 3) if m[den][k] else None
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
    ap.add_argument("--idle-conns", type=int, default=5000)
    ap.add_argument("--mem-rounds", type=int)
    ap.add_argument("--peers", default="weir,nginx,haproxy")
    ap.add_argument("--port-base", type=int, default=9080)
    ap.add_argument("--nginx-keepalive", type=int, default=256,
                    help="nginx's upstream idle pool; below the client count it reconnects")
    ap.add_argument("--cpu-proxy", type=int, default=1)
    ap.add_argument("--cpu-client", type=int, default=0)
    ap.add_argument("--command", default="bench/http/run.sh")
    a = ap.parse_args()
    a.rounds = a.rounds or (2 if a.quick else 5)
    a.duration = a.duration or (2 if a.quick else 5)
    a.mem_rounds = a.mem_rounds or (1 if a.quick else 3)
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
                if p.available:
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
                        res = run_wrk(a, p, c["conns"], a.duration, c["close"])
                    except (RuntimeError, subprocess.TimeoutExpired) as e:
                        res = {"valid": False, "error": str(e)}
                    if p.proc.poll() is not None:
                        p.available = False
                        p.reason = "exited with status %d during %s, round %d" % (
                            p.proc.returncode, c["id"], r + 1)
                        log("   %s %s" % (p.name, p.reason))
                        res["valid"] = False
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
            "duration_s": a.duration, "rounds": a.rounds, "conns": a.conns,
            "close_conns": a.close_conns, "idle_conns": a.idle_conns,
            "mem_rounds": a.mem_rounds, "body_bytes": len(BODY),
            "request_bytes": {"keepalive": wrk_request_bytes(a.port_base + 1, False),
                              "close": wrk_request_bytes(a.port_base + 1, True)},
            "cases": cases,
            "nginx_keepalive": a.nginx_keepalive,
            "valid_run": "no non-2xx/3xx responses and socket errors <= 0.1% of requests",
        },
        "peers": {p.name: {"desc": p.desc, "port": p.port, "available": p.available,
                           "reason": p.reason, "argv": safe_argv(p),
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


def git_rev():
    try:
        rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                             text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "userspace"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return rev + (" + uncommitted changes in userspace/" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


if __name__ == "__main__":
    sys.path.insert(0, HERE)
    try:
        main()
    except KeyboardInterrupt as e:
        log("httpbench.py: interrupted (%s); stopped everything it started" % e)
        sys.exit(130)
