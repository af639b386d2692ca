"""Accuracy per FaceXBench task and category, computed the way the benchmark computes it.

REFERENCE.md §4: the answer letter is read from the generated text (regex, then option
text: :func:`faceaudit.evaluate.parse.parse_answer`), an unreadable answer counts as wrong,
and accuracy is micro-averaged: every question weighs the same, so a category's accuracy
is its correct answers over its questions (not the mean of its tasks' accuracies), and
"overall" is correct over all questions. Each number comes with its Wilson interval and n.
"""

from __future__ import annotations

import pandas as pd

from faceaudit.schema.common import Estimate
from faceaudit.stats.proportions import proportion_estimate

_REQUIRED = ("task", "category", "correct", "valid")


def facexbench_accuracy(predictions: pd.DataFrame, *, confidence: float = 0.95) -> dict[str, Estimate]:
    """``{"overall": ..., "category:<c>": ..., "task:<t>": ...}``, micro-averaged; invalid = wrong."""
    missing = [column for column in _REQUIRED if column not in predictions.columns]
    if missing:
        raise ValueError(f"predictions table lacks column(s) {missing} (has {list(predictions.columns)})")
    if predictions.empty:
        raise ValueError("no predictions to score")
    # An invalid answer is wrong even if a backend marked it otherwise: the harness rule.
    correct = predictions["correct"].astype(bool) & predictions["valid"].astype(bool)
    frame = pd.DataFrame(
        {"task": predictions["task"].astype(str), "category": predictions["category"].astype(str), "correct": correct}
    )
    result = {"overall": proportion_estimate(int(correct.sum()), len(frame), confidence)}
    for column in ("category", "task"):
        for key, group in frame.groupby(column, sort=True):
            result[f"{column}:{key}"] = proportion_estimate(int(group["correct"].sum()), len(group), confidence)
    return result
