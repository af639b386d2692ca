"""The robustness stage inside a run: ``faceaudit run`` (after evaluate) and ``faceaudit perturb``.

Both read the evaluation stage's stored predictions as the clean pass; nothing about the
clean images is recomputed. ``perturb_existing_run`` adds a ``robustness`` section to the
``audit.json`` of a finished run, re-judges the gate so the verdict covers it, and re-renders
the report when the run had one.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from faceaudit.schema.robustness import RobustnessSection

log = logging.getLogger("faceaudit.perturb")


def _geometry(ctx: Any) -> tuple[Any, str]:
    from faceaudit.perturb.stage import geometry_resolver

    dataset_cfg = ctx.config.dataset
    return geometry_resolver(ctx.config.perturb.geometry, dataset_cfg.kind, getattr(dataset_cfg, "synthetic", None))


def _model_location(ctx: Any) -> tuple[Path | None, Path | None]:
    """The trained base model and adapter: from this run, else from the stored training record."""
    if ctx.base_model:
        return Path(ctx.base_model), ctx.adapter_dir
    training = ctx.result.training
    if training is not None and training.base_model:
        adapter = Path(training.adapter_path) if training.adapter_path else None
        base = Path(training.base_model)
        if not base.exists():
            # `tiny` is built into the run directory: <run>/models/<name>.
            candidate = ctx.store.dir / "models" / base.name
            base = candidate if candidate.exists() else base
        return base, adapter
    return None, None


def robustness_stage(ctx: Any, mode: str | None = None) -> RobustnessSection | None:
    """Run the robustness stage for a pipeline ``StageContext`` whose evaluation is done.

    Under a data-parallel launch (``ctx.shard``) every process answers its share; rank 0 gets
    the section, the others None. ``mode``: the evaluation's, for a process that has answered
    its share of the evaluation but holds no evaluation section (rank 0 holds it).
    """
    from faceaudit.evaluate.predict import load_predictions
    from faceaudit.evaluate.stage import predictions_path
    from faceaudit.models import make_model
    from faceaudit.perturb.stage import run_robustness

    evaluation = ctx.result.evaluation
    mode = mode or (evaluation.mode if evaluation is not None else None)
    if mode is None:
        raise ValueError("the robustness stage needs the evaluation stage's predictions: run evaluate first")
    cfg = ctx.config
    clean_path = predictions_path(cfg.evaluate, ctx.store.stage_dir("evaluate"), mode)
    if not clean_path.is_file():
        raise FileNotFoundError(f"no clean predictions at {clean_path}: run `faceaudit evaluate` first")
    clean = load_predictions(clean_path, ctx.sensitive_attributes)
    geometry, note = _geometry(ctx)
    model_dir, adapter = _model_location(ctx)
    model = make_model(cfg.evaluate, model_dir=model_dir, adapter=adapter, seed=cfg.seed)
    try:
        section = run_robustness(
            ctx.eval_items,
            ctx.image_root,
            clean,
            model,
            cfg.perturb,
            mode=mode,  # type: ignore[arg-type]
            sensitive_attributes=ctx.sensitive_attributes,
            geometry=geometry,
            geometry_note=note,
            batch_size=cfg.evaluate.batch_size,
            max_new_tokens=cfg.evaluate.max_new_tokens,
            seed=cfg.seed,
            progress=ctx.progress,
            answers_jsonl=ctx.store.stage_dir("robustness") / "perturbed_answers.jsonl",
            shard=getattr(ctx, "shard", None),
        )
    finally:
        close = getattr(model, "close", None)
        if close is not None:
            close()
    return with_baseline(section, cfg.gate.baseline) if section is not None else None


def with_baseline(section: RobustnessSection, baseline_path: str | None) -> RobustnessSection:
    """Add the relative corruption error against the baseline audit's robustness section
    (``gate.baseline``), and a note saying whether and how it was computed."""
    from faceaudit.perturb.analysis import relative_corruption_error
    from faceaudit.schema import AuditResult

    if not baseline_path:
        section.method_notes.append(
            "Relative corruption error was not computed: no baseline audit was given (gate.baseline, "
            "e.g. the base model's audit before LoRA).")
        return section
    baseline = AuditResult.load(baseline_path)
    if baseline.robustness is None:
        section.method_notes.append(
            f"Relative corruption error was not computed: the baseline audit {baseline_path} has no "
            "robustness section.")
        return section
    values, notes = relative_corruption_error(section, baseline.robustness)
    section.relative_corruption_error = values or None
    section.method_notes.extend(notes)
    if values:
        section.method_notes.append(
            f"Relative corruption error against the baseline audit {baseline_path} (model "
            f"{baseline.robustness.model}): per family, the mean over its perturbations of this model's "
            "accuracy drop summed over severities divided by the baseline's (Hendrycks & Dietterich "
            "2019); above 1, this model loses more accuracy under the perturbation than the baseline. "
            "Point estimates: the baseline's per-image answers are not in its audit, so there is no "
            "paired interval.")
    return section
