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

#: Where the in-run baseline's audit is, relative to the run directory.
BASELINE_AUDIT = "baseline/audit.json"


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

    With an in-run baseline (``baseline.enabled``), the baseline model answers the same
    perturbed images too (perturbations are seeded per image, so both models see the same
    pixels); its section goes into ``baseline/audit.json`` and the paired per-group changes
    into this section's ``baseline_comparison``.

    Under a data-parallel launch (``ctx.shard``) every process answers its share; rank 0 gets
    the section, the others None (a launch refuses an in-run baseline). ``mode``: the
    evaluation's, for a process that has answered its share of the evaluation but holds no
    evaluation section (rank 0 holds it).
    """
    from faceaudit.perturb.analysis import compare_with_baseline

    evaluation = ctx.result.evaluation
    mode = mode or (evaluation.mode if evaluation is not None else None)
    if mode is None:
        raise ValueError("the robustness stage needs the evaluation stage's predictions: run evaluate first")
    cfg = ctx.config
    geometry = _geometry(ctx)
    model_dir, adapter = _model_location(ctx)
    tables: list[Any] = []
    section = _perturbed(ctx, cfg.evaluate, ctx.store.stage_dir("evaluate"), mode,
                         (model_dir, adapter), geometry, ctx.store.stage_dir("robustness"), tables,
                         shard=getattr(ctx, "shard", None))
    if section is None:
        return None
    baseline = _in_run_baseline(ctx)
    if baseline is not None:
        out = ctx.store.stage_dir("baseline")
        (out / "robustness").mkdir(exist_ok=True)
        baseline.robustness = _perturbed(
            ctx, cfg.baseline.evaluate_config(cfg.evaluate), out / "evaluate", baseline.evaluation.mode,
            (model_dir, adapter if cfg.baseline.use_adapter else None), geometry, out / "robustness", tables)
        _save_baseline(baseline, out / "audit.json")
        section.baseline_comparison = compare_with_baseline(
            tables[0], tables[1], attributes=ctx.sensitive_attributes, baseline_model=baseline.robustness.model,
            baseline_audit=BASELINE_AUDIT, confidence=cfg.perturb.confidence, alpha=0.05,  # as compare_audits
            min_group_n=cfg.perturb.min_group_n)
        section.method_notes.append(
            f"The baseline model ({baseline.robustness.model}) answered the same perturbed images "
            "(baseline_comparison): per family and group, the change in accuracy drop (this model's "
            "minus the baseline's, averaged over the family's perturbations and severities) with an "
            "image-clustered paired t interval; 'worse' or 'better' after one Holm correction over "
            f"{section.baseline_comparison.n_tests} changes.")
    if cfg.gate.baseline:
        from faceaudit.schema import AuditResult

        return with_baseline(section, AuditResult.load(cfg.gate.baseline), cfg.gate.baseline)
    return with_baseline(section, baseline, BASELINE_AUDIT)


def stored_in_run_baseline(run_dir: Path, enabled: bool) -> Any:
    """The in-run baseline's audit stored in ``run_dir`` (None when the run has none)."""
    from faceaudit.schema import AuditResult

    stored = Path(run_dir) / BASELINE_AUDIT
    return AuditResult.load(stored) if enabled and stored.is_file() else None


def _in_run_baseline(ctx: Any) -> Any:
    """The in-run baseline's audit: this run's, or the one a finished run stored (``faceaudit perturb``)."""
    if ctx.config.baseline.enabled and ctx.baseline is not None:
        return ctx.baseline
    return stored_in_run_baseline(ctx.store.dir, ctx.config.baseline.enabled)


def _save_baseline(baseline: Any, path: Path) -> None:
    from faceaudit.provenance import derive_provenance

    if "perturb" not in baseline.run.stages_run:
        baseline.run.stages_run.append("perturb")
    baseline.provenance = derive_provenance(baseline)
    baseline.save(path)


def _perturbed(
    ctx: Any, evaluate_cfg: Any, evaluate_dir: Path, mode: str, location: tuple[Path | None, Path | None],
    geometry: tuple[Any, str], out_dir: Path, tables: list[Any], shard: Any = None,
) -> RobustnessSection | None:
    """One model's robustness section, from its clean predictions in ``evaluate_dir``; None on
    a data-parallel rank other than 0 (``shard``), which only answers its share."""
    from faceaudit.evaluate.predict import load_predictions
    from faceaudit.evaluate.stage import predictions_path
    from faceaudit.models import make_model
    from faceaudit.perturb.stage import run_robustness

    cfg = ctx.config
    clean_path = predictions_path(evaluate_cfg, evaluate_dir, mode)
    if not clean_path.is_file():
        raise FileNotFoundError(f"no clean predictions at {clean_path}: run `faceaudit evaluate` first")
    clean = load_predictions(clean_path, ctx.sensitive_attributes)
    model = make_model(evaluate_cfg, model_dir=location[0], adapter=location[1], seed=cfg.seed)
    try:
        return run_robustness(
            ctx.eval_items,
            ctx.image_root,
            clean,
            model,
            cfg.perturb,
            mode=mode,  # type: ignore[arg-type]
            sensitive_attributes=ctx.sensitive_attributes,
            geometry=geometry[0],
            geometry_note=geometry[1],
            batch_size=evaluate_cfg.batch_size,
            max_new_tokens=evaluate_cfg.max_new_tokens,
            seed=cfg.seed,
            progress=ctx.progress,
            answers_jsonl=out_dir / "perturbed_answers.jsonl",
            tables=tables,
            shard=shard,
        )
    finally:
        close = getattr(model, "close", None)
        if close is not None:
            close()


def with_baseline(section: RobustnessSection, baseline: Any, name: str) -> RobustnessSection:
    """Add the relative corruption error against ``baseline``'s robustness section (the audit
    ``gate.baseline`` names, else the in-run baseline's, stored at ``name``), and a note saying
    whether and how it was computed."""
    from faceaudit.perturb.analysis import relative_corruption_error

    if baseline is None:
        section.method_notes.append(
            "Relative corruption error was not computed: no baseline audit was given (gate.baseline, "
            "e.g. the base model's audit before LoRA, or baseline.enabled).")
        return section
    if baseline.robustness is None:
        section.method_notes.append(
            f"Relative corruption error was not computed: the baseline audit {name} has no "
            "robustness section.")
        return section
    values, notes = relative_corruption_error(section, baseline.robustness)
    section.relative_corruption_error = values or None
    section.method_notes.extend(notes)
    if values:
        paired = ("its paired changes with intervals are in baseline_comparison" if section.baseline_comparison
                  else "the baseline's per-image answers are not in its audit, so there is no paired interval")
        section.method_notes.append(
            f"Relative corruption error against the baseline audit {name} (model "
            f"{baseline.robustness.model}): per family, the mean over its perturbations of this model's "
            "accuracy drop summed over severities divided by the baseline's (Hendrycks & Dietterich "
            f"2019); above 1, this model loses more accuracy under the perturbation than the baseline. "
            f"Point estimates: {paired}.")
    return section
