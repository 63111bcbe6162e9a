#!/usr/bin/env python3
"""tests/proxy/logsink.py - the receiving ends of weir's access log sinks, for
tests/proxy/test_logs.sh; stdlib only.

    logsink.py --udp PORT  --out FILE [--ready FILE]   syslog over UDP
    logsink.py --tcp PORT  --out FILE [--ready FILE]   syslog over TCP, octet counting
    logsink.py --unix PATH --out FILE [--ready FILE]   syslog datagrams on a unix socket
    logsink.py --http PORT --out FILE [--ready FILE] [--discard] [--fail CODE:N]
               [--cert PEM --key PEM]                  HTTP collector (POST, keepalive),
                                                       over TLS with --cert and --key

Everything received is appended to FILE as JSON lines, flushed at once:

    {"ev": "msg", "conn": N, "msg": TEXT}                       syslog
    {"ev": "error", "conn": N, "why": TEXT}                     TCP framing broken
    {"ev": "batch", "conn": N, "method": M, "path": P,
     "headers": {name: value}, "lines": [TEXT, ...]}             HTTP

Over TLS, a handshake that fails (weir refused the certificate) is recorded
as {"ev": "tls-error", "why": TEXT}.

--fail CODE:N: the first N POSTs are answered CODE (recorded as {"ev":
"failed", "status": CODE, "lines": LINES}), the later ones 200.

--discard (for benchmarks): an HTTP batch is recorded as {"ev": "batch",
"n": LINES} alone, so the collector costs little CPU.

The TCP reader is strict about RFC 6587 octet counting: MSG-LEN (digits, no
leading zero) SP MSG of exactly MSG-LEN bytes; anything else is an "error"
record and the connection is closed. The HTTP collector answers 200 with an
empty body on the same connection (HTTP/1.1 keepalive); `conn` tells how many
connections carried the batches.
"""
import argparse
import http.server
import json
import os
import socket
import socketserver
import ssl
import sys
import threading

DISCARD = False
FAIL = [200, 0]  # status, how many more POSTs get it
lock = threading.Lock()
out = None
conns = [0]


def record(obj):
    with lock:
        out.write(json.dumps(obj) + "\n")
        out.flush()


def new_conn():
    with lock:
        conns[0] += 1
        return conns[0]


def serve_dgram(sock):
    while True:
        data = sock.recv(65536)
        record({"ev": "msg", "conn": 0, "msg": data.decode("utf-8", "replace")})


class TCPSyslog(socketserver.BaseRequestHandler):
    def handle(self):
        conn = new_conn()
        buf = b""
        while True:
            data = self.request.recv(65536)
            if not data:
                if buf:
                    record({"ev": "error", "conn": conn, "why": "partial frame at EOF"})
                return
            buf += data
            while buf:
                sp = buf.find(b" ")
                if sp < 0:
                    if len(buf) > 10 or not buf.isdigit():
                        record({"ev": "error", "conn": conn, "why": "bad length %r" % buf[:20]})
                        return
                    break
                digits = buf[:sp]
                if not digits.isdigit() or digits.startswith(b"0") or sp > 10:
                    record({"ev": "error", "conn": conn, "why": "bad length %r" % buf[:20]})
                    return
                n = int(digits)
                if len(buf) < sp + 1 + n:
                    break
                msg = buf[sp + 1:sp + 1 + n]
                buf = buf[sp + 1 + n:]
                record({"ev": "msg", "conn": conn, "msg": msg.decode("utf-8", "replace")})


class Collector(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def setup(self):
        if isinstance(self.request, ssl.SSLSocket):
            try:
                self.request.do_handshake()
            except (ssl.SSLError, OSError) as e:
                record({"ev": "tls-error", "why": str(e)})
                raise
        super().setup()
        self.conn = new_conn()

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(n).decode("utf-8", "replace")
        with lock:
            fail = FAIL[1] > 0
            FAIL[1] -= fail
        if fail:
            record({"ev": "failed", "status": FAIL[0], "lines": body.count("\n")})
            self.send_response(FAIL[0])
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if DISCARD:
            record({"ev": "batch", "n": body.count("\n")})
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        lines = body.split("\n")
        if lines and lines[-1] == "":
            lines.pop()
        record({"ev": "batch", "conn": self.conn, "method": "POST", "path": self.path,
                "headers": {k.lower(): v for k, v in self.headers.items()},
                "lines": lines})
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


class Server(socketserver.ThreadingMixIn, socketserver.TCPServer):
    allow_reuse_address = True
    daemon_threads = True


def main():
    global out
    ap = argparse.ArgumentParser()
    ap.add_argument("--udp", type=int)
    ap.add_argument("--tcp", type=int)
    ap.add_argument("--unix")
    ap.add_argument("--http", type=int)
    ap.add_argument("--out", required=True)
    ap.add_argument("--ready")
    ap.add_argument("--discard", action="store_true")
    ap.add_argument("--fail")
    ap.add_argument("--cert")
    ap.add_argument("--key")
    a = ap.parse_args()
    if a.fail:
        code, n = a.fail.split(":")
        FAIL[:] = [int(code), int(n)]
    global DISCARD
    DISCARD = a.discard
    out = open(a.out, "a")
    if a.udp:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        s.bind(("127.0.0.1", a.udp))
        run = lambda: serve_dgram(s)
    elif a.unix:
        if os.path.exists(a.unix):
            os.unlink(a.unix)
        s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        s.bind(a.unix)
        run = lambda: serve_dgram(s)
    elif a.tcp:
        srv = Server(("127.0.0.1", a.tcp), TCPSyslog)
        run = srv.serve_forever
    elif a.http:
        srv = Server(("127.0.0.1", a.http), Collector)
        if a.cert:
            # The handshake in the connection's thread (setup), not in accept.
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(a.cert, a.key)
            srv.socket = ctx.wrap_socket(srv.socket, server_side=True,
                                         do_handshake_on_connect=False)
        run = srv.serve_forever
    else:
        ap.error("one of --udp, --tcp, --unix, --http")
    if a.ready:
        with open(a.ready, "w") as f:
            f.write("ready\n")
    try:
        run()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    sys.exit(main())
