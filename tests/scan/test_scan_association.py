"""Word association: a planted stereotype is found and named; a clean corpus raises none."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scan_support import context, random_corpus

from faceaudit.scan.association import log_odds, scan_association


def test_planted_aggressive_five_times_more_often_is_found_and_named():
    # 'aggressive' in 10% of group B's answers and 2% of the others': five times as often.
    c = random_corpus(1, planted=("aggressive", "B", 0.10, 0.02), images_per_group=300)
    result = scan_association(context(c))
    significant = [w for w in result.words if w.significant]
    assert [(w.group, w.word) for w in significant] == [("B", "aggressive")]
    top = significant[0]
    assert top.lexicon_category == "threat" and top.z > 3 and top.q_value < 0.05
    assert top.share_group == pytest.approx(top.images_group / 300)
    threat = result.descriptors["threat"].groups["race=B"]
    assert threat.vs_rest.p_value < 0.001 and threat.vs_rest.lower > 0
    # Reported per group even where not significant: the lexicon word for group A.
    assert any(w.group == "A" and w.word == "aggressive" and not w.significant for w in result.words)


def test_clean_corpus_false_alarm_rate_over_seeds():
    seeds = range(40)
    alarms = sum(
        scan_association(context(random_corpus(seed, images_per_group=60, length=12))).n_significant > 0
        for seed in seeds
    )
    # Benjamini-Hochberg at 0.05 under the complete null: P(any discovery) <= 0.05.
    # 40 seeds: 6 or more alarms would happen with probability < 2% if the rate were 0.05.
    assert alarms / len(seeds) <= 0.125, f"{alarms} of {len(seeds)} clean corpora raised an alarm"


def test_log_odds_matches_monroe_formula_by_hand():
    y = np.array([[30.0, 10.0, 60.0], [10.0, 30.0, 60.0]])
    delta, z = log_odds(y, prior_strength=10.0)
    alpha = 10.0 * y.sum(0) / y.sum()
    a0, n_g, n_r = 10.0, 100.0, 100.0
    y_g, y_r = 30.0, 10.0
    expected = math.log((y_g + alpha[0]) / (n_g + a0 - y_g - alpha[0])) - math.log(
        (y_r + alpha[0]) / (n_r + a0 - y_r - alpha[0]))
    assert delta[0, 0] == pytest.approx(expected)
    assert z[0, 0] == pytest.approx(expected / math.sqrt(1 / (y_g + alpha[0]) + 1 / (y_r + alpha[0])))
    assert z[0, 2] == pytest.approx(0.0) and z[1, 0] == pytest.approx(-z[0, 0])


def test_power_to_find_the_planted_stereotype_over_seeds():
    found = sum(
        any(w.significant and (w.group, w.word) == ("B", "aggressive") for w in scan_association(
            context(random_corpus(seed, planted=("aggressive", "B", 0.10, 0.02), images_per_group=300))
        ).words)
        for seed in range(100, 120)
    )
    assert found >= 14, f"found in only {found} of 20 corpora"  # measured 0.875 over 40 seeds
