"""The contenders and how each is built: goro's `workloads` binary and
example servers (cargo), Go's programs in benches/go, and the may and
tokio binaries of the separate crate benches/peers. To add a contender,
append a Contender to CONTENDERS with a build function returning the path
of its binary, and its servers to SERVER_BUILDS.
"""

import argparse
import json
import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, Optional

from .common import BuildError, capture, rel, run_build
from .goinstall import go_command, go_env, go_version
from .spec import OUT_DIR, ROOT, TARGET


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


def build_go(args) -> Path:
    go = go_command()
    out = OUT_DIR / "go-workloads"
    if not args.no_build:
        run_build([go, "build", "-o", str(out), "."], ROOT / "benches" / "go", go_env(),
                  "go-build.log")
    if not out.exists():
        raise BuildError(f"{rel(out)} does not exist")
    return out


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
