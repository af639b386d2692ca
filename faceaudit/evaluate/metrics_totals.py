"""Metrics as functions of additive totals, vectorised over any leading axes.

A confusion total has shape (..., K, K + 1): gold class by predicted class, with a final
column for invalid answers. A calibration total has shape (..., 3 * n_bins): per
confidence bin, the rows, the hits and the confidence sum. Undefined values are NaN.
"""

from __future__ import annotations

import numpy as np


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1), np.nan)


def accuracy(confusion: np.ndarray) -> np.ndarray:
    k = confusion.shape[-2]
    hits = np.trace(confusion[..., :k], axis1=-2, axis2=-1)
    return _ratio(hits, confusion.sum(axis=(-2, -1)))


def invalid_rate(confusion: np.ndarray) -> np.ndarray:
    return _ratio(confusion[..., -1].sum(axis=-1), confusion.sum(axis=(-2, -1)))


def off_by_one(confusion: np.ndarray) -> np.ndarray:
    """Share of answers within one ordinal bin of the gold bin (invalid counts as a miss)."""
    k = confusion.shape[-2]
    gold, pred = np.indices((k, k))
    near = (np.abs(gold - pred) <= 1).astype(float)
    return _ratio((confusion[..., :k] * near).sum(axis=(-2, -1)), confusion.sum(axis=(-2, -1)))


def recall(confusion: np.ndarray) -> np.ndarray:
    """Per-class recall, shape (..., K); NaN for a class absent from the gold labels."""
    k = confusion.shape[-2]
    tp = np.diagonal(confusion[..., :k], axis1=-2, axis2=-1)
    return _ratio(tp, confusion.sum(axis=-1))


def macro_f1(confusion: np.ndarray) -> np.ndarray:
    """Unweighted mean of per-class F1 = 2TP / (2TP + FP + FN).

    Classes with neither gold nor predicted rows are left out of the mean (as
    scikit-learn does with ``zero_division=np.nan``); invalid answers are false negatives.
    """
    k = confusion.shape[-2]
    square = confusion[..., :k]
    tp = np.diagonal(square, axis1=-2, axis2=-1)
    fn = confusion.sum(axis=-1) - tp
    fp = square.sum(axis=-2) - tp
    f1 = _ratio(2 * tp, 2 * tp + fp + fn)
    defined = ~np.isnan(f1)
    count = defined.sum(axis=-1)
    return _ratio(np.where(defined, f1, 0.0).sum(axis=-1), count.astype(float))


def expected_calibration_error(calibration: np.ndarray) -> np.ndarray:
    """ECE = sum over bins |hits - confidence sum| / rows (equal-width confidence bins)."""
    n_bins = calibration.shape[-1] // 3
    rows = calibration[..., :n_bins]
    hits = calibration[..., n_bins : 2 * n_bins]
    confidence = calibration[..., 2 * n_bins :]
    return _ratio(np.abs(hits - confidence).sum(axis=-1), rows.sum(axis=-1))
