#!/usr/bin/env python3
"""tests/proxy/upstream.py - a small real HTTP/1.1 upstream for weir's proxy
tests, stdlib only, one thread per connection.

    upstream.py --port PORT --name NAME --log FILE [--ready FILE] [--unhealthy-if FILE]
    upstream.py --port PORT --blackhole [--ready FILE]
    upstream.py ... --tls CERT KEY      the same over TLS (python's ssl); each
                                        handshake logged: {"ev": "tls", "reused": BOOL}

--blackhole: a listener whose accept queue is kept full, so the kernel drops
every new SYN and connects to it hang (a connect timeout, on 127.0.0.1).

It speaks HTTP/1.1 itself (keepalive, pipelining, Content-Length and chunked
bodies both ways, Expect: 100-continue, HEAD, WebSocket upgrade) so the tests
see exactly what weir sent. Every accepted connection and every request head
is appended to the log as a JSON line, before anything is answered, so once
a client has its response the log already holds the request:

    {"ev": "conn", "conn": N}
    {"ev": "req", "conn": N, "method": ..., "target": ..., "version": ...,
     "headers": [[name, value], ...]}

Behaviour by path (the first segment; anything else is /echo):
  /echo           JSON: method, target, headers, body length and sha256, name
  /big?n=B        B bytes of a fixed pattern, Content-Length; X-Body-Sha256
  /chunked?n=B&chunk=C   the same pattern, chunked (te=V: "Transfer-Encoding: V"
                  said, the body chunked all the same)
  /eof-body?n=B   no Content-Length: the body ends when the connection does
  /slow-head?ms=M wait M ms, then answer like /echo
  /slow-body?ms=M&n=B  head and half the body, wait M ms, the rest
  /status/NNN     answer with status NNN
  /close          read the request, close without answering
  /fail-on/NAME   502 if this upstream is NAME, else /echo
  /100            send 100 Continue before reading the body, then /echo
  /ws             WebSocket handshake (101), then echo every frame
  /reject         413 at once, without reading the body; then a lingering close
                  (?drain=0: read nothing for 2 s, then close)
  /big-head?n=B   a response head with a B-byte header field
  /healthz        200 "ok", or 503 while the --unhealthy-if FILE exists (a
                  health check failing while the node serves everything else)
  /cache/...      a response for cache tests, with a Date field and what the
                  query asks for: cc=V (Cache-Control), vary=V, expires=+N or -N
                  (seconds from now) or a raw value, age=N, cookie=1
                  (Set-Cookie), status=NNN; the body is "NAME TARGET #K\n" (K:
                  how many times this upstream got this target, so a fresh
                  fetch differs from a stored one), or n=B bytes of the
                  pattern with X-Body-Sha256 (chunk=C: chunked, C-byte chunks;
                  die=1: the head and half the body, then the connection closes)
Any request with ?close=1 in its target is answered, then the connection is
closed without a "Connection: close" (a keepalive connection dying under a
proxy's pool).
Every response carries X-Name (the --name) and X-Conn (the connection number).
"""
import argparse
import base64
import email.utils
import hashlib
import json
import os
import random
import socket
import socketserver
import ssl
import sys
import threading
import time
import urllib.parse

from sockreader import Closed, Reader

BLOCK = random.Random(1234).randbytes(65536)
_sha_cache = {}
_sha_lock = threading.Lock()


def pattern_sha(n):
    with _sha_lock:
        if n in _sha_cache:
            return _sha_cache[n]
    h = hashlib.sha256()
    for c in pattern_chunks(n):
        h.update(c)
    d = h.hexdigest()
    with _sha_lock:
        _sha_cache[n] = d
    return d


def pattern_chunks(n, size=len(BLOCK)):
    """The first n bytes of BLOCK repeated, in pieces of at most size."""
    pos = 0
    while pos < n:
        off = pos % len(BLOCK)
        k = min(n - pos, size, len(BLOCK) - off)
        yield BLOCK[off:off + k]
        pos += k


