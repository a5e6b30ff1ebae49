#!/usr/bin/env python3
"""Plot a results file written by bench/peers.sh (docs/benchmarks.md, "Peers
in the same harness").

Usage: python3 bench/plot-peers.py bench/results/peers-latest.md docs/img/peers.png

Reads the raw `PEER SCENARIO {json}` lines of the results file's fenced block
(the header above them gives date, machine and SCALE) and draws one panel per
headline metric: idle RSS per connection, delivered events/s and server CPU
per 1,000 deliveries at saturation, p99 latency of both latency scenarios.
One bar per peer, in the file's order, labelled with its value and its ratio
to ssehub (above 1 favours ssehub, as in the table); a peer without a figure
shows "n/a" (the table's notes say why). A bar whose run lost or duplicated
events is hatched and marked, and so is a latency bar whose run published
well below the rate asked (a saturated server answers publishes late).

Needs matplotlib (bench/peers.sh installs it into its venv), nothing else.
"""
import json
import re
import sys

try:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import EngFormatter
except ImportError:
    sys.exit("bench/plot-peers.py needs matplotlib (bench/peers.sh installs it in its venv)")

COLORS = {
    "ssehub": "#1f77b4",
    "baseline": "#aaaaaa",
    "nchan": "#2ca02c",
    "pushpin": "#9467bd",
    "pushpin-defaults": "#c5b0d5",
    "better-sse": "#ff7f0e",
    "sse-starlette": "#d62728",
}
DPI = 100


def parse(path):
    """Return (title lines, [peers in order], {(peer, scenario): dict})."""
    lines = open(path, encoding="utf-8").read().splitlines()
    date = next((l for l in lines if re.match(r"\d{4}-\d\d-\d\d ", l)), "").split(",")[0]
    machine = next((l for l in lines if " CPUs " in l), "").strip().rstrip(";")
    scale = re.search(r"SCALE=([0-9.]+)", "\n".join(lines))
    scale = scale.group(1) if scale else "?"
    runs, peers, fenced = {}, [], False
    for line in lines:
        if line.startswith("```"):
            fenced = not fenced
            continue
        if not fenced:
            continue
        parts = line.split(" ", 2)
        if len(parts) < 2:
            continue
        if parts[0] not in peers:
            peers.append(parts[0])
        blob = parts[2].strip() if len(parts) == 3 else ""
        if blob and (parts[0], parts[1]) not in runs:
            try:
                runs[(parts[0], parts[1])] = json.loads(blob)
            except json.JSONDecodeError:
                print(f"warning: unreadable line: {line[:80]}", file=sys.stderr)
    if not peers:
        sys.exit(f"{path}: no raw `PEER SCENARIO {{json}}` lines found")
    return (date, machine, scale), peers, runs


def metric(runs, peer, scenario, key):
    r = runs.get((peer, scenario))
    if not r:
        return None
    if key == "cpu_per_k":
        cpu, n = r.get("server_cpu_seconds"), r.get("events_delivered")
        return cpu * 1e9 / n if cpu is not None and n else None
    v = r.get(key)
    if v is None:
        return None
    return v / 1000 if key.startswith("latency") else v


def faulty(runs, peer, scenario):
    r = runs.get((peer, scenario)) or {}
    return bool(r.get("gaps") or r.get("duplicates"))


def slowed(runs, peer, scenario):
    """Whether a latency run published well below the rate ssehub took (the
    server answered publishes late): its latency is not comparable."""
    if scenario not in ("lat1", "lat2"):
        return False
    r = (runs.get((peer, scenario)) or {}).get("published_per_sec")
    ref = (runs.get(("ssehub", scenario)) or {}).get("published_per_sec")
    return bool(r and ref and r < 0.95 * ref)


def fmt(v):
    if v >= 1e6:
        return f"{v / 1e6:.2f} M"
    if v >= 100:
        return f"{v:,.0f}"
    return f"{v:.2f}" if v < 10 else f"{v:.1f}"


def describe(runs, peers, scenario):
    r = next((runs[(p, scenario)] for p in peers if (p, scenario) in runs), {})
    n = r.get("connections", "?")
    if scenario == "idle":
        return f"(a) idle, {n} connections"
    if scenario == "tp":
        return f"(b) {n} subscribers, publishers flat out"
    rate = r.get("published_per_sec")
    rate = "?" if rate is None else f"{rate:.0f}"
    return f"(c) {rate} events/s to {n} subscribers"


def main(argv):
    if len(argv) != 3 or argv[1] in ("-h", "--help"):
        sys.exit(__doc__.split("\n\n")[1])
    (date, machine, scale), peers, runs = parse(argv[1])
    metrics = [
        ("idle", "server_rss_per_connection_bytes", "server RSS per connection (bytes)", "lower"),
        ("tp", "delivered_per_sec", "delivered events/s", "higher"),
        ("tp", "cpu_per_k", "server CPU µs per 1,000 deliveries", "lower"),
        ("lat1", "latency_p99_us", "latency p99 (ms)", "lower"),
        ("lat2", "latency_p99_us", "latency p99 (ms)", "lower"),
    ]
    fig, axes = plt.subplots(len(metrics), 1, figsize=(12, 0.42 * len(peers) * len(metrics) + 2.2))
    for ax, (scenario, key, label, better) in zip(axes, metrics):
        vals = [metric(runs, p, scenario, key) for p in peers]
        ref = metric(runs, "ssehub", scenario, key)
        ys = range(len(peers))
        ax.barh(ys, [v or 0 for v in vals], height=0.7,
                color=[COLORS.get(p, "#666666") for p in peers],
                hatch=["//" if faulty(runs, p, scenario) or slowed(runs, p, scenario) else ""
                       for p in peers])
        ax.set_yticks(list(ys), peers, fontsize=10)
        ax.invert_yaxis()
        known = [v for v in vals if v]
        log = len(known) >= 2 and max(known) / min(known) > 30
        if log:
            ax.set_xscale("log")
            ax.set_xlim(min(known) / 2, max(known) * 12)
        else:
            ax.set_xlim(0, max(known, default=1) * 1.45)
            ax.xaxis.set_major_formatter(EngFormatter(sep=" "))
        x0 = ax.get_xlim()[0]
        for y, (p, v) in enumerate(zip(peers, vals)):
            if not v:
                ax.text(x0, y, "  n/a (see the table's notes)", va="center", fontsize=9)
                continue
            text = "  " + fmt(v)
            if slowed(runs, p, scenario):
                rate = runs[(p, scenario)]["published_per_sec"]
                text += f"   NOT COMPARABLE: saturated, published {rate:g} events/s"
            elif p != "ssehub" and ref:
                r = v / ref if better == "lower" else ref / v
                text += f"   (ssehub {r:.2f}×)"
            if faulty(runs, p, scenario):
                text += "   LOST/DUP EVENTS"
            ax.text(v, y, text, va="center", fontsize=9,
                    fontweight="bold" if p == "ssehub" else "normal")
        ax.set_title(f"{describe(runs, peers, scenario)}: {label}, {better} is better",
                     loc="left", fontsize=11)
        ax.tick_params(axis="x", labelsize=9)
        ax.grid(axis="x", alpha=0.3)
        ax.set_axisbelow(True)
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
    fig.suptitle(f"Peers in the same harness, SCALE={scale} — {date}\n{machine}"
                 + ("" if scale == "1" else "\n(scaled-down run: sizes × SCALE)"),
                 fontsize=13)
    fig.tight_layout()
    fig.savefig(argv[2], dpi=DPI)
    plt.close(fig)
    print(f"wrote {argv[2]}")


if __name__ == "__main__":
    main(sys.argv)
