#!/usr/bin/env python3
"""Real traffic for weir's namespace tests: TCP and UDP endpoints whose every
loop is bounded in count and time.

  traffic.py tcp-server ADDR PORT            accept and close, forever
  traffic.py tcp-connect ADDR PORT TIMEOUT   exit 0 if the handshake completes
  traffic.py udp-echo ADDR PORT              echo datagrams back, forever
  traffic.py udp-ask ADDR PORT TIMEOUT       send one datagram, exit 0 on reply
  traffic.py udp-sink ADDR PORT OUTFILE      count datagrams; on SIGTERM write
                                             the number of distinct sequence
                                             numbers to OUTFILE
  traffic.py udp-send SRC DST PORT N [PPS]   send N numbered datagrams
"""
import signal
import socket
import sys
import time


def family(addr):
    return socket.AF_INET6 if ":" in addr else socket.AF_INET


def tcp_server(addr, port):
    s = socket.socket(family(addr), socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((addr, int(port)))
    s.listen(128)
    while True:
        c, _ = s.accept()
        c.close()


def tcp_connect(addr, port, timeout):
    s = socket.socket(family(addr), socket.SOCK_STREAM)
    s.settimeout(float(timeout))
    try:
        s.connect((addr, int(port)))
    except OSError:
        return 1
    s.close()
    return 0


def udp_echo(addr, port):
    s = socket.socket(family(addr), socket.SOCK_DGRAM)
    s.bind((addr, int(port)))
    while True:
        data, peer = s.recvfrom(2048)
        s.sendto(data, peer)


def udp_ask(addr, port, timeout):
    s = socket.socket(family(addr), socket.SOCK_DGRAM)
    s.settimeout(float(timeout))
    s.sendto(b"ping", (addr, int(port)))
    try:
        s.recvfrom(2048)
    except OSError:
        return 1
    return 0


def udp_sink(addr, port, outfile):
    s = socket.socket(family(addr), socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
    s.bind((addr, int(port)))
    seen = set()

    def done(*_):
        with open(outfile, "w") as f:
            f.write("%d\n" % len(seen))
        sys.exit(0)

    signal.signal(signal.SIGTERM, done)
    while True:
        data, _ = s.recvfrom(2048)
        seen.add(data)


def udp_send(src, dst, port, n, pps="20000"):
    s = socket.socket(family(dst), socket.SOCK_DGRAM)
    s.bind((src, 0))
    n, pps = int(n), int(pps)
    start = time.monotonic()
    for i in range(n):
        s.sendto(b"%08d" % i, (dst, int(port)))
        # pace so that no socket buffer on the way overflows
        ahead = i / pps - (time.monotonic() - start)
        if ahead > 0:
            time.sleep(ahead)
    return 0


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    fn = {"tcp-server": tcp_server, "tcp-connect": tcp_connect,
          "udp-echo": udp_echo, "udp-ask": udp_ask, "udp-sink": udp_sink,
          "udp-send": udp_send}[cmd]
    sys.exit(fn(*args) or 0)
