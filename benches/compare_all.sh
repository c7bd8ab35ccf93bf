#!/bin/sh
# The whole side-by-side suite in one command: every workload in goro, Go,
# may and tokio at GOMAXPROCS 1 and 2, then every server test, then the
# chart. Tables land in target/compare/; the chart in docs/performance.svg.
set -e
cd "$(dirname "$0")/.."
python3 benches/compare.py --rounds 5 --procs 1,2 \
    --out target/compare/table.md --json target/compare/results.json
python3 benches/compare.py --servers \
    --out target/compare/servers.md --json target/compare/servers.json
python3 benches/chart.py target/compare/results.json docs/performance.svg target/compare/servers.json
