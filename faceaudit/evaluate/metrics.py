"""Stratified metrics: every metric per group of every sensitive attribute and their
intersections, with intervals, disparities, p-values corrected for multiplicity, and
small-group flags with the smallest gap each group could have detected.

Point estimates come from per-cell count totals (the same totals the bootstrap
resamples); accuracy per sensitive attribute is disaggregated by fairlearn's
``MetricFrame`` on rows compressed to weighted distinct patterns, which gives the raw
rows' numbers. Intervals come from ``faceaudit.stats`` (Wilson with a design effect for
proportions, a stratified cluster bootstrap for the rest). One multiplicity correction
covers every disparity hypothesis of every task, so ``significant`` keeps the chosen
error rate over everything the result claims.
"""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
from fairlearn.metrics import MetricFrame
from scipy.special import ndtr

from faceaudit.evaluate import metrics_totals as mt
from faceaudit.evaluate.metrics_input import (
    INVALID_LABEL,
    EncodedTask,
    chance_accuracy,
    check_columns,
    encode_task,
)
from faceaudit.evaluate.outcomes import encode_outcomes
from faceaudit.schema.common import Estimate
from faceaudit.schema.evaluation import (
    HIGHER_IS_BETTER,
    CalibrationBins,
    ConfusionMatrix,
    Disparity,
    EvaluationSection,
    GroupMetrics,
    TaskMetrics,
)
from faceaudit.stats.bootstrap import (
    bootstrap_cell_totals,
    compress_clusters,
    null_group_totals,
    percentile_interval,
)
from faceaudit.stats.pairwise import max_gap_interval_normal, max_gap_interval_proportions
from faceaudit.stats.proportions import mover_ratio_interval, newcombe_interval, wilson_interval
from faceaudit.stats.significance import (
    CORRECTION_NAMES,
    adjust_pvalues,
    fisher_doubled_pvalue,
    homogeneity_pvalue,
)

N_BINS = 10
# Reference group of each attribute set for error ratios: the largest group, the best one, or a
# label named per attribute ({"race": "White"}).
Reference = Literal["largest", "best"] | dict[str, str]
PROPORTIONS = ("accuracy", "invalid_rate", "off_by_one")
#: Names a plug-in metric may not take: the built-in ones (always computed).
PLUGIN_METRICS_REFUSED = ("accuracy", "macro_f1", "invalid_rate", "ece", "off_by_one")
#: A plug-in metric: confusion totals (..., K, K + 1) -> values (...), vectorised like metrics_totals.
MetricFn = Callable[[np.ndarray], np.ndarray]
METHOD_NOTES = [
    "Proportions (accuracy, invalid_rate, off_by_one, per-class recall): Wilson score interval; "
    "when an image yields several rows in a task, on effective counts (n / design effect, Kish).",
    "Point estimates come from the count totals that the bootstrap resamples; accuracy per group is "
    "disaggregated by fairlearn's MetricFrame on the table compressed to weighted "
    "(cell, gold, predicted) patterns, which gives the raw rows' numbers.",
    "macro_f1 and ece: percentile interval of a bootstrap that resamples images within each "
    "full intersection of the sensitive attributes (stratified cluster bootstrap).",
    "group_vs_rest (every group, small ones included): proportions use Newcombe's hybrid score "
    "interval and Fisher's exact test (p = twice the smaller one-sided tail, so the gate can take "
    "the one-sided p of the harmful side; the pooled z test is anti-conservative in that tail at "
    "small n), on effective counts when clustered; macro_f1 and ece use a bootstrap percentile interval and a "
    "normal test against the pooled-resampling null (each group redraws its own number of images "
    "from all images pooled), whose mean carries the small-group bias of ECE and macro-F1.",
    "difference (max - min over groups with at least min_group_n items): bounded through the pairs, "
    "never through a resampled extreme (biased upward for small groups). Upper end: the largest "
    "pairwise upper bound of |gap| (Newcombe for proportions; normal with a bootstrap standard "
    "error otherwise), valid without correction because the true largest gap is one pair's gap. "
    "Lower end: the largest pairwise lower bound at confidence 1 - alpha / pairs (Bonferroni), so "
    "a true gap of 0 is covered at least at the nominal rate. Its p-value tests that all groups are "
    "equal: Pearson chi-square of homogeneity on effective counts (proportions), or Bonferroni over "
    "the group_vs_rest tests (macro_f1, ece).",
    "error_ratio (accuracy only): each group's error rate over the reference group's, as Aequitas "
    "judges disparity ratios against a reference (fair within 0.8 to 1.25); MOVER-R interval with "
    "Wilson limits (Donner & Zou 2012) and Fisher's exact test of equal error rates (doubled tail).",
    "Multiplicity: one correction covers every significance claim of this section: every task x "
    "metric x attribute set (each sensitive attribute and each intersection) x test. Untestable "
    "comparisons (NaN p-value) are not counted. The family size is n_comparisons. The gate makes "
    "its own FAIL decisions with its own family-wise correction over the targets it judges.",
    "ece: top-label expected calibration error over 10 equal-width bins of the largest option "
    "probability; within a resample, confidences are held at their pattern mean.",
]


