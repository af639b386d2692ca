"""Experiment tracking: a finished audit's metrics and artefacts logged to MLflow or Weights &
Biases (off by default), and training's through the Trainer's ``report_to`` (``train.report_to``).

``tracking.backend: mlflow`` (or ``wandb``) logs, after the report is written: a few identifying parameters
(data set, backend, model, seed), each task's overall and per-group accuracy, the contamination
and prompt-sensitivity headline numbers when those stages ran, the verdict as a tag, and the run
directory's audit.json, report.html, junit.xml, config.yaml and comparison files as artefacts.

Offline-safe: the default ``tracking.uri`` is a file store inside the output directory
(``<output_dir>/mlruns``), so nothing leaves the machine unless the URI names a server. MLflow 3
refuses new file stores unless ``MLFLOW_ALLOW_FILE_STORE`` is set; for a ``file:`` URI faceaudit
sets it for its own process (a user's explicit setting wins). Weights & Biases runs in
``tracking.wandb_mode: offline`` by default, writing under ``<output_dir>/wandb`` for a later
``wandb sync``; only ``online`` sends anything.

Training: ``train.report_to: [mlflow]`` (or ``wandb``) is handed to transformers'
``TrainingArguments.report_to``; :func:`training_environment` gives the Trainer's callbacks the
same store, experiment and mode as the audit's logging, so both land side by side.
"""

from __future__ import annotations

import importlib
import logging
import math
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from faceaudit.errors import InputError

log = logging.getLogger("faceaudit.tracking")

_ARTEFACTS = ("audit.json", "report.html", "junit.xml", "config.yaml", "comparison.md", "comparison.json",
              "comparison.html")


class TrackingConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    backend: Literal["none", "mlflow", "wandb"] = Field(
        default="none", description="none, mlflow or wandb: log metrics and artefacts of the finished audit.")
    uri: str | None = Field(
        default=None, description="MLflow tracking URI (default: a file store at <output_dir>/mlruns).")
    experiment: str = Field(default="faceaudit", description="MLflow experiment, or W&B project, name.")
    wandb_mode: Literal["offline", "online"] = Field(
        default="offline", description="W&B: offline writes the run under <output_dir>/wandb (nothing is "
        "sent; `wandb sync` uploads it later); online logs to the W&B server.")


def _key(*parts: str) -> str:
    # MLflow keys allow letters, digits, '_', '-', '.', ' ', ':' and '/'; a file store makes '/' a
    # folder, so 'accuracy/age' could not also hold 'accuracy/age/...': dots separate the parts.
    return ".".join(re.sub(r"[^\w\- ]", "_", part) for part in parts)


def audit_metrics(result: Any) -> dict[str, float]:
    """The numbers logged for an AuditResult (NaN left out: MLflow cannot plot it)."""
    metrics: dict[str, float] = {}
    if result.evaluation is not None:
        for task in result.evaluation.tasks:
            metrics[_key("accuracy", task.task)] = task.overall["accuracy"].value
            for group in task.groups:
                if len(group.attributes) == 1:
                    key = _key("accuracy", task.task, group.attributes[0], group.labels[0])
                    metrics[key] = group.metrics["accuracy"].value
    if result.contamination is not None:
        metrics["contamination.images"] = float(result.contamination.n_contaminated_images)
    if result.sensitivity is not None:
        metrics["sensitivity.consistency"] = result.sensitivity.overall_consistency.value
    if result.gate is not None:
        metrics["gate.failed_checks"] = float(sum(c.verdict == "FAIL" for c in result.gate.checks))
    return {k: float(v) for k, v in metrics.items() if not math.isnan(v)}


def _params(result: Any) -> dict[str, str]:
    config = result.run.config
    params = {
        "dataset.kind": config.get("dataset", {}).get("kind"),
        "dataset.path": config.get("dataset", {}).get("path"),
        "evaluate.backend": config.get("evaluate", {}).get("backend"),
        "evaluate.model": result.evaluation.model if result.evaluation else None,
        "seed": config.get("seed"),
        "faceaudit_version": result.run.faceaudit_version,
    }
    return {k: str(v) for k, v in params.items() if v is not None}


