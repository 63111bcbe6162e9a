#!/usr/bin/python3
"""xdpbench.py - the live-rate and import benchmarks of weir, and the report.

Driven by bench/run.sh, which creates the veth pair and the generator's
namespace and removes them (and anything this script attached) on exit.

  xdpbench.py live    ...  live packet rate: weir beside its peers, A B A B
  xdpbench.py live-l4 ...  live l4 forwarding rate: weir beside trivial XDP_TX
  xdpbench.py import  ...  `weirctl block import` beside `ipset restore`
  xdpbench.py report  ...  merge the JSON parts, write README.md

Every loop here is bounded: a fixed number of rounds of fixed-length runs,
and livegen stops itself after --duration seconds.
"""
import argparse
import datetime
import json
import os
import platform
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import time

VERBOSE = os.environ.get("V") == "1"


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def run(cmd, check=True, capture=True, timeout=120):
    """Runs cmd (a list); returns stdout. Fails loudly with its stderr."""
    if VERBOSE:
        log("  $ " + " ".join(shlex.quote(c) for c in cmd))
    p = subprocess.run(cmd, capture_output=capture, text=True, timeout=timeout)
    if check and p.returncode != 0:
        raise RuntimeError("%s: exit %d: %s" % (" ".join(cmd), p.returncode,
                                                (p.stderr or "").strip()))
    return p.stdout if capture else ""


def med(v):
    return statistics.median(v) if v else None


def version(cmd):
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
        return (out.stdout or out.stderr).strip().splitlines()[0]
    except (OSError, IndexError, subprocess.SubprocessError):
        return "unknown"


def deb_version(pkg):
    try:
        return run(["dpkg-query", "-W", "-f=${Version}", pkg]).strip()
    except (OSError, RuntimeError):
        return "unknown"


def environment():
    cpu = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "kernel": platform.release(),
        "cpu_model": cpu,
        "cpus": os.cpu_count(),
        "libbpf": deb_version("libbpf1"),
        "libxdp": deb_version("libxdp1"),
        "xdp-tools": deb_version("xdp-tools"),
        "nftables": version(["nft", "--version"]),
        "ipset": version(["ipset", "--version"]),
        "clang": version(["clang", "--version"]),
    }


# ---- counters ----

def ethtool_stats(dev):
    out = run(["ethtool", "-S", dev])
    st = {}
    for line in out.splitlines():
        m = re.match(r"\s*([\w-]+):\s*(\d+)\s*$", line)
        if m:
            st[m.group(1)] = int(m.group(2))
    return st


def sysfs_counter(dev, name):
    with open("/sys/class/net/%s/statistics/%s" % (dev, name)) as f:
        return int(f.read())


# ---- live peers ----

class Peer:
    """A receiver under test: how to put it on the interface, take it off,
    and count what it dropped (to check it measured what it claims)."""

    def __init__(self, name, desc, up, down, dropped, gen_args=None):
        self.name, self.desc = name, desc
        self.up, self.down, self.dropped = up, down, dropped
        self.gen_args = gen_args or []


def make_peers(a):
    dev = a.iface
    wctl = [a.weirctl, "--pin-dir", a.pin_dir]
    wctl1 = [a.weirctl, "--pin-dir", a.pin_dir1]

    def xdp_drops():
        return ethtool_stats(dev).get("rx_queue_0_xdp_drops", 0)

    def weir_blocked(ctl):
        def f():
            return json.loads(run(ctl + ["stats", "--json"]))["blocklisted"]["packets"]
        return f

    def nft_count():
        out = run(["nft", "list", "chain", "netdev", "weirbench", "ingress"])
        m = re.search(r"counter packets (\d+)", out)
        return int(m.group(1)) if m else 0

    nft_rules = """table netdev weirbench {
  set blocked { type ipv4_addr; flags interval; elements = { %s } }
  chain ingress {
    type filter hook ingress device "%s" priority -500; policy accept;
    ip saddr @blocked counter drop
  }
}
""" % (a.src, dev)

    def nft_up():
        run(["ethtool", "-K", dev, "gro", "on"])
        p = subprocess.run(["nft", "-f", "-"], input=nft_rules, text=True,
                           capture_output=True, timeout=30)
        if p.returncode:
            raise RuntimeError("nft -f: " + p.stderr.strip())

    def nft_down():
        run(["nft", "delete", "table", "netdev", "weirbench"], check=False)
        run(["ethtool", "-K", dev, "gro", "off"], check=False)

    def drop_up():
        run(["ip", "link", "set", "dev", dev, "xdpdrv", "obj", a.drop_obj, "sec", "xdp"])

    def drop_down():
        run(["ip", "link", "set", "dev", dev, "xdpdrv", "off"], check=False)

    def xf_up():
        run(["xdp-filter", "load", "--mode", "native", dev])
        run(["xdp-filter", "ip", "--mode", "src", a.src])

    def xf_down():
        run(["xdp-filter", "unload", dev], check=False)

    def weir_up(ctl):
        return lambda: run(ctl + ["attach", dev, "--mode", "native"])

    def weir_down(ctl):
        return lambda: run(ctl + ["detach", dev], check=False)

    rot = ["--src-file", a.hosts, "--src-count", str(a.rot_sources)]
    n_rot = min(a.rot_sources, count_lines(a.hosts))
    n_rot_net = min(a.rot_sources, count_lines(a.net_hosts))
    peers = [
        Peer("xdp_drop", "trivial XDP_DROP program, attached directly (the ceiling)",
             drop_up, drop_down, xdp_drops),
        Peer("weir_1m", "weir, native XDP, %s IPv4 prefixes in the blocklist, the "
             "frames' source one of its /32 hosts" % "{:,}".format(count_lines(a.list4)),
             weir_up(wctl), weir_down(wctl),
             weir_blocked(wctl)),
        Peer("xdp_filter", "xdp-filter load (native) + xdp-filter ip SRC --mode src",
             xf_up, xf_down, xdp_drops),
        Peer("nft_ingress", "nftables netdev ingress: ip saddr @set counter drop "
             "(GRO on)", nft_up, nft_down, nft_count),
    ]
    if a.extras:
        peers += [
            Peer("weir_1", "weir with only the frames' source (one /32) in the "
                 "blocklist: the same program, a one-entry list", weir_up(wctl1),
                 weir_down(wctl1), weir_blocked(wctl1)),
            Peer("weir_1m_net", "weir with the same %s prefixes, the frames' source "
                 "(%s) inside one of its /16../24 networks (the LPM trie path)" %
                 ("{:,}".format(count_lines(a.list4)), first_line(a.net_hosts)),
                 weir_up(wctl), weir_down(wctl), weir_blocked(wctl),
                 ["--src", first_line(a.net_hosts)]),
            Peer("xdp_drop_rot", "trivial XDP_DROP, frames rotating over %d "
                 "sources" % n_rot, drop_up, drop_down, xdp_drops, rot),
            Peer("weir_1m_rot", "weir with %s prefixes, frames rotating over %d "
                 "of its /32 hosts" % ("{:,}".format(count_lines(a.list4)), n_rot),
                 weir_up(wctl), weir_down(wctl), weir_blocked(wctl), rot),
            Peer("weir_1m_net_rot", "weir with %s prefixes, frames rotating over "
                 "addresses inside %d of its networks" %
                 ("{:,}".format(count_lines(a.list4)), n_rot_net),
                 weir_up(wctl), weir_down(wctl), weir_blocked(wctl),
                 ["--src-file", a.net_hosts, "--src-count", str(a.rot_sources)]),
        ]
    return peers


