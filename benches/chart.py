#!/usr/bin/env python3
"""Draws the goro/Go ratios of a `compare.py --json` run as an SVG bar chart.

    python3 benches/chart.py target/compare/results.json docs/performance.svg

One bar per workload and GOMAXPROCS (the main metric of each workload, plus
the parked workload's time), on a log scale centred on 1.0 (level with Go):
bars left of the line are faster than Go. Python's standard library only.
"""

import json
import math
import sys

WIDTH, ROW, LEFT, TOP = 760, 22, 230, 50
SCALE_MIN, SCALE_MAX = 0.1, 4.0


# The metric each workload is judged on, as the workloads print it.
PRIMARY = {
    "spawn": "ns_per_goroutine", "parked": "kib_rss_per_goroutine", "yield": "ns_per_yield",
    "cpu": "ms_total", "idle": "pct_of_core", "pingpong": "ns_per_roundtrip",
    "daisychain": "ns_per_hop", "mpmc": "ns_per_msg", "select": "ns_per_select",
    "sieve": "ms_total", "mutex": "ns_per_lock", "sleepers": "ms_wall",
    "waitgroup": "ns_per_goroutine",
}


def label(row):
    """A bar's label: the workload (parked split into memory and time)."""
    name = row["workload"]
    if name == "parked":
        name += " RSS" if row["metric"] == PRIMARY["parked"] else " time"
    return f"{name} (GOMAXPROCS={row['gomaxprocs']})"


def bars(results):
    """(label, goro/Go ratio) for each workload's metric and parked's time."""
    chosen = []
    for row in results["rows"]:
        ratio = row.get("ratios", {}).get("goro")
        judged = row["metric"] == PRIMARY.get(row["workload"])
        parked_time = row["workload"] == "parked" and row["metric"] == "ns_per_goroutine"
        if (judged or parked_time) and isinstance(ratio, (int, float)) and ratio > 0:
            chosen.append((label(row), ratio))
    return chosen


def x_of(ratio):
    """Horizontal position of a ratio on the log scale."""
    r = min(max(ratio, SCALE_MIN), SCALE_MAX)
    span = math.log(SCALE_MAX) - math.log(SCALE_MIN)
    return LEFT + (math.log(r) - math.log(SCALE_MIN)) / span * (WIDTH - LEFT - 20)


def svg(results):
    items = bars(results)
    height = TOP + ROW * len(items) + 40
    one = x_of(1.0)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
        'font-family="sans-serif" font-size="12">',
        '<rect width="100%" height="100%" fill="white"/>',
        f'<text x="{WIDTH / 2}" y="20" text-anchor="middle" font-size="15">'
        "goro / Go time (or memory), median of interleaved runs: left of 1.0 is faster</text>",
    ]
    for i, (label, ratio) in enumerate(items):
        y = TOP + i * ROW
        x = x_of(ratio)
        colour = "#2b8a3e" if ratio <= 1.0 else "#c92a2a"
        left, right = sorted((one, x))
        parts.append(f'<text x="{LEFT - 8}" y="{y + 14}" text-anchor="end">{label}</text>')
        parts.append(
            f'<rect x="{left:.1f}" y="{y + 3}" width="{max(right - left, 1):.1f}" '
            f'height="{ROW - 6}" fill="{colour}"/>'
        )
        anchor, dx = ("start", 4) if ratio > 1.0 else ("end", -4)
        parts.append(f'<text x="{x + dx:.1f}" y="{y + 14}" text-anchor="{anchor}">{ratio:.2f}</text>')
    bottom = TOP + ROW * len(items)
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
