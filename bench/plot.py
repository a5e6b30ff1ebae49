#!/usr/bin/env python3
"""Plot a load-benchmark results file written by bench/run.sh (see docs/load.md).

Usage: python3 bench/plot.py bench/results/2026-11-26.md docs/img

Reads the raw `SERVER SCENARIO {json}` lines of the results file's fenced block
(the table above them is only used for its header: date and machine) and writes
into the output directory (default docs/img/):

  load-ratios.png   one small panel per headline metric (idle RSS per
                    connection, delivered events/s, p99 latency of tp, lat1 and
                    lat2): ssehub and baseline bars, values and the ratio
                    (above 1 favours ssehub, as in the table) labelled.
  load-latency.png  the two latency scenarios (lat1, lat2): p50, p99, p99.9 and
                    max publish-to-receipt latency, ssehub vs baseline, log ms.

Needs Python 3.11 and matplotlib (pip install matplotlib), nothing else.
A (server, scenario) pair that appears more than once in the raw block is kept
once (the first non-empty line); a missing or empty line shows as n/a.
"""
import json
import os
import re
import sys

try:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import EngFormatter, StrMethodFormatter
except ImportError:
    sys.exit("bench/plot.py needs matplotlib: pip install matplotlib")

SERVERS = ("ssehub", "baseline")
COLORS = {"ssehub": "#1f77b4", "baseline": "#aaaaaa"}
DPI = 100  # figures are 12 in wide: 1200 px


def parse(path):
    """Return (date line, machine line, {(server, scenario): dict})."""
    text = open(path, encoding="utf-8").read()
    lines = text.splitlines()
    # Header: "YYYY-MM-DD HH:MM UTC, commit X," then "N CPUs (model), OS;".
    date = next((l for l in lines if re.match(r"\d{4}-\d\d-\d\d ", l)), "")
    date = date.split(",")[0].strip()
    machine = next((l for l in lines if " CPUs " in l), "").strip().rstrip(";")
    runs = {}
    fenced = False
    for line in lines:
        if line.startswith("```"):
            fenced = not fenced
            continue
        if not fenced:
            continue
        parts = line.split(" ", 2)
        if len(parts) < 2 or (parts[0], parts[1]) in runs:
            continue  # blank, or a duplicate of a line already kept
        blob = parts[2].strip() if len(parts) == 3 else ""
        if blob:
            try:
                runs[(parts[0], parts[1])] = json.loads(blob)
            except json.JSONDecodeError:
                print(f"warning: unreadable line: {line[:80]}", file=sys.stderr)
    if not runs:
        sys.exit(f"{path}: no raw `SERVER SCENARIO {{json}}` lines found")
    return date, machine, runs


def get(runs, server, scenario, key, div=1.0):
    v = runs.get((server, scenario), {}).get(key)
    return None if v is None else v / div


def as_table(v):
    """v rounded as run.sh's table shows it, so that the ratios match it."""
    return v if v == int(v) else round(v) if v >= 100 else round(v, 2)


def fmt(v):
    if v is None:
        return "n/a"
    if v >= 1e6:
        return f"{v / 1e6:.2f} M"
    if v >= 100:
        return f"{v:,.0f}"
    return f"{v:.2f}" if v < 10 else f"{v:.1f}"


def describe(runs, scenario):
    r = runs.get(("ssehub", scenario)) or runs.get(("baseline", scenario)) or {}
    n = r.get("connections", "?")
    if scenario == "idle":
        return f"(a) idle, {n} connections"
    if scenario == "tp":
        return f"(b) throughput, {n} subscribers, {r.get('events_published', '?')} events"
    rate = r.get("published_per_sec")
    rate = "?" if rate is None else f"{rate:.0f}"
    return f"(c) {rate} events/s to {n} subscribers"


