"""FairFace loading: the real 2,100-image sample, both folder layouts, and damaged label files."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from faceaudit.data.config import DatasetConfig
from faceaudit.data.dataset import DatasetError
from faceaudit.data.fairface import FAIRFACE_AGES, FAIRFACE_RACES, load_fairface
from faceaudit.data.loaders import load_dataset

HEADER = "file,age,gender,race,service_test\n"


def make_fairface(root: Path, rows: list[str], *, split: str = "val", images: bool = True) -> Path:
    """A FairFace-layout folder: label CSV with ``rows`` and an 8x8 JPEG per listed file."""
    root.mkdir(parents=True, exist_ok=True)
    (root / f"fairface_label_{split}.csv").write_text(HEADER + "".join(r + "\n" for r in rows))
    if images:
        for row in rows:
            name = row.split(",", 1)[0]
            if name:
                (root / name).parent.mkdir(parents=True, exist_ok=True)
                Image.new("RGB", (8, 8), (len(name) * 9 % 255, 90, 40)).save(root / name)
    return root


def test_real_sample_loads_with_official_counts(shared_fairface: Path) -> None:
    dataset = load_fairface(shared_fairface, progress=False)
    assert len(dataset) == 2100
    assert dataset.issues == [] and not dataset.conversions
    assert dataset.sensitive_attributes == ["race", "gender", "age"]
    assert dataset.ordinal["age"] == FAIRFACE_AGES
    summary = dataset.summary()
    assert summary.splits == {"val": 2100}
    # README of the shared sample: 150 per race x gender, and these age counts.
    assert set(summary.intersections["race x gender"].values()) == {150}
    assert len(summary.intersections["race x gender"]) == 14
    assert summary.counts["age"] == {
        "0-2": 46, "3-9": 263, "10-19": 213, "20-29": 654, "30-39": 430,
        "40-49": 254, "50-59": 155, "60-69": 62, "more than 70": 23,
    }  # fmt: skip
    assert list(summary.counts["race"]) == FAIRFACE_RACES
    first = dataset.records[0]
    assert first.id == "val/6" and first.image_path == "val/6.jpg" and first.split == "val"
    assert first.attributes == {
        "race": "Latino_Hispanic",
        "gender": "Male",
        "age": "30-39",
        "service_test": "False",
    }
    assert dataset.image_file(first).is_file()


def test_spreadsheet_mangled_ages_are_repaired_and_counted(tmp_path: Path) -> None:
    rows = [
        "val/1.jpg,9-Mar,Male,White,False",
        "val/2.jpg,9-Mar,Female,Black,False",
        "val/3.jpg,03-Sep,Female,Black,False",
        "val/4.jpg,19-Oct,Male,Indian,False",
        "val/5.jpg,Oct-19,Male,Indian,FALSE",
        "val/6.jpg,20-29,Male,Indian,True",
    ]
    dataset = load_fairface(make_fairface(tmp_path / "ff", rows), progress=False)
    assert [r.attributes["age"] for r in dataset.records] == [
        "3-9",
        "3-9",
        "3-9",
        "10-19",
        "10-19",
        "20-29",
    ]
    repaired = {(i.field, i.count): i for i in dataset.issues if i.kind == "repaired_label"}
    # One issue per mangled spelling with its row count, not one per row.
    assert len([i for i in dataset.issues if i.kind == "repaired_label"]) == 5
    nine_mar = repaired[("age", 2)]
    assert (
        "'9-Mar' read as '3-9'" in nine_mar.message and nine_mar.row == 2 and not nine_mar.skipped
    )
    assert any("'Oct-19' read as '10-19'" in i.message for i in dataset.issues)
    assert any("'FALSE' read as 'False'" in i.message for i in dataset.issues)
    assert dataset.summary().issues[0].kind == "repaired_label"
    assert dataset.summary().issues[0].count == 6


def test_unknown_labels_are_skipped_with_closest_suggestion(tmp_path: Path) -> None:
    rows = [
        "val/1.jpg,20-29,Male,White,False",
        "val/2.jpg,20-29,Mael,White,False",
        "val/3.jpg,20-29,Female,Latino/Hispanic,False",
        "val/4.jpg,70+,Female,Black,False",
        "val/5.jpg,,Female,Black,False",
        "val/6.jpg,20-29,male,White,False",
    ]
    dataset = load_fairface(make_fairface(tmp_path / "ff", rows), progress=False)
    assert [r.id for r in dataset.records] == ["val/1"]
    unknown = {
        i.field: i
        for i in dataset.issues
        if i.kind == "unknown_label" and "'male'" not in i.message
    }
    assert unknown["gender"].suggestion == "Male" and unknown["gender"].row == 3
    assert "unknown gender label 'Mael'" in unknown["gender"].message
    assert "accepted: Male, Female" in unknown["gender"].message
    assert unknown["race"].suggestion == "Latino_Hispanic"
    assert unknown["age"].message.startswith("unknown age label '70+'")
    # A case difference is not spreadsheet damage: skipped with a suggestion, like a typo.
    lower = [i for i in dataset.issues if i.kind == "unknown_label" and "'male'" in i.message]
    assert lower[0].suggestion == "Male" and lower[0].row == 7
    missing = [i for i in dataset.issues if i.kind == "missing_label"]
    assert missing[0].field == "age" and missing[0].row == 6 and missing[0].skipped


def test_duplicate_and_missing_images_are_reported(tmp_path: Path) -> None:
    rows = ["val/1.jpg,20-29,Male,White,False", "val/2.jpg,20-29,Male,White,False"]
    root = make_fairface(tmp_path / "ff", rows)
    (root / "fairface_label_val.csv").write_text(
        HEADER
        + "".join(
            r + "\n"
            for r in [*rows, "val/1.jpg,30-39,Male,White,False", "val/9.jpg,3-9,Male,Black,True"]
        )
    )
    dataset = load_fairface(root, progress=False)
    assert [r.id for r in dataset.records] == ["val/1", "val/2"]
    kinds = {i.kind: i for i in dataset.issues}
    assert (
        kinds["duplicate_id"].row == 4 and "already used in row 2" in kinds["duplicate_id"].message
    )
    assert kinds["missing_file"].row == 5
    assert (
        "'val/9.jpg'" in kinds["missing_file"].message
        and "does not exist" in kinds["missing_file"].message
    )


def test_padding_folders_layout_and_choice(tmp_path: Path) -> None:
    root = tmp_path / "fairface"
    rows = ["val/1.jpg,20-29,Male,White,False"]
    make_fairface(root / "fairface-img-margin025-trainval", rows)
    make_fairface(root / "fairface-img-margin125-trainval", rows)
    for padding_folder in root.iterdir():
        (
            padding_folder / "fairface_label_val.csv"
        ).unlink()  # labels live once, next to both archives
    (root / "fairface_label_val.csv").write_text(HEADER + rows[0] + "\n")
    loose = load_dataset(
        DatasetConfig(kind="fairface", path=str(root), padding="1.25"), progress=False
    )
    assert loose.name == "fairface (padding 1.25)"
    assert loose.root == root / "fairface-img-margin125-trainval"
    assert load_fairface(root, padding=1.25, progress=False).root == loose.root
    default = load_fairface(root, progress=False)
    assert default.name == "fairface (padding 0.25)"
    assert [i.kind for i in default.issues] == ["default_choice"]
    assert "both paddings are present" in default.issues[0].message
    # Pointing at the image folder itself finds the label CSV in its parent.
    direct = load_fairface(root / "fairface-img-margin125-trainval", progress=False)
    assert len(direct) == 1 and direct.root == root / "fairface-img-margin125-trainval"
    with pytest.raises(
        DatasetError, match="padding '0.5' is not one of the released paddings: 0.25, 1.25"
    ):
        load_fairface(root, padding="0.5", progress=False)


def test_split_selection_and_both_label_files(tmp_path: Path) -> None:
    root = make_fairface(tmp_path / "ff", ["val/1.jpg,20-29,Male,White,False"])
    make_fairface(
        root,
        ["train/1.jpg,3-9,Female,Indian,False", "train/2.jpg,3-9,Male,Indian,False"],
        split="train",
    )
    both = load_fairface(root, progress=False)
    assert both.summary().splits == {"train": 2, "val": 1}
    assert [r.id for r in load_fairface(root, split="train", progress=False).records] == [
        "train/1",
        "train/2",
    ]
    with pytest.raises(DatasetError, match="not one of: train, val"):
        load_fairface(root, split="test", progress=False)


def test_fatal_problems_raise_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="no FairFace image folder found"):
        load_fairface(tmp_path, progress=False)
    (tmp_path / "val").mkdir()
    with pytest.raises(
        DatasetError, match="no FairFace label CSV found; looked for: .*fairface_label_train.csv"
    ):
        load_fairface(tmp_path, progress=False)
    (tmp_path / "fairface_label_val.csv").write_text(
        "file,age,sex,race\nval/1.jpg,3-9,Male,White\n"
    )
    with pytest.raises(
        DatasetError, match=r"missing column\(s\) gender; found: file, age, sex, race"
    ):
        load_fairface(tmp_path, progress=False)
    (tmp_path / "fairface_label_val.csv").write_text(HEADER + "val/1.jpg,3-9,Male,Whit,False\n")
    with pytest.raises(DatasetError, match="no usable records.*unknown race label 'Whit'"):
        load_fairface(tmp_path, progress=False)
