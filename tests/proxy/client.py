#!/usr/bin/env python3
"""tests/proxy/client.py - raw-socket HTTP/1.1 clients for the cases curl
cannot make: exact bytes on the wire, pipelining, stalls, WebSocket frames.
Each command prints one short line the shell test compares. With WEIR_TLS_CA
(and WEIR_TLS_SNI) in the environment, each goes over TLS (test_tls.sh).

    client.py send PORT REQ [TIMEOUT]     REQ with \\r\\n escapes; prints the
                                          status of the answer and "closed" when
                                          the connection ended after it
    client.py statuses PORT REQ [METHODS] REQ holding several requests; prints the
                                          status of each answer, then "closed";
                                          METHODS: theirs, comma-separated, if not GET
    client.py pipeline PORT               six requests in one write
    client.py head-get PORT               HEAD then GET on one connection
    client.py expect PORT                 Expect: 100-continue, body after the 100
    client.py ws PORT [EAGER]             WebSocket handshake and echo (EAGER 1: the
                                          first frame in the handshake's write)
    client.py ws-hold PORT TIMEOUT        open a WebSocket, wait for weir to close it
    client.py half-close PORT METHOD      a request, then shutdown(SHUT_WR) at once
    client.py eject-return PORT PATH      on one connection (one worker): requests to
                                          PATH until node B fails, four more, then
                                          until B serves again (ejection over)
    client.py stall-read PORT BYTES SECS  ask for BYTES, read nothing for SECS, then
                                          read what comes: "cut" if weir gave up
    client.py idle PORT TIMEOUT           one request, then wait for the close
    client.py slow-reader PORT PID BYTES  download, not reading for a second;
                                          prints the sha check and weir's peak RSS
    client.py hold PORT TIMEOUT           open a connection and wait for the close
    client.py big-pipeline PORT CHUNKED   a 300 kB POST and a GET in one write
    client.py http10 PORT PATH [KEEP] [METHOD]  an HTTP/1.0 GET (KEEP 1:
                                          Connection: keep-alive) read as HTTP/1.0
                                          reads: the status, Transfer-Encoding and
                                          Content-Length ("-": none), the body length,
                                          its sha check (X-Body-Sha256; "-" for a
                                          HEAD), "closed" or "open"
    client.py abort PORT up|down          go away half-way through a 50 MB body
    client.py early PORT                  a 17 MB body of requests to an upstream
                                          that answers 413 without reading it
"""
import base64
import codecs
import hashlib
import json
import os
import socket
import ssl
import sys
import threading
import time

from sockreader import Closed, Reader


class Resp:
    def __init__(self):
        self.status = 0
        self.headers = []
        self.body = b""
        self.chunked = False

    def h(self, name):
        for k, v in self.headers:
            if k.lower() == name:
                return v
        return None


def read_resp(rd, method="GET"):
    r = Resp()
    line = rd.line().decode("latin-1")
    r.status = int(line.split(" ")[1])
    while True:
        h = rd.line().decode("latin-1").rstrip("\r\n")
        if not h:
            break
        k, _, v = h.partition(":")
        r.headers.append((k, v.strip()))
    if method == "HEAD" or r.status < 200 or r.status in (204, 304):
        return r
    te = r.h("transfer-encoding")
    if te and te.lower() == "chunked":
        r.chunked = True
        parts = []
        while True:
            n = int(rd.line().split(b";")[0].strip(), 16)
            if n == 0:
                while rd.line() not in (b"\r\n", b"\n"):
                    pass
                break
            parts.append(rd.exact(n))
            rd.exact(2)
        r.body = b"".join(parts)
    elif r.h("content-length") is not None:
        r.body = rd.exact(int(r.h("content-length")))
    else:
        r.body = rd.rest()
    return r


