"""Per-group rates and means over answers, clustered by image.

One image yields up to eight answers, and what the generator says about one
image is correlated across them, so every interval is widened by the design
effect of that clustering (cluster-robust variance over the simple-random-sample
variance, Kish) and reports ``n`` = images. A group against the rest is a
difference of proportions with Newcombe's interval on effective counts and a
two-sided, unadjusted p-value (the gate corrects for multiplicity itself).
"""

from __future__ import annotations

import math

import numpy as np

from faceaudit.scan.table import GroupColumn, ScanCorpus
from faceaudit.schema.common import Estimate
from faceaudit.schema.corpus_scan import GroupRate, RateTable
from faceaudit.stats.proportions import newcombe_interval, proportion_estimate, wilson_interval
from faceaudit.stats.significance import two_proportion_pvalue

_Z = 1.959963984540054


def _design_effect(y: np.ndarray, m: np.ndarray) -> float:
    """Design effect of a ratio estimate sum(y)/sum(m) over clusters with totals (y, m)."""
    keep = m > 0
    y, m = y[keep], m[keep]
    k, total = len(m), float(m.sum())
    if k < 2 or total <= 0:
        return 1.0
    p = float(y.sum()) / total
    if p <= 0.0 or p >= 1.0:
        return 1.0
    clustered = k / (k - 1) * float(((y - p * m) ** 2).sum()) / total**2
    simple = p * (1 - p) / total
    return max(1.0, clustered / simple)


def _design_effects(k: np.ndarray, m: np.ndarray, y: np.ndarray, yy: np.ndarray, ym: np.ndarray,
                    mm: np.ndarray) -> np.ndarray:
    """``_design_effect`` for many groups at once, from per-group sums over their images.

    k images, and sums of m, y, y^2, y*m, m^2; sum((y - p m)^2) = yy - 2p ym + p^2 mm.
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        p = y / m
        residual = np.maximum(yy - 2 * p * ym + p * p * mm, 0.0)
        clustered = k / (k - 1) * residual / (m * m)
        simple = p * (1 - p) / m
        deff = clustered / simple
    usable = (k >= 2) & (m > 0) & (p > 0) & (p < 1)
    return np.where(usable, np.maximum(deff, 1.0), 1.0)


class RateBuilder:
    """Turns a flag per answer into a :class:`RateTable` for every group column (vectorised)."""

    def __init__(self, corpus: ScanCorpus, min_group_n: int) -> None:
        self.corpus = corpus
        self.min_group_n = min_group_n
        self.labelled = corpus.labelled_pairs

    def table(self, description: str, flags: np.ndarray, eligible: np.ndarray | None = None) -> RateTable:
        """``flags`` (bool per pair) among ``eligible`` pairs (default: every labelled pair)."""
        eligible = self.labelled if eligible is None else (eligible & self.labelled)
        n_images = self.corpus.n_images
        m = np.bincount(self.corpus.image[eligible], minlength=n_images).astype(float)
        y = np.bincount(self.corpus.image[eligible & flags], minlength=n_images).astype(float)
        overall = self._estimate(y, m)
        groups: dict[str, GroupRate] = {}
        for column in self.corpus.columns:
            groups.update(self._groups(column, y, m))
        return RateTable(description=description, overall=overall, groups=groups)

    def _estimate(self, y: np.ndarray, m: np.ndarray) -> Estimate:
        deff = _design_effect(y, m)
        return proportion_estimate(
            float(y.sum()), float(m.sum()), design_effect=deff, n_units=int((m > 0).sum())
        )

    def _groups(self, column: GroupColumn, y: np.ndarray, m: np.ndarray) -> dict[str, GroupRate]:
        size = len(column.names)
        code = column.of_image
        keep = (code >= 0) & (m > 0)
        g, yk, mk = code[keep], y[keep], m[keep]

        def sums(weights: np.ndarray | None) -> np.ndarray:
            return np.bincount(g, weights=weights, minlength=size).astype(float)

        group = [sums(None), sums(mk), sums(yk), sums(yk * yk), sums(yk * mk), sums(mk * mk)]
        rest = [part.sum() - part for part in group]
        k, mg, yg = group[0], group[1], group[2]
        mr, yr = rest[1], rest[2]
        dg, dr = _design_effects(*group), _design_effects(*rest)
        lower, upper = wilson_interval(yg / dg, mg / dg)
        d_lower, d_upper = newcombe_interval(yg / dg, mg / dg, yr / dr, mr / dr)
        with np.errstate(divide="ignore", invalid="ignore"):
            value, rest_value = yg / mg, yr / mr
        out: dict[str, GroupRate] = {}
        for c in np.flatnonzero(k > 0):
            method = "wilson" if dg[c] == 1.0 else "wilson-design-effect"
            rate = Estimate(value=float(value[c]), lower=float(lower[c]), upper=float(upper[c]),
                            n=int(k[c]), method=method)
            vs_rest = None
            if mr[c] > 0:
                p_value, _ = two_proportion_pvalue(
                    float(yg[c] / dg[c]), float(mg[c] / dg[c]), float(yr[c] / dr[c]), float(mr[c] / dr[c])
                )
                vs_rest = Estimate(
                    value=float(value[c] - rest_value[c]), lower=float(d_lower[c]),
                    upper=float(d_upper[c]), n=int(k[c]),
                    method="newcombe" if dg[c] == dr[c] == 1.0 else "newcombe-design-effect",
                    null_value=0.0, p_value=float(p_value),
                )
            out[column.key(int(c))] = GroupRate(
                attribute=column.attribute, group=column.names[c], n_pairs=int(mg[c]), rate=rate,
                vs_rest=vs_rest, small_group=int(k[c]) < self.min_group_n,
            )  # fmt: skip
        return out


def _difference(yg: np.ndarray, mg: np.ndarray, yr: np.ndarray, mr: np.ndarray, n: int) -> Estimate:
    dg, dr = _design_effect(yg, mg), _design_effect(yr, mr)
    xg, ng = yg.sum() / dg, mg.sum() / dg
    xr, nr = yr.sum() / dr, mr.sum() / dr
    lower, upper = newcombe_interval(xg, ng, xr, nr)
    p_value, _ = two_proportion_pvalue(float(xg), float(ng), float(xr), float(nr))
    value = float(yg.sum() / mg.sum() - yr.sum() / mr.sum())
    method = "newcombe" if dg == dr == 1.0 else "newcombe-design-effect"
    return Estimate(
        value=value, lower=float(lower), upper=float(upper), n=n, method=method,
        null_value=0.0, p_value=float(p_value),
    )


def mean_estimate(values: np.ndarray, image: np.ndarray, n_images: int) -> Estimate:
    """Mean of ``values`` (one per answer) with a cluster-robust normal interval."""
    if len(values) == 0:
        nan = float("nan")
        return Estimate(value=nan, lower=nan, upper=nan, n=0, method="mean-cluster-robust")
    m = np.bincount(image, minlength=n_images).astype(float)
    s = np.bincount(image, weights=values, minlength=n_images)
    keep = m > 0
    m, s = m[keep], s[keep]
    k, total = len(m), m.sum()
    mean = float(s.sum() / total)
    if k > 1:
        se = math.sqrt(k / (k - 1) * float(((s - mean * m) ** 2).sum())) / total
    else:
        se = float("nan")
    return Estimate(
        value=mean, lower=mean - _Z * se, upper=mean + _Z * se, n=k, method="mean-cluster-robust"
    )
