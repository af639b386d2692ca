"""`faceaudit scan` on a FairFaceGPT-style ShareGPT file with a FairFace label CSV, then on its
own run directory with a reviewer's verdicts, then the gate's opt-in review check."""

from __future__ import annotations

import csv
import json
import random
from pathlib import Path

from faceaudit.cli import EXIT_OK, EXIT_USAGE, main
from faceaudit.schema import AuditResult

FAST = ["--set", "dataset.synthetic.n=30", "--set", "scan.review.precision=0.3"]
RACES = ["White", "Black", "East Asian"]


def _files(tmp_path: Path) -> tuple[Path, Path]:
    rng = random.Random(0)
    labels = tmp_path / "fairface_label_val.csv"
    items = []
    with labels.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["file", "age", "gender", "race", "service_test"])
        for i in range(1, 91):
            race, gender = RACES[i % 3], ("Male", "Female")[i % 2]
            writer.writerow([f"val/{i}.jpg", "20-29", gender, race, "False"])
            noun = "man" if gender == "Male" else "woman"
            for aspect in ("demographic attributes", "skin texture"):
                answer = f"A {race} {noun} in their twenties. " if aspect.startswith("demo") else ""
                answer += f"The skin looks {rng.choice(['smooth', 'even', 'clear'])} in soft light."
                items.append({"conversations": [
                    {"from": "human", "value": f"<image>Describe the {aspect} of the image based on the visual information."},
                    {"from": "gpt", "value": answer}], "images": [f"fairface/val/{i}.jpg"]})
    corpus = tmp_path / "fairfacegpt.json"
    corpus.write_text(json.dumps(items), encoding="utf-8")
    return corpus, labels


def test_scan_a_sharegpt_file_then_import_verdicts_from_its_run(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    corpus, labels = _files(tmp_path)
    code = main(["-q", "scan", str(corpus), "--labels", str(labels), "--attributes", "race,gender",
                 "--run-id", "first", *FAST])
    out = capsys.readouterr().out
    assert code == EXIT_OK, out
    assert "180 pairs on 90 images (0 unlabelled)" in out and "0 checked by a human" in out
    first = AuditResult.load(tmp_path / "runs" / "first" / "audit.json")
    scan = first.corpus_scan
    assert first.run.stages_run == ["dataset", "corpus", "scan"] and scan.attributes == ["race", "gender"]
    assert scan.label_consistency.rates["any_contradiction"].overall.value == 0.0

    queue = tmp_path / "runs" / "first" / scan.review.queue_csv
    rows = list(csv.DictReader(queue.open(encoding="utf-8")))
    with (tmp_path / "verdicts.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        for row in rows:
            writer.writerow({**row, "verdict": "ok"})
    code = main(["-q", "scan", "runs/first", "--verdicts", "verdicts.csv", "--require-review",
                 "--run-id", "second", *FAST])
    out = capsys.readouterr().out
    assert code == EXIT_OK, out
    second = AuditResult.load(tmp_path / "runs" / "second" / "audit.json").corpus_scan.review
    assert second.n_checked == len(rows) and second.required and second.shortfall == 0
    assert second.reviewed.groups["race=Black"].rate.value == 0.0

    main(["gate", "runs/second/audit.json", "--insufficient-ok"])
    gate_text = capsys.readouterr().out
    assert "`corpus-review-done` | blocking | **PASS**" in gate_text


def test_a_corpus_whose_images_have_no_labels_is_a_usage_error(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    corpus, _ = _files(tmp_path)
    assert main(["-q", "scan", str(corpus), "--attributes", "race", *FAST]) == EXIT_USAGE
    assert "pass the corpus's labels with scan.labels" in capsys.readouterr().err
