#!/usr/bin/python3
"""plot.py - draw the XDP benchmark plots from bench/results/xdp.json.

  plot.py XDP_JSON OUTDIR [l4]

Writes, where the JSON has the data (with l4, only l4_mpps.png):
  curve_ns.png     ns/packet against blocklist size: IPv4 and IPv6, blocked
                   and passed source, with the trivial XDP_DROP floor
  live_mpps.png    live receive rate per receiver (median bar, rounds as dots)
  import_s.png     weirctl block import beside ipset restore of 1M prefixes
  l4_mpps.png      live l4 forwarding rate: weir beside trivial XDP_TX, per
                   number of sources
"""
import json
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def plot_curve(pp, path):
    fig, ax = plt.subplots(figsize=(8, 5))
    styles = {(4, "blocked"): ("tab:red", "-", "o"), (4, "blocked_net"): ("tab:purple", "-", "o"),
              (4, "passed"): ("tab:blue", "-", "o"),
              (6, "blocked"): ("tab:red", "--", "s"), (6, "blocked_net"): ("tab:purple", "--", "s"),
              (6, "passed"): ("tab:blue", "--", "s")}
    labels = {"blocked": "blocklisted host", "blocked_net": "inside a blocklisted network",
              "passed": "passed"}
    zero = {}
    for fam in (4, 6):
        pts = sorted((c for c in pp["curve"] if c["family"] == fam),
                     key=lambda c: c["prefixes"])
        for kind in ("blocked", "blocked_net", "passed"):
            ok = [c for c in pts if c["prefixes"] > 0 and c.get(kind + "_ns") is not None]
            xs = [c["prefixes"] for c in ok]
            ys = [c[kind + "_ns"] for c in ok]
            color, ls, mk = styles[(fam, kind)]
            ax.plot(xs, ys, color=color, linestyle=ls, marker=mk,
                    label="IPv%d source: %s" % (fam, labels[kind]))
        z = [c for c in pts if c["prefixes"] == 0]
        if z:
            zero[fam] = z[0]["passed_ns"]
    for fam, y in zero.items():
        ax.axhline(y, color="tab:gray", linestyle=":" if fam == 4 else "-.", linewidth=1,
                   label="IPv%d, empty blocklist (feature off): %.1f ns" % (fam, y))
    floor = pp["floor"]["ns_per_pkt"]
    ax.axhline(floor, color="black", linestyle=":", linewidth=1,
               label="trivial XDP_DROP (harness floor): %.1f ns" % floor)
    ax.set_xscale("log")
    ax.set_xlabel("prefixes in the blocklist (90% hosts, 10% networks)")
    ax.set_ylabel("ns per packet (median, hot cache)")
    ax.set_ylim(bottom=0)
    ax.set_title("weir XDP: per-packet cost against blocklist size\n"
                 "(BPF_PROG_TEST_RUN, %d-byte frames, %d rounds)" %
                 (pp["frame_bytes"], pp["rounds"]))
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_live(live, path):
    peers = live["peers"]
    names = list(peers)
    med = [peers[n]["rx_mpps_median"] for n in names]
    fig, ax = plt.subplots(figsize=(10, 5.5))
    colors = ["tab:orange" if n.startswith("weir") else "tab:gray" for n in names]
    bars = ax.bar(range(len(names)), med, color=colors)
    for i, n in enumerate(names):
        ys = [x / 1e6 for x in peers[n]["rx_pps"]]
        ax.scatter([i] * len(ys), ys, color="black", s=10, zorder=3)
    w = peers["weir_1m"]["rx_mpps_median"]
    for i, (b, n) in enumerate(zip(bars, names)):
        label = "%.2f" % med[i]
        if not n.startswith("weir") and not n.endswith("_rot"):
            label += "\nweir_1m/this\n%.2fx" % (w / med[i])
        top = max([b.get_height()] + [x / 1e6 for x in peers[n]["rx_pps"]])
        ax.text(b.get_x() + b.get_width() / 2, top * 1.01, label, ha="center",
                va="bottom", fontsize=8)
    ax.set_xticks(range(len(names)))
    ax.set_xticklabels(names, rotation=25, fontsize=8, ha="right")
    ax.set_ylabel("Mpps received (median; dots: rounds)")
    ax.set_ylim(0, max(med) * 1.3)
    ax.set_title("Live drop rate, %d-byte frames, veth, one CPU (generator + receiver)\n"
                 "weir_1m: %s prefixes in the blocklist; *_rot: %d rotating sources" %
                 (live["frame_bytes"], "{:,}".format(live["blocklist"]["prefixes"]),
                  live.get("rot_sources", 4096)))
    ax.grid(True, axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_import(imp, path):
    fams = sorted(imp["families"])
    fig, ax = plt.subplots(figsize=(7, 4.5))
    width = 0.35
    for j, (tool, color) in enumerate((("weirctl", "tab:orange"), ("ipset", "tab:gray"))):
        xs = [i + (j - 0.5) * width for i in range(len(fams))]
        ys = [imp["families"][f][tool]["median_s"] for f in fams]
        ax.bar(xs, ys, width, color=color,
               label="weirctl block import" if tool == "weirctl" else "ipset restore (hash:net)")
        for x, f in zip(xs, fams):
            pts = imp["families"][f][tool]["seconds"]
            ax.scatter([x] * len(pts), pts, color="black", s=10, zorder=3)
    ax.set_xticks(range(len(fams)))
    ax.set_xticklabels(["IPv%s, %s prefixes" % (f, "{:,}".format(imp["families"][f]["prefixes"]))
                        for f in fams])
    ax.set_ylabel("seconds (median; dots: rounds)")
    ax.set_title("Loading a blocklist into an empty table")
    ax.legend()
    ax.grid(True, axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_l4(ll, path):
    peers = ll["peers"]
    sizes = sorted({p["sources"] for p in peers.values()})
    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    width = 0.38
    for j, (prefix, color, label) in enumerate((
            ("xdp_tx_", "tab:gray", "trivial XDP_TX (the ceiling)"),
            ("weir_l4_", "tab:orange", "weir l4 (3 backends, IPv4-in-IPv4)"))):
        xs, ys = [], []
        for i, n in enumerate(sizes):
            name = [k for k, p in peers.items() if k.startswith(prefix) and p["sources"] == n]
            if not name:
                continue
            p = peers[name[0]]
            x = i + (j - 0.5) * width
            xs.append(x)
            ys.append(p["fwd_mpps_median"])
            pts = [v / 1e6 for v in p["fwd_pps"]]
            ax.scatter([x] * len(pts), pts, color="black", s=10, zorder=3)
            txt = "%.2f" % p["fwd_mpps_median"]
            if prefix == "weir_l4_":
                ref = [q for k, q in peers.items()
                       if k.startswith("xdp_tx_") and q["sources"] == n]
                if ref:
                    goal = 0.7 * ref[0]["fwd_mpps_median"]
                    txt += "\n%.2fx" % (p["fwd_mpps_median"] / ref[0]["fwd_mpps_median"])
                    ax.hlines(goal, x - width / 2, x + width / 2, colors="tab:red",
                              linestyles="--", zorder=4,
                              label="goal: 0.7x XDP_TX" if i == 0 else None)
            ax.text(x, max(pts + [p["fwd_mpps_median"]]) * 1.01, txt, ha="center",
                    va="bottom", fontsize=8)
        ax.bar(xs, ys, width, color=color, label=label)
    top = max(p["fwd_mpps_median"] for p in peers.values())
    ax.axhline(0, color="black", linewidth=0.5)
    ax.set_xticks(range(len(sizes)))
    ax.set_xticklabels(["%s sources (flows)" % "{:,}".format(n) for n in sizes])
    ax.set_ylabel("Mpps sent back by XDP_TX (median; dots: rounds)")
    ax.set_ylim(0, top * 1.3)
    ax.set_title("Live l4 forwarding, %d-byte UDP frames, veth, one CPU\n"
                 "(generator + receiver + return path); goal: weir >= 0.7x XDP_TX" %
                 ll["frame_bytes"])
    ax.legend(fontsize=8, loc="upper right")
    ax.grid(True, axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main():
    if len(sys.argv) not in (3, 4) or (len(sys.argv) == 4 and sys.argv[3] != "l4"):
        sys.exit("usage: plot.py XDP_JSON OUTDIR [l4]")
    with open(sys.argv[1]) as f:
        doc = json.load(f)
    out = sys.argv[2]
    os.makedirs(out, exist_ok=True)
    if "live_l4" in doc:
        plot_l4(doc["live_l4"], os.path.join(out, "l4_mpps.png"))
    if len(sys.argv) == 4:
        return
    if "per_packet" in doc:
        plot_curve(doc["per_packet"], os.path.join(out, "curve_ns.png"))
    if "live" in doc:
        plot_live(doc["live"], os.path.join(out, "live_mpps.png"))
    if "import" in doc:
        plot_import(doc["import"], os.path.join(out, "import_s.png"))


if __name__ == "__main__":
    main()
