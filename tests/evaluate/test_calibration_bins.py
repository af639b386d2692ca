"""The reliability-diagram bins stored beside ECE: per group, per equal-width bin of the largest
option probability, the item count, mean confidence and accuracy, checked by hand."""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest

from faceaudit.evaluate.metrics import N_BINS, build_evaluation_section
from faceaudit.schema.evaluation import EvaluationSection


def _table(probs, gold_letters, race):
    """One age question per image, options 0-9 / 10-19 / 20-29; the answer is the most probable option."""
    n, options = len(probs), ["0-9", "10-19", "20-29"]
    top = [None if p is None else max(range(3), key=p.__getitem__) for p in probs]
    gold = ["ABC".index(g) for g in gold_letters]
    return pd.DataFrame({
        "item_id": [f"i{i}" for i in range(n)], "image_id": [f"m{i}" for i in range(n)],
        "task": "age", "category": "age", "answer": gold_letters,
        "predicted": [None if t is None else "ABC"[t] for t in top],
        "answer_text": [options[g] for g in gold],
        "predicted_text": [None if t is None else options[t] for t in top],
        "valid": [t is not None for t in top], "correct": [t == g for t, g in zip(top, gold, strict=True)],
        "option_probs": probs, "options": [options] * n, "race": race,
    })


def _section(frame):
    return build_evaluation_section(frame, model="m", mode="scoring", sensitive_attributes=["race"],
                                    n_boot=20, min_group_n=1)


def test_bins_by_hand_per_group_and_overall():
    # X: confidences 0.9 (top A = gold, hit) and 0.9 (top B, miss) -> bin 9: 2 items, 0.9, 1/2.
    # Y: 0.6 (hit), 0.7 after normalising 1.4 / 2 (top A, gold C: miss), and one answer without
    #    probabilities (left out of every bin) -> bin 6: 1 item, 0.6, 1; bin 7: 1 item, 0.7, 0.
    probs = [[0.9, 0.05, 0.05], [0.05, 0.9, 0.05], [0.6, 0.2, 0.2], [1.4, 0.4, 0.2], None]
    frame = _table(probs, ["A", "A", "A", "C", "A"], ["X", "X", "Y", "Y", "Y"])
    task = _section(frame).tasks[0]
    x, y = ({g.name: g for g in task.groups}[f"race={r}"] for r in "XY")

    assert x.calibration.edges == [b / 10 for b in range(11)] and N_BINS == 10
    assert x.calibration.counts == [0] * 9 + [2]
    assert x.calibration.mean_confidence[9] == pytest.approx(0.9)
    assert x.calibration.accuracy[9] == pytest.approx(0.5)
    assert all(math.isnan(v) for v in x.calibration.mean_confidence[:9] + x.calibration.accuracy[:9])

    assert y.calibration.counts == [0] * 6 + [1, 1, 0, 0]
    assert y.calibration.mean_confidence[6:8] == pytest.approx([0.6, 0.7])
    assert y.calibration.accuracy[6:8] == [1.0, 0.0]

    overall = task.calibration
    assert overall.counts == [0] * 6 + [1, 1, 0, 2]
    assert overall.accuracy[9] == pytest.approx(0.5)


def test_ece_is_the_count_weighted_gap_of_the_stored_bins():
    probs = [[0.9, 0.05, 0.05], [0.05, 0.9, 0.05], [0.6, 0.2, 0.2], [1.4, 0.4, 0.2], [0.34, 0.33, 0.33]]
    task = _section(_table(probs, ["A", "A", "A", "C", "B"], ["X", "X", "Y", "Y", "Y"])).tasks[0]
    for holder, ece in [(task, task.overall["ece"].value)] + [(g, g.metrics["ece"].value) for g in task.groups]:
        bins = holder.calibration
        n = sum(bins.counts)
        from_bins = sum(c * abs(a - m) for c, a, m in zip(bins.counts, bins.accuracy, bins.mean_confidence,
                                                          strict=True) if c) / n
        assert from_bins == pytest.approx(ece)


def test_no_option_probabilities_means_no_bins_and_the_json_round_trips():
    frame = _table([None, None], ["A", "A"], ["X", "Y"])
    section = _section(frame)
    assert section.tasks[0].calibration is None
    assert all(g.calibration is None for g in section.tasks[0].groups)

    with_probs = _section(_table([[0.9, 0.05, 0.05], [0.5, 0.3, 0.2]], ["A", "B"], ["X", "Y"]))
    again = EvaluationSection.model_validate(json.loads(with_probs.model_dump_json()))
    bins = again.tasks[0].groups[0].calibration
    assert bins.counts[9] == 1 and math.isnan(bins.accuracy[0])
