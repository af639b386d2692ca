"""Judge a stored ``AuditResult`` against a policy: PASS, FAIL or INSUFFICIENT EVIDENCE.

The rule for one value with interval [lower, upper] (DESIGN.md, "Statistics"):
PASS when the policy's chosen end of the interval meets the limit; FAIL when even
the most favourable end misses it (the evidence shows a violation); otherwise the
interval straddles the limit and the verdict is INSUFFICIENT_EVIDENCE, never a
silent pass. Too-small samples and undefined (NaN) values are insufficient too.
"""

from __future__ import annotations

import math
from typing import Any

from faceaudit.gate.paths import Match, parse_path, resolve
from faceaudit.gate.policy import Check, Policy
from faceaudit.schema import AuditResult
from faceaudit.schema.gate import BaselineInfo, CheckResult, GateSection, TargetResult
from faceaudit.store import utc_now

# Stages an audit can cover, in the order a reader cares about them. A name that is not
# (yet) a field of AuditResult counts as not run, so the report never implies it was tested.
AUDIT_STAGES: dict[str, str] = {
    "evaluation": "accuracy per demographic group on clean images",
    "robustness": "robustness under lighting, occlusion and capture-quality perturbations",
    "corpus_scan": "scan of the training corpus for label leakage and stereotyped language",
    "contamination": "overlap between training and evaluation images",
    "training": "training record of the fine-tuned model",
    "corpus": "generation record of the training corpus",
}

_ORDER = {"FAIL": 0, "INSUFFICIENT_EVIDENCE": 1, "PASS": 2, "SKIPPED": 3}


def fmt(x: float | None) -> str:
    """A number as a person reads it: 3 significant digits, no exponent for everyday sizes."""
    if x is None:
        return "n/a"
    if math.isnan(x):
        return "NaN"
    if x == int(x) and abs(x) < 1e6:
        return str(int(x))
    if abs(x) >= 1000:
        return f"{x:,.0f}"
    return f"{x:.3g}"


def not_tested(result: AuditResult) -> list[str]:
    return [
        f"{name}: {what}"
        for name, what in AUDIT_STAGES.items()
        if getattr(result, name, None) is None
    ]


def _numbers(node: Any) -> tuple[float, float, float, int | None] | None:
    """(value, lower, upper, n) of an Estimate-like mapping or a plain number; None otherwise."""
    if isinstance(node, bool):
        return float(node), float(node), float(node), None
    if isinstance(node, (int, float)):
        return float(node), float(node), float(node), None
    if isinstance(node, dict) and isinstance(node.get("value"), (int, float)):
        value = float(node["value"])
        lower = float(node.get("lower", value))
        upper = float(node.get("upper", value))
        n = node.get("n")
        return value, lower, upper, n if isinstance(n, int) else None
    return None


def _describe_labels(match_labels: dict[str, str], path: str) -> str:
    if not match_labels:
        return path
    # "tasks" -> "task race": reads as prose in a reason sentence.
    return ", ".join(f"{_singular(k)} {v}" for k, v in match_labels.items())


def _singular(word: str) -> str:
    if word.endswith("ies"):
        return word[:-3] + "y"
    return word[:-1] if word.endswith("s") else word


def _interval_text(value: float, lower: float, upper: float, n: int | None) -> str:
    text = fmt(value)
    if lower != upper:
        text += f" (95% CI {fmt(lower)} to {fmt(upper)}"
        text += f", n={n})" if n is not None else ")"
    elif n is not None:
        text += f" (n={n})"
    return text


def _judge(check: Check, value: float, lower: float, upper: float) -> tuple[str, str]:
    """Verdict and the clause that explains it, for one value with its interval."""

    def meets(x: float) -> bool:
        return x >= check.limit if check.operator == "at_least" else x <= check.limit

    word = "at least" if check.operator == "at_least" else "at most"
    compared = {"lower": lower, "upper": upper, "value": value}[check.side]
    favourable = upper if check.operator == "at_least" else lower
    end = "point estimate" if check.side == "value" else f"{check.side} end"
    if meets(compared):
        return "PASS", f"its {end} {fmt(compared)} is {word} {fmt(check.limit)}"
    if not meets(favourable):
        where = "below" if check.operator == "at_least" else "above"
        if lower == upper:
            return "FAIL", f"it is {where} the limit {fmt(check.limit)}"
        return "FAIL", f"its whole interval lies {where} the limit {fmt(check.limit)}"
    return (
        "INSUFFICIENT_EVIDENCE",
        f"its interval {fmt(lower)} to {fmt(upper)} straddles the limit {fmt(check.limit)}, "
        f"so the data cannot show that it is {word} {fmt(check.limit)}",
    )


