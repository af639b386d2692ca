"""Robustness statistics: paired on the same images, clustered by image, honest intervals.

The unit of analysis is the image. Image ``i`` carries ``m_i`` items (one per task), of which
``C_i`` are answered correctly clean and ``Q_i`` under a perturbation; ``F_i`` answers change.
Every quantity here is a ratio of per-image sums, ``R = sum(x_i) / sum(m_i)`` (accuracy:
``x = Q``; drop: ``x = C - Q``; flip rate: ``x = F``; area under the severity curve: a fixed
linear combination of the ``Q``), so one variance formula serves them all: the cluster-robust
(linearisation) variance of a ratio estimator,

    var(R) = n / (n - 1) * sum((x_i - R m_i)^2) / (sum m_i)^2,

which is valid whatever the correlation between the items of one image and between clean
and perturbed answers of the same image (pairing is within ``x_i``). Intervals and p-values
use Student's t with n - 1 degrees of freedom for one group and Welch-Satterthwaite degrees
of freedom for a group against the rest (disjoint images, so independent). The t reference
is a small-sample allowance over the normal one; the false-alarm rate this gives at the
sizes the audit uses is measured in ``tests/perturb/test_perturb_analysis.py``.

Proportions (accuracy, flip rate) get a Wilson interval on the effective sample size
``R(1 - R) / var(R)`` (the design-effect adjustment), which stays inside [0, 1] and is not
degenerate at 0 or 1. Comparisons carry ``null_value`` 0 and an unadjusted two-sided
p-value: the gate corrects for the number of comparisons itself.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats as sstats

from faceaudit.perturb.registry import Perturbation
from faceaudit.schema.common import Estimate
from faceaudit.schema.robustness import (
    ConditionResult,
    FamilyCurve,
    GroupRobustness,
    RobustnessChange,
    RobustnessComparison,
)
from faceaudit.stats.proportions import wilson_interval
from faceaudit.stats.significance import adjust_pvalues

NAN = float("nan")


@dataclass
class PairedTable:
    """Per-image counts of one audit: clean, and under each (perturbation, severity)."""

    image_ids: list[str]
    items: np.ndarray  # (N,) items per image, m_i
    clean_correct: np.ndarray  # (N,) C_i
    groups: dict[str, np.ndarray]  # attribute -> (N,) label per image
    conditions: list[tuple[Perturbation, int]]
    correct: np.ndarray  # (K, N) Q_i per condition
    flips: np.ndarray  # (K, N) F_i per condition

    def condition_index(self, name: str, severity: int) -> int:
        for k, (p, s) in enumerate(self.conditions):
            if p.name == name and s == severity:
                return k
        raise KeyError(f"{name}:{severity}")


def _ratio_se(x: np.ndarray, m: np.ndarray) -> tuple[float, float, int]:
    """(ratio, cluster-robust standard error, number of images)."""
    n = int(len(x))
    total = float(m.sum())
    if n == 0 or total <= 0:
        return NAN, NAN, n
    r = float(x.sum()) / total
    if n < 2:
        return r, NAN, n
    residual = x - r * m
    var = n / (n - 1) * float((residual * residual).sum()) / (total * total)
    return r, math.sqrt(max(var, 0.0)), n


def proportion(x: np.ndarray, m: np.ndarray, confidence: float, method: str) -> Estimate:
    """A clustered proportion with a Wilson interval on the design-effect sample size."""
    r, se, n = _ratio_se(x, m)
    if math.isnan(r):
        return Estimate(value=NAN, lower=NAN, upper=NAN, n=n, method=method, confidence=confidence)
    total = float(m.sum())
    # With no spread to estimate a design effect from, each image counts once (conservative).
    n_eff = min(total, r * (1 - r) / (se * se)) if se > 0 and 0 < r < 1 else float(n)
    lower, upper = wilson_interval(r * n_eff, n_eff, confidence)
    return Estimate(
        value=r, lower=float(lower), upper=float(upper), n=n, method=method, confidence=confidence
    )


def _t_estimate(value: float, se: float, df: float, n: int, confidence: float, method: str) -> Estimate:
    if math.isnan(value) or math.isnan(se) or df <= 0:
        return Estimate(value=value, lower=NAN, upper=NAN, n=n, method=method, confidence=confidence,
                        null_value=0.0, p_value=NAN)
    if se == 0:
        # Every image moved by the same amount (usually: none moved at all).
        return Estimate(value=value, lower=value, upper=value, n=n, method=method, confidence=confidence,
                        null_value=0.0, p_value=1.0 if value == 0 else 0.0)
    q = float(sstats.t.ppf(0.5 + confidence / 2, df))
    p = float(2 * sstats.t.sf(abs(value) / se, df))
    return Estimate(value=value, lower=value - q * se, upper=value + q * se, n=n, method=method,
                    confidence=confidence, null_value=0.0, p_value=p)


def paired_difference(x: np.ndarray, m: np.ndarray, confidence: float, method: str) -> Estimate:
    """``sum(x) / sum(m)`` for per-image paired differences ``x`` (e.g. clean minus perturbed)."""
    r, se, n = _ratio_se(x, m)
    return _t_estimate(r, se, n - 1, n, confidence, method)


def difference_vs_rest(
    x: np.ndarray, m: np.ndarray, in_group: np.ndarray, confidence: float, method: str
) -> Estimate:
    """Group ratio minus rest ratio (disjoint images), Welch-Satterthwaite t interval and test."""
    r1, se1, n1 = _ratio_se(x[in_group], m[in_group])
    r2, se2, n2 = _ratio_se(x[~in_group], m[~in_group])
    n = min(n1, n2)
    if n < 2 or math.isnan(se1) or math.isnan(se2):
        return Estimate(value=r1 - r2, lower=NAN, upper=NAN, n=n, method=method, confidence=confidence,
                        null_value=0.0, p_value=NAN)
    v1, v2 = se1 * se1, se2 * se2
    se = math.sqrt(v1 + v2)
    if se == 0:
        df = float(n1 + n2 - 2)
    else:
        df = (v1 + v2) ** 2 / (v1 * v1 / (n1 - 1) + v2 * v2 / (n2 - 1))
    return _t_estimate(r1 - r2, se, df, n, confidence, method)


def _auc_numerator(table: PairedTable, members: Sequence[Perturbation], severities: Sequence[int]) -> np.ndarray:
    """Per image: normalised trapezoid area under correct-count vs severity, averaged over ``members``."""
    levels = [0, *severities]
    span = float(levels[-1] - levels[0])
    area = np.zeros(len(table.image_ids))
    for perturbation in members:
        counts = [table.clean_correct] + [
            table.correct[table.condition_index(perturbation.name, s)] for s in severities
        ]
        for j in range(1, len(levels)):
            area += (counts[j - 1] + counts[j]) / 2.0 * (levels[j] - levels[j - 1]) / span
    return area / len(members)


def analyse(
    table: PairedTable,
    *,
    attributes: Sequence[str],
    severities: Sequence[int],
    confidence: float,
    min_group_n: int,
) -> tuple[list[ConditionResult], list[GroupRobustness], list[FamilyCurve], int]:
    """Every condition overall and per group, and every family's severity curve per group."""
    m, clean = table.items.astype(float), table.clean_correct.astype(float)
    everyone = np.ones(len(m), dtype=bool)
    conditions: list[ConditionResult] = []
    groups: list[GroupRobustness] = []
    n_comparisons = 0
    memberships = [
        (attribute, label, table.groups[attribute] == label)
        for attribute in attributes
        for label in sorted(set(table.groups[attribute].tolist()))
    ]
    for k, (perturbation, severity) in enumerate(table.conditions):
        q, f = table.correct[k].astype(float), table.flips[k].astype(float)
        drop = clean - q
        name = f"{perturbation.name}:{severity}"
        conditions.append(
            ConditionResult(
                name=name, perturbation=perturbation.name, family=perturbation.family, severity=severity,
                n_images=int(everyone.sum()), n_items=int(m.sum()),
                accuracy=proportion(q, m, confidence, "wilson-clustered"),
                drop=paired_difference(drop, m, confidence, "paired-t-clustered"),
                flip_rate=proportion(f, m, confidence, "wilson-clustered"),
            )
        )
        for attribute, label, members in memberships:
            n_images = int(members.sum())
            groups.append(
                GroupRobustness(
                    name=f"{name}:{attribute}={label}", perturbation=perturbation.name,
                    family=perturbation.family, severity=severity, attribute=attribute, group=label,
                    n_images=n_images, n_items=int(m[members].sum()),
                    small_group=n_images < min_group_n,
                    clean_accuracy=proportion(clean[members], m[members], confidence, "wilson-clustered"),
                    accuracy=proportion(q[members], m[members], confidence, "wilson-clustered"),
                    drop=paired_difference(drop[members], m[members], confidence, "paired-t-clustered"),
                    flip_rate=proportion(f[members], m[members], confidence, "wilson-clustered"),
                    interaction=difference_vs_rest(drop, m, members, confidence, "welch-t-clustered-paired"),
                    flip_vs_rest=difference_vs_rest(f, m, members, confidence, "welch-t-clustered"),
                )
            )
            n_comparisons += 2

    curves: list[FamilyCurve] = []
    families: dict[str, list[Perturbation]] = {}
    for perturbation, _ in table.conditions:
        members_of = families.setdefault(perturbation.family, [])
        if perturbation not in members_of:
            members_of.append(perturbation)
    for family, members_p in families.items():
        area = _auc_numerator(table, members_p, severities)
        by_severity = [clean] + [
            np.mean([table.correct[table.condition_index(p.name, s)] for p in members_p], axis=0)
            for s in severities
        ]
        for attribute, label, members in memberships:
            n_images = int(members.sum())
            curves.append(
                FamilyCurve(
                    name=f"{family}:{attribute}={label}", family=family, attribute=attribute, group=label,
                    n_images=n_images, small_group=n_images < min_group_n,
                    accuracy_by_severity=[
                        proportion(a[members], m[members], confidence, "wilson-clustered") for a in by_severity
                    ],
                    auc=proportion(area[members], m[members], confidence, "wilson-clustered"),
                    auc_vs_rest=difference_vs_rest(area, m, members, confidence, "welch-t-clustered"),
                )
            )
            n_comparisons += 1
    return conditions, groups, curves, n_comparisons


