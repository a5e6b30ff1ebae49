#!/usr/bin/env python3
"""Plot a results file written by bench/scale.sh (docs/benchmarks.md, "One
hub, 1,000 to 19,000 streams").

Usage: python3 bench/plot-scale.py bench/results/scale-latest.md docs/img/scale.png [bench/results/scale-out-latest.md]

Reads the raw `COUNT idle {json}` and `COUNT load {json}` lines of the
results file's fenced block and draws two panels against the number of
streams: the server's RSS per idle stream, and the time until the last
stream had an event ("to all", p50 and p99), with a line that grows as the
count does from the first count's p99 (growing no faster than the count is
the goal). A count whose run lost or duplicated events is marked. With a
third file (written by bench/scale-out.sh: several hubs on one Redis), its
counts are drawn beside the one hub's, on log scales.

Needs matplotlib (bench/peers/python/plot-requirements.txt pins it; bench/peers.sh
installs it into its venv), nothing else.
"""
import json
import re
import sys

try:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
except ImportError:
    sys.exit("bench/plot-scale.py needs matplotlib (pip install -r bench/peers/python/plot-requirements.txt)")

RAW = re.compile(r"^(\d+) (idle|load) (\{.*\})$")


def read(path):
    """The header's first lines and {count: {"idle": {...}, "load": {...}}}."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    runs = {}
    for line in text.splitlines():
        m = RAW.match(line.strip())
        if m:
            runs.setdefault(int(m.group(1)), {})[m.group(2)] = json.loads(m.group(3))
    header = [l for l in text.splitlines()[1:4] if l.strip()]
    return header, runs


def series(runs):
    """Counts with both lines, and per count: RSS, p50, p99 (ms), lost or doubled."""
    counts = sorted(n for n in runs if "idle" in runs[n] and "load" in runs[n])
    rss = [runs[n]["idle"].get("server_rss_per_connection_bytes") for n in counts]
    p50 = [runs[n]["load"]["to_all_p50_us"] / 1000 for n in counts]
    p99 = [runs[n]["load"]["to_all_p99_us"] / 1000 for n in counts]
    bad = [
        runs[n]["load"].get("gaps", 0)
        + runs[n]["load"].get("duplicates", 0)
        + runs[n]["load"].get("events_missing_somewhere", 0)
        > 0
        for n in counts
    ]
    return counts, rss, p50, p99, bad


def main():
    if len(sys.argv) not in (3, 4):
        sys.exit(__doc__.split("\n\n")[1])
    header, runs = read(sys.argv[1])
    counts, rss, p50, p99, bad = series(runs)
    if not counts:
        sys.exit(f"no raw `COUNT idle` and `COUNT load` lines in {sys.argv[1]}")
    out = None
    if len(sys.argv) == 4:
        _, out_runs = read(sys.argv[3])
        out = series(out_runs)
        hubs = next(iter(out_runs.values()))["load"].get("hubs", "several")
        if not out[0]:
            sys.exit(f"no raw `COUNT idle` and `COUNT load` lines in {sys.argv[3]}")

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    left.plot(counts, rss, marker="o", color="#1f77b4", label="one hub")
    for n, b in zip(counts, rss):
        if b is not None:
            left.annotate(f"{b:,.0f} B", (n, b), textcoords="offset points", xytext=(0, 8), ha="center")
    top = max(b for b in rss if b is not None)
    if out:
        left.plot(out[0], out[1], marker="s", color="#d62728", label=f"{hubs} hubs on Redis")
        for n, b in zip(out[0], out[1]):
            if b is not None:
                left.annotate(f"{b:,.0f} B", (n, b), textcoords="offset points", xytext=(0, -16), ha="center",
                              color="#d62728")
        top = max([top] + [b for b in out[1] if b is not None])
        left.legend(loc="upper right", fontsize="small")
    left.set_title("server RSS per idle stream")
    left.set_xlabel("streams")
    left.set_ylabel("bytes")
    if out:
        # A few hundred streams a hub cost their hub's fixed memory: a log
        # scale keeps the large counts readable.
        left.set_yscale("log")
        left.set_ylim(bottom=300, top=top * 2)
    else:
        left.set_ylim(bottom=0, top=top * 1.25)

    right.plot(counts, p50, marker="o", label="one hub: to all, p50", color="#aec7e8")
    right.plot(counts, p99, marker="o", label="one hub: to all, p99", color="#1f77b4")
    every = counts + (out[0] if out else [])
    last = max(every)
    linear = [p99[0] * n / counts[0] for n in sorted(set([counts[0], last] + every))]
    right.plot(sorted(set([counts[0], last] + every)), linear, linestyle="--", color="#999999",
               label="p99 growing as the count")
    for n, ms, b in zip(counts, p99, bad):
        label = f"{ms:.0f} ms" + (" (lost or doubled!)" if b else "")
        right.annotate(label, (n, ms), textcoords="offset points", xytext=(0, 8), ha="center")
    highest = max(p99)
    if out:
        right.plot(out[0], out[2], marker="s", label=f"{hubs} hubs: to all, p50", color="#ff9896")
        right.plot(out[0], out[3], marker="s", label=f"{hubs} hubs: to all, p99", color="#d62728")
        for n, ms, b in zip(out[0], out[3], out[4]):
            label = f"{ms:.0f} ms" + (" (lost or doubled!)" if b else "")
            right.annotate(label, (n, ms), textcoords="offset points", xytext=(0, -16), ha="center",
                           color="#d62728")
        highest = max([highest] + out[3])
    right.set_title("one event to every stream: until the last has it")
    right.set_xlabel("streams")
    right.set_ylabel("ms")
    right.legend(loc="upper left", fontsize="small")

    for ax in (left, right):
        ax.grid(alpha=0.3)
        if out:
            # 1,000 to 100,000: a log scale keeps the small counts apart.
            ax.set_xscale("log")
        else:
            ax.ticklabel_format(axis="x", style="plain")
    if out:
        right.set_yscale("log")
    else:
        right.set_ylim(bottom=0, top=max(highest, max(linear[:2])) * 1.25)
    fig.suptitle("ssehub serve: " + header[0].rstrip(","), fontsize="medium")
    fig.tight_layout()
    fig.savefig(sys.argv[2], dpi=110)


if __name__ == "__main__":
    main()
