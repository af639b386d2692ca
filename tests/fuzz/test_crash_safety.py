"""SIGKILL at several seeded points, then a rerun: the same records as one uninterrupted run.

Issue #13, "what to build" 2. Corpus generation (template backend), prediction (simulated
model) and the perturbation stage (simulated model): a child process (crash_support.py) is
killed three times at seeded, increasing record counts observed in its output file (a kill
may tear the last line), restarted each time, and finally run to completion. The result must
hold every record exactly once, each equal to the uninterrupted run's record apart from its
timestamps (and for perturbation, the same robustness section). Training: killed three times
at seeded delays after seeded checkpoints, resumed each time; the same adapter bit for bit and
the same loss log. The corpus scan (`faceaudit scan`): killed at seeded delays after seeded
artefacts appeared; every artefact present after a kill is whole, and the rerun's are the
uninterrupted run's. A full disk is simulated on audit.json: a clear error, and the previous
file left whole.
"""

from __future__ import annotations

import errno
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import crash_support
import pytest
from crash_support import STAGES, TESTS, records, run_stage, section_path

from faceaudit import store
from faceaudit.errors import StageError
from faceaudit.store import atomic_write_json


def _lines(path: Path) -> int:
    return path.read_bytes().count(b"\n") if path.exists() else 0


def _child(stage: str, root: Path, out: Path) -> list[str]:
    return [sys.executable, str(Path(crash_support.__file__)), stage, str(root), str(out), "--slow"]


CHILD_ENV = {**os.environ, "PYTHONHASHSEED": "0", "OMP_NUM_THREADS": "1", "NO_ALBUMENTATIONS_UPDATE": "1"}


def _kill_when(child: subprocess.Popen, ready, *, delay_s: float, timeout_s: float, poll_s: float) -> None:
    """SIGKILL ``child`` ``delay_s`` after ``ready()`` first holds (or at ``timeout_s``), and check
    that it was the kill that ended it, not the child finishing first."""
    deadline = time.monotonic() + timeout_s
    while not ready() and child.poll() is None and time.monotonic() < deadline:
        time.sleep(poll_s)
    time.sleep(delay_s)
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=30)
    stderr = child.stderr.read().decode(errors="replace") if child.stderr else ""
    assert child.returncode == -signal.SIGKILL, f"the child ended before it was killed:\n{stderr[-2000:]}"