def connect(port, timeout=10):
    """With WEIR_TLS_CA set (a CA file), over TLS, verified, with the SNI
    WEIR_TLS_SNI: every command works the same through a TLS listener."""
    s = socket.create_connection(("127.0.0.1", int(port)), timeout=timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if os.environ.get("WEIR_TLS_CA"):
        ctx = ssl.create_default_context(cafile=os.environ["WEIR_TLS_CA"])
        s = ctx.wrap_socket(s, server_hostname=os.environ.get("WEIR_TLS_SNI", "localhost"))
    return s


def unescape(s):
    return codecs.escape_decode(s.encode())[0]


def cmd_send(port, req, timeout="5"):
    s = connect(port, float(timeout))
    rd = Reader(s)
    s.sendall(unescape(req))
    try:
        r = read_resp(rd)
    except (Closed, ConnectionError):
        print("closed-without-answer")
        return
    except socket.timeout:
        print("timeout")
        return
    out = str(r.status)
    if rd.closed(float(timeout)):
        out += " closed"
    print(out)


def cmd_statuses(port, req, methods=""):
    s = connect(port, 5)
    rd = Reader(s)
    s.sendall(unescape(req))
    out = []
    methods = methods.split(",") if methods else []
    try:
        while True:
            m = methods[len(out)] if len(out) < len(methods) else "GET"
            out.append(str(read_resp(rd, m).status))
    except (Closed, ConnectionError):
        out.append("closed")
    except socket.timeout:
        out.append("open")
    print(" ".join(out))


def cmd_pipeline(port):
    s = connect(port)
    rd = Reader(s)
    reqs = (b"GET /echo?i=1 HTTP/1.1\r\nHost: p\r\n\r\n"
            b"POST /echo?i=2 HTTP/1.1\r\nHost: p\r\nContent-Length: 5\r\n\r\nhello"
            b"POST /echo?i=3 HTTP/1.1\r\nHost: p\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"3\r\nabc\r\n0\r\n\r\n"
            b"GET /status/204 HTTP/1.1\r\nHost: p\r\n\r\n"
            b"HEAD /big?n=777 HTTP/1.1\r\nHost: p\r\n\r\n"
            b"GET /echo?i=6 HTTP/1.1\r\nHost: p\r\nConnection: close\r\n\r\n")
    s.sendall(reqs)
    out = []
    for method in ("GET", "POST", "POST", "GET", "HEAD", "GET"):
        r = read_resp(rd, method)
        if r.status == 200 and r.h("content-type") == "application/json":
            j = json.loads(r.body)
            out.append("%d:%s:%d" % (r.status, j["target"], j["body_len"]))
        else:
            out.append("%d:%s" % (r.status, r.h("content-length")))
    out.append("closed" if rd.closed(5) else "open")
    print(" ".join(out))


def cmd_head_get(port):
    s = connect(port)
    rd = Reader(s)
    s.sendall(b"HEAD /big?n=5000 HTTP/1.1\r\nHost: h\r\n\r\n")
    r1 = read_resp(rd, "HEAD")
    s.sendall(b"GET /big?n=10 HTTP/1.1\r\nHost: h\r\n\r\n")
    r2 = read_resp(rd, "GET")
    print(r1.status, r1.h("content-length"), r2.status, len(r2.body))


def cmd_expect(port):
    s = connect(port)
    rd = Reader(s)
    body = b"x" * 100000
    s.sendall(b"POST /100 HTTP/1.1\r\nHost: e\r\nContent-Length: %d\r\n"
              b"Expect: 100-continue\r\n\r\n" % len(body))
    r1 = read_resp(rd)  # must come before we send a byte of the body
    s.sendall(body)
    r2 = read_resp(rd)
    j = json.loads(r2.body)
    print(r1.status, r2.status, j["body_len"],
          "sha-ok" if j["body_sha256"] == hashlib.sha256(body).hexdigest() else "sha-bad")


def ws_frame(op, data, mask):
    b = bytes([0x80 | op])
    if len(data) < 126:
        b += bytes([0x80 | len(data)])
    else:
        b += bytes([0x80 | 126]) + len(data).to_bytes(2, "big")
    return b + mask + bytes(c ^ mask[i % 4] for i, c in enumerate(data))


def read_frame(rd):
    b0, b1 = rd.exact(2)
    n = b1 & 0x7F
    if n == 126:
        n = int.from_bytes(rd.exact(2), "big")
    elif n == 127:
        n = int.from_bytes(rd.exact(8), "big")
    return b0 & 0x0F, rd.exact(n)


def cmd_ws(port, eager="0"):
    """eager=1: the first frame goes in the same write as the handshake."""
    s = connect(port)
    rd = Reader(s)
    key = base64.b64encode(os.urandom(16)).decode()
    msgs = [b"hello", b"x" * 3000, b"last"]
    hs = ("GET /ws HTTP/1.1\r\nHost: w\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
          "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n" % key).encode()
    first = ws_frame(1, msgs[0], os.urandom(4))
    s.sendall(hs + first if eager == "1" else hs)
    r = read_resp(rd)
    want = base64.b64encode(hashlib.sha1(
        (key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest()).decode()
    accept = "accept-ok" if r.h("sec-websocket-accept") == want else "accept-bad"
    echoes = []
    for i, msg in enumerate(msgs):
        if i or eager != "1":
            s.sendall(ws_frame(1, msg, os.urandom(4)))
        op, data = read_frame(rd)
        echoes.append("ok" if op == 1 and data == msg else "bad")
    s.sendall(ws_frame(8, b"\x03\xe8", os.urandom(4)))
    op, _ = read_frame(rd)
    print(r.status, accept, *echoes, "close" if op == 8 else "noclose",
          "closed" if rd.closed(5) else "open")


def cmd_ws_hold(port, timeout):
    s = connect(port)
    rd = Reader(s)
    s.sendall(b"GET /ws?hold=1 HTTP/1.1\r\nHost: w\r\nUpgrade: websocket\r\n"
              b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
              b"Sec-WebSocket-Version: 13\r\n\r\n")
    r = read_resp(rd)
    print(r.status, "closed" if rd.closed(float(timeout)) else "open")


def cmd_half_close(port, method):
    s = connect(port)
    rd = Reader(s)
    body = b"x" * 200000 if method == "POST" else b""
    s.sendall(b"%s /echo?half=1 HTTP/1.1\r\nHost: h\r\nContent-Length: %d\r\n\r\n%s"
              % (method.encode(), len(body), body))
    s.shutdown(socket.SHUT_WR)
    r = read_resp(rd)
    j = json.loads(r.body)
    print(r.status, j["body_len"], "closed" if rd.closed(5) else "open")


def cmd_eject_return(port, path):
    s = connect(port)
    rd = Reader(s)

    def ask():
        s.sendall(b"GET %s HTTP/1.1\r\nHost: e\r\n\r\n" % path.encode())
        r = read_resp(rd)
        return "%s%d" % (r.h("x-name") or "-", r.status)
    out = []
    for _ in range(3):
        a = ask()
        if a == "B502":
            out.append(a)
            break
    out.append(",".join(ask() for _ in range(4)))
    end = time.monotonic() + 10
    while time.monotonic() < end:
        a = ask()
        if a.startswith("B"):
            out.append(a)
            break
        time.sleep(0.1)
    print(" ".join(out))


def cmd_stall_read(port, n, secs):
    s = connect(port, 10)
    s.sendall(b"GET /big?n=%d HTTP/1.1\r\nHost: s\r\n\r\n" % int(n))
    time.sleep(float(secs))
    got = 0
    try:
        while True:
            d = s.recv(1 << 20)
            if not d:
                break
            got += len(d)
    except ConnectionResetError:
        pass
    except socket.timeout:
        print("open")
        return
    print("cut" if got < int(n) else "whole")


def cmd_idle(port, timeout):
    s = connect(port)
    rd = Reader(s)
    s.sendall(b"GET /echo HTTP/1.1\r\nHost: i\r\n\r\n")
    r = read_resp(rd)
    t = time.monotonic()
    closed = rd.closed(float(timeout))
    print(r.status, "closed" if closed else "open", "%.1f" % (time.monotonic() - t))


def rss_kb(pid):
    with open("/proc/%s/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def cmd_slow_reader(port, pid, n):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
    s.settimeout(30)
    s.connect(("127.0.0.1", int(port)))
    rd = Reader(s)
    s.sendall(b"GET /big?n=%d HTTP/1.1\r\nHost: s\r\n\r\n" % int(n))
    peak = rss_kb(pid)
    end = time.monotonic() + 1.0
    while time.monotonic() < end:  # not reading: weir must hold back, not buffer
        peak = max(peak, rss_kb(pid))
        time.sleep(0.05)
    r = read_resp(rd)
    peak = max(peak, rss_kb(pid))
    ok = hashlib.sha256(r.body).hexdigest() == r.h("x-body-sha256") and len(r.body) == int(n)
    print("sha-ok" if ok else "sha-bad", peak)


def cmd_hold(port, timeout):
    s = connect(port)
    print("closed" if Reader(s).closed(float(timeout)) else "open")


def cmd_big_pipeline(port, chunked):
    s = connect(port)
    rd = Reader(s)
    body = os.urandom(300000)
    if chunked == "1":
        head = b"POST /echo?i=1 HTTP/1.1\r\nHost: b\r\nTransfer-Encoding: chunked\r\n\r\n"
        data = b"".join(b"%x\r\n%s\r\n" % (len(body[i:i + 70000]), body[i:i + 70000])
                        for i in range(0, len(body), 70000)) + b"0\r\n\r\n"
    else:
        head = b"POST /echo?i=1 HTTP/1.1\r\nHost: b\r\nContent-Length: %d\r\n\r\n" % len(body)
        data = body
    s.sendall(head + data + b"GET /echo?i=2 HTTP/1.1\r\nHost: b\r\nConnection: close\r\n\r\n")
    j1 = json.loads(read_resp(rd).body)
    j2 = json.loads(read_resp(rd).body)
    print(j1["body_len"], "sha-ok" if j1["body_sha256"] == hashlib.sha256(body).hexdigest()
          else "sha-bad", j2["target"], "closed" if rd.closed(5) else "open")


def cmd_http10(port, path, keep="0", method="GET"):
    s = connect(port)
    rd = Reader(s)
    s.sendall(b"%s %s HTTP/1.0\r\nHost: t\r\n%s\r\n" %
              (method.encode(), path.encode(),
               b"Connection: keep-alive\r\n" if keep == "1" else b""))
    r = read_resp(rd, method)
    sha = r.h("x-body-sha256")
    print(r.status, r.h("transfer-encoding") or "-", r.h("content-length") or "-", len(r.body),
          "-" if method == "HEAD" else
          "sha-ok" if sha == hashlib.sha256(r.body).hexdigest() else "sha-bad",
          "closed" if rd.closed(5) else "open")


def cmd_abort(port, way):
    s = connect(port)
    rd = Reader(s)
    n = 50 * 1024 * 1024
    if way == "down":
        s.sendall(b"GET /big?n=%d HTTP/1.1\r\nHost: a\r\n\r\n" % n)
        got = 0
        while got < 1000000:
            rd.fill()
            got += len(rd.buf)
            rd.buf = b""
    else:
        s.sendall(b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: %d\r\n\r\n" % n)
        s.sendall(b"x" * 1000000)
    s.close()
    print("aborted")


def cmd_early(port):
    s = connect(port, 15)
    unit = b"GET /echo?smuggled=1 HTTP/1.1\r\nHost: s\r\n\r\n" * 1000
    n = 400
    s.sendall(b"POST /reject?drain=0 HTTP/1.1\r\nHost: s\r\nContent-Length: %d\r\n\r\n"
              % (len(unit) * n))

    def send():
        try:
            for _ in range(n):
                s.sendall(unit)
        except OSError:
            pass
    threading.Thread(target=send, daemon=True).start()
    rd = Reader(s)
    out = []
    try:
        while True:
            out.append(str(read_resp(rd).status))
    except (Closed, ConnectionError):
        out.append("closed")
    except socket.timeout:
        out.append("open")
    print(" ".join(out))


def cmd_flood(port, n, path):
    """Pipelines n GETs of path without reading for a second, then reads:
    every request must be answered 502 (a local answer), in full, in order."""
    n = int(n)
    s = connect(port, timeout=10)
    req = ("GET %s HTTP/1.1\r\nHost: f\r\n\r\n" % path).encode() * n
    s.setblocking(False)
    sent, start = 0, time.time()
    while sent < len(req) and time.time() - start < 20:
        try:
            sent += s.send(req[sent:])
        except BlockingIOError:
            time.sleep(0.01)
    time.sleep(1)
    s.setblocking(True)
    s.settimeout(10)
    rd = Reader(s)
    got = 0
    try:
        while got < n and read_resp(rd).status == 502:
            got += 1
    except (Closed, socket.timeout):
        pass
    print("%d/%d" % (got, n))


def cmd_churn(port, secs):
    """Opens, uses and closes connections in a loop for secs seconds."""
    end, ok = time.time() + float(secs), 0
    while time.time() < end:
        try:
            s = connect(port, timeout=2)
            s.sendall(b"GET /echo HTTP/1.1\r\nHost: c\r\nConnection: close\r\n\r\n")
            if s.recv(12).startswith(b"HTTP/1.1"):
                ok += 1
            s.close()
        except OSError:
            pass
    print("ok" if ok else "none")


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    try:
        globals()["cmd_" + cmd.replace("-", "_")](*args)
    except (Closed, ConnectionError, socket.timeout, ValueError) as e:
        print("error:", type(e).__name__, e)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
