"""One run of a contender, and the round-by-round order in which every cell
is run.
"""

from dataclasses import dataclass
from typing import Callable, List, Optional

from .build import Contender
from .common import log


@dataclass
class Run:
    contender: str
    workload: str
    procs: int
    round: int
    seconds: float
    result: Optional[dict] = None
    error: Optional[str] = None


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
