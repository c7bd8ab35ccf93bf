#!/usr/bin/env python3
"""Draws the ratios to Go of a `compare.py --json` run as an SVG bar chart.

    python3 benches/chart.py target/compare/results.json docs/performance.svg \
        [target/compare/servers.json]

One group per workload and GOMAXPROCS (the main metric of each workload,
plus the parked workload's time), one bar in it per contender that is not
Go (goro, may, tokio: whichever the run had), on a log scale centred on 1.0
(level with Go): bars left of the line are faster than Go. A contender with
no ratio for a row (n/a in the table) gets "n/a" in place of its bar.

The optional third argument is the JSON of a `compare.py --servers` run.
With it, a second section follows the workloads, titled "Servers
(GOMAXPROCS=p)" (one per GOMAXPROCS value of that run), with one group per
server test and metric: HTTP req/s and p99 latency, echo msg/s and p99
latency at each connection count, and the RSS per idle connection (KiB) of
the HTTP and echo servers. Left of 1.0 is better there too: req/s and msg/s,
where higher is better, are drawn as Go's value divided by the contender's
(labelled "Go ÷ x"), the others as the contender's divided by Go's. A bar
whose contender had errors in that test has their count (the median) in red
on the other side of the 1.0 line.
Without the third argument the chart is the workloads section alone.
Python's standard library only.
"""

import json
import math
import sys

# The metric each workload is judged on: the runner's table, so the two
# cannot drift apart.
from compare.spec import METRICS

WIDTH, BAR, GAP, LEFT, TOP = 800, 13, 8, 230, 64
SCALE_MIN, SCALE_MAX = 0.1, 4.0
BASELINE = "go"

# Bar colours, in contender order; the first goes to goro.
COLOURS = ["#1c7ed6", "#e8590c", "#2f9e44", "#ae3ec9", "#868e96"]

# Server tests (`compare.py --servers`): the metrics charted, in order, and
# those where higher is better (drawn as Go / x so that left is better).
SERVER_CHARTED = ["req_per_s", "msgs_per_s", "server_cpu_us_per_req", "server_cpu_us_per_msg",
                  "kib_per_conn", "p99_us"]
HIGHER_IS_BETTER = {"req_per_s", "msgs_per_s"}


def label(row):
    """A group's label: the workload (parked split into memory and time)."""
    name = row["workload"]
    if name == "parked":
        name += " RSS" if row["metric"] == METRICS["parked"] else " time"
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
        judged = row["metric"] == METRICS.get(row["workload"])
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


def server_label(test, metric):
    """A server group's label: test, connections and metric, "Go ÷ x" when inverted."""
    if test.startswith("echo-") and test[5:].isdigit():
        name = f"echo {int(test[5:]):,} conns"
    else:
        name = test.replace("-idle", " idle")
    what = {"req_per_s": "req/s", "msgs_per_s": "msg/s", "kib_per_conn": "KiB/conn",
            "p99_us": "p99 latency", "server_cpu_us_per_req": "server CPU/req",
            "server_cpu_us_per_msg": "server CPU/msg"}.get(metric, metric)
    if metric in HIGHER_IS_BETTER:
        what += " (Go &#247; x)"
    return f"{name} {what}"


def server_order(test):
    """Sort key of a server test: the http ones, echo by connections, the idle tests, any
    other."""
    if test.startswith("echo-") and test[5:].isdigit():
        return (1, int(test[5:]))
    if test == "http-shared":
        return (0, 1)
    return ({"http": 0, "http-idle": 2, "echo-idle": 3}.get(test, 4), 0)


def server_sections(servers, titles=None):
    """[(GOMAXPROCS, [(label, [(contender, ratio or None, note), ...]), ...]), ...] of a
    --servers run: ratios oriented so that below 1.0 is better than Go."""
    names = contenders(servers)
    titles = titles or {}
    rows = servers.get("rows", [])
    errors = {(r["workload"], r["gomaxprocs"]): r.get("medians", {})
              for r in rows if r["metric"] == "errors"}
    first = {}  # test -> index of its first row: unknown tests keep the run's order
    for i, r in enumerate(rows):
        first.setdefault(r["workload"], i)
    sections = {}
    for row in rows:
        if row["metric"] not in SERVER_CHARTED:
            continue
        ratios = row.get("ratios") or {}
        errs = errors.get((row["workload"], row["gomaxprocs"]), {})
        bars = []
        for n in names:
            r = ratios.get(n)
            r = r if isinstance(r, (int, float)) and r > 0 else None
            if r is not None and row["metric"] in HIGHER_IS_BETTER:
                r = 1 / r
            e = errs.get(n)
            note = ""
            if isinstance(e, (int, float)) and e > 0:
                count = f"{e:,.0f}" if e >= 1 else f"{e:g}"
                note = f"{titles.get(n, n)}: {count} errors"
            bars.append((n, r, note))
        if any(r is not None for _, r, _ in bars):
            key = (server_order(row["workload"]), first[row["workload"]],
                   SERVER_CHARTED.index(row["metric"]))
            sections.setdefault(row["gomaxprocs"], []).append(
                (key, server_label(row["workload"], row["metric"]), bars))
    procs = sorted(sections, key=lambda p: (0, int(p)) if str(p).isdigit() else (1, str(p)))
    return [(p, [(text, bars) for _, text, bars in sorted(sections[p], key=lambda g: g[0])])
            for p in procs]


