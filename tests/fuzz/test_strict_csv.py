"""Broken label files are refused or reported by file, row and field, never half-read.

Issue #13, items 4-5 of "what broke": one stray quote in a 1,000-row manifest left 2 records
and `data validate` said OK; NaN labels became groups; a repeated header kept its last column;
quoted newlines and U+2028 corrupted rows; a NUL byte in an image path or a lone surrogate in a
label crashed without file or row; a FIFO hung `data validate`; ANSI escapes reached the terminal.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
from pathlib import Path

import pytest
from PIL import Image

from faceaudit.cli import main
from faceaudit.data.dataset import DatasetError
from faceaudit.data.fairface import load_fairface
from faceaudit.data.manifest import load_manifest
from faceaudit.data.validate import validate_path

RACES = ["A", "B", "C"]


def write_images(root: Path, n: int) -> list[str]:
    (root / "img").mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (8, 8), (120, 90, 60)).save(root / "img" / "0.png")
    for i in range(1, n):
        os.link(root / "img" / "0.png", root / "img" / f"{i}.png")  # one file's bytes, n names
    return [f"img/{i}.png" for i in range(n)]


def manifest_rows(root: Path, n: int) -> list[str]:
    return [f"{path},{RACES[i % 3]},{'female' if i % 2 else 'male'}" for i, path in enumerate(write_images(root, n))]


def write_csv(root: Path, lines: list[str], header: str = "image,race,gender", name: str = "manifest.csv") -> Path:
    path = root / name
    path.write_text(header + "\n" + "\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_a_stray_quote_is_an_error_naming_its_row_not_two_records(tmp_path):
    rows = manifest_rows(tmp_path, 1000)
    rows[3] = rows[3].replace(",A,", ',"A,')  # row 5 of the file (header is row 1)
    rows[900] = rows[900].replace(",A,", ',A",')  # the next quote, 896 lines on
    path = write_csv(tmp_path, rows)
    with pytest.raises(DatasetError) as caught:
        load_manifest(path, check_images=False, progress=False)
    message = str(caught.value)
    assert f"{path}, row 5, field 'race'" in message and "stray" in message
    assert "runs over 898 lines (to line 902)" in message
    report = validate_path(path, progress=False)
    assert not report.ok and "row 5" in report.error


def test_an_unclosed_quote_at_the_end_is_an_error_with_its_row(tmp_path):
    rows = manifest_rows(tmp_path, 5)
    rows[-1] = rows[-1].replace(",B,", ',"B,')
    path = write_csv(tmp_path, rows)
    with pytest.raises(DatasetError, match=r"row 6: malformed CSV"):
        load_manifest(path, check_images=False, progress=False)


def test_text_after_a_closing_quote_is_an_error(tmp_path):
    rows = manifest_rows(tmp_path, 5)
    rows[1] = rows[1].replace(",B,", ',"B"x,')
    path = write_csv(tmp_path, rows)
    with pytest.raises(DatasetError, match=r"row 3: malformed CSV"):
        load_manifest(path, check_images=False, progress=False)


def test_a_repeated_header_column_is_refused(tmp_path):
    path = write_csv(tmp_path, [r + ",A" for r in manifest_rows(tmp_path, 3)], header="image,race,gender,race")
    with pytest.raises(DatasetError, match=r"row 1: column 'race' appears twice in the header \(columns 2 and 4\)"):
        load_manifest(path, check_images=False, progress=False)
    fairface = tmp_path / "ff"
    (fairface / "val").mkdir(parents=True)
    (fairface / "fairface_label_val.csv").write_text("file,age,gender,race,age\nval/1.jpg,3-9,Male,White,3-9\n")
    with pytest.raises(DatasetError, match="column 'age' appears twice"):
        load_fairface(fairface, check_images=False, progress=False)


def test_missing_value_markers_are_missing_not_groups(tmp_path):
    rows = manifest_rows(tmp_path, 9)
    for i, marker in enumerate(["NaN", "nan", "#N/A", "NA"]):
        rows[i] = rows[i].replace(f",{RACES[i % 3]},", f",{marker},")
    path = write_csv(tmp_path, rows)
    dataset = load_manifest(path, sensitive_attributes=["race"], check_images=False, progress=False)
    assert dataset.labels["race"] == ["A", "B", "C"]
    assert len(dataset) == 5
    (issue,) = [i for i in dataset.issues if i.kind == "missing_label"]
    assert (issue.field, issue.row, issue.count, issue.skipped) == ("race", 2, 4, True)


def test_a_declared_vocabulary_may_use_a_marker_as_a_label(tmp_path):
    rows = [r.replace(",A,", ",NA,") for r in manifest_rows(tmp_path, 6)]
    path = write_csv(tmp_path, rows)
    dataset = load_manifest(path, labels={"race": ["NA", "B", "C"]}, check_images=False, progress=False)
    assert dataset.labels["race"] == ["NA", "B", "C"] and len(dataset) == 6


def test_a_quoted_newline_in_a_cell_is_an_error_naming_row_and_field(tmp_path):
    rows = manifest_rows(tmp_path, 4)
    rows[2] = rows[2].replace(",C,", ',"C\nD",')
    path = write_csv(tmp_path, rows)
    with pytest.raises(DatasetError, match=r"row 4, field 'race': a quoted cell runs over 2 lines"):
        load_manifest(path, check_images=False, progress=False)


def test_u2028_in_a_csv_cell_skips_only_its_row(tmp_path):
    rows = manifest_rows(tmp_path, 6)
    rows[1] = rows[1].replace(",B,", ",B\u2028x,")
    path = write_csv(tmp_path, rows)
    dataset = load_manifest(path, check_images=False, progress=False)
    assert len(dataset) == 5 and dataset.labels["race"] == ["A", "B", "C"]
    (issue,) = [i for i in dataset.issues if i.kind == "bad_label"]
    assert (issue.row, issue.field) == (3, "race") and "\\u2028" in issue.message


def test_u2028_and_a_lone_surrogate_in_jsonl_are_reported_with_row_and_field(tmp_path):
    paths = write_images(tmp_path, 4)
    records = [{"image": p, "race": r} for p, r in zip(paths, ["A", "B\u2028", "\ud800", "C"], strict=True)]
    path = tmp_path / "manifest.jsonl"
    path.write_text("\n".join(json.dumps(r, ensure_ascii=(i == 2)) for i, r in enumerate(records)) + "\n",
                    encoding="utf-8")
    assert "\u2028" in path.read_text(encoding="utf-8")  # written raw, as ensure_ascii=False does
    dataset = load_manifest(path, check_images=False, progress=False)
    assert [r.attributes["race"] for r in dataset.records] == ["A", "C"]
    issues = sorted((i.row, i.field, i.kind) for i in dataset.issues if i.skipped)
    assert issues == [(2, "race", "bad_label"), (3, "race", "bad_label")]
    dataset.summary()  # the fingerprint hashes every label: no surrogate reaches the encoder
    report = validate_path(path, progress=False)
    assert not report.ok and "\\ud800" in report.format_text()


def test_a_nul_byte_in_an_image_path_is_a_reported_row(tmp_path):
    rows = manifest_rows(tmp_path, 3)
    rows[1] = "img/1\x00.png,B,female"
    path = write_csv(tmp_path, rows)
    dataset = load_manifest(path, progress=False)
    assert len(dataset) == 2
    (issue,) = [i for i in dataset.issues if i.skipped]
    assert (issue.row, issue.field) == (3, "image") and "\\x00" in issue.message


def _within(seconds: float, call):
    """``call()``'s result, or a test failure if it blocks longer than ``seconds``."""
    box: dict = {}
    worker = threading.Thread(target=lambda: box.setdefault("value", call()), daemon=True)
    worker.start()
    worker.join(seconds)
    return worker, box


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this platform")
def test_a_fifo_neither_hangs_validate_nor_the_image_check(tmp_path):
    fifo = tmp_path / "labels.csv"
    os.mkfifo(fifo)
    try:
        worker, box = _within(10, lambda: validate_path(fifo, progress=False))
        assert not worker.is_alive(), "data validate blocked on a FIFO"
        assert not box["value"].ok and "FIFO" in box["value"].error
        worker, box = _within(10, lambda: main(["--quiet", "data", "summarize", str(fifo)]))
        assert not worker.is_alive() and box["value"] == 3, "data summarize blocked on a FIFO"
        rows = manifest_rows(tmp_path, 3)
        os.unlink(tmp_path / "img" / "2.png")
        os.mkfifo(tmp_path / "img" / "2.png")
        path = write_csv(tmp_path, rows)
        worker, box = _within(10, lambda: load_manifest(path, progress=False))
        assert not worker.is_alive(), "the image check blocked on a FIFO"
        (issue,) = [i for i in box["value"].issues if i.skipped]
        assert issue.row == 4 and "FIFO" in issue.message
    finally:
        for name in (fifo, tmp_path / "img" / "2.png"):  # release a reader that did block
            with contextlib.suppress(OSError):
                os.close(os.open(name, os.O_WRONLY | os.O_NONBLOCK))


def test_ansi_escapes_in_labels_never_reach_the_terminal(tmp_path, capsys):
    rows = manifest_rows(tmp_path, 3)
    rows[0] = rows[0].replace(",A,", ",\x1b[2J\x1b[31mA,")
    path = write_csv(tmp_path, rows)
    code = main(["--quiet", "data", "validate", str(path)])
    out = capsys.readouterr()
    assert code == 1 and "\x1b" not in out.out + out.err
    assert "\\x1b[2J\\x1b[31mA" in out.out and "row 2" in out.out