@dataclass(frozen=True)
class _GroupSet:
    attributes: tuple[str, ...]
    labels: list[tuple[str, ...]]
    membership: np.ndarray  # (n_groups, n_cells) float 0/1


def _attribute_sets(
    attributes: list[str], intersections: bool | list[tuple[str, ...]]
) -> list[tuple[str, ...]]:
    sets = [(a,) for a in attributes]
    if intersections is True:
        for size in range(2, len(attributes) + 1):
            sets.extend(itertools.combinations(attributes, size))
    elif intersections:
        for combo in intersections:
            unknown = [a for a in combo if a not in attributes]
            if unknown or len(combo) < 2:
                raise ValueError(
                    f"intersection {combo!r} must name >= 2 of the sensitive attributes {attributes}"
                )
            sets.append(tuple(combo))
    return list(dict.fromkeys(sets))


def _group_name(attributes: tuple[str, ...], labels: tuple[str, ...]) -> str:
    return " & ".join(f"{a}={v}" for a, v in zip(attributes, labels, strict=True))


def _calibration_layout(totals: np.ndarray) -> np.ndarray:
    """(…, 4*N_BINS) code counts and value sums (code = bin*2 + hit) -> (…, 3*N_BINS)."""
    counts, values = totals[..., : 2 * N_BINS], totals[..., 2 * N_BINS :]
    rows = counts[..., 0::2] + counts[..., 1::2]
    hits = counts[..., 1::2]
    confidence = values[..., 0::2] + values[..., 1::2]
    return np.concatenate([rows, hits, confidence], axis=-1)


def _calibration_bins(calibration: np.ndarray) -> CalibrationBins | None:
    """One group's row of the calibration layout as a reliability diagram's bins; None without
    option probabilities (every bin empty)."""
    rows, hits, confidence = (calibration[k * N_BINS : (k + 1) * N_BINS] for k in range(3))
    if rows.sum() == 0:
        return None
    with np.errstate(invalid="ignore", divide="ignore"):
        accuracy, mean_confidence = hits / rows, confidence / rows
    return CalibrationBins(
        edges=[b / N_BINS for b in range(N_BINS + 1)], counts=np.rint(rows).astype(int).tolist(),
        mean_confidence=mean_confidence.tolist(), accuracy=accuracy.tolist(),
    )


def _metric_values(confusion: np.ndarray, calibration: np.ndarray, ordinal: bool,
                   extra: dict[str, MetricFn] | None = None) -> dict[str, np.ndarray]:
    values = {
        "accuracy": mt.accuracy(confusion),
        "macro_f1": mt.macro_f1(confusion),
        "invalid_rate": mt.invalid_rate(confusion),
        "ece": mt.expected_calibration_error(calibration),
    }
    if ordinal:
        values["off_by_one"] = mt.off_by_one(confusion)
    for name, fn in (extra or {}).items():
        value = np.asarray(fn(confusion), float)
        if value.shape != confusion.shape[:-2]:
            raise ValueError(f"plug-in metric {name!r} returned shape {value.shape} for confusion totals of "
                             f"shape {confusion.shape}; expected {confusion.shape[:-2]} (one value per total)")
        values[name] = value
    return values


def plugin_metrics(names: Sequence[str]) -> dict[str, MetricFn]:
    """The plug-in metric functions ``names`` (entry point group faceaudit.metrics), in order."""
    from faceaudit.plugins import METRICS_GROUP, plugin

    out = {}
    for name in names:
        fn = plugin(METRICS_GROUP, name)
        if fn is None:
            raise ValueError(f"evaluate.metrics: no installed plug-in declares the metric {name!r}")
        out[name] = fn
    return out


