#!/usr/bin/env python3
"""Both ends of the l4 forwarding test (tests/e2e/test_l4.sh). Every client
loop is bounded in count and time.

  l4_peer.py serve NAME ADDR PORT        TCP: greet each connection with
                                         NAME, then echo its lines; forever
  l4_peer.py spread ADDR PORT N TIMEOUT  N connections one after the other;
                                         prints {"NAME": count, ..., "failed": k}
  l4_peer.py hold ADDR PORT N TIMEOUT    opens N connections and prints the
                                         NAME of each (a JSON list); then, per
                                         line on stdin: "ping" echoes a line
                                         on each and prints a JSON list of
                                         true/false; "quit" ends
"""
import json
import socket
import sys
import threading


def family(addr):
    return socket.AF_INET6 if ":" in addr else socket.AF_INET


def serve(name, addr, port):
    s = socket.socket(family(addr), socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((addr, int(port)))
    s.listen(512)

    def talk(c):
        with c:
            c.sendall(name.encode() + b"\n")
            f = c.makefile("rb")
            for line in f:
                c.sendall(line)

    while True:
        c, _ = s.accept()
        threading.Thread(target=talk, args=(c,), daemon=True).start()


def connect(addr, port, timeout):
    """A connection and the greeting's name, or (None, None)."""
    try:
        c = socket.create_connection((addr, int(port)), timeout=timeout)
        f = c.makefile("rb")
        name = f.readline().decode().strip()
        return (c, f) if name else (None, None), name
    except OSError:
        return (None, None), None


def spread(addr, port, n, timeout):
    counts = {"failed": 0}
    for _ in range(int(n)):
        (c, _f), name = connect(addr, port, float(timeout))
        if c is None:
            counts["failed"] += 1
            continue
        counts[name] = counts.get(name, 0) + 1
        c.close()
    print(json.dumps(counts))


def hold(addr, port, n, timeout):
    conns, names = [], []
    for _ in range(int(n)):
        (c, f), name = connect(addr, port, float(timeout))
        conns.append((c, f))
        names.append(name)
    print(json.dumps(names), flush=True)
    for cmd in sys.stdin:
        cmd = cmd.strip()
        if cmd == "quit":
            break
        if cmd != "ping":
            continue
        oks = []
        for c, f in conns:
            try:
                c.sendall(b"ping\n")
                oks.append(f.readline() == b"ping\n")
            except (OSError, AttributeError):
                oks.append(False)
        print(json.dumps(oks), flush=True)


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    {"serve": serve, "spread": spread, "hold": hold}[cmd](*args)
