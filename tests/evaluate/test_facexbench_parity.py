"""FaceXBench accuracy: faceaudit's reading and FaceXBench's own, against hand counts."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from facexbench_support import FACEAUDIT, OFFICIAL, RAW_ANSWERS, write_clone, write_raw_answers

from faceaudit.config import load_config
from faceaudit.data.facexbench import load_facexbench
from faceaudit.evaluate.config import EvaluateConfig
from faceaudit.evaluate.facexbench import facexbench_accuracy, official_extract
from faceaudit.evaluate.parse import parse_answer
from faceaudit.evaluate.predict import predict
from faceaudit.evaluate.stage import run_evaluation
from faceaudit.models.predictions_file import PredictionsFileModel
from faceaudit.pipeline import run_audit

POSTPEND = "Please answer the question and provide only the correct option letter, e.g., A, B, C, D."
RACES = ["White", "Black", "Latino/Hispanic", "Other"]


def _benchmark(root: Path, name: str, category: str, task: str, questions: list[tuple[str, int]], n_images=1):
    body = {
        "category": category, "sub-category": task, "dataset": "handmade", "question_type": "MCQ",
        "num_images": "single" if n_images == 1 else "multiple",
        "prepend_text": f"The task is {task}.", "postpend_text": POSTPEND,
        "questions": {
            str(k + 1): {
                "image_paths": [f"images/{name}/question_{k + 1}_{j}.png" for j in range(n_images)],
                "question_text": f"Question {k + 1} of {name}?",
                "options": options_,
                "correct_answer_option": "ABCD"[answer],
                "answer": options_[answer],
            }
            for k, (options_, answer) in enumerate(
                (RACES if task == "race" else ["Male", "Female", "Both", "None of the above"], a)
                for _, a in questions
            )
        },
    }
    (root / "benchmark").mkdir(exist_ok=True)
    (root / "benchmark" / f"{name}.json").write_text(json.dumps(body), encoding="utf-8")
    return [(f"Question {k + 1} of {name}?", output) for k, (output, _) in enumerate(questions)]


def test_accuracy_per_task_and_category_is_micro_averaged_and_unparseable_is_wrong(tmp_path: Path) -> None:
    asked = []
    # race: right, right, wrong, unparseable, right by option text -> 3/5
    asked += _benchmark(tmp_path, "fairface_single_mcq_race_test", "bias_fairness", "race",
                        [("A", 0), ("The answer is B.", 1), ("C", 1), ("I cannot determine that.", 2),
                         ("Latino/Hispanic", 2)])
    # gender: all right -> 3/3
    asked += _benchmark(tmp_path, "utkface_single_mcq_gender_test", "bias_fairness", "gender",
                        [("(B)", 1), ("Answer: a", 0), ("B) Female", 1)])
    # hr_fr, three images per question: one right, an ambiguous "A or B", two wrong -> 1/4
    asked += _benchmark(tmp_path, "lfw_multiple_mcq_hr_fr_test", "face_recognition", "hr_fr",
                        [("D", 3), ("A or B", 0), ("C", 0), ("B", 2)], n_images=3)
    items = load_facexbench(tmp_path)
    assert len(items) == 12 and not items.issues
    by_question = {item.question: item.item_id for item in items}
    answers = tmp_path / "model_outputs.jsonl"
    answers.write_text(
        "".join(json.dumps({"item_id": by_question[q], "prediction": out}) + "\n" for q, out in asked),
        encoding="utf-8",
    )
    frame = predict(items, items.root, PredictionsFileModel(answers), mode="generation",
                    out_jsonl=tmp_path / "preds.jsonl", sensitive_attributes=[], progress=False)
    accuracy = facexbench_accuracy(frame)

    expected = {
        "overall": (7, 12),
        "category:bias_fairness": (6, 8),  # micro: 0.75, not the mean of 0.6 and 1.0
        "category:face_recognition": (1, 4),
        "task:race": (3, 5),
        "task:gender": (3, 3),
        "task:hr_fr": (1, 4),
    }
    assert set(accuracy) == set(expected)
    for key, (right, n) in expected.items():
        assert accuracy[key].value == pytest.approx(right / n), key
        assert accuracy[key].n == n and accuracy[key].method == "wilson"
        assert accuracy[key].lower <= accuracy[key].value <= accuracy[key].upper
    assert int((~frame["valid"]).sum()) == 2


def test_an_invalid_row_never_counts_as_right() -> None:
    frame = pd.DataFrame({"task": ["t", "t"], "category": ["c", "c"], "correct": [True, True], "valid": [True, False]})
    assert facexbench_accuracy(frame)["overall"].value == 0.5
    with pytest.raises(ValueError, match=r"lacks column\(s\) \['valid'\]"):
        facexbench_accuracy(frame.drop(columns=["valid"]))


def _assert_counts(benchmark: dict, expected: dict) -> None:
    for key, (right, n) in expected.items():
        assert (benchmark[key].n, benchmark[key].value) == (n, pytest.approx(right / n)), key


def test_each_raw_answer_is_read_as_facexbench_and_faceaudit_read_it(tmp_path: Path) -> None:
    items = {i.item_id: i for i in load_facexbench(write_clone(tmp_path))}
    for item_id, (raw, official, ours) in RAW_ANSWERS.items():
        assert official_extract(raw, items[item_id].options) == official, raw
        assert parse_answer(raw, items[item_id].options) == ours, raw


def test_official_protocol_equals_the_hand_count_beside_faceaudits_reading(tmp_path: Path) -> None:
    root = write_clone(tmp_path / "facexbench")
    items = load_facexbench(root)
    cfg = EvaluateConfig(
        backend="predictions", predictions_file=str(write_raw_answers(tmp_path / "raw.jsonl")),
        facexbench_protocol="official", n_boot=100,
    )
    assert cfg.mode == "generation"  # the official protocol reads generated text
    section = run_evaluation(items, items.root, cfg, tmp_path / "eval", sensitive_attributes=[], progress=False)
    assert section.mode == "generation" and section.n_items == 13
    _assert_counts(section.benchmark, OFFICIAL)
    _assert_counts(section.benchmark, FACEAUDIT)
    assert {k for k in section.benchmark if k.startswith("official:")} == set(OFFICIAL)
    # No label is on every question: no disparity test, and the section says so.
    assert section.tasks == [] and section.sensitive_attributes == []
    assert any("no stratified analysis" in note for note in section.method_notes)
    note = next(n for n in section.method_notes if n.startswith("FaceXBench official scoring"))
    assert "FaceXBench's prompt" in note and "8/14 = 57.14%" in note and "1 could not be loaded" in note
    assert "10/13 = 76.92%" in note and "different letter on 5 of 13 answers" in note


def test_official_protocol_needs_generation_and_facexbench_data(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="official' reads generated answers: set mode to 'generation'"):
        EvaluateConfig(facexbench_protocol="official", mode="scoring")
    items = list(load_facexbench(write_clone(tmp_path)))  # a plain list: not a benchmark's questions
    cfg = EvaluateConfig(backend="simulated", facexbench_protocol="official")
    with pytest.raises(ValueError, match="needs FaceXBench data"):
        run_evaluation(items, tmp_path, cfg, tmp_path / "e", sensitive_attributes=[], progress=False)


def test_faceaudit_evaluate_on_a_clone_root_runs_without_demographic_labels(tmp_path: Path) -> None:
    root = write_clone(tmp_path / "facexbench")
    config = load_config(overrides=[
        "dataset.kind=facexbench", f"dataset.path={root}", "evaluate.backend=simulated",
        "evaluate.mode=generation", "evaluate.n_boot=100", "report.enabled=false",
        f"output_dir={tmp_path}", "run_id=fxb",
    ])
    result = run_audit(config, progress=False).result
    assert result.dataset.root == str(root / "benchmark")
    assert [i.kind for i in result.dataset.issues] == ["answer_mismatch"]  # every image was found
    assert result.dataset.counts["num_images"] == {"single": 8, "multiple": 3, "zero": 2}
    assert result.dataset.counts["dataset"]["utkface"] == 2
    benchmark = result.evaluation.benchmark
    assert benchmark["official:overall"].n == 14 and benchmark["overall"].n == 13
    assert any("carried by only some questions" in w.message for w in result.warnings)


def test_one_race_file_is_stratified_by_its_own_labels(tmp_path: Path) -> None:
    root = write_clone(tmp_path / "facexbench")
    config = load_config(overrides=[
        "dataset.kind=facexbench", f"dataset.path={root / 'benchmark' / 'fairface_single_mcq_race_test.json'}",
        "evaluate.backend=simulated", "evaluate.n_boot=100", "report.enabled=false", "gate.enabled=false",
        f"output_dir={tmp_path}", "run_id=race",
    ])
    evaluation = run_audit(config, progress=False).result.evaluation
    assert evaluation.sensitive_attributes == ["fairface_race"]
    assert [t.task for t in evaluation.tasks] == ["race"]