class Log:
    def __init__(self, path):
        self.f = open(path, "a", buffering=1)
        self.lock = threading.Lock()
        self.conns = 0

    def conn(self):
        with self.lock:
            self.conns += 1
            n = self.conns
            self.f.write(json.dumps({"ev": "conn", "conn": n}) + "\n")
            return n

    def event(self, **kw):
        with self.lock:
            self.f.write(json.dumps(kw) + "\n")

    def req(self, **kw):
        with self.lock:
            self.f.write(json.dumps(dict(ev="req", **kw)) + "\n")


class Handler(socketserver.BaseRequestHandler):
    def setup(self):
        self.sock = self.request
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self.server.tls:
            # The handshake in this connection's thread; one that fails
            # (a client refusing our certificate) is logged and dropped.
            try:
                self.sock = self.server.tls.wrap_socket(self.sock, server_side=True)
                self.server.log.event(ev="tls", reused=self.sock.session_reused)
            except (ssl.SSLError, OSError) as e:
                self.server.log.event(ev="tls-fail", why=str(e))
                self.sock = None
                return
        self.rd = Reader(self.sock)
        self.conn_id = self.server.log.conn()
        self.name = self.server.name

    def handle(self):
        if self.sock is None:
            return
        try:
            while self.one():
                pass
        except (Closed, ConnectionError, OSError):
            pass

    # -- reading -----------------------------------------------------------
    def read_head(self):
        line = self.rd.line()
        while line in (b"\r\n", b"\n"):  # tolerated between messages
            line = self.rd.line()
        parts = line.decode("latin-1").rstrip("\r\n").split(" ")
        if len(parts) != 3:
            raise Closed()
        method, target, version = parts
        headers = []
        while True:
            h = self.rd.line().decode("latin-1").rstrip("\r\n")
            if not h:
                break
            name, _, value = h.partition(":")
            headers.append([name, value.strip()])
        return method, target, version, headers

    def read_body(self, headers, sink):
        te = hdr(headers, "transfer-encoding")
        if te is not None:
            if te.lower() != "chunked":
                raise Closed()
            while True:
                size = int(self.rd.line().split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rd.line() not in (b"\r\n", b"\n"):
                        pass  # trailers
                    return
                left = size
                while left:
                    d = self.rd.some(min(left, 262144))
                    sink(d)
                    left -= len(d)
                self.rd.exact(2)
        n = int(hdr(headers, "content-length") or 0)
        while n:
            d = self.rd.some(min(n, 262144))
            sink(d)
            n -= len(d)

    # -- writing -----------------------------------------------------------
    def head(self, status, headers, reason=None):
        reason = reason or {100: "Continue", 101: "Switching Protocols", 200: "OK",
                            204: "No Content", 304: "Not Modified", 404: "Not Found",
                            502: "Bad Gateway"}.get(status, "Status")
        out = "HTTP/1.1 %d %s\r\n" % (status, reason)
        out += "X-Name: %s\r\nX-Conn: %d\r\n" % (self.name, self.conn_id)
        for k, v in headers:
            out += "%s: %s\r\n" % (k, v)
        self.sock.sendall((out + "\r\n").encode("latin-1"))

    def one(self):
        method, target, version, headers = self.read_head()
        url = urllib.parse.urlsplit(target)
        q = dict(urllib.parse.parse_qsl(url.query))
        path = url.path
        seg = path.split("/")[1] if path.count("/") else ""
        self.server.log.req(conn=self.conn_id, method=method, target=target,
                            version=version, headers=headers)
        conn = (hdr(headers, "connection") or "").lower()
        keep = version == "HTTP/1.1" and "close" not in conn
        is_head = method == "HEAD"

        if seg == "100" or (hdr(headers, "expect") or "").lower() == "100-continue":
            self.sock.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
        h = hashlib.sha256()
        blen = [0]

        def sink(d):
            h.update(d)
            blen[0] += len(d)

        if seg == "close":
            return False
        if seg == "reject":
            self.head(413, [("Content-Length", 9), ("Connection", "close")])
            self.sock.sendall(b"rejected\n")
            if q.get("drain") == "0":
                time.sleep(2)
                return False
            self.sock.shutdown(socket.SHUT_WR)
            self.sock.settimeout(5)
            while self.sock.recv(262144):
                pass
            return False
        if seg == "big-head":
            n = int(q.get("n", "0"))
            self.read_body(headers, sink)
            self.head(200, [("X-Big", "v" * n), ("Content-Length", 0)])
            return keep
        if seg == "ws":
            return self.websocket(headers)
        self.read_body(headers, sink)
        status = 200
        extra = []
        body = None
        gen = None

        if seg == "big":
            n = int(q.get("n", "0"))
            extra = [("Content-Length", n), ("X-Body-Sha256", pattern_sha(n)),
                     ("Content-Type", "application/octet-stream")]
            gen = pattern_chunks(n)
        elif seg == "chunked":
            n = int(q.get("n", "0"))
            size = int(q.get("chunk", "8192"))
            extra = [("Transfer-Encoding", q.get("te", "chunked")),
                     ("X-Body-Sha256", pattern_sha(n)),
                     ("Content-Type", "application/octet-stream")]
            gen = (b"%x\r\n%s\r\n" % (len(c), c) for c in
                   list(pattern_chunks(n, size)) + [b""])
        elif seg == "eof-body":
            n = int(q.get("n", "0"))
            extra = [("X-Body-Sha256", pattern_sha(n)),
                     ("Content-Type", "application/octet-stream")]
            self.head(200, extra)
            if not is_head:
                for c in pattern_chunks(n):
                    self.sock.sendall(c)
            return False
        elif seg == "slow-body":
            n = int(q.get("n", "1000"))
            data = b"".join(pattern_chunks(n))
            self.head(200, [("Content-Length", n), ("X-Body-Sha256", pattern_sha(n))])
            if not is_head:
                self.sock.sendall(data[:n // 2])
                time.sleep(int(q.get("ms", "1000")) / 1000)
                self.sock.sendall(data[n // 2:])
            return keep
        elif seg == "status":
            status = int(path.split("/")[2])
            if status not in (204, 304):
                body = b"status %d\n" % status
        elif seg == "healthz":
            bad = self.server.unhealthy_if and os.path.exists(self.server.unhealthy_if)
            status = 503 if bad else 200
            body = b"unhealthy\n" if bad else b"ok\n"
        elif seg == "cache":
            with self.server.log.lock:
                k = self.server.counts.get(target, 0) + 1
                self.server.counts[target] = k
            status = int(q.get("status", "200"))
            extra = [("Date", email.utils.formatdate(usegmt=True))]
            for name, arg in (("Cache-Control", "cc"), ("Vary", "vary"), ("Age", "age")):
                if arg in q:
                    extra.append((name, q[arg]))
            exp = q.get("expires")
            if exp and exp[0] in "+-" and exp[1:].isdigit():
                exp = email.utils.formatdate(time.time() + int(exp), usegmt=True)
            if exp:
                extra.append(("Expires", exp))
            if q.get("cookie") == "1":
                extra.append(("Set-Cookie", "s=%d" % k))
            if "n" in q:
                n = int(q["n"])
                extra.append(("X-Body-Sha256", pattern_sha(n)))
                if "chunk" in q:
                    extra.append(("Transfer-Encoding", "chunked"))
                    gen = (b"%x\r\n%s\r\n" % (len(c), c) for c in
                           list(pattern_chunks(n, int(q["chunk"]))) + [b""])
                else:
                    extra.append(("Content-Length", n))
                    gen = pattern_chunks(n)
                if q.get("die") == "1":  # half the body, then the connection dies
                    self.head(status, extra)
                    self.sock.sendall(b"".join(pattern_chunks(n))[:n // 2])
                    return False
            else:
                body = ("%s %s #%d\n" % (self.name, target, k)).encode()
        elif seg == "fail-on" and path.split("/")[2:3] == [self.name]:
            status = 502
            body = b"failing on purpose\n"
        if seg == "slow-head":
            time.sleep(int(q.get("ms", "1000")) / 1000)
        if body is None and gen is None and status not in (204, 304):
            body = (json.dumps({
                "name": self.name, "conn": self.conn_id, "method": method,
                "target": target, "version": version, "headers": headers,
                "body_len": blen[0], "body_sha256": h.hexdigest(),
            }) + "\n").encode()
            extra = [("Content-Type", "application/json")]
        if body is not None:
            extra = extra + [("Content-Length", len(body))]
        if not keep:
            extra.append(("Connection", "close"))
        self.head(status, extra)
        if not is_head:
            if body:
                self.sock.sendall(body)
            for c in gen or ():
                self.sock.sendall(c)
        if q.get("close") == "1":
            return False
        return keep

    def websocket(self, headers):
        key = hdr(headers, "sec-websocket-key")
        if (hdr(headers, "upgrade") or "").lower() != "websocket" or not key:
            self.head(400, [("Content-Length", 0)])
            return False
        accept = base64.b64encode(hashlib.sha1(
            (key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest()).decode()
        self.head(101, [("Upgrade", "websocket"), ("Connection", "Upgrade"),
                        ("Sec-WebSocket-Accept", accept)])
        while True:
            b0, b1 = self.rd.exact(2)
            n = b1 & 0x7F
            if n == 126:
                n = int.from_bytes(self.rd.exact(2), "big")
            elif n == 127:
                n = int.from_bytes(self.rd.exact(8), "big")
            mask = self.rd.exact(4) if b1 & 0x80 else b"\0\0\0\0"
            data = bytes(c ^ mask[i % 4] for i, c in enumerate(self.rd.exact(n)))
            op = b0 & 0x0F
            self.sock.sendall(ws_frame(op, data))
            if op == 8:
                return False


def ws_frame(op, data, mask=None):
    b = bytes([0x80 | op])
    m = 0x80 if mask else 0
    if len(data) < 126:
        b += bytes([m | len(data)])
    elif len(data) < 65536:
        b += bytes([m | 126]) + len(data).to_bytes(2, "big")
    else:
        b += bytes([m | 127]) + len(data).to_bytes(8, "big")
    if mask:
        b += mask
        data = bytes(c ^ mask[i % 4] for i, c in enumerate(data))
    return b + data


def hdr(headers, name):
    for k, v in headers:
        if k.lower() == name:
            return v
    return None


class Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 1024


def blackhole(a):
    lsn = socket.socket()
    lsn.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lsn.bind(("127.0.0.1", a.port))
    lsn.listen(0)
    fill = []
    for _ in range(2):  # never accepted: the queue stays full
        c = socket.socket()
        c.setblocking(False)
        try:
            c.connect(("127.0.0.1", a.port))
        except BlockingIOError:
            pass
        fill.append(c)
    time.sleep(0.2)
    if a.ready:
        with open(a.ready, "w") as f:
            f.write("%d\n" % os.getpid())
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--name", default="up")
    ap.add_argument("--log")
    ap.add_argument("--ready")
    ap.add_argument("--blackhole", action="store_true")
    ap.add_argument("--unhealthy-if")
    ap.add_argument("--tls", nargs=2, metavar=("CERT", "KEY"))
    a = ap.parse_args()
    if a.blackhole:
        return blackhole(a)
    srv = Server(("127.0.0.1", a.port), Handler)
    srv.name = a.name
    srv.unhealthy_if = a.unhealthy_if
    srv.counts = {}
    srv.log = Log(a.log)
    srv.tls = None
    if a.tls:
        srv.tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        srv.tls.load_cert_chain(a.tls[0], a.tls[1])
    if a.ready:
        with open(a.ready, "w") as f:
            f.write("%d\n" % os.getpid())
    try:
        srv.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    sys.exit(main())
