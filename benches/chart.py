#!/usr/bin/env python3
"""Draws the ratios to Go of a `compare.py --json` run as an SVG bar chart.

    python3 benches/chart.py target/compare/results.json docs/performance.svg

One group per workload and GOMAXPROCS (the main metric of each workload,
plus the parked workload's time), one bar in it per contender that is not
Go (goro, may, tokio: whichever the run had), on a log scale centred on 1.0
(level with Go): bars left of the line are faster than Go. A contender with
no ratio for a row (n/a in the table) gets "n/a" in place of its bar.
Python's standard library only.
"""

import json
import math
import sys

WIDTH, BAR, GAP, LEFT, TOP = 800, 13, 8, 230, 64
SCALE_MIN, SCALE_MAX = 0.1, 4.0
BASELINE = "go"

# Bar colours, in contender order; the first goes to goro.
COLOURS = ["#1c7ed6", "#e8590c", "#2f9e44", "#ae3ec9", "#868e96"]

# The metric each workload is judged on, as the workloads print it.
PRIMARY = {
    "spawn": "ns_per_goroutine", "parked": "kib_rss_per_goroutine", "yield": "ns_per_yield",
    "cpu": "ms_total", "idle": "pct_of_core", "pingpong": "ns_per_roundtrip",
    "daisychain": "ns_per_hop", "mpmc": "ns_per_msg", "select": "ns_per_select",
    "sieve": "ms_total", "mutex": "ns_per_lock", "sleepers": "ms_wall",
    "waitgroup": "ns_per_goroutine",
}


def label(row):
    """A group's label: the workload (parked split into memory and time)."""
    name = row["workload"]
    if name == "parked":
        name += " RSS" if row["metric"] == PRIMARY["parked"] else " time"
    return f"{name} (GOMAXPROCS={row['gomaxprocs']})"


def contenders(results):
    """The non-baseline contenders of the run, in column order."""
    names = list(results.get("contenders", {})) or ["goro"]
    return [n for n in names if n != BASELINE]


def groups(results):
    """(label, [(contender, ratio or None), ...]) for each judged row."""
    names = contenders(results)
    chosen = []
    for row in results["rows"]:
        judged = row["metric"] == PRIMARY.get(row["workload"])
        parked_time = row["workload"] == "parked" and row["metric"] == "ns_per_goroutine"
        if not (judged or parked_time):
            continue
        ratios = row.get("ratios", {})
        bars = []
        for n in names:
            r = ratios.get(n)
            bars.append((n, r if isinstance(r, (int, float)) and r > 0 else None))
        if any(r is not None for _, r in bars):
            chosen.append((label(row), bars))
    return chosen


def x_of(ratio):
    """Horizontal position of a ratio on the log scale."""
    r = min(max(ratio, SCALE_MIN), SCALE_MAX)
    span = math.log(SCALE_MAX) - math.log(SCALE_MIN)
    return LEFT + (math.log(r) - math.log(SCALE_MIN)) / span * (WIDTH - LEFT - 40)


def svg(results):
    names = contenders(results)
    titles = {n: results.get("contenders", {}).get(n, {}).get("title", n) for n in names}
    colour = {n: COLOURS[i % len(COLOURS)] for i, n in enumerate(names)}
    items = groups(results)
    group_h = BAR * len(names) + GAP
    height = TOP + group_h * len(items) + 40
    one = x_of(1.0)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
        'font-family="sans-serif" font-size="12">',
        '<rect width="100%" height="100%" fill="white"/>',
        f'<text x="{WIDTH / 2}" y="20" text-anchor="middle" font-size="15">'
        "time (or memory) relative to Go, median of interleaved runs: left of 1.0 is better</text>",
    ]
    x = LEFT
    for n in names:  # legend
        parts.append(f'<rect x="{x}" y="32" width="12" height="12" fill="{colour[n]}"/>')
        parts.append(f'<text x="{x + 16}" y="42">{titles[n]} / Go</text>')
        x += 110
    for i, (text, bars) in enumerate(items):
        y0 = TOP + i * group_h
        parts.append(f'<text x="{LEFT - 8}" y="{y0 + BAR * len(names) / 2 + 4:.1f}" '
                     f'text-anchor="end">{text}</text>')
        for k, (n, ratio) in enumerate(bars):
            y = y0 + k * BAR
            if ratio is None:
                parts.append(f'<text x="{one + 4:.1f}" y="{y + BAR - 3}" font-size="10" '
                             f'fill="#868e96">{titles[n]}: n/a</text>')
                continue
            x = x_of(ratio)
            left, right = sorted((one, x))
            parts.append(f'<rect x="{left:.1f}" y="{y + 1}" width="{max(right - left, 1):.1f}" '
                         f'height="{BAR - 2}" fill="{colour[n]}"/>')
            anchor, dx = ("start", 4) if ratio > 1.0 else ("end", -4)
            parts.append(f'<text x="{x + dx:.1f}" y="{y + BAR - 3}" font-size="10" '
                         f'text-anchor="{anchor}">{ratio:.2f}</text>')
    bottom = TOP + group_h * len(items)
    parts.append(f'<line x1="{one:.1f}" y1="{TOP - 5}" x2="{one:.1f}" y2="{bottom + 5}" stroke="black"/>')
    for tick in (0.1, 0.25, 0.5, 1.0, 2.0, 4.0):
        tx = x_of(tick)
        parts.append(f'<text x="{tx:.1f}" y="{bottom + 22}" text-anchor="middle">{tick:g}x</text>')
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: chart.py RESULTS.json OUT.svg")
    with open(sys.argv[1]) as f:
        results = json.load(f)
    with open(sys.argv[2], "w") as f:
        f.write(svg(results))
    print(f"wrote {sys.argv[2]}")


if __name__ == "__main__":
    main()
