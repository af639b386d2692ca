"""Judge a stored ``AuditResult`` against a policy: PASS, FAIL or INSUFFICIENT EVIDENCE.

The rule for one value with interval [lower, upper] (docs/design.md, "Statistics"):
PASS when the policy's chosen end of the interval meets the limit; FAIL when even
the most favourable end misses it (the evidence shows a violation); otherwise the
interval straddles the limit and the verdict is INSUFFICIENT_EVIDENCE, never a
silent pass. Too-small samples and undefined (NaN) values are insufficient too.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.special import ndtri

from faceaudit.gate.paths import Match, parse_path, resolve
from faceaudit.gate.policy import Check, Policy
from faceaudit.schema import AuditResult
from faceaudit.schema.gate import BaselineInfo, CheckResult, GateSection, TargetResult
from faceaudit.stats.significance import adjust_pvalues, one_sided_pvalue
from faceaudit.store import utc_now

# Stages an audit can cover, in the order a reader cares about them. A name that is not
# (yet) a field of AuditResult counts as not run, so the report never implies it was tested.
AUDIT_STAGES: dict[str, str] = {
    "evaluation": "accuracy per demographic group on clean images",
    "robustness": "robustness under lighting, occlusion and capture-quality perturbations",
    "corpus_scan": "scan of the training corpus for label leakage and stereotyped language",
    "contamination": "overlap between training and evaluation images",
    "sensitivity": "whether answers change with the wording of the question or the order of its options",
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
    if math.isinf(x):  # an unbounded interval end, or a ratio over a zero rate
        return "∞" if x > 0 else "−∞"
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


def _judge(check: Check, value: float, lower: float, upper: float, limit: float | None = None) -> tuple[str, str]:
    """Verdict and the clause that explains it, for one value with its interval."""
    limit = check.limit if limit is None else limit

    def meets(x: float) -> bool:
        return x >= limit if check.operator == "at_least" else x <= limit

    word = "at least" if check.operator == "at_least" else "at most"
    compared = {"lower": lower, "upper": upper, "value": value}[check.side]
    favourable = upper if check.operator == "at_least" else lower
    end = "point estimate" if check.side == "value" else f"{check.side} end"
    if meets(compared):
        return "PASS", f"its {end} {fmt(compared)} is {word} {fmt(limit)}"
    if not meets(favourable):
        where = "below" if check.operator == "at_least" else "above"
        if lower == upper:
            return "FAIL", f"it is {where} the limit {fmt(limit)}"
        return "FAIL", f"its whole interval lies {where} the limit {fmt(limit)}"
    return (
        "INSUFFICIENT_EVIDENCE",
        f"its interval {fmt(lower)} to {fmt(upper)} straddles the limit {fmt(limit)}, "
        f"so the data cannot show that it is {word} {fmt(limit)}",
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


def _scaled_limit(check: Check, data: dict[str, Any], match: Match, parent: Any = None) -> tuple[float | None, str]:
    """The limit one target is judged against, and the words that say how it was derived.

    With ``limit_scale: chance_corrected`` the policy's limit is on the scale
    kappa = (accuracy - chance) / (1 - chance) of the target's task: an accuracy level L is
    chance + L (1 - chance) in accuracy, a gap L is L (1 - chance). ``(None, why)`` when the
    target cannot be put on that scale.
    """
    if check.limit_scale == "raw":
        return check.limit, ""
    name = match.labels.get("tasks")
    tasks = (data.get("evaluation") or {}).get("tasks") or []
    task = next((t for t in tasks if isinstance(t, dict) and t.get("task") == name), None)
    chance = task.get("chance_accuracy") if task else None
    if not isinstance(chance, (int, float)) or not 0 <= chance < 1:
        return None, (f"task {name} records no chance accuracy, so a chance-corrected limit cannot be "
                      "applied (audit.json from an older faceaudit: re-run the evaluation)")
    if ".disparities[" in match.path:
        kind, metric = (parent.get("kind"), parent.get("metric")) if isinstance(parent, dict) else (None, None)
        if metric != "accuracy" or kind not in ("group_vs_rest", "difference"):
            return None, (f"{match.path} is a {kind} of {metric}, not an accuracy gap: it has no "
                          "chance-corrected scale")
        limit = check.limit * (1.0 - chance)
    elif match.path.endswith("accuracy"):
        limit = chance + check.limit * (1.0 - chance)
    else:
        return None, f"{match.path} is neither an accuracy nor an accuracy gap: it has no chance-corrected scale"
    return limit, (f" (the policy's {fmt(check.limit)} on the chance-corrected scale; chance is "
                   f"{fmt(chance)} for task {name})")


def _target(
    check: Check, match: Match, baseline_matches: dict[str, Match] | None,
    paired: dict[str, Any] | None = None, floor_n: int = 0, data: dict[str, Any] | None = None,
    parent: Any = None,
) -> TargetResult:
    label = _describe_labels(match.labels, match.path)
    numbers = _numbers(match.value)
    common: dict[str, Any] = {"path": match.path, "labels": match.labels}
    limit, scale_note = _scaled_limit(check, data or {}, match, parent)
    if limit is None:
        return TargetResult(**common, verdict="INSUFFICIENT_EVIDENCE", reason=f"{label}: {scale_note}")
    if check.limit_scale != "raw":
        common["limit"] = limit
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
        change = (paired or {}).get(match.path)
        numbers = (change.value, change.lower, change.upper, change.n) if change is not None \
            else _mover_delta(numbers, other_numbers)
    value, lower, upper, n = numbers
    common.update(value=value, lower=lower, upper=upper, n=n, baseline_value=baseline_value)
    what = label
    if baseline_matches is not None:
        change = (paired or {}).get(match.path)
        what = (f"{label}: change from baseline on the same {change.n} items (paired, McNemar "
                f"p={fmt(change.p_value)})" if change is not None else
                f"{label}: change from baseline (independent intervals: the audits did not store "
                "the same items' outcomes)")
    if any(math.isnan(x) for x in (value, lower, upper)):
        return TargetResult(
            **common,
            verdict="INSUFFICIENT_EVIDENCE",
            reason=f"{what} is undefined (NaN), usually because a group had no usable answers",
        )
    min_n = max(check.min_n, floor_n)
    if min_n and n is not None and n < min_n:
        return TargetResult(
            **common,
            verdict="INSUFFICIENT_EVIDENCE",
            reason=f"{what} rests on n={n}, below the minimum sample size {min_n}",
        )
    verdict, clause = _judge(check, value, lower, upper, limit)
    return TargetResult(
        **common, verdict=verdict,
        reason=f"{what} = {_interval_text(value, lower, upper, n)}; {clause}{scale_note}",
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
        "fail_when": check.fail_when,
        "insufficient_blocks": check.insufficient_blocks,
        "rationale": check.rationale,
        "id": check.id,
        "description": check.description,
        "severity": check.severity,
        "path": check.path,
        "operator": check.operator,
        "limit": check.limit,
        "limit_scale": check.limit_scale,
        "side": check.side,
        "min_n": check.min_n,
        "against_baseline": check.against_baseline,
    }


def _parents(data: dict[str, Any], path: str) -> dict[str, Any]:
    """Concrete path of each match -> the object holding it (a disparity for '...disparities[..].estimate')."""
    segments = parse_path(path)
    last = segments[-1]
    if len(segments) < 2 or last.expands:
        return {}
    return {f"{m.path}.{last.name}": m.value for m in resolve(data, segments[:-1])}


def _scope(match: Match, parent: Any) -> str:
    """What a target is one of: its task and attribute set (all but the innermost wildcard)."""
    outer = list(match.labels.values())[:-1]
    if isinstance(parent, dict) and isinstance(parent.get("attributes"), list):
        outer.append(" x ".join(map(str, parent["attributes"])))
    return ", ".join(outer) or "all"


@dataclass
class _Judged:
    """A target with what the gate-wide decision needs beside it."""

    target: TargetResult
    scope: str = ""
    se: float | None = None  # standard error on the harmful side (significant_harm only)


def _harm_target(check: Check, match: Match, parent: Any, certify_power: float, floor_n: int = 0,
                 data: dict[str, Any] | None = None) -> _Judged:
    """A comparison judged for harm: PASS when its harmful end is within the limit; otherwise
    provisionally INSUFFICIENT, with the one-sided p-value the gate's Holm family decides on."""
    group = parent.get("group") if isinstance(parent, dict) else None
    label = _describe_labels(match.labels, match.path)
    what = f"{label}" if group is None or group in label else f"{label} ({group})"
    common: dict[str, Any] = {"path": match.path, "labels": match.labels, "group": group}
    numbers = _numbers(match.value)
    node = match.value if isinstance(match.value, dict) else {}
    scope = _scope(match, parent)
    limit, scale_note = _scaled_limit(check, data or {}, match, parent)
    if limit is None:
        return _Judged(TargetResult(**common, verdict="INSUFFICIENT_EVIDENCE", reason=f"{what}: {scale_note}"), scope)
    if check.limit_scale != "raw":
        common["limit"] = limit
    if numbers is None:
        return _Judged(TargetResult(**common, verdict="INSUFFICIENT_EVIDENCE",
                                    reason=f"{what}: the value at {match.path} is not an estimate"), scope)
    value, lower, upper, n = numbers
    common.update(value=value, lower=lower, upper=upper, n=n)
    null = node.get("null_value")
    if null is None:
        return _Judged(TargetResult(**common, verdict="INSUFFICIENT_EVIDENCE", reason=(
            f"{what} is not a comparison (it has no null value and p-value), so significant harm "
            "cannot be judged; use fail_when: beyond_limit for it")), scope)
    if any(math.isnan(x) for x in (value, lower, upper)):
        return _Judged(TargetResult(**common, verdict="INSUFFICIENT_EVIDENCE", reason=(
            f"{what} is undefined (NaN): there is no other group with data to compare with, or no "
            "usable answers")), scope)
    harm_below = check.operator == "at_least"
    harm_end = lower if harm_below else upper
    z_c = float(ndtri(0.5 + float(node.get("confidence", 0.95)) / 2))
    se = abs(harm_end - value) / z_c
    margin = abs(limit - float(null))
    se_needed = margin / (z_c + float(ndtri(certify_power)))
    min_n = max(check.min_n, floor_n)
    small = min_n and n is not None and n < min_n
    certifiable = bool(not small and se_needed > 0 and se <= se_needed)
    items = math.ceil(n * (se / se_needed) ** 2) if n and se_needed > 0 and se > 0 else None
    p_harm = one_sided_pvalue(node.get("p_value", float("nan")), value, float(null), harm_below)
    meets = harm_end >= limit if harm_below else harm_end <= limit
    word = "at least" if harm_below else "at most"
    text = f"{what} = {_interval_text(value, lower, upper, n)}"
    if meets:
        verdict, clause = "PASS", f"its {check.side} end {fmt(harm_end)} is {word} {fmt(limit)}{scale_note}"
    else:
        verdict, clause = "INSUFFICIENT_EVIDENCE", (
            f"its {check.side} end {fmt(harm_end)} is not {word} {fmt(limit)}{scale_note}")
    target = TargetResult(**common, verdict=verdict, reason=f"{text}; {clause}",
                          p_harm=None if math.isnan(p_harm) else p_harm, certifiable=certifiable,
                          items_to_certify=items)
    return _Judged(target, scope, se)