def draw_groups(parts, top, names, titles, colour, items):
    """Appends one section's groups, its 1.0 line and its scale below them."""
    group_h = BAR * len(names) + GAP
    one = x_of(1.0)
    for i, (text, bars) in enumerate(items):
        y0 = top + i * group_h
        parts.append(f'<text x="{LEFT - 8}" y="{y0 + BAR * len(names) / 2 + 4:.1f}" '
                     f'text-anchor="end">{text}</text>')
        for k, (n, ratio, note) in enumerate(bars):
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
            if note:  # on the other side of the 1.0 line, where there is room
                anchor, dx = ("end", -4) if ratio > 1.0 else ("start", 4)
                parts.append(f'<text x="{one + dx:.1f}" y="{y + BAR - 3}" font-size="10" '
                             f'fill="#c92a2a" text-anchor="{anchor}">{note}</text>')
    bottom = top + group_h * len(items)
    parts.append(f'<line x1="{one:.1f}" y1="{top - 5}" x2="{one:.1f}" y2="{bottom + 5}" stroke="black"/>')
    for tick in (0.1, 0.25, 0.5, 1.0, 2.0, 4.0):
        tx = x_of(tick)
        parts.append(f'<text x="{tx:.1f}" y="{bottom + 22}" text-anchor="middle">{tick:g}x</text>')


def svg(results, servers=None):
    names = contenders(results)
    srv_names = contenders(servers) if servers else []
    everyone = names + [n for n in srv_names if n not in names]
    titles = {}
    for doc in (servers or {}, results):  # the workloads run's titles win
        titles.update({n: doc.get("contenders", {}).get(n, {}).get("title", n) for n in everyone})
    colour = {n: COLOURS[i % len(COLOURS)] for i, n in enumerate(everyone)}
    items = [(text, [(n, r, "") for n, r in bars]) for text, bars in groups(results)]
    sections = server_sections(servers, titles) if servers else []
    group_h = BAR * len(names) + GAP
    height = TOP + group_h * len(items) + 40
    srv_tops = []
    for _, srv_items in sections:  # heading, subtitle, groups, scale
        srv_tops.append(height + 52)
        height += 52 + (BAR * len(srv_names) + GAP) * len(srv_items) + 40
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
        'font-family="sans-serif" font-size="12">',
        '<rect width="100%" height="100%" fill="white"/>',
        f'<text x="{WIDTH / 2}" y="20" text-anchor="middle" font-size="15">'
        "time (or memory) relative to Go, median of interleaved runs: left of 1.0 is better</text>",
    ]
    x = LEFT
    for n in everyone:  # legend
        parts.append(f'<rect x="{x}" y="32" width="12" height="12" fill="{colour[n]}"/>')
        parts.append(f'<text x="{x + 16}" y="42">{titles[n]} / Go</text>')
        x += 110
    draw_groups(parts, TOP, names, titles, colour, items)
    for (procs, srv_items), top in zip(sections, srv_tops):
        parts.append(f'<text x="{WIDTH / 2}" y="{top - 30}" text-anchor="middle" font-size="15">'
                     f"Servers (GOMAXPROCS={procs})</text>")
        parts.append(f'<text x="{WIDTH / 2}" y="{top - 14}" text-anchor="middle" font-size="11" '
                     'fill="#495057">req/s and msg/s drawn as Go &#247; x, latency and KiB as '
                     "x &#247; Go: left of 1.0 is better</text>")
        draw_groups(parts, top, srv_names, titles, colour, srv_items)
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def main():
    if len(sys.argv) not in (3, 4):
        sys.exit("usage: chart.py RESULTS.json OUT.svg [SERVERS.json]")
    with open(sys.argv[1]) as f:
        results = json.load(f)
    if results.get("meta", {}).get("mode") == "servers":
        sys.exit(f"{sys.argv[1]} is a --servers run: give it as the third argument")
    servers = None
    if len(sys.argv) == 4:
        with open(sys.argv[3]) as f:
            servers = json.load(f)
        if servers.get("meta", {}).get("mode") != "servers":
            sys.exit(f"{sys.argv[3]} is not a `compare.py --servers` run")
        if not server_sections(servers):
            print(f"warning: {sys.argv[3]} has no server ratios to draw", file=sys.stderr)
    with open(sys.argv[2], "w") as f:
        f.write(svg(results, servers))
    print(f"wrote {sys.argv[2]}")


if __name__ == "__main__":
    main()
