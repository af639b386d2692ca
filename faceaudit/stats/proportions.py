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


def _wilson_limits(
    successes_a: ArrayLike, n_a: ArrayLike, successes_b: ArrayLike, n_b: ArrayLike, confidence: float
) -> tuple[tuple[np.ndarray, np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray, np.ndarray], np.ndarray]:
    """(p, lower, upper) of each of two proportions (Wilson), and n_a: what every MOVER
    interval of two independent proportions is built from."""
    xa, na = np.asarray(successes_a, float), np.asarray(n_a, float)
    xb, nb = np.asarray(successes_b, float), np.asarray(n_b, float)
    la, ua = wilson_interval(xa, na, confidence)
    lb, ub = wilson_interval(xb, nb, confidence)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (xa / na, la, ua), (xb / nb, lb, ub), na


def newcombe_interval(
    successes_a: ArrayLike,
    n_a: ArrayLike,
    successes_b: ArrayLike,
    n_b: ArrayLike,
    confidence: float = 0.95,
) -> tuple[np.ndarray, np.ndarray]:
    """Newcombe's hybrid score interval for ``p_a - p_b`` (independent samples), vectorised."""
    (pa, la, ua), (pb, lb, ub), _ = _wilson_limits(successes_a, n_a, successes_b, n_b, confidence)
    with np.errstate(invalid="ignore", divide="ignore"):
        d = pa - pb
        lower = d - np.sqrt((pa - la) ** 2 + (ub - pb) ** 2)
        upper = d + np.sqrt((ua - pa) ** 2 + (pb - lb) ** 2)
    return lower, upper


def mover_ratio_interval(
    successes_a: ArrayLike,
    n_a: ArrayLike,
    successes_b: ArrayLike,
    n_b: ArrayLike,
    confidence: float = 0.95,
) -> tuple[np.ndarray, np.ndarray]:
    """MOVER-R interval for the ratio ``p_a / p_b`` of two independent proportions.

    Donner & Zou (2012), "Closed-form confidence intervals for functions of the normal
    mean and standard deviation", with Wilson limits for each proportion (the method
    Newcombe's hybrid interval uses for a difference). It stays inside the parameter
    space and keeps its coverage for small counts, where the log (Katz) interval does
    not. Undefined (NaN) where ``p_b`` is 0 or a group is empty; the upper end is
    ``inf`` when the lower Wilson limit of ``p_b`` is 0.
    """
    (pa, la, ua), (pb, lb, ub), na = _wilson_limits(successes_a, n_a, successes_b, n_b, confidence)
    with np.errstate(invalid="ignore", divide="ignore"):
        prod = pa * pb
        low_root = np.maximum(prod**2 - la * (2 * pb - ub) * ub * (2 * pa - la), 0.0)
        high_root = np.maximum(prod**2 - ua * (2 * pb - lb) * lb * (2 * pa - ua), 0.0)
        lower = (prod - np.sqrt(low_root)) / (ub * (2 * pb - ub))
        upper = (prod + np.sqrt(high_root)) / (lb * (2 * pb - lb))
        upper = np.where(lb <= 0, np.inf, upper)
        lower = np.maximum(lower, 0.0)
    undefined = ~(pb > 0) | ~(na > 0)
    return np.where(undefined, np.nan, lower), np.where(undefined, np.nan, upper)


def newcombe_paired_interval(
    both: ArrayLike,
    only_a: ArrayLike,
    only_b: ArrayLike,
    neither: ArrayLike,
    confidence: float = 0.95,
) -> tuple[np.ndarray, np.ndarray]:
    """Interval for ``p_a - p_b`` when both proportions are measured on the same items.

    Newcombe (1998), "Improved confidence intervals for the difference between binomial
    proportions based on paired data", method 10: Wilson limits of each marginal
    proportion combined with the phi correlation of the 2x2 table of paired outcomes.
    ``only_a`` counts items where A succeeded and B did not. Two identical sets of
    outcomes give an interval a hair around 0 (not the independent-samples width), which
    is what lets a model compared with itself pass a regression check.
    """
    a, b, c, d = (np.asarray(v, float) for v in (both, only_a, only_b, neither))
    n = a + b + c + d
    la, ua = wilson_interval(a + b, n, confidence)
    lb, ub = wilson_interval(a + c, n, confidence)
    with np.errstate(invalid="ignore", divide="ignore"):
        pa, pb = (a + b) / n, (a + c) / n
        margins = (a + b) * (c + d) * (a + c) * (b + d)
        phi = np.where(margins > 0, (a * d - b * c) / np.sqrt(margins), 0.0)
        diff = pa - pb
        lower = diff - np.sqrt(np.maximum(
            (pa - la) ** 2 - 2 * phi * (pa - la) * (ub - pb) + (ub - pb) ** 2, 0.0))
        upper = diff + np.sqrt(np.maximum(
            (ua - pa) ** 2 - 2 * phi * (ua - pa) * (pb - lb) + (pb - lb) ** 2, 0.0))
    empty = n <= 0
    return np.where(empty, np.nan, lower), np.where(empty, np.nan, upper)