def plot_ratios(date, machine, runs, out):
    # (scenario, key, divisor, metric label, better)
    metrics = [
        ("idle", "server_rss_per_connection_bytes", 1, "server RSS per connection (bytes)", "lower"),
        ("tp", "delivered_per_sec", 1, "delivered events/s", "higher"),
        ("tp", "latency_p99_us", 1000, "latency p99 under saturation (ms)", "lower"),
        ("lat1", "latency_p99_us", 1000, "latency p99 (ms)", "lower"),
        ("lat2", "latency_p99_us", 1000, "latency p99 (ms)", "lower"),
    ]
    fig, axes = plt.subplots(len(metrics), 1, figsize=(12, 1.75 * len(metrics) + 1.1))
    for ax, (scenario, key, div, label, better) in zip(axes, metrics):
        s, b = (get(runs, srv, scenario, key, div) for srv in SERVERS)
        ratio = ""
        if s and b:
            s, b = as_table(s), as_table(b)
            r = b / s if better == "lower" else s / b
            ratio = f"   —   ssehub {r:.2f}× better" if r >= 1 else f"   —   ratio {r:.2f}×: baseline better"
        ax.set_title(f"{describe(runs, scenario)}: {label}, {better} is better{ratio}",
                     loc="left", fontsize=11)
        vals = [s, b]
        ax.barh([0, 1], [v or 0 for v in vals], height=0.7,
                color=[COLORS[x] for x in SERVERS])
        ax.set_yticks([0, 1], SERVERS, fontsize=10)
        ax.invert_yaxis()
        known = [v for v in vals if v]
        # Linear shows the ratio as it is; log only if the short bar would vanish.
        log = len(known) == 2 and max(known) / min(known) > 100
        if log:
            ax.set_xscale("log")
        top = max(known, default=1)
        ax.set_xlim(min(known) / 3 if log else 0, top * (4 if log else 1.18))
        for y, v in enumerate(vals):
            ax.text(v or (ax.get_xlim()[0] if log else 0), y, "  " + fmt(v),
                    va="center", fontsize=10, fontweight="bold")
        if not log:
            ax.xaxis.set_major_formatter(
                EngFormatter(sep=" ") if top >= 1e5 else StrMethodFormatter("{x:,.0f}"))
        ax.tick_params(axis="x", labelsize=9)
        ax.grid(axis="x", alpha=0.3)
        ax.set_axisbelow(True)
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
    fig.suptitle(f"ssehub vs baseline (axum Sse + tokio broadcast) — {date}\n{machine}",
                 fontsize=13)
    fig.tight_layout()
    fig.savefig(os.path.join(out, "load-ratios.png"), dpi=DPI)
    plt.close(fig)


def plot_latency(date, machine, runs, out):
    stats = [("p50", "latency_p50_us"), ("p99", "latency_p99_us"),
             ("p99.9", "latency_p999_us"), ("max", "latency_max_us")]
    fig, axes = plt.subplots(1, 2, figsize=(12, 5.6), sharey=True)
    width = 0.38
    for ax, scenario in zip(axes, ("lat1", "lat2")):
        for i, srv in enumerate(SERVERS):
            vals = [get(runs, srv, scenario, key, 1000) for _, key in stats]
            xs = [j + (i - 0.5) * width for j in range(len(stats))]
            ax.bar(xs, [v or 0 for v in vals], width, label=srv, color=COLORS[srv])
            for x, v in zip(xs, vals):
                if v:
                    ax.text(x, v, fmt(v), ha="center", va="bottom", fontsize=9)
                else:  # at the foot of the axis, whatever its scale
                    ax.text(x, 0.02, "n/a", ha="center", va="bottom", fontsize=9,
                            transform=ax.get_xaxis_transform())
        ax.set_yscale("log")
        ax.set_xticks(range(len(stats)), [name for name, _ in stats], fontsize=11)
        ax.set_title(describe(runs, scenario), fontsize=11)
        ax.grid(axis="y", which="major", alpha=0.3)
        ax.set_axisbelow(True)
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
    axes[0].set_ylabel("publish-to-receipt latency (ms, log scale)", fontsize=11)
    axes[0].legend(fontsize=10, loc="upper left")
    lo, hi = axes[0].get_ylim()
    axes[0].set_ylim(lo, hi * 2.5)  # room for the labels above the tallest bars
    fig.suptitle(f"Latency at a steady rate, lower is better — {date}\n{machine}",
                 fontsize=13)
    fig.tight_layout()
    fig.savefig(os.path.join(out, "load-latency.png"), dpi=DPI)
    plt.close(fig)


def main(argv):
    if len(argv) not in (2, 3) or argv[1] in ("-h", "--help"):
        sys.exit(__doc__.split("\n\n")[1])
    out = argv[2] if len(argv) == 3 else "docs/img"
    date, machine, runs = parse(argv[1])
    os.makedirs(out, exist_ok=True)
    plot_ratios(date, machine, runs, out)
    plot_latency(date, machine, runs, out)
    print(f"wrote {out}/load-ratios.png and {out}/load-latency.png")


if __name__ == "__main__":
    main(sys.argv)