def _targets(
    check: Check, result: AuditResult, data: dict[str, Any], baseline_data: dict[str, Any] | None,
    certify_power: float, baseline: AuditResult | None = None,
) -> list[_Judged] | CheckResult:
    """Every target of ``check`` before the gate-wide FAIL decision, or a finished result
    when the check has nothing to judge one by one (missing, skipped, counted)."""
    if check.against_baseline and baseline_data is None:
        return _missing(check, result, no_baseline=True)
    if check.aggregate == "count":
        if getattr(result, _section_of(check), None) is None:
            return _missing(check, result, no_baseline=False)
        count = len(resolve(data, check.path))
        verdict, clause = _judge(check, count, count, count)
        return CheckResult(
            **_check_fields(check), verdict=verdict, reason=f"{count} item(s) match {check.path}; {clause}.",
            value=count, lower=count, upper=count,
        )
    matches = resolve(data, check.path)
    if not matches:
        return _missing(check, result, no_baseline=False)
    # The evaluation's own minimum group size is a floor for every check that judges it.
    floor_n = result.evaluation.min_group_n if result.evaluation and _section_of(check) == "evaluation" else 0
    parents = _parents(data, check.path)
    if check.fail_when == "significant_harm":
        return [_harm_target(check, m, parents.get(m.path), certify_power, floor_n, data) for m in matches]
    baseline_matches = (
        {m.path: m for m in resolve(baseline_data, check.path)} if check.against_baseline else None
    )
    paired = _paired_changes(result, baseline, matches) if check.against_baseline else None
    return [_Judged(_target(check, m, baseline_matches, paired, floor_n, data, parents.get(m.path)))
            for m in matches]


