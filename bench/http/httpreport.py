#!/usr/bin/python3
"""httpreport.py - the Markdown report and plots of the HTTP benchmark.

  httpreport.py bench/results/http.json [OUTDIR]

Also called by httpbench.py at the end of a run. Writes OUTDIR/http.md,
OUTDIR/http_rps.png (req/s and the proxy's CPU time per request against
connections, keepalive clients; req/s with a new connection per request)
and OUTDIR/http_latency.png (p50 and p99 against connections).
"""
import json
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

COLORS = {"weir": "tab:red", "weir_plugins": "tab:orange", "nginx": "tab:green", "haproxy": "tab:blue"}


def fmt_int(v):
    return "-" if v is None else "{:,}".format(int(round(v)))


def fmt_lat(v):
    return "-" if v is None else "%s us" % fmt_int(v)


def fmt_f(v):
    return "-" if v is None else "%.1f" % v


def fmt_x(v):
    return "-" if v is None else "%.2fx" % v


def fmt_mib(b):
    return "-" if b is None else "%.1f MiB" % (b / 2**20)


def case_label(c):
    if c.get("kind") == "rate":
        return "fixed rate %s req/s, %d conns" % (fmt_int(c["rate"]), c["conns"])
    if c.get("kind") == "http10":
        return "HTTP/1.0 keepalive (ab -k), %d conns" % c["conns"]
    if c["close"]:
        return "new connection per request, %d conns" % c["conns"]
    return "keepalive, %d conns" % c["conns"]


def peer_names(d):
    return list(d["peers"].keys())


