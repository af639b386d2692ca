"""ShareGPT export for LLaMA-Factory and import of FairFaceGPT-format corpora."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from faceaudit.corpus.config import CorpusConfig
from faceaudit.corpus.generate import describe_corpus, generate_corpus
from faceaudit.corpus.sharegpt import (
    export_sharegpt,
    import_sharegpt,
    infer_aspect,
    llamafactory_dataset_info,
    llamafactory_instructions,
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
    assert import_sharegpt(out, back, strip_prefix="fairface/").pairs == 24
    original = {r["key"]: r for r in read_jsonl(corpus) if r["status"] == "accepted"}
    imported = {r["key"]: r for r in read_jsonl(back)}
    assert imported.keys() == original.keys()
    for key, row in imported.items():
        for field in ("image_id", "image_path", "aspect", "question", "answer", "status"):
            assert row[field] == original[key][field], (key, field)
    again = import_sharegpt(out, back, strip_prefix="fairface/")  # nothing duplicated
    assert (again.written, again.already_present) == (0, 24)


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
    report = import_sharegpt(path, tmp_path / "c.jsonl")
    assert (report.pairs, report.conversations, report.image_tags_added) == (3, 0, 1)
    rows = {r["key"]: r for r in read_jsonl(tmp_path / "c.jsonl")}
    assert set(rows) == {"val/10:skin_texture", "val/10:overall_detail", "val/11:lighting_and_image_quality"}
    assert rows["val/10:overall_detail"]["status"] == "rejected"
    assert rows["val/10:overall_detail"]["reject_reason"] == "refusal: \"I'm unable to\""
    assert rows["val/10:skin_texture"]["question"].startswith("Describe the skin texture")
    assert rows["val/11:lighting_and_image_quality"]["prompt_sha256"] is None


def test_corpus_sharegpt_import_errors_name_the_item(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text(json.dumps([{"conversations": [{"from": "bot", "value": "x"}], "images": ["a.jpg"]}]))
    with pytest.raises(ValueError, match="item 0: turn 0 has role 'bot'; accepted: human/user"):
        import_sharegpt(path, tmp_path / "c.jsonl")
    path.write_text(json.dumps([{"conversations": [{"from": "human", "value": "x"}], "images": []}]))
    with pytest.raises(ValueError, match=r"item 0: no image; a face corpus item needs at least one"):
        import_sharegpt(path, tmp_path / "c.jsonl")


def test_corpus_sharegpt_infers_aspects() -> None:
    assert infer_aspect("Describe the expression and emotion of the image based on the visual information.") == "expression_and_emotion"
    assert infer_aspect("describe the image") == "overall_detail"
    assert infer_aspect("Describe the face pose of the image.") == "face_pose"
    assert infer_aspect("Tell me a joke.") is None


# LLaMA-Factory's data/mllm_demo.json shape (messages/role/content, several images, <image>
# anywhere in a turn, multi-turn), plus a system prompt as first turn and as a column.
SYSTEM = "You are a careful face analyst. Never guess identities."
MLLM = [
    {"messages": [
        {"role": "user", "content": "<image>Who are they?"},
        {"role": "assistant", "content": "Two people celebrating on a football pitch."},
        {"role": "user", "content": "What are they doing?<image>"},
        {"role": "assistant", "content": "They are hugging after a goal."}],
     "images": ["demo/1.jpg", "demo/2.jpg"]},
    {"messages": [
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": "<image>How old does he look?"},
        {"role": "assistant", "content": "Around thirty."},
        {"role": "user", "content": "Is he smiling?"},
        {"role": "assistant", "content": "Yes, broadly."}],
     "images": ["demo/3.jpg"]},
    {"conversations": [
        {"from": "human", "value": "<image>Describe the face pose of the image based on the visual information."},
        {"from": "gpt", "value": "The head is turned slightly to the left."}],
     "system": SYSTEM, "images": ["demo/4.jpg"]},
    {"conversations": [  # a FairFaceGPT pair: stays a pair record
        {"from": "human", "value": "<image>Describe the skin texture of the image based on the visual information."},
        {"from": "gpt", "value": "Smooth skin with light freckles."}],
     "images": ["demo/4.jpg"]},
]


def _lf_rows(instructions: str) -> tuple[list[dict], Path, str]:
    """Read an export the way LLaMA-Factory's sharegpt converter does; (rows, media_dir, name)."""
    entry_text = instructions[instructions.index("{"):instructions.rindex("}") + 1]
    (name, entry), = json.loads(entry_text).items()
    dataset_dir = Path(instructions.split("dataset_dir: ")[1].split()[0])
    media_dir = Path(instructions.split("media_dir: ")[1].split()[0])
    tags, columns = entry["tags"], entry["columns"]
    rows = []
    for example in json.loads((dataset_dir / entry["file_name"]).read_text()):
        messages = example[columns["messages"]]
        system = ""
        if messages and messages[0][tags["role_tag"]] == tags["system_tag"]:
            system, messages = messages[0][tags["content_tag"]], messages[1:]
        roles = [m[tags["role_tag"]] for m in messages]
        expected = [tags["user_tag"], tags["assistant_tag"]] * (len(messages) // 2)
        assert roles == expected and len(messages) % 2 == 0, roles  # else LLaMA-Factory skips it
        texts = [m[tags["content_tag"]] for m in messages]
        images = example[columns["images"]]
        assert sum(t.count("<image>") for t in texts) == len(images)
        rows.append({"system": system, "texts": texts,
                     "found": [os.path.isfile(os.path.join(media_dir, p)) for p in images]})
    return rows, media_dir, name


def test_llamafactory_multimodal_sharegpt_imports_whole_and_exports_loadable(tmp_path: Path) -> None:
    root = tmp_path / "faces"
    for n in range(1, 5):
        (root / "demo").mkdir(parents=True, exist_ok=True)
        (root / "demo" / f"{n}.jpg").write_bytes(b"jpg")
    source = tmp_path / "mllm_demo.json"
    source.write_text(json.dumps(MLLM))
    corpus = tmp_path / "corpus.jsonl"
    report = import_sharegpt(source, corpus)
    assert (report.items, report.pairs, report.conversations) == (4, 1, 3)
    assert report.notes() == []  # nothing merged, dropped or repeated

    rows = {r["key"]: r for r in read_jsonl(corpus)}
    conversations = [r for r in rows.values() if r.get("kind") == "conversation"]
    first = next(r for r in conversations if len(r["image_paths"]) == 2)
    assert first["messages"] == MLLM[0]["messages"] and first["system"] is None
    assert first["image_paths"] == ["demo/1.jpg", "demo/2.jpg"] and first["image_ids"] == ["demo/1", "demo/2"]
    second = next(r for r in conversations if r["image_paths"] == ["demo/3.jpg"])
    assert second["system"] == SYSTEM and second["messages"] == MLLM[1]["messages"][1:]
    third = next(r for r in conversations if r["image_paths"] == ["demo/4.jpg"])
    assert third["system"] == SYSTEM  # a system column keeps a FairFaceGPT-looking pair whole
    assert rows["demo/4:skin_texture"]["question"].startswith("Describe the skin texture")
    section = describe_corpus(corpus)
    assert (section.n_accepted, section.n_images, section.per_aspect["conversation"].accepted) == (4, 4, 3)

    exported = export_sharegpt(corpus, tmp_path / "lf" / "faces.json")
    lf_rows, media_dir, name = _lf_rows(llamafactory_instructions(exported, root))
    assert (name, media_dir) == ("faces", root.resolve())
    assert len(lf_rows) == 4 and all(all(r["found"]) and r["found"] for r in lf_rows)
    assert sum(len(r["texts"]) for r in lf_rows) == 4 + 4 + 2 + 2  # every turn survives
    assert sorted(r["system"] for r in lf_rows) == ["", "", SYSTEM, SYSTEM]
    back = import_sharegpt(exported, tmp_path / "back.jsonl")
    assert (back.pairs, back.conversations) == (1, 3)
    assert {r["key"] for r in read_jsonl(tmp_path / "back.jsonl")} == set(rows)


def test_import_counts_what_it_changes_and_refuses_miscounted_images(tmp_path: Path) -> None:
    items = [
        {"conversations": [{"from": "human", "value": "<image>Hello."},
                           {"from": "human", "value": "Who is this?"},
                           {"from": "gpt", "value": "A person in a red scarf."},
                           {"from": "human", "value": "And the scarf?"}],
         "images": ["a.jpg"]},
        {"conversations": [{"from": "human", "value": "<image>Describe the face pose of the image."},
                           {"from": "gpt", "value": "Frontal."}], "images": ["b.jpg"]},
        {"conversations": [{"from": "human", "value": "<image>Describe the face pose of the image."},
                           {"from": "gpt", "value": "Turned left."}], "images": ["b.jpg"]},
    ]
    source = tmp_path / "s.json"
    source.write_text(json.dumps(items))
    corpus = tmp_path / "c.jsonl"
    report = import_sharegpt(source, corpus)
    assert (report.pairs, report.conversations) == (1, 1)
    assert report.merged_turns == [f"{source}: item 0"] and report.unanswered == [f"{source}: item 0"]
    assert report.duplicates == [f"{source}: item 2 (b:face_pose)"]
    merged = next(r for r in read_jsonl(corpus) if r.get("kind") == "conversation")
    assert merged["messages"] == [{"role": "user", "content": "<image>Hello.\nWho is this?"},
                                  {"role": "assistant", "content": "A person in a red scarf."}]
    assert len(report.notes()) == 3 and "1 item(s) repeated an earlier record" in report.summary()

    before = corpus.read_bytes()
    source.write_text(json.dumps([items[1], {"messages": [{"role": "user", "content": "<image>Same?"},
                                                          {"role": "assistant", "content": "Yes."}],
                                             "images": ["x.jpg", "y.jpg"]}]))
    with pytest.raises(ValueError, match=r"item 1: 1 <image> tag\(s\) for 2 image\(s\)"):
        import_sharegpt(source, corpus)
    assert corpus.read_bytes() == before  # a failed import leaves the corpus as it was


def test_import_into_a_corpus_a_crash_left_torn_keeps_every_whole_record(tmp_path: Path) -> None:
    corpus = tmp_path / "c.jsonl"
    whole = {"key": "val/1:face_pose", "image_id": "val/1", "image_path": "val/1.jpg", "aspect": "face_pose",
             "question": "Describe the face pose of the image.", "answer": "Frontal.", "status": "accepted"}
    corpus.write_text(json.dumps(whole) + "\n" + '{"key": "val/2:face_po')
    source = tmp_path / "s.json"
    source.write_text(json.dumps(MLLM[:1]))
    assert import_sharegpt(source, corpus).conversations == 1
    assert [r["key"] for r in read_jsonl(corpus)][0] == "val/1:face_pose" and len(list(read_jsonl(corpus))) == 2


def test_a_run_importing_a_corpus_warns_about_what_the_import_changed(tmp_path: Path) -> None:
    from faceaudit.config import load_config
    from faceaudit.pipeline import run_audit

    source = tmp_path / "mllm.json"
    source.write_text(json.dumps([{"messages": [{"role": "user", "content": "<image>Who?"},
                                                {"role": "user", "content": "Anyone?"},
                                                {"role": "assistant", "content": "A woman in a hat."}],
                                   "images": ["a.jpg"]}]))
    config = load_config(overrides=[
        "dataset.synthetic.n=60", f"corpus.source={source}", "train.enabled=false", "evaluate.enabled=false",
        "scan.enabled=false", "gate.enabled=false", "report.enabled=false", f"output_dir={tmp_path}", "run_id=imp",
    ])
    result = run_audit(config, progress=False).result
    assert result.corpus.n_accepted == 1 and result.corpus.aspects == ["conversation"]
    (warning,) = [w for w in result.warnings if w.stage == "corpus"]
    assert warning.message.startswith("import of mllm.json: 1 item(s) had consecutive turns of one role")
