"""Experiment tracking: a finished audit's metrics and artefacts logged to MLflow (off by default).

``tracking.backend: mlflow`` logs, after the report is written: a few identifying parameters
(data set, backend, model, seed), each task's overall and per-group accuracy, the contamination
and prompt-sensitivity headline numbers when those stages ran, the verdict as a tag, and the run
directory's audit.json, report.html, junit.xml, config.yaml and comparison files as artefacts.

Offline-safe: the default ``tracking.uri`` is a file store inside the output directory
(``<output_dir>/mlruns``), so nothing leaves the machine unless the URI names a server. MLflow 3
refuses new file stores unless ``MLFLOW_ALLOW_FILE_STORE`` is set; for a ``file:`` URI faceaudit
sets it for its own process (a user's explicit setting wins).
"""

from __future__ import annotations

import logging
import math
import os
import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from faceaudit.errors import InputError

log = logging.getLogger("faceaudit.tracking")

_ARTEFACTS = ("audit.json", "report.html", "junit.xml", "config.yaml", "comparison.md", "comparison.json",
              "comparison.html")


class TrackingConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    backend: Literal["none", "mlflow"] = Field(
        default="none", description="none, or mlflow: log metrics and artefacts of the finished audit.")
    uri: str | None = Field(
        default=None, description="MLflow tracking URI (default: a file store at <output_dir>/mlruns).")
    experiment: str = Field(default="faceaudit", description="MLflow experiment name.")


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


def log_audit(result: Any, run_dir: Path, cfg: TrackingConfig, output_dir: Path) -> str | None:
    """Log the finished audit; returns the MLflow run id (None when tracking is off)."""
    if cfg.backend == "none":
        return None
    try:
        import mlflow
    except ImportError:
        raise InputError("tracking.backend 'mlflow' needs MLflow: pip install mlflow-skinny") from None
    uri = cfg.uri or (Path(output_dir).resolve() / "mlruns").as_uri()
    if uri.startswith("file:"):
        os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
    config = result.run.config
    params = {
        "dataset.kind": config.get("dataset", {}).get("kind"),
        "dataset.path": config.get("dataset", {}).get("path"),
        "evaluate.backend": config.get("evaluate", {}).get("backend"),
        "evaluate.model": result.evaluation.model if result.evaluation else None,
        "seed": config.get("seed"),
        "faceaudit_version": result.run.faceaudit_version,
    }
    mlflow.set_tracking_uri(uri)
    mlflow.set_experiment(cfg.experiment)
    with mlflow.start_run(run_name=result.run.run_id) as run:
        mlflow.log_params({k: str(v) for k, v in params.items() if v is not None})
        mlflow.log_metrics(audit_metrics(result))
        mlflow.set_tag("faceaudit.verdict", result.gate.verdict if result.gate else "NOT_JUDGED")
        for name in _ARTEFACTS:
            if (run_dir / name).is_file():
                mlflow.log_artifact(str(run_dir / name))
    log.info("tracking: logged to MLflow %s (experiment %s, run %s)", uri, cfg.experiment, run.info.run_id)
    return run.info.run_id