def write_md(d, path):
    s = d["setup"]
    env = d["environment"]
    v = dict(d["versions"])
    v["nginx"] = v["nginx"].replace("nginx/", "")
    L = []
    L.append("# weir HTTP benchmark: the L7 reverse proxy beside nginx and HAProxy")
    L.append("")
    L.append("Written by `%s` (%s mode, %d s) on %s. Machine: %s, %d CPUs, kernel %s. "
             "weir at %s. Raw figures of every run: [http.json](http.json)."
             % (d["command"], d["mode"], d["elapsed_s"], env["date"], env["cpu"], env["cpus"],
                env["kernel"], d["git"]))
    L.append("")
    L.append("Peers: nginx %s (Debian %s), HAProxy %s (Debian %s); load generator wrk %s "
             "(Debian %s). This is a shared 2-core VM: read the ratios (same run, peers "
             "alternated), not the absolute figures."
             % (v["nginx"], v["nginx_deb"], v["haproxy"], v["haproxy_deb"], v["wrk"],
                v["wrk_deb"]))
    L.append("")
    L.append("## Setup")
    L.append("")
    L.append("- **Upstream** (the same for every proxy): %s, access log off, keepalive. "
             "Config: `bench/http/upstream.nginx.conf`." % s["upstream"])
    L.append("- **Proxies**, one worker each, keepalive to the upstream, access logs off, "
             "each on its own loopback port:")
    for name, p in d["peers"].items():
        how = "`%s`" % p["argv"] if p["argv"] else "-"
        if p["config"]:
            how += ", config `%s`" % p["config"]
        state = "" if p["available"] else " — **missing**: %s" % p["reason"]
        L.append("  - **%s**: %s, port %d; %s%s" % (name, p["desc"], p["port"], how, state))
        for inc in p.get("incidents") or []:
            L.append("    - **incident**: %s%s" % (inc, "; restarted" if p["available"] else ""))
    L.append("  - nginx's idle upstream pool is `keepalive %d`, above the largest client count: "
             "with a smaller pool (e.g. 64) nginx closes and reopens upstream connections for "
             "the requests past it, which at 200 clients costs it about a third of its req/s. "
             "HAProxy keeps every idle server connection (http-reuse always)."
             % s.get("nginx_keepalive", 64))
    pin = s["pinning"]
    L.append("- **CPU pinning** (taskset): each proxy on CPU %d; wrk, the upstream and the "
             "driver on CPU %d. The client CPU also carries the upstream, so where its busy "
             "figure nears 100%% the run is bounded by the client side, not the proxy."
             % (pin["proxy_cpu"], pin["client_cpu"]))
    L.append("- **Load**: `%s`, %d s per run, %d rounds; in each round every case runs on "
             "every peer back to back, the peers' order rotated each round (A B C, B C A, ...). "
             "Keepalive cases: %s connections; connection-per-request case: %d connections "
             "with `Connection: close`."
             % (s["wrk"], s["duration_s"], s["rounds"], ", ".join(map(str, s["conns"])),
                s["close_conns"]))
    rate = [c for c in s["cases"] if c.get("kind") == "rate"]
    if rate:
        L.append("- **Fixed rate**: `%s`, in the same rounds: %s requests a second on %d "
                 "keepalive connections, below every peer's ceiling, open loop (each request "
                 "due at its time whatever came before; its latency counted from then, so a "
                 "stall is charged to every request it delays). wrk's latencies above are "
                 "those of a saturated proxy, the length of the queue it builds; these are "
                 "what a client sees at a load the proxy carries. req/s there is the rate "
                 "achieved; CPU-us/req counts the warm-up's requests too."
                 % (s["rateload"], fmt_int(rate[0]["rate"]), rate[0]["conns"]))
    h10 = [c for c in s["cases"] if c.get("kind") == "http10"]
    if h10:
        L.append("- **HTTP/1.0 keepalive**: `%s`, in the same rounds, %d connections: "
                 "ApacheBench's requests are HTTP/1.0 with `Connection: keep-alive`, which a "
                 "proxy must still carry over its keepalive upstream pool (HTTP/1.1 upstream). "
                 "ab's percentiles are whole milliseconds, so only req/s and CPU are reported."
                 % (s["ab"], h10[0]["conns"]))
    L.append("- **Sizes**: request %d bytes (`GET /` with Host; %d with `Connection: close`), "
             "response body %d bytes; response bytes per request as each peer sends it: %s."
             % (s["request_bytes"]["keepalive"], s["request_bytes"]["close"], s["body_bytes"],
                ", ".join("%s %s" % (n, fmt_int(resp_bytes(d, n))) for n in peer_names(d)
                          if resp_bytes(d, n))))
    L.append("- A run counts if %s; medians are over counted runs." % s["valid_run"])
    L.append("")
    L.append("## Throughput and latency (medians)")
    L.append("")
    L.append("| case | peer | req/s | p50 | p90 | p99 | p99.9 | CPU-us/req | proxy CPU "
             "| client CPU | runs |")
    L.append("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for c in s["cases"]:
        m = d["medians"].get(c["id"], {})
        for n in peer_names(d):
            if n not in m:
                if not d["peers"][n]["available"] or any(
                        r["peer"] == n and r["case"] == c["id"] for r in d["runs"]):
                    L.append("| %s | %s | missing | | | | | | | | 0 |" % (case_label(c), n))
                continue
            x = m[n]
            runs = "%d" % x["runs"] + (" (+%d invalid)" % x["invalid_runs"]
                                       if x["invalid_runs"] else "")
            L.append("| %s | **%s** | %s | %s | %s | %s | %s | %s | %s%% | %s%% | %s |"
                     % (case_label(c), n, fmt_int(x["rps"]), fmt_lat(x["p50_us"]),
                        fmt_lat(x["p90_us"]), fmt_lat(x["p99_us"]), fmt_lat(x["p99_9_us"]),
                        fmt_f(x["cpu_us_per_req"]), fmt_int(x["proxy_cpu_pct"]),
                        fmt_int(x["client_cpu_busy_pct"]), runs))
    L.append("")
    L.append("CPU-us/req: the proxy's CPU time (user + system, with the softirq work of its "
             "sockets done in its context) divided by the requests served: its cost per request, "
             "meaningful even when the client side is the bottleneck. Proxy CPU: the same time "
             "over the run (100% = one core). Client CPU: how busy the CPU of wrk and the "
             "upstream was; near 100% the run is bounded by the client side and the req/s ratio "
             "understates the faster proxy: read CPU-us/req.")
    runs = [r for r in d["runs"] if r.get("valid")]
    op = sorted(r["other_on_proxy_cpu_pct"] for r in runs if "other_on_proxy_cpu_pct" in r)
    oc = sorted(r["other_on_client_cpu_pct"] for r in runs if "other_on_client_cpu_pct" in r)
    if op and oc:
        L.append("")
        L.append("Other tenants of this machine: before a run the driver waits (up to 5 s a "
                 "run, %.0f s in all; %.0f s spent) for both CPUs to be idle (under 15%%), then "
                 "runs anyway. Busy time of a CPU not accounted to the processes under test "
                 "(other tenants, interrupts) during the runs: on the proxy's CPU median %.0f%% "
                 "(worst %.0f%%), on the client's CPU median %.0f%% (worst %.0f%%). Per run in "
                 "http.json (`other_on_proxy_cpu_pct`, `other_on_client_cpu_pct`)."
                 % (s.get("quiet_wait_s", 0), s.get("quiet_waited_s", 0), op[len(op) // 2], op[-1], oc[len(oc) // 2],
                    oc[-1]))
    L.append("")
    L.append("### Ratios (medians of the same run)")
    L.append("")
    pairs = ["weir/nginx", "weir/haproxy", "haproxy/nginx", "weir_plugins/nginx",
             "weir_plugins/weir"]
    L.append("| case | ratio | req/s | p50 | p99 | CPU-us/req |")
    L.append("| --- | --- | ---: | ---: | ---: | ---: |")
    for c in s["cases"]:
        r = d["ratios"].get(c["id"], {})
        for p in pairs:
            x = r.get(p)
            if x is None:
                if p.startswith("weir/"):
                    L.append("| %s | %s | - | - | - | - |" % (case_label(c), p))
                continue
            L.append("| %s | %s | %s | %s | %s | %s |" % (
                case_label(c), "**%s**" % p if p.startswith("weir/") else p,
                fmt_x(x.get("rps")), fmt_x(x.get("p50_us")), fmt_x(x.get("p99_us")),
                fmt_x(x.get("cpu_us_per_req"))))
    L.append("")
    L.append("Better for the numerator: a req/s ratio above 1; latency and CPU-us/req ratios "
             "below 1.")
    if not d["peers"].get("weir", {}).get("available", False):
        L.append("")
        L.append("**weir is missing from this run** (%s): its ratios are empty; haproxy/nginx "
                 "is shown to check the harness." % d["peers"].get("weir", {}).get("reason"))
    L.append("")
    L.append("![req/s against connections](http_rps.png)")
    L.append("")
    L.append("![latency against connections](http_latency.png)")
    L.append("")
    L.append("## Memory per idle client connection")
    L.append("")
    L.append("Each proxy freshly started, three requests to warm it up, then %d keepalive "
             "client connections opened (at most 200 in progress), one request each, whose "
             "whole response is read, then left idle. RSS (VmRSS summed over the proxy's "
             "processes, e.g. nginx's master and worker) read 1 s after the last response; "
             "bytes per connection = RSS growth / connections still open. %d round(s), a "
             "fresh process each." % (s["idle_conns"], s["mem_rounds"]))
    L.append("")
    L.append("| peer | RSS before | RSS with idle conns | conns open | bytes per conn "
             "(median) | rounds (bytes per conn) |")
    L.append("| --- | ---: | ---: | ---: | ---: | --- |")
    mem = d["memory"]
    for n in peer_names(d):
        if n not in mem:
            L.append("| %s | missing | | | | |" % n)
            continue
        m = mem[n]
        L.append("| **%s** | %s | %s | %s | %s | %s |" % (
            n, fmt_mib(m["rss_before"]), fmt_mib(m["rss_after"]),
            "/".join(str(r["still_open"]) for r in m["rounds"]),
            fmt_int(m["bytes_per_conn"]),
            " ".join(fmt_int(r["bytes_per_conn"]) for r in m["rounds"])))
    if mem.get("ratios"):
        L.append("")
        L.append("Ratios: " + ", ".join("%s %s" % (k, fmt_x(v)) for k, v in
                                        mem["ratios"].items()) + ".")
    L.append("")
    L.append("Userspace memory only: the kernel's socket memory is not in RSS. nginx "
             "allocates its connection table (worker_connections 10240) at start, so that part "
             "is in its RSS before, not in its growth.")
    L.append("")
    with open(path, "w") as f:
        f.write("\n".join(L))


def resp_bytes(d, name):
    for c in d["setup"]["cases"]:
        x = d["medians"].get(c["id"], {}).get(name)
        if x and x.get("response_bytes"):
            return x["response_bytes"]
    return None


def series(d, name, key, close=False):
    xs, ys, lo, hi = [], [], [], []
    for c in d["setup"]["cases"]:
        if c["close"] != close or c.get("kind") in ("rate", "http10"):
            continue
        m = d["medians"].get(c["id"], {}).get(name)
        if not m:
            continue
        vals = [r[key] for r in d["runs"] if r["case"] == c["id"] and r["peer"] == name
                and r.get("valid")]
        xs.append(c["conns"])
        ys.append(m[key])
        lo.append(m[key] - min(vals))
        hi.append(max(vals) - m[key])
    return xs, ys, [lo, hi]


def plot_rps(d, path):
    fig, (ax, cx, bx) = plt.subplots(1, 3, figsize=(14, 4.8),
                                     gridspec_kw={"width_ratios": [3, 3, 1.3]})
    names = [n for n in peer_names(d) if any(n in m for m in d["medians"].values())]
    for n in names:
        xs, ys, err = series(d, n, "rps")
        if xs:
            ax.errorbar(xs, ys, yerr=err, marker="o", capsize=3, color=COLORS.get(n), label=n)
    ax.set_xscale("log")
    ax.set_xticks(d["setup"]["conns"])
    ax.set_xticklabels([str(c) for c in d["setup"]["conns"]])
    ax.set_xlabel("client connections (keepalive)")
    ax.set_ylabel("requests/s (median, bars: min-max of rounds)")
    ax.set_ylim(bottom=0)
    ax.grid(True, alpha=0.3)
    ax.legend()
    ax.set_title("keepalive clients")
    for n in names:
        xs, ys, err = series(d, n, "cpu_us_per_req")
        if xs:
            cx.errorbar(xs, ys, yerr=err, marker="o", capsize=3, color=COLORS.get(n), label=n)
    cx.set_xscale("log")
    cx.set_xticks(d["setup"]["conns"])
    cx.set_xticklabels([str(c) for c in d["setup"]["conns"]])
    cx.set_xlabel("client connections (keepalive)")
    cx.set_ylabel("proxy CPU time per request, us (lower is better)")
    cx.set_ylim(bottom=0)
    cx.grid(True, alpha=0.3)
    cx.legend()
    cx.set_title("cost per request (not bounded by the client)")
    vals, cols, labels = [], [], []
    for n in names:
        xs, ys, _ = series(d, n, "rps", close=True)
        if ys:
            vals.append(ys[0])
            cols.append(COLORS.get(n))
            labels.append(n)
    bx.bar(labels, vals, color=cols)
    bx.set_title("a connection per request\n(Connection: close, %d conns)"
                 % d["setup"]["close_conns"], fontsize="medium")
    bx.set_ylabel("requests/s (median)")
    bx.grid(True, axis="y", alpha=0.3)
    missing = [n for n in peer_names(d) if n not in names]
    fig.suptitle("HTTP proxy, 1 worker, %d-byte body%s" % (
        d["setup"]["body_bytes"], ("; missing: " + ", ".join(missing)) if missing else ""))
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_latency(d, path):
    fig, ax = plt.subplots(figsize=(8, 4.5))
    names = [n for n in peer_names(d) if any(n in m for m in d["medians"].values())]
    for n in names:
        for key, ls, lab in (("p50_us", "-", "p50"), ("p99_us", "--", "p99")):
            xs, ys, err = series(d, n, key)
            if xs:
                ax.errorbar(xs, [y / 1000 for y in ys],
                            yerr=[[e / 1000 for e in err[0]], [e / 1000 for e in err[1]]],
                            marker="o", linestyle=ls, capsize=3, color=COLORS.get(n),
                            label="%s %s" % (n, lab))
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xticks(d["setup"]["conns"])
    ax.set_xticklabels([str(c) for c in d["setup"]["conns"]])
    ax.set_xlabel("client connections (keepalive)")
    ax.set_ylabel("latency, ms (median of rounds)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(ncol=2, fontsize="small")
    ax.set_title("HTTP proxy latency, p50 (solid) and p99 (dashed)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_all(d, outdir):
    write_md(d, os.path.join(outdir, "http.md"))
    plot_rps(d, os.path.join(outdir, "http_rps.png"))
    plot_latency(d, os.path.join(outdir, "http_latency.png"))


if __name__ == "__main__":
    if len(sys.argv) not in (2, 3):
        sys.exit(__doc__)
    with open(sys.argv[1]) as f:
        data = json.load(f)
    write_all(data, sys.argv[2] if len(sys.argv) == 3 else os.path.dirname(sys.argv[1]))
