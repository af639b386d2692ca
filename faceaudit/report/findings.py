"""Page one's findings: each blocking check result as sentences a person can sign.

Every sentence is generated from the structured results in ``audit.json`` (the gate's
check and target results, and the evaluation or robustness objects they judged), never
from the gate's own ``reason`` strings, which speak in policy paths. The gate is not
re-run: its verdict, interval, limit and p-value per target are read as stored; the
only arithmetic is re-expressing them (a group's rate minus the gap gives the rate of
everyone else, one minus accuracy is the error rate).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

from faceaudit.gate.paths import parse_path, resolve
from faceaudit.schema import AuditResult
from faceaudit.schema.gate import CheckResult, TargetResult

#: How many targets of one check page one spells out; the rest are counted and listed
#: in the release-checks section.
PER_CHECK = 3

# What the model was asked, as the end of "When asked ...". Unknown tasks read "about the <task>".
_TASK_QUESTIONS = {
    "age": "the person's age",
    "gender": "the person's gender",
    "race": "the person's race",
    "skin_tone_group": "the person's skin tone",
    "skin_tone": "the person's skin tone",
    "expression": "the facial expression",
    "glasses": "whether the person wears glasses",
    "helmet": "whether a safety helmet is worn",
    "mask": "whether the person wears a mask",
}

_PATH_SYNTAX = re.compile(r"\w\[[^\]]*\]|\b(?:evaluation|robustness|corpus_scan|dataset)\.\w|\w=\w")


def task_in_words(task: str) -> str:
    return _TASK_QUESTIONS.get(task, f"about the {task.replace('_', ' ')}")


def _age_words(label: str) -> tuple[str | None, str | None]:
    """(adjective, suffix) for an age label: '50-59' -> suffix 'aged 50-59'."""
    text = label.strip()
    band = re.fullmatch(r"(\d+)\s*-\s*(\d+)", text)
    if band:
        # FairFaceGPT's prompts call people of the 3-9 band boys and girls; so do we up to 9.
        return ("child" if int(band.group(2)) <= 9 else None), f"aged {band.group(1)}-{band.group(2)}"
    found = re.fullmatch(r"(?:more than|over)\s*(\d+)", text, flags=re.IGNORECASE)
    if found:
        return None, f"aged over {found.group(1)}"
    return text, None


def group_in_words(attributes: list[str], labels: list[str]) -> str:
    """'race=Latino_Hispanic & gender=Male & age=50-59' -> 'Latino/Hispanic men aged 50-59'.

    Attributes without a phrasing of their own read 'with <attribute> <label>', so a
    group is always named completely, never guessed.
    """
    adjectives: list[str] = []
    suffixes: list[str] = []
    noun = "people"
    child = False
    for attribute, label in zip(attributes, labels, strict=True):
        name = attribute.lower()
        if name == "race":
            adjectives.append(label.replace("_", "/"))
        elif name == "skin_tone_group":
            adjectives.append(f"{label}-skinned")
        elif name == "gender":
            low = label.lower()
            noun = {"male": "men", "female": "women", "man": "men", "woman": "women"}.get(low, f"{label} people")
        elif name == "age":
            adjective, suffix = _age_words(label)
            if adjective is not None and adjective.lower() in {"child", "children"}:
                child = True
            elif adjective is not None:
                adjectives.append(adjective)
            if suffix is not None:
                suffixes.append(suffix)
        else:
            suffixes.append(f"with {attribute.replace('_', ' ')} {label}")
    if child:
        noun = {"men": "boys", "women": "girls"}.get(noun, "children")
    return " ".join([*adjectives, noun, *suffixes])


def _split_group(name: str) -> tuple[list[str], list[str]] | None:
    """'race=Black & gender=Female' -> (['race', 'gender'], ['Black', 'Female'])."""
    attributes, labels = [], []
    for part in name.split(" & "):
        if "=" not in part:
            return None
        attribute, label = part.split("=", 1)
        attributes.append(attribute.strip())
        labels.append(label.strip())
    return attributes, labels


def _group_words(name: str | None) -> str:
    if not name:
        return "the whole sample"
    split = _split_group(name)
    return group_in_words(*split) if split else name


def _pct(x: float) -> str:
    return "undefined (NaN)" if x is None or math.isnan(x) else f"{100 * x:.1f}%"


def _pts(x: float) -> str:
    text = f"{100 * abs(x):.1f}"
    return text[:-2] if text.endswith(".0") else text


def _gap_phrase(lower: float, upper: float) -> str:
    """A signed interval of a difference (group minus rest) in points, said in words."""
    if upper <= 0:
        return f"{_pts(upper)} to {_pts(lower)} points lower"
    if lower >= 0:
        return f"{_pts(lower)} to {_pts(upper)} points higher"
    return f"from {_pts(lower)} points lower to {_pts(upper)} points higher"


def _signed_points(value: float) -> str:
    if value < 0:
        return f"{_pts(value)} points lower"
    if value > 0:
        return f"{_pts(value)} points higher"
    return "no different"


@dataclass
class Finding:
    """One sentence of page one, with the numbers it was made from (for tests and charts)."""

    check_id: str
    verdict: str
    sentence: str
    task: str | None = None
    group: str | None = None
    value: float | None = None
    lower: float | None = None
    upper: float | None = None
    n: int | None = None


@dataclass
class CheckFindings:
    check: CheckResult
    findings: list[Finding] = field(default_factory=list)
    more: int = 0  # targets with the same verdict not spelt out

    @property
    def headline(self) -> str:
        return _headline(self.check)


def _headline(check: CheckResult) -> str:
    verdict = {"FAIL": "fails", "INSUFFICIENT_EVIDENCE": "cannot be confirmed (insufficient evidence)"}.get(
        check.verdict, check.verdict.lower())
    judged = sum(check.counts.values())
    same = check.counts.get(check.verdict, 0)
    if judged:
        return f"“{check.description}” {verdict}: {same} of {judged} comparisons."
    return f"“{check.description}” {verdict}."


def _owner_index(data: dict[str, Any], pattern: str) -> dict[str, Any]:
    """Concrete path -> object, for every prefix of ``pattern`` that ends on a list item."""
    segments = parse_path(pattern)
    index: dict[str, Any] = {}
    for k in range(len(segments) - 1, 0, -1):
        if not segments[k - 1].expands:
            continue
        for match in resolve(data, segments[:k]):
            index.setdefault(match.path, match.value)
    return index


def _owner(index: dict[str, Any], path: str) -> Any:
    best = None
    for prefix in index:
        if (path == prefix or path.startswith(prefix + ".")) and (best is None or len(prefix) > len(best)):
            best = prefix
    return index[best] if best is not None else None


def _task(data: dict[str, Any], name: str | None) -> dict[str, Any] | None:
    evaluation = data.get("evaluation") or {}
    return next((t for t in evaluation.get("tasks", []) if t["task"] == name), None)


def _group_metric(task: dict[str, Any] | None, group: str | None, metric: str) -> float | None:
    if task is None or group is None:
        return None
    for g in task["groups"]:
        if g["name"] == group and metric in g["metrics"]:
            return g["metrics"][metric]["value"]
    return None


def applied_limit(check: CheckResult, target: TargetResult) -> float:
    """The limit this target was judged against: its own when the check's limit is on the
    chance-corrected scale (it then differs per task), else the check's."""
    return target.limit if target.limit is not None else check.limit


