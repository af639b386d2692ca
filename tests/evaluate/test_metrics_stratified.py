"""Stratified metrics: fairlearn parity, hand-computed metrics, planted gaps, false alarms."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from fairlearn.metrics import MetricFrame
from sklearn.metrics import accuracy_score, f1_score

from faceaudit.evaluate.metrics import build_evaluation_section, stratified_metrics
from faceaudit.schema.evaluation import EvaluationSection
from faceaudit.stats.simulate import simulate_predictions

RACES = {"race": ["A", "B", "C", "D"], "gender": ["f", "m"]}


def _group(task, name):
    return next(g for g in task.groups if g.name == name)


def test_point_estimates_equal_fairlearn_metricframe():
    frame = simulate_predictions(RACES, 40, accuracy=0.7, invalid_rate=0.1, seed=3)
    task = stratified_metrics(frame, ["race", "gender"], n_boot=50)[0]
    y_pred = frame["predicted_text"].fillna("<invalid>")
    labels = sorted(set(frame["answer_text"]) | set(frame["predicted_text"].dropna()))
    mf = MetricFrame(
        metrics={
            "accuracy": accuracy_score,
            "macro_f1": lambda t, p: f1_score(t, p, labels=labels, average="macro", zero_division=np.nan),
        },
        y_true=frame["answer_text"], y_pred=y_pred, sensitive_features=frame[["race", "gender"]],
    )
    for (race, gender), row in mf.by_group.iterrows():
        group = _group(task, f"race={race} & gender={gender}")
        assert group.metrics["accuracy"].value == pytest.approx(row["accuracy"], abs=1e-12)
        assert group.metrics["macro_f1"].value == pytest.approx(row["macro_f1"], abs=1e-12)
    assert task.overall["accuracy"].value == pytest.approx(mf.overall["accuracy"], abs=1e-12)
    invalid = frame.groupby("race")["valid"].apply(lambda v: 1 - v.mean())
    for race, rate in invalid.items():
        assert _group(task, f"race={race}").metrics["invalid_rate"].value == pytest.approx(rate)


def _table(gold, pred, probs, race):
    n = len(gold)
    return pd.DataFrame({
        "item_id": [f"i{i}" for i in range(n)], "image_id": [f"m{i}" for i in range(n)],
        "task": "age", "category": "age", "answer": ["A"] * n,
        "predicted": ["A" if p is not None else None for p in pred],
        "answer_text": gold, "predicted_text": pred, "valid": [p is not None for p in pred],
        "correct": [g == p for g, p in zip(gold, pred, strict=True)], "option_probs": probs,
        "options": [["0-9", "10-19", "20-29"]] * n, "race": race,
    })


def test_ece_and_off_by_one_by_hand():
    # Confidence 0.9, 0.9, 0.6, 0.6; top option (A, the gold letter) is a hit for rows 0, 2, 3:
    # bin 9: |1 - 1.8| = 0.8, bin 6: |2 - 1.2| = 0.8 -> ECE = 1.6 / 4 = 0.4.
    probs = [[0.9, 0.05, 0.05], [0.05, 0.9, 0.05], [0.6, 0.2, 0.2], [0.6, 0.3, 0.1]]
    gold = ["0-9", "0-9", "0-9", "20-29"]
    pred = ["0-9", "10-19", "0-9", None]
    frame = _table(gold, pred, probs, ["X"] * 4)
    task = stratified_metrics(frame, ["race"], ordinal={"age": ["0-9", "10-19", "20-29"]}, n_boot=20,
                              min_group_n=1)[0]
    assert task.overall["ece"].value == pytest.approx(0.4)
    # Within one bin: rows 0, 1 (0-9 vs 10-19); invalid row 3 is a miss.
    assert task.overall["off_by_one"].value == pytest.approx(3 / 4)
    assert task.overall["accuracy"].value == pytest.approx(2 / 4)
    assert task.labels == ["0-9", "10-19", "20-29"]


def test_undefined_metrics_stay_nan_and_survive_json():
    gold = ["0-9", "10-19", "0-9", "10-19"]
    frame = _table(gold, [None, None, "0-9", "10-19"], [None] * 4, ["X", "X", "Y", "Y"])
    section = build_evaluation_section(frame, model="m", mode="generation", sensitive_attributes=["race"],
                                       n_boot=20, min_group_n=1)
    task = section.tasks[0]
    x = _group(task, "race=X")
    assert x.metrics["accuracy"].value == 0.0 and x.metrics["invalid_rate"].value == 1.0
    assert x.metrics["macro_f1"].value == 0.0  # gold rows exist, all missed: F1 is 0, not undefined
    assert math.isnan(task.overall["ece"].value)  # generation mode: no probabilities
    text = section.model_dump_json()
    assert "NaN" in text
    again = EvaluationSection.model_validate(json.loads(text))
    assert math.isnan(again.tasks[0].overall["ece"].value)
    assert again.tasks[0].groups[0].name == "race=X"


def test_planted_gap_is_found():
    frame = simulate_predictions({"race": ["A", "B", "C", "D"]}, 300, accuracy=0.8,
                                 gaps={"race": {"C": -0.15}}, seed=11)
    task = stratified_metrics(frame, ["race"], n_boot=400, seed=1)[0]
    diff = next(d for d in task.disparities if d.metric == "accuracy" and d.kind == "difference")
    assert diff.worst_group == "race=C" and diff.significant and diff.p_adjusted < 0.05
    vs_rest = next(d for d in task.disparities if d.metric == "accuracy" and d.kind == "group_vs_rest"
                   and d.group == "race=C")
    assert vs_rest.estimate.upper < 0 and vs_rest.significant
    assert vs_rest.worst_group == "race=C"


def test_bad_input_names_the_problem():
    frame = simulate_predictions(RACES, 5, seed=1)
    with pytest.raises(ValueError, match="lacks column"):
        stratified_metrics(frame.drop(columns=["gender"]), ["race", "gender"])
    broken = frame.copy()
    broken.loc[0, "correct"] = not broken.loc[0, "correct"]
    with pytest.raises(ValueError, match="item_id 'simulated-0'"):
        stratified_metrics(broken, ["race"])
