"""Experiment tracking: a finished audit's numbers and files land in a local MLflow file store."""

from __future__ import annotations

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
