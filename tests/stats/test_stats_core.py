"""Statistics core against hand-computed values, statsmodels, and simulated coverage."""

from __future__ import annotations

import math

import numpy as np
import pytest
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.power import NormalIndPower

from faceaudit.stats import (
    adjust_pvalues,
    bootstrap_cell_totals,
    compress_clusters,
    homogeneity_pvalue,
    minimum_detectable_difference,
    newcombe_interval,
    percentile_interval,
    proportion_estimate,
    required_n,
    two_proportion_pvalue,
    wilson_interval,
)


def test_wilson_matches_hand_computation_and_is_vectorised():
    lower, upper = wilson_interval(np.array([8, 0, 10]), np.array([10, 10, 10]))
    # 8/10: centre (0.8 + z^2/20) / (1 + z^2/10), half-width z sqrt(0.016 + z^2/400) / (1 + z^2/10)
    z = 1.959963984540054
    den = 1 + z * z / 10
    centre = (0.8 + z * z / 20) / den
    half = z * math.sqrt(0.8 * 0.2 / 10 + z * z / 400) / den
    assert lower[0] == pytest.approx(centre - half, abs=1e-12)
    assert upper[0] == pytest.approx(centre + half, abs=1e-12)
    assert (round(lower[0], 4), round(upper[0], 4)) == (0.4902, 0.9433)
    assert lower[1] == 0.0 and upper[2] == 1.0
    assert upper[1] == pytest.approx(z * z / 10 / den, abs=1e-12)


def test_empty_group_is_nan_not_zero():
    lower, upper = wilson_interval(0, 0)
    assert math.isnan(lower) and math.isnan(upper)
    estimate = proportion_estimate(0, 0)
    assert math.isnan(estimate.value) and estimate.n == 0


def test_design_effect_widens_interval():
    plain = proportion_estimate(80, 100)
    clustered = proportion_estimate(80, 100, design_effect=2.0, n_units=50)
    assert clustered.value == plain.value == 0.8
    assert clustered.upper - clustered.lower > plain.upper - plain.lower
    assert clustered.method == "wilson-design-effect" and clustered.n == 50


def test_newcombe_matches_published_example():
    # Newcombe (1998), method 10: 56/70 versus 48/80 -> 0.0524 to 0.3339.
    lower, upper = newcombe_interval(56, 70, 48, 80)
    assert round(float(lower), 4) == 0.0524
    assert round(float(upper), 4) == 0.3339


@pytest.mark.parametrize("n", [30, 100, 1000])
def test_wilson_coverage_by_simulation(n):
    rng = np.random.default_rng(n)
    truth = rng.uniform(0.2, 0.9, 40_000)
    successes = rng.binomial(n, truth)
    lower, upper = wilson_interval(successes, np.full(truth.size, n))
    coverage = np.mean((lower <= truth) & (truth <= upper))
    assert 0.93 <= coverage <= 0.97


@pytest.mark.parametrize("n", [30, 100, 1000])
def test_cluster_bootstrap_coverage_by_simulation(n):
    """Each cell is one simulated data set: one bootstrap call covers 1,000 of them."""
    rng = np.random.default_rng(7 + n)
    sets, rows_per_image = 1000, 2
    truth = 0.75
    # Images share a random effect, so rows of an image are correlated.
    image_p = np.clip(truth + rng.normal(0, 0.15, (sets, n)), 0, 1)
    hits = rng.random((sets, n, rows_per_image)) < image_p[..., None]
    cells = np.repeat(np.arange(sets), n * rows_per_image)
    images = np.repeat(np.arange(sets * n), rows_per_image)
    patterns = compress_clusters(hits.reshape(-1).astype(int), cells, images, 2)
    totals = bootstrap_cell_totals(patterns, 1000, np.random.default_rng(1))
    accuracy = totals[..., 1] / totals.sum(axis=-1)
    lower, upper = percentile_interval(accuracy)
    true_mean = np.mean(np.clip(truth + rng.normal(0, 0.15, 2_000_000), 0, 1))
    coverage = np.mean((lower <= true_mean) & (true_mean <= upper))
    assert 0.93 <= coverage <= 0.97


