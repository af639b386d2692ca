"""Perturbed answers survive a crash: the rerun answers only what is missing, never mixes models.

A model that dies after a few batches stands in for a killed process; the rerun must give the
section an uninterrupted run gives, with every (condition, item) answer stored exactly once,
and must not ask the model again for chunks whose answers were all stored.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from PIL import Image

from faceaudit.data.records import McqItem
from faceaudit.errors import StaleResultsError
from faceaudit.evaluate.predict import predict
from faceaudit.models.simulated import SimulatedFaceModel
from faceaudit.perturb.config import PerturbConfig
from faceaudit.perturb.geometry import CENTRED
from faceaudit.perturb.stage import run_robustness

GROUPS = ("light", "dark")


def _items(root: Path, n: int = 24) -> list[McqItem]:
    items = []
    for k in range(n):
        image_id = f"face{k:02d}"
        Image.new("RGB", (32, 32), (40 + 8 * k, 90, 120)).save(root / f"{image_id}.png")
        for task in ("gender", "age"):
            items.append(McqItem(
                item_id=f"{image_id}-{task}", image_ids=[image_id], image_paths=[f"{image_id}.png"], task=task,
                question=f"What is the {task}?", options=["x", "y"], answer="A",
                groups={"skin": GROUPS[k % 2]},
            ))
    return items


class Crashing(SimulatedFaceModel):
    """Dies on the batch after ``survive`` batches; counts the batches it was asked."""

    def __init__(self, survive: int | None, **kwargs) -> None:
        super().__init__({"default": 0.8}, seed=3, perturbation_drop={"default": 0.1}, **kwargs)
        self.survive, self.batches = survive, 0

    def score_options(self, batch, images):
        self.batches += 1
        if self.survive is not None and self.batches > self.survive:
            raise KeyboardInterrupt("killed")
        return super().score_options(batch, images)


def _robustness(items, root, clean, model, answers):
    cfg = PerturbConfig(perturbations=["underexposure", "eye_band"], severities=[1, 3, 5], max_images=None,
                        questions_per_image=None, workers=0, batch_size=8, min_group_n=2)
    return run_robustness(items, root, clean, model, cfg, mode="scoring", sensitive_attributes=["skin"],
                          geometry=lambda _: CENTRED, geometry_note="a centred template", progress=False,
                          seed=5, answers_jsonl=answers)


def _comparable(section) -> dict:
    data = section.model_dump(mode="json")
    data.pop("throughput")
    return data


@pytest.fixture()
def setup(tmp_path: Path):
    root = tmp_path / "images"
    root.mkdir()
    items = _items(root)
    clean = predict(items, root, Crashing(None), mode="scoring", out_jsonl=tmp_path / "clean.jsonl",
                    progress=False, sensitive_attributes=["skin"])
    return tmp_path, root, items, clean


def test_rerun_after_a_crash_equals_an_uninterrupted_run(setup) -> None:
    tmp_path, root, items, clean = setup
    reference = _robustness(items, root, clean, Crashing(None), tmp_path / "reference.jsonl")
    answers = tmp_path / "answers.jsonl"
    with pytest.raises(KeyboardInterrupt):
        _robustness(items, root, clean, Crashing(survive=7), answers)
    stored_before = len(answers.read_text().splitlines())
    assert stored_before == 7 * 8  # seven batches of 8 answers, each flushed as made
    rerun_model = Crashing(None)
    resumed = _robustness(items, root, clean, rerun_model, answers)
    assert _comparable(resumed) == _comparable(reference)
    lines = [json.loads(line) for line in answers.read_text().splitlines()]
    keys = [line["key"] for line in lines]
    assert len(keys) == len(set(keys)) == len(items) * 6  # every answer once, none lost
    # 6 conditions x 6 chunks of 4 images = 36 batches; the 7 stored ones were not asked again
    assert rerun_model.batches == 36 - 7
    # and a third run asks nothing at all
    again = Crashing(None)
    assert _comparable(_robustness(items, root, clean, again, answers)) == _comparable(reference)
    assert again.batches == 0


def test_answers_of_another_model_are_refused_not_mixed(setup) -> None:
    tmp_path, root, items, clean = setup
    answers = tmp_path / "answers.jsonl"
    with pytest.raises(KeyboardInterrupt):
        _robustness(items, root, clean, Crashing(survive=2), answers)
    other = Crashing(None)
    other.identity = other.identity.model_copy(update={"sha256": "f" * 64})
    with pytest.raises(StaleResultsError, match=r"answers.jsonl holds answers that this run must not reuse.*model_sha256"):
        _robustness(items, root, clean, other, answers)


def test_the_stored_answers_are_the_ones_the_section_counts(setup) -> None:
    tmp_path, root, items, clean = setup
    answers = tmp_path / "answers.jsonl"
    section = _robustness(items, root, clean, Crashing(None), answers)
    table = pd.DataFrame([json.loads(line) for line in answers.read_text().splitlines()])
    gold = {item.item_id: item.answer for item in items}
    worst = table[(table.perturbation == "underexposure") & (table.severity == 5)]
    accuracy = (worst.predicted == worst.item_id.map(gold)).mean()
    condition = next(c for c in section.conditions if c.name == "underexposure:5")
    assert condition.accuracy.value == pytest.approx(accuracy)
