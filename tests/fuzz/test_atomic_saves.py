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
    """A SIGKILL between mkstemp and the rename leaves `.<name>.<random>.tmp`; holding the run
    directory's lock again deletes those, and nothing else (a user's own `.tmp` file stays)."""
    import tempfile

    from faceaudit.store import RunStore

    run = RunStore(tmp_path / "run")
    (run.dir / "evaluate").mkdir()
    left = []
    for folder, name in ((run.dir, "audit.json"), (run.dir / "evaluate", "predictions.jsonl")):
        fd, path = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=folder)  # as atomic_write_bytes
        os.write(fd, b'{"half": ')
        os.close(fd)
        left.append(Path(path))
    mine = [run.dir / "notes.tmp", run.dir / ".notes.tmp", run.dir / ".a.toolongname.tmp"]
    for path in mine:
        path.write_text("the user's")
    with run.lock(sweep=False):  # a data-parallel launch: its peers may be mid-write
        assert all(p.exists() for p in left)
    with run.lock():
        pass
    assert not any(p.exists() for p in left)
    assert all(p.read_text() == "the user's" for p in mine)
