#!/usr/bin/env python3
"""Helpers of tests/e2e/test_svc_upgrade.sh: a service table as the first
builds of weir laid it out, and traffic to many services.

  svc_upgrade.py layout0 PIN_DIR   rewrite PIN_DIR/weir_svc_tab in place with
                                   every live service where the first builds'
                                   hash (layout 0: five chained murmur3
                                   finalizers) put it, and record layout 0 in
                                   PIN_DIR/weir_config; prints how many
  svc_upgrade.py send FILE N PPS [STOP]
                                   send N UDP datagrams, round robin over the
                                   "ADDR PORT" lines of FILE, at PPS at most,
                                   stopping early once the file STOP exists;
                                   prints how many it sent

The maps are reached through the bpf(2) system call (BPF_OBJ_GET, then mmap
of the table, BPF_MAP_LOOKUP_ELEM / UPDATE_ELEM of the config), with the
layouts of maps/weir_abi.h: a slot is seq, state, the 20-byte key, 4 bytes
of padding and the 16-byte service (48 bytes); the config's svc_layout is
its word at byte 28. Run it while no program uses the table.
"""
import ctypes
import mmap
import os
import socket
import struct
import sys
import time

SYS_BPF = 321  # x86_64
BPF_MAP_LOOKUP_ELEM, BPF_MAP_UPDATE_ELEM, BPF_OBJ_GET = 1, 2, 7
SLOTS, SLOT, PROBES = 2048, 48, 32  # WEIR_SVC_SLOTS, its slot, WEIR_SVC_PROBES
LIVE = 1

libc = ctypes.CDLL(None, use_errno=True)


def bpf(cmd, attr):
    buf = ctypes.create_string_buffer(attr, 128)
    r = libc.syscall(SYS_BPF, cmd, buf, 128)
    if r < 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))
    return r


def obj_get(path):
    p = ctypes.create_string_buffer(path.encode())
    return bpf(BPF_OBJ_GET, struct.pack("=QII", ctypes.addressof(p), 0, 0))


def elem(cmd, fd, key, value):
    k = ctypes.create_string_buffer(key, len(key))
    v = ctypes.create_string_buffer(value, len(value))
    bpf(cmd, struct.pack("=IIQQQ", fd, 0, ctypes.addressof(k), ctypes.addressof(v), 0))
    return v.raw


def mix32(x):
    x ^= x >> 16
    x = (x * 0x85EBCA6B) & 0xFFFFFFFF
    x ^= x >> 13
    x = (x * 0xC2B2AE35) & 0xFFFFFFFF
    return x ^ (x >> 16)


def hash_layout0(key):
    w = struct.unpack("<5I", key)  # host order, as both sides read it
    h = mix32(w[0])
    for x in w[1:]:
        h = mix32(h ^ x)
    return h


def layout0(pin):
    fd = obj_get(pin + "/weir_svc_tab")
    t = mmap.mmap(fd, SLOTS * SLOT, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
    live = []
    for i in range(SLOTS):
        s = t[i * SLOT:(i + 1) * SLOT]
        if struct.unpack_from("<I", s, 4)[0] == LIVE:
            live.append((s[8:28], s[32:48]))
    t[:] = bytes(SLOTS * SLOT)
    for key, svc in live:
        h = hash_layout0(key)
        for p in range(PROBES):
            i = (h + p * (p + 1) // 2) & (SLOTS - 1)
            if struct.unpack_from("<I", t, i * SLOT + 4)[0] != LIVE:
                t[i * SLOT:(i + 1) * SLOT] = struct.pack("<II", 0, LIVE) + key + bytes(4) + svc
                break
        else:
            sys.exit("no slot for a service in layout 0")
    t.close()
    cfd = obj_get(pin + "/weir_config")
    zero = bytes(4)
    cfg = bytearray(elem(BPF_MAP_LOOKUP_ELEM, cfd, zero, bytes(32)))
    cfg[28:32] = bytes(4)
    elem(BPF_MAP_UPDATE_ELEM, cfd, zero, bytes(cfg))
    print(len(live))


def send(path, n, pps, stop=None):
    dests = []
    with open(path) as f:
        for line in f:
            a, p = line.split()
            dests.append((a, int(p)))
    socks = {fam: socket.socket(fam, socket.SOCK_DGRAM)
             for fam in (socket.AF_INET, socket.AF_INET6)}
    gap, start, sent = 1.0 / float(pps), time.monotonic(), 0
    for i in range(int(n)):
        if stop and i % 100 == 0 and os.path.exists(stop):
            break
        a, p = dests[i % len(dests)]
        fam = socket.AF_INET6 if ":" in a else socket.AF_INET
        socks[fam].sendto(struct.pack("!I", i), (a, p))
        sent += 1
        ahead = start + (i + 1) * gap - time.monotonic()
        if ahead > 0:
            time.sleep(ahead)
    print(sent)


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "layout0":
        layout0(*args)
    elif cmd == "send":
        send(*args)
    else:
        sys.exit(__doc__)
