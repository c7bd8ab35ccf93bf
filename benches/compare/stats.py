"""From runs to table rows: medians, each contender's ratio to Go paired
round by round, the goals, and the signed-rank test of the servers'
head-to-head table.
"""

import statistics
from dataclasses import dataclass, field
from typing import Dict, List, Optional

from .build import Contender
from .runs import Run, fmt
from .spec import BASELINE, GOALS, METRICS, PRIMARY


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
    by_round: Dict[str, Dict[int, float]] = field(default_factory=dict)  # value per round
    goal: str = ""
    met: Optional[bool] = None


def paired_ratio(values: Dict[int, float], baseline: Dict[int, float]) -> Optional[float]:
    """The median, over the rounds in which both ran, of a contender's value
    divided by the baseline's in the same round. A round's runs are back to
    back, so a slow spell of the machine (here: everything 2-3x slower for
    minutes) mostly hits both or neither, where a ratio of the two medians
    can pair a slow run of one with a fast run of the other. None if no
    round has both (or the baseline's values are zero)."""
    ratios = [values[k] / baseline[k] for k in values if baseline.get(k)]
    return statistics.median(ratios) if ratios else None


class Notes:
    """Numbered footnotes for n/a cells, deduplicated."""

    def __init__(self):
        self.items: List[str] = []

    def ref(self, text: str) -> str:
        if text not in self.items:
            self.items.append(text)
        return f"[{self.items.index(text) + 1}]"


def build_rows(runs: List[Run], contenders: List[Contender], workloads: List[str],
               procs: List[int], notes: Notes, metrics: Dict[str, str] = METRICS) -> List[Row]:
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
            metric = metrics[w]
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
                    if errs and errs[0] in c.server_errors.values():  # same for every test
                        reason = f"{c.title}: {errs[0]}"
                suffix = f" ({len(good)}/{len(all_runs)} ok) {notes.ref(reason)}" \
                    if good and len(good) < len(all_runs) else ""
                na = f"n/a {notes.ref(reason)}" if reason else "n/a"
                # main metric
                main.by_round[n] = {r.round: r.result["value"] for r in all_runs if r.result}
                vals = [res["value"] for res in good]
                main.medians[n] = statistics.median(vals) if vals else None
                main.cells[n] = fmt(main.medians[n]) + suffix if vals else na
                # extra keys
                for row in extras:
                    row.by_round[n] = {r.round: r.result["extra"][row.metric] for r in all_runs
                                       if r.result and row.metric in r.result["extra"]}
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
                    r = paired_ratio(row.by_round.get(n, {}), row.by_round.get(BASELINE, {}))
                    if r is None:
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


def signed_rank_p(gains: List[float]) -> float:
    """One-sided p-value of the exact Wilcoxon signed-rank test that
    `gains` (per-round log ratios, positive where the primary did better)
    centre above zero: the chance that ranks signed at random give a rank
    sum for the positive gains at least as large as the observed one. A
    sign count alone throws away how far each round went either way; this
    keeps the order of the distances, not the distances themselves, so one
    wild round cannot decide it."""
    order = sorted(range(len(gains)), key=lambda i: abs(gains[i]))
    observed = sum(rank + 1 for rank, i in enumerate(order) if gains[i] > 0)
    ways = [1]  # ways[s]: sign assignments of ranks 1..k whose positive sum is s
    for k in range(1, len(gains) + 1):
        ways = [a + b for a, b in zip(ways + [0] * k, [0] * k + ways)]
    return sum(ways[observed:]) / 2 ** len(gains)
