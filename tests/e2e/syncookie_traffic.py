#!/usr/bin/env python3
"""Traffic for tests/e2e/test_syncookie.sh: a TCP echo server, a client that
opens connections one after another and checks what comes back, and a
spoofed SYN flood (with bad ACKs in it) sent as raw Ethernet frames. Every
loop is bounded in count and time.

  syncookie_traffic.py echo-server ADDR PORT BACKLOG
      echo every connection's bytes back, forever (one thread, non-blocking)
  syncookie_traffic.py echo-client SRC DST PORT COUNT TIMEOUT
      COUNT connections one after another, each sending three messages and
      reading each back; prints how many connections got every echo; exit 0
      when all did
  syncookie_traffic.py flood IFACE DSTMAC DST PORT SRCNET NSYN NACK STOP OUT
      SYNs to DST:PORT from random addresses of SRCNET (and random ports and
      sequence numbers), with the options a Linux client sends, through an
      AF_PACKET socket on IFACE; after the first 1000 SYNs each SYN is
      followed by an ACK from another random source with a random cookie,
      until NACK ACKs are sent. Sends at least NSYN SYNs, then goes on until
      the file STOP exists, and never more than 40 x NSYN SYNs or for more
      than 60 s. Writes "SYNS ACKS" to OUT every 1000 SYNs and at the end.
"""
import ipaddress
import os
import selectors
import socket
import struct
import sys
import time

FLOOD_MAX_S = 60.0
ACKS_AFTER = 1000


def family(addr):
    return socket.AF_INET6 if ":" in addr else socket.AF_INET


def echo_server(addr, port, backlog):
    sel = selectors.DefaultSelector()
    ls = socket.socket(family(addr), socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((addr, int(port)))
    ls.listen(int(backlog))
    ls.setblocking(False)
    sel.register(ls, selectors.EVENT_READ)
    while True:
        for key, _ in sel.select():
            s = key.fileobj
            if s is ls:
                try:
                    c, _ = ls.accept()
                except OSError:
                    continue
                c.setblocking(True)
                c.settimeout(5)
                sel.register(c, selectors.EVENT_READ)
                continue
            try:
                data = s.recv(4096)
                if data:
                    s.sendall(data)
                    continue
            except OSError:
                pass
            sel.unregister(s)
            s.close()


def recv_exact(s, n):
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise OSError("closed")
        buf += chunk
    return buf


def echo_client(src, dst, port, count, timeout):
    good = 0
    for i in range(int(count)):
        s = socket.socket(family(dst), socket.SOCK_STREAM)
        s.settimeout(float(timeout))
        try:
            s.bind((src, 0))
            s.connect((dst, int(port)))
            for j in range(3):
                msg = b"weir syncookie %d.%d " % (i, j) + b"x" * (100 * j)
                s.sendall(msg)
                if recv_exact(s, len(msg)) != msg:
                    raise OSError("echo differs")
            good += 1
        except OSError as e:
            print("connection %d: %s" % (i, e), file=sys.stderr)
        finally:
            s.close()
    print(good)
    return 0 if good == int(count) else 1


def fold(s):
    s = (s & 0xffff) + (s >> 16)
    s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff


def words(b):
    return sum(struct.unpack("!%dH" % (len(b) // 2), b))


class Frames:
    """SYN and ACK frames whose source address, port and sequence numbers
    change; checksums are the template's sum plus the changing words."""

    # MSS 1460, SACK permitted, timestamp, NOP, window scale 7
    SYN_OPTS = bytes([2, 4, 5, 0xb4, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0, 1, 3, 3, 7])

    def __init__(self, iface, dstmac, dst, port, srcnet):
        mac = open("/sys/class/net/%s/address" % iface).read().strip()
        self.net = ipaddress.ip_network(srcnet)
        self.v6 = self.net.version == 6
        self.alen = 16 if self.v6 else 4
        self.hostbits = self.net.max_prefixlen - self.net.prefixlen
        self.base = int(self.net.network_address)
        daddr = ipaddress.ip_address(dst).packed
        eth = bytes.fromhex(dstmac.replace(":", "")) + bytes.fromhex(mac.replace(":", ""))
        eth += struct.pack("!H", 0x86DD if self.v6 else 0x0800)
        self.syn = self._template(eth, daddr, int(port), 0x02, self.SYN_OPTS)
        self.ack = self._template(eth, daddr, int(port), 0x10, b"")

    def _template(self, eth, daddr, port, flags, opts):
        tlen = 20 + len(opts)
        tcp = struct.pack("!HHIIBBHHH", 0, port, 0, 0, (tlen // 4) << 4, flags,
                          64240, 0, 0) + opts
        if self.v6:
            ip = struct.pack("!IHBB16s16s", 0x60000000, tlen, 6, 64, bytes(16), daddr)
            pseudo = words(daddr) + tlen + 6
            ipsum = 0
        else:
            ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + tlen, 0, 0x4000, 64, 6, 0,
                             bytes(4), daddr)
            pseudo = words(daddr) + tlen + 6
            ipsum = words(ip)
        frame = bytearray(eth + ip + tcp)
        l3 = len(eth)
        return {"frame": frame, "ipsum": ipsum, "tcpsum": pseudo + words(tcp),
                "src": l3 + (8 if self.v6 else 12), "l4": l3 + len(ip)}

    def make(self, t, rnd):
        """Fills template t from 32 random bytes."""
        f = t["frame"]
        host = int.from_bytes(rnd[:12], "big") % (1 << self.hostbits)
        src = (self.base | host).to_bytes(self.alen, "big")
        sport = 1024 + int.from_bytes(rnd[12:14], "big") % 64000
        f[t["src"]:t["src"] + self.alen] = src
        l4 = t["l4"]
        struct.pack_into("!H", f, l4, sport)
        f[l4 + 4:l4 + 12] = rnd[16:24]  # seq, and ack (ignored in a SYN)
        sw = words(src)
        if not self.v6:
            struct.pack_into("!H", f, t["src"] - 2, fold(t["ipsum"] + sw))
        tsum = t["tcpsum"] + sw + sport + words(bytes(f[l4 + 4:l4 + 12]))
        struct.pack_into("!H", f, l4 + 16, fold(tsum))
        return f


def flood(iface, dstmac, dst, port, srcnet, nsyn, nack, stop, out):
    nsyn, nack = int(nsyn), int(nack)
    fr = Frames(iface, dstmac, dst, port, srcnet)
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    s.bind((iface, 0))
    syns = acks = 0
    start = time.monotonic()

    def report():
        with open(out + ".tmp", "w") as f:
            f.write("%d %d\n" % (syns, acks))
        os.replace(out + ".tmp", out)

    while syns < 40 * nsyn and time.monotonic() - start < FLOOD_MAX_S:
        if syns >= nsyn and syns % 256 == 0 and os.path.exists(stop):
            break
        rnd = os.urandom(64)
        s.send(fr.make(fr.syn, rnd[:32]))
        syns += 1
        if syns > ACKS_AFTER and acks < nack:
            s.send(fr.make(fr.ack, rnd[32:]))
            acks += 1
        if syns % 1000 == 0:
            report()
    report()
    return 0


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    fn = {"echo-server": echo_server, "echo-client": echo_client, "flood": flood}[cmd]
    sys.exit(fn(*args) or 0)