def test_bootstrap_keeps_images_together_and_centres_on_observed():
    # Cell 0: image 0 has rows (hit, hit), image 1 has (miss, miss). Cell 1: one image, 3 rows.
    codes = np.array([1, 1, 0, 0, 1, 0, 1])
    cells = np.array([0, 0, 0, 0, 1, 1, 1])
    images = np.array([0, 0, 1, 1, 2, 2, 2])
    patterns = compress_clusters(codes, cells, images, 2)
    assert patterns.n_clusters == 3 and patterns.max_rows_per_cluster == 3
    totals = bootstrap_cell_totals(patterns, 2000, np.random.default_rng(0))
    hits0 = totals[:, 0, 1]
    assert set(np.unique(hits0)) <= {0.0, 2.0, 4.0}  # whole images only
    assert np.all(totals[:, 0].sum(axis=1) == 4)  # cell size kept
    assert np.all(totals[:, 1] == [1.0, 2.0])  # a single-image cell never varies
    assert hits0.mean() == pytest.approx(2.0, abs=0.1)
    np.testing.assert_array_equal(patterns.totals(), [[2, 2], [1, 2]])


def test_adjusted_pvalues_match_statsmodels_and_keep_nan():
    p = np.array([0.01, 0.04, np.nan, 0.03, 0.2])
    for method in ("holm", "fdr_bh"):
        adjusted, reject = adjust_pvalues(p, method)
        expected_reject, expected, _, _ = multipletests(p[~np.isnan(p)], alpha=0.05, method=method)
        np.testing.assert_allclose(adjusted[~np.isnan(p)], expected)
        assert math.isnan(adjusted[2]) and not reject[2]
        np.testing.assert_array_equal(reject[~np.isnan(p)], expected_reject)
    # Holm by hand: sorted 0.01, 0.03, 0.04, 0.2 times 4, 3, 2, 1 (monotone).
    np.testing.assert_allclose(adjust_pvalues(p, "holm")[0][[0, 3, 1, 4]], [0.04, 0.09, 0.09, 0.2])
    with pytest.raises(ValueError, match="correction must be one of"):
        adjust_pvalues(p, "bonferonni")


def test_minimum_detectable_difference_by_hand_and_statsmodels():
    n1, n2, p = 100, 400, 0.8
    z = 1.959963984540054 + 0.8416212335729143
    h = z * math.sqrt(1 / n1 + 1 / n2)
    by_hand = p - math.sin(math.asin(math.sqrt(p)) - h / 2) ** 2
    assert minimum_detectable_difference(n1, n2, p) == pytest.approx(by_hand, abs=1e-12)
    h_sm = NormalIndPower().solve_power(nobs1=n1, ratio=n2 / n1, alpha=0.05, power=0.8)
    assert h == pytest.approx(h_sm, rel=1e-3)
    assert required_n(by_hand, p, ratio=4) in (n1, n1 + 1)
    many = minimum_detectable_difference(np.array([30, 300, 0]), np.array([300, 300, 300]), p)
    assert many[0] > many[1] and math.isnan(many[2])


def test_two_proportion_and_homogeneity_tests():
    p, test = two_proportion_pvalue(60, 100, 80, 100)
    pooled = 0.7
    z = 0.2 / math.sqrt(pooled * 0.3 * 0.02)
    assert test == "two-proportion-z"
    assert p == pytest.approx(math.erfc(z / math.sqrt(2)), rel=1e-9)
    assert two_proportion_pvalue(1, 4, 4, 4)[1] == "fisher-exact"
    # Two groups: the chi-square test of homogeneity equals the pooled z test squared.
    assert homogeneity_pvalue([60, 80], [100, 100]) == pytest.approx(p, rel=1e-9)
    assert homogeneity_pvalue([10, 10], [10, 10]) == 1.0
