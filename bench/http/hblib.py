#!/usr/bin/python3
"""hblib.py - the helpers of bench/http/httpbench.py: the processes it starts
(recorded for run.sh's trap), /proc readers (RSS, CPU time, per-CPU busy), a
minimal HTTP/1.1 client, the idle-connection client, versions.
"""
import datetime
import errno
import os
import platform
import selectors
import signal
import socket
import subprocess
import sys
import time

VERBOSE = os.environ.get("V") == "1"


def log(msg):
    print(msg, file=sys.stderr, flush=True)

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


def http_get(port, timeout=3.0, headers=()):
    """One GET over a fresh connection, with extra header lines; returns
    (status, body)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        extra = "".join("%s\r\n" % h for h in headers)
        s.sendall(("GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n%sConnection: close\r\n\r\n"
                   % extra).encode())
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


def wait_quiet(max_wait, threshold=15.0, cpus=(0, 1)):
    """Waits (at most max_wait seconds) until no CPU in cpus is busier than
    threshold percent over 0.3 s: other tenants of a shared machine. Returns
    (seconds waited, the busiest CPU's figure in the last sample)."""
    t0 = None
    while True:
        a = cpu_stat()
        time.sleep(0.3)
        b = cpu_stat()
        worst = max((busy(a, b, c) or 0.0) for c in cpus)
        if t0 is None:
            t0 = time.monotonic()  # the first look is not waiting
        waited = time.monotonic() - t0
        if worst <= threshold or waited >= max_wait:
            return round(waited, 1), worst
        time.sleep(0.7)


def log_tail(path, lines=3, limit=300):
    try:
        with open(path, errors="replace") as f:
            return " | ".join(f.read().strip().splitlines()[-lines:])[-limit:]
    except OSError:
        return ""


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
    ng = first_line(["nginx", "-v"]).replace("nginx version: ", "").replace("nginx/", "")
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

def git_rev():
    try:
        rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                             text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "userspace"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return rev + (" + uncommitted changes in userspace/" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"
