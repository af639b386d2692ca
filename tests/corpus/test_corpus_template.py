"""Template backend, the generator loop, and resuming a cut-short template corpus."""

from __future__ import annotations

import itertools
import json
from collections import Counter
from pathlib import Path

import pytest

from faceaudit.corpus.config import CorpusConfig
from faceaudit.corpus.generate import RECORD_FIELDS, generate_corpus
from faceaudit.corpus.labels import label_view
from faceaudit.corpus.prompts import ASPECT_IDS
from faceaudit.corpus.quality import check_answer
from faceaudit.data.records import FaceRecord
from faceaudit.errors import StaleResultsError
from faceaudit.store import read_jsonl

SYNTHETIC_VALUES = {
    "skin_tone": [str(i) for i in range(1, 11)],
    "gender": ["female", "male"],
    "age": ["child", "young adult", "middle-aged", "older"],
    "expression": ["neutral", "smiling"],
    "glasses": ["no", "yes"],
    "helmet": ["no", "yes"],
    "hair": ["short", "long", "curly", "bun", "bald"],
    "lighting": ["dim", "normal", "bright"],
}


def synthetic_records(n: int) -> list[FaceRecord]:
    records = []
    for i in range(n):
        attrs = {name: values[(i * (k + 3) + i // 7) % len(values)]
                 for k, (name, values) in enumerate(SYNTHETIC_VALUES.items())}
        tone = int(attrs["skin_tone"])
        attrs["skin_tone_group"] = "light" if tone <= 3 else "medium" if tone <= 7 else "dark"
        attrs["head_tilt"] = str(i % 11 - 5)  # an attribute the templates do not know
        records.append(FaceRecord(id=f"syn-{i:05d}", image_path=f"images/syn-{i:05d}.png",
                                  attributes=attrs, split="train"))
    return records


def test_corpus_template_full_synthetic_corpus_is_complete_grounded_and_varied(tmp_path: Path) -> None:
    records = synthetic_records(120)
    out = tmp_path / "corpus.jsonl"
    section = generate_corpus(records, tmp_path, CorpusConfig(), out, progress=False)
    rows = list(read_jsonl(out))
    assert section.n_requested == section.n_accepted == len(rows) == 960
    assert section.n_rejected == section.n_failed == 0 and section.endpoint_host is None
    assert all(tuple(r) == RECORD_FIELDS and r["backend"] == "template" for r in rows)
    assert {a: c.accepted for a, c in section.per_aspect.items()} == dict.fromkeys(ASPECT_IDS, 120)

    by_key = {r["key"]: r for r in rows}
    for record in records:
        demo = by_key[f"{record.id}:demographic_attributes"]["answer"]
        noun = {"female": "woman", "male": "man"}[record.attributes["gender"]]
        if record.attributes["age"] == "child":
            noun = {"woman": "girl", "man": "boy"}[noun]
        assert f"a {noun} with {record.attributes['skin_tone_group']} skin" in demo, demo
        expression = by_key[f"{record.id}:expression_and_emotion"]["answer"]
        assert ("smile" in expression) == (record.attributes["expression"] == "smiling"), expression
        pose = by_key[f"{record.id}:face_pose"]["answer"]
        assert ("safety helmet" in pose) == (record.attributes["helmet"] == "yes"), pose

    # Plausible, varied descriptions: many distinct answers per aspect, several sentences each.
    for aspect in ASPECT_IDS:
        answers = [r["answer"] for r in rows if r["aspect"] == aspect]
        assert len(set(answers)) >= 40, aspect
        assert min(a.count(". ") for a in answers) >= 1, aspect
    first_sentences = Counter(r["answer"].split(". ")[0] for r in rows)
    assert first_sentences.most_common(1)[0][1] < 0.2 * len(rows)


def test_corpus_template_is_deterministic_and_seed_changes_only_phrasing(tmp_path: Path) -> None:
    records = synthetic_records(30)
    a = generate_corpus(records, tmp_path, CorpusConfig(), tmp_path / "a.jsonl", seed=0, progress=False)
    b = generate_corpus(records, tmp_path, CorpusConfig(), tmp_path / "b.jsonl", seed=0, progress=False)
    c = generate_corpus(records, tmp_path, CorpusConfig(), tmp_path / "c.jsonl", seed=1, progress=False)
    assert a.corpus_sha256 == b.corpus_sha256 != c.corpus_sha256
    assert a.n_accepted == c.n_accepted == 240


def test_corpus_template_resumes_a_torn_file_to_the_same_corpus(tmp_path: Path) -> None:
    records = synthetic_records(50)
    whole = generate_corpus(records, tmp_path, CorpusConfig(), tmp_path / "whole.jsonl", progress=False)
    data = (tmp_path / "whole.jsonl").read_bytes()
    cut = tmp_path / "cut.jsonl"
    cut.write_bytes(data[: len(data) // 3 + 17])  # a crash mid-line
    resumed = generate_corpus(records, tmp_path, CorpusConfig(), cut, progress=False)
    assert resumed.corpus_sha256 == whole.corpus_sha256
    assert 0 < resumed.n_resumed < 400 and resumed.n_accepted == 400
    keys = [json.loads(line)["key"] for line in cut.read_text().splitlines()]
    assert len(keys) == len(set(keys)) == 400


def test_corpus_template_handles_fairface_and_unknown_vocabularies(tmp_path: Path) -> None:
    records = [
        FaceRecord(id="val/1", image_path="val/1.jpg",
                   attributes={"age": "9-Mar", "gender": "Female", "race": "Southeast Asian"}),
        FaceRecord(id="x/2", image_path="x/2.jpg",
                   attributes={"gender": "non-binary", "age": "ancient", "mood": "pensive", "mask": "N95"}),
        FaceRecord(id="x/3", image_path="x/3.jpg", attributes={}),
    ]
    out = tmp_path / "c.jsonl"
    section = generate_corpus(records, tmp_path, CorpusConfig(aspects=["demographic_attributes",
                              "overall_detail", "face_pose"]), out, progress=False)
    rows = {r["key"]: r["answer"] for r in read_jsonl(out)}
    assert section.n_accepted == 9
    assert "a girl of Southeast Asian ethnicity" in rows["val/1:demographic_attributes"]
    assert "3-9 age range" in rows["val/1:demographic_attributes"]
    assert "mood recorded as pensive" in rows["x/2:overall_detail"]
    assert "gender recorded as non-binary" in rows["x/2:overall_detail"]
    assert "N95 mask" in rows["x/2:face_pose"]
    assert "a person" in rows["x/3:demographic_attributes"]


def test_corpus_template_every_label_combination_passes_the_gate() -> None:
    from faceaudit.corpus.backends.template import TemplateBackend

    backend = TemplateBackend()
    combos = itertools.product(["Male", "Female", None], ["0-2", "3-9", "10-19", "20-29", "50-59",
                               "more than 70", "child", "older", None])
    for n, (gender, age) in enumerate(combos):
        attrs = {k: v for k, v in (("gender", gender), ("age", age), ("race", "Black")) if v}
        labels = label_view(attrs)
        for aspect in ASPECT_IDS:
            answer = backend.answer(f"img{n}", aspect, labels)
            assert check_answer(answer, labels) is None, (attrs, aspect, answer)


def test_corpus_template_refuses_to_mix_generators_in_one_file(tmp_path: Path) -> None:
    records = synthetic_records(3)
    out = tmp_path / "c.jsonl"
    generate_corpus(records, tmp_path, CorpusConfig(), out, progress=False)
    custom = tmp_path / "prompts.yaml"
    custom.write_text("version: mine-1\nquestion_template: 'What about the {aspect}?'\n")
    with pytest.raises(StaleResultsError, match=r"c\.jsonl: record 'syn-00000:demographic_attributes' "
                       r"was generated differently from this run \(prompt_sha256 '[0-9a-f]{64}' -> "):
        generate_corpus(records, tmp_path, CorpusConfig(prompt_file=str(custom)), out, progress=False)


def test_corpus_resume_refuses_pairs_whose_labels_image_or_settings_changed(tmp_path: Path) -> None:
    """A rerun of the same run-id after the data or the generator changed must not reuse old pairs."""
    records = synthetic_records(3)
    out = tmp_path / "c.jsonl"
    generate_corpus(records, tmp_path, CorpusConfig(), out, progress=False)
    generate_corpus(records, tmp_path, CorpusConfig(), out, progress=False)  # same inputs: resumes
    relabelled = [records[0].model_copy(update={"attributes": {**records[0].attributes, "gender": "male"
                                                               if records[0].attributes["gender"] != "male"
                                                               else "female"}}), *records[1:]]
    with pytest.raises(StaleResultsError, match=r"8 stored pair\(s\) were generated from another prompt, "
                       r"image, label or generation setting .*syn-00000:"):
        generate_corpus(relabelled, tmp_path, CorpusConfig(), out, progress=False)
    with pytest.raises(StaleResultsError, match=r"24 stored pair\(s\)"):  # another seed: other phrasing
        generate_corpus(records, tmp_path, CorpusConfig(), out, seed=1, progress=False)


def test_corpus_template_limit_and_duplicate_ids(tmp_path: Path) -> None:
    records = synthetic_records(10)
    section = generate_corpus(records, tmp_path, CorpusConfig(limit=4, aspects=["skin_texture"]),
                              tmp_path / "c.jsonl", progress=False)
    assert (section.n_images, section.n_requested, section.aspects) == (4, 4, ["skin_texture"])
    with pytest.raises(ValueError, match="duplicate image id 'syn-00000'"):
        generate_corpus(records[:1] * 2, tmp_path, CorpusConfig(), tmp_path / "d.jsonl", progress=False)
