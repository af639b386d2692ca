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

from faceaudit.data.records import OPTION_LETTERS, McqItem
from faceaudit.models.chat import encode_prompt, load_images, option_letter_token_ids, pad_batch
from faceaudit.schema.common import Estimate


def predict_mcq(
    model: Any,
    processor: Any,
    items: Sequence[McqItem],
    image_root: Path,
    *,
    batch_size: int = 32,
    progress: bool = False,
) -> list[int]:
    """Index of the highest-scoring option of each item."""
    import torch
    from tqdm.auto import tqdm

    letter_ids = option_letter_token_ids(processor.tokenizer, OPTION_LETTERS)
    pad_id = processor.tokenizer.pad_token_id
    device = next(model.parameters()).device
    predictions: list[int] = []
    was_training = model.training
    model.eval()
    starts = range(0, len(items), batch_size)
    try:
        for start in tqdm(starts, desc="scoring", disable=not progress, unit="batch"):
            chunk = items[start : start + batch_size]
            encoded = [
                encode_prompt(processor, load_images(item.image_paths, root=image_root), item.prompt())
                for item in chunk
            ]
            batch = pad_batch(encoded, pad_id, padding_side="left")
            batch = {k: v.to(device) for k, v in batch.items()}
            if "pixel_values" in batch:
                batch["pixel_values"] = batch["pixel_values"].to(next(model.parameters()).dtype)
            with torch.no_grad():
                logits = model(**batch, logits_to_keep=1).logits[:, -1, :]
            for row, item in zip(logits, chunk, strict=True):
                scores = row[letter_ids[: len(item.options)]]
                predictions.append(int(torch.argmax(scores)))
    finally:
        model.train(was_training)
    return predictions


def wilson_estimate(correct: int, n: int, confidence: float = 0.95) -> Estimate:
    """Accuracy with a Wilson score interval; NaN when there is nothing to measure."""
    if n == 0:
        nan = float("nan")
        return Estimate(value=nan, lower=nan, upper=nan, n=0, method="wilson", confidence=confidence)
    from statsmodels.stats.proportion import proportion_confint

    lower, upper = proportion_confint(correct, n, alpha=1 - confidence, method="wilson")
    return Estimate(
        value=correct / n, lower=float(lower), upper=float(upper), n=n, method="wilson", confidence=confidence
    )


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