def _scale_words(check: CheckResult) -> str:
    if check.limit_scale != "chance_corrected":
        return ""
    return (f" (the policy's {_number(check.limit)} on the chance-corrected scale, which accounts for "
            "the number of options each question offered)")


def _limit_words(check: CheckResult, target: TargetResult, *, points: bool) -> str:
    limit = applied_limit(check, target)
    if points:
        amount = f"{_pts(limit)} points{_scale_words(check)}"
        if check.operator == "at_least":
            return f"the policy allows at most {amount} below" if limit <= 0 else f"the policy requires at least {amount} above"
        return f"the policy allows at most {amount} above" if limit >= 0 else f"the policy requires at least {amount} below"
    bound = "at least" if check.operator == "at_least" else "at most"
    return f"the policy requires {bound} {_number(limit)}{_scale_words(check)}"


def _number(x: float) -> str:
    if x == int(x) and abs(x) < 1e6:
        return f"{int(x):,}"
    return f"{x:.3g}"


def _verdict_clause(check: CheckResult, target: TargetResult) -> str:
    if target.verdict == "FAIL":
        if check.fail_when == "significant_harm" and target.p_adjusted is not None:
            p = "p < 0.001" if target.p_adjusted < 0.001 else f"p = {target.p_adjusted:.2g}"
            return (f"The harm is beyond the limit and statistically significant "
                    f"({p} after the gate's Holm correction): this fails.")
        return "Even the favourable end of the interval misses the limit: this fails."
    if target.verdict == "INSUFFICIENT_EVIDENCE":
        if target.n is not None and target.n < check.min_n:
            return (f"Only {target.n:,} items were judged where the policy asks for at least {check.min_n:,}: "
                    "the evidence is insufficient.")
        reason = "The interval reaches beyond the limit"
        if check.fail_when == "significant_harm":
            reason += " but the harm is not statistically significant"
        if target.items_to_certify is not None and target.certifiable is False:
            reason += f"; the group would need about {target.items_to_certify:,} items to be certified"
        return reason + ": the evidence is insufficient."
    return ""