def _metricframe_accuracy(
    confusion: np.ndarray, cell_frame: pd.DataFrame, attribute_sets: list[tuple[str, ...]]
) -> tuple[float, dict[tuple[str, ...], dict[tuple[str, ...], float]]]:
    """Overall accuracy and accuracy per group of each attribute set, from fairlearn.

    ``MetricFrame`` runs on the compressed table: the distinct (cell, gold, predicted)
    patterns weighted by their count (a few thousand rows however many predictions),
    which gives exactly the numbers the raw rows give at a cost of milliseconds.
    """
    cell, gold, pred = np.nonzero(confusion)
    weight = confusion[cell, gold, pred]
    overall = float("nan")
    by_set: dict[tuple[str, ...], dict[tuple[str, ...], float]] = {}
    for attrs in attribute_sets:
        features = pd.DataFrame({a: cell_frame[a].to_numpy()[cell] for a in attrs})
        frame = MetricFrame(
            metrics=_weighted_accuracy, y_true=gold, y_pred=pred, sensitive_features=features,
            sample_params={"sample_weight": weight},
        )
        overall = float(frame.overall)
        by_set[attrs] = {
            tuple(map(str, key)) if isinstance(key, tuple) else (str(key),): float(value)
            for key, value in frame.by_group.items()
        }
    return overall, by_set


def _sum_groups(membership: np.ndarray, x: np.ndarray, axis: int) -> np.ndarray:
    """Sum cells into groups along ``axis``; the groups of a membership matrix partition the cells."""
    group_of_cell = membership.argmax(axis=0)
    order = np.argsort(group_of_cell, kind="stable")
    starts = np.concatenate([[0], np.cumsum(np.bincount(group_of_cell, minlength=membership.shape[0]))[:-1]])
    return np.add.reduceat(np.take(x, order, axis=axis), starts, axis=axis)


def _weighted_accuracy(y_true: np.ndarray, y_pred: np.ndarray, sample_weight: np.ndarray) -> float:
    return float(np.average(np.asarray(y_true) == np.asarray(y_pred), weights=sample_weight))


def _design_effect(y: np.ndarray, cell: np.ndarray, image: np.ndarray, n_cells: int,
                   membership: np.ndarray) -> np.ndarray:
    """Kish design effect of a clustered proportion per group (>= 1; 1 when undefined)."""
    key = cell * (int(image.max()) + 1) + image
    _, cluster, m = np.unique(key, return_inverse=True, return_counts=True)
    c = np.bincount(cluster, weights=y.astype(float))
    cluster_cell = np.zeros(m.size, np.int64)
    cluster_cell[cluster] = cell
    moments = np.column_stack([np.bincount(cluster_cell, weights=w, minlength=n_cells)
                               for w in (c, m, c * c, c * m, m * m.astype(float), np.ones(m.size))])
    sc, sm, scc, scm, smm, nk = (membership @ moments).T
    with np.errstate(invalid="ignore", divide="ignore"):
        p = sc / sm
        residual = scc - 2 * p * scm + p * p * smm
        var = nk / (nk - 1) * residual / (sm * sm)
        deff = var / (p * (1 - p) / sm)
    return np.where(np.isfinite(deff), np.maximum(deff, 1.0), 1.0)


def _estimate(value: float, lower: float, upper: float, n: int, method: str, confidence: float,
              **test: float | None) -> Estimate:
    return Estimate(value=float(value), lower=float(lower), upper=float(upper), n=int(n),
                    method=method, confidence=confidence, **test)


@dataclass
class _TaskResult:
    """A task's metrics before the multiplicity correction, which spans all tasks."""

    metrics: TaskMetrics
    family: list[tuple[int, ...]]  # indices into metrics.disparities sharing one hypothesis


def _cells(frame: pd.DataFrame, attributes: list[str]) -> tuple[np.ndarray, pd.DataFrame]:
    """Integer cell (full intersection) per row, and each cell's labels as strings."""
    combined = np.zeros(len(frame), np.int64)
    for attribute in attributes:
        codes, uniques = pd.factorize(frame[attribute])
        combined = combined * (len(uniques) + 1) + codes
    # Cells are few: count distinct codes without sorting a million rows when possible.
    if combined.size and combined.max() < 4 * combined.size + 1024:
        present = np.bincount(combined)
        used = np.flatnonzero(present)
        lookup = np.full(present.size, -1, np.int64)
        lookup[used] = np.arange(used.size)
        cell = lookup[combined]
        first = np.full(used.size, combined.size, np.int64)
        np.minimum.at(first, cell, np.arange(combined.size))
    else:
        _, first, cell = np.unique(combined, return_index=True, return_inverse=True)
    cell_frame = frame[attributes].iloc[first].astype(str).reset_index(drop=True)
    return cell.reshape(-1).astype(np.int64), cell_frame


def _null_metrics(null_conf: np.ndarray, null_cal: np.ndarray, name: str) -> np.ndarray:
    return mt.macro_f1(null_conf) if name == "macro_f1" else mt.expected_calibration_error(null_cal)


