"""Tone (sentiment, hedging, refusals) and hygiene (duplicates, copies, personal data)."""

from __future__ import annotations

import pytest
from scan_support import context, corpus

from faceaudit.scan.hygiene import scan_hygiene
from faceaudit.scan.tokens import tokenize
from faceaudit.scan.tone import scan_tone, sentiment_scores

A = {"race": "White", "gender": "Male"}
B = {"race": "Black", "gender": "Female"}


def test_sentiment_sign_and_negation():
    scores = sentiment_scores(tokenize(["A happy, friendly smile.", "An angry, hostile stare.",
                                        "She is not happy.", "The face is turned left."]))
    assert scores[0] > 0.5 and scores[1] < -0.5 and scores[2] < 0 and scores[3] == 0


def test_hedging_and_refusal_rates_per_group():
    rows = [
        ("a1", A, "face_pose", "The face appears to be turned slightly left."),
        ("a2", A, "face_pose", "The face is frontal."),
        ("b1", B, "face_pose", "I'm sorry, but I can't help with identifying people in images."),
        ("b2", B, "face_pose", "The face is frontal and cannot be mistaken for a profile."),
    ]
    result = scan_tone(context(corpus(rows, attributes=("race", "gender")), min_group_n=1))
    assert result.rates["hedging"].groups["race=White"].rate.value == pytest.approx(0.5)
    refusal = result.rates["refusal"]
    assert refusal.groups["race=Black"].rate.value == pytest.approx(0.5)
    assert refusal.groups["race=White"].rate.value == 0.0
    assert set(result.sentiment) >= {"overall", "race=White", "race=Black", "race × gender=Black × Female"}


def test_duplicates_cross_group_copies_and_personal_data():
    base = ("The man has short dark hair, a calm expression and even lighting across the face, "
            "with a slight shadow under the chin and a plain grey background behind him.")
    rows = [
        ("a1", A, "overall_detail", base),
        ("a2", A, "overall_detail", base.upper()),                                   # exact (case aside)
        ("a3", A, "overall_detail", base.replace("plain grey", "plain light grey")),  # near
        ("b1", B, "overall_detail", base.replace("The man", "The woman").replace("him", "her")),  # copy
        ("b2", B, "overall_detail", "Contact dr. Smith? No: write to jane.doe@example.org or call +1 415-555-0132."),
        ("b3", B, "overall_detail", "Dr. Smith took the photo at 224 x 224 pixels; she looks 30-40 years old."),
        ("b4", B, "overall_detail", "A woman named Maria Lopez smiles."),
    ]
    ctx = context(corpus(rows), min_group_n=1)
    result = scan_hygiene(ctx)
    assert result.n_exact_duplicates == 1
    assert result.n_near_duplicates == 2  # a3, and b1: two words of thirty changed
    assert result.cross_group_copies_by_attribute["race"] == 3  # a1, a2 and b1 share a masked text
    assert result.personal_data_by_kind == {"email": 1, "phone": 1, "name": 2}
    assert set(result.flagged_personal_data) == {"b2:overall_detail", "b3:overall_detail", "b4:overall_detail"}
    assert result.examples[0].count == 2 and result.examples[0].groups == ["race=White"]
    assert ctx.flags["personal data"].sum() == 3
