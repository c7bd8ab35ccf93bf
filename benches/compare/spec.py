"""What is compared: the workloads and goro's goals, read from
benches/workloads.json (the one list that every runner and the renderer
read), and the paths and names the other modules share."""

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Optional

ROOT = Path(__file__).resolve().parent.parent.parent
TARGET = ROOT / "target"
OUT_DIR = TARGET / "compare"
SPEC_FILE = ROOT / "benches" / "workloads.json"

_spec = json.loads(SPEC_FILE.read_text())

# The metric each workload reports (the JSON "metric" field).
METRICS = {w["name"]: w["metric"] for w in _spec["workloads"]}

# Workload names, in table order. Every contender binary implements them all.
WORKLOADS = list(METRICS)

PRIMARY = "goro"   # the contender goals are judged for
BASELINE = "go"    # the denominator of every ratio


# Goals for goro, keyed by (workload, metric or extra key).
#   subject "ratio":   goro/Go ratio  <op> target
#   subject "value":   goro's absolute median <op> target
#   subject "speedup": goro's ms(p=1)/ms(p=2) for cpu  <op> target

@dataclass
class Goal:
    subject: str
    op: str
    target: float
    unit: str = ""

    def text(self) -> str:
        sym = {"<=": "≤", "<": "<", ">=": "≥"}[self.op]
        if self.subject == "value":
            return f"{sym} {self.target:g} {self.unit}".strip()
        return f"{sym} {self.target:g}×"

    def met(self, x: Optional[float]) -> Optional[bool]:
        if x is None:
            return None
        return {"<=": x <= self.target, "<": x < self.target, ">=": x >= self.target}[self.op]


GOALS: Dict[tuple, Goal] = {
    (g["workload"], g["metric"]): Goal(g["subject"], g["op"], g["target"], g.get("unit", ""))
    for g in _spec["goals"]
}
