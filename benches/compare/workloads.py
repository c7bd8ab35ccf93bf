"""The workloads: one run of `<binary> <workload>` with env GOMAXPROCS=<p>,
and the JSON line it prints, validated.
"""

import json
import math
import os
import signal
import subprocess
import time

from .build import Contender
from .runs import Run
from .spec import METRICS


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