@pytest.mark.slow
@pytest.mark.parametrize("stage", sorted(STAGES))
def test_killed_three_times_then_rerun_equals_one_uninterrupted_run(stage: str, tmp_path: Path) -> None:
    key, total = STAGES[stage]
    root = tmp_path / "faces"
    root.mkdir()
    killed_at = []
    out = tmp_path / "killed.jsonl"
    for threshold in sorted(random.Random(stage).sample(range(15, total - 40), 3)):
        child = subprocess.Popen(_child(stage, root, out), env=CHILD_ENV, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 120
        while _lines(out) < threshold and child.poll() is None and time.monotonic() < deadline:
            time.sleep(0.002)
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
        assert child.returncode == -signal.SIGKILL, child.stderr.read().decode()[-2000:]
        killed_at.append(_lines(out))
    assert killed_at == sorted(killed_at) and killed_at[-1] < total, killed_at  # each kill landed mid-stage
    done = subprocess.run(_child(stage, root, out), env=CHILD_ENV, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-2000:]

    clean = tmp_path / "clean.jsonl"
    run_stage(stage, root, clean)
    resumed, uninterrupted = records(out, key), records(clean, key)
    assert len(resumed) == len({r[key] for r in resumed}) == total  # nothing lost, nothing twice
    assert resumed == uninterrupted
    if stage == "perturb":  # the section computed from the resumed answers is the uninterrupted one
        assert json.loads(section_path(out).read_text()) == json.loads(section_path(clean).read_text())


def test_a_full_disk_leaves_the_previous_audit_whole(tmp_path: Path, monkeypatch) -> None:
    target = tmp_path / "audit.json"
    atomic_write_json(target, {"schema_version": "2", "old": True})
    before = target.read_bytes()
    real_fdopen = os.fdopen

    class FullDisk:
        def __init__(self, handle):
            self.handle = handle

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.handle.close()

        def write(self, data):
            self.handle.write(data[: len(data) // 2])
            raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(store.os, "fdopen", lambda fd, mode: FullDisk(real_fdopen(fd, mode)))
    with pytest.raises(StageError, match=r"audit\.json: the disk is full .*previous audit\.json, if any, is unchanged"):
        atomic_write_json(target, {"schema_version": "2", "new": "x" * 10_000})
    assert target.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["audit.json"]  # the half-written temp file is gone


def test_a_full_disk_mid_jsonl_is_a_clear_error_and_resumes(tmp_path: Path) -> None:
    path = tmp_path / "predictions.jsonl"
    writer = store.JsonlWriter(path, "item_id")
    writer.append({"item_id": "q1", "answer": "A"})

    class FullDisk:
        def __init__(self, handle):
            self.handle = handle

        def write(self, data):
            self.handle.write(data[:5])  # a torn line reaches the file
            self.handle.flush()
            raise OSError(errno.ENOSPC, "No space left on device")

        def __getattr__(self, name):
            return getattr(self.handle, name)

    writer._handle = FullDisk(writer._handle)
    with pytest.raises(StageError, match=r"predictions\.jsonl: the disk is full .* after 1 complete record"):
        writer.append({"item_id": "q2", "answer": "B"})
    writer._handle.handle.close()
    resumed = store.JsonlWriter(path, "item_id")
    assert resumed.keys == {"q1"} and resumed.recovered_bytes == 5
    resumed.close()


# --- training: killed three times, resumed each time --------------------------------------

TRAIN_STEPS = 16
TRAIN_SAVE_STEPS = 2
# Fields of a loss-log record that describe the run's timing, not its training.
TRAIN_VOLATILE = {"elapsed_s"}


def _train_command(base: Path, data: Path, corpus: Path, items: Path, out: Path) -> list[str]:
    # The tiny recipe as shipped (trained projector, checkpoint rotation with save_total_limit 2),
    # made short, logging every step and checkpointing every second step.
    return [
        sys.executable, "-m", "faceaudit.train", "--recipe", "tiny", "--base-model", str(base),
        "--corpus", str(corpus), "--image-root", str(data), "--out", str(out), "--train-items", str(items),
        "--quiet", "--seed", "7",
        "--set", f"max_steps={TRAIN_STEPS}", "--set", f"save_steps={TRAIN_SAVE_STEPS}",
        "--set", "logging_steps=1", "--set", "per_device_train_batch_size=4",
    ]


def _checkpoint_steps(out: Path) -> list[int]:
    return sorted(int(p.name.rsplit("-", 1)[1]) for p in (out / "checkpoints").glob("checkpoint-*")
                  if (p / "trainer_state.json").is_file())


def _loss_log(out: Path) -> list[dict]:
    rows = [json.loads(line) for line in (out / "training_log.jsonl").read_text(encoding="utf-8").splitlines()]
    return [{k: v for k, v in row.items() if k not in TRAIN_VOLATILE} for row in rows if "loss" in row]


def _adapter_tensors(out: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(out / "adapter" / "adapter_model.safetensors")


@pytest.mark.slow
def test_training_killed_three_times_then_resumed_equals_one_uninterrupted_run(tmp_path, tmp_path_factory):
    """Each kill lands at a seeded delay after a seeded checkpoint was written (so in the middle
    of a step, a log write or the next checkpoint's save); each rerun resumes from the newest
    complete checkpoint. The end: the same adapter tensors, bit for bit, and the same loss log
    (every step once) as a run never interrupted."""
    import torch

    sys.path.insert(0, str(TESTS / "train"))
    from train_support import make_square_set

    from faceaudit.train.tiny import tiny_internvl_cached

    base = tiny_internvl_cached(tmp_path_factory.getbasetemp() / "tiny-models")
    items, corpus = make_square_set(tmp_path, n=12)
    items_file = tmp_path / "items.jsonl"
    items_file.write_text("".join(item.model_dump_json() + "\n" for item in items))
    # One thread: the same summation order in every process, so the runs can be compared exactly.
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", "OMP_NUM_THREADS": "1",
           "PYTHONHASHSEED": "0"}
    killed = tmp_path / "killed"
    rng = random.Random("train")
    kill_after = sorted(rng.sample(range(TRAIN_SAVE_STEPS, TRAIN_STEPS - TRAIN_SAVE_STEPS, TRAIN_SAVE_STEPS), 3))
    resumed_from = []
    for step in kill_after:
        before = _checkpoint_steps(killed)
        resumed_from.append(before[-1] if before else None)
        child = subprocess.Popen(_train_command(base, tmp_path, corpus, items_file, killed), env=env,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        _kill_when(child, lambda step=step: bool(_checkpoint_steps(killed)) and _checkpoint_steps(killed)[-1] >= step,
                   delay_s=rng.uniform(0.0, 0.5), timeout_s=240, poll_s=0.01)
        assert not (killed / "training.json").exists()
    finished = subprocess.run(_train_command(base, tmp_path, corpus, items_file, killed), env=env,
                              capture_output=True, text=True, timeout=300)
    assert finished.returncode == 0, finished.stderr[-3000:]
    clean = tmp_path / "clean"
    uninterrupted = subprocess.run(_train_command(base, tmp_path, corpus, items_file, clean), env=env,
                                   capture_output=True, text=True, timeout=300)
    assert uninterrupted.returncode == 0, uninterrupted.stderr[-3000:]

    section = json.loads((killed / "training.json").read_text())
    reference = json.loads((clean / "training.json").read_text())
    # Every kill made progress and every rerun resumed from a checkpoint of the killed run.
    assert section["steps"] == reference["steps"] == TRAIN_STEPS
    assert section["resumed_from_step"] is not None and section["resumed_from_step"] >= kill_after[-1]
    assert resumed_from[0] is None and all(s is not None for s in resumed_from[1:]), resumed_from
    # The loss log: every step exactly once, each record the uninterrupted run's.
    log, clean_log = _loss_log(killed), _loss_log(clean)
    assert [row["step"] for row in log] == list(range(1, TRAIN_STEPS + 1))
    assert log == clean_log
    assert section["loss_curve"] == reference["loss_curve"]
    # The adapter: the same tensors, bit for bit.
    tensors, clean_tensors = _adapter_tensors(killed), _adapter_tensors(clean)
    assert sorted(tensors) == sorted(clean_tensors) and tensors
    different = [name for name in tensors if not torch.equal(tensors[name], clean_tensors[name])]
    assert different == [], f"{len(different)} of {len(tensors)} adapter tensors differ, e.g. {different[:3]}"
    assert section["adapter_sha256"] == reference["adapter_sha256"]


# --- corpus scan: killed at three points of `faceaudit scan`, then rerun ------------------

# The artefacts of a scan run in the order it writes them; a kill is aimed at a seeded delay
# after one of them was written by that very process (its mtime is after the process started).
SCAN_ARTEFACTS = ["config.yaml", "corpus/corpus.jsonl", "scan/review_queue.csv", "scan/review.html", "audit.json"]


def _written_since(run: Path, name: str, since_ns: int) -> bool:
    path = run / name
    return path.is_file() and path.stat().st_mtime_ns >= since_ns


def _whole_scan_artefacts(run: Path) -> list[str]:
    """The artefacts present, each checked whole; an AssertionError names a torn one."""
    import csv

    from faceaudit.schema import AuditResult

    present = [name for name in SCAN_ARTEFACTS if (run / name).is_file()]
    if "audit.json" in present:
        AuditResult.load(run / "audit.json")
    if "scan/review_queue.csv" in present:
        rows = list(csv.DictReader((run / "scan/review_queue.csv").open(encoding="utf-8", newline="")))
        assert rows and all(None not in row and None not in row.values() for row in rows)
    if "scan/review.html" in present:
        assert (run / "scan/review.html").read_text(encoding="utf-8").rstrip().endswith("</html>")
    return present


def _scan_comparable(run: Path) -> dict:
    """What a scan run found: its audit.json minus run id, times and paths; the review files."""
    audit = json.loads((run / "audit.json").read_text(encoding="utf-8"))
    for volatile in ("run", "provenance"):
        audit.pop(volatile)
    audit["corpus_scan"].pop("wall_time_s")
    audit["corpus"] = {k: v for k, v in audit["corpus"].items() if k not in {"path", "generated_at", "wall_time_s"}}
    text = json.dumps(audit, sort_keys=True).replace(str(run), "<run>")
    return {
        "audit": json.loads(text),
        "corpus": records(run / "corpus/corpus.jsonl", "key"),
        "queue": (run / "scan/review_queue.csv").read_text(encoding="utf-8"),
        "page": (run / "scan/review.html").read_text(encoding="utf-8").replace(run.name, "<id>"),
    }


@pytest.mark.slow
def test_scan_killed_three_times_then_rerun_equals_one_uninterrupted_run(tmp_path: Path) -> None:
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    killed = tmp_path / "runs" / "killed"
    rng = random.Random("scan")
    aims = sorted(rng.sample(range(len(SCAN_ARTEFACTS) - 1), 3))  # never after audit.json: the end
    seen = []
    for aim in aims:
        started = time.time_ns()
        child = subprocess.Popen(_child("scan", inputs, killed), env=CHILD_ENV, stdout=subprocess.DEVNULL,
                                 stderr=subprocess.PIPE)
        _kill_when(child, lambda aim=aim, started=started: any(_written_since(killed, name, started)
                                                                for name in SCAN_ARTEFACTS[aim:]),
                   delay_s=rng.uniform(0.0, 0.05), timeout_s=180, poll_s=0.002)
        seen.append(_whole_scan_artefacts(killed))
    print("artefacts present after each kill:", seen)
    assert "audit.json" not in seen[-1] or len(seen[-1]) < len(SCAN_ARTEFACTS), seen  # killed before the end
    done = subprocess.run(_child("scan", inputs, killed), env=CHILD_ENV, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    clean = tmp_path / "runs" / "clean"
    run_stage("scan", inputs, clean)
    assert _whole_scan_artefacts(killed) == SCAN_ARTEFACTS
    resumed, uninterrupted = _scan_comparable(killed), _scan_comparable(clean)
    assert len(resumed["corpus"]) == len({r["key"] for r in resumed["corpus"]}) == 180  # nothing lost or twice
    if resumed != uninterrupted:  # name the differing fields, not a truncated repr
        differing = {k: (resumed[k], uninterrupted[k]) for k in resumed if resumed[k] != uninterrupted[k]}
        if "audit" in differing:
            a, b = differing.pop("audit")
            differing["audit"] = {k: (a.get(k), b.get(k)) for k in set(a) | set(b) if a.get(k) != b.get(k)}
        pytest.fail(f"the rerun differs from the uninterrupted run (kills after {seen}): {str(differing)[:3000]}")
