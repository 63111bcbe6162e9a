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
  traffic.py vlan-send IFACE DSTMAC SRC DST N VID[,VID]
                                             send N UDP/IPv4 frames tagged
                                             802.1Q (two ids: 802.1ad outer)
                                             through an AF_PACKET socket
"""
import signal
import socket
import struct
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


def csum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    s = (s >> 16) + (s & 0xffff)
    s += s >> 16
    return ~s & 0xffff


def vlan_send(iface, dstmac, src, dst, n, vids):
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    s.bind((iface, 0))
    mac = open("/sys/class/net/%s/address" % iface).read().strip()
    eth = bytes.fromhex(dstmac.replace(":", "")) + bytes.fromhex(mac.replace(":", ""))
    ids = [int(v) for v in vids.split(",")]
    tags = b""
    for i, vid in enumerate(ids):
        tpid = 0x88a8 if len(ids) == 2 and i == 0 else 0x8100
        tags += struct.pack("!HH", tpid, vid)
    payload = b"weir-vlan"
    udp = struct.pack("!HHHH", 40000, 9, 8 + len(payload), 0) + payload
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 1, 0, 64, 17, 0,
                     socket.inet_aton(src), socket.inet_aton(dst))
    ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
    frame = eth + tags + struct.pack("!H", 0x0800) + ip + udp
    for _ in range(int(n)):
        s.send(frame)
    return 0


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    fn = {"tcp-server": tcp_server, "tcp-connect": tcp_connect,
          "udp-echo": udp_echo, "udp-ask": udp_ask, "udp-sink": udp_sink,
          "udp-send": udp_send, "vlan-send": vlan_send}[cmd]
    sys.exit(fn(*args) or 0)
