"""Family-wise error of the audit: no planted gap -> no alarm; a planted gap -> found.

Each test here is a small simulation study on ``simulate_predictions``. Binomial slack:
at 200 seeds the standard error of a 5% rate is 1.5 points, so the bound is 7.5%.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import pandas as pd
import pytest
from fairlearn.metrics import MetricFrame
from sklearn.metrics import accuracy_score

from faceaudit.evaluate.metrics import build_evaluation_section, stratified_metrics
from faceaudit.stats import adjust_pvalues
from faceaudit.stats.simulate import simulate_predictions

GRID = {"race": ["A", "B", "C", "D"], "gender": ["f", "m"]}


def _hypotheses(disparities):
    """One row per hypothesis: with two groups, the difference and both group-vs-rest rows
    test the same one (and share its p-value), so only the first of them counts."""
    seen, out = set(), []
    for d in disparities:
        pair = len({x.group for x in disparities if x.kind == "group_vs_rest" and x.metric == d.metric
                    and x.attributes == d.attributes}) == 2
        key = (d.metric, tuple(d.attributes))
        if pair and d.kind in ("difference", "group_vs_rest"):
            if key in seen:
                continue
            seen.add(key)
        out.append(d)
    return out


def _null_study(seeds: int, **simulate) -> tuple[float, dict[tuple[str, str], np.ndarray]]:
    """Share of seeds with any significant disparity, and raw p-values per (metric, test)."""
    any_alarm = 0
    raw: dict[tuple[str, str], list[float]] = defaultdict(list)
    for seed in range(seeds):
        frame = simulate_predictions(GRID, seed=seed, **simulate)
        # n_boot only sets the resolution of the resampling p-values (>= 1/201); the accuracy
        # and invalid-rate tests do not depend on it.
        task = stratified_metrics(frame, ["race", "gender"], n_boot=200, seed=seed)[0]
        any_alarm += any(d.significant for d in task.disparities)
        for d in _hypotheses(task.disparities):
            raw[(d.metric, d.kind)].append(d.p_value)
    return any_alarm / seeds, {k: np.array(v) for k, v in raw.items()}


def test_no_gap_family_wise_false_alarms_at_most_five_percent():
    rate, raw = _null_study(200, n_per_cell=40, accuracy=0.7, invalid_rate=0.05)
    print(f"no planted gap, 200 seeds: share of seeds with any significant disparity = {rate:.3f}")
    assert rate <= 0.075
    # The correction is only as honest as the p-values it corrects: every test family,
    # macro-F1 and ECE included, must reject a true null at most about 5% of the time.
    for (metric, kind), p in raw.items():
        share = float(np.mean(p <= 0.05))
        print(f"  {metric:13s} {kind:14s} n={p.size:5d} P(p <= 0.05) = {share:.3f}")
        slack = 3 * np.sqrt(0.05 * 0.95 / 200)  # seeds are the independent units
        assert share <= 0.05 + slack, (metric, kind, share)


def test_no_gap_with_correlated_rows_per_image_stays_honest():
    # Three questions per image and a per-image difficulty shift: rows of one image are
    # correlated, which the design effect must absorb.
    rate, raw = _null_study(100, n_per_cell=60, accuracy=0.7, invalid_rate=0.05, rows_per_image=3,
                            image_effect=0.25)
    print(f"clustered, 100 seeds: share of seeds with any significant disparity = {rate:.3f}")
    assert rate <= 0.09
    acc = np.concatenate([raw[("accuracy", "difference")], raw[("accuracy", "group_vs_rest")]])
    assert np.mean(acc <= 0.05) <= 0.08


def test_planted_fifteen_point_gap_found_in_ninety_percent_of_seeds():
    found = 0
    for seed in range(50):
        frame = simulate_predictions({"race": ["A", "B", "C", "D"]}, 300, accuracy=0.8,
                                     gaps={"race": {"C": -0.15}}, seed=1000 + seed)
        task = stratified_metrics(frame, ["race"], n_boot=50, seed=seed)[0]
        diff = next(d for d in task.disparities if d.metric == "accuracy" and d.kind == "difference")
        found += diff.significant and diff.worst_group == "race=C"
    print(f"planted 15-point gap, 300 per group: found in {found}/50 seeds")
    assert found >= 45


def test_one_correction_spans_every_task_and_is_recorded():
    a = simulate_predictions(GRID, 60, seed=1, task="age")
    b = simulate_predictions(GRID, 60, seed=2, task="gender_task", gaps={"race": {"B": -0.3}})
    section = build_evaluation_section(pd.concat([a, b], ignore_index=True), model="m", mode="likelihood",
                                       sensitive_attributes=["race", "gender"], n_boot=100)
    hypotheses = [(d.p_value, d.p_adjusted, d.significant) for t in section.tasks
                  for d in _hypotheses(t.disparities)]
    raw = np.array([h[0] for h in hypotheses])
    expected_adj, expected_rej = adjust_pvalues(raw, "holm")
    np.testing.assert_allclose([h[1] for h in hypotheses], expected_adj)
    assert [h[2] for h in hypotheses] == list(expected_rej)
    assert section.n_comparisons == int(np.sum(~np.isnan(raw))) == sum(t.n_comparisons for t in section.tasks)
    assert section.n_comparisons > section.tasks[0].n_comparisons
    assert f"all {section.n_comparisons} disparity hypotheses" in section.correction_scope
    assert any("one correction covers every significance claim" in note for note in section.method_notes)
    # The gap planted in the second task is still found after correcting over both tasks.
    gap = next(d for d in section.tasks[1].disparities
               if d.metric == "accuracy" and d.kind == "group_vs_rest" and d.group == "race=B")
    assert gap.significant


def test_point_estimates_equal_metricframe_for_marginal_and_intersectional_groups():
    frame = simulate_predictions(GRID, 25, accuracy=0.6, invalid_rate=0.1, rows_per_image=2, seed=9)
    task = stratified_metrics(frame, ["race", "gender"], n_boot=20)[0]
    y_pred = frame["predicted_text"].fillna("<invalid>")
    for features in (["race"], ["gender"], ["race", "gender"]):
        mf = MetricFrame(metrics=accuracy_score, y_true=frame["answer_text"], y_pred=y_pred,
                         sensitive_features=frame[features])
        for key, value in mf.by_group.items():
            labels = key if isinstance(key, tuple) else (key,)
            name = " & ".join(f"{a}={v}" for a, v in zip(features, labels, strict=True))
            group = next(g for g in task.groups if g.name == name)
            assert group.metrics["accuracy"].value == pytest.approx(value, abs=1e-12)
    # ECE per group by hand from the raw rows.
    probs = np.array(frame["option_probs"].tolist())
    conf = probs.max(axis=1) / probs.sum(axis=1)
    hit = probs.argmax(axis=1) == frame["answer"].map("ABCD".index).to_numpy()
    bins = np.minimum((conf * 10).astype(int), 9)
    for race in GRID["race"]:
        rows = frame["race"].to_numpy() == race
        gap = sum(abs(hit[rows & (bins == b)].sum() - conf[rows & (bins == b)].sum()) for b in range(10))
        group = next(g for g in task.groups if g.name == f"race={race}")
        assert group.metrics["ece"].value == pytest.approx(gap / rows.sum(), abs=1e-12)