def relative_corruption_error(candidate: Any, baseline: Any) -> tuple[dict[str, Estimate], list[str]]:
    """Relative mean corruption error of ``candidate`` against ``baseline`` (two robustness sections).

    Hendrycks & Dietterich (2019): for perturbation c, Relative CE_c = sum over severities of
    (error under c - clean error) of the candidate, divided by the same sum of the baseline;
    a family's value is the mean over its perturbations. 1: the candidate loses as much
    accuracy as the baseline does; above 1: more. Computed overall (key ``<family>``) and per
    group (``<family>:<attribute>=<group>``), on the perturbations and severities both sections
    hold. A point estimate only: the baseline's per-image answers are not part of its audit,
    so no paired interval can be formed (lower and upper are NaN). A baseline that loses no
    accuracy under a perturbation leaves that ratio undefined (NaN).
    Returns the estimates and notes on what could not be compared.
    """
    notes: list[str] = []
    severities = sorted(set(candidate.severities) & set(baseline.severities))
    cand_info = {p.name: p for p in candidate.perturbations}
    base_info = {p.name: p for p in baseline.perturbations}
    shared = [name for name in cand_info if name in base_info and cand_info[name].severities == base_info[name].severities]
    differing = sorted(name for name in cand_info if name in base_info and name not in shared)
    if differing:
        notes.append(f"Not compared with the baseline (other severity parameters there): {', '.join(differing)}.")
    if not severities or not shared:
        return {}, notes or ["The baseline's robustness section shares no perturbation and severity with this one."]

    def increases(section: Any, attribute: str | None, group: str | None) -> dict[str, tuple[float, int]]:
        """perturbation -> (error increase summed over the shared severities, images): the
        increase in error is the drop in accuracy, paired on the same images."""
        out: dict[str, tuple[float, int]] = {}
        for name in shared:
            rows = [c for c in section.conditions if c.perturbation == name and c.severity in severities] \
                if attribute is None else \
                [g for g in section.groups if g.perturbation == name and g.severity in severities
                 and g.attribute == attribute and g.group == group]
            if len(rows) == len(severities):
                out[name] = (sum(r.drop.value for r in rows), rows[0].n_images)
        return out

    def family_values(attribute: str | None, group: str | None) -> dict[str, tuple[float, int]]:
        cand, base = increases(candidate, attribute, group), increases(baseline, attribute, group)
        by_family: dict[str, list[float]] = {}
        n_images: dict[str, int] = {}
        for name in shared:
            if name not in cand or name not in base:
                continue
            family = cand_info[name].family
            denominator = base[name][0]
            by_family.setdefault(family, []).append(cand[name][0] / denominator if denominator > 0 else math.nan)
            n_images[family] = cand[name][1]
        return {f: (float(np.mean(v)), n_images[f]) for f, v in by_family.items()}

    method = "relative-mCE (Hendrycks & Dietterich 2019), point estimate without interval"
    result: dict[str, Estimate] = {}
    for family, (value, n) in family_values(None, None).items():
        result[family] = Estimate(value=value, lower=math.nan, upper=math.nan, n=n, method=method)
    pairs = sorted({(g.attribute, g.group) for g in candidate.groups})
    for attribute, group in pairs:
        for family, (value, n) in family_values(attribute, group).items():
            result[f"{family}:{attribute}={group}"] = Estimate(
                value=value, lower=math.nan, upper=math.nan, n=n, method=method)
    if any(math.isnan(e.value) for e in result.values()):
        notes.append("Where the baseline lost no accuracy under a perturbation, the ratio is undefined (NaN).")
    return result, notes


