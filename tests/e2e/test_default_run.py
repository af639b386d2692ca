"""`faceaudit run` with no configuration: the embedded default, end to end, on the tiny model.

This is the command the README promises on a fresh machine. It is the slowest test
(a few minutes on 2 cores) and the one that shows the whole pipeline is real:
synthetic faces -> template corpus -> LoRA on a tiny InternVL loaded with
from_pretrained -> per-group evaluation -> gate -> report.
"""

from __future__ import annotations

import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from faceaudit.cli import EXIT_FAIL, EXIT_INSUFFICIENT, EXIT_OK
from faceaudit.schema import AuditResult

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def default_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess, Path]:
    workdir = tmp_path_factory.mktemp("default-run")
    # Exactly the README's command, run where a user would run it (runs/ is created there).
    done = subprocess.run(
        [sys.executable, "-m", "faceaudit", "--quiet", "run", "--run-id", "default"],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    return done, workdir / "runs" / "default"


def test_exit_code_matches_the_printed_verdict(default_run) -> None:
    done, run_dir = default_run
    assert done.returncode in {EXIT_OK, EXIT_FAIL, EXIT_INSUFFICIENT}, done.stderr[-3000:]
    result = AuditResult.load(run_dir / "audit.json")
    expected = {"PASS": EXIT_OK, "FAIL": EXIT_FAIL, "INSUFFICIENT_EVIDENCE": EXIT_INSUFFICIENT}
    assert done.returncode == expected[result.gate.verdict]
    assert f"verdict: {result.gate.verdict.replace('_', ' ')}" in done.stdout
    # paths are printed as given: relative to where the user ran the command
    assert "report:  runs/default/report.html" in done.stdout


def test_every_stage_ran_and_left_its_artefacts(default_run) -> None:
    _, run_dir = default_run
    result = AuditResult.load(run_dir / "audit.json")
    assert result.run.stages_run == ["dataset", "corpus", "scan", "train", "evaluate", "contamination", "perturb", "gate"]
    assert result.corpus_scan.representation.n_pairs == result.corpus.n_accepted
    assert result.dataset.n_records == 3000 and result.dataset.kind == "synthetic"
    assert result.corpus.backend == "template" and result.corpus.n_accepted > 0
    training = result.training
    assert (run_dir / "models" / "lora" / "adapter" / "adapter_model.safetensors").is_file()
    assert training.adapter_sha256 == result.provenance.adapter_sha256
    assert training.n_corpus_examples == 800 and training.n_mcq_examples == 2100 * 4
    assert all("vision" not in name for name in training.lora_target_modules)
    assert training.loss_last < training.loss_first
    assert result.evaluation.mode == "scoring" and result.evaluation.n_items == 900 * 4
    junit = ET.parse(run_dir / "junit.xml").getroot()
    assert "testcase" in ET.tostring(junit, encoding="unicode")
    assert (run_dir / "report.html").stat().st_size < 5_000_000


def test_robustness_covers_lighting_and_occlusion_on_the_trained_model(default_run) -> None:
    _, run_dir = default_run
    result = AuditResult.load(run_dir / "audit.json")
    robustness = result.robustness
    assert robustness is not None and robustness.model == result.evaluation.model
    assert robustness.families == ["lighting", "occlusion"] and robustness.severities == [1, 2, 3, 4, 5]
    assert len(robustness.conditions) == 10 * 5
    assert robustness.n_images == robustness.n_items == 300 and robustness.n_images_available == 900
    assert robustness.geometry.startswith("synthetic renderer landmarks")
    assert {c.id for c in result.gate.checks} >= {"robustness-extra-drop-10-points"}


def test_tiny_model_learned_the_attributes_clearly_better_than_chance(default_run) -> None:
    _, run_dir = default_run
    result = AuditResult.load(run_dir / "audit.json")
    accuracy = result.training.accuracy
    chance = result.training.chance_accuracy
    # "Clearly better than chance": the whole 95% interval above chance, by a margin,
    # on skin tone (3 classes) and age (4 classes); above chance on gender.
    for task in ("skin_tone_group", "age"):
        assert accuracy[task].lower > chance[task] + 0.05, (task, accuracy[task], chance[task])
    assert accuracy["gender"].lower > chance["gender"], accuracy["gender"]
    # The evaluation stage (hf backend, scoring mode) sees the same model the same way.
    overall = {t.task: t.overall["accuracy"].value for t in result.evaluation.tasks}
    for task in ("skin_tone_group", "age", "gender"):
        assert abs(overall[task] - accuracy[task].value) < 0.02, (task, overall[task], accuracy[task])
