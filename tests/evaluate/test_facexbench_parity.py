"""FaceXBench accuracy on a hand-made benchmark in the published format (REFERENCE.md §4)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from faceaudit.data.facexbench import load_facexbench
from faceaudit.evaluate.facexbench import facexbench_accuracy
from faceaudit.evaluate.predict import predict
from faceaudit.models.predictions_file import PredictionsFileModel

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
