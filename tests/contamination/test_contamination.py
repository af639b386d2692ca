"""Train/eval contamination: planted copies are found, different faces are never matched."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from faceaudit.config import load_config
from faceaudit.contamination.config import ContaminationConfig
from faceaudit.contamination.hashing import fingerprints, match_images
from faceaudit.contamination.stage import check_contamination, corpus_image_paths
from faceaudit.data.records import McqItem
from faceaudit.errors import InputError
from faceaudit.pipeline import run_audit

CFG = ContaminationConfig()


def _jpeg(image: Image.Image, quality: int, scale: float) -> bytes:
    size = (round(image.width * scale), round(image.height * scale))
    buffer = io.BytesIO()
    image.convert("RGB").resize(size, Image.Resampling.BICUBIC).save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


def _item(path: str, race: str) -> McqItem:
    return McqItem(item_id=f"{path}:race", image_ids=[path], image_paths=[path], task="race", question="Race?",
                   options=["A", "B"], answer="A", groups={"race": race})


def test_fairface_copies_reencoded_and_resized_are_found_and_different_faces_never_match(
    shared_fairface: Path, tmp_path: Path
) -> None:
    files = sorted((shared_fairface / "val").glob("*.jpg"))
    planted, eval_only, corpus_only = files[:16], files[16:316], files[316:616]
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    expected = {}
    for k, source in enumerate(planted):
        image = Image.open(source)
        kind = k % 4
        target = corpus / f"copy{k}.{'png' if kind == 1 else 'jpg'}"
        if kind == 0:
            shutil.copyfile(source, target)  # the same file
        elif kind == 1:
            image.save(target)  # the same pixels, another container
        elif kind == 2:
            target.write_bytes(_jpeg(image, 35, 0.5))  # JPEG quality 35 at 112 px
        else:
            target.write_bytes(_jpeg(image, 90, 1.43))  # JPEG quality 90 at 320 px
        expected[f"val/{source.name}"] = ("file", "pixels", "near", "near")[kind]
    for source in corpus_only:
        shutil.copyfile(source, corpus / source.name)
    sharegpt = corpus / "fairfacegpt.json"
    sharegpt.write_text(json.dumps([{"conversations": [], "images": [p.name]} for p in sorted(corpus.iterdir())]))
    items = [_item(f"val/{p.name}", "r1" if i % 2 else "r2") for i, p in enumerate(planted + eval_only)]
    section = check_contamination(items, shared_fairface, sharegpt, corpus, CFG, sensitive_attributes=["race"])
    found = {e.eval_image: e.kind for e in section.examples}
    assert section.n_contaminated_images == 16 and found == expected
    assert (section.n_exact_file, section.n_exact_pixels, section.n_near) == (4, 4, 8)
    assert section.n_eval_images == 316 and section.n_corpus_images == 316
    assert sum(g.n_contaminated for g in section.groups) == 16
    assert {(g.label, g.n_images, g.n_contaminated) for g in section.groups} == {("r1", 158, 8), ("r2", 158, 8)}
    assert 0.02 < section.rate.lower < 16 / 316 < section.rate.upper


def test_no_two_different_synthetic_faces_match(tmp_path: Path) -> None:
    from faceaudit.data.synthetic import SyntheticConfig, render_synthetic

    render_synthetic(tmp_path, SyntheticConfig(n=400, image_size=64, seed=3), progress=False)
    paths = sorted((tmp_path / "images").glob("*.png"))
    prints = fingerprints(paths, workers=2)
    half = len(prints) // 2
    # Every face of one half against every face of the other: 40,000 pairs of different faces.
    assert match_images(prints[:half], prints[half:], phash_max_distance=CFG.phash_max_distance,
                        thumbnail_max_difference=CFG.thumbnail_max_difference) == []
    # Re-encoded at JPEG 75 and resized to 48 or 96 px, each face of the first half is found
    # as itself, never as another face.
    copies = tmp_path / "copies"
    copies.mkdir()
    for k, path in enumerate(paths[:half]):
        (copies / f"{k:04d}.jpg").write_bytes(_jpeg(Image.open(path), 75, 0.75 if k % 2 else 1.5))
    copied = fingerprints(sorted(copies.glob("*.jpg")), workers=2)
    matches = match_images(prints[:half], copied + prints[half:], phash_max_distance=CFG.phash_max_distance,
                           thumbnail_max_difference=CFG.thumbnail_max_difference)
    assert [(m.eval_index, m.corpus_index, m.kind) for m in matches] == [(k, k, "near") for k in range(half)]


def test_corpus_jsonl_counts_only_accepted_records(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus.jsonl"
    rows = [{"image_path": "a.png", "status": "accepted"}, {"image_path": "b.png", "status": "rejected"},
            {"image_paths": ["c.png", "d.png"], "status": "accepted"}]
    corpus.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert corpus_image_paths(corpus) == ["a.png", "c.png", "d.png"]
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([{"images": "x.png"}, {"images": [3]}]))
    with pytest.raises(InputError, match=r"item 1: 'images' must be a list of paths"):
        corpus_image_paths(bad)


FAST = [
    "dataset.synthetic.n=200",
    "dataset.synthetic.image_size=32",
    "train.enabled=false",
    "perturb.enabled=false",
    "report.enabled=false",
    "scan.enabled=false",
    "corpus.aspects=[demographic_attributes]",
    "evaluate.backend=simulated",
    "evaluate.n_boot=100",
    "evaluate.intersections=false",
]


def test_pipeline_stage_counts_planted_copies_blocks_the_release_and_recomputes_clean_accuracy(
    tmp_path: Path,
) -> None:
    clean = run_audit(load_config(overrides=[*FAST, f"output_dir={tmp_path}", "run_id=clean"]), progress=False)
    section = clean.result.contamination
    assert "contamination" in clean.result.run.stages_run
    assert section is not None and section.n_contaminated_images == 0 and section.n_corpus_images > 0
    check = next(c for c in clean.result.gate.checks if c.id == "no-train-eval-contamination")
    assert check.verdict == "PASS" and check.severity == "blocking"

    # A corpus from elsewhere holding JPEG copies of 10 evaluation images, 1.5x larger.
    run_dir = tmp_path / "clean"
    predictions = (run_dir / "evaluate" / "predictions-scoring.jsonl").read_text().splitlines()
    test_images = sorted({json.loads(line)["image_id"] for line in predictions})
    media = tmp_path / "media"
    media.mkdir()
    planted = test_images[:10]
    for image_id in planted:
        (media / f"{image_id}.jpg").write_bytes(_jpeg(Image.open(run_dir / "data" / "images" / f"{image_id}.png"), 80, 1.5))
    sharegpt = media / "corpus.json"
    sharegpt.write_text(json.dumps([{"images": [f"{i}.jpg"]} for i in planted]))
    outcome = run_audit(load_config(overrides=[*FAST, f"output_dir={tmp_path}", "run_id=dirty",
                                               f"contamination.corpus={sharegpt}"]), progress=False)
    dirty = outcome.result.contamination
    assert (dirty.n_contaminated_images, dirty.n_near, dirty.trained_on_corpus) == (10, 10, False)
    n_tasks = len(outcome.result.evaluation.tasks)
    assert dirty.n_contaminated_items == 10 * n_tasks
    assert sorted(e.eval_image for e in dirty.examples) == [f"images/{i}.png" for i in planted]
    check = next(c for c in outcome.result.gate.checks if c.id == "no-train-eval-contamination")
    assert check.verdict == "FAIL" and outcome.result.gate.verdict == "FAIL"
    assert any(w.stage == "contamination" for w in outcome.result.warnings)
    # Clean accuracy: the same outcomes minus the planted items, group by group.
    for task in dirty.clean:
        assert task.n_excluded == 10 and task.overall_clean.n == task.n_items - 10
        for group in task.groups:
            assert group.clean_items.n == group.all_items.n - group.n_excluded
        assert sum(g.n_excluded for g in task.groups if g.attribute == task.groups[0].attribute) == 10
        stored = next(t for t in outcome.result.evaluation.tasks if t.task == task.task)
        for group in task.groups:
            match = next(g for g in stored.groups if g.attributes == [group.attribute] and g.labels == [group.label])
            assert group.all_items.value == pytest.approx(match.metrics["accuracy"].value)


def test_facexbench_questions_on_images_of_a_fairfacegpt_style_corpus_are_caught(
    shared_fairface: Path, tmp_path: Path
) -> None:
    """The case the check exists for: benchmark questions asked on the images the corpus was made from."""
    import csv

    from faceaudit.items import export_items

    with open(shared_fairface / "fairface_label_val.csv", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))[:60]
    races = sorted({r["race"] for r in rows})
    items = []
    for row in rows[:40]:
        others = [r for r in races if r != row["race"]][:3]
        items.append(McqItem(item_id=row["file"], image_ids=[row["file"]], image_paths=[row["file"]], task="race",
                             question="What is the race of the person in this image?",
                             options=[row["race"], *others], answer="A", dataset="fairface"))
    export_items(items, shared_fairface, tmp_path / "bench", formats=["facexbench"])
    # FairFaceGPT-style corpus: 10 of the benchmark's images re-encoded (JPEG 60, 168 px), 20 others.
    media = tmp_path / "media"
    media.mkdir()
    names = []
    for row in rows[:10]:
        name = Path(row["file"]).name
        (media / name).write_bytes(_jpeg(Image.open(shared_fairface / row["file"]), 60, 0.75))
        names.append(name)
    for row in rows[40:60]:
        shutil.copyfile(shared_fairface / row["file"], media / Path(row["file"]).name)
        names.append(Path(row["file"]).name)
    sharegpt = tmp_path / "fairfacegpt.json"
    sharegpt.write_text(json.dumps([{"conversations": [], "images": [n]} for n in names]))
    result = run_audit(load_config(overrides=[
        "dataset.kind=facexbench", f"dataset.path={tmp_path / 'bench' / 'facexbench'}",
        "evaluate.backend=simulated", "evaluate.n_boot=100", "perturb.enabled=false", "report.enabled=false",
        f"contamination.corpus={sharegpt}", f"contamination.media_dir={media}",
        f"output_dir={tmp_path}", "run_id=fx",
    ]), progress=False).result
    section = result.contamination
    assert (section.n_eval_images, section.n_corpus_images, section.n_contaminated_images) == (40, 30, 10)
    assert section.n_near == 10 and section.corpus == str(sharegpt)
    assert sorted(e.eval_image for e in section.examples) == sorted(
        f"images/faceaudit_race/question_{k}.jpg" for k in range(1, 11))
    assert next(c for c in result.gate.checks if c.id == "no-train-eval-contamination").verdict == "FAIL"


def test_an_unreadable_corpus_image_is_counted_and_named_not_fatal(tmp_path: Path, monkeypatch) -> None:
    """A corpus image above the decode limit (a 108-megapixel phone photo) stopped the whole check;
    it is now left out with a note naming it, and the other images are still compared."""
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[1] / "fuzz"))
    from test_image_properties import png_header_only

    blocks = np.random.default_rng(3).integers(0, 256, (8, 8, 3), dtype=np.uint8)
    face = Image.fromarray(np.kron(blocks, np.ones((16, 16, 1), dtype=np.uint8)))  # smooth enough to re-encode
    face.save(tmp_path / "eval.png")
    (tmp_path / "copy.jpg").write_bytes(_jpeg(face, 90, 1.0))
    (tmp_path / "huge.png").write_bytes(png_header_only(12_000, 12_000))  # 144 Mpx declared
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text("".join(json.dumps({"image_path": p, "status": "accepted"}) + "\n"
                              for p in ("copy.jpg", "huge.png")))
    section = check_contamination([_item("eval.png", "x")], tmp_path, corpus, tmp_path, CFG, sensitive_attributes=["race"])
    assert section.n_contaminated_images == 1 and section.n_corpus_images == 1
    (note,) = [n for n in section.notes if "could not be read" in n]
    assert note.startswith("1 of the 2 images the corpus names could not be read and were not compared")
    assert "huge.png" in note and "decompression bomb" in note
    with pytest.raises(InputError, match="huge.png"):
        fingerprints([tmp_path / "huge.png"])  # asked directly, it is still an error naming it