def _task_metrics(
    enc: EncodedTask,
    attributes: list[str],
    attribute_sets: list[tuple[str, ...]],
    *,
    n_boot: int,
    confidence: float,
    min_group_n: int,
    correction: str,
    reference: Reference,
    rng: np.random.Generator,
    extra: dict[str, MetricFn] | None = None,
) -> _TaskResult:
    k = len(enc.labels)
    cell, cell_frame = _cells(enc.frame, attributes)
    n_cells = len(cell_frame)

    group_sets: list[_GroupSet] = []
    for attrs in attribute_sets:
        idx, uniq = pd.MultiIndex.from_frame(cell_frame[list(attrs)]).factorize()
        keys = [tuple(map(str, u)) if isinstance(u, tuple) else (str(u),) for u in uniq]
        order = sorted(range(len(keys)), key=keys.__getitem__)
        membership = np.zeros((len(uniq), n_cells))
        membership[idx, np.arange(n_cells)] = 1.0
        group_sets.append(_GroupSet(attrs, [keys[i] for i in order], membership[order]))

    # Observed and resampled totals per cell: every number below is a function of these.
    conf_patterns = compress_clusters(enc.gold * (k + 1) + enc.pred, cell, enc.image, k * (k + 1), n_cells=n_cells)
    clustered = conf_patterns.max_rows_per_cluster > 1
    has_prob = ~np.isnan(enc.confidence)
    conf_bin = np.minimum((enc.confidence[has_prob] * N_BINS).astype(np.int64), N_BINS - 1)
    cal_patterns = compress_clusters(
        conf_bin * 2 + enc.hit[has_prob], cell[has_prob], enc.image[has_prob], 2 * N_BINS,
        values=enc.confidence[has_prob], n_cells=n_cells,
    )
    confusion_obs = conf_patterns.totals().reshape(n_cells, k, k + 1)
    boot_conf = bootstrap_cell_totals(conf_patterns, n_boot, rng).reshape(n_boot, n_cells, k, k + 1)
    boot_cal = _calibration_layout(bootstrap_cell_totals(cal_patterns, n_boot, rng))
    cal_obs = _calibration_layout(cal_patterns.totals())
    boot_conf_all = boot_conf.sum(axis=1)
    boot_cal_all = boot_cal.sum(axis=1)
    images_per_cell = conf_patterns.clusters_per_cell  # clusters are (cell, image) pairs

    tested = ["accuracy", "macro_f1", "invalid_rate", "ece", *(["off_by_one"] if enc.ordinal else [])]
    # Plug-in metrics get estimates and intervals, not disparity tests (no null distribution is known).
    metric_names = [*tested, *(extra or {})]
    indicators = {
        "accuracy": enc.pred == enc.gold,
        "invalid_rate": enc.pred == k,
        "off_by_one": (enc.pred < k) & (np.abs(enc.pred - enc.gold) <= 1),
    }

    def evaluate(membership: np.ndarray, accuracy: np.ndarray | None) -> dict:
        """Point estimates (from count totals) and intervals for groups given by membership."""
        conf_g = _sum_groups(membership, confusion_obs, 0)
        cal_g = _sum_groups(membership, cal_obs, 0)
        points = _metric_values(conf_g, cal_g, enc.ordinal, extra)
        if accuracy is not None:
            points["accuracy"] = accuracy
        n_items = conf_g.sum(axis=(1, 2))
        n_img = membership @ images_per_cell
        boot_c = _sum_groups(membership, boot_conf, 1)
        boot_k = _sum_groups(membership, boot_cal, 1)
        boot_values = _metric_values(boot_c, boot_k, enc.ordinal, extra)
        out: dict = {"n_items": n_items, "n_images": n_img, "confusion": conf_g, "calibration": cal_g, "points": points,
                     "boot": boot_values, "estimates": {}, "successes": {}, "deff": {}}
        if membership.shape[0] >= 2:
            # The rest of each group (all items minus the group), for group-vs-rest comparisons.
            out["boot_rest"] = _metric_values(boot_conf_all[:, None] - boot_c, boot_cal_all[:, None] - boot_k,
                                              enc.ordinal)
            total_conf, total_cal = confusion_obs.sum(axis=0), cal_obs.sum(axis=0)
            out["rest_point"] = _metric_values(total_conf - conf_g, total_cal - cal_g, enc.ordinal)
        for name in metric_names:
            value = points[name]
            n_units = n_img if clustered else n_items
            if name in PROPORTIONS:
                succ = value * n_items
                deff = (_design_effect(indicators[name], cell, enc.image, n_cells, membership)
                        if clustered else np.ones(len(n_items)))
                lo, hi = wilson_interval(succ / deff, n_items / deff, confidence)
                method = "wilson-design-effect" if clustered else "wilson"
                out["successes"][name], out["deff"][name] = succ, deff
            else:
                lo, hi = percentile_interval(boot_values[name], confidence)
                method = "bootstrap-percentile-cluster"
                if name == "ece":
                    n_units = cal_g[:, :N_BINS].sum(axis=1)
            out["estimates"][name] = [
                _estimate(v, a, b, n, method, confidence)
                for v, a, b, n in zip(value, lo, hi, n_units, strict=True)
            ]
        return out

    # fairlearn's MetricFrame disaggregates accuracy per attribute (on the compressed pattern
    # table); intersections and the other metrics come from the count totals the bootstrap
    # resamples (a MetricFrame over 98 intersections alone would cost more than all the rest).
    mf_overall, mf_by_set = _metricframe_accuracy(confusion_obs, cell_frame, [(a,) for a in attributes])
    overall = evaluate(np.ones((1, n_cells)), np.array([mf_overall]))
    groups: list[GroupMetrics] = []
    disparities: list[Disparity] = []
    family: list[tuple[int, ...]] = []
    for gs in group_sets:
        by_group = mf_by_set.get(gs.attributes)
        res = evaluate(gs.membership, None if by_group is None else np.array([by_group[lab] for lab in gs.labels]))
        n_items = res["n_items"]
        names = [_group_name(gs.attributes, lab) for lab in gs.labels]
        recall = mt.recall(res["confusion"])
        recall_n = res["confusion"].sum(axis=2)
        r_lo, r_hi = wilson_interval(recall_n * np.nan_to_num(recall), recall_n, confidence)
        for g, lab in enumerate(gs.labels):
            groups.append(GroupMetrics(
                attributes=list(gs.attributes), labels=list(lab), name=names[g],
                n_items=int(n_items[g]), n_images=int(res["n_images"][g]),
                metrics={n: res["estimates"][n][g] for n in metric_names},
                recall={enc.labels[j]: _estimate(recall[g, j], r_lo[g, j], r_hi[g, j], recall_n[g, j],
                                                 "wilson", confidence) for j in range(k)},
                confusion=ConfusionMatrix(labels=enc.labels, predicted_labels=[*enc.labels, INVALID_LABEL],
                                          counts=res["confusion"][g].astype(int).tolist()),
                small_group=bool(n_items[g] < min_group_n),
                calibration=_calibration_bins(res["calibration"][g]),
            ))
        eligible = np.flatnonzero(n_items >= min_group_n)
        null: dict[str, np.ndarray] = {}
        if len(gs.labels) >= 2:
            # Draws under "group carries no information", for the tests of macro-F1 and ECE.
            null_conf = null_group_totals(conf_patterns, gs.membership @ conf_patterns.clusters_per_cell,
                                          n_boot, rng).reshape(n_boot, -1, k, k + 1)
            null_cal = _calibration_layout(null_group_totals(
                cal_patterns, gs.membership @ cal_patterns.clusters_per_cell, n_boot, rng,
                n_discrete=2 * N_BINS))
            for name in ("macro_f1", "ece"):
                group_null = _null_metrics(null_conf, null_cal, name)
                rest_null = (_null_metrics(null_conf.sum(axis=1, keepdims=True) - null_conf,
                                           null_cal.sum(axis=1, keepdims=True) - null_cal, name)
                             if gs.membership.shape[0] >= 2 else None)
                null[name], null[name + ":rest"] = group_null, rest_null
        for name in tested:
            disparities_for, fam = _disparities(
                name, gs, names, eligible, res["points"][name], res, overall, confidence, clustered, null,
                start=len(disparities), correction=correction, reference=reference, min_group_n=min_group_n,
            )
            disparities.extend(disparities_for)
            family.extend(fam)

    raw = np.array([disparities[f[0]].p_value for f in family], float)
    correct = (enc.pred == enc.gold)
    outcome_frame = pd.DataFrame({"item_id": enc.frame["item_id"].to_numpy(), "correct": correct})
    for attribute in attributes:
        outcome_frame[attribute] = enc.frame[attribute].to_numpy()
    task = TaskMetrics(
        task=enc.task, n_items=len(enc.gold), n_images=enc.n_images, labels=enc.labels, ordinal=enc.ordinal,
        chance_accuracy=chance_accuracy(enc.frame),
        clustered=clustered, overall={n: overall["estimates"][n][0] for n in metric_names},
        calibration=_calibration_bins(overall["calibration"][0]),
        groups=groups, disparities=disparities, n_comparisons=int(np.sum(~np.isnan(raw))),
        outcomes=encode_outcomes(outcome_frame, attributes),
    )
    return _TaskResult(task, family)


