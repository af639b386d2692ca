"""The statistics the gate decides on: pairwise max-gap bounds, MOVER ratios, paired
differences, exact tests — against hand values, other libraries and simulated coverage."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import fisher_exact, studentized_range
from statsmodels.stats.contingency_tables import mcnemar

from faceaudit.stats.pairwise import (
    candidate_pairs,
    max_abs_t_critical_value,
    max_gap_interval_normal,
    max_gap_interval_proportions,
    pair_indices,
    tukey_z,
)
from faceaudit.stats.proportions import (
    mover_ratio_interval,
    newcombe_interval,
    newcombe_paired_interval,
)
from faceaudit.stats.significance import fisher_doubled_pvalue, mcnemar_pvalue, one_sided_pvalue


@pytest.mark.parametrize("k", [2, 7, 9])
def test_tukey_critical_value_matches_scipy_studentized_range(k):
    assert tukey_z(k) * np.sqrt(2) == pytest.approx(studentized_range.ppf(0.95, k, 100_000), rel=2e-3)


def test_max_gap_of_two_groups_is_their_newcombe_interval_folded():
    x, n = np.array([60.0, 75.0]), np.array([100.0, 100.0])
    gap, lower, upper = max_gap_interval_proportions(x, n)
    lo, hi = newcombe_interval(75, 100, 60, 100)
    assert gap == pytest.approx(0.15)
    assert upper == pytest.approx(float(hi))
    # the lower end is Tukey's for k = 2, i.e. the plain two-sided level: the same interval
    assert lower == pytest.approx(float(lo), abs=1e-6)


def test_max_gap_point_inside_interval_and_never_zero_width_at_parity():
    rng = np.random.default_rng(3)
    for _ in range(200):
        n = rng.integers(20, 400, 7)
        x = rng.binomial(n, 0.8)
        gap, lower, upper = max_gap_interval_proportions(x, n)
        assert lower <= gap <= upper
        assert upper - lower > 0.01


def _coverage(truth: np.ndarray, n: int, reps: int, seed: int) -> float:
    rng = np.random.default_rng(seed)
    gap = truth.max() - truth.min()
    hits = 0
    for _ in range(reps):
        _, lower, upper = max_gap_interval_proportions(rng.binomial(n, truth), np.full(truth.size, n))
        hits += lower <= gap <= upper
    return hits / reps


@pytest.mark.parametrize("n", [30, 100, 1000])
def test_max_gap_interval_covers_parity_at_the_nominal_rate(n):
    # A 95% interval: 93-97% at parity, where a false alarm is decided (1,200 reps: MC sd 0.6%).
    assert 0.93 <= _coverage(np.full(7, 0.8), n, 1200, seed=n) <= 0.975


@pytest.mark.parametrize("n", [30, 100])
def test_max_gap_interval_stays_valid_away_from_parity_in_small_groups(n):
    # One group 10 points apart, but groups too small to tell which pair is extreme: the
    # interval must stay valid there, so it is conservative (measured 99.3-99.5%).
    assert _coverage(np.array([0.8] * 6 + [0.7]), n, 600, seed=n + 1) >= 0.95


@pytest.mark.parametrize("truth", [[0.8] * 6 + [0.7], [0.9, 0.9, 0.8, 0.8, 0.8, 0.7, 0.7]])
def test_max_gap_interval_is_near_nominal_once_the_extreme_pair_is_clear(truth):
    # 1,000 per group: the screen keeps only the pairs that can be extreme, so the lower end
    # is no longer widened for all 21 pairs (Tukey: 98.8% and 99.3% here before the screen).
    assert 0.93 <= _coverage(np.array(truth), 1000, 800, seed=7) <= 0.985


def test_max_abs_t_critical_value_hand_values():
    # one pair: the plain two-sided normal value
    assert max_abs_t_critical_value(np.eye(2), np.array([0]), np.array([1])) == pytest.approx(1.959964)
    # every pair of k equally precise groups: Tukey's studentized range
    i, j = pair_indices(5)
    assert max_abs_t_critical_value(np.eye(5), i, j) == pytest.approx(tukey_z(5))
    # six groups against one control: the max of six equicorrelated (rho = 1/2) |normals|,
    # Dunnett's two-sided value, checked against scipy's multivariate normal probability
    from scipy.stats import multivariate_normal

    c = max_abs_t_critical_value(np.eye(7), np.arange(6), np.full(6, 6))
    corr = np.full((6, 6), 0.5) + 0.5 * np.eye(6)
    prob = multivariate_normal(np.zeros(6), corr).cdf(np.full(6, c), lower_limit=np.full(6, -c))
    assert prob == pytest.approx(0.95, abs=0.004)
    assert 1.96 < c < tukey_z(7)


def test_candidate_pairs_keep_every_pair_at_parity_and_only_the_extreme_ones_when_clear():
    i, j = candidate_pairs(np.full(6, 0.8), np.full(6, 0.02))
    assert i.size == 15
    # group 5 is clearly the worst, group 0 clearly the best: only that pair can be extreme
    i, j = candidate_pairs(np.array([0.95, 0.8, 0.8, 0.8, 0.8, 0.6]), np.full(6, 0.01))
    assert list(zip(i.tolist(), j.tolist(), strict=True)) == [(0, 5)]
    # four groups tied at the top, one clearly worst: the four pairs with it
    i, j = candidate_pairs(np.array([0.8, 0.8, 0.8, 0.8, 0.6]), np.full(5, 0.01))
    assert sorted(zip(i.tolist(), j.tolist(), strict=True)) == [(0, 4), (1, 4), (2, 4), (3, 4)]


def test_max_gap_normal_version_from_bootstrap_covariance():
    rng = np.random.default_rng(0)
    reps = rng.normal([0.5, 0.6, 0.55], 0.02, size=(4000, 3))
    gap, lower, upper = max_gap_interval_normal(np.array([0.5, 0.6, 0.55]), reps)
    se = np.sqrt(2) * 0.02
    assert gap == pytest.approx(0.1)
    assert upper == pytest.approx(0.1 + 1.959964 * se, abs=0.004)
    assert lower == pytest.approx(0.1 - tukey_z(3) * se, abs=0.004)


def test_mover_ratio_hand_values_and_properties():
    # Donner & Zou (2012) MOVER-R with Wilson limits, computed by hand for 20/100 over 10/100.
    lower, upper = mover_ratio_interval(20, 100, 10, 100)
    # Wilson limits 0.1334-0.2888 and 0.0552-0.1744 put into Donner & Zou's formulas by hand
    assert float(lower) == pytest.approx(1.001, abs=0.005)
    assert float(upper) == pytest.approx(4.00, abs=0.02)
    assert float(lower) < 2.0 < float(upper)
    lo0, hi0 = mover_ratio_interval(0, 50, 10, 50)
    assert float(lo0) == 0.0 and 0 < float(hi0) < 1
    assert np.isnan(mover_ratio_interval(3, 50, 0, 50)[0])


@pytest.mark.parametrize("n", [30, 100, 1000])
def test_mover_ratio_coverage(n):
    rng = np.random.default_rng(n)
    pa, pb, reps = 0.25, 0.2, 2000
    lo, hi = mover_ratio_interval(rng.binomial(n, pa, reps), n, rng.binomial(n, pb, reps), n)
    covered = np.mean((lo <= pa / pb) & (pa / pb <= hi))
    assert 0.93 <= covered <= 0.97


@pytest.mark.parametrize("n", [30, 100, 1000])
def test_newcombe_group_vs_rest_coverage(n):
    rng = np.random.default_rng(n + 7)
    reps = 3000
    xa, xb = rng.binomial(n, 0.7, reps), rng.binomial(6 * n, 0.8, reps)
    lo, hi = newcombe_interval(xa, n, xb, 6 * n)
    assert 0.93 <= np.mean((lo <= -0.1) & (hi >= -0.1)) <= 0.97


def test_paired_interval_of_identical_outcomes_is_a_hair_around_zero():
    lower, upper = newcombe_paired_interval(240, 0, 0, 60)
    assert float(lower) <= 0 <= float(upper)
    assert float(upper) - float(lower) < 0.02
    # the same margins treated as independent samples would be about 0.13 wide
    lo_ind, hi_ind = newcombe_interval(240, 300, 240, 300)
    assert float(hi_ind - lo_ind) > 0.12


def test_paired_interval_coverage():
    rng = np.random.default_rng(11)
    n, reps, hits = 300, 2000, 0
    # candidate correct 0.75, baseline 0.80, correlated through a shared item difficulty
    for _ in range(reps):
        u = rng.random(n)
        a, b = u < 0.75, u < 0.80
        flip = rng.random(n) < 0.1
        a = np.where(flip, rng.random(n) < 0.75, a)
        counts = [np.sum(a & b), np.sum(a & ~b), np.sum(~a & b), np.sum(~a & ~b)]
        lo, hi = newcombe_paired_interval(*counts)
        truth = 0.75 - 0.80  # the flipped items redraw at 0.75, so A's margin stays 0.75
        hits += lo <= truth <= hi
    assert 0.93 <= hits / reps <= 0.975


def test_fisher_doubled_is_twice_the_one_sided_tail():
    expected = 2 * fisher_exact([[5, 25], [144, 36]], alternative="less").pvalue
    assert fisher_doubled_pvalue(5, 30, 144, 180) == pytest.approx(min(1.0, expected))
    assert fisher_doubled_pvalue(24, 30, 144, 180) == 1.0
    assert one_sided_pvalue(0.02, -0.3, 0.0, harm_below=True) == pytest.approx(0.01)
    assert one_sided_pvalue(0.02, 0.3, 0.0, harm_below=True) == pytest.approx(0.99)


def test_fisher_keeps_the_family_wise_rate_where_the_z_test_does_not():
    from faceaudit.stats.significance import adjust_pvalues

    rng = np.random.default_rng(5)
    alarms, reps = 0, 1500
    for _ in range(reps):
        x = rng.binomial(30, 0.8, 7)
        p = [fisher_doubled_pvalue(x[g], 30, x.sum() - x[g], 180) / 2 for g in range(7)]
        alarms += adjust_pvalues(np.array(p), "holm", 0.05)[1].any()
    assert alarms / reps <= 0.05


def test_mcnemar_matches_statsmodels_exact():
    table = [[200, 14], [4, 82]]
    assert mcnemar_pvalue(14, 4) == pytest.approx(mcnemar(table, exact=True).pvalue)
    assert mcnemar_pvalue(0, 0) == 1.0


def test_chance_accuracy_reads_each_items_own_options():
    import pandas as pd

    from faceaudit.evaluate.metrics_input import chance_accuracy

    frame = pd.DataFrame({"options": [["a", "b"], ["a", "b", "c", "d"]], "option_probs": [None, None]})
    assert chance_accuracy(frame) == pytest.approx((1 / 2 + 1 / 4) / 2)
    # without options, the option probabilities say how many there were
    frame = pd.DataFrame({"option_probs": [[0.5, 0.5], [0.2, 0.2, 0.6]]})
    assert chance_accuracy(frame) == pytest.approx((1 / 2 + 1 / 3) / 2)
    # free-text answers with no options: unknown, not guessed
    assert chance_accuracy(pd.DataFrame({"option_probs": [None, None]})) is None