def _interval(target: TargetResult) -> str:
    if target.lower is None or target.upper is None or target.lower == target.upper:
        return ""
    return f" (95% interval {_number(target.lower)} to {_number(target.upper)})"


def _sentence(data: dict[str, Any], check: CheckResult, target: TargetResult, owner: Any) -> Finding:
    task_name = target.labels.get("tasks")
    task = _task(data, task_name)
    asked = f"When asked {task_in_words(task_name)}, " if task_name else ""
    group = target.group
    if group and "=" not in group:  # robustness targets store the bare label; the path label has attr=label
        group = next((part for label in target.labels.values() for part in label.split(":")
                      if part.endswith(f"={group}")), group)
    who = _group_words(group)
    value, lower, upper, n = target.value, target.lower, target.upper, target.n
    clause = _verdict_clause(check, target)
    words: str | None = None
    if isinstance(owner, dict) and {"kind", "metric", "estimate"} <= owner.keys() and value is not None:
        kind, metric = owner["kind"], owner["metric"]
        if kind == "group_vs_rest" and metric == "accuracy" and lower is not None and upper is not None:
            rate = _group_metric(task, owner.get("group"), "accuracy")
            if rate is not None:
                words = (f"{asked}the model is right for {_pct(rate)} of {who} and for {_pct(rate - value)} of "
                         f"everyone else: {_signed_points(value)} (95% interval {_gap_phrase(lower, upper)}; "
                         f"n = {n:,} questions about {who}); {_limit_words(check, target, points=True)} the rest.")
        elif kind == "difference" and metric == "accuracy" and lower is not None and upper is not None:
            best, worst = owner.get("best_group"), owner.get("worst_group")
            if best and worst:
                words = (f"{asked}the model is right for {_pct(_group_metric(task, best, 'accuracy') or math.nan)} of "
                         f"{_group_words(best)} and for {_pct(_group_metric(task, worst, 'accuracy') or math.nan)} of "
                         f"{_group_words(worst)}: a gap of {_pts(value)} points (95% interval {_pts(lower)} to "
                         f"{_pts(upper)} points, n = {n:,}); {_limit_words(check, target, points=True)} the best group.")
        elif kind == "error_ratio" and metric == "accuracy":
            rate = _group_metric(task, owner.get("group"), "accuracy")
            reference = owner.get("reference_group")
            ref_rate = _group_metric(task, reference, "accuracy")
            if rate is not None and ref_rate is not None:
                words = (f"{asked}the model is wrong for {_pct(1 - rate)} of {who} and for {_pct(1 - ref_rate)} of "
                         f"the reference group, {_group_words(reference)}: {_number(value)} times as often"
                         f"{_interval(target)}, n = {n:,}; {_limit_words(check, target, points=False)} times as often.")
    elif isinstance(owner, dict) and {"metrics", "n_items", "confusion"} <= owner.keys() and value is not None:
        who = _group_words(owner.get("name"))
        metric = next((s for s in parse_path(check.path)[-1:] if s.name), None)
        metric_name = metric.name if metric else "value"
        if check.against_baseline and target.baseline_value is not None:
            words = (f"{asked}{metric_name.replace('_', ' ')} for {who} went from {_pct(target.baseline_value)} "
                     f"under the baseline to {_pct(target.baseline_value + value)}: {_signed_points(value)}"
                     f"{' (95% interval ' + _gap_phrase(lower, upper) + ')' if lower is not None and upper is not None else ''}"
                     f", n = {n:,}; {_limit_words(check, target, points=True)} the baseline.")
        elif metric_name == "accuracy":
            words = (f"{asked}the model is right for {_pct(value)} of {who}{_pct_interval(lower, upper)}, "
                     f"n = {n:,}; the policy requires {'at least' if check.operator == 'at_least' else 'at most'} "
                     f"{_pct(applied_limit(check, target))}{_scale_words(check)}.")
        elif metric_name == "invalid_rate":
            words = (f"{asked}{_pct(value)} of the answers for {who} could not be read or were refused"
                     f"{_pct_interval(lower, upper)}, n = {n:,}; the policy allows at most {_pct(applied_limit(check, target))}.")
    elif isinstance(owner, dict) and {"perturbation", "severity", "interaction"} <= owner.keys() and value is not None:
        who = _group_words(f"{owner['attribute']}={owner['group']}")
        if lower is not None and upper is not None:
            drop = owner["drop"]["value"]
            words = (f"Under {owner['perturbation'].replace('_', ' ')} at severity {owner['severity']}, the model "
                     f"loses {_pts(drop)} points of accuracy for {who} and {_pts(drop - value)} for everyone "
                     f"else: {_extra(value)} (95% interval {_extra(lower)} to {_extra(upper)}; n = {n:,} images); "
                     f"the policy allows at most {_pts(applied_limit(check, target))} points more than the rest.")
    if words is None:  # a value the phrasings above do not cover: say what was measured, plainly
        subject = f"for {who} " if target.group else ""
        measured = f"measured {_number(value)}{_interval(target)}" if value is not None else "could not be measured"
        counted = f", n = {n:,}" if n is not None else ""
        words = (f"{asked}{subject}the check “{check.description}” {measured}{counted}; "
                 f"{_limit_words(check, target, points=False)}.")
    words = words[0].upper() + words[1:]
    return Finding(check.id, target.verdict, f"{words} {clause}".strip(), task_name, target.group,
                   value, lower, upper, n)


