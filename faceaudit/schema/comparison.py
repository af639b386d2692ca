"""The ``comparison`` section: an in-run baseline model against the audited one, paired per group.

Written by the baseline stage (``baseline.enabled``) and by ``faceaudit compare``; the
statistics are in :mod:`faceaudit.compare`. The display helpers live here so that the
Markdown summary, the stand-alone comparison page and the audit report print the same rows.
"""

from __future__ import annotations

import math
from typing import Literal

from pydantic import Field

from faceaudit.schema.common import Estimate, ResultModel

Direction = Literal["better", "worse", "no clear change"]


def _pts(x: float) -> str:
    return "NaN" if math.isnan(x) else f"{100 * x:+.1f}"


def _pct(x: float) -> str:
    return "NaN" if math.isnan(x) else f"{100 * x:.1f}%"


class GroupChange(ResultModel):
    task: str
    group: str = Field(description="display name, e.g. 'race=Black & gender=Female', or 'all items'")
    attributes: list[str]
    labels: list[str]
    n: int
    accuracy_a: float
    accuracy_b: float
    change: Estimate = Field(description="B minus A accuracy, Newcombe paired interval, McNemar p_value")
    p_adjusted: float
    direction: Direction

    def shown(self) -> dict[str, str]:
        """The row as printed (percentages and signed points), for Markdown and HTML alike."""
        return {"a": _pct(self.accuracy_a), "b": _pct(self.accuracy_b), "change": _pts(self.change.value),
                "interval": f"[{_pts(self.change.lower)}, {_pts(self.change.upper)}]",
                "p": f"{self.p_adjusted:.3g}"}


class Comparison(ResultModel):
    a: str = Field(description="the first audit (the reference, e.g. the base model)")
    b: str = Field(description="the second audit (e.g. the fine-tuned candidate)")
    model_a: str
    model_b: str
    confidence: float
    alpha: float
    correction: str = "holm"
    n_tests: int
    changes: list[GroupChange]
    not_compared: list[str] = Field(default_factory=list, description="tasks not paired, and why")

    def headline(self) -> list[str]:
        """The "who got better, who got worse" lines, shared by Markdown and HTML."""
        worse = [g for g in self.changes if g.direction == "worse"]
        better = [g for g in self.changes if g.direction == "better"]

        def names(groups: list[GroupChange]) -> str:
            return "; ".join(f"{g.task}: {g.group} ({_pts(g.change.value)} pts)" for g in groups)

        lines = [
            f"Got worse: {names(worse)}" if worse else "Got worse: no group, after a Holm correction over "
            f"{self.n_tests} paired tests",
            f"Got better: {names(better)}" if better else "Got better: no group, after the same correction",
        ]
        if self.not_compared:
            lines.append("Not compared: " + "; ".join(self.not_compared))
        return lines