def _paired_changes(result: AuditResult, baseline: AuditResult | None, matches: list[Match]) -> dict[str, Any]:
    """Candidate-minus-baseline accuracy per group on the same items, where both audits stored
    their per-item outcomes for the same items (``evaluation.tasks.*.groups.*`` paths only)."""
    from faceaudit.evaluate.outcomes import paired_group_change

    if baseline is None or result.evaluation is None or baseline.evaluation is None:
        return {}
    tasks = {t.task: t for t in result.evaluation.tasks}
    base_tasks = {t.task: t for t in baseline.evaluation.tasks}
    changes: dict[str, Any] = {}
    for m in matches:
        task, group = m.labels.get("tasks"), m.labels.get("groups")
        if task not in tasks or task not in base_tasks or not m.path.endswith(".metrics.accuracy"):
            continue
        found = next((g for g in tasks[task].groups if g.name == group), None)
        if found is None:
            continue
        change = paired_group_change(tasks[task], base_tasks[task], result.evaluation.sensitive_attributes,
                                     found.attributes, found.labels, result.evaluation.confidence)
        if change is not None:
            changes[m.path] = change
    return changes


def _decide_family(judged: list[_Judged], alpha: float) -> int:
    """Holm over every comparison that could FAIL; the rejected ones that did not PASS FAIL.

    Holm (1979) keeps the family-wise error rate at ``alpha`` for any dependence between the
    tests, so a fair model FAILs any of these comparisons with probability at most ``alpha``.
    Returns the family size.
    """
    family = [j for j in judged if j.target.p_harm is not None]
    if not family:
        return 0
    adjusted, reject = adjust_pvalues(np.array([j.target.p_harm for j in family]), "holm", alpha=alpha)
    m = len(family)
    # Holm's first step is Bonferroni: a harm of (z_{1-alpha/m} + z_{0.8}) standard errors is
    # rejected with 80% probability (the selftest checks this against simulation).
    factor = float(ndtri(1 - alpha / m) + ndtri(0.8))
    for j, p_adj, rejected in zip(family, adjusted, reject, strict=True):
        t = j.target
        t.p_adjusted = float(p_adj)
        if j.se is not None:
            t.detectable_harm = factor * j.se
        if rejected and t.verdict != "PASS":
            t.verdict = "FAIL"
            t.reason += (f"; the harm is significant (one-sided p={fmt(t.p_harm)}, Holm-adjusted "
                         f"{fmt(float(p_adj))} over {m} comparisons, family-wise error {fmt(alpha)})")
    for j in judged:
        t = j.target
        if t.verdict == "INSUFFICIENT_EVIDENCE" and t.p_harm is not None:
            t.reason += (" and the harm is not significant after the correction" if t.certifiable
                         else "; the group is too small to certify at this limit and shows no clear harm")
    return m


