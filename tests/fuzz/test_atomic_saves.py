"""Saves are whole or absent, and renames reach the disk (issue #13, item 6 of "what broke").

A crash while the LoRA adapter was saved left a directory with new weights and old (or no)
processor files, and no rename was followed by an fsync of its directory. The adapter
save itself is tested in tests/train/test_train_atomic_save.py (next to the tiny-model cache).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from faceaudit import store
from faceaudit.store import atomic_directory, atomic_write_bytes, sha256_tree


def _fill(folder: Path, text: str) -> None:
    (folder / "weights.bin").write_text(text)
    (folder / "sub").mkdir()
    (folder / "sub" / "config.json").write_text(text)


def test_atomic_directory_swaps_in_the_new_tree_and_fsyncs(tmp_path, monkeypatch):
    synced: list[str] = []
    monkeypatch.setattr(store, "fsync_dir", lambda p: synced.append(str(p)))
    target = tmp_path / "adapter"
    with atomic_directory(target) as staging:
        _fill(staging, "one")
        assert not target.exists()  # nothing is visible under the final name before the end
    assert (target / "sub" / "config.json").read_text() == "one"
    assert str(tmp_path) in synced  # the rename itself was made durable
    with atomic_directory(target) as staging:
        _fill(staging, "two")
    assert (target / "weights.bin").read_text() == "two"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["adapter"]  # no staging or old copy left


def test_a_crash_inside_the_block_keeps_the_old_directory(tmp_path):
    target = tmp_path / "adapter"
    with atomic_directory(target) as staging:
        _fill(staging, "old")
    before = sha256_tree(target)
    with pytest.raises(RuntimeError), atomic_directory(target) as staging:
        (staging / "weights.bin").write_text("new, half written")
        raise RuntimeError("killed mid-save")
    assert sha256_tree(target) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["adapter"]


def test_a_crash_between_the_two_renames_is_repaired_by_the_next_save(tmp_path, monkeypatch):
    target = tmp_path / "adapter"
    with atomic_directory(target) as staging:
        _fill(staging, "old")
    real_replace = os.replace
    calls = []

    def replace(src, dst):
        calls.append(Path(dst).name)
        if len(calls) == 2:  # old moved aside, new not yet in place: the process dies here
            raise KeyboardInterrupt
        real_replace(src, dst)

    monkeypatch.setattr(store.os, "replace", replace)
    with pytest.raises(KeyboardInterrupt), atomic_directory(target) as staging:
        _fill(staging, "new")
    monkeypatch.setattr(store.os, "replace", real_replace)
    # The handler put the old tree back; had the process died outright, the next save would.
    assert (target / "weights.bin").read_text() == "old"
    os.replace(target, tmp_path / ".adapter.old")  # simulate the outright death
    with atomic_directory(target) as staging:
        assert (target / "weights.bin").read_text() == "old"  # restored before anything else
        _fill(staging, "newer")
    assert (target / "weights.bin").read_text() == "newer"


def test_atomic_write_fsyncs_the_directory_after_the_rename(tmp_path, monkeypatch):
    order: list[str] = []
    real_replace = os.replace
    monkeypatch.setattr(store.os, "replace", lambda a, b: (order.append("rename"), real_replace(a, b)))
    monkeypatch.setattr(store, "fsync_dir", lambda p: order.append(f"fsync {Path(p).name}"))
    atomic_write_bytes(tmp_path / "audit.json", b"{}")
    assert order == ["rename", f"fsync {tmp_path.name}"]


def test_the_next_run_deletes_the_temp_files_a_killed_write_left(tmp_path):
    """A SIGKILL between mkstemp and the rename leaves `.<name>.faceaudit-<random>.tmp`; holding
    the run directory's lock again deletes those once they are ten minutes old, in the run
    directory and its stage folders, and nothing else: not a user's own `.tmp` files, not a
    fresh one (another command may be writing it without the lock), not one deeper down."""
    import tempfile
    import time

    from faceaudit.store import TEMP_MIN_AGE_S, RunStore, atomic_write_bytes

    run = RunStore(tmp_path / "run")
    (run.dir / "evaluate" / "deep").mkdir(parents=True)
    old = time.time() - TEMP_MIN_AGE_S - 60

    def left(folder: Path, name: str, age: float | None = old) -> Path:
        fd, path = tempfile.mkstemp(prefix=f".{name}.faceaudit-", suffix=".tmp", dir=folder)  # as a save does
        os.write(fd, b'{"half": ')
        os.close(fd)
        if age is not None:
            os.utime(path, (age, age))
        return Path(path)

    killed = [left(run.dir, "audit.json"), left(run.dir / "evaluate", "predictions.jsonl")]
    kept = [left(run.dir, "summary.md", age=None), left(run.dir / "evaluate" / "deep", "x.json")]
    for name in ("notes.tmp", ".notes.20240101.tmp", ".draft.ab_cd_ef.tmp", ".my report.backup01.tmp"):
        (run.dir / name).write_text("the user's")
        os.utime(run.dir / name, (old, old))
        kept.append(run.dir / name)
    with run.lock(sweep=False):  # a data-parallel launch: its peers may be mid-write
        assert all(p.exists() for p in killed)
    with run.lock():
        pass
    assert not any(p.exists() for p in killed)
    assert all(p.exists() for p in kept)
    # The files a save writes carry the tag the sweep looks for.
    seen = []
    real_replace = os.replace
    try:
        os.replace = lambda src, dst: (seen.append(Path(src).name), real_replace(src, dst))[1]
        atomic_write_bytes(run.dir / "audit.json", b"{}")
    finally:
        os.replace = real_replace
    assert seen and seen[0].startswith(".audit.json.faceaudit-") and seen[0].endswith(".tmp")
