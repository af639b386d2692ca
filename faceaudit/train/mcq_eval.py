"""Per-attribute accuracy of a trained model on multiple-choice items.

Scoring reads the option-letter logits at the answer position (the last prompt token,
left-padded batches), restricted to the item's own letters: the same prompt and the same
position that training on McqItems taught (faceaudit.models.chat).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from faceaudit.data.records import McqItem
from faceaudit.schema.common import Estimate
from faceaudit.stats.proportions import proportion_estimate


def predict_mcq(
    model: Any,
    processor: Any,
    items: Sequence[McqItem],
    image_root: Path,
    *,
    batch_size: int = 32,
    progress: bool = False,
) -> list[int]:
    """Index of the highest-scoring option of each item.

    Scores exactly as the evaluation stage's hf backend does (the same object does the
    work), so the accuracy in the training log and in the evaluation section agree.
    """
    from tqdm.auto import tqdm

    from faceaudit.models.hf import HFFaceModel

    scorer = HFFaceModel(model, processor, name="training-eval")
    predictions: list[int] = []
    was_training = model.training
    model.eval()
    starts = range(0, len(items), batch_size)
    try:
        for start in tqdm(starts, desc="scoring", disable=not progress, unit="batch"):
            chunk = list(items[start : start + batch_size])
            scores = scorer.score_options(chunk, scorer.prepare(chunk, image_root))
            predictions.extend(max(range(len(row)), key=row.__getitem__) for row in scores)
    finally:
        model.train(was_training)
    return predictions


def wilson_estimate(correct: int, n: int, confidence: float = 0.95) -> Estimate:
    """Accuracy with a Wilson score interval; NaN when there is nothing to measure."""
    return proportion_estimate(correct, n, confidence)


def accuracy_by_task(items: Sequence[McqItem], predictions: Sequence[int]) -> dict[str, Estimate]:
    correct: dict[str, int] = defaultdict(int)
    total: dict[str, int] = defaultdict(int)
    for item, predicted in zip(items, predictions, strict=True):
        total[item.task] += 1
        correct[item.task] += int(predicted == item.answer_index)
    return {task: wilson_estimate(correct[task], total[task]) for task in sorted(total)}


def chance_by_task(items: Sequence[McqItem]) -> dict[str, float]:
    """Expected accuracy of uniform guessing: the mean of 1 / (number of options)."""
    sums: dict[str, float] = defaultdict(float)
    counts: dict[str, int] = defaultdict(int)
    for item in items:
        sums[item.task] += 1.0 / len(item.options)
        counts[item.task] += 1
    return {task: sums[task] / counts[task] for task in sorted(counts)}
