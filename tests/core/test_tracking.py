"""Experiment tracking: a finished audit's numbers and files land in a local MLflow file store."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from faceaudit.config import load_config
from faceaudit.pipeline import run_audit
from faceaudit.tracking import audit_metrics

mlflow = pytest.importorskip("mlflow")


def test_audit_is_logged_to_a_local_file_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    store = (tmp_path / "mlruns").as_uri()
    config = load_config(overrides=[
        "dataset.synthetic.n=60", "dataset.synthetic.image_size=32", "corpus.enabled=false",
        "train.enabled=false", "perturb.enabled=false", "report.enabled=false", "evaluate.backend=simulated",
        "evaluate.n_boot=100",
        "tracking.backend=mlflow", f"tracking.uri={store}", "tracking.experiment=audits",
        f"output_dir={tmp_path}", "run_id=tracked",
    ])
    result = run_audit(config, progress=False).result
    client = mlflow.tracking.MlflowClient(store)
    (run,) = client.search_runs([client.get_experiment_by_name("audits").experiment_id])
    assert run.info.run_name == "tracked"
    assert run.data.params["evaluate.backend"] == "simulated"
    assert run.data.tags["faceaudit.verdict"] == result.gate.verdict
    expected = audit_metrics(result)
    task = result.evaluation.tasks[0]
    assert expected[f"accuracy.{task.task}"] == task.overall["accuracy"].value
    assert run.data.metrics == pytest.approx(expected)
    group = next(g for g in task.groups if g.attributes == ["skin_tone_group"])
    assert run.data.metrics[f"accuracy.{task.task}.skin_tone_group.{group.labels[0]}"] == pytest.approx(
        group.metrics["accuracy"].value)
    artefacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"audit.json", "junit.xml", "config.yaml"} <= artefacts and "report.html" not in artefacts


def test_tracking_is_off_by_default() -> None:
    assert load_config().tracking.backend == "none"


def _tracked(tmp_path: Path, *overrides: str):
    return load_config(overrides=[
        "dataset.synthetic.n=60", "dataset.synthetic.image_size=32", "corpus.enabled=false",
        "train.enabled=false", "perturb.enabled=false", "report.enabled=false", "evaluate.backend=simulated",
        "evaluate.n_boot=100", f"output_dir={tmp_path}", *overrides,
    ])


@pytest.mark.slow
def test_training_logs_through_the_trainers_report_to_into_the_same_store(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    store = (tmp_path / "mlruns").as_uri()
    config = _tracked(
        tmp_path, "run_id=trained", "corpus.enabled=true", "scan.enabled=false", "contamination.enabled=false",
        "sensitivity.enabled=false", "evaluate.enabled=false", "gate.enabled=false", "train.enabled=true",
        "train.overrides={max_steps: 3, logging_steps: 1, save_steps: 100, merge: false}",
        "train.report_to=[mlflow]", f"tracking.uri={store}", "tracking.experiment=train-audits",
    )
    result = run_audit(config, progress=False).result
    client = mlflow.tracking.MlflowClient(store)
    (run,) = client.search_runs([client.get_experiment_by_name("train-audits").experiment_id])
    losses = client.get_metric_history(run.info.run_id, "loss")
    assert [m.step for m in losses] == [1, 2, 3]
    logged = [round(m.value, 4) for m in losses]
    assert logged == [round(p.loss, 4) for p in result.training.loss_curve][:3]
    assert float(run.data.params["max_steps"]) == 3


def test_a_tracking_library_that_is_missing_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from faceaudit.errors import InputError
    from faceaudit.tracking import TrackingConfig, training_environment

    monkeypatch.setitem(sys.modules, "wandb", None)  # import wandb fails
    with (pytest.raises(InputError, match=r"tracking with 'wandb' needs it installed: pip install wandb"),
          training_environment(["wandb"], TrackingConfig(), tmp_path, "r")):
        pass
    assert load_config(overrides=["train.report_to=[wandb]"]).train.report_to == ["wandb"]
    from faceaudit.config import ConfigError

    with pytest.raises(ConfigError, match="train.report_to.0"):
        load_config(overrides=["train.report_to=[tensorboard]"])


def test_audit_is_logged_to_wandb_offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Offline mode (the default): the run is written under <output_dir>/wandb and nothing is sent.
    Its record file holds every metric key, the verdict and the artefact's files."""
    pytest.importorskip("wandb")
    for key in ("WANDB_MODE", "WANDB_DIR", "WANDB_PROJECT", "WANDB_API_KEY", "WANDB_BASE_URL"):
        monkeypatch.delenv(key, raising=False)
    result = run_audit(_tracked(tmp_path, "run_id=wb", "tracking.backend=wandb", "tracking.experiment=audits"),
                       progress=False).result
    (run_dir,) = (tmp_path / "wandb").glob("offline-run-*")
    (records,) = run_dir.glob("*.wandb")
    data = records.read_bytes()
    for key in audit_metrics(result):
        assert key.encode() in data, key
    assert f"verdict:{result.gate.verdict}".encode() in data and b"faceaudit-wb" in data
    for name in ("audit.json", "junit.xml", "config.yaml"):
        assert name.encode() in data
