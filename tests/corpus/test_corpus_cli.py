"""``faceaudit generate`` on the shared real FairFace sample (template backend, offline)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from faceaudit.corpus.cli import main
from faceaudit.data.config import DatasetConfig
from faceaudit.data.loaders import load_dataset
from faceaudit.store import read_jsonl


def test_corpus_cli_generates_from_real_fairface_and_exports(
    shared_fairface: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out, sharegpt = tmp_path / "c.jsonl", tmp_path / "s.json"
    code = main(["--dataset", str(shared_fairface), "--limit", "5", "--aspects",
                 "demographic_attributes,face_pose", "--out", str(out), "--sharegpt", str(sharegpt),
                 "--quiet"])
    assert code == 0
    section = json.loads(capsys.readouterr().out)
    assert (section["n_images"], section["n_requested"], section["n_accepted"]) == (5, 10, 10)
    rows = list(read_jsonl(out))
    dataset = load_dataset(DatasetConfig(kind="fairface", path=str(shared_fairface)), progress=False)
    assert all((dataset.root / r["image_path"]).is_file() for r in rows)
    assert {r["image_id"] for r in rows} <= {record.id for record in dataset.records}
    assert len(json.loads(sharegpt.read_text())) == 10


def test_corpus_cli_rejects_unknown_aspect(shared_fairface: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"unknown aspect\(s\) \['hair'\]"):
        main(["--dataset", str(shared_fairface), "--aspects", "hair", "--out", str(tmp_path / "c.jsonl")])
