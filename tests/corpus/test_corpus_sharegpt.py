"""ShareGPT export for LLaMA-Factory and import of FairFaceGPT-format corpora."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from faceaudit.corpus.config import CorpusConfig
from faceaudit.corpus.generate import generate_corpus
from faceaudit.corpus.sharegpt import (
    export_sharegpt,
    import_sharegpt,
    infer_aspect,
    llamafactory_dataset_info,
)
from faceaudit.data.records import FaceRecord
from faceaudit.store import JsonlWriter, read_jsonl


def _records() -> list[FaceRecord]:
    return [FaceRecord(id=f"val/{i}", image_path=f"val/{i}.jpg",
                       attributes={"gender": g, "age": "20-29", "race": "Indian"})
            for i, g in ((1, "Male"), (2, "Female"), (3, "Male"))]


def test_corpus_sharegpt_round_trip(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus.jsonl"
    generate_corpus(_records(), tmp_path, CorpusConfig(), corpus, progress=False)
    # One rejected pair must stay out of the export.
    with JsonlWriter(corpus, "key") as writer:
        writer.append({**next(iter(writer.records())), "key": "val/9:face_pose", "image_id": "val/9",
                       "image_path": "val/9.jpg", "status": "rejected", "reject_reason": "empty: x"})
    out = export_sharegpt(corpus, tmp_path / "sharegpt.json", image_root_prefix="fairface/")
    items = json.loads(out.read_text())
    assert len(items) == 24
    first = items[0]
    assert first["conversations"] == [
        {"from": "human", "value": "<image>Describe the demographic attributes of the image based "
                                   "on the visual information."},
        {"from": "gpt", "value": first["conversations"][1]["value"]},
    ]
    assert first["images"] == ["fairface/val/1.jpg"] and first["aspect"] == "demographic_attributes"
    assert items[7]["conversations"][0]["value"] == "<image>Describe this image."
    assert llamafactory_dataset_info("sharegpt.json")["tags"]["assistant_tag"] == "gpt"

    back = tmp_path / "back.jsonl"
    assert import_sharegpt(out, back, strip_prefix="fairface/") == 24
    original = {r["key"]: r for r in read_jsonl(corpus) if r["status"] == "accepted"}
    imported = {r["key"]: r for r in read_jsonl(back)}
    assert imported.keys() == original.keys()
    for key, row in imported.items():
        for field in ("image_id", "image_path", "aspect", "question", "answer", "status"):
            assert row[field] == original[key][field], (key, field)
    assert import_sharegpt(out, back, strip_prefix="fairface/") == 0  # nothing duplicated


def test_corpus_sharegpt_imports_published_fairfacegpt_shape(tmp_path: Path) -> None:
    published = [
        {"conversations": [
            {"from": "human", "value": "<image>Describe the skin texture of the image based on the visual information."},
            {"from": "assistant", "value": "The skin is smooth with a few fine lines near the eyes."}],
         "image": "val/10.jpg"},
        {"conversations": [
            {"from": "user", "value": "<image>\nDescribe this image."},
            {"from": "gpt", "value": "I'm unable to analyze this image."}],
         "images": ["val/10.jpg"]},
        {"messages": [
            {"role": "user", "value": "Describe the lighting and image quality of the image based on the visual information."},
            {"role": "assistant", "content": "The lighting is even and the image is sharp."}],
         "images": ["val/11.jpg"]},
    ]
    path = tmp_path / "FairFaceGPT.json"
    path.write_text(json.dumps(published))
    assert import_sharegpt(path, tmp_path / "c.jsonl") == 3
    rows = {r["key"]: r for r in read_jsonl(tmp_path / "c.jsonl")}
    assert set(rows) == {"val/10:skin_texture", "val/10:overall_detail", "val/11:lighting_and_image_quality"}
    assert rows["val/10:overall_detail"]["status"] == "rejected"
    assert rows["val/10:overall_detail"]["reject_reason"] == "refusal: \"I'm unable to\""
    assert rows["val/10:skin_texture"]["question"].startswith("Describe the skin texture")
    assert rows["val/11:lighting_and_image_quality"]["prompt_sha256"] is None


def test_corpus_sharegpt_import_errors_name_the_item(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text(json.dumps([{"conversations": [{"from": "human", "value": "<image>What is her name?"},
                                                   {"from": "gpt", "value": "Unknown."}],
                                 "images": ["a.jpg"]}]))
    with pytest.raises(ValueError, match=r"bad\.json: item 0: cannot tell which aspect 'What is her name\?'"):
        import_sharegpt(path, tmp_path / "c.jsonl")
    path.write_text(json.dumps([{"conversations": [{"from": "bot", "value": "x"}], "images": ["a.jpg"]}]))
    with pytest.raises(ValueError, match="item 0: turn 0 has role 'bot'; accepted: human/user"):
        import_sharegpt(path, tmp_path / "c.jsonl")
    path.write_text(json.dumps([{"conversations": [{"from": "human", "value": "x"}], "images": []}]))
    with pytest.raises(ValueError, match=r"item 0: expected exactly one image path"):
        import_sharegpt(path, tmp_path / "c.jsonl")


def test_corpus_sharegpt_infers_aspects() -> None:
    assert infer_aspect("Describe the expression and emotion of the image based on the visual information.") == "expression_and_emotion"
    assert infer_aspect("describe the image") == "overall_detail"
    assert infer_aspect("Describe the face pose of the image.") == "face_pose"
    assert infer_aspect("Tell me a joke.") is None
