"""Servers (--servers): HTTP hello world and TCP echo, one fresh server
process per measurement.

Every server binary takes its listen address as its only argument
(`<server> 127.0.0.1:PORT`, GOMAXPROCS from the environment) and serves
until killed:
  goro:  examples http_server, echo_server (cargo build --release -p
         goro-examples --example http_server --example echo_server)
  Go:    benches/go/httpserver, benches/go/echoserver
  may:   may-http, may-echo       (benches/peers)
  tokio: tokio-http, tokio-echo   (benches/peers)
The load comes from wrk (HTTP; installed with apt-get when missing and
running as root) and benches/peers' echo-load (TCP, and idle connections
for memory).
"""

import json
import os
import re
import select
import shutil
import socket
import subprocess
import time
from pathlib import Path
from typing import Callable, Dict, List, Optional

from .build import SERVER_BUILDS, Contender, peer_binary
from .common import BuildError, log, rel, run_build
from .runs import Run, run_rounds
from .spec import OUT_DIR, ROOT


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


def server_metrics(tests: List[str]) -> Dict[str, str]:
    """The main metric of each server test (`echo-1000` and the like: echo's)."""
    return {t: SERVER_METRICS["echo" if t.startswith("echo-") and t != "echo-idle" else t]
            for t in tests}
