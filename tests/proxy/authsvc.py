#!/usr/bin/env python3
"""tests/proxy/authsvc.py - a small forward-auth service for weir's
forward-auth tests, stdlib only, HTTP/1.1 with keepalive, one thread per
connection.

    authsvc.py --port PORT --log FILE [--ready FILE] [--hang-if FILE] [--fail-if FILE]

Every accepted connection and every request is appended to the log as a JSON
line before it is answered:

    {"ev": "conn", "conn": N}
    {"ev": "req", "conn": N, "method": ..., "target": ..., "headers": {lower name: value}}

Verdicts: "Authorization: Bearer good" gets 200 with X-User-Id: alice (and
X-Other: no, a field weir must not copy); "Bearer slow" waits 1.5 s, then
200; anything else gets 401 with WWW-Authenticate: Bearer realm="weir" and
the body "denied\\n". While the --hang-if FILE exists, requests are read and
never answered; while the --fail-if FILE exists, they get 500.
"""
import argparse
import json
import os
import socketserver
import threading
import time

lock = threading.Lock()
conns = 0


def log(path, obj):
    with lock, open(path, "a") as f:
        f.write(json.dumps(obj) + "\n")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--ready")
    ap.add_argument("--hang-if")
    ap.add_argument("--fail-if")
    a = ap.parse_args()

    class Handler(socketserver.StreamRequestHandler):
        def handle(self):
            global conns
            with lock:
                conns += 1
                n = conns
            log(a.log, {"ev": "conn", "conn": n})
            while True:
                line = self.rfile.readline(65537)
                if not line:
                    return
                parts = line.decode("latin-1").split()
                if len(parts) != 3:
                    return
                headers = {}
                while True:
                    h = self.rfile.readline(65537)
                    if h in (b"\r\n", b"\n", b""):
                        break
                    k, _, v = h.decode("latin-1").partition(":")
                    headers[k.strip().lower()] = v.strip()
                length = int(headers.get("content-length", "0"))
                if length:
                    self.rfile.read(length)
                log(a.log, {"ev": "req", "conn": n, "method": parts[0],
                            "target": parts[1], "headers": headers})
                if a.hang_if and os.path.exists(a.hang_if):
                    time.sleep(30)
                    return
                auth = headers.get("authorization", "")
                if a.fail_if and os.path.exists(a.fail_if):
                    status, extra, body = "500 Internal Server Error", "", b"oops\n"
                elif auth in ("Bearer good", "Bearer slow"):
                    if auth == "Bearer slow":
                        time.sleep(1.5)
                    status, extra, body = "200 OK", "X-User-Id: alice\r\nX-Other: no\r\n", b""
                else:
                    status = "401 Unauthorized"
                    extra = 'WWW-Authenticate: Bearer realm="weir"\r\nX-Other: no\r\n'
                    body = b"denied\n"
                self.wfile.write(("HTTP/1.1 %s\r\n%sContent-Length: %d\r\n\r\n"
                                  % (status, extra, len(body))).encode() + body)
                self.wfile.flush()

    class Server(socketserver.ThreadingTCPServer):
        allow_reuse_address = True
        daemon_threads = True

    srv = Server(("127.0.0.1", a.port), Handler)
    if a.ready:
        with open(a.ready, "w") as f:
            f.write("ready\n")
    srv.serve_forever()


if __name__ == "__main__":
    main()