def gen_cmd(a, peer):
    mac = open("/sys/class/net/%s/address" % a.iface).read().strip()
    cmd = [a.livegen, "--netns", a.gen_netns, "--dev", a.gen_dev, "--cpu", str(a.cpu),
           "--size", str(a.size), "--src", a.src, "--dst-mac", mac,
           "--duration", str(a.duration), "--max-frames", str(a.max_frames),
           "--rx-count", "/sys/class/net/%s/statistics/rx_packets" % a.iface]
    return cmd + peer.gen_args


def cmd_live(a):
    env = environment()
    peers = make_peers(a)
    results = {p.name: {"desc": p.desc, "rx_pps": [], "tx_pps": [], "dropped_frac": []}
               for p in peers}
    setup = {}

    # weir's maps: pinned once, kept across attach/detach, so every round
    # runs against the same 1M-prefix blocklist.
    for pin in (a.pin_dir, a.pin_dir1):
        if os.path.exists(pin):
            shutil.rmtree(pin)
    run(["ip", "link", "set", "dev", a.iface, "xdpdrv", "off"], check=False)
    wctl = [a.weirctl, "--pin-dir", a.pin_dir]
    run(wctl + ["attach", a.iface, "--mode", "native"])
    t0 = time.monotonic()
    run(wctl + ["block", "import", a.list4], timeout=300)
    setup["weir_1m_import_s"] = round(time.monotonic() - t0, 3)
    run(wctl + ["detach", a.iface])
    if a.extras:
        wctl1 = [a.weirctl, "--pin-dir", a.pin_dir1]
        run(wctl1 + ["attach", a.iface, "--mode", "native"])
        run(wctl1 + ["block", "add", a.src + "/32"])
        run(wctl1 + ["detach", a.iface])
    gro0 = "on" if re.search(r"generic-receive-offload: on",
                             run(["ethtool", "-k", a.iface])) else "off"
    run(["ethtool", "-K", a.iface, "gro", "off"], check=False)

    order = list(range(len(peers)))
    try:
        for r in range(a.rounds):
            # rotate the order each round: A B C D, B C D A, ...
            rnd = order[r % len(order):] + order[:r % len(order)]
            for i in rnd:
                p = peers[i]
                p.up()
                try:
                    rx0 = sysfs_counter(a.iface, "rx_packets")
                    d0 = p.dropped()
                    g = json.loads(run(gen_cmd(a, p), timeout=a.duration + 60))
                    d1 = p.dropped()
                    rx1 = sysfs_counter(a.iface, "rx_packets")
                finally:
                    p.down()
                res = results[p.name]
                res["rx_pps"].append(g["rx_pps"])
                res["tx_pps"].append(g["tx_pps"])
                res["dropped_frac"].append((d1 - d0) / max(1, rx1 - rx0))
                log("  round %d/%d %-16s %6.2f Mpps (dropped %.3f of received)" %
                    (r + 1, a.rounds, p.name, g["rx_pps"] / 1e6,
                     res["dropped_frac"][-1]))
    finally:
        for p in peers:
            p.down()
        run(["ethtool", "-K", a.iface, "gro", gro0], check=False)

    for name, res in results.items():
        res["rx_mpps_median"] = med(res["rx_pps"]) / 1e6
        res["tx_mpps_median"] = med(res["tx_pps"]) / 1e6
        res["dropped_frac_min"] = min(res["dropped_frac"])
    w = results["weir_1m"]["rx_mpps_median"]
    ratios = {"weir_1m/" + n: w / results[n]["rx_mpps_median"]
              for n in results if not n.startswith("weir") and not n.endswith("_rot")}
    for n in ("weir_1", "weir_1m_net"):
        if n in results:
            ratios[n + "/xdp_drop"] = (results[n]["rx_mpps_median"] /
                                       results["xdp_drop"]["rx_mpps_median"])
            ratios[n + "/xdp_filter"] = (results[n]["rx_mpps_median"] /
                                         results["xdp_filter"]["rx_mpps_median"])
    for n in ("weir_1m_rot", "weir_1m_net_rot"):
        if n in results:
            ratios[n + "/xdp_drop_rot"] = (results[n]["rx_mpps_median"] /
                                           results["xdp_drop_rot"]["rx_mpps_median"])
    npfx = "{:,}".format(count_lines(a.list4))
    goals = [
        {"goal": "weir blocklist drop >= 0.85x trivial XDP_DROP (%s prefixes)" % npfx,
         "ratio": ratios["weir_1m/xdp_drop"], "target": 0.85},
        {"goal": "weir blocklist drop >= 1.3x xdp-filter (%s prefixes)" % npfx,
         "ratio": ratios["weir_1m/xdp_filter"], "target": 1.3},
    ]
    for g in goals:
        g["met"] = g["ratio"] >= g["target"]
    doc = {
        "what": "live packet rate at the receiver",
        "method": "livegen (bench/livegen.c): BPF_PROG_TEST_RUN with "
                  "BPF_F_TEST_XDP_LIVE_FRAMES, verdict bpf_redirect() into veth %s "
                  "(netns %s); frames arrive at its peer %s in the root namespace, where "
                  "the receiver under test runs. Generator pinned to CPU %d; the veth's "
                  "NAPI runs on the same CPU, so a rate is 1 / (generator + receiver "
                  "cost per frame). Rate = receiver rx_packets over the steady window "
                  "(150 ms after start to the stop), sampled every 10 ms from the other "
                  "CPU." % (a.gen_dev, a.gen_netns, a.iface, a.cpu),
        "command": " ".join(shlex.quote(c) for c in gen_cmd(a, peers[0])),
        "frame_bytes": a.size,
        "frame": "Ethernet + IPv4 + UDP, zero padded (no FCS)",
        "src": a.src,
        "duration_s": a.duration,
        "rounds": a.rounds,
        "order": "each round runs every peer once, rotating the start (A B C D, B C D A, ...)",
        "blocklist": {"file": os.path.basename(a.list4), "prefixes": count_lines(a.list4)},
        "setup": setup,
        "rot_sources": a.rot_sources,
        "environment": env,
        "peers": results,
        "ratios": ratios,
        "goals": goals,
    }
    with open(a.out, "w") as f:
        json.dump(doc, f, indent=1)


