"""A training run killed mid-way resumes from its last checkpoint and ends at the same step."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from train_support import make_square_set

from faceaudit.train.tiny import tiny_internvl_cached

MAX_STEPS = 12


def _command(base: Path, root: Path, corpus: Path, items: Path, out: Path) -> list[str]:
    return [
        sys.executable, "-m", "faceaudit.train", "--recipe", "tiny", "--base-model", str(base),
        "--corpus", str(corpus), "--image-root", str(root), "--out", str(out),
        "--train-items", str(items), "--quiet",
        "--set", f"max_steps={MAX_STEPS}", "--set", "save_steps=3", "--set", "logging_steps=1",
        "--set", "per_device_train_batch_size=4", "--set", "save_total_limit=null",
        "--set", "lora.modules_to_save=[]",
    ]


def _complete_checkpoints(out: Path) -> list[int]:
    return sorted(
        int(p.name.split("-")[1]) for p in (out / "checkpoints").glob("checkpoint-*")
        if (p / "trainer_state.json").is_file()
    )


def test_killed_run_resumes_from_its_last_checkpoint(tmp_path, tmp_path_factory):
    base = tiny_internvl_cached(tmp_path_factory.getbasetemp() / "tiny-models")
    items, corpus = make_square_set(tmp_path, n=12)
    items_file = tmp_path / "items.jsonl"
    items_file.write_text("".join(item.model_dump_json() + "\n" for item in items))
    out = tmp_path / "out"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    command = _command(base, tmp_path, corpus, items_file, out)

    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while not _complete_checkpoints(out) and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    stderr = process.stderr.read().decode(errors="replace") if process.stderr else ""
    assert process.returncode == -signal.SIGKILL, f"run ended before it was killed:\n{stderr[-2000:]}"
    saved = _complete_checkpoints(out)
    assert saved and saved[-1] < MAX_STEPS
    assert not (out / "training.json").exists()

    finished = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert finished.returncode == 0, finished.stderr[-2000:]
    section = json.loads((out / "training.json").read_text())
    assert section["resumed_from_step"] == saved[-1]
    assert section["steps"] == MAX_STEPS
    # The loss curve covers every step once, the pre-kill steps from the first run included.
    assert [point["step"] for point in section["loss_curve"]] == list(range(1, MAX_STEPS + 1))
    assert (out / "adapter" / "adapter_model.safetensors").is_file()

    # A rerun into the same output with other inputs must not finish (or reuse) that training.
    changed = subprocess.run([*command, "--seed", "1", "--set", "learning_rate=0.5"], env=env,
                             capture_output=True, text=True, timeout=300)
    assert changed.returncode == 3, changed.stderr[-2000:]
    assert "was trained from other inputs than this run's (recipe_sha256, seed changed)" in changed.stderr


def test_a_checkpoint_with_a_torn_trainer_state_is_not_resumed_from(tmp_path):
    """The Trainer writes trainer_state.json last and in place: a kill while it is written leaves
    the newest checkpoint without a readable state, and the run resumes from the one before."""
    from faceaudit.train.trainer import _last_checkpoint

    for step, state in ((2, '{"global_step": 2}'), (4, '{"global_step": 4, "log_hist'), (10, None)):
        folder = tmp_path / f"checkpoint-{step}"
        folder.mkdir()
        if state is not None:
            (folder / "trainer_state.json").write_text(state)
    (tmp_path / "checkpoint-final").mkdir()  # not a step number: never a candidate
    assert _last_checkpoint(tmp_path) == tmp_path / "checkpoint-2"
    assert _last_checkpoint(tmp_path / "absent") is None
