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
    limit: float | None = Field(
        default=None, description="The limit this value was judged against, when the check's limit "
        "is on the chance-corrected scale and so differs per task (see Check.limit_scale)",
    )
    group: str | None = Field(default=None, description="The group a comparison is about, when it has one")
    p_harm: float | None = Field(
        default=None, description="significant_harm checks: one-sided p-value of 'no harm' (unadjusted)"
    )
    p_adjusted: float | None = Field(
        default=None, description="p_harm after the gate's Holm correction over its FAIL family"
    )
    certifiable: bool | None = Field(
        default=None,
        description="significant_harm checks: the sample is large enough to PASS a fair model with "
        "the policy's certify_power; an uncertifiable comparison is judged on clear harm only",
    )
    detectable_harm: float | None = Field(
        default=None,
        description="Smallest true harm (distance from the null value, in the estimate's units) "
        "that this target FAILs with 80% probability under the gate's correction",
    )
    items_to_certify: int | None = Field(
        default=None, description="Items the compared group needs to PASS a fair model with certify_power"
    )


class CheckResult(ResultModel):
    id: str
    description: str
    severity: Severity
    path: str = Field(description="The policy's path pattern")
    operator: Operator
    limit: float
    limit_scale: Literal["raw", "chance_corrected"] = Field(
        default="raw", description="chance_corrected: limit is on the kappa scale; each target's "
        "accuracy-scale limit is in its own 'limit' field",
    )
    side: Side = Field(description="Which end of the interval was compared with the limit")
    min_n: int = 0
    against_baseline: bool = False
    fail_when: Literal["beyond_limit", "significant_harm"] = "beyond_limit"
    insufficient_blocks: bool = True
    rationale: str | None = None
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
    uncertified: list[str] = Field(
        default_factory=list,
        description="Targets too small to certify and without clear harm: judged INSUFFICIENT, "
        "named, and not counted against the check",
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
    alpha: float = Field(default=0.05, description="Family-wise error rate of FAIL decisions")
    certify_power: float = Field(
        default=0.9, description="Probability with which a certifiable comparison PASSes a fair model"
    )
    fail_family_size: int = Field(
        default=0, ge=0, description="Comparisons in the Holm family of the blocking significant-harm checks"
    )
    checks: list[CheckResult] = Field(default_factory=list)
    not_tested: list[str] = Field(
        default_factory=list, description="Stages or sections absent from audit.json"
    )
