"""Vectorised cluster bootstrap over strata ("cells").

The unit of resampling is the image (cluster): when one image yields several rows,
those rows go in or out of a resample together. Sensitive attributes belong to the
image, so every cluster sits inside one cell (one full intersection of all attributes)
and resampling within each cell (a stratified bootstrap) yields, by summing cells,
consistent resamples of every marginal group, every intersection, each group's "rest"
and the overall population at once.

Speed comes from two facts. (1) Every metric used here is a function of additive
per-row features (confusion counts, bin counts...), so a resample is fully described by
its cell totals. (2) Clusters with identical discrete features are exchangeable, so
drawing clusters with replacement equals one multinomial draw over the distinct
*patterns* with probabilities proportional to their multiplicities. A million rows thus
shrink to a few dozen patterns per cell, and one ``Generator.multinomial`` call draws
all cells and all resamples together. Continuous features (e.g. confidence sums) are
held at their pattern mean within a resample; the point estimate stays exact.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from scipy.special import ndtr, ndtri  # the normal cdf/ppf without scipy.stats' dispatch cost

# Upper bound on the elements of one multinomial draw block (resamples x cells x patterns).
_BLOCK_ELEMENTS = 20_000_000


@dataclass(frozen=True)
class ClusterPatterns:
    """Clusters compressed to distinct patterns, grouped by cell."""

    n_cells: int
    pattern_cell: np.ndarray  # (P,) cell of each pattern
    counts: np.ndarray  # (P,) how many clusters share the pattern
    features: np.ndarray  # (P, D) per-cluster feature totals (continuous ones averaged)
    n_clusters: int
    max_rows_per_cluster: int

    @property
    def clusters_per_cell(self) -> np.ndarray:
        return np.bincount(self.pattern_cell, weights=self.counts, minlength=self.n_cells)

    def totals(self) -> np.ndarray:
        """Observed (not resampled) feature totals per cell, shape (n_cells, D)."""
        out = np.zeros((self.n_cells, self.features.shape[1]))
        np.add.at(out, self.pattern_cell, self.features * self.counts[:, None])
        return out


def _row_codes(matrix: np.ndarray) -> np.ndarray:
    """One integer per row identifying its (non-negative integer) content."""
    keep = matrix.max(axis=0) > 0 if matrix.shape[0] else np.zeros(matrix.shape[1], bool)
    m = matrix[:, keep]
    if m.shape[1] == 0:
        return np.zeros(matrix.shape[0], dtype=np.int64)
    radix = m.max(axis=0).astype(np.float64) + 1.0
    if float(np.prod(radix)) < 2.0**62:
        strides = np.concatenate([[1], np.cumprod(radix[:-1])]).astype(np.int64)
        return m.astype(np.int64) @ strides
    return np.unique(m, axis=0, return_inverse=True)[1].reshape(-1).astype(np.int64)


def compress_clusters(
    codes: np.ndarray,
    cells: np.ndarray,
    clusters: np.ndarray,
    n_codes: int,
    values: np.ndarray | None = None,
    n_cells: int | None = None,
) -> ClusterPatterns:
    """Group rows into clusters and clusters into distinct patterns per cell.

    Each row has a discrete ``code`` in ``[0, n_codes)`` (e.g. gold x predicted class) and
    optionally a continuous ``value`` (e.g. confidence). A cluster's features are its code
    counts (columns ``0..n_codes-1``) followed, when ``values`` is given, by the value sums
    per code (columns ``n_codes..2*n_codes-1``). Clusters with the same cell and code counts
    form one pattern; their value sums are averaged. A cluster found in two cells is split
    (its rows in each cell form a cluster), which only happens when an image carries
    different group labels on different rows.
    """
    codes = np.asarray(codes, dtype=np.int64)
    cells = np.asarray(cells, dtype=np.int64)
    clusters = np.asarray(clusters, dtype=np.int64)
    n_rows = codes.size
    if cells.shape != (n_rows,) or clusters.shape != (n_rows,):
        raise ValueError("codes, cells and clusters must have the same number of rows")
    if n_rows and (codes.min() < 0 or codes.max() >= n_codes):
        raise ValueError(f"codes must lie in [0, {n_codes})")
    n_cells = int(cells.max() + 1 if n_rows else 0) if n_cells is None else int(n_cells)
    has_values = values is not None
    vals = np.asarray(values, dtype=np.float64) if has_values else np.zeros(n_rows)
    width = n_codes * (2 if has_values else 1)

    if n_rows and _all_distinct(clusters):
        # Every row its own cluster (the common unclustered case): skip the 1M-row sort.
        n_clusters, rows_per_cluster = n_rows, np.ones(n_rows, np.int64)
    else:
        key = cells * (int(clusters.max()) + 1 if n_rows else 1) + clusters
        _, cluster_index, rows_per_cluster = np.unique(key, return_inverse=True, return_counts=True)
        n_clusters = rows_per_cluster.size
        cluster_cell = np.zeros(n_clusters, np.int64)
        cluster_cell[cluster_index] = cells
    if n_clusters == n_rows:
        # One row per cluster: the pattern is (cell, code); counting replaces sorting.
        pattern_key = cells * n_codes + codes
        all_counts = np.bincount(pattern_key, minlength=n_cells * n_codes)
        uniq = np.flatnonzero(all_counts)
        counts = all_counts[uniq]
        features = np.zeros((uniq.size, width))
        features[np.arange(uniq.size), uniq % n_codes] = 1.0
        if has_values:
            value_sum = np.bincount(pattern_key, weights=vals, minlength=n_cells * n_codes)[uniq]
            features[np.arange(uniq.size), n_codes + uniq % n_codes] = value_sum / counts
        pattern_cell = uniq // n_codes
    else:
        flat = cluster_index * n_codes + codes
        code_counts = np.bincount(flat, minlength=n_clusters * n_codes).reshape(n_clusters, n_codes)
        pattern_key = _row_codes(np.column_stack([cluster_cell, code_counts]))
        _, pattern_index, counts = np.unique(pattern_key, return_inverse=True, return_counts=True)
        n_patterns = counts.size
        features = np.zeros((n_patterns, width))
        features[pattern_index, :n_codes] = code_counts
        if has_values:
            value_flat = np.bincount(pattern_index[cluster_index] * n_codes + codes, weights=vals,
                                     minlength=n_patterns * n_codes)
            features[:, n_codes:] = value_flat.reshape(n_patterns, n_codes) / counts[:, None]
        pattern_cell = np.zeros(n_patterns, np.int64)
        pattern_cell[pattern_index] = cluster_cell
    return ClusterPatterns(
        n_cells=n_cells,
        pattern_cell=pattern_cell,
        counts=counts.astype(np.float64),
        features=features,
        n_clusters=n_clusters,
        max_rows_per_cluster=int(rows_per_cluster.max()) if n_rows else 0,
    )


def _all_distinct(ids: np.ndarray) -> bool:
    """Non-negative integer ids that are all different (cheap check via counting)."""
    if ids.min() < 0 or ids.max() >= 4 * ids.size:
        return np.unique(ids).size == ids.size
    return bool(np.bincount(ids).max() <= 1)


def null_group_totals(
    patterns: ClusterPatterns,
    group_clusters: np.ndarray,
    n_draws: int,
    rng: np.random.Generator,
    n_discrete: int | None = None,
) -> np.ndarray:
    """Feature totals of groups drawn under "no difference between groups", (n_draws, G, D).

    All clusters are pooled (cells ignored) and each group draws its own number of
    clusters, ``group_clusters[g]``, with replacement from the pool. A metric's
    distribution over these draws is its distribution when group membership carries no
    information: it keeps each group's size, so size-driven bias (ECE and macro-F1 of a
    small group are larger/smaller by chance alone) is part of the null. Comparing the
    observed statistic to these draws is a pooled-resampling (bootstrap) test of
    homogeneity, the resampling analogue of a permutation test. Patterns of the pool
    are merged on their first ``n_discrete`` (count) columns; the remaining continuous
    columns are averaged within a merged pattern.
    """
    if n_draws < 1:
        raise ValueError(f"n_draws must be at least 1, got {n_draws}")
    width = patterns.features.shape[1]
    n_discrete = width if n_discrete is None else int(n_discrete)
    discrete = patterns.features[:, :n_discrete]
    pooled = np.unique(discrete, axis=0, return_inverse=True)[1].reshape(-1)
    n_pool = int(pooled.max()) + 1 if pooled.size else 0
    weight = np.bincount(pooled, weights=patterns.counts, minlength=n_pool)
    features = np.zeros((n_pool, width))
    np.add.at(features, pooled, patterns.features * patterns.counts[:, None])
    features /= np.maximum(weight, 1e-300)[:, None]
    group_n = np.asarray(group_clusters, np.float64).round().astype(np.int64)
    out = np.empty((n_draws, group_n.size, width))
    if n_pool == 0:
        out[:] = 0.0
        return out
    pvals = weight / weight.sum()
    block = max(1, _BLOCK_ELEMENTS // max(group_n.size * n_pool, 1))
    for begin in range(0, n_draws, block):
        size = min(block, n_draws - begin)
        draws = rng.multinomial(group_n, pvals, size=(size, group_n.size))
        out[begin : begin + size] = draws.astype(np.float64) @ features
    return out


def exceedance_pvalue(null: np.ndarray, observed: np.ndarray, axis: int = 0) -> np.ndarray:
    """Resampling p-value ``(1 + #{null >= observed}) / (1 + #valid draws)``.

    The ``+1`` counts the observed data as one draw, which keeps the p-value valid (never
    below its nominal level under the null) for any number of draws. NaN draws are
    ignored; NaN when the observed statistic or every draw is NaN.
    """
    null = np.moveaxis(np.asarray(null, float), axis, 0)
    observed = np.asarray(observed, float)
    valid = ~np.isnan(null)
    # A tiny tolerance so that ties computed along different float paths count as ties.
    tol = 1e-12 * np.maximum(np.abs(observed), 1.0)
    exceed = (valid & (null >= observed - tol)).sum(axis=0)
    n_valid = valid.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = (1.0 + exceed) / (1.0 + n_valid)
    return np.where(np.isnan(observed) | (n_valid == 0), np.nan, p)


def bootstrap_cell_totals(
    patterns: ClusterPatterns, n_boot: int, rng: np.random.Generator
) -> np.ndarray:
    """Resampled feature totals per cell, shape (n_boot, n_cells, D).

    Each resample draws, in every cell independently, as many clusters as the cell has,
    with replacement (multinomial over the cell's patterns).
    """
    if n_boot < 1:
        raise ValueError(f"n_boot must be at least 1, got {n_boot}")
    n_cells, width = patterns.n_cells, patterns.features.shape[1]
    order = np.argsort(patterns.pattern_cell, kind="stable")
    cell_sorted = patterns.pattern_cell[order]
    per_cell = np.bincount(cell_sorted, minlength=n_cells)
    starts = np.concatenate([[0], np.cumsum(per_cell)[:-1]])
    slot = np.arange(order.size) - starts[cell_sorted]
    p_max = max(int(per_cell.max()) if n_cells else 0, 1)

    weights = np.zeros((n_cells, p_max))
    weights[cell_sorted, slot] = patterns.counts[order]
    padded = np.zeros((n_cells, p_max, width))
    padded[cell_sorted, slot] = patterns.features[order]
    n_per_cell = weights.sum(axis=1)
    pvals = np.zeros_like(weights)
    filled = n_per_cell > 0
    pvals[filled] = weights[filled] / n_per_cell[filled, None]
    pvals[~filled, 0] = 1.0  # n = 0 there, so the draw is all zeros

    n_draw = n_per_cell.astype(np.int64)
    out = np.empty((n_boot, n_cells, width))
    block = max(1, _BLOCK_ELEMENTS // max(n_cells * p_max, 1))
    for begin in range(0, n_boot, block):
        size = min(block, n_boot - begin)
        draws = rng.multinomial(n_draw, pvals, size=(size, n_cells))
        out[begin : begin + size] = np.einsum("bcp,cpd->bcd", draws.astype(np.float64), padded)
    return out


def percentile_interval(
    replicates: np.ndarray, confidence: float = 0.95, axis: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Percentile bootstrap interval; NaN replicates are ignored, all-NaN gives NaN.

    Linear interpolation as ``numpy.nanquantile``, on one sort of the whole array: nanquantile
    falls back to a Python loop over columns as soon as one NaN is present.
    """
    reps = np.moveaxis(np.asarray(replicates, float), axis, 0)
    n_valid = np.sum(~np.isnan(reps), axis=0)
    ordered = np.sort(reps, axis=0)  # NaN sorts last
    alpha = (1.0 - confidence) / 2.0
    lower = _take_quantile(ordered, n_valid, np.full(n_valid.shape, alpha))
    upper = _take_quantile(ordered, n_valid, np.full(n_valid.shape, 1.0 - alpha))
    empty = n_valid == 0
    return np.where(empty, np.nan, lower), np.where(empty, np.nan, upper)


def bias_corrected_interval(
    replicates: np.ndarray, point: np.ndarray, confidence: float = 0.95, axis: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Bias-corrected (BC) percentile interval (Efron 1981).

    Used for max-minus-min disparities, whose bootstrap distribution sits above the
    point estimate when groups are small: the percentiles are shifted by
    ``z0 = Phi^-1(share of replicates below the point estimate)``.
    """
    reps = np.moveaxis(np.asarray(replicates, float), axis, 0)
    point = np.asarray(point, float)
    valid = ~np.isnan(reps)
    n_valid = valid.sum(axis=0)
    below = (reps < point).sum(axis=0) + 0.5 * (reps == point).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.clip(below / n_valid, 0.5 / np.maximum(n_valid, 1), 1 - 0.5 / np.maximum(n_valid, 1))
    z0 = ndtri(share)
    z = ndtri(0.5 + confidence / 2.0)
    # Columns without valid replicates get a placeholder quantile; they are set to NaN below.
    q_low = np.nan_to_num(ndtr(2 * z0 - z), nan=0.5)
    q_high = np.nan_to_num(ndtr(2 * z0 + z), nan=0.5)
    sorted_reps = np.sort(np.where(valid, reps, np.inf), axis=0)
    lower = _take_quantile(sorted_reps, n_valid, q_low)
    upper = _take_quantile(sorted_reps, n_valid, q_high)
    undefined = (n_valid == 0) | np.isnan(point)
    return np.where(undefined, np.nan, lower), np.where(undefined, np.nan, upper)


def _take_quantile(sorted_reps: np.ndarray, n_valid: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Linear-interpolated quantile ``q`` (per column) of the first ``n_valid`` sorted values."""
    position = np.clip(q * (n_valid - 1), 0, np.maximum(n_valid - 1, 0))
    low = np.floor(position).astype(np.int64)
    high = np.minimum(low + 1, np.maximum(n_valid - 1, 0))
    frac = position - low
    lo_val = np.take_along_axis(sorted_reps, low[None, ...], axis=0)[0]
    hi_val = np.take_along_axis(sorted_reps, high[None, ...], axis=0)[0]
    with np.errstate(invalid="ignore"):
        return lo_val + frac * (hi_val - lo_val)


class _quiet_nan:
    """Silence numpy's 'All-NaN slice' warnings: an all-NaN column is a legitimate NaN result."""

    def __enter__(self) -> None:
        self._ctx = warnings.catch_warnings()
        self._ctx.__enter__()
        warnings.simplefilter("ignore", RuntimeWarning)

    def __exit__(self, *exc: object) -> None:
        self._ctx.__exit__(*exc)
