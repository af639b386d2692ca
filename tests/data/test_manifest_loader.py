"""Generic manifests: CSV and JSONL, the sidecar, and every kind of bad row or image."""

from __future__ import annotations

import io
import json
import os
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from faceaudit.data.dataset import DatasetError
from faceaudit.data.manifest import load_manifest

SIDECAR = """\
name: helmets
kind: manifest
sensitive_attributes: [skin_tone, gender]
task_attributes: [helmet]
ordinal:
  skin_tone: ["1", "2", "3"]
labels:
  gender: [female, male]
  helmet: [yes, no]
"""


def png_header_only(width: int, height: int) -> bytes:
    """A valid PNG declaring ``width x height`` pixels with a tiny data chunk (nothing is allocated)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\0"))
        + chunk(b"IEND", b"")
    )


def save(root: Path, name: str, mode: str = "RGB") -> None:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if mode == "I;16":
        Image.fromarray(np.full((6, 6), 40000, dtype=np.uint16)).save(path)
    else:
        Image.new(mode, (6, 6)).save(path)


def write_csv(
    root: Path, lines: list[str], header: str = "id,image,split,skin_tone,gender,helmet"
) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    path = root / "manifest.csv"
    path.write_text(header + "\n" + "".join(line + "\n" for line in lines))
    return path


def test_csv_with_sidecar(tmp_path: Path) -> None:
    for name in ("a.png", "b.png", "c.png"):
        save(tmp_path / "set" / "img", name)
    manifest = write_csv(
        tmp_path / "set",
        [
            "a,img/a.png,train,1,female,yes",
            "b,img/b.png,test,3,male,no",
            "c,img/c.png,test,2,male,yes",
        ],
    )
    (tmp_path / "set" / "faceaudit-dataset.yaml").write_text(SIDECAR)
    dataset = load_manifest(manifest, progress=False)
    assert dataset.name == "helmets" and dataset.kind == "manifest"
    assert dataset.sensitive_attributes == ["skin_tone", "gender"]
    assert dataset.task_attributes == ["helmet"]
    # YAML `yes`/`no` stay the strings the manifest holds (not booleans).
    assert dataset.labels["helmet"] == ["yes", "no"]
    assert dataset.labels["skin_tone"] == ["1", "2", "3"] and dataset.ordinal == {
        "skin_tone": ["1", "2", "3"]
    }
    assert [r.split for r in dataset.records] == ["train", "test", "test"]
    assert dataset.records[1].attributes == {"skin_tone": "3", "gender": "male", "helmet": "no"}
    assert dataset.issues == []


def test_jsonl_with_nested_attributes_and_defaults(tmp_path: Path) -> None:
    save(tmp_path, "x/1.jpg")
    save(tmp_path, "x/2.jpg")
    lines = [
        {"image": "x/1.jpg", "attributes": {"gender": "female", "age": 30}, "split": "test"},
        {"image": "x/2.jpg", "gender": "male", "age": 41.0, "expression": "smiling"},
        "not json at all",
        [1, 2],
    ]
    path = tmp_path / "faces.jsonl"
    path.write_text("\n".join(json.dumps(x) if not isinstance(x, str) else x for x in lines) + "\n")
    dataset = load_manifest(path, progress=False)
    assert [r.id for r in dataset.records] == ["x/1", "x/2"]
    assert dataset.records[0].attributes == {"gender": "female", "age": "30"}
    assert dataset.records[1].attributes == {"gender": "male", "age": "41", "expression": "smiling"}
    # Without a sidecar: known demographic columns are sensitive, every attribute is a task.
    assert dataset.sensitive_attributes == ["gender", "age"]
    assert dataset.task_attributes == ["gender", "age", "expression"]
    bad = [i for i in dataset.issues if i.kind == "bad_row"]
    assert [i.row for i in bad] == [3, 4]
    assert (
        "not valid JSON" in bad[0].message and "expected a JSON object, got list" in bad[1].message
    )
    assert any(
        i.kind == "default_choice" and "using gender, age" in i.message for i in dataset.issues
    )


def test_paths_escaping_the_root_are_refused(tmp_path: Path) -> None:
    root = tmp_path / "set"
    save(root, "in.png")
    save(tmp_path, "outside.png")
    os.symlink(tmp_path / "outside.png", root / "link.png")
    manifest = write_csv(
        root,
        [
            "a,in.png,,1,female,yes",
            "b,../outside.png,,1,female,yes",
            f"c,{tmp_path / 'outside.png'},,1,female,yes",
            "d,link.png,,1,female,yes",
            f"e,{root / 'in.png'},,1,female,yes",
        ],
    )
    dataset = load_manifest(manifest, progress=False)
    # An absolute path inside the root is fine (stored relative); the two ids share an image.
    assert [(r.id, r.image_path) for r in dataset.records] == [("a", "in.png"), ("e", "in.png")]
    escaped = {i.row: i for i in dataset.issues if i.kind == "path_outside_root"}
    assert sorted(escaped) == [3, 4, 5]
    assert "'../outside.png' is a path outside the dataset root" in escaped[3].message
    assert "is a symlink that points outside the dataset root" in escaped[5].message
    assert all(i.field == "image" and i.skipped for i in escaped.values())


def test_duplicate_ids_keep_the_first(tmp_path: Path) -> None:
    save(tmp_path, "a.png")
    save(tmp_path, "b.png")
    manifest = write_csv(tmp_path, ["a,a.png,,1,female,yes", "a,b.png,,2,male,no"])
    dataset = load_manifest(manifest, progress=False)
    assert [(r.id, r.image_path) for r in dataset.records] == [("a", "a.png")]
    (duplicate,) = dataset.issues[-1:]
    assert duplicate.kind == "duplicate_id" and duplicate.row == 3
    assert (
        duplicate.message
        == "id 'a' already used in row 2; this row was skipped (the first one is kept)"
    )


def test_unknown_labels_against_the_sidecar_vocabulary(tmp_path: Path) -> None:
    for name in ("a.png", "b.png", "c.png"):
        save(tmp_path, name)
    manifest = write_csv(
        tmp_path, ["a,a.png,,1,femal,yes", "b,b.png,,4,male,no", "c,c.png,,2,male,"]
    )
    (tmp_path / "faceaudit-dataset.yaml").write_text(SIDECAR)
    dataset = load_manifest(manifest, progress=False)
    assert [r.id for r in dataset.records] == ["c"]
    assert dataset.records[0].attributes == {"skin_tone": "2", "gender": "male"}
    by_field = {(i.kind, i.field): i for i in dataset.issues}
    assert by_field[("unknown_label", "gender")].suggestion == "female"
    assert by_field[("unknown_label", "skin_tone")].message.startswith(
        "unknown skin_tone label '4'"
    )
    # An empty task label keeps the record (without it); an empty sensitive one would skip it.
    kept = by_field[("missing_label", "helmet")]
    assert not kept.skipped and "kept without 'helmet'" in kept.message


def test_bad_images_are_skipped_and_conversions_counted(tmp_path: Path) -> None:
    save(tmp_path, "rgb.png")
    save(tmp_path, "gray.png", "L")
    save(tmp_path, "gray2.png", "L")
    save(tmp_path, "alpha.png", "RGBA")
    save(tmp_path, "deep.png", "I;16")
    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(1).integers(0, 255, (48, 48, 3), dtype=np.uint8)).save(
        buffer, format="JPEG"
    )
    (tmp_path / "cut.jpg").write_bytes(buffer.getvalue()[:300])
    (tmp_path / "text.png").write_text("hello")
    (tmp_path / "bomb.png").write_bytes(png_header_only(90_000, 90_000))
    names = [
        "rgb.png",
        "gray.png",
        "gray2.png",
        "alpha.png",
        "deep.png",
        "cut.jpg",
        "text.png",
        "bomb.png",
        "gone.png",
    ]
    manifest = write_csv(tmp_path, [f"{n},{n},,1,male,no" for n in names])
    dataset = load_manifest(manifest, progress=False)
    assert [r.id for r in dataset.records] == names[:5]
    assert dict(dataset.conversions) == {"L->RGB": 2, "RGBA->RGB": 1, "I;16->RGB": 1}
    assert dataset.summary().conversions == {"I;16->RGB": 1, "L->RGB": 2, "RGBA->RGB": 1}
    skipped = {i.row: i.kind for i in dataset.issues if i.skipped}
    assert skipped == {
        7: "truncated_image",
        8: "unreadable_image",
        9: "decompression_bomb",
        10: "missing_file",
    }


def test_fatal_manifest_problems(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="without manifest.csv or manifest.jsonl"):
        load_manifest(tmp_path)
    with pytest.raises(DatasetError, match="does not exist"):
        load_manifest(tmp_path / "nope.csv")
    write_csv(tmp_path, ["a,1,female"], header="id,skin_tone,gender")
    with pytest.raises(
        DatasetError, match="no image column; name it one of image, image_path, path, file"
    ):
        load_manifest(tmp_path / "manifest.csv")
    save(tmp_path, "a.png")
    write_csv(tmp_path, ["a,a.png,,1,female,yes"])
    with pytest.raises(DatasetError, match=r"sensitive attribute\(s\) 'race' are not columns"):
        load_manifest(tmp_path / "manifest.csv", sensitive_attributes=["race"])
    (tmp_path / "faceaudit-dataset.yaml").write_text("labels: [oops\n")
    with pytest.raises(DatasetError, match="faceaudit-dataset.yaml: not valid YAML"):
        load_manifest(tmp_path / "manifest.csv")