def _mlflow_uri(cfg: TrackingConfig, output_dir: Path) -> str:
    uri = cfg.uri or (Path(output_dir).resolve() / "mlruns").as_uri()
    if uri.startswith("file:"):
        os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
    return uri


def _import(backend: str) -> Any:
    install = {"mlflow": "pip install mlflow-skinny", "wandb": "pip install wandb"}[backend]
    try:
        return importlib.import_module(backend)
    except ImportError:
        raise InputError(f"tracking with {backend!r} needs it installed: {install} "
                         "(or pip install 'faceaudit[tracking]')") from None


@contextmanager
def training_environment(report_to: list[str], cfg: TrackingConfig, output_dir: Path, run_id: str) -> Iterator[None]:
    """Environment for transformers' MLflow / W&B callbacks (``train.report_to``), so training logs
    to the store, experiment and mode that the audit's own logging uses; restored afterwards.
    A variable the user set explicitly wins."""
    env: dict[str, str] = {}
    modules = {backend: _import(backend) for backend in report_to}  # a clear error now, not mid-set-up
    if "mlflow" in report_to:
        uri = _mlflow_uri(cfg, output_dir)
        # The callback keeps a URI already set in this process (by an earlier log_audit): set ours.
        modules["mlflow"].set_tracking_uri(uri)
        env.update(MLFLOW_TRACKING_URI=uri, MLFLOW_EXPERIMENT_NAME=cfg.experiment)
    if "wandb" in report_to:
        env.update(WANDB_MODE=cfg.wandb_mode, WANDB_DIR=str(Path(output_dir).resolve()),
                   WANDB_PROJECT=cfg.experiment, WANDB_NAME=f"{run_id}-train", WANDB_SILENT="true")
    before = dict(os.environ)
    os.environ.update({k: v for k, v in env.items() if k not in before})
    try:
        yield
    finally:
        # Ours, and those the libraries set themselves (MLflow exports its URI and experiment id).
        for key in [k for k in os.environ if k.startswith(("MLFLOW_", "WANDB_"))]:
            if key in before:
                os.environ[key] = before[key]
            else:
                del os.environ[key]


def log_audit(result: Any, run_dir: Path, cfg: TrackingConfig, output_dir: Path) -> str | None:
    """Log the finished audit; returns the MLflow or W&B run id (None when tracking is off)."""
    if cfg.backend == "none":
        return None
    if cfg.backend == "wandb":
        return _log_wandb(result, run_dir, cfg, output_dir)
    mlflow = _import("mlflow")
    uri = _mlflow_uri(cfg, output_dir)
    mlflow.set_tracking_uri(uri)
    mlflow.set_experiment(cfg.experiment)
    with mlflow.start_run(run_name=result.run.run_id) as run:
        mlflow.log_params(_params(result))
        mlflow.log_metrics(audit_metrics(result))
        mlflow.set_tag("faceaudit.verdict", _verdict(result))
        for path in _artefacts(run_dir):
            mlflow.log_artifact(str(path))
    log.info("tracking: logged to MLflow %s (experiment %s, run %s)", uri, cfg.experiment, run.info.run_id)
    return run.info.run_id


def _verdict(result: Any) -> str:
    return result.gate.verdict if result.gate else "NOT_JUDGED"


def _artefacts(run_dir: Path) -> list[Path]:
    return [run_dir / name for name in _ARTEFACTS if (run_dir / name).is_file()]


def _log_wandb(result: Any, run_dir: Path, cfg: TrackingConfig, output_dir: Path) -> str:
    wandb = _import("wandb")
    run = wandb.init(project=cfg.experiment, name=result.run.run_id, mode=cfg.wandb_mode,
                     dir=str(Path(output_dir).resolve()), config=_params(result),
                     tags=[f"verdict:{_verdict(result)}"], settings=wandb.Settings(silent=True))
    try:
        metrics = audit_metrics(result)
        run.log(metrics)
        run.summary.update({**metrics, "faceaudit.verdict": _verdict(result)})
        artefact = wandb.Artifact(_key(f"faceaudit-{result.run.run_id}"), type="audit")
        for path in _artefacts(run_dir):
            artefact.add_file(str(path))
        run.log_artifact(artefact)
    finally:
        run.finish()
    log.info("tracking: logged to W&B (%s, project %s, run %s)", cfg.wandb_mode, cfg.experiment, run.id)
    return run.id
