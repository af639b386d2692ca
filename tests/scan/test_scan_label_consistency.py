"""Label consistency on a hand-written corpus whose every contradiction is known."""

from __future__ import annotations

import pytest
from scan_support import context, corpus

from faceaudit.scan.scanners import scan_label_consistency, scan_representation

W = {"race": "White", "gender": "Male", "age": "20-29"}
E = {"race": "East Asian", "gender": "Female", "age": "60-69"}
S = {"race": "Southeast_Asian", "gender": "Female", "age": "3-9"}
ROWS = [
    # image, labels, aspect, answer                                          contradiction?
    ("w1", W, "demographic_attributes", "A White man, about 25 years old."),           # none
    ("w1", W, "skin_texture", "His skin is smooth against a white background."),       # none
    ("w2", W, "demographic_attributes", "She is a woman; her hair is long and she smiles."),  # gender
    ("w3", W, "demographic_attributes", "The man appears to be 65 years old."),         # age
    ("w4", W, "demographic_attributes", "An East Asian man around 30 years old."),      # race
    ("w5", W, "lighting_and_image_quality", "Even light on a Caucasian male face."),     # unsolicited
    ("e1", E, "demographic_attributes", "An elderly woman in her sixties."),            # none
    ("e2", E, "demographic_attributes", "A young girl with a round face."),             # age
    ("e3", E, "skin_texture", "Fine wrinkles around the eyes."),                        # none
    ("s1", S, "demographic_attributes", "An Asian girl, roughly 7 years old."),          # none
    ("s2", S, "demographic_attributes", "A middle-aged woman of Indian descent."),      # age + race
    ("s3", S, "face_pose", "The child faces the camera."),                              # unsolicited (child)
]


@pytest.fixture(scope="module")
def result():
    c = corpus(ROWS, attributes=("race", "gender"))
    return scan_label_consistency(context(c, min_group_n=1)), c


def test_each_planted_contradiction_is_found_and_nothing_else(result):
    res, c = result
    keys = {kind: set(v) for kind, v in res.examples.items()}
    assert keys["gender_contradiction"] == {"w2:demographic_attributes"}
    assert keys["age_contradiction"] == {"w3:demographic_attributes", "e2:demographic_attributes",
                                         "s2:demographic_attributes"}
    assert keys["race_contradiction"] == {"w4:demographic_attributes", "s2:demographic_attributes"}
    assert keys["unsolicited_any"] == {"w5:lighting_and_image_quality", "s3:face_pose"}
    any_rate = res.rates["any_contradiction"]
    assert any_rate.overall.value == pytest.approx(5 / 12)
    white = any_rate.groups["race=White"]
    assert (white.n_pairs, white.rate.value) == (6, pytest.approx(3 / 6))
    assert white.rate.n == 5  # images, not answers: one image has two answers


def test_group_rates_are_wilson_estimates_and_comparisons_carry_a_test(result):
    res, _ = result
    group = res.rates["any_contradiction"].groups["race=East Asian"]
    assert group.rate.method.startswith("wilson") and 0 <= group.rate.lower <= group.rate.value <= group.rate.upper
    assert group.vs_rest.null_value == 0.0 and 0.0 <= group.vs_rest.p_value <= 1.0
    assert group.vs_rest.value == pytest.approx(1 / 3 - 4 / 9)
    assert "race × gender=East Asian × Female" in res.rates["any_contradiction"].groups


def test_unsolicited_mentions_only_count_non_demographic_aspects(result):
    res, _ = result
    unsolicited = res.rates["unsolicited_any"]
    assert unsolicited.overall.n == 4  # images with a non-demographic answer: w1, w5, e3, s3
    assert unsolicited.overall.value == pytest.approx(2 / 4)


def test_representation_counts_and_missing_aspects():
    c = corpus(ROWS, attributes=("race", "gender"))
    rep = scan_representation(context(c))
    race = rep.attributes["race"]
    assert race.groups["White"].n_images == 5 and race.groups["White"].n_pairs == 6
    assert race.imbalance_images == pytest.approx(5 / 3)
    assert "face_pose" in race.missing_aspects["White"] and "face_pose" not in race.missing_aspects.get("Southeast_Asian", [])
    assert rep.n_pairs == 12 and rep.attributes["race × gender"].groups["White × Male"].n_images == 5


def test_a_group_absent_from_the_corpus_has_an_infinite_imbalance_the_report_can_print():
    from faceaudit.gate.verdict import fmt

    c = corpus(ROWS, attributes=("race",))
    c.columns[0].names.append("Indian")  # labelled in the dataset, no answer in the corpus
    race = scan_representation(context(c)).attributes["race"]
    assert race.groups["Indian"].n_images == 0 and race.imbalance_images == float("inf")
    assert fmt(race.imbalance_images) == "∞"
