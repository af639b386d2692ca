"""Run store: hashes, atomic writes and the crash-safe JSONL writer."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from faceaudit.store import (
    JsonlWriter,
    RunStore,
    atomic_write_json,
    atomic_write_text,
    read_jsonl,
    sha256_file,
    sha256_json,
    sha256_tree,
)


def test_sha256_file_matches_hashlib(tmp_path: Path) -> None:
    data = os.urandom(3 * (1 << 20) + 17)  # spans several read chunks
    target = tmp_path / "blob.bin"
    target.write_bytes(data)
    assert sha256_file(target) == hashlib.sha256(data).hexdigest()


def test_sha256_json_ignores_key_order_but_not_values() -> None:
    assert sha256_json({"a": 1, "b": [1, 2]}) == sha256_json({"b": [1, 2], "a": 1})
    assert sha256_json({"a": 1}) != sha256_json({"a": 2})


def test_sha256_tree_sees_renames_and_content(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "x.txt").write_text("one")
    first = sha256_tree(tmp_path)
    (tmp_path / "d" / "x.txt").rename(tmp_path / "d" / "y.txt")
    renamed = sha256_tree(tmp_path)
    (tmp_path / "d" / "y.txt").write_text("two")
    assert len({first, renamed, sha256_tree(tmp_path)}) == 3


def test_atomic_write_replaces_whole_file_and_leaves_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "out.json"
    atomic_write_json(target, {"value": float("nan"), "n": 3})
    assert target.read_text().strip().splitlines()[1].strip() == '"value": NaN,'
    atomic_write_text(target, "second\n")
    assert target.read_text() == "second\n"
    assert sorted(p.name for p in target.parent.iterdir()) == ["out.json"]
    previous = os.umask(0o022)
    try:
        atomic_write_text(target, "third\n")
    finally:
        os.umask(previous)
    assert target.stat().st_mode & 0o777 == 0o644  # not mkstemp's 0600


def test_jsonl_writer_skips_duplicates_and_reloads(tmp_path: Path) -> None:
    path = tmp_path / "records.jsonl"
    with JsonlWriter(path, key_field="id") as writer:
        assert writer.append({"id": "a", "v": 1}) is True
        assert writer.append({"id": "a", "v": 2}) is False
        assert writer.extend([{"id": "b"}, {"id": "c"}, {"id": "b"}]) == 2
    with JsonlWriter(path, key_field="id") as again:
        assert again.keys == {"a", "b", "c"}
        assert "a" in again and "z" not in again
    assert [r["id"] for r in read_jsonl(path)] == ["a", "b", "c"]
    assert next(iter(read_jsonl(path)))["v"] == 1


def test_jsonl_writer_truncates_a_torn_last_line(tmp_path: Path) -> None:
    path = tmp_path / "records.jsonl"
    path.write_bytes(b'{"key": "1"}\n{"key": "2"}\n{"key": "3", "answ')
    writer = JsonlWriter(path)
    assert writer.keys == {"1", "2"}
    assert writer.recovered_bytes == len(b'{"key": "3", "answ')
    writer.append({"key": "3", "answer": "x"})
    writer.close()
    assert [r["key"] for r in read_jsonl(path)] == ["1", "2", "3"]


def test_jsonl_writer_refuses_corruption_before_the_last_line(tmp_path: Path) -> None:
    path = tmp_path / "records.jsonl"
    path.write_bytes(b'{"key": "1"}\nnot json\n{"key": "3"}\n')
    with pytest.raises(ValueError, match=r"line 2 is not valid JSON"):
        JsonlWriter(path)


def test_read_jsonl_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"a": 1}\n{oops}\n')
    with pytest.raises(ValueError, match=r"bad\.jsonl: line 2: invalid JSON"):
        list(read_jsonl(path))


_WRITER_SCRIPT = textwrap.dedent(
    """
    import sys, time
    from faceaudit.store import JsonlWriter
    path, total = sys.argv[1], int(sys.argv[2])
    with JsonlWriter(path, key_field="key") as writer:
        for i in range(total):
            if str(i) in writer:
                continue
            # a long payload makes a kill in the middle of a write likely
            writer.append({"key": str(i), "payload": "x" * 2000})
            time.sleep(0.0005)
    """
)


def test_jsonl_writer_survives_sigkill_without_loss_or_duplicates(tmp_path: Path) -> None:
    path = tmp_path / "killed.jsonl"
    script = tmp_path / "writer.py"
    script.write_text(_WRITER_SCRIPT)
    total = 3000
    for delay in (0.6, 0.4):
        proc = subprocess.Popen([sys.executable, str(script), str(path), str(total)])
        deadline = time.monotonic() + 30
        # wait until it has really started writing, then kill it mid-stream
        while time.monotonic() < deadline and (not path.exists() or path.stat().st_size < 50_000):
            time.sleep(0.02)
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        assert proc.returncode == -signal.SIGKILL, "the writer finished before it could be killed"
    partial = sum(1 for _ in path.open("rb"))
    assert 0 < partial < total
    subprocess.run([sys.executable, str(script), str(path), str(total)], check=True)
    keys = [record["key"] for record in read_jsonl(path)]
    assert len(keys) == total
    assert sorted(keys, key=int) == [str(i) for i in range(total)]
    assert all(len(r["payload"]) == 2000 for r in read_jsonl(path))
    assert path.read_bytes().endswith(b"\n")


def test_run_store_creates_unique_run_dirs_and_stage_markers(tmp_path: Path) -> None:
    first = RunStore.create(tmp_path, "r1")
    assert first.dir == tmp_path / "r1" and first.run_id == "r1"
    a = RunStore.create(tmp_path)
    b = RunStore.create(tmp_path)
    assert a.dir != b.dir
    assert not first.stage_done("corpus", "abc")
    first.mark_stage_done("corpus", "abc")
    assert first.stage_done("corpus", "abc")
    assert not first.stage_done("corpus", "other")


def test_concurrent_runs_without_a_run_id_never_share_a_directory(tmp_path: Path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=8) as pool:
        stores = list(pool.map(lambda _: RunStore.create(tmp_path), range(16)))
    assert len({store.dir for store in stores}) == 16


def test_a_locked_run_directory_is_refused_and_freed_after_use(tmp_path: Path) -> None:
    from faceaudit.store import RunDirectoryBusy

    store = RunStore.create(tmp_path, "r")
    with (
        store.lock(),
        pytest.raises(RunDirectoryBusy, match=f"in use by pid {os.getpid()}"),
        RunStore.create(tmp_path, "r").lock(),
    ):
        pass
    with RunStore.create(tmp_path, "r").lock():  # released: usable again
        pass


def test_paths_cannot_leave_the_run_directory(tmp_path: Path) -> None:
    from faceaudit.errors import InputError

    store = RunStore.create(tmp_path, "r")
    assert store.path("corpus", "corpus.jsonl") == tmp_path / "r" / "corpus" / "corpus.jsonl"
    (tmp_path / "r" / "link").symlink_to(tmp_path)
    for escaping in ("../x.jsonl", str(tmp_path / "abs.jsonl"), "link/out.jsonl"):
        with pytest.raises(InputError, match="outside the run directory|not absolute"):
            store.path(escaping)
    for bad_id in ("..", "a/b", "/abs", "", ".x"):
        with pytest.raises(InputError, match="must be one directory name"):
            RunStore.create(tmp_path, bad_id)
