"""Answers from a file: CSV and JSONL, parsed like generated text, and clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from faceaudit.data.records import McqItem
from faceaudit.evaluate.config import EvaluateConfig
from faceaudit.evaluate.predict import predict
from faceaudit.models import ScoringUnavailable, make_model
from faceaudit.models.predictions_file import PredictionsFileModel


def _items(n: int = 4) -> list[McqItem]:
    return [
        McqItem(item_id=f"q{i}", image_ids=[f"i{i}"], image_paths=[f"{i}.png"], task="gender",
                question="?", options=["Male", "Female"], answer="AB"[i % 2], groups={"race": "x"})
        for i in range(n)
    ]


def test_csv_letters_and_raw_text_are_read(tmp_path: Path) -> None:
    path = tmp_path / "preds.csv"
    path.write_text("item_id,prediction\nq0,A\nq1,The answer is B.\nq2,Female\nq3,I cannot say\n", encoding="utf-8")
    model = make_model(EvaluateConfig(backend="predictions", predictions_file=str(path)))
    frame = predict(_items(), tmp_path, model, mode="generation", out_jsonl=tmp_path / "o.jsonl", progress=False)
    assert list(frame["predicted"]) == ["A", "B", "B", None]
    assert list(frame["correct"]) == [True, True, False, False]
    assert list(frame["valid"]) == [True, True, True, False]
    assert frame.loc[1, "raw_output"] == "The answer is B."
    assert model.name == "predictions:preds.csv"


def test_jsonl_with_option_probs_supports_scoring(tmp_path: Path) -> None:
    path = tmp_path / "preds.jsonl"
    rows = [{"item_id": f"q{i}", "prediction": "A", "option_probs": [0.2 + 0.2 * i, 0.8 - 0.2 * i]} for i in range(4)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    frame = predict(_items(), tmp_path, PredictionsFileModel(path), mode="scoring",
                    out_jsonl=tmp_path / "o.jsonl", progress=False)
    assert list(frame["predicted"]) == ["B", "B", "A", "A"]
    assert frame.loc[0, "option_probs"] == pytest.approx([0.2, 0.8])


def test_scoring_without_probabilities_says_to_use_generation(tmp_path: Path) -> None:
    path = tmp_path / "p.csv"
    path.write_text("item_id,prediction\n" + "".join(f"q{i},A\n" for i in range(4)), encoding="utf-8")
    with pytest.raises(ScoringUnavailable, match="use mode 'generation'"):
        predict(_items(), tmp_path, PredictionsFileModel(path), mode="scoring", out_jsonl=tmp_path / "o.jsonl",
                progress=False)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("item_id,prediction\nq0,A\nq1,B\n", r"no prediction for 2 of 4 items \(first: 'q2', 'q3'\)"),
        ("item_id,prediction\nq0,A\nq1,B\nq2,A\nq3,A\nq9,B\n", r"1 predictions for unknown item_ids.*'q9'"),
        ("item_id,prediction\nq0,A\nq0,B\n", r"row 3: item_id 'q0' appears twice \(first at row 2\)"),
        ("id,prediction\nq0,A\n", r"no 'item_id' column"),
        ("item_id,label\nq0,A\n", r"no answer column; accepted names: prediction, predicted, answer"),
        ("item_id,prediction,option_probs\nq0,A,[1.0]\nq1,A,\nq2,A,\nq3,A,\n", r"1 option_probs for 2 options"),
        ("item_id,prediction,option_probs\nq0,A,\"[0.9, 0.3]\"\n", r"row 2: option_probs must be non-negative and sum to 1"),
        ("item_id,prediction\n,A\n", r"row 2: empty item_id"),
    ],
)
def test_bad_files_get_errors_naming_the_problem(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "p.csv"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ValueError, match=message):
        predict(_items(), tmp_path, PredictionsFileModel(path), mode="generation",
                out_jsonl=tmp_path / "o.jsonl", progress=False)


def test_missing_file_and_unknown_type(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="does not exist"):
        PredictionsFileModel(tmp_path / "none.csv")
    (tmp_path / "p.xlsx").write_bytes(b"x")
    with pytest.raises(ValueError, match=r"unsupported predictions file type '.xlsx' \(accepted: .csv, .jsonl\)"):
        PredictionsFileModel(tmp_path / "p.xlsx")
    with pytest.raises(ValueError, match="needs evaluate.predictions_file"):
        make_model(EvaluateConfig(backend="predictions"))
