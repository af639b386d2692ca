"""Intervals for proportions and for differences of two proportions.

Wilson's score interval keeps its coverage near the nominal level for small n and
for proportions near 0 or 1, where the textbook Wald interval collapses; Newcombe's
hybrid score interval (method 10) extends it to a difference of two independent
proportions. Both accept *effective* counts (successes / design effect), which is how
rows clustered by image are honoured without a bootstrap.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike
from scipy.special import ndtri

from faceaudit.schema.common import Estimate


def _z(confidence: float) -> float:
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must lie strictly between 0 and 1, got {confidence!r}")
    return float(ndtri(0.5 + confidence / 2.0))


def wilson_interval(
    successes: ArrayLike, n: ArrayLike, confidence: float = 0.95
) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval, vectorised over arrays of (successes, n).

    Counts may be fractional (effective counts). Where ``n == 0`` the bounds are NaN:
    an empty group has no proportion, and 0 would read as a measured value.
    """
    x = np.asarray(successes, dtype=float)
    m = np.asarray(n, dtype=float)
    if np.any(m < 0) or np.any(x < 0) or np.any(x > m + 1e-9):
        raise ValueError("wilson_interval needs 0 <= successes <= n for every entry")
    z = _z(confidence)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = x / m
        denominator = 1.0 + z * z / m
        centre = (p + z * z / (2.0 * m)) / denominator
        half = z * np.sqrt(p * (1.0 - p) / m + z * z / (4.0 * m * m)) / denominator
        lower = np.clip(centre - half, 0.0, 1.0)
        upper = np.clip(centre + half, 0.0, 1.0)
    # Exact 0 and n are the cases where rounding may leave the interval a hair off the edge.
    lower = np.where(x <= 0, 0.0, lower)
    upper = np.where(x >= m, 1.0, upper)
    empty = m <= 0
    lower = np.where(empty, np.nan, lower)
    upper = np.where(empty, np.nan, upper)
    return lower, upper


def proportion_estimate(
    successes: float,
    n: float,
    confidence: float = 0.95,
    *,
    design_effect: float = 1.0,
    n_units: int | None = None,
) -> Estimate:
    """A proportion with its Wilson interval.

    ``design_effect`` (>= 1) widens the interval for rows clustered by image: the
    interval is computed on effective counts ``successes / deff`` and ``n / deff``
    (Kish). ``n_units`` is what the Estimate reports as n (defaults to ``n``).
    """
    deff = max(float(design_effect), 1.0) if np.isfinite(design_effect) else 1.0
    value = successes / n if n > 0 else float("nan")
    lower, upper = wilson_interval(successes / deff, n / deff, confidence)
    method = "wilson" if deff == 1.0 else "wilson-design-effect"
    return Estimate(
        value=float(value),
        lower=float(lower),
        upper=float(upper),
        n=int(n if n_units is None else n_units),
        method=method,
        confidence=confidence,
    )


def newcombe_interval(
    successes_a: ArrayLike,
    n_a: ArrayLike,
    successes_b: ArrayLike,
    n_b: ArrayLike,
    confidence: float = 0.95,
) -> tuple[np.ndarray, np.ndarray]:
    """Newcombe's hybrid score interval for ``p_a - p_b`` (independent samples), vectorised."""
    xa, na = np.asarray(successes_a, float), np.asarray(n_a, float)
    xb, nb = np.asarray(successes_b, float), np.asarray(n_b, float)
    la, ua = wilson_interval(xa, na, confidence)
    lb, ub = wilson_interval(xb, nb, confidence)
    with np.errstate(invalid="ignore", divide="ignore"):
        pa, pb = xa / na, xb / nb
        d = pa - pb
        lower = d - np.sqrt((pa - la) ** 2 + (ub - pb) ** 2)
        upper = d + np.sqrt((ua - pa) ** 2 + (pb - lb) ** 2)
    return lower, upper