# ---- live l4 forwarding: weir's l4 path beside a trivial XDP_TX ----

L4_SERVICE = "198.19.0.1:9/udp"        # livegen's default destination and port
L4_RX_NET = "198.51.100.1/24"          # on the receiving veth: the backends' link
L4_BACKENDS = ["198.51.100.11", "198.51.100.12", "198.51.100.13"]


def link_mac(dev, netns=None):
    cmd = ["ip"] + (["-n", netns] if netns else []) + ["-j", "link", "show", "dev", dev]
    return json.loads(run(cmd))[0]["address"]


def weir_count(ctl, reason):
    return json.loads(run(ctl + ["stats", "--json"]))[reason]["packets"]


def cmd_live_l4(a):
    """weir attached to the receiving veth with an l4 service whose three
    backends are reached back through that veth, so every frame leaves by
    XDP_TX towards the generator; beside it the trivial XDP_TX program
    attached the same way. The generator's veth runs the trivial XDP_DROP:
    frames XDP_TX'd into a veth are delivered only when its peer has an XDP
    program (or GRO), and dropping them there at once keeps the return path
    the same, and cheap, for both."""
    env = environment()
    dev = a.iface
    ctl = [a.weirctl, "--pin-dir", a.pin_dir]
    counter = "/sys/class/net/%s/statistics/tx_packets" % dev
    srcfile = a.sources_file
    with open(srcfile, "w") as f:
        for i in range(65536):  # 198.18.0.0/16: the benchmarking range
            f.write("198.18.%d.%d\n" % (i >> 8, i & 255))
    sizes = [int(x) for x in a.sources.split(",")]

    if os.path.exists(a.pin_dir):
        shutil.rmtree(a.pin_dir)
    run(["ip", "link", "set", "dev", dev, "xdpdrv", "off"], check=False)
    run(["ip", "addr", "add", L4_RX_NET, "dev", dev])
    run(["ip", "-n", a.gen_netns, "link", "set", "dev", a.gen_dev, "xdpdrv", "obj",
         a.drop_obj, "sec", "xdp"])
    gen_mac = link_mac(a.gen_dev, a.gen_netns)
    run(ctl + ["attach", dev, "--mode", "native"])
    run(ctl + ["service", "add", L4_SERVICE, "--mode", "l4"])
    for b in L4_BACKENDS:
        run(ctl + ["service", "backend", "add", L4_SERVICE, b, "--mac", gen_mac])
    run(ctl + ["detach", dev])

    def tx_up():
        run(["ip", "link", "set", "dev", dev, "xdpdrv", "obj", a.tx_obj, "sec", "xdp"])

    def tx_down():
        run(["ip", "link", "set", "dev", dev, "xdpdrv", "off"], check=False)

    def weir_up():
        run(ctl + ["attach", dev, "--mode", "native"])

    def weir_down():
        run(ctl + ["detach", dev], check=False)

    peers = []
    for n in sizes:
        lbl = "%dk" % (n // 1024) if n % 1024 == 0 else str(n)
        peers.append(("xdp_tx_" + lbl, n, "trivial XDP_TX program (MACs swapped), "
                      "attached directly: the ceiling", tx_up, tx_down, False))
        peers.append(("weir_l4_" + lbl, n, "weir, native XDP: l4 service %s, 3 "
                      "backends through the same veth, IPv4-in-IPv4, flows tracked"
                      % L4_SERVICE, weir_up, weir_down, True))
    results = {name: {"desc": desc, "sources": n, "fwd_pps": [], "gen_pps": [],
                      "forwarded_frac": []}
               for name, n, desc, _, _, _ in peers}

    def gen_cmd(n):
        mac = link_mac(dev)
        return [a.livegen, "--netns", a.gen_netns, "--dev", a.gen_dev, "--cpu",
                str(a.cpu), "--size", "64", "--dst-mac", mac, "--src-file", srcfile,
                "--src-count", str(n), "--restore", "--duration", str(a.duration),
                "--max-frames", str(a.max_frames), "--rx-count", counter]

    try:
        for r in range(a.rounds):
            rnd = peers[r % len(peers):] + peers[:r % len(peers)]
            for name, n, _, up, down, is_weir in rnd:
                up()
                try:
                    rx0 = sysfs_counter(dev, "rx_packets")
                    e0 = ethtool_stats(dev)
                    w0 = weir_count(ctl, "l4_forwarded") if is_weir else 0
                    g = json.loads(run(gen_cmd(n), timeout=a.duration + 60))
                    w1 = weir_count(ctl, "l4_forwarded") if is_weir else 0
                    e1 = ethtool_stats(dev)
                    rx1 = sysfs_counter(dev, "rx_packets")
                finally:
                    down()
                rx = max(1, rx1 - rx0)
                tx = e1.get("rx_queue_0_xdp_tx", 0) - e0.get("rx_queue_0_xdp_tx", 0)
                err = (e1.get("rx_queue_0_xdp_tx_errors", 0) -
                       e0.get("rx_queue_0_xdp_tx_errors", 0))
                frac = tx / rx
                if frac < 0.99 or (is_weir and (w1 - w0) / rx < 0.99):
                    raise RuntimeError(
                        "%s: of %d frames received, %d XDP_TX'd (%d errors), %d "
                        "counted l4_forwarded: not measuring forwarding" %
                        (name, rx, tx, err, w1 - w0))
                res = results[name]
                res["fwd_pps"].append(g["rx_pps"])
                res["gen_pps"].append(g["tx_pps"])
                res["forwarded_frac"].append(frac)
                log("  round %d/%d %-14s %6.2f Mpps forwarded (%.3f of received)" %
                    (r + 1, a.rounds, name, g["rx_pps"] / 1e6, frac))
    finally:
        tx_down()
        weir_down()
        run(["ip", "-n", a.gen_netns, "link", "set", "dev", a.gen_dev, "xdpdrv", "off"],
            check=False)
        run(["ip", "addr", "del", L4_RX_NET, "dev", dev], check=False)

    for res in results.values():
        res["fwd_mpps_median"] = med(res["fwd_pps"]) / 1e6
        res["gen_mpps_median"] = med(res["gen_pps"]) / 1e6
        res["forwarded_frac_min"] = min(res["forwarded_frac"])
    ratios, goals = {}, []
    for n in sizes:
        lbl = "%dk" % (n // 1024) if n % 1024 == 0 else str(n)
        rt = (results["weir_l4_" + lbl]["fwd_mpps_median"] /
              results["xdp_tx_" + lbl]["fwd_mpps_median"])
        ratios["weir_l4_%s/xdp_tx_%s" % (lbl, lbl)] = rt
        goals.append({"goal": "weir l4 forwarding >= 0.7x trivial XDP_TX (%s sources)"
                      % "{:,}".format(n), "ratio": rt, "target": 0.7, "met": rt >= 0.7})
    doc = {
        "what": "live l4 forwarding rate: frames the receiver sent back by XDP_TX",
        "method": "livegen (bench/livegen.c) sends 64-byte UDP frames to %s from veth "
                  "%s (netns %s), rotating the source over N addresses of "
                  "198.18.0.0/16 (one flow each), --restore (the frame's first 64 "
                  "bytes rewritten before each send: a receiver that forwards in place "
                  "returns changed pages to the generator's pool), generator pinned to "
                  "CPU %d. The receiver %s (root namespace) holds %s; weir's three "
                  "backends %s are on that link, so every frame is encapsulated "
                  "(IPv4-in-IPv4, 84 bytes) and leaves by XDP_TX; the trivial program "
                  "swaps the MACs and sends 64 bytes back. The generator's veth runs "
                  "the trivial XDP_DROP, so the frames sent back are delivered to it "
                  "and dropped at once. Forwarded rate = %s over the steady window "
                  "(150 ms after start to the stop), sampled every 10 ms from the "
                  "other CPU: a veth's tx_packets counts the frames its peer received, "
                  "i.e. what the receiver's XDP_TX delivered. Every run checks that "
                  "rx_queue_0_xdp_tx of %s (and, for weir, its l4_forwarded counter) "
                  "is at least 0.99 of the frames received." %
                  (L4_SERVICE, a.gen_dev, a.gen_netns, a.cpu, dev, L4_RX_NET,
                   ", ".join(L4_BACKENDS), counter, dev),
        "command": " ".join(shlex.quote(c) for c in gen_cmd(sizes[0])),
        "setup": [" ".join(c) for c in (
            ["ip", "addr", "add", L4_RX_NET, "dev", dev],
            ["weirctl", "attach", dev, "--mode", "native"],
            ["weirctl", "service", "add", L4_SERVICE, "--mode", "l4"],
            ["weirctl", "service", "backend", "add", L4_SERVICE, "198.51.100.1{1,2,3}",
             "--mac", "GEN_MAC"],
            ["ip", "-n", a.gen_netns, "link", "set", "dev", a.gen_dev, "xdpdrv", "obj",
             "xdp_drop.bpf.o", "sec", "xdp"],
            ["ip", "link", "set", "dev", dev, "xdpdrv", "obj", "xdp_tx.bpf.o", "sec",
             "xdp"])],
        "frame_bytes": 64,
        "duration_s": a.duration,
        "rounds": a.rounds,
        "order": "each round runs every peer once, rotating the start",
        "environment": env,
        "peers": results,
        "ratios": ratios,
        "goals": goals,
    }
    with open(a.out, "w") as f:
        json.dump(doc, f, indent=1)


def first_line(path):
    with open(path) as f:
        for line in f:
            if line.strip() and not line.startswith("#"):
                return line.split()[0]
    raise RuntimeError("%s: empty" % path)


def count_lines(path):
    n = 0
    with open(path) as f:
        for line in f:
            if line.strip() and not line.startswith("#"):
                n += 1
    return n


# ---- import: weirctl block import beside ipset restore ----

def cmd_import(a):
    env = environment()
    out = {"what": "load a blocklist of %s prefixes into an empty table, wall clock "
                   "of the whole command" % "{:,}".format(count_lines(a.list4)),
           "rounds": a.rounds,
           "order": "weirctl, ipset, weirctl, ipset, ... per family",
           "environment": env, "families": {}}
    run(["ip", "link", "set", "dev", a.iface, "xdpdrv", "off"], check=False)
    for fam, lst, ips, setname in ((4, a.list4, a.ipset4, "wbench4"),
                                   (6, a.list6, a.ipset6, "wbench6")):
        n = count_lines(lst)
        wt, it = [], []
        for r in range(a.rounds):
            # weir: fresh pinned maps each round (attach creates them,
            # detach keeps them), then the timed import.
            pin = "%s-%d" % (a.pin_dir, r)
            if os.path.exists(pin):
                shutil.rmtree(pin)
            ctl = [a.weirctl, "--pin-dir", pin]
            run(ctl + ["attach", a.iface, "--mode", "native"])
            run(ctl + ["detach", a.iface])
            t0 = time.monotonic()
            run(ctl + ["block", "import", lst], timeout=600)
            wt.append(time.monotonic() - t0)
            shutil.rmtree(pin)
            # ipset: a fresh hash:net set each round, created by the restore
            run(["ipset", "destroy", setname], check=False)
            t0 = time.monotonic()
            run(["ipset", "restore", "-f", ips], timeout=600)
            it.append(time.monotonic() - t0)
            run(["ipset", "destroy", setname], check=False)
            log("  import v%d round %d/%d: weirctl %.2fs, ipset %.2fs" %
                (fam, r + 1, a.rounds, wt[-1], it[-1]))
            time.sleep(a.settle)  # let the freed tables go before the next round
        out["families"][str(fam)] = {
            "prefixes": n,
            "weirctl": {"command": "weirctl --pin-dir DIR block import %s" %
                        os.path.basename(lst), "seconds": wt, "median_s": med(wt)},
            "ipset": {"command": "ipset restore -f %s (create %s hash:net family %s "
                      "hashsize %d maxelem %d, then one add per prefix)" %
                      (os.path.basename(ips), setname, "inet" if fam == 4 else "inet6",
                       n, 2 * n), "seconds": it, "median_s": med(it)},
            "ratio_weir_time_over_ipset_time": med(wt) / med(it),
        }
    with open(a.out, "w") as f:
        json.dump(out, f, indent=1)


# ---- report ----

def fmt(x, nd=1):
    return "-" if x is None else ("%.*f" % (nd, x))


def analysis(doc):
    """What the figures say about where weir's time goes, computed from this
    run's numbers (so it stays true when they change)."""
    L = []
    pp, live = doc.get("per_packet"), doc.get("live")
    if not pp and not live:
        return L
    L.append("")
    L.append("## Where the time goes")
    L.append("")
    if live:
        P = live["peers"]

        def t(n):
            return 1e3 / P[n]["rx_mpps_median"] if n in P else None
        t_drop, t_xf, t_weir = t("xdp_drop"), t("xdp_filter"), t("weir_1m")
        L.append("- Live, per frame (1 / rate; generator and receiver share one CPU): "
                 "trivial XDP_DROP %.1f ns, xdp-filter %.1f ns, weir (%s prefixes, a /32 "
                 "source) %.1f ns: weir spends %.1f ns per frame beyond the trivial drop, "
                 "xdp-filter %.1f ns." %
                 (t_drop, t_xf, "{:,}".format(live["blocklist"]["prefixes"]), t_weir,
                  t_weir - t_drop, t_xf - t_drop))
        b85 = t_drop / 0.85 - t_drop
        b13 = t_xf / 1.3 - t_drop
        L.append("- The goals allow weir %.1f ns per frame beyond the trivial drop "
                 "(0.85x XDP_DROP) and %.1f ns (1.3x xdp-filter)%s." %
                 (b85, b13, "" if b13 > 0 else
                  ": the second goal is out of reach in this setup, whose trivial "
                  "drop is itself less than 1.3x xdp-filter"))
        if "weir_1" in P:
            t1 = t("weir_1")
            L.append("- With a one-entry blocklist weir takes %.1f ns per frame (%.1f ns "
                     "beyond the trivial drop); the %s-prefix list adds %.1f ns." %
                     (t1, t1 - t_drop, "{:,}".format(live["blocklist"]["prefixes"]),
                      t_weir - t1))
        if "weir_1m_net" in P:
            tn = t("weir_1m_net")
            L.append("- A source inside a blocklisted network (table miss, then the LPM "
                     "trie) takes %.1f ns per frame: %.1f ns more than a blocklisted "
                     "host." % (tn, tn - t_weir))
        if "xdp_drop_rot" in P:
            tdr = t("xdp_drop_rot")
            parts = []
            for n, what in (("weir_1m_rot", "hosts"), ("weir_1m_net_rot", "network members")):
                if n in P:
                    parts.append("over blocklisted %s %.2f Mpps (%.0f ns beyond the "
                                 "trivial drop, %.2fx it)" %
                                 (what,
                                  P[n]["rx_mpps_median"], t(n) - tdr,
                                  P[n]["rx_mpps_median"] / P["xdp_drop_rot"]["rx_mpps_median"]))
            if parts:
                L.append("- Rotating sources (a flood from many addresses, so lookups "
                         "miss the caches): " + "; ".join(parts) + ".")
    if pp:
        by = {(c["family"], c["prefixes"]): c for c in pp["curve"]}
        big = max(c["prefixes"] for c in pp["curve"])
        for fam in (4, 6):
            c0, cb = by.get((fam, 0)), by.get((fam, big))
            if not (c0 and cb):
                continue
            nets = [by[(fam, n)] for n in sorted({c["prefixes"] for c in pp["curve"]})
                    if (fam, n) in by and by[(fam, n)].get("blocked_net_ns")]
            line = ("- Per packet, hot cache, IPv%d: weir's fixed work %.1f ns above the "
                    "%.1f ns floor (empty blocklist); at %s prefixes a blocklisted host "
                    "costs %s ns, a member of a blocklisted network %s ns, a passed "
                    "source %s ns" %
                    (fam, c0["passed_ns"] - c0["drop_ns"], c0["drop_ns"],
                     "{:,}".format(big), fmt(cb.get("blocked_ns")),
                     fmt(cb.get("blocked_net_ns")), fmt(cb.get("passed_ns"))))
            if len(nets) >= 2:
                line += ("; the trie lookup grows from %.1f ns at %s prefixes to %.1f ns "
                         "at %s" % (nets[0]["blocked_net_ns"],
                                     "{:,}".format(nets[0]["prefixes"]),
                                     nets[-1]["blocked_net_ns"],
                                     "{:,}".format(nets[-1]["prefixes"])))
            L.append(line + ".")
        v = {x["case"]: x for x in pp["verdicts"]}
        if "passed" in v and "allowlisted" in v:
            L.append("- Full configuration: a passed packet costs %.1f ns (allowlist, "
                     "blocklist of 1k+1k, limit override trie, LRU state and GCRA "
                     "all run); an allowlisted one %.1f ns; a rate-limited one %.1f ns." %
                     (v["passed"]["ns_per_pkt"], v["allowlisted"]["ns_per_pkt"],
                      v.get("pkt_limited", v["passed"])["ns_per_pkt"]))
    return L


def load_doc(a):
    """The parts of this run; with --base (a run of one part, bench/run.sh
    --only l4), merged into the results of the last full run."""
    doc = {"generated_by": "make bench (bench/run.sh)"}
    if a.base and os.path.exists(a.base):
        with open(a.base) as f:
            doc = json.load(f)
    for key, path in (("per_packet", a.per_packet), ("live", a.live), ("import", a.imp),
                      ("live_l4", a.live_l4)):
        if not (path and os.path.exists(path)):
            continue
        with open(path) as f:
            part = json.load(f)
        if key == "per_packet" and "verdicts" not in part and "per_packet" in doc:
            doc["per_packet"]["l4"] = part["l4"]  # bench_xdp --only l4
        else:
            doc[key] = part
    if a.meta and os.path.exists(a.meta):
        with open(a.meta) as f:
            meta = json.load(f)
        if a.base:
            doc["run_l4"] = meta
        else:
            doc["run"] = meta
            doc.pop("run_l4", None)
    return doc


def report_l4(doc):
    """The l4 section: per-packet cost and live rate beside trivial XDP_TX."""
    L = []
    pl, ll = (doc.get("per_packet") or {}).get("l4"), doc.get("live_l4")
    if not pl and not ll:
        return L
    L.append("")
    L.append("## l4 forwarding beside a trivial XDP_TX")
    L.append("")
    L.append("weir's l4 path (an l4 service, 3 backends, Maglev ring, flow tracking, "
             "IPv4-in-IPv4 or IPv6-in-IPv6, the frame sent back by XDP_TX) beside "
             "`bench/xdp_tx.bpf.c`, which swaps the MACs and returns XDP_TX: the least "
             "any XDP forwarder does. Goal: >= 0.7x its rate (Katran publishes 5.2 Mpps "
             "per core on a real NIC against 24 Mpps for plain XDP_DROP).")
    run_l4 = doc.get("run_l4")
    if run_l4:
        L.append("")
        L.append("Run: `%s` (%s), %s s; weir at %s (weir_xdp.bpf.o sha256 %s...). The "
                 "other sections are from the run named at the top." % (
                     run_l4.get("command", "?"), run_l4.get("mode", "?"),
                     run_l4.get("elapsed_s", "?"), run_l4.get("git", "?"),
                     run_l4.get("weir_xdp_bpf_o_sha256", "?")))
    if ll:
        L.append("")
        L.append("### Live rate")
        L.append("")
        L.append(ll["method"])
        L.append("")
        L.append("Setup: %s. Command (per run): `%s`. %d rounds of %.1f s per peer; %s." %
                 ("; ".join("`%s`" % c for c in ll["setup"]), ll["command"], ll["rounds"],
                  ll["duration_s"], ll["order"]))
        L.append("")
        L.append("| receiver | sources | forwarded Mpps (median) | rounds (Mpps) | "
                 "XDP_TX / received (min) | generator Mpps | weir / XDP_TX |")
        L.append("| --- | --- | --- | --- | --- | --- | --- |")
        P = ll["peers"]
        for name, p in P.items():
            ratio = "-"
            if name.startswith("weir_l4_"):
                ref = P.get("xdp_tx_" + name[len("weir_l4_"):])
                if ref:
                    ratio = "**%.2fx**" % (p["fwd_mpps_median"] / ref["fwd_mpps_median"])
            L.append("| **%s**: %s | %s | %.2f | %s | %.3f | %.2f | %s |" % (
                name, p["desc"], "{:,}".format(p["sources"]), p["fwd_mpps_median"],
                " ".join("%.2f" % (x / 1e6) for x in p["fwd_pps"]),
                p["forwarded_frac_min"], p["gen_mpps_median"], ratio))
        L.append("")
        L.append("![l4 forwarding, Mpps](l4_mpps.png)")
    if pl:
        L.append("")
        L.append("### Per-packet cost (BPF_PROG_TEST_RUN)")
        L.append("")
        L.append("`%s`: %s. Repeat %d, %d rounds, %d-byte frames, pinned to CPU %d. "
                 "Configuration: %s." % (pl["command"], pl["method"], pl["repeat"],
                                         pl["rounds"], pl["frame_bytes"], pl["cpu"],
                                         pl["config"]))
        L.append("")
        h = pl["harness"]
        L.append("Harness: bench/reframe.bpf.c into XDP_DROP %.1f ns; XDP_TX without the "
                 "harness %.1f ns (both inside every figure below, on both sides)." %
                 (h["reframe_into_xdp_drop_ns"], h["xdp_tx_direct_ns"]))
        L.append("")
        L.append("| case | weir ns/packet | XDP_TX ns/packet | weir / XDP_TX (time) | "
                 "weir rounds |")
        L.append("| --- | --- | --- | --- | --- |")
        for c in pl["cases"]:
            L.append("| %s: %s | %.1f | %.1f | %.1fx | %s |" % (
                c["case"], c["desc"], c["ns_per_pkt"], c["xdp_tx_ns"],
                c["ratio_vs_xdp_tx"], " ".join("%.1f" % x for x in c["rounds"])))
        L.append("")
        L.append("Here the ratio is of times: higher is slower.")
    if ll:
        P = ll["peers"]
        L.append("")
        for name in P:
            if not name.startswith("weir_l4_"):
                continue
            lbl = name[len("weir_l4_"):]
            ref = P.get("xdp_tx_" + lbl)
            if not ref:
                continue
            tw, tt = 1e3 / P[name]["fwd_mpps_median"], 1e3 / ref["fwd_mpps_median"]
            L.append("- Live, %s sources, per frame (1 / rate, generator and receiver on "
                     "one CPU): XDP_TX %.1f ns, weir %.1f ns: weir spends %.1f ns beyond "
                     "the ceiling; 0.7x would allow %.1f ns." %
                     (lbl, tt, tw, tw - tt, tt / 0.7 - tt))
    return L


def cmd_report(a):
    doc = load_doc(a)
    with open(a.out_json, "w") as f:
        json.dump(doc, f, indent=1)

    L = []
    env = (doc.get("live") or doc.get("import") or {}).get("environment", {})
    run_meta = doc.get("run", {})
    L.append("# weir XDP benchmarks")
    L.append("")
    L.append("Written by `make bench` (`bench/run.sh`) on %s. Machine: %s, %s CPUs, "
             "kernel %s. Peers: xdp-tools %s, libxdp %s, libbpf %s, %s, %s. "
             "Raw figures: [xdp.json](xdp.json)." %
             (env.get("date", "?"), env.get("cpu_model", "?"), env.get("cpus", "?"),
              env.get("kernel", "?"), env.get("xdp-tools", "?"), env.get("libxdp", "?"),
              env.get("libbpf", "?"), env.get("nftables", "?"), env.get("ipset", "?")))
    if run_meta:
        L.append("")
        L.append("Run: `%s` (%s), total %s s; weir at %s (weir_xdp.bpf.o sha256 %s...)." % (
            run_meta.get("command", "?"), run_meta.get("mode", "full"),
            run_meta.get("elapsed_s", "?"), run_meta.get("git", "?"),
            run_meta.get("weir_xdp_bpf_o_sha256", "?")))
    L.append("")
    L.append("This is a shared 2-core VM: read the ratios (measured in the same run, peers "
             "alternated A B A B), not the absolute figures.")

    live = doc.get("live")
    goals = (live or {}).get("goals", []) + (doc.get("live_l4") or {}).get("goals", [])
    if goals:
        L.append("")
        L.append("## Goals")
        L.append("")
        L.append("| goal | measured | met |")
        L.append("| --- | --- | --- |")
        for g in goals:
            L.append("| %s | %.2fx | %s |" % (g["goal"], g["ratio"],
                                              "yes" if g["met"] else
                                              "**no** (%.0f%% of target)" %
                                              (100 * g["ratio"] / g["target"])))
    if live:
        L.append("")
        L.append("## Live packet rate")
        L.append("")
        L.append(live["method"])
        L.append("")
        L.append("Frames: %d bytes (%s), source %s; %d rounds of %.1f s per peer; %s. "
                 "weir's blocklist: %d IPv4 prefixes (%s), imported with "
                 "`weirctl block import` in %.2f s before the rounds." %
                 (live["frame_bytes"], live["frame"], live["src"], live["rounds"],
                  live["duration_s"], live["order"], live["blocklist"]["prefixes"],
                  live["blocklist"]["file"], live["setup"]["weir_1m_import_s"]))
        L.append("")
        L.append("Command (per run): `%s`" % live["command"])
        L.append("")
        L.append("| receiver | median Mpps | rounds (Mpps) | dropped / received | "
                 "weir / trivial drop | weir / xdp-filter |")
        L.append("| --- | --- | --- | --- | --- | --- |")
        P = live["peers"]
        for name, p in P.items():
            r_drop = r_xf = "-"
            if name.startswith("weir"):
                ref = "xdp_drop_rot" if name.endswith("_rot") else "xdp_drop"
                r_drop = "%.2fx" % (p["rx_mpps_median"] / P[ref]["rx_mpps_median"])
                if not name.endswith("_rot"):
                    r_xf = "%.2fx" % (p["rx_mpps_median"] / P["xdp_filter"]["rx_mpps_median"])
            L.append("| **%s**: %s | %.2f | %s | %.3f | %s | %s |" % (
                name, p["desc"], p["rx_mpps_median"],
                " ".join("%.2f" % (x / 1e6) for x in p["rx_pps"]),
                p["dropped_frac_min"], r_drop, r_xf))
        L.append("")
        L.append("weir_1m is the goals' figure; the other weir rows locate its cost. "
                 "*_rot rows compare with xdp_drop_rot (the same generator, rotating "
                 "sources). nft_ingress: weir_1m / nft_ingress = %.2fx." %
                 live["ratios"].get("weir_1m/nft_ingress", float("nan")))
        L.append("")
        L.append("![live Mpps per receiver](live_mpps.png)")

    pp = doc.get("per_packet")
    if pp:
        L.append("")
        L.append("## Per-packet cost (BPF_PROG_TEST_RUN)")
        L.append("")
        L.append("`%s`: %s. Repeat %d, %d rounds, %d-byte frames, pinned to CPU %d. "
                 "Floor: %s at %.2f ns/packet (the harness itself); fixed cost of a "
                 "test-run call %.0f us (subtracted)." %
                 (pp.get("command", "bench_xdp"), pp["method"], pp["repeat"], pp["rounds"],
                  pp["frame_bytes"], pp["cpu"], pp["floor"]["desc"],
                  pp["floor"]["ns_per_pkt"], pp["call_overhead_us"]))
        L.append("")
        L.append("Configuration of the verdict cases: %s." % pp["verdict_config"])
        L.append("")
        L.append("| case | verdict | ns/packet | kernel ns | above floor | x floor |")
        L.append("| --- | --- | --- | --- | --- | --- |")
        for v in pp["verdicts"]:
            L.append("| %s: %s | %s %s | %.1f | %.0f | %.1f | %.1fx |" % (
                v["case"], v["desc"], v["reason"], v["action"], v["ns_per_pkt"],
                v["kernel_ns"], v["above_floor_ns"], v["ratio_vs_drop"]))
        L.append("")
        L.append("### Blocklist size")
        L.append("")
        L.append("%s. Prefix mix: %s (seed %d)." % (pp["curve_config"], pp["prefix_mix"],
                                                     pp["seed"]))
        L.append("")
        L.append("| prefixes | v4 blocked host | v4 blocked net | v4 passed | "
                 "v6 blocked host | v6 blocked net | v6 passed | "
                 "import of the increment (v4 / v6 s) |")
        L.append("| --- | --- | --- | --- | --- | --- | --- | --- |")
        by = {}
        for c in pp["curve"]:
            by.setdefault(c["prefixes"], {})[c["family"]] = c
        for n in sorted(by):
            c4, c6 = by[n].get(4, {}), by[n].get(6, {})
            L.append("| %s | %s | %s | %s | %s | %s | %s | %s / %s |" % (
                "{:,}".format(n), fmt(c4.get("blocked_ns")), fmt(c4.get("blocked_net_ns")),
                fmt(c4.get("passed_ns")), fmt(c6.get("blocked_ns")),
                fmt(c6.get("blocked_net_ns")), fmt(c6.get("passed_ns")),
                fmt(c4.get("import_increment_s"), 2), fmt(c6.get("import_increment_s"), 2)))
        L.append("")
        L.append("ns/packet, median of rounds, hot cache (one frame repeated).")
        L.append("")
        L.append("![ns/packet vs blocklist size](curve_ns.png)")
        L.append("")
        L.append("`weir_list_import()` of %s prefixes into empty maps: %s." % (
            "{:,}".format(pp["import"][0]["prefixes"]),
            ", ".join("IPv%d %.2f s (%.0fk/s)" % (i["family"], i["seconds"],
                                                  i["prefixes_per_sec"] / 1e3)
                      for i in pp["import"])))

    imp = doc.get("import")
    if imp:
        L.append("")
        L.append("## Blocklist import: weirctl beside ipset")
        L.append("")
        L.append("%s; %d rounds, %s." % (imp["what"], imp["rounds"], imp["order"]))
        L.append("")
        L.append("| family | prefixes | weirctl block import (s) | ipset restore (s) | "
                 "weir / ipset (time) |")
        L.append("| --- | --- | --- | --- | --- |")
        for fam, f in sorted(imp["families"].items()):
            L.append("| IPv%s | %s | %.2f (%s) | %.2f (%s) | %.2fx |" % (
                fam, "{:,}".format(f["prefixes"]), f["weirctl"]["median_s"],
                " ".join("%.2f" % x for x in f["weirctl"]["seconds"]),
                f["ipset"]["median_s"], " ".join("%.2f" % x for x in f["ipset"]["seconds"]),
                f["ratio_weir_time_over_ipset_time"]))
        L.append("")
        L.append("Lower is faster; weir / ipset < 1 means weirctl loads faster.")
        L.append("")
        L.append("![import time](import_s.png)")

    L += report_l4(doc)
    L += analysis(doc)
    L.append("")
    L.append("## How to run")
    L.append("")
    L.append("- `make bench`: builds, then `bench/run.sh` (root; ~5 minutes): the per-packet "
             "bench (`build/bench_xdp`), the import comparison and the live rates "
             "(`build/livegen` + `bench/xdpbench.py`), then this report and the plots "
             "(`bench/plot.py`).")
    L.append("- `bench/run.sh --quick`: a smoke run (20k prefixes, 2 rounds, 1 s runs).")
    L.append("- `bench/run.sh --only l4` (or `make bench BENCH_ARGS='--only l4'`): only "
             "the l4 forwarding figures (`bench_xdp --only l4` and "
             "`xdpbench.py live-l4`, ~1 minute), merged into the last full run's "
             "xdp.json and this report.")
    L.append("- `build/bench_xdp --help`, `build/livegen --help`: each instrument alone; "
             "`build/bench_xdp gen` writes the seeded prefix lists.")
    L.append("- `bench/pktgen.sh`: the same live test driven by the kernel's pktgen, for "
             "hosts whose kernel has it (this one does not: no /proc/net/pktgen).")
    if a.notes and os.path.exists(a.notes):
        L.append("")
        with open(a.notes) as f:
            L.append(f.read().rstrip())
    with open(a.out_md, "w") as f:
        f.write("\n".join(L) + "\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)

    lv = sub.add_parser("live")
    lv.add_argument("--iface", required=True)
    lv.add_argument("--gen-netns", required=True)
    lv.add_argument("--gen-dev", required=True)
    lv.add_argument("--livegen", required=True)
    lv.add_argument("--weirctl", required=True)
    lv.add_argument("--drop-obj", required=True)
    lv.add_argument("--list4", required=True)
    lv.add_argument("--hosts", required=True)
    lv.add_argument("--net-hosts", required=True)
    lv.add_argument("--src", required=True)
    lv.add_argument("--pin-dir", required=True)
    lv.add_argument("--pin-dir1", required=True)
    lv.add_argument("--rounds", type=int, default=5)
    lv.add_argument("--duration", type=float, default=2.0)
    lv.add_argument("--max-frames", type=int, default=200000000)
    lv.add_argument("--cpu", type=int, default=1)
    lv.add_argument("--size", type=int, default=64)
    lv.add_argument("--rot-sources", type=int, default=4096)
    lv.add_argument("--no-extras", dest="extras", action="store_false")
    lv.add_argument("--out", required=True)

    l4 = sub.add_parser("live-l4")
    l4.add_argument("--iface", required=True)
    l4.add_argument("--gen-netns", required=True)
    l4.add_argument("--gen-dev", required=True)
    l4.add_argument("--livegen", required=True)
    l4.add_argument("--weirctl", required=True)
    l4.add_argument("--tx-obj", required=True)
    l4.add_argument("--drop-obj", required=True)
    l4.add_argument("--pin-dir", required=True)
    l4.add_argument("--sources-file", required=True)
    l4.add_argument("--sources", default="1024,65536")
    l4.add_argument("--rounds", type=int, default=5)
    l4.add_argument("--duration", type=float, default=2.0)
    l4.add_argument("--max-frames", type=int, default=200000000)
    l4.add_argument("--cpu", type=int, default=1)
    l4.add_argument("--out", required=True)

    im = sub.add_parser("import")
    im.add_argument("--iface", required=True)
    im.add_argument("--weirctl", required=True)
    im.add_argument("--pin-dir", required=True)
    im.add_argument("--list4", required=True)
    im.add_argument("--list6", required=True)
    im.add_argument("--ipset4", required=True)
    im.add_argument("--ipset6", required=True)
    im.add_argument("--rounds", type=int, default=5)
    im.add_argument("--settle", type=float, default=0.5)
    im.add_argument("--out", required=True)

    rp = sub.add_parser("report")
    rp.add_argument("--per-packet")
    rp.add_argument("--live")
    rp.add_argument("--import", dest="imp")
    rp.add_argument("--live-l4")
    rp.add_argument("--base", help="xdp.json of the last full run, to merge into")
    rp.add_argument("--meta")
    rp.add_argument("--notes")
    rp.add_argument("--out-json", required=True)
    rp.add_argument("--out-md", required=True)

    a = ap.parse_args()
    if a.cmd in ("live", "live-l4"):
        if not 1 <= a.rounds <= 50 or not 0.5 <= a.duration <= 30:
            ap.error("--rounds 1..50, --duration 0.5..30")
        if a.cmd == "live":
            cmd_live(a)
        else:
            if not all(1 <= int(x) <= 65536 for x in a.sources.split(",")):
                ap.error("--sources: a list of counts 1..65536")
            cmd_live_l4(a)
    elif a.cmd == "import":
        if not 1 <= a.rounds <= 50:
            ap.error("--rounds 1..50")
        cmd_import(a)
    else:
        cmd_report(a)


if __name__ == "__main__":
    main()