def _reference_index(
    attributes: tuple[str, ...], names_labels: list[tuple[str, ...]], n: np.ndarray, values: np.ndarray,
    reference: Reference, min_group_n: int,
) -> int | None:
    """The reference group of an attribute set: the largest (default), the best among groups of
    at least ``min_group_n`` items, or the group named per attribute (Aequitas' choices)."""
    if isinstance(reference, dict):
        wanted = tuple(reference.get(a) for a in attributes)
        if any(w is None for w in wanted):
            reference = "largest"  # no name for this attribute set: fall back, said in method notes
        else:
            for g, labels in enumerate(names_labels):
                if tuple(labels) == wanted:
                    return g
            return None
    if reference == "best":
        ok = np.flatnonzero((n >= min_group_n) & ~np.isnan(values))
        return int(ok[np.argmax(values[ok])]) if ok.size else None
    return int(np.argmax(n))  # first of the largest: groups are in label order


def _disparities(
    name: str, gs: _GroupSet, names: list[str], eligible: np.ndarray, values: np.ndarray, res: dict,
    overall: dict, confidence: float, clustered: bool, null: dict[str, np.ndarray], *, start: int,
    correction: str, reference: Reference, min_group_n: int,
) -> tuple[list[Disparity], list[tuple[int, ...]]]:
    """Disparity rows of one metric over one attribute set, and their hypotheses (indices of
    rows that test the same hypothesis share one family entry)."""
    higher = HIGHER_IS_BETTER[name]
    n_units = res["n_images" if clustered else "n_items"]
    attrs = list(gs.attributes)
    common = {"metric": name, "attributes": attrs, "order": len(attrs), "intersection": len(attrs) > 1,
              "correction": correction,
              "p_adjusted": float("nan"), "significant": False}
    out: list[Disparity] = []
    family: list[tuple[int, ...]] = []
    k = len(names)

    # Each group against the rest of the items: every group, small ones included (the gate
    # judges a small group on its favourable end instead of dropping it).
    diff, lo, hi, p, test_g, method = _group_vs_rest(name, values, res, overall, confidence, clustered, null)
    vs_rest: list[int] = []
    for g in range(k):
        vs_rest.append(start + len(out))
        out.append(Disparity(
            kind="group_vs_rest", group=names[g],
            worst_group=names[g] if not np.isnan(diff[g]) and (diff[g] < 0) == higher else None,
            estimate=_estimate(diff[g], lo[g], hi[g], int(res["n_items"][g]), method, confidence,
                               null_value=0.0, p_value=float(p[g])),
            test=test_g, p_value=float(p[g]), small_group=bool(res["n_items"][g] < min_group_n), **common))

    # Largest gap between groups large enough to compare (max - min), bounded through the pairs.
    defined = eligible[~np.isnan(values[eligible])]
    diff_index = None
    if defined.size >= 2:
        v = values[defined]
        worst = defined[np.argmin(v) if higher else np.argmax(v)]
        best = defined[np.argmax(v) if higher else np.argmin(v)]
        if name in PROPORTIONS:
            deff = res["deff"][name][defined]
            x, m = res["successes"][name][defined] / deff, res["n_items"][defined] / deff
            spread, lo, hi = max_gap_interval_proportions(x, m, confidence)
            p_all, test, method = homogeneity_pvalue(x, m), "chi-square-homogeneity", "newcombe-pairwise-max"
        else:
            spread, lo, hi = max_gap_interval_normal(v, res["boot"][name][:, defined], confidence)
            ps = p[defined]
            p_all = float(min(1.0, np.nanmin(ps) * ps.size)) if np.isfinite(ps).any() else float("nan")
            test, method = "bonferroni-group-vs-rest-z", "bootstrap-se-pairwise-max"
        if k == 2:
            # With two groups "all groups equal" is the group-vs-rest hypothesis: one test, one p.
            p_all, test = float(p[0]), out[0].test
        diff_index = start + len(out)
        out.append(Disparity(
            kind="difference", worst_group=names[worst], best_group=names[best],
            estimate=_estimate(spread, lo, hi, int(n_units[defined].min()), method, confidence,
                               null_value=0.0, p_value=p_all),
            test=test, p_value=float(p_all), **common))

    # With two groups, "group vs rest" twice and "all groups equal" are one hypothesis.
    if k == 2:
        family.append(tuple(vs_rest) + ((diff_index,) if diff_index is not None else ()))
    else:
        family.extend((i,) for i in vs_rest)
        if diff_index is not None:
            family.append((diff_index,))

    # Error rate of each group over the reference group's (Aequitas' disparity ratio, accuracy only).
    if name == "accuracy" and k >= 2:
        labels = [tuple(lab) for lab in gs.labels]
        ref = _reference_index(gs.attributes, labels, res["n_items"], values, reference, min_group_n)
        if ref is not None:
            deff = res["deff"][name]
            errors = (res["n_items"] - res["successes"][name]) / deff
            n_eff = res["n_items"] / deff
            lo, hi = mover_ratio_interval(errors, n_eff, errors[ref], n_eff[ref], confidence)
            with np.errstate(invalid="ignore", divide="ignore"):
                ratio = (errors / n_eff) / (errors[ref] / n_eff[ref])
            p = np.atleast_1d(fisher_doubled_pvalue(errors, n_eff, errors[ref], n_eff[ref]))
            for g in range(k):
                if g == ref:
                    continue
                family.append((start + len(out),))
                out.append(Disparity(
                    kind="error_ratio", group=names[g], reference_group=names[ref],
                    worst_group=names[g] if ratio[g] > 1 else None,
                    estimate=_estimate(ratio[g], lo[g], hi[g], int(min(res["n_items"][g], res["n_items"][ref])),
                                       "mover-wilson-ratio", confidence, null_value=1.0, p_value=float(p[g])),
                    test="fisher-exact-doubled", p_value=float(p[g]),
                    small_group=bool(res["n_items"][g] < min_group_n), **common))
    return out, family


