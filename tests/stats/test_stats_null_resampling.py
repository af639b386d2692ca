"""Pooled-resampling null draws, resampling p-values, and the unclustered compression path."""

from __future__ import annotations

import math

import numpy as np
import pytest

from faceaudit.stats import compress_clusters, exceedance_pvalue, null_group_totals


def test_exceedance_pvalue_by_hand():
    null = np.array([0.1, 0.5, 0.3, np.nan, 0.5])
    # Draws >= 0.5: two of four valid ones -> (1 + 2) / (1 + 4).
    assert exceedance_pvalue(null, 0.5) == pytest.approx(3 / 5)
    assert exceedance_pvalue(null, 0.0) == pytest.approx(5 / 5)
    assert exceedance_pvalue(null, 9.0) == pytest.approx(1 / 5)  # never below 1 / (1 + draws)
    assert math.isnan(exceedance_pvalue(null, np.nan))
    cols = exceedance_pvalue(np.array([[0.1, 1.0], [0.2, 2.0]]), np.array([0.15, 5.0]))
    np.testing.assert_allclose(cols, [2 / 3, 1 / 3])


def test_null_draws_keep_group_sizes_and_pool_all_cells():
    # Cell 0: 6 hits; cell 1: 4 misses (one row per image). Pooled: P(hit) = 0.6.
    codes = np.array([1] * 6 + [0] * 4)
    cells = np.array([0] * 6 + [1] * 4)
    values = np.linspace(0.5, 0.95, 10)
    patterns = compress_clusters(codes, cells, np.arange(10), 2, values=values)
    draws = null_group_totals(patterns, np.array([6, 4]), 4000, np.random.default_rng(0), n_discrete=2)
    assert draws.shape == (4000, 2, 4)
    np.testing.assert_array_equal(draws[..., :2].sum(axis=-1), np.broadcast_to([6, 4], (4000, 2)))
    hit_share = draws[..., 1].sum(axis=0) / np.array([6, 4]) / 4000
    np.testing.assert_allclose(hit_share, [0.6, 0.6], atol=0.02)  # group identity carries nothing
    # Continuous columns are the pooled per-pattern means: hits carry mean(values[:6]) each.
    mean_hit = values[:6].mean()
    np.testing.assert_allclose(draws[..., 3], draws[..., 1] * mean_hit)
    with pytest.raises(ValueError, match="n_draws"):
        null_group_totals(patterns, np.array([6, 4]), 0, np.random.default_rng(0))


def test_unclustered_fast_path_equals_clustered_path():
    rng = np.random.default_rng(3)
    n = 500
    codes, cells, values = rng.integers(0, 6, n), rng.integers(0, 4, n), rng.random(n)
    fast = compress_clusters(codes, cells, rng.permutation(n), 6, values=values)
    # The same rows with image ids that are distinct but sparse (the sorting path).
    slow = compress_clusters(codes, cells, rng.permutation(n) * 10 + 10**9, 6, values=values)
    assert fast.n_clusters == slow.n_clusters == n and fast.max_rows_per_cluster == 1
    np.testing.assert_allclose(fast.totals(), slow.totals())
    np.testing.assert_allclose(fast.clusters_per_cell, np.bincount(cells, minlength=4))
