"""Validate one task's rows of the predictions table and encode them as integer arrays."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import pandas as pd

from faceaudit.data.records import OPTION_LETTERS

REQUIRED_COLUMNS = (
    "item_id", "image_id", "task", "answer", "answer_text", "predicted_text", "valid", "correct", "option_probs",
)
INVALID_LABEL = "<invalid>"


@dataclass(frozen=True)
class EncodedTask:
    """One task's rows as arrays; ``pred == len(labels)`` marks an invalid answer."""

    task: str
    labels: list[str]
    ordinal: bool
    gold: np.ndarray
    pred: np.ndarray
    confidence: np.ndarray  # top option probability; NaN without option probabilities
    hit: np.ndarray  # top-probability option is the gold one
    image: np.ndarray  # integer image id (the cluster)
    n_images: int
    frame: pd.DataFrame


def check_columns(predictions: pd.DataFrame, sensitive_attributes: list[str]) -> None:
    if not isinstance(predictions, pd.DataFrame):
        raise TypeError(f"predictions must be a pandas DataFrame, got {type(predictions).__name__}")
    if not sensitive_attributes:
        raise ValueError("sensitive_attributes is empty: name at least one group column")
    missing = [c for c in (*REQUIRED_COLUMNS, *sensitive_attributes) if c not in predictions.columns]
    if missing:
        raise ValueError(
            f"predictions table lacks column(s) {missing}; it has {list(predictions.columns)}"
        )
    for attribute in sensitive_attributes:
        blank = predictions[attribute].isna()
        if blank.any():
            item = predictions.loc[blank, "item_id"].iloc[0]
            raise ValueError(
                f"predictions: {int(blank.sum())} row(s) have no {attribute!r} label "
                f"(first: item_id {item!r}); every row needs a group label"
            )


def _top_probability(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Top option probability (normalised) and whether that option is the gold one."""
    n = len(frame)
    confidence = np.full(n, np.nan)
    hit = np.zeros(n, bool)
    probs = frame["option_probs"].to_numpy(dtype=object)
    fast = _rectangular(probs)
    if fast is not None:
        # Every row has a list of the same length: one C-level conversion, no per-row Python.
        lengths = np.full(n, fast.shape[1], np.int64)
    else:
        lengths = frame["option_probs"].map(
            lambda p: len(p) if isinstance(p, (list, tuple, np.ndarray)) else 0
        ).to_numpy(dtype=np.int64)
    present = lengths > 0
    if not present.any():
        return confidence, hit
    gold_letter = pd.Categorical(frame["answer"], categories=list(OPTION_LETTERS)).codes
    for length in np.unique(lengths[present]):
        rows = np.flatnonzero(present & (lengths == length))
        if fast is not None:
            p = fast
        else:
            flat = np.fromiter(itertools.chain.from_iterable(probs[rows]), float, count=rows.size * int(length))
            p = flat.reshape(rows.size, int(length))
        total = p.sum(axis=1)
        bad = (length < 2) | ~np.isfinite(p).all(axis=1) | (p < 0).any(axis=1) | (total <= 0)
        if np.any(bad):
            i = rows[int(np.argmax(bad))]
            raise ValueError(
                f"predictions: item_id {frame['item_id'].iloc[i]!r} has option_probs "
                f"{list(probs[i])}; expected a list of >= 2 non-negative numbers (or None)"
            )
        top = p.argmax(axis=1)
        confidence[rows] = p[np.arange(rows.size), top] / total
        hit[rows] = top == gold_letter[rows]
    return confidence, hit


def _rectangular(probs: np.ndarray) -> np.ndarray | None:
    """All rows as one (n, L) float array when every row is a numeric list of one length."""
    if probs.size == 0:
        return None
    try:
        out = np.array(probs.tolist(), dtype=float)
    except (TypeError, ValueError):  # ragged, None, or non-numeric rows: take the general path
        return None
    return out if out.ndim == 2 and out.shape[1] > 0 else None


def chance_accuracy(frame: pd.DataFrame) -> float | None:
    """Accuracy of a uniform guess among each row's own options, averaged over the rows.

    Read from the ``options`` column (the options each item offered), else from the length of
    ``option_probs``; None when neither says how many options every row had.
    """
    for column in ("options", "option_probs"):
        if column not in frame.columns:
            continue
        sizes = np.array([len(v) if isinstance(v, (list, tuple, np.ndarray)) else 0 for v in frame[column]])
        if sizes.size and (sizes >= 2).all():
            return float(np.mean(1.0 / sizes))
    return None


def _codes(values: np.ndarray, labels: list[str]) -> np.ndarray:
    return pd.Categorical(values, categories=labels).codes.astype(np.int64)


def encode_task(frame: pd.DataFrame, task: str, ordinal_labels: list[str] | None) -> EncodedTask:
    gold_text = frame["answer_text"].astype(str).to_numpy()
    valid = frame["valid"].astype(bool).to_numpy()
    pred_text = frame["predicted_text"].to_numpy(dtype=object)
    if ordinal_labels is not None:
        labels = list(ordinal_labels)
        for name, values in (("answer_text", gold_text), ("predicted_text", pred_text[valid])):
            unknown = sorted(set(map(str, values)) - set(labels))
            if unknown:
                raise ValueError(
                    f"task {task!r}: {name} value(s) {unknown[:5]} are not among the ordinal "
                    f"labels {labels}"
                )
    else:
        seen = pd.unique(np.concatenate([gold_text, pred_text[valid & pd.notna(pred_text)].astype(str)]))
        labels = sorted(map(str, seen))
    gold = _codes(gold_text, labels)
    pred = _codes(np.where(valid, pred_text, None), labels)
    pred[pred < 0] = len(labels)
    correct = frame["correct"].astype(bool).to_numpy()
    mismatch = correct != (pred == gold)
    if mismatch.any():
        row = frame.iloc[int(np.argmax(mismatch))]
        raise ValueError(
            f"task {task!r}: item_id {row['item_id']!r} has correct={row['correct']} but "
            f"predicted_text={row['predicted_text']!r} vs answer_text={row['answer_text']!r} "
            f"(valid={row['valid']}); correct must equal valid and predicted_text == answer_text"
        )
    confidence, hit = _top_probability(frame)
    image_codes, _ = pd.factorize(frame["image_id"].astype(str))
    return EncodedTask(
        task=task,
        labels=labels,
        ordinal=ordinal_labels is not None,
        gold=gold,
        pred=pred,
        confidence=confidence,
        hit=hit,
        image=image_codes.astype(np.int64),
        n_images=int(image_codes.max() + 1) if image_codes.size else 0,
        frame=frame,
    )