def _finish(check: Check, judged: list[_Judged]) -> CheckResult:
    """A check's verdict from its decided targets."""
    targets = [j.target for j in judged]
    counts: dict[str, int] = {}
    for t in targets:
        counts[t.verdict] = counts.get(t.verdict, 0) + 1
    total = len(targets)
    uncertified = [t for t in targets if t.verdict == "INSUFFICIENT_EVIDENCE" and t.certifiable is False]
    undecided = [t for t in targets if t.verdict == "INSUFFICIENT_EVIDENCE" and t.certifiable is not False]
    # A scope (task x attribute set) none of whose targets could be judged is itself undecided.
    by_scope: dict[str, list[TargetResult]] = {}
    for j in judged:
        by_scope.setdefault(j.scope, []).append(j.target)
    unjudged_scopes = [
        scope for scope, members in by_scope.items()
        if members and not any(t.certifiable or t.verdict == "FAIL" for t in members)
        and any(t.certifiable is False for t in members)
    ]
    if counts.get("FAIL"):
        verdict = "FAIL"
        worst = _worst(check, targets, "FAIL")
        reason = f"{counts['FAIL']} of {total} value(s) fail; worst: {worst.reason}."
    elif undecided or unjudged_scopes:
        verdict = "INSUFFICIENT_EVIDENCE"
        if undecided:
            worst = _worst(check, undecided, "INSUFFICIENT_EVIDENCE")
            reason = f"{len(undecided)} of {total} value(s) cannot be judged; e.g. {worst.reason}."
        else:
            worst = by_scope[unjudged_scopes[0]][0]
            reason = ""
        if unjudged_scopes:
            reason += (f" No group of {', '.join(unjudged_scopes[:3])}"
                       f"{' and others' if len(unjudged_scopes) > 3 else ''} is large enough to "
                       "certify, so that comparison was not judged.")
        reason = reason.strip()
    else:
        verdict = "PASS"
        judged = [t for t in targets if t.verdict == "PASS"]
        worst = _worst(check, judged, "PASS")
        lead = "The only value passes" if len(judged) == 1 else f"All {len(judged)} judged values pass; the closest"
        reason = f"{lead}: {worst.reason}."
    if uncertified and verdict != "FAIL":
        names = [t.group or _describe_labels(t.labels, t.path) for t in uncertified]
        shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
        reason += (f" {len(uncertified)} group(s) too small to certify and without clear harm, "
                   f"judged on harm only: {shown}.")
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
        uncertified=[t.group or t.path for t in uncertified],
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
    unclear = [c for c in blocking if c.verdict == "INSUFFICIENT_EVIDENCE" and c.insufficient_blocks]
    judged = [c for c in blocking if c.verdict == "PASS"]
    warnings = [c for c in checks if (c.severity == "warning" and c.verdict != "PASS")
                or (c.verdict == "INSUFFICIENT_EVIDENCE" and not c.insufficient_blocks)]
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
    uncertified = sorted({g for c in judged for g in c.uncertified})
    caveat = (f" {len(uncertified)} group(s) were too small to certify and were judged on clear harm "
              "only (named in the checks)." if uncertified else "")
    noun = "check" if len(judged) == 1 else "checks"
    return ("PASS", f"{len(judged)} blocking {noun} passed: every judged value's interval lies inside "
            f"its limit{extra}.{caveat}", False)