def _extra(x: float) -> str:
    """An interaction (group's drop minus the rest's) in words."""
    return f"{_pts(x)} points more" if x >= 0 else f"{_pts(x)} points less"


def _pct_interval(lower: float | None, upper: float | None) -> str:
    if lower is None or upper is None or lower == upper:
        return ""
    return f" (95% interval {_pct(lower)} to {_pct(upper)})"


def _severity(check: CheckResult, target: TargetResult) -> float:
    """How far a target's harmful end lies on the wrong side of the limit (larger: worse)."""
    end = {"lower": target.lower, "upper": target.upper}.get(check.side, target.value)
    if end is None or (isinstance(end, float) and math.isnan(end)):
        return -math.inf
    limit = applied_limit(check, target)
    return limit - end if check.operator == "at_least" else end - limit


def blocking_checks(result: AuditResult) -> list[CheckResult]:
    """The checks that stop the release: blocking FAILs, and blocking INSUFFICIENTs that block."""
    gate = result.gate
    if gate is None:
        return []
    return [c for c in gate.checks if c.severity == "blocking" and (
        c.verdict == "FAIL" or (c.verdict == "INSUFFICIENT_EVIDENCE" and c.insufficient_blocks))]


def page_one_findings(result: AuditResult, per_check: int = PER_CHECK) -> list[CheckFindings]:
    """Each blocking check with the sentences of its worst targets that share its verdict."""
    data = result.model_dump(mode="python")
    out = []
    for check in blocking_checks(result):
        chosen = [t for t in check.targets if t.verdict == check.verdict]
        if check.verdict == "INSUFFICIENT_EVIDENCE":
            # Targets too small to certify are named in the gate section, not counted against the check.
            certifiable = [t for t in chosen if t.certifiable is not False]
            chosen = certifiable or chosen
        chosen.sort(key=lambda t: _severity(check, t), reverse=True)
        index = _owner_index(data, check.path) if chosen else {}
        findings = [_sentence(data, check, t, _owner(index, t.path)) for t in chosen[:per_check]]
        out.append(CheckFindings(check, findings, more=max(len(chosen) - per_check, 0)))
    return out


def has_path_syntax(text: str) -> bool:
    """True when a sentence leaks the policy's path language (used by the tests and the template)."""
    return bool(_PATH_SYNTAX.search(text))
