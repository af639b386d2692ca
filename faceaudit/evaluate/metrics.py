"""Stratified metrics: every metric per group of every sensitive attribute and their
intersections, with intervals, disparities, p-values corrected for multiplicity, and
small-group flags with the smallest gap each group could have detected.

Point estimates come from fairlearn's ``MetricFrame`` (on rows compressed to weighted
distinct patterns, which gives the same numbers as the raw rows); intervals from
``faceaudit.stats`` (Wilson with a design effect for proportions, a stratified cluster
bootstrap for the rest).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
from fairlearn.metrics import MetricFrame

from faceaudit.evaluate import metrics_totals as mt
from faceaudit.evaluate.metrics_input import INVALID_LABEL, EncodedTask, check_columns, encode_task
from faceaudit.schema.common import Estimate
from faceaudit.schema.evaluation import (
    HIGHER_IS_BETTER,
    ConfusionMatrix,
    Disparity,
    EvaluationSection,
    GroupMetrics,
    TaskMetrics,
)
from faceaudit.stats.bootstrap import (
    bias_corrected_interval,
    bootstrap_cell_totals,
    bootstrap_standard_error,
    compress_clusters,
    percentile_interval,
)
from faceaudit.stats.power import minimum_detectable_difference
from faceaudit.stats.proportions import newcombe_interval, wilson_interval
from faceaudit.stats.significance import (
    CORRECTION_NAMES,
    adjust_pvalues,
    heterogeneity_pvalue,
    homogeneity_pvalue,
    two_proportion_pvalue,
    wald_pvalue,
)

N_BINS = 10
PROPORTIONS = ("accuracy", "invalid_rate", "off_by_one")
METHOD_NOTES = [
    "Proportions (accuracy, invalid_rate, off_by_one, per-class recall): Wilson score interval; "
    "when an image yields several rows in a task, on effective counts (n / design effect, Kish).",
    "macro_f1 and ece: percentile interval of a bootstrap that resamples images within each "
    "full intersection of the sensitive attributes (stratified cluster bootstrap).",
    "difference (max - min) and ratio (min / max) over groups with at least min_group_n items: "
    "point estimate with a bias-corrected (BC) bootstrap interval, because the bootstrap "
    "distribution of a max-min is shifted upward for small groups. Their p-value tests that all "
    "groups are equal: Pearson chi-square of homogeneity (proportions, effective counts) or "
    "Cochran's Q with bootstrap variances (macro_f1, ece).",
    "group_vs_rest: proportions use Newcombe's hybrid score interval and a two-proportion z test "
    "(Fisher exact when an expected count is below 5); macro_f1 and ece use a bootstrap percentile "
    "interval and a Wald test with the bootstrap standard error.",
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


def _metric_values(confusion: np.ndarray, calibration: np.ndarray, ordinal: bool) -> dict[str, np.ndarray]:
    values = {
        "accuracy": mt.accuracy(confusion),
        "macro_f1": mt.macro_f1(confusion),
        "invalid_rate": mt.invalid_rate(confusion),
        "ece": mt.expected_calibration_error(calibration),
    }
    if ordinal:
        values["off_by_one"] = mt.off_by_one(confusion)
    return values


def _weighted_frame_metrics(k: int, ordinal: bool) -> dict:
    """Metric functions for MetricFrame over weighted pattern rows (weights = row counts)."""

    def acc(y_true, y_pred, sample_weight):
        return float(np.average(np.asarray(y_true) == np.asarray(y_pred), weights=sample_weight))

    def invalid(y_true, y_pred, sample_weight):
        return float(np.average(np.asarray(y_pred) == k, weights=sample_weight))

    def f1(y_true, y_pred, sample_weight):
        cm = np.zeros((k, k + 1))
        np.add.at(cm, (np.asarray(y_true), np.asarray(y_pred)), np.asarray(sample_weight))
        return float(mt.macro_f1(cm))

    def near(y_true, y_pred, sample_weight):
        t, p = np.asarray(y_true), np.asarray(y_pred)
        return float(np.average((p < k) & (np.abs(t - p) <= 1), weights=sample_weight))

    def ece(y_true, y_pred, sample_weight, cal_rows, cal_hits, cal_conf, cal_bin):
        rows, hits, conf = np.asarray(cal_rows), np.asarray(cal_hits), np.asarray(cal_conf)
        if rows.sum() == 0:
            return float("nan")
        b = np.asarray(cal_bin)
        gap = np.bincount(b, weights=hits, minlength=N_BINS) - np.bincount(b, weights=conf, minlength=N_BINS)
        return float(np.abs(gap).sum() / rows.sum())

    metrics = {"accuracy": acc, "macro_f1": f1, "invalid_rate": invalid, "ece": ece}
    if ordinal:
        metrics["off_by_one"] = near
    return metrics


def _point_estimates(
    enc: EncodedTask, cell_frame: pd.DataFrame, cell: np.ndarray, group_sets: list[_GroupSet]
) -> tuple[dict[str, float], list[pd.DataFrame]]:
    """fairlearn MetricFrame per attribute set, on rows compressed to weighted patterns.

    Outcome metrics use (cell, gold, predicted) patterns weighted by their row count;
    ECE uses (cell, confidence bin, hit) patterns carrying their confidence sums. Both
    give exactly the numbers the raw rows give.
    """
    k = len(enc.labels)
    outcome = pd.DataFrame({"cell": cell, "gold": enc.gold, "pred": enc.pred})
    outcome = outcome.groupby(["cell", "gold", "pred"], sort=False).size().reset_index(name="w")
    has_prob = ~np.isnan(enc.confidence)
    calib = pd.DataFrame({
        "cell": cell[has_prob],
        "bin": np.minimum((enc.confidence[has_prob] * N_BINS).astype(np.int64), N_BINS - 1),
        "hit": enc.hit[has_prob].astype(np.int64),
        "conf": enc.confidence[has_prob],
    })
    calib = calib.groupby(["cell", "bin", "hit"], sort=False)["conf"].agg(["size", "sum"]).reset_index()
    metrics = _weighted_frame_metrics(k, enc.ordinal)
    ece = metrics.pop("ece")
    weights = {"sample_weight": outcome["w"].to_numpy(float)}
    ece_params = {
        "sample_weight": calib["size"].to_numpy(float),
        "cal_rows": calib["size"].to_numpy(float),
        "cal_hits": (calib["size"] * calib["hit"]).to_numpy(float),
        "cal_conf": calib["sum"].to_numpy(float),
        "cal_bin": calib["bin"].to_numpy(np.int64),
    }
    overall: dict[str, float] = {}
    by_set: list[pd.DataFrame] = []
    for gs in group_sets:
        attrs = list(gs.attributes)
        frame = MetricFrame(
            metrics=metrics, y_true=outcome["gold"].to_numpy(), y_pred=outcome["pred"].to_numpy(),
            sensitive_features=cell_frame[attrs].iloc[outcome["cell"].to_numpy()].reset_index(drop=True),
            sample_params={name: weights for name in metrics},
        )
        by_group = frame.by_group.copy()
        if not overall:
            overall = {name: float(v) for name, v in frame.overall.items()}
        if len(calib):
            cal_frame = MetricFrame(
                metrics={"ece": ece}, y_true=calib["bin"].to_numpy(), y_pred=calib["bin"].to_numpy(),
                sensitive_features=cell_frame[attrs].iloc[calib["cell"].to_numpy()].reset_index(drop=True),
                sample_params={"ece": ece_params},
            )
            by_group["ece"] = cal_frame.by_group["ece"]
            overall.setdefault("ece", float(cal_frame.overall["ece"]))
        else:
            by_group["ece"] = np.nan
            overall.setdefault("ece", float("nan"))
        if not isinstance(by_group.index, pd.MultiIndex):
            by_group.index = pd.MultiIndex.from_arrays([by_group.index.astype(str)])
        by_set.append(by_group)
    return overall, by_set


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


def _estimate(value: float, lower: float, upper: float, n: int, method: str, confidence: float) -> Estimate:
    return Estimate(value=float(value), lower=float(lower), upper=float(upper), n=int(n),
                    method=method, confidence=confidence)


def _task_metrics(
    enc: EncodedTask,
    attributes: list[str],
    attribute_sets: list[tuple[str, ...]],
    *,
    n_boot: int,
    confidence: float,
    min_group_n: int,
    correction: str,
    rng: np.random.Generator,
) -> TaskMetrics:
    frame = enc.frame
    k = len(enc.labels)
    # Cells: factorise each attribute, then the combined integer code (fast on 1M rows).
    combined = np.zeros(len(frame), np.int64)
    for attribute in attributes:
        codes, uniques = pd.factorize(frame[attribute].astype(str))
        combined = combined * (len(uniques) + 1) + codes
    _, first, cell = np.unique(combined, return_index=True, return_inverse=True)
    cell = cell.reshape(-1).astype(np.int64)
    cell_frame = frame[attributes].iloc[first].astype(str).reset_index(drop=True)
    n_cells = len(cell_frame)

    group_sets: list[_GroupSet] = []
    for attrs in attribute_sets:
        idx, uniq = pd.MultiIndex.from_frame(cell_frame[list(attrs)]).factorize()
        keys = [tuple(map(str, u)) if isinstance(u, tuple) else (str(u),) for u in uniq]
        order = sorted(range(len(keys)), key=keys.__getitem__)
        membership = np.zeros((len(uniq), n_cells))
        membership[idx, np.arange(n_cells)] = 1.0
        group_sets.append(_GroupSet(attrs, [keys[i] for i in order], membership[order]))

    # Observed and resampled totals per cell.
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

    overall_point, by_set = _point_estimates(enc, cell_frame, cell, group_sets)
    metric_names = list(overall_point)
    alpha = 1 - confidence
    indicators = {
        "accuracy": enc.pred == enc.gold,
        "invalid_rate": enc.pred == k,
        "off_by_one": (enc.pred < k) & (np.abs(enc.pred - enc.gold) <= 1),
    }
    images_per_cell = np.bincount(
        np.unique(cell * (int(enc.image.max()) + 1) + enc.image) // (int(enc.image.max()) + 1), minlength=n_cells
    ).astype(float)

    def evaluate(membership: np.ndarray, points: dict[str, np.ndarray]) -> dict:
        """Estimates for groups given by a membership matrix (groups x cells)."""
        conf_g = np.einsum("gc,cij->gij", membership, confusion_obs)
        cal_g = membership @ cal_obs
        n_items = conf_g.sum(axis=(1, 2))
        n_img = membership @ images_per_cell
        boot_c = np.einsum("gc,bcij->bgij", membership, boot_conf, optimize=True)
        boot_k = np.einsum("gc,bcj->bgj", membership, boot_cal, optimize=True)
        boot_values = _metric_values(boot_c, boot_k, enc.ordinal)
        out: dict = {"n_items": n_items, "n_images": n_img, "confusion": conf_g, "boot": boot_values,
                     "estimates": {}, "successes": {}, "deff": {}}
        if membership.shape[0] > 2:
            # The rest of each group, for group-vs-rest comparisons of non-proportions.
            rest = 1.0 - membership
            out["boot_rest"] = _metric_values(
                np.einsum("gc,bcij->bgij", rest, boot_conf, optimize=True),
                np.einsum("gc,bcj->bgj", rest, boot_cal, optimize=True), enc.ordinal)
            out["rest_point"] = _metric_values(
                np.einsum("gc,cij->gij", rest, confusion_obs), rest @ cal_obs, enc.ordinal)
        for name in metric_names:
            value = points[name]
            if name in PROPORTIONS:
                succ = value * n_items
                deff = (_design_effect(indicators[name], cell, enc.image, n_cells, membership)
                        if clustered else np.ones(len(n_items)))
                lo, hi = wilson_interval(succ / deff, n_items / deff, confidence)
                method = "wilson-design-effect" if clustered else "wilson"
                out["successes"][name], out["deff"][name] = succ, deff
                n_units = n_img if clustered else n_items
            else:
                lo, hi = percentile_interval(boot_values[name], confidence)
                method = "bootstrap-percentile-cluster"
                n_units = n_img if clustered else n_items
                if name == "ece":
                    n_units = cal_g[:, :N_BINS].sum(axis=1)
            out["estimates"][name] = [
                _estimate(v, a, b, n, method, confidence)
                for v, a, b, n in zip(value, lo, hi, n_units, strict=True)
            ]
        return out

    overall = evaluate(np.ones((1, n_cells)), {n: np.array([overall_point[n]]) for n in metric_names})
    groups: list[GroupMetrics] = []
    disparities: list[Disparity] = []
    family: list[tuple[int, ...]] = []  # indices into disparities sharing one hypothesis
    overall_acc = overall_point["accuracy"]
    for gs, by_group in zip(group_sets, by_set, strict=True):
        index = by_group.index
        points = {n: np.array([by_group.loc[tuple(lab), n] if tuple(lab) in index else np.nan
                               for lab in gs.labels], float) for n in metric_names}
        res = evaluate(gs.membership, points)
        n_items = res["n_items"]
        rest_n = overall["n_items"][0] - n_items
        deff_acc = res["deff"]["accuracy"]
        baseline = overall_acc if 0 < overall_acc < 1 else 0.5
        mde = minimum_detectable_difference(n_items / deff_acc, rest_n / deff_acc, baseline)
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
                minimum_detectable_difference=float(mde[g]),
            ))
        eligible = np.flatnonzero(n_items >= min_group_n)
        for name in metric_names:
            disparities_for, fam = _disparities(
                name, gs, names, eligible, points[name], res, overall, confidence, clustered,
                start=len(disparities), correction=correction,
            )
            disparities.extend(disparities_for)
            family.extend(fam)

    # One adjusted p-value per hypothesis; difference and ratio share theirs.
    raw = np.array([disparities[f[0]].p_value for f in family], float)
    adjusted, reject = adjust_pvalues(raw, correction, alpha=alpha) if family else (raw, raw > 2)
    for f, p_adj, rej in zip(family, adjusted, reject, strict=True):
        for i in f:
            disparities[i] = disparities[i].model_copy(update={"p_adjusted": float(p_adj), "significant": bool(rej)})
    return TaskMetrics(
        task=enc.task, n_items=len(frame), n_images=enc.n_images, labels=enc.labels, ordinal=enc.ordinal,
        clustered=clustered, overall={n: overall["estimates"][n][0] for n in metric_names},
        groups=groups, disparities=disparities, n_comparisons=int(np.sum(~np.isnan(raw))),
    )


def _disparities(
    name: str, gs: _GroupSet, names: list[str], eligible: np.ndarray, values: np.ndarray, res: dict,
    overall: dict, confidence: float, clustered: bool, *, start: int, correction: str,
) -> tuple[list[Disparity], list[tuple[int, ...]]]:
    higher = HIGHER_IS_BETTER[name]
    values_e = values[eligible]
    defined = eligible[~np.isnan(values_e)]
    out: list[Disparity] = []
    family: list[tuple[int, ...]] = []
    if defined.size < 2:
        return out, family
    boot = res["boot"][name]  # (n_boot, n_groups)
    attrs = list(gs.attributes)
    common = {"metric": name, "attributes": attrs, "correction": correction,
              "p_adjusted": float("nan"), "significant": False}
    v = values[defined]
    worst = defined[np.argmin(v) if higher else np.argmax(v)]
    best = defined[np.argmax(v) if higher else np.argmin(v)]
    n_unit = int(res["n_images" if clustered else "n_items"][defined].sum())
    if name in PROPORTIONS:
        succ, n, deff = res["successes"][name][defined], res["n_items"][defined], res["deff"][name][defined]
        p_all, test = homogeneity_pvalue(succ / deff, n / deff), "chi-square-homogeneity"
    else:
        variances = bootstrap_standard_error(boot[:, defined]) ** 2
        p_all, test = heterogeneity_pvalue(v, variances), "cochran-q-bootstrap-variance"
    with np.errstate(invalid="ignore", divide="ignore"):
        b = boot[:, defined]
        b_max, b_min = np.nanmax(b, axis=1), np.nanmin(b, axis=1)
        spread = np.array([v.max() - v.min()])
        ratio = np.array([v.min() / v.max() if v.max() > 0 else np.nan])
        lo_d, hi_d = bias_corrected_interval((b_max - b_min)[:, None], spread, confidence)
        lo_r, hi_r = bias_corrected_interval(np.where(b_max > 0, b_min / b_max, np.nan)[:, None], ratio, confidence)
    for kind, val, lo, hi in (("difference", spread, lo_d, hi_d), ("ratio", ratio, lo_r, hi_r)):
        out.append(Disparity(
            kind=kind, worst_group=names[worst], best_group=names[best],
            estimate=_estimate(val[0], lo[0], hi[0], n_unit, "bootstrap-bc-cluster", confidence),
            test=test, p_value=p_all, **common))
    family.append((start, start + 1))
    if defined.size < 3:
        return out, family  # with two groups, group-vs-rest repeats the difference
    for g in defined:
        index = start + len(out)
        if name in PROPORTIONS:
            succ_all = overall["estimates"][name][0].value * overall["n_items"][0]
            n_g, s_g = res["n_items"][g], res["successes"][name][g]
            n_r, s_r = overall["n_items"][0] - n_g, succ_all - s_g
            if n_r <= 0:
                continue
            d_g = res["deff"][name][g]
            lo, hi = newcombe_interval(s_g / d_g, n_g / d_g, s_r / d_g, n_r / d_g, confidence)
            p, test_g = two_proportion_pvalue(s_g / d_g, n_g / d_g, s_r / d_g, n_r / d_g)
            diff = s_g / n_g - s_r / n_r
            method = "newcombe-design-effect" if clustered else "newcombe"
        else:
            rest_boot = res["boot_rest"][name][:, g]
            diff_boot = boot[:, g] - rest_boot
            diff = values[g] - res["rest_point"][name][g]
            lo, hi = percentile_interval(diff_boot, confidence)
            p = float(wald_pvalue(diff, bootstrap_standard_error(diff_boot)))
            test_g, method = "wald-bootstrap-se", "bootstrap-percentile-cluster"
        out.append(Disparity(
            kind="group_vs_rest", group=names[g], worst_group=names[g] if (diff < 0) == higher else None,
            estimate=_estimate(diff, lo, hi, int(res["n_items"][g]), method, confidence),
            test=test_g, p_value=float(p), **common))
        family.append((index,))
    return out, family


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
    seed: int = 0,
    progress: bool = False,
) -> list[TaskMetrics]:
    """Metrics per task, per group of each sensitive attribute and of their intersections.

    ``intersections``: True = every combination of two or more attributes; a list names
    the combinations; False = marginal groups only. ``ordinal`` maps a task to its ordered
    labels (e.g. age bins) and adds ``off_by_one``. Multiplicity is corrected within each
    task over all its disparity hypotheses. Same inputs and seed give the same numbers.
    """
    from tqdm import tqdm

    check_columns(predictions, sensitive_attributes)
    if correction not in CORRECTION_NAMES:
        raise ValueError(f"correction must be one of {sorted(CORRECTION_NAMES)}, got {correction!r}")
    if n_boot < 1:
        raise ValueError(f"n_boot must be at least 1, got {n_boot}")
    ordinal = ordinal or {}
    attribute_sets = _attribute_sets(list(sensitive_attributes), intersections)
    rng = np.random.default_rng(seed)
    results = []
    tasks = list(pd.unique(predictions["task"].astype(str)))
    for task in tqdm(tasks, desc="stratified metrics", disable=not progress):
        frame = predictions[predictions["task"].astype(str) == task].reset_index(drop=True)
        enc = encode_task(frame, task, ordinal.get(task))
        results.append(_task_metrics(
            enc, list(sensitive_attributes), attribute_sets, n_boot=n_boot, confidence=confidence,
            min_group_n=min_group_n, correction=correction, rng=rng,
        ))
    return results


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
    seed: int = 0,
    predictions_sha256: str | None = None,
    benchmark: dict[str, Estimate] | None = None,
    progress: bool = False,
) -> EvaluationSection:
    """The ``evaluation`` section of ``audit.json`` for one model's predictions table."""
    tasks = stratified_metrics(
        predictions, sensitive_attributes, intersections=intersections, ordinal=ordinal,
        n_boot=n_boot, confidence=confidence, min_group_n=min_group_n, correction=correction,
        seed=seed, progress=progress,
    )
    return EvaluationSection(
        model=model, mode=mode, n_items=len(predictions),
        n_images=int(predictions["image_id"].nunique()), predictions_sha256=predictions_sha256,
        sensitive_attributes=list(sensitive_attributes), n_boot=n_boot, confidence=confidence,
        correction=correction, correction_name=CORRECTION_NAMES[correction], min_group_n=min_group_n,
        seed=seed, tasks=tasks, benchmark=benchmark, method_notes=list(METHOD_NOTES),
    )