def evaluate_gate(
    result: AuditResult,
    policy: Policy,
    *,
    baseline: AuditResult | None = None,
    insufficient_blocks: bool = True,
) -> GateSection:
    """The release verdict for ``result`` under ``policy``; reads only stored values.

    Decisions, with their error rates (docs/design.md, "Statistics"):

    * PASS of a target needs its interval's harmful end within the limit. A check passes
      when every judged target does: an intersection-union test, so the chance of passing
      a check whose true value violates the limit is at most the interval's one-sided error.
    * FAIL of a ``significant_harm`` target needs its harm to be significant after Holm's
      correction over every such target of every blocking check (one family), so a fair
      model FAILs with probability at most ``policy.alpha``; warning checks are corrected
      each on their own.
    * Anything else is INSUFFICIENT_EVIDENCE. A target too small to PASS a fair model with
      ``policy.certify_power`` is judged on clear harm only and named, not counted against
      the check, unless no target of its task and attribute set could be judged at all.
    """
    # mode="python" keeps NaN as float('nan') so undefined values stay visible to the checks.
    data = result.model_dump(mode="python", exclude={"gate"})
    baseline_data = baseline.model_dump(mode="python", exclude={"gate"}) if baseline else None
    prepared = [_targets(c, result, data, baseline_data, policy.certify_power, baseline) for c in policy.checks]
    blocking_family = [
        j for c, judged in zip(policy.checks, prepared, strict=True)
        if isinstance(judged, list) and c.severity == "blocking" and c.fail_when == "significant_harm"
        for j in judged
    ]
    family_size = _decide_family(blocking_family, policy.alpha)
    checks: list[CheckResult] = []
    for check, judged in zip(policy.checks, prepared, strict=True):
        if isinstance(judged, CheckResult):
            checks.append(judged)
            continue
        if check.severity != "blocking" and check.fail_when == "significant_harm":
            _decide_family(judged, policy.alpha)
        checks.append(_finish(check, judged))
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
        alpha=policy.alpha,
        certify_power=policy.certify_power,
        fail_family_size=family_size,
        checks=checks,
        not_tested=not_tested(result),
    )
