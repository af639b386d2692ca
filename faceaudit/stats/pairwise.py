"""Intervals for the largest gap between groups, built from pairwise comparisons.

The max-minus-min of group estimates is biased upward when groups are small (the
largest of many noisy gaps is large even when every group is equal), and a bootstrap
of the extreme inherits that bias, so its interval is not valid. Here the gap is
bounded through the pairs instead (docs/design.md, "Statistics"):

* **upper end** = the largest pairwise upper bound of ``|p_i - p_j|`` at the stated
  confidence. The true largest gap is the gap of one particular pair, whose own interval
  covers it, so this is a valid upper bound without any correction; "every gap is below
  the limit" is an intersection-union test, which needs none (Berger 1982).
* **lower end** = the largest pairwise *simultaneous* lower bound: each pair's interval
  widened to Tukey's studentized-range critical value for k groups (Tukey-Kramer, large
  samples), so that when every group is in fact equal all lower bounds reach 0 with the
  stated confidence: a true gap of 0 is covered at the nominal rate, not far above it as
  with Bonferroni over the pairs.

The point estimate (the observed max - min) always lies inside: it is the absolute gap of
one pair, whose interval contains it. Away from parity the interval is conservative (about
99% coverage when one group stands apart): no interval for an extreme is both valid at
parity and exact elsewhere; measured coverage is in ``docs/selftest.md``.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from numpy.typing import ArrayLike
from scipy.optimize import brentq
from scipy.special import ndtr, ndtri

from faceaudit.stats.proportions import newcombe_interval


def pair_indices(k: int) -> tuple[np.ndarray, np.ndarray]:
    """Every unordered pair (i < j) of ``k`` groups."""
    i, j = np.triu_indices(k, 1)
    return i, j


@lru_cache(maxsize=256)
def tukey_z(k: int, confidence: float = 0.95) -> float:
    """Critical value for simultaneous intervals of all k(k-1)/2 pairwise differences.

    The quantile q of the range of k independent standard normals (the studentized range
    with infinite degrees of freedom), divided by sqrt(2): a difference of two means with
    standard error se lies within z * se for every pair at once with probability
    ``confidence`` (Tukey 1953; Kramer 1956 for unequal sizes, conservative: Hayter 1984).
    ``P(range <= q) = k * integral phi(x) (Phi(x + q) - Phi(x))^(k-1) dx``, integrated on a
    fine grid (scipy's studentized_range takes seconds per quantile).
    """
    if k < 2:
        raise ValueError("pairwise intervals need at least two groups")
    x = np.linspace(-9.0, 9.0, 6001)
    phi = np.exp(-0.5 * x * x) / np.sqrt(2 * np.pi)
    step = x[1] - x[0]

    def coverage(q: float) -> float:
        return float(k * np.sum(phi * (ndtr(x + q) - ndtr(x)) ** (k - 1)) * step) - confidence

    return float(brentq(coverage, 0.01, 20.0, xtol=1e-10)) / np.sqrt(2.0)


def _simultaneous_confidence(k: int, confidence: float) -> float:
    """Per-pair two-sided confidence whose normal critical value is Tukey's for k groups."""
    return float(1.0 - 2.0 * ndtr(-tukey_z(k, confidence)))


def _abs_bounds(lower: np.ndarray, upper: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Bounds for ``|d|`` from bounds ``[lower, upper]`` for ``d``."""
    abs_upper = np.maximum(np.abs(lower), np.abs(upper))
    abs_lower = np.where((lower > 0) | (upper < 0), np.minimum(np.abs(lower), np.abs(upper)), 0.0)
    return abs_lower, abs_upper


def max_gap_interval_proportions(
    successes: ArrayLike, n: ArrayLike, confidence: float = 0.95
) -> tuple[float, float, float]:
    """(max - min, lower, upper) for proportions ``successes / n`` of k >= 2 groups.

    Pairwise Newcombe hybrid score intervals (effective counts allowed); see the module
    docstring for why each end is valid.
    """
    x, m = np.asarray(successes, float), np.asarray(n, float)
    if x.size < 2:
        raise ValueError("a gap needs at least two groups")
    p = x / m
    i, j = pair_indices(x.size)
    lo, hi = newcombe_interval(x[i], m[i], x[j], m[j], confidence)
    slo, shi = newcombe_interval(x[i], m[i], x[j], m[j], _simultaneous_confidence(x.size, confidence))
    _, abs_upper = _abs_bounds(lo, hi)
    abs_lower, _ = _abs_bounds(slo, shi)
    return float(p.max() - p.min()), float(np.nanmax(abs_lower)), float(np.nanmax(abs_upper))


def max_gap_interval_normal(
    values: ArrayLike, replicates: np.ndarray, confidence: float = 0.95
) -> tuple[float, float, float]:
    """(max - min, lower, upper) for any metric, from bootstrap replicates (n_boot, k).

    Each pairwise difference gets a normal interval whose standard error comes from the
    bootstrap covariance of the two groups (clustered resampling keeps the dependence);
    the ends are then combined as for proportions. Replicates that are NaN (a group with
    no usable rows in a draw) are replaced by that group's mean replicate.
    """
    v = np.asarray(values, float)
    reps = np.asarray(replicates, float)
    if v.size < 2:
        raise ValueError("a gap needs at least two groups")
    with np.errstate(invalid="ignore"):
        filled = np.where(np.isnan(reps), np.nanmean(reps, axis=0), reps)
    cov = np.atleast_2d(np.cov(filled, rowvar=False))
    i, j = pair_indices(v.size)
    se = np.sqrt(np.maximum(cov[i, i] + cov[j, j] - 2 * cov[i, j], 0.0))
    d = v[i] - v[j]
    z, z_sim = ndtri(0.5 + confidence / 2), tukey_z(v.size, confidence)
    _, abs_upper = _abs_bounds(d - z * se, d + z * se)
    abs_lower, _ = _abs_bounds(d - z_sim * se, d + z_sim * se)
    return float(v.max() - v.min()), float(np.nanmax(abs_lower)), float(np.nanmax(abs_upper))
