#!/usr/bin/env python3
"""tests/steer/client.py - clients for the worker-steering tests, stdlib only.

Every request is "GET /TAG-N HTTP/1.1" on its own new connection (so each
comes from a new source port and meets the SO_REUSEPORT program), and a
request counts as answered only when a whole response came back: a status
line, the head, and Content-Length bytes of body. A refused connect, a reset,
an EOF before the end, or nothing within the timeout is a failure. PORT is a
port on 127.0.0.1, or "[ADDR]:PORT".

    client.py spread PORT N TAG
        N requests one after the other; prints "ANSWERED FAILED".
    client.py hold PORT N TAG OUT
        N connections one after the other, each answered once and kept open
        (keepalive); writes "held ANSWERED FAILED" to OUT, then keeps them
        until killed (two minutes at most).
    client.py queue PORT N TAG OUT
        connects N times and sends each request without reading; writes
        "sent CONNECTED" to OUT, then reads every answer (20 s at most) and
        prints "ANSWERED FAILED".
    client.py load PORT THREADS TAG PROGRESS STOP MAX
        THREADS threads send requests until the file STOP exists (or MAX
        requests in all); the count answered so far is rewritten into
        PROGRESS as it grows. Prints "ANSWERED FAILED" and the first errors.
"""
import os
import socket
import sys
import threading
import time


def recv(s, deadline, where=""):
    """Bytes from s (b"" at EOF), or the reason (a str) for none by deadline."""
    s.settimeout(max(0.01, deadline - time.monotonic()))
    try:
        return s.recv(65536)
    except socket.timeout:
        return "timeout" + where
    except OSError as e:
        return type(e).__name__


def read_answer(s, deadline):
    """Reads one response from s: True when whole, else the reason."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        d = recv(s, deadline)
        if isinstance(d, str):
            return d
        if not d:
            return "eof before the head" if not buf else "eof in the head"
        buf += d
    head, _, body = buf.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    if not lines[0].startswith(b"HTTP/1.1 "):
        return "bad status line"
    n = 0
    for ln in lines[1:]:
        k, _, v = ln.partition(b":")
        if k.strip().lower() == b"content-length":
            n = int(v)
    while len(body) < n:
        d = recv(s, deadline, " in the body")
        if isinstance(d, str):
            return d
        if not d:
            return "eof in the body"
        body += d
    return True


def dial(port, timeout):
    if port.startswith("["):
        host, _, p = port[1:].partition("]:")
        return socket.create_connection((host, int(p)), timeout=timeout)
    return socket.create_connection(("127.0.0.1", int(port)), timeout=timeout)


def request(tag, i, keep=False):
    return ("GET /%s-%d HTTP/1.1\r\nHost: steer\r\n%s\r\n" %
            (tag, i, "" if keep else "Connection: close\r\n")).encode()


def one(port, tag, i, timeout=10.0):
    deadline = time.monotonic() + timeout
    try:
        s = dial(port, timeout)
    except OSError as e:
        return "connect: " + type(e).__name__
    try:
        s.sendall(request(tag, i))
        return read_answer(s, deadline)
    except OSError as e:
        return type(e).__name__
    finally:
        s.close()


def write(path, text):
    with open(path + ".tmp", "w") as f:
        f.write(text)
    os.replace(path + ".tmp", path)


def cmd_spread(port, n, tag):
    ok = bad = 0
    for i in range(int(n)):
        if one(port, tag, i) is True:
            ok += 1
        else:
            bad += 1
    print(ok, bad)


def cmd_hold(port, n, tag, out):
    held, ok, bad = [], 0, 0
    for i in range(int(n)):
        try:
            s = dial(port, 10)
            s.sendall(request(tag, i, keep=True))
            r = read_answer(s, time.monotonic() + 10)
        except OSError as e:
            r = type(e).__name__
        if r is True:
            ok += 1
            held.append(s)
        else:
            bad += 1
    write(out, "held %d %d\n" % (ok, bad))
    time.sleep(120)


def cmd_queue(port, n, tag, out):
    socks, bad = [], 0
    for i in range(int(n)):
        try:
            s = dial(port, 10)
            s.sendall(request(tag, i))
            socks.append(s)
        except OSError:
            bad += 1
    write(out, "sent %d\n" % len(socks))
    deadline = time.monotonic() + 20
    ok = 0
    for s in socks:
        if read_answer(s, deadline) is True:
            ok += 1
        else:
            bad += 1
        s.close()
    print(ok, bad)


def cmd_load(port, threads, tag, progress, stop, most):
    lock = threading.Lock()
    st = {"n": 0, "ok": 0, "bad": 0, "errors": []}

    def run(t):
        while not os.path.exists(stop):
            with lock:
                if st["n"] >= int(most):
                    return
                i = st["n"]
                st["n"] += 1
            r = one(port, tag, i)
            with lock:
                if r is True:
                    st["ok"] += 1
                    if st["ok"] % 10 == 0:
                        write(progress, "%d\n" % st["ok"])
                else:
                    st["bad"] += 1
                    if len(st["errors"]) < 5:
                        st["errors"].append("%s-%d: %s" % (tag, i, r))

    ts = [threading.Thread(target=run, args=(t,)) for t in range(int(threads))]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    write(progress, "%d\n" % st["ok"])
    print(st["ok"], st["bad"])
    for e in st["errors"]:
        print("# " + e)


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    {"spread": cmd_spread, "hold": cmd_hold, "queue": cmd_queue,
     "load": cmd_load}[cmd](*args)


if __name__ == "__main__":
    main()
