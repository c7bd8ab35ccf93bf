"""The side-by-side benchmark behind benches/compare.py, one module a job:

- spec:      the workloads and goals (from benches/workloads.json), shared paths
- common:    logging, build steps and their one-line failure reasons
- goinstall: finding or installing Go
- build:     the contenders and how their binaries and servers are built
- runs:      one run, and the round-by-round order of all of them
- workloads: running one workload and validating its JSON line
- servers:   the server tests (wrk, echo-load, RSS of idle connections)
- stats:     medians, paired ratios, goals, the signed-rank test
- render:    the markdown report
- cli:       the command line
"""
