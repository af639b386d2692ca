"""The ``gate`` section: the release verdict, check by check.

Written by :func:`faceaudit.gate.evaluate_gate` from a stored ``audit.json`` and a
policy; nothing in it is recomputed from predictions. Every check result keeps the
number it judged, that number's interval and sample size, the limit and which end
of the interval was compared, so a reader can redo the decision by hand.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from faceaudit.schema.common import ResultModel

Verdict = Literal["PASS", "FAIL", "INSUFFICIENT_EVIDENCE"]
# SKIPPED: the check's stage did not run (or no baseline was given) and the policy
# says that is acceptable for this check; it never counts towards PASS.
CheckVerdict = Literal["PASS", "FAIL", "INSUFFICIENT_EVIDENCE", "SKIPPED"]
Severity = Literal["blocking", "warning"]
Side = Literal["lower", "upper", "value"]
Operator = Literal["at_least", "at_most"]


class TargetResult(ResultModel):
    """One value a check looked at (a wildcard path matches many)."""

    path: str = Field(description="Concrete location in audit.json, e.g. evaluation.tasks[race].accuracy")
    labels: dict[str, str] = Field(
        default_factory=dict, description="What each wildcard matched, e.g. {'groups': 'Black'}"
    )
    value: float | None = None
    lower: float | None = None
    upper: float | None = None
    n: int | None = None
    baseline_value: float | None = Field(
        default=None, description="For baseline checks: the baseline's value; value is the delta"
    )
    verdict: CheckVerdict
    reason: str


class CheckResult(ResultModel):
    id: str
    description: str
    severity: Severity
    path: str = Field(description="The policy's path pattern")
    operator: Operator
    limit: float
    side: Side = Field(description="Which end of the interval was compared with the limit")
    min_n: int = 0
    against_baseline: bool = False
    verdict: CheckVerdict
    reason: str = Field(description="One plain-language sentence")
    # The deciding target: the worst one among those with the check's verdict.
    value: float | None = None
    lower: float | None = None
    upper: float | None = None
    n: int | None = None
    worst_path: str | None = None
    targets: list[TargetResult] = Field(default_factory=list)
    counts: dict[str, int] = Field(
        default_factory=dict, description="verdict -> number of targets with it"
    )


class BaselineInfo(ResultModel):
    run_id: str
    model: str | None = None
    adapter_sha256: str | None = None


class GateSection(ResultModel):
    verdict: Verdict
    reason: str
    blocks_release: bool = Field(
        description="True when the verdict stops the release (FAIL, or INSUFFICIENT_EVIDENCE "
        "while insufficient evidence blocks)"
    )
    insufficient_blocks: bool = True
    policy_name: str
    policy_version: str
    policy_sha256: str
    policy_source: str = Field(description="File the policy came from, or 'built-in default'")
    evaluated_at: str
    baseline: BaselineInfo | None = None
    checks: list[CheckResult] = Field(default_factory=list)
    not_tested: list[str] = Field(
        default_factory=list, description="Stages or sections absent from audit.json"
    )