def _group_vs_rest(
    name: str, values: np.ndarray, res: dict, overall: dict, confidence: float, clustered: bool,
    null: dict[str, np.ndarray],
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, str, str]:
    """(group - rest, lower, upper, two-sided p) for every group, the test and the interval method."""
    k = len(values)
    nan = np.full(k, np.nan)
    if name in PROPORTIONS:
        succ_all = overall["estimates"][name][0].value * overall["n_items"][0]
        n_g, s_g = res["n_items"], res["successes"][name]
        n_r, s_r = overall["n_items"][0] - n_g, succ_all - s_g
        d_g = res["deff"][name]
        with np.errstate(invalid="ignore", divide="ignore"):
            lo, hi = newcombe_interval(s_g / d_g, n_g / d_g, s_r / d_g, n_r / d_g, confidence)
            diff = np.where(n_r > 0, s_g / n_g - s_r / np.where(n_r > 0, n_r, 1), np.nan)
        p = fisher_doubled_pvalue(s_g / d_g, n_g / d_g, s_r / d_g, n_r / d_g)
        method = "newcombe-design-effect" if clustered else "newcombe"
        return diff, lo, hi, np.atleast_1d(p), "fisher-exact-doubled", method
    if name + ":rest" not in null:
        return nan, nan, nan, nan, "none", "bootstrap-percentile-cluster"
    diff = values - res["rest_point"][name]
    lo, hi = percentile_interval(res["boot"][name] - res["boot_rest"][name], confidence)
    # Asymptotic test against the pooled-resampling null: its mean carries the small-group bias
    # of ECE and macro-F1, its spread the sampling error; a normal tail can be as small as the
    # family needs, where a resampling p-value stops at 1 / (1 + n_boot).
    with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        null_diff = null[name] - null[name + ":rest"]
        centre, spread = np.nanmean(null_diff, axis=0), np.nanstd(null_diff, axis=0, ddof=1)
        p = np.where(np.isfinite(diff) & (spread > 0), 2 * ndtr(-np.abs(diff - centre) / spread), np.nan)
    return diff, lo, hi, p, "pooled-resampling-normal", "bootstrap-percentile-cluster"


