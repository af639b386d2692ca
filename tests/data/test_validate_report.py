"""``validate_path``: layout detection and a report people can read."""

from __future__ import annotations

import json
from pathlib import Path

from PIL import Image

from faceaudit.data.validate import detect_kind, validate_path


def test_real_fairface_folder_is_ok(shared_fairface: Path) -> None:
    report = validate_path(shared_fairface, progress=False)
    assert report.kind == "fairface" and report.ok
    assert report.n_records == 2100 and report.splits == {"val": 2100}
    assert report.counts["gender"] == {"Male": 1050, "Female": 1050}
    text = report.format_text()
    assert "records: 2100" in text and "gender: Male 1050, Female 1050" in text
    assert "issues: none" in text and text.endswith("OK")
    assert detect_kind(shared_fairface / "fairface_label_val.csv") == "fairface"


def test_damaged_fairface_csv_is_reported(tmp_path: Path) -> None:
    (tmp_path / "val").mkdir()
    for n in (1, 2, 3):
        Image.new("L", (4, 4)).save(tmp_path / "val" / f"{n}.jpg")
    (tmp_path / "fairface_label_val.csv").write_text(
        "file,age,gender,race,service_test\n"
        "val/1.jpg,9-Mar,Male,White,False\n"
        "val/2.jpg,20-29,Mael,White,False\n"
        "val/3.jpg,19-Oct,Female,Black,True\n"
    )
    report = validate_path(tmp_path / "fairface_label_val.csv", progress=False)
    assert report.kind == "fairface" and not report.ok
    assert report.n_records == 2 and report.skipped == 1
    assert report.conversions == {"L->RGB": 2}
    text = report.format_text()
    assert "[repaired_label]" in text and "age '9-Mar' read as '3-9'" in text
    assert "unknown gender label 'Mael'" in text and "(did you mean 'Male'?)" in text
    assert "image conversions: L->RGB 2" in text
    assert text.endswith("NOT OK")


def test_manifest_and_facexbench_and_garbage(tmp_path: Path) -> None:
    Image.new("RGB", (4, 4)).save(tmp_path / "a.png")
    (tmp_path / "manifest.csv").write_text("image,gender\na.png,female\n../b.png,male\n")
    report = validate_path(tmp_path, progress=False)
    assert report.kind == "manifest" and report.n_records == 1 and not report.ok
    assert [i.kind for i in report.issues if i.skipped] == ["path_outside_root"]

    bench = tmp_path / "bench"
    bench.mkdir()
    question = {"image_paths": ["images/q1.png"], "question_text": "Age?", "options": ["0-2", "3-9"],
                "correct_answer_option": "B", "answer": "3-9"}  # fmt: skip
    data = {"category": "bias_fairness", "sub-category": "age", "questions": {"1": question}}
    (bench / "x.json").write_text(json.dumps(data))
    not_downloaded = validate_path(bench / "x.json")  # validation also requires the images
    assert not not_downloaded.ok and "'images/q1.png' does not exist" in (
        not_downloaded.error or ""
    )
    (bench / "images").mkdir()
    Image.new("RGB", (4, 4)).save(bench / "images" / "q1.png")
    items = validate_path(bench / "x.json")
    assert items.kind == "facexbench" and items.ok and items.n_items == 1
    assert items.counts == {"task": {"bias_fairness/age": 1}}
    assert "multiple-choice items: 1" in items.format_text()

    (tmp_path / "notes.txt").write_text("hello")
    unknown = validate_path(tmp_path / "notes.txt")
    assert (
        unknown.kind == "unknown"
        and not unknown.ok
        and "not a FairFace folder" in (unknown.error or "")
    )
    missing = validate_path(tmp_path / "nothing-here")
    assert missing.error == f"{tmp_path / 'nothing-here'} does not exist"
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "manifest.jsonl").write_text("")
    empty = validate_path(tmp_path / "empty")
    assert empty.kind == "manifest" and not empty.ok
    assert "ERROR:" in empty.format_text() and "no image column" in (empty.error or "")
