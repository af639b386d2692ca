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


def robustness_stage(ctx: Any) -> RobustnessSection:
    """Run the robustness stage for a pipeline ``StageContext`` whose evaluation is done."""
    from faceaudit.evaluate.predict import load_predictions
    from faceaudit.evaluate.stage import predictions_path
    from faceaudit.models import make_model
    from faceaudit.perturb.stage import run_robustness

    evaluation = ctx.result.evaluation
    if evaluation is None:
        raise ValueError("the robustness stage needs the evaluation stage's predictions: run evaluate first")
    cfg = ctx.config
    clean_path = predictions_path(cfg.evaluate, ctx.store.stage_dir("evaluate"), evaluation.mode)
    if not clean_path.is_file():
        raise FileNotFoundError(f"no clean predictions at {clean_path}: run `faceaudit evaluate` first")
    clean = load_predictions(clean_path, ctx.sensitive_attributes)
    geometry, note = _geometry(ctx)
    model_dir, adapter = _model_location(ctx)
    model = make_model(cfg.evaluate, model_dir=model_dir, adapter=adapter, seed=cfg.seed)
    try:
        return run_robustness(
            ctx.eval_items,
            ctx.image_root,
            clean,
            model,
            cfg.perturb,
            mode=evaluation.mode,  # type: ignore[arg-type]
            sensitive_attributes=ctx.sensitive_attributes,
            geometry=geometry,
            geometry_note=note,
            batch_size=cfg.evaluate.batch_size,
            max_new_tokens=cfg.evaluate.max_new_tokens,
            seed=cfg.seed,
            progress=ctx.progress,
        )
    finally:
        close = getattr(model, "close", None)
        if close is not None:
            close()