def _correct_all(results: list[_TaskResult], correction: str, alpha: float) -> list[TaskMetrics]:
    """One multiplicity correction over every hypothesis of every task (the whole section)."""
    refs = [(t, f) for t, res in enumerate(results) for f in res.family]
    raw = np.array([results[t].metrics.disparities[f[0]].p_value for t, f in refs], float)
    if not refs:
        return [r.metrics for r in results]
    adjusted, reject = adjust_pvalues(raw, correction, alpha=alpha)
    updated = [list(r.metrics.disparities) for r in results]
    for (t, f), p_adj, rej in zip(refs, adjusted, reject, strict=True):
        for i in f:
            updated[t][i] = updated[t][i].model_copy(update={"p_adjusted": float(p_adj), "significant": bool(rej)})
    return [r.metrics.model_copy(update={"disparities": d}) for r, d in zip(results, updated, strict=True)]


def stratified_metrics(
    predictions: pd.DataFrame,
    sensitive_attributes: list[str],
    *,
    intersections: bool | list[tuple[str, ...]] = True,
    ordinal: dict[str, list[str]] | None = None,
    n_boot: int = 1000,
    confidence: float = 0.95,
    min_group_n: int = 30,
    correction: Literal["holm", "fdr_bh"] = "holm",
    reference: Reference = "largest",
    seed: int = 0,
    progress: bool = False,
    extra_metrics: Sequence[str] = (),
) -> list[TaskMetrics]:
    """Metrics per task, per group of each sensitive attribute and of their intersections.

    ``intersections``: True = every combination of two or more attributes; a list names
    the combinations; False = marginal groups only. ``ordinal`` maps a task to its ordered
    labels (e.g. age bins) and adds ``off_by_one``. Multiplicity is corrected once over
    every disparity hypothesis of every task returned (every metric x attribute set x
    test), so ``significant`` keeps the chosen error rate for the whole result. Same
    inputs and seed give the same numbers. ``extra_metrics`` names plug-in metrics
    (:func:`plugin_metrics`), estimated per group with a cluster-bootstrap interval.
    """
    from tqdm import tqdm

    check_columns(predictions, sensitive_attributes)
    if correction not in CORRECTION_NAMES:
        raise ValueError(f"correction must be one of {sorted(CORRECTION_NAMES)}, got {correction!r}")
    if n_boot < 1:
        raise ValueError(f"n_boot must be at least 1, got {n_boot}")
    ordinal = ordinal or {}
    extra = plugin_metrics(extra_metrics)
    attribute_sets = _attribute_sets(list(sensitive_attributes), intersections)
    rng = np.random.default_rng(seed)
    task_codes, uniques = pd.factorize(predictions["task"])
    if (task_codes < 0).any():
        item = predictions["item_id"].iloc[int(np.argmax(task_codes < 0))]
        raise ValueError(f"predictions: {int((task_codes < 0).sum())} row(s) have no 'task' "
                         f"(first: item_id {item!r}); every row needs its task name")
    tasks = [str(t) for t in uniques]
    results = []
    for t, task in enumerate(tqdm(tasks, desc="stratified metrics", disable=not progress)):
        # One task: use the table as it is (copying a million rows costs more than the maths).
        frame = predictions if len(tasks) == 1 else predictions.iloc[np.flatnonzero(task_codes == t)]
        enc = encode_task(frame.reset_index(drop=True) if len(tasks) > 1 else frame, task, ordinal.get(task))
        results.append(_task_metrics(
            enc, list(sensitive_attributes), attribute_sets, n_boot=n_boot, confidence=confidence,
            min_group_n=min_group_n, correction=correction, reference=reference, rng=rng, extra=extra,
        ))
    return _correct_all(results, correction, 1 - confidence)


