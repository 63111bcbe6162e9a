#!/usr/bin/env python3
"""bench/ab_l4.py - weir's l4 path per packet, two builds of weir alternated
in one run: `bench_xdp --only l4` of build A, of build B, of B, of A, ...
(A B, then B A, PAIRS times), each run timing weir beside the trivial
XDP_TX program under the same harness (bench/reframe.bpf.c).

  bench/ab_l4.py --before ROOT --after ROOT [--pairs N] [--rounds R]
                 [--cpu C] [--label-before TEXT] [--label-after TEXT]
                 --json FILE --md FILE

ROOT is a source tree built with BUILD=build (ROOT/build/bench_xdp,
xdp_tx.bpf.o and xdp_drop.bpf.o); each run starts in its ROOT. Per case:
the median over a side's runs of weir's ns/packet (each run's figure is the
median of its R rounds), of XDP_TX's, of the run's weir / XDP_TX ratio, and
the median over pairs of after / before. Only the per-packet instrument:
the live one (BPF_F_TEST_XDP_LIVE_FRAMES) is refused with EPERM on some
kernels, this machine's among them.
"""
import argparse
import hashlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time


def run(root, args, out):
    cmd = [os.path.join(root, "build/bench_xdp"), "--cpu", str(args.cpu), "--only", "l4",
           "--rounds", str(args.rounds), "--out", out]
    subprocess.run(cmd, cwd=root, check=True, stdout=subprocess.DEVNULL)
    with open(out) as f:
        return json.load(f)["l4"]


def sha(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()[:12]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--before", required=True)
    ap.add_argument("--after", required=True)
    ap.add_argument("--label-before", default="before")
    ap.add_argument("--label-after", default="after")
    ap.add_argument("--pairs", type=int, default=4)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--cpu", type=int, default=1)
    ap.add_argument("--json", required=True)
    ap.add_argument("--md", required=True)
    args = ap.parse_args()
    sides = {"before": args.before, "after": args.after}
    runs = {"before": [], "after": []}
    started = time.time()
    with tempfile.TemporaryDirectory(prefix="wx-ab-l4.") as tmp:
        for p in range(args.pairs):
            order = ("before", "after") if p % 2 == 0 else ("after", "before")
            for side in order:
                print(f"pair {p + 1}/{args.pairs}: {side}", file=sys.stderr)
                runs[side].append(run(sides[side], args, os.path.join(tmp, f"{side}{p}.json")))
    names = [c["case"] for c in runs["after"][0]["cases"]]
    cases = []
    for name in names:
        row = {"case": name}
        for side in sides:
            got = [next(c for c in r["cases"] if c["case"] == name) for r in runs[side]]
            row[side] = {
                "ns_per_pkt": statistics.median(c["ns_per_pkt"] for c in got),
                "xdp_tx_ns": statistics.median(c["xdp_tx_ns"] for c in got),
                "ratio_vs_xdp_tx": statistics.median(c["ratio_vs_xdp_tx"] for c in got),
                "runs_ns": [c["ns_per_pkt"] for c in got],
                "runs_xdp_tx_ns": [c["xdp_tx_ns"] for c in got],
            }
            row["desc"] = got[0]["desc"]
        row["after_over_before"] = statistics.median(
            a["ns_per_pkt"] / b["ns_per_pkt"]
            for a, b in zip((next(c for c in r["cases"] if c["case"] == name)
                             for r in runs["after"]),
                            (next(c for c in r["cases"] if c["case"] == name)
                             for r in runs["before"])))
        cases.append(row)
    first = runs["after"][0]
    result = {
        "generated_by": "bench/ab_l4.py",
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "duration_s": round(time.time() - started, 1),
        "invocation": " ".join(["bench/ab_l4.py"] + sys.argv[1:]),
        "command": f"bench_xdp --cpu {args.cpu} --only l4 --rounds {args.rounds}, "
                   f"{args.pairs} pairs, alternated (A B, B A, ...)",
        "before": {"label": args.label_before,
                   "object_sha256": sha(os.path.join(args.before, "build/weir_xdp.bpf.o"))},
        "after": {"label": args.label_after,
                  "object_sha256": sha(os.path.join(args.after, "build/weir_xdp.bpf.o"))},
        "repeat": first["repeat"], "frame_bytes": first["frame_bytes"],
        "config": first["config"], "method": first["method"],
        "harness": first["harness"], "cases": cases,
    }
    with open(args.json, "w") as f:
        json.dump(result, f, indent=1)
    lb, la = args.label_before, args.label_after
    with open(args.md, "w") as f:
        f.write("# l4 path per packet: two builds of weir, alternated\n\n")
        f.write(f"`{result['invocation']}` on {result['date']} ({result['duration_s']} s): "
                f"{result['command']}; each run times weir beside the trivial XDP_TX "
                f"program under the same harness. Before: {lb} (weir_xdp.bpf.o "
                f"{result['before']['object_sha256']}); after: {la} "
                f"({result['after']['object_sha256']}). Repeat {first['repeat']}, "
                f"{first['frame_bytes']}-byte frames, pinned to CPU {args.cpu}. "
                f"Configuration: {first['config']}. Method: {first['method']}.\n\n")
        f.write("Only the per-packet instrument (BPF_PROG_TEST_RUN): the live one "
                "(BPF_F_TEST_XDP_LIVE_FRAMES) is refused with EPERM on this kernel. "
                "This is a shared 2-core VM: read the ratios, measured in the same run.\n\n")
        f.write("| case | before ns/packet | after ns/packet | XDP_TX ns/packet "
                "(before's runs / after's) | before / XDP_TX | after / XDP_TX | "
                "after / before (time) |\n| --- | --- | --- | --- | --- | --- | --- |\n")
        for c in cases:
            b, a = c["before"], c["after"]
            f.write(f"| {c['case']}: {c['desc']} | {b['ns_per_pkt']:.1f} | "
                    f"{a['ns_per_pkt']:.1f} | {b['xdp_tx_ns']:.1f} / {a['xdp_tx_ns']:.1f} | "
                    f"{b['ratio_vs_xdp_tx']:.2f}x | {a['ratio_vs_xdp_tx']:.2f}x | "
                    f"**{c['after_over_before']:.3f}** |\n")
        f.write("\nRatios of times: lower is faster. Runs (ns/packet, weir):\n\n")
        for c in cases:
            f.write(f"- {c['case']}: before " +
                    " ".join(f"{x:.1f}" for x in c["before"]["runs_ns"]) +
                    "; after " + " ".join(f"{x:.1f}" for x in c["after"]["runs_ns"]) + "\n")


if __name__ == "__main__":
    main()