def _mover_delta(
    cand: tuple[float, float, float, int | None], base: tuple[float, float, float, int | None]
) -> tuple[float, float, float, int | None]:
    """Candidate minus baseline with a MOVER interval (Zou & Donner 2008; Newcombe's
    method 10 when both intervals are Wilson), built from the stored intervals alone.
    It assumes independent samples; on the same items the paired interval would be
    narrower, so this errs towards INSUFFICIENT_EVIDENCE, not towards PASS."""
    v1, l1, u1, n1 = cand
    v2, l2, u2, n2 = base
    delta = v1 - v2
    lower = delta - math.sqrt((v1 - l1) ** 2 + (u2 - v2) ** 2)
    upper = delta + math.sqrt((u1 - v1) ** 2 + (v2 - l2) ** 2)
    ns = [n for n in (n1, n2) if n is not None]
    return delta, lower, upper, min(ns) if ns else None


def _target(
    check: Check, match: Match, baseline_matches: dict[str, Match] | None
) -> TargetResult:
    label = _describe_labels(match.labels, match.path)
    numbers = _numbers(match.value)
    common: dict[str, Any] = {"path": match.path, "labels": match.labels}
    if numbers is None:
        return TargetResult(
            **common,
            verdict="INSUFFICIENT_EVIDENCE",
            reason=f"{label}: the value at {match.path} is not a number or an estimate",
        )
    baseline_value = None
    if baseline_matches is not None:
        other = baseline_matches.get(match.path)
        other_numbers = _numbers(other.value) if other is not None else None
        if other_numbers is None:
            return TargetResult(
                **common,
                value=numbers[0],
                verdict="INSUFFICIENT_EVIDENCE",
                reason=f"{label}: the baseline audit has no value at {match.path} to compare with",
            )
        baseline_value = other_numbers[0]
        numbers = _mover_delta(numbers, other_numbers)
    value, lower, upper, n = numbers
    common.update(value=value, lower=lower, upper=upper, n=n, baseline_value=baseline_value)
    what = f"{label}: change from baseline" if baseline_matches is not None else label
    if any(math.isnan(x) for x in (value, lower, upper)):
        return TargetResult(
            **common,
            verdict="INSUFFICIENT_EVIDENCE",
            reason=f"{what} is undefined (NaN), usually because a group had no usable answers",
        )
    if check.min_n and n is not None and n < check.min_n:
        return TargetResult(
            **common,
            verdict="INSUFFICIENT_EVIDENCE",
            reason=f"{what} rests on n={n}, below the minimum sample size {check.min_n}",
        )
    verdict, clause = _judge(check, value, lower, upper)
    return TargetResult(
        **common, verdict=verdict, reason=f"{what} = {_interval_text(value, lower, upper, n)}; {clause}"
    )


def _worst(check: Check, targets: list[TargetResult], verdict: str) -> TargetResult:
    candidates = [t for t in targets if t.verdict == verdict]
    judged = [t for t in candidates if t.value is not None and t.lower is not None]
    if not judged:
        return candidates[0]

    def compared(t: TargetResult) -> float:
        x = {"lower": t.lower, "upper": t.upper, "value": t.value}[check.side]
        return float("inf") if x is None or math.isnan(x) else x

    key = compared if check.operator == "at_least" else (lambda t: -compared(t))
    return min(judged, key=key)


def _section_of(check: Check) -> str:
    return parse_path(check.path)[0].name


def _missing(check: Check, result: AuditResult, *, no_baseline: bool) -> CheckResult:
    base = _check_fields(check)
    if no_baseline:
        return CheckResult(
            **base, verdict="SKIPPED", reason="No baseline audit was given, so there is nothing to compare with."
        )
    section = _section_of(check)
    if getattr(result, section, None) is None:
        why = f"The audit has no {section} section (that stage did not run)"
    else:
        why = f"The audit has no value at {check.path}"
    verdict = {"insufficient": "INSUFFICIENT_EVIDENCE", "fail": "FAIL", "skip": "SKIPPED"}[
        check.when_missing
    ]
    consequence = {
        "INSUFFICIENT_EVIDENCE": "so this check has no evidence",
        "FAIL": "and the policy treats a missing value as a failure",
        "SKIPPED": "and the policy allows skipping this check",
    }[verdict]
    return CheckResult(**base, verdict=verdict, reason=f"{why}, {consequence}.")


def _check_fields(check: Check) -> dict[str, Any]:
    return {
        "id": check.id,
        "description": check.description,
        "severity": check.severity,
        "path": check.path,
        "operator": check.operator,
        "limit": check.limit,
        "side": check.side,
        "min_n": check.min_n,
        "against_baseline": check.against_baseline,
    }


