"""The simulated model: planted accuracies, determinism, calibration knob."""

from __future__ import annotations

import math

import numpy as np
import pytest

from faceaudit.data.records import McqItem
from faceaudit.evaluate.config import EvaluateConfig
from faceaudit.models import make_model
from faceaudit.models.simulated import SimulatedFaceModel


def _items(n: int, group: str, task: str = "gender") -> list[McqItem]:
    return [
        McqItem(
            item_id=f"{group}-{task}-{i}",
            image_ids=[f"{group}{i}"],
            image_paths=[f"{group}{i}.png"],
            task=task,
            question="?",
            options=["w", "x", "y", "z"],
            answer="ABCD"[i % 4],
            groups={"skin_tone": group, "gender": "female" if i % 2 else "male"},
        )
        for i in range(n)
    ]


def _accuracy(model: SimulatedFaceModel, items: list[McqItem]) -> float:
    scores = model.score_options(items, None)
    return float(np.mean([int(np.argmax(s)) == item.answer_index for s, item in zip(scores, items, strict=True)]))


def test_planted_accuracies_are_realised_within_sampling_error() -> None:
    model = SimulatedFaceModel({"default": 0.9, "skin_tone=dark": 0.6}, seed=0)
    n = 2000
    light, dark = _accuracy(model, _items(n, "light")), _accuracy(model, _items(n, "dark"))
    # 4 standard errors: a fixed seed, so this either always holds or never does.
    assert abs(light - 0.9) < 4 * math.sqrt(0.9 * 0.1 / n)
    assert abs(dark - 0.6) < 4 * math.sqrt(0.6 * 0.4 / n)


def test_the_most_specific_rule_wins_and_ties_take_the_lowest() -> None:
    model = SimulatedFaceModel(
        {"default": 0.9, "skin_tone=dark": 0.6, "skin_tone=dark&gender=female": 0.3, "gender=female": 0.5,
         "task=age": 0.7}
    )
    female_dark, male_dark = _items(2, "dark")[1], _items(2, "dark")[0]
    assert model.accuracy_for(female_dark) == 0.3
    assert model.accuracy_for(male_dark) == 0.6
    assert model.accuracy_for(_items(2, "light")[1]) == 0.5
    assert model.accuracy_for(_items(1, "light", task="age")[0]) == 0.7  # task=age vs nothing else
    assert model.accuracy_for(_items(2, "light", task="age")[1]) == 0.5  # ties: min(0.7, 0.5)
    assert model.accuracy_for(_items(1, "light")[0]) == 0.9


def test_answers_depend_on_seed_and_item_only() -> None:
    items = _items(50, "light")
    a = SimulatedFaceModel({"default": 0.5}, seed=1)
    b = SimulatedFaceModel({"default": 0.5}, seed=1)
    c = SimulatedFaceModel({"default": 0.5}, seed=2)
    assert a.score_options(items, None) == b.score_options(list(reversed(items)), None)[::-1]
    assert a.generate(items, None, 4) == b.generate(items, None, 4)
    assert a.score_options(items, None) != c.score_options(items, None)


def test_option_probs_are_calibrated_unless_told_otherwise() -> None:
    items = _items(4, "light")
    calibrated = SimulatedFaceModel({"default": 0.7})
    for item in items:
        probs = calibrated.option_probs(item)
        assert max(probs) == pytest.approx(0.7) and sum(probs) == pytest.approx(1.0)
        assert sorted(probs)[:3] == pytest.approx([0.1, 0.1, 0.1])
    overconfident = SimulatedFaceModel({"default": 0.7}, overconfidence=0.25)
    assert max(overconfident.option_probs(items[0])) == pytest.approx(0.95)


def test_bad_configuration_is_named() -> None:
    with pytest.raises(ValueError, match="needs a 'default' entry"):
        SimulatedFaceModel({"skin_tone=dark": 0.5})
    with pytest.raises(ValueError, match=r"must lie in \[0, 1\]"):
        SimulatedFaceModel({"default": 1.5})
    with pytest.raises(ValueError, match="attribute=value"):
        SimulatedFaceModel({"default": 0.9, "dark": 0.5})


def test_make_model_builds_it_from_the_config() -> None:
    cfg = EvaluateConfig(backend="simulated", simulated_accuracy={"default": 0.8, "skin_tone=dark": 0.4},
                         simulated_invalid_rate=0.2)
    model = make_model(cfg, seed=4)
    assert isinstance(model, SimulatedFaceModel)
    assert (model.seed, model.invalid_rate, model.name) == (4, 0.2, "simulated")
    assert model.accuracy_for(_items(1, "dark")[0]) == 0.4
