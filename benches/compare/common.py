"""Helpers every step shares: logging to stderr, paths shown relative to
the repository, quick informational commands, and build steps whose
failure becomes a one-line reason.
"""

import shlex
import subprocess
import sys
from pathlib import Path
from typing import List

from .spec import OUT_DIR, ROOT


BUILD_TIMEOUT = 1800  # seconds


class BuildError(Exception):
    """A contender could not be built; the message is the reason shown."""


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