def compare_with_baseline(
    candidate: PairedTable,
    baseline: PairedTable,
    *,
    attributes: Sequence[str],
    baseline_model: str,
    baseline_audit: str,
    confidence: float,
    alpha: float,
    min_group_n: int,
) -> RobustnessComparison:
    """Each group's accuracy drop under each family: the candidate's minus the baseline's, paired.

    Both tables must hold the same images, items and conditions (the two models answered the
    same perturbed images). Per image ``i`` and family ``f``, with ``K_f`` its conditions,
    ``x_i = mean_k((C_i - Q_ki) for the candidate - (C_i - Q_ki) for the baseline)``; the change
    is ``sum(x_i) / sum(m_i)`` with the image-clustered paired t interval of
    :func:`paired_difference`, so the baseline's and candidate's answers on one image are
    compared with each other, never with another image's. Positive: the candidate loses more
    accuracy than the baseline. A change is "worse" or "better" only when its p-value stays
    below ``alpha`` after one Holm correction over every family and group.
    """
    if candidate.image_ids != baseline.image_ids or not np.array_equal(candidate.items, baseline.items):
        raise ValueError("the candidate and the baseline were not perturbed on the same images and items")
    if [(p.name, s) for p, s in candidate.conditions] != [(p.name, s) for p, s in baseline.conditions]:
        raise ValueError("the candidate and the baseline were not perturbed under the same conditions")
    m = candidate.items.astype(float)
    drop_c = candidate.clean_correct[None, :] - candidate.correct
    drop_b = baseline.clean_correct[None, :] - baseline.correct
    families: dict[str, list[int]] = {}
    for k, (perturbation, _) in enumerate(candidate.conditions):
        families.setdefault(perturbation.family, []).append(k)
    everyone = np.ones(len(m), dtype=bool)
    targets: list[tuple[str | None, str | None, np.ndarray]] = [(None, None, everyone)] + [
        (attribute, label, candidate.groups[attribute] == label)
        for attribute in attributes
        for label in sorted(set(candidate.groups[attribute].tolist()))
    ]
    pending: list[dict[str, Any]] = []
    for family, rows in families.items():
        mean_c, mean_b = drop_c[rows].mean(axis=0), drop_b[rows].mean(axis=0)
        for attribute, label, members in targets:
            mk = m[members]
            total = float(mk.sum())
            n_images = int(members.sum())
            pending.append({
                "name": family if attribute is None else f"{family}:{attribute}={label}",
                "family": family, "attribute": attribute, "group": label, "n_images": n_images,
                "n_items": int(total), "small_group": attribute is not None and n_images < min_group_n,
                "drop_baseline": float(mean_b[members].sum() / total) if total else NAN,
                "drop_candidate": float(mean_c[members].sum() / total) if total else NAN,
                "change": paired_difference(mean_c[members] - mean_b[members], mk, confidence,
                                            "paired-t-clustered (candidate drop - baseline drop)"),
            })
    p_values = np.array([row["change"].p_value for row in pending], float)
    adjusted, reject = adjust_pvalues(p_values, "holm", alpha)
    changes = []
    for row, p_adj, rejected in zip(pending, adjusted, reject, strict=True):
        value = row["change"].value
        direction = "worse" if rejected and value > 0 else "better" if rejected and value < 0 else "no clear change"
        changes.append(RobustnessChange(**row, p_adjusted=float(p_adj), direction=direction))
    return RobustnessComparison(
        baseline_model=baseline_model, baseline_audit=baseline_audit, confidence=confidence, alpha=alpha,
        n_tests=int(np.sum(~np.isnan(p_values))), changes=changes,
    )
