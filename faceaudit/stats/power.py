"""Power: the smallest gap a group size can reveal, and the size a gap needs."""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike
from scipy.special import ndtri
from statsmodels.stats.power import NormalIndPower


def _check(p: float, alpha: float, power: float) -> None:
    if not 0 < p < 1:
        raise ValueError(f"baseline proportion p must lie strictly between 0 and 1, got {p!r}")
    if not 0 < alpha < 1 or not 0 < power < 1:
        raise ValueError(f"alpha and power must lie in (0, 1), got alpha={alpha!r}, power={power!r}")


def minimum_detectable_difference(
    n_group: ArrayLike, n_rest: ArrayLike, p: float, alpha: float = 0.05, power: float = 0.8
) -> np.ndarray | float:
    """Smallest drop below baseline ``p`` a two-sided two-proportion test detects.

    Closed form on Cohen's arcsine scale, vectorised over group sizes:
    ``h = (z_{1-alpha/2} + z_power) * sqrt(1/n_group + 1/n_rest)`` (statsmodels'
    ``NormalIndPower`` without its negligible far-tail term), converted back to a
    difference below ``p``: ``p - sin(asin(sqrt(p)) - h/2)^2`` (a group doing worse than
    the rest). NaN where a group or its rest is empty.
    """
    _check(p, alpha, power)
    n1 = np.asarray(n_group, float)
    n2 = np.asarray(n_rest, float)
    with np.errstate(invalid="ignore", divide="ignore"):
        h = (ndtri(1 - alpha / 2) + ndtri(power)) * np.sqrt(1 / n1 + 1 / n2)
        angle = np.maximum(math.asin(math.sqrt(p)) - h / 2, 0.0)
        out = p - np.sin(angle) ** 2
    out = np.where((n1 > 0) & (n2 > 0), out, np.nan)
    return float(out) if out.ndim == 0 else out


def required_n(
    difference: float, p: float, ratio: float = 1.0, alpha: float = 0.05, power: float = 0.8
) -> int:
    """Items a group needs to detect a drop of ``difference`` below ``p`` (rest = ratio x group)."""
    _check(p, alpha, power)
    if not 0 < difference < p:
        raise ValueError(f"difference must lie in (0, p={p}), got {difference!r}")
    h = 2 * math.asin(math.sqrt(p)) - 2 * math.asin(math.sqrt(p - difference))
    n = NormalIndPower().solve_power(
        effect_size=h, nobs1=None, alpha=alpha, power=power, ratio=ratio, alternative="two-sided"
    )
    return int(np.ceil(float(n)))
