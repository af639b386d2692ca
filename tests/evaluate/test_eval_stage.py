"""The evaluation stage end to end on the simulated backend: the audit finds a planted gap."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from faceaudit.data.records import McqItem
from faceaudit.evaluate.config import EvaluateConfig
from faceaudit.evaluate.stage import run_evaluation
from faceaudit.schema.evaluation import EvaluationSection

TONES = ("light", "medium", "dark")
GENDERS = ("male", "female")


def _items(per_group: int) -> list[McqItem]:
    items = []
    for tone in TONES:
        for i in range(per_group):
            gender = GENDERS[i % 2]
            items.append(
                McqItem(
                    item_id=f"{tone}-{i}",
                    image_ids=[f"{tone}-{i}"],
                    image_paths=[f"{tone}/{i}.png"],
                    task="gender",
                    question="What is the gender of the person in the image?",
                    options=["male", "female"],
                    answer="A" if gender == "male" else "B",
                    groups={"skin_tone": tone, "gender": gender},
                )
            )
    return items


def _accuracy_difference(section: EvaluationSection, attribute: str):
    (task,) = section.tasks
    return next(
        d for d in task.disparities
        if d.metric == "accuracy" and d.kind == "difference" and d.attributes == [attribute]
    )


@pytest.mark.parametrize("mode", ["scoring", "generation"])
def test_a_group_planted_15_points_lower_is_named_worst_with_an_interval_excluding_zero(
    tmp_path: Path, mode: str
) -> None:
    cfg = EvaluateConfig(
        backend="simulated", mode=mode, simulated_accuracy={"default": 0.9, "skin_tone=dark": 0.75},
        n_boot=400, intersections=False,
    )
    section = run_evaluation(_items(300), tmp_path, cfg, tmp_path / "eval", sensitive_attributes=["skin_tone", "gender"],
                             seed=1, progress=False)
    assert section.mode == mode and section.n_items == 900 and section.model == "simulated"
    gap = _accuracy_difference(section, "skin_tone")
    assert gap.worst_group == "skin_tone=dark"
    assert gap.estimate.lower > 0 and 0.07 < gap.estimate.value < 0.25
    (task,) = section.tasks
    dark = next(g for g in task.groups if g.attributes == ["skin_tone"] and g.labels == ["dark"])
    assert dark.n_items == 300 and abs(dark.metrics["accuracy"].value - 0.75) < 0.07
    # The FaceXBench-style headline sits next to the stratified numbers.
    assert section.benchmark["task:gender"].n == 900
    assert (tmp_path / "eval" / f"predictions-{mode}.jsonl").read_text().count("\n") == 900


def test_a_fair_model_shows_no_significant_gap(tmp_path: Path) -> None:
    cfg = EvaluateConfig(backend="simulated", simulated_accuracy={"default": 0.85}, n_boot=400, intersections=False)
    section = run_evaluation(_items(300), tmp_path, cfg, tmp_path, sensitive_attributes=["skin_tone"], seed=2,
                             progress=False)
    gap = _accuracy_difference(section, "skin_tone")
    assert gap.estimate.lower <= 0.0 or not gap.significant


def test_same_inputs_and_seed_give_the_same_section(tmp_path: Path) -> None:
    cfg = EvaluateConfig(backend="simulated", simulated_accuracy={"default": 0.8, "skin_tone=dark": 0.6},
                         n_boot=200, intersections=False)
    items = _items(60)
    first = run_evaluation(items, tmp_path, cfg, tmp_path / "a", sensitive_attributes=["skin_tone"], progress=False)
    second = run_evaluation(items, tmp_path, cfg, tmp_path / "b", sensitive_attributes=["skin_tone"], progress=False)
    assert first.model_dump_json() == second.model_dump_json()
    assert first.predictions_sha256 == second.predictions_sha256


def test_scoring_falls_back_to_generation_when_the_backend_has_no_probabilities(tmp_path: Path) -> None:
    items = _items(40)
    path = tmp_path / "answers.jsonl"
    path.write_text("".join(json.dumps({"item_id": i.item_id, "prediction": i.answer}) + "\n" for i in items))
    cfg = EvaluateConfig(backend="predictions", predictions_file=str(path), mode="scoring", n_boot=200,
                         intersections=False)
    section = run_evaluation(items, tmp_path, cfg, tmp_path / "eval", sensitive_attributes=["skin_tone"],
                             progress=False)
    assert section.mode == "generation"
    assert any("no option probabilities" in note for note in section.method_notes)
    assert section.benchmark["overall"].value == 1.0


def test_predictions_out_stays_inside_the_run_directory(tmp_path: Path) -> None:
    from faceaudit.errors import InputError
    from faceaudit.evaluate.config import EvaluateConfig
    from faceaudit.evaluate.stage import predictions_path

    out_dir = tmp_path / "run" / "evaluate"
    out_dir.mkdir(parents=True)
    chosen = predictions_path(EvaluateConfig(predictions_out="answers/p.jsonl"), out_dir, "scoring")
    assert chosen == tmp_path / "run" / "answers" / "p.jsonl"
    fallback = predictions_path(EvaluateConfig(predictions_out="answers/p.jsonl"), out_dir, "generation")
    assert fallback.name == "p-generation.jsonl"
    (tmp_path / "run" / "away").symlink_to(tmp_path)
    for escaping in ("/etc/passwd", "../elsewhere.jsonl", "away/p.jsonl"):
        with pytest.raises(InputError, match="must be a path inside the run directory"):
            predictions_path(EvaluateConfig(predictions_out=escaping), out_dir, "scoring")
