"""Dataset fingerprint, summary counts, filtering and the config dispatcher."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from PIL import Image

from faceaudit.data.config import DatasetConfig
from faceaudit.data.dataset import DatasetError
from faceaudit.data.loaders import load_dataset, match_label, undo_spreadsheet_date
from faceaudit.data.manifest import load_manifest
from faceaudit.schema.run import DatasetSection

# (id, race, gender, split): hand-counted below.
ROWS = [
    ("p1", "White", "Male", "train"),
    ("p2", "White", "Female", "train"),
    ("p3", "Black", "Female", "test"),
    ("p4", "Black", "Female", "test"),
    ("p5", "Indian", "Male", "test"),
]
SIDECAR = "sensitive_attributes: [race, gender]\nlabels:\n  race: [White, Black, Indian, Other]\n  gender: [Male, Female]\n"


def make_set(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for i, (record_id, *_rest) in enumerate(ROWS):
        Image.new("RGB", (5, 5), (i * 40, 0, 0)).save(root / f"{record_id}.png")
    lines = ["id,image,race,gender,split"] + [f"{i},{i}.png,{r},{g},{s}" for i, r, g, s in ROWS]
    (root / "manifest.csv").write_text("\n".join(lines) + "\n")
    (root / "faceaudit-dataset.yaml").write_text(SIDECAR)
    return root / "manifest.csv"


def test_summary_counts_match_hand_counts(tmp_path: Path) -> None:
    summary = load_manifest(make_set(tmp_path / "s"), progress=False).summary()
    assert isinstance(summary, DatasetSection)
    assert summary.n_records == 5
    assert summary.counts == {
        "race": {"White": 2, "Black": 2, "Indian": 1, "Other": 0},
        "gender": {"Male": 2, "Female": 3},
    }
    assert summary.intersections == {
        "race x gender": {
            "White | Male": 1, "White | Female": 1, "Black | Male": 0, "Black | Female": 2,
            "Indian | Male": 1, "Indian | Female": 0, "Other | Male": 0, "Other | Female": 0,
        }
    }  # fmt: skip
    assert summary.splits == {"test": 3, "train": 2}
    assert summary.issues == [] and summary.conversions == {}
    # The section round-trips through JSON unchanged.
    assert DatasetSection.model_validate(json.loads(summary.model_dump_json())) == summary


def test_fingerprint_is_stable_and_sensitive(tmp_path: Path) -> None:
    manifest = make_set(tmp_path / "a")
    first = load_manifest(manifest, progress=False)
    again = load_manifest(manifest, progress=False)
    assert first.fingerprint() == again.fingerprint() and len(first.fingerprint()) == 64
    # Without the image check the hashes are computed lazily, to the same value.
    assert (
        load_manifest(manifest, check_images=False, progress=False).fingerprint()
        == first.fingerprint()
    )
    # A copy elsewhere is the same dataset.
    shutil.copytree(tmp_path / "a", tmp_path / "b")
    copy = load_manifest(tmp_path / "b" / "manifest.csv", progress=False)
    assert copy.fingerprint() == first.fingerprint()
    assert copy.manifest_sha256() == first.manifest_sha256()

    image = tmp_path / "b" / "p3.png"
    data = bytearray(image.read_bytes())
    data[-20] ^= 0x01  # one bit in the last chunk's bytes
    image.write_bytes(bytes(data))
    changed = load_manifest(tmp_path / "b" / "manifest.csv", check_images=False, progress=False)
    assert changed.manifest_sha256() == first.manifest_sha256()
    assert changed.fingerprint() != first.fingerprint()

    relabelled = (
        (tmp_path / "a" / "manifest.csv").read_text().replace("p5,p5.png,Indian", "p5,p5.png,Other")
    )
    (tmp_path / "a" / "manifest.csv").write_text(relabelled)
    other = load_manifest(manifest, progress=False)
    assert other.manifest_sha256() != first.manifest_sha256()
    assert other.fingerprint() != first.fingerprint()


def test_filter_by_split_and_limit(tmp_path: Path) -> None:
    dataset = load_manifest(make_set(tmp_path / "s"), progress=False)
    test = dataset.filter(split="test")
    assert [r.id for r in test.records] == ["p3", "p4", "p5"]
    assert [r.id for r in dataset.filter(split="test", limit=2).records] == ["p3", "p4"]
    assert len(dataset) == 5  # the original is untouched
    assert test.fingerprint() != dataset.fingerprint()
    with pytest.raises(DatasetError, match="no records in split 'val'; splits found: test, train"):
        dataset.filter(split="val")


def test_load_dataset_dispatches_and_applies_choices(tmp_path: Path, shared_fairface: Path) -> None:
    manifest = make_set(tmp_path / "s")
    cfg = DatasetConfig(kind="manifest", path=str(manifest), split="test", tasks=["gender"])
    dataset = load_dataset(cfg, progress=False)
    assert [r.id for r in dataset.records] == ["p3", "p4", "p5"]
    assert dataset.task_attributes == ["gender"] and dataset.sensitive_attributes == [
        "race",
        "gender",
    ]
    fairface = load_dataset(
        DatasetConfig(kind="fairface", path=str(shared_fairface), limit=10),
        progress=False,
        check_images=False,
    )
    assert len(fairface) == 10 and fairface.kind == "fairface"
    with pytest.raises(DatasetError, match="use faceaudit.data.facexbench.load_facexbench"):
        load_dataset(DatasetConfig(kind="facexbench", path=str(tmp_path)))
    with pytest.raises(DatasetError, match="must be rendered first"):
        load_dataset(DatasetConfig(kind="synthetic"))
    with pytest.raises(
        DatasetError, match=r"task attribute\(s\) 'helmet' are not columns of the manifest"
    ):
        load_dataset(
            DatasetConfig(kind="manifest", path=str(manifest), tasks=["helmet"]), progress=False
        )
    with pytest.raises(
        DatasetError, match=r"task\(s\) 'helmet' not in dataset 'fairface'.*age, gender, race"
    ):
        cfg = DatasetConfig(kind="fairface", path=str(shared_fairface), limit=5, tasks=["helmet"])
        load_dataset(cfg, progress=False, check_images=False)


@pytest.mark.parametrize(
    ("mangled", "label"),
    [
        ("9-Mar", "3-9"),
        ("03-Sep", "3-9"),
        ("Mar-09", "3-9"),
        ("19-Oct", "10-19"),
        ("Oct-19", "10-19"),
    ],
)
def test_spreadsheet_dates_are_undone(mangled: str, label: str) -> None:
    vocabulary = ["0-2", "3-9", "10-19", "20-29", "more than 70"]
    assert undo_spreadsheet_date(mangled, vocabulary) == label
    match = match_label(mangled, vocabulary)
    assert match.label == label and "spreadsheet" in (match.repair or "")


def test_label_matching_refuses_guesses() -> None:
    vocabulary = ["0-2", "3-9", "10-19"]
    assert undo_spreadsheet_date("12-Mar", vocabulary) is None  # 3-12 is not a bin: no invention
    assert match_label("12-Mar", vocabulary).label is None
    assert match_label(" 3-9 ", vocabulary).repair == "surrounding whitespace removed"
    assert (
        match_label("Latino Hispanic", ["White", "Latino_Hispanic"]).suggestion == "Latino_Hispanic"
    )
    assert match_label("xyz", ["White", "Black"]).suggestion is None