def build_evaluation_section(
    predictions: pd.DataFrame,
    *,
    model: str,
    mode: str,
    sensitive_attributes: list[str],
    ordinal: dict[str, list[str]] | None = None,
    intersections: bool | list[tuple[str, ...]] = True,
    n_boot: int = 1000,
    confidence: float = 0.95,
    min_group_n: int = 30,
    correction: Literal["holm", "fdr_bh"] = "holm",
    reference: Reference = "largest",
    seed: int = 0,
    predictions_sha256: str | None = None,
    benchmark: dict[str, Estimate] | None = None,
    progress: bool = False,
    extra_metrics: Sequence[str] = (),
) -> EvaluationSection:
    """The ``evaluation`` section of ``audit.json`` for one model's predictions table."""
    tasks = stratified_metrics(
        predictions, sensitive_attributes, intersections=intersections, ordinal=ordinal,
        n_boot=n_boot, confidence=confidence, min_group_n=min_group_n, correction=correction,
        reference=reference, seed=seed, progress=progress, extra_metrics=extra_metrics,
    )
    n_comparisons = sum(t.n_comparisons for t in tasks)
    return EvaluationSection(
        n_comparisons=n_comparisons,
        correction_scope=(
            f"{CORRECTION_NAMES[correction]} over all {n_comparisons} disparity hypotheses of this "
            "section: every task x metric x attribute set (marginal and intersectional) x test "
            "(group_vs_rest per group; all-groups-equal per attribute set, which with two groups is "
            "the same hypothesis as their group_vs_rest rows; error_ratio per non-reference group)"
        ),
        model=model, mode=mode, n_items=len(predictions),
        n_images=int(predictions["image_id"].nunique()), predictions_sha256=predictions_sha256,
        sensitive_attributes=list(sensitive_attributes), n_boot=n_boot, confidence=confidence,
        correction=correction, correction_name=CORRECTION_NAMES[correction], min_group_n=min_group_n,
        reference_group=reference if isinstance(reference, str) else dict(reference), seed=seed, tasks=tasks, benchmark=benchmark,
        method_notes=[*METHOD_NOTES, *([
            f"Plug-in metrics {', '.join(extra_metrics)}: computed from the same count totals as the "
            "built-in ones, with a bootstrap percentile interval; no disparity test."] if extra_metrics else [])],
    )