def evaluate_check(
    check: Check, result: AuditResult, data: dict[str, Any], baseline_data: dict[str, Any] | None
) -> CheckResult:
    if check.against_baseline and baseline_data is None:
        return _missing(check, result, no_baseline=True)
    if check.aggregate == "count":
        if getattr(result, _section_of(check), None) is None:
            return _missing(check, result, no_baseline=False)
        count = len(resolve(data, check.path))
        verdict, clause = _judge(check, count, count, count)
        return CheckResult(
            **_check_fields(check),
            verdict=verdict,
            reason=f"{count} item(s) match {check.path}; {clause}.",
            value=count,
            lower=count,
            upper=count,
        )
    matches = resolve(data, check.path)
    if not matches:
        return _missing(check, result, no_baseline=False)
    baseline_matches = (
        {m.path: m for m in resolve(baseline_data, check.path)} if check.against_baseline else None
    )
    targets = [_target(check, m, baseline_matches) for m in matches]
    counts: dict[str, int] = {}
    for t in targets:
        counts[t.verdict] = counts.get(t.verdict, 0) + 1
    verdict = min(counts, key=lambda v: _ORDER[v])
    worst = _worst(check, targets, verdict)
    total = len(targets)
    if verdict == "PASS":
        lead = "The only value passes" if total == 1 else f"All {total} values pass; the closest"
        reason = f"{lead}: {worst.reason}."
    elif verdict == "FAIL":
        reason = f"{counts['FAIL']} of {total} value(s) fail; worst: {worst.reason}."
    else:
        reason = f"{counts[verdict]} of {total} value(s) cannot be judged; e.g. {worst.reason}."
    return CheckResult(
        **_check_fields(check),
        verdict=verdict,
        reason=reason,
        value=worst.value,
        lower=worst.lower,
        upper=worst.upper,
        n=worst.n,
        worst_path=worst.path,
        targets=sorted(targets, key=lambda t: _ORDER[t.verdict]),
        counts=counts,
    )


def _list_ids(checks: list[CheckResult]) -> str:
    ids = [c.id for c in checks]
    if len(ids) <= 3:
        return ", ".join(ids)
    return ", ".join(ids[:3]) + f" and {len(ids) - 3} more"


def _overall(
    result: AuditResult, checks: list[CheckResult], insufficient_blocks: bool
) -> tuple[str, str, bool]:
    blocking = [c for c in checks if c.severity == "blocking"]
    failed = [c for c in blocking if c.verdict == "FAIL"]
    unclear = [c for c in blocking if c.verdict == "INSUFFICIENT_EVIDENCE"]
    judged = [c for c in blocking if c.verdict != "SKIPPED"]
    warnings = [c for c in checks if c.severity == "warning" and c.verdict != "PASS"]
    if failed:
        noun = "check" if len(failed) == 1 else "checks"
        return "FAIL", f"{len(failed)} blocking {noun} failed: {_list_ids(failed)}.", True
    if result.evaluation is None:
        # Hard rule, whatever the policy says: without measurements of the model there is
        # nothing that could justify a release.
        reason = (
            "The audit has no evaluation section, so the model's accuracy per group was never "
            "measured and nothing supports a release."
        )
        return "INSUFFICIENT_EVIDENCE", reason, insufficient_blocks
    if unclear:
        noun = "check" if len(unclear) == 1 else "checks"
        return (
            "INSUFFICIENT_EVIDENCE",
            f"No blocking check failed, but {len(unclear)} blocking {noun} could not be decided "
            f"from the data: {_list_ids(unclear)}.",
            insufficient_blocks,
        )
    if not judged:
        return (
            "INSUFFICIENT_EVIDENCE",
            "Every blocking check was skipped, so the policy judged nothing.",
            insufficient_blocks,
        )
    extra = f"; {len(warnings)} warning(s) need a look" if warnings else ""
    return "PASS", f"All {len(judged)} blocking checks passed with their whole intervals inside the limits{extra}.", False


def evaluate_gate(
    result: AuditResult,
    policy: Policy,
    *,
    baseline: AuditResult | None = None,
    insufficient_blocks: bool = True,
) -> GateSection:
    """The release verdict for ``result`` under ``policy``; reads only stored values."""
    # mode="python" keeps NaN as float('nan') so undefined values stay visible to the checks.
    data = result.model_dump(mode="python", exclude={"gate"})
    baseline_data = baseline.model_dump(mode="python", exclude={"gate"}) if baseline else None
    checks = [evaluate_check(c, result, data, baseline_data) for c in policy.checks]
    verdict, reason, blocks = _overall(result, checks, insufficient_blocks)
    baseline_info = None
    if baseline is not None:
        baseline_info = BaselineInfo(
            run_id=baseline.run.run_id,
            model=baseline.provenance.base_model,
            adapter_sha256=baseline.provenance.adapter_sha256,
        )
    return GateSection(
        verdict=verdict,
        reason=reason,
        blocks_release=blocks,
        insufficient_blocks=insufficient_blocks,
        policy_name=policy.name,
        policy_version=policy.version,
        policy_sha256=policy.sha256,
        policy_source=policy.source,
        evaluated_at=utc_now(),
        baseline=baseline_info,
        checks=checks,
        not_tested=not_tested(result),
    )
