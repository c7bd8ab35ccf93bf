#!/usr/bin/env python3
"""Draws a goro execution trace (GOTRACE / goro::trace) as an SVG timeline.

One lane per track (worker threads first, then helper threads), each
goroutine run a box coloured by goroutine id and labelled with it when it
is wide enough, other slices (blocking calls, netpoll waits, timers) in
grey, wake arrows from the waker to the run they caused, and instants
(steals, scavenges) as ticks. Standard library only.

    python3 scripts/trace_svg.py trace.json -o trace.svg [--from US] [--to US]
"""

import argparse
import json
import sys
from xml.sax.saxutils import escape

LANE = 26
GAP = 6
LEFT = 110
TOP = 24


def colour(g):
    """A stable, distinct colour per goroutine id."""
    return "hsl(%d,65%%,%d%%)" % ((g * 137.508) % 360, 55 + (g % 3) * 8)


def load(path):
    with open(path) as f:
        return json.load(f)["traceEvents"]


def window(events, start, end):
    """The time span to draw: [start, end] in microseconds."""
    stamps = [e["ts"] for e in events if "ts" in e and e.get("ph") != "C"]
    lo = min(stamps) if stamps else 0.0
    hi = max((e["ts"] + e.get("dur", 0) for e in events if "ts" in e), default=1.0)
    return (lo if start is None else lo + start, hi if end is None else lo + end)


def lanes(events):
    """Track id -> lane index, and track id -> name, for tracks with events."""
    names = {e["tid"]: e["args"]["name"] for e in events
             if e.get("ph") == "M" and e.get("name") == "thread_name"}
    used = sorted({e["tid"] for e in events if e.get("ph") in ("X", "i", "s", "f")})
    return {tid: i for i, tid in enumerate(used)}, names


class Canvas:
    def __init__(self, width, lo, hi, lane_of):
        self.width, self.lo, self.hi, self.lane_of = width, lo, hi, lane_of
        self.parts = []

    def x(self, ts):
        span = max(self.hi - self.lo, 1e-9)
        return LEFT + (ts - self.lo) / span * (self.width - LEFT - 10)

    def y(self, tid):
        return TOP + self.lane_of[tid] * (LANE + GAP)

    def visible(self, ts, dur=0.0):
        return ts + dur >= self.lo and ts <= self.hi

    def add(self, text):
        self.parts.append(text)


def draw_slices(c, events):
    for e in events:
        if e.get("ph") != "X" or not c.visible(e["ts"], e["dur"]):
            continue
        x0, x1 = c.x(max(e["ts"], c.lo)), c.x(min(e["ts"] + e["dur"], c.hi))
        w, y = max(x1 - x0, 0.6), c.y(e["tid"])
        if e.get("cat") == "run":
            g = e["args"]["g"]
            title = "%s: %s" % (e["name"], e["args"]["end"])
            c.add('<rect x="%.1f" y="%d" width="%.1f" height="%d" fill="%s">'
                  '<title>%s</title></rect>' % (x0, y, w, LANE, colour(g), escape(title)))
            if w > 9 * len(str(g)) + 4:
                c.add('<text x="%.1f" y="%d" class="g">%d</text>' % (x0 + 2, y + 17, g))
        else:
            c.add('<rect x="%.1f" y="%d" width="%.1f" height="%d" fill="#bbb">'
                  '<title>%s</title></rect>' % (x0, y + LANE // 3, w, LANE // 3,
                                               escape(e["name"])))


def draw_instants(c, events):
    for e in events:
        if e.get("ph") == "i" and c.visible(e["ts"]):
            x, y = c.x(e["ts"]), c.y(e["tid"])
            c.add('<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#c00">'
                  '<title>%s</title></line>' % (x, y - 3, x, y + LANE + 3, e["name"]))


def draw_arrows(c, events, most):
    starts = {e["id"]: e for e in events if e.get("ph") == "s"}
    drawn = 0
    for f in events:
        s = starts.get(f.get("id")) if f.get("ph") == "f" else None
        if s is None or not (c.visible(s["ts"]) and c.visible(f["ts"])):
            continue
        if drawn == most:
            break
        x0, y0 = c.x(s["ts"]), c.y(s["tid"]) + LANE / 2
        x1, y1 = c.x(f["ts"]), c.y(f["tid"]) + LANE / 2
        c.add('<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" class="wake"/>'
              % (x0, y0, x1, y1))
        drawn += 1


def draw_axis(c, names, height):
    for tid, lane in c.lane_of.items():
        y = c.y(tid)
        c.add('<text x="4" y="%d" class="lane">%s</text>'
              % (y + 17, escape(names.get(tid, str(tid)))))
        c.add('<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#eee"/>'
              % (LEFT, y + LANE, c.width - 10, y + LANE))
    span = c.hi - c.lo
    c.add('<text x="%d" y="%d" class="lane">0 µs</text>' % (LEFT, height - 6))
    c.add('<text x="%d" y="%d" class="lane" text-anchor="end">%.0f µs</text>'
          % (c.width - 10, height - 6, span))


def render(events, width, start, end, most_arrows):
    lane_of, names = lanes(events)
    lo, hi = window(events, start, end)
    c = Canvas(width, lo, hi, lane_of)
    height = TOP + len(lane_of) * (LANE + GAP) + 20
    draw_slices(c, events)
    draw_instants(c, events)
    draw_arrows(c, events, most_arrows)
    draw_axis(c, names, height)
    head = ('<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" '
            'font-family="sans-serif" font-size="11">\n<style>.g{fill:#fff;font-size:10px}'
            '.lane{fill:#333}.wake{stroke:#222;stroke-width:0.7;opacity:0.6}</style>\n'
            '<rect width="100%%" height="100%%" fill="#fff"/>\n' % (width, height))
    return head + "\n".join(c.parts) + "\n</svg>\n"


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("trace")
    p.add_argument("-o", "--output", help="SVG file (default: stdout)")
    p.add_argument("--width", type=int, default=900)
    p.add_argument("--from", dest="start", type=float, help="µs after the first event")
    p.add_argument("--to", dest="end", type=float, help="µs after the first event")
    p.add_argument("--arrows", type=int, default=400, help="most wake arrows drawn")
    args = p.parse_args()
    svg = render(load(args.trace), args.width, args.start, args.end, args.arrows)
    if args.output:
        with open(args.output, "w") as f:
            f.write(svg)
    else:
        sys.stdout.write(svg)


if __name__ == "__main__":
    main()
