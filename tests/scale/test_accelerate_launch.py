"""`accelerate launch` with two CPU processes (gloo) writes the audit one process writes.

The data-parallel path end to end: two processes answer their shards of the evaluation and
of the perturbation, rank 0 merges them and alone writes audit.json and junit.xml. Compared
with a single-process run of the same config, the answer files are the same bytes and
audit.json differs only where the reproducibility test allows two runs to differ (timestamps,
timings, throughput, the run's id and paths under its directory; tests/fuzz/
test_reproducibility.py) -- here also the command line, whose --run-id names the other run.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from fuzz.test_reproducibility import _volatile
from launch_support import cpu_env, free_port, launch_command

CONFIG = [
    "dataset.synthetic.n=60",
    "corpus.enabled=false",  # stages that do not run data-parallel are refused under a launcher
    "train.enabled=false",
    "evaluate.backend=simulated",
    "evaluate.n_boot=100",
    "perturb.max_images=20",
    "perturb.families=[lighting]",
    "report.enabled=false",
    "gate.insufficient_blocks=false",  # a launcher reports any non-zero exit as a crash
]
ANSWER_FILES = ["evaluate/predictions-scoring.jsonl", "evaluate/predictions-scoring.jsonl.meta.json",
                "robustness/perturbed_answers.jsonl", "robustness/perturbed_answers.jsonl.meta.json"]


def _faceaudit(prefix: list[str], out: Path, run_id: str) -> subprocess.CompletedProcess:
    sets = [arg for value in CONFIG for arg in ("--set", value)]
    done = subprocess.run([*prefix, "-m", "faceaudit", "--quiet", "run", *sets, "--output-dir", str(out),
                           "--run-id", run_id], capture_output=True, text=True, env=cpu_env(), timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-5000:]
    return done


@pytest.mark.slow
def test_two_processes_write_the_audit_one_process_writes(tmp_path: Path) -> None:
    single = _faceaudit([sys.executable], tmp_path, "single")
    multi = _faceaudit(launch_command(free_port()), tmp_path, "multi")
    assert multi.stdout.count("audit:") == single.stdout.count("audit:") == 1  # rank 1 reports nothing
    one, two = tmp_path / "single", tmp_path / "multi"
    for name in ANSWER_FILES:
        assert (two / name).read_bytes() == (one / name).read_bytes(), name
    files = sorted(p.relative_to(two).as_posix() for p in two.rglob("*") if "data" not in p.parts)
    assert files == sorted(p.relative_to(one).as_posix() for p in one.rglob("*") if "data" not in p.parts)
    assert not any(".rank" in name for name in files)  # the shard files were merged and removed

    first = (one / "audit.json").read_text(encoding="utf-8").splitlines()
    second = (two / "audit.json").read_text(encoding="utf-8").splitlines()
    assert len(first) == len(second) > 1000
    unexplained = [(a, b) for a, b in zip(first, second, strict=True)
                   if a != b and not _volatile(a) and a.replace("single", "multi") != b]
    assert unexplained == []
    assert any('"command":' in a and a != b for a, b in zip(first, second, strict=True))  # it did compare ids
