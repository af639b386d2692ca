"""``run_audit``: the only orchestrator. Composes the stages from one config.

Each stage is a library function with typed inputs and one typed result
section; this module only wires them together, times them and writes the
run directory:

    <output_dir>/<run_id>/
        config.yaml          the resolved configuration
        data/                rendered synthetic faces (embedded default only)
        corpus/corpus.jsonl  generated Q&A pairs (resumable)
        models/              tiny base checkpoint, LoRA adapter, training log
        evaluate/            predictions.jsonl (resumable)
        audit.json           AuditResult: the one contract
        report.html, junit.xml

Rerunning with the same ``run_id`` resumes: the JSONL stages skip what is
done and training restarts from its last checkpoint.
"""

from __future__ import annotations

import logging
import platform
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import yaml

from faceaudit import __version__
from faceaudit.config import AuditConfig
from faceaudit.schema import AuditResult, ProvenanceSection, RunSection, Warning_
from faceaudit.store import RunStore, atomic_write_bytes, atomic_write_text, sha256_json, utc_now

log = logging.getLogger("faceaudit")

_REPORTED_LIBRARIES = (
    "torch",
    "transformers",
    "peft",
    "accelerate",
    "fairlearn",
    "scikit-learn",
    "scipy",
    "statsmodels",
    "numpy",
    "pandas",
    "albumentations",
    "pydantic",
)


def library_versions() -> dict[str, str]:
    versions = {}
    for name in _REPORTED_LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


@dataclass
class RunOutcome:
    """What ``run_audit`` hands back to the CLI."""

    result: AuditResult
    run_dir: Path
    audit_path: Path
    report_path: Path | None = None
    junit_path: Path | None = None
    artefacts: dict[str, Path] = field(default_factory=dict)


class _Timer:
    def __init__(self) -> None:
        self.timings: dict[str, float] = {}

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        log.info("stage %s: started", name)
        start = time.perf_counter()
        try:
            yield
        finally:
            elapsed = time.perf_counter() - start
            self.timings[name] = round(elapsed, 3)
            log.info("stage %s: finished in %.1f s", name, elapsed)


@dataclass
class StageContext:
    """State shared by the stages of one run."""

    config: AuditConfig
    store: RunStore
    result: AuditResult
    progress: bool
    timer: _Timer
    dataset: Any = None  # faceaudit.data.dataset.Dataset (None for question-only sets)
    image_root: Path | None = None
    sensitive_attributes: list[str] = field(default_factory=list)
    ordinal: dict[str, list[str]] = field(default_factory=dict)
    train_items: list[Any] = field(default_factory=list)
    eval_items: list[Any] = field(default_factory=list)
    corpus_path: Path | None = None
    base_model: str | None = None
    adapter_dir: Path | None = None


STAGES = ("dataset", "corpus", "train", "evaluate", "perturb", "gate", "report")


def run_audit(
    config: AuditConfig,
    *,
    progress: bool = True,
    command: str | None = None,
    only: set[str] | None = None,
) -> RunOutcome:
    """Run every enabled stage of ``config`` and write the run directory.

    ``only`` restricts the run to some stages (the single-stage subcommands use
    it); the dataset stage always runs because every other stage needs it.
    """
    unknown = (only or set()) - set(STAGES)
    if unknown:
        raise ValueError(f"unknown stage(s) {sorted(unknown)}; stages are {', '.join(STAGES)}")

    def wanted(name: str, enabled: bool) -> bool:
        return enabled and (only is None or name in only or name == "dataset")

    store = RunStore.create(config.output_dir, config.run_id)
    config_dump = config.model_dump(mode="json")
    atomic_write_text(store.path("config.yaml"), yaml.safe_dump(config_dump, sort_keys=False))
    log.info("run directory: %s", store.dir)

    timer = _Timer()
    run = RunSection(
        run_id=store.run_id,
        started_at=utc_now(),
        faceaudit_version=__version__,
        python_version=sys.version.split()[0],
        platform=platform.platform(),
        library_versions=library_versions(),
        seed=config.seed,
        config=config_dump,
        command=command,
    )
    # Where the run is written does not change what it computes, so it is left
    # out of the hash: the same audit in two directories has the same config hash.
    determining = {k: v for k, v in config_dump.items() if k not in {"output_dir", "run_id"}}
    provenance = ProvenanceSection(config_sha256=sha256_json(determining))
    result = AuditResult(run=run, provenance=provenance)
    ctx = StageContext(config, store, result, progress, timer)

    # `enabled` is read when the stage's turn comes: the dataset stage may turn
    # off stages its data cannot feed (FaceXBench has no labels to train on).
    stages: list[tuple[str, Callable[[], bool], Callable[[StageContext], None]]] = [
        ("dataset", lambda: True, _stage_dataset),
        ("corpus", lambda: config.corpus.enabled, _stage_corpus),
        ("train", lambda: config.train.enabled, _stage_train),
        ("evaluate", lambda: config.evaluate.enabled, _stage_evaluate),
        ("perturb", lambda: config.perturb.enabled, _stage_perturb),
    ]
    for name, enabled, stage in stages:
        if not wanted(name, enabled()):
            log.info("stage %s: not run (disabled or not requested)", name)
            continue
        with timer.stage(name):
            stage(ctx)
        result.run.stages_run.append(name)

    outcome = RunOutcome(result=result, run_dir=store.dir, audit_path=store.path("audit.json"))
    if wanted("gate", config.gate.enabled):
        with timer.stage("gate"):
            outcome.junit_path = _stage_gate(ctx)
        result.run.stages_run.append("gate")
    result.run.finished_at = utc_now()
    result.run.timings_s = dict(timer.timings)
    result.save(outcome.audit_path)
    if wanted("report", config.report.enabled):
        with timer.stage("report"):
            outcome.report_path = _stage_report(ctx, outcome.audit_path)
    return outcome


def warn(result: AuditResult, stage: str, message: str, **detail: Any) -> None:
    """Record a warning in the result and log it."""
    log.warning("%s: %s", stage, message)
    result.warnings.append(Warning_(stage=stage, message=message, detail=detail))


# --- stages ----------------------------------------------------------------
# Stage modules pull in torch and transformers; importing them inside the
# stage functions keeps `faceaudit --help` fast.


def _stage_dataset(ctx: StageContext) -> None:
    from faceaudit.data.loaders import apply_attribute_choice, load_dataset
    from faceaudit.data.mcq import build_mcq_items

    cfg = ctx.config.dataset
    if cfg.kind == "facexbench":
        _stage_facexbench(ctx)
        return
    if cfg.kind == "synthetic":
        from faceaudit.data.manifest import load_manifest
        from faceaudit.data.synthetic import render_synthetic

        manifest = render_synthetic(ctx.store.stage_dir("data"), cfg.synthetic, progress=ctx.progress)
        dataset = load_manifest(manifest, progress=ctx.progress)
        dataset = dataset.filter(split=cfg.split, limit=cfg.limit)
        dataset = apply_attribute_choice(dataset, cfg.sensitive_attributes, cfg.tasks)
    else:
        dataset = load_dataset(cfg, progress=ctx.progress)
    ctx.dataset = dataset
    ctx.image_root = dataset.root
    ctx.sensitive_attributes = list(dataset.sensitive_attributes)
    ctx.ordinal = dict(dataset.ordinal)
    summary = dataset.summary()
    ctx.result.dataset = summary
    ctx.result.provenance.dataset_fingerprint = summary.fingerprint
    ctx.result.provenance.dataset_manifest_sha256 = summary.manifest_sha256
    for issue in summary.issues:
        warn(ctx.result, "dataset", f"{issue.count} record(s) with {issue.kind}", kind=issue.kind)

    splits = {record.split for record in dataset.records}
    if {"train", "test"} <= splits:
        train_split, eval_split = "train", "test"
    else:
        # One split only (e.g. the FairFace validation sample): audit all of it
        # and, if training is on, say loudly that train and eval overlap.
        train_split = eval_split = None
        if ctx.config.train.enabled:
            warn(
                ctx.result,
                "dataset",
                "the dataset has no train/test split: the model is trained and evaluated on "
                "the same images, so its accuracy is optimistic",
            )
    tasks = dataset.task_attributes
    order = cfg.option_order
    if order == "auto":
        order = "vocabulary" if cfg.kind == "synthetic" else "shuffled"
    ctx.train_items = build_mcq_items(
        dataset, tasks, seed=ctx.config.seed, split=train_split, option_order=order
    )
    ctx.eval_items = build_mcq_items(
        dataset, tasks, seed=ctx.config.seed + 1, split=eval_split, option_order=order
    )
    log.info(
        "dataset %s: %d records, %d training items, %d evaluation items",
        dataset.name,
        len(dataset.records),
        len(ctx.train_items),
        len(ctx.eval_items),
    )


def _stage_facexbench(ctx: StageContext) -> None:
    """FaceXBench files are questions, not labelled faces: evaluation only."""
    from faceaudit.data.facexbench import facexbench_dataset_section, load_facexbench

    path = Path(str(ctx.config.dataset.path))
    items = load_facexbench(path)
    if ctx.config.dataset.limit:
        items = items.head(ctx.config.dataset.limit)
    for stage in ("corpus", "train"):
        if getattr(ctx.config, stage).enabled:
            warn(ctx.result, "dataset", f"FaceXBench has no face labels to learn from: {stage} skipped")
            getattr(ctx.config, stage).enabled = False
    section = facexbench_dataset_section(path, items)
    ctx.result.dataset = section
    ctx.result.provenance.dataset_fingerprint = section.fingerprint
    ctx.result.provenance.dataset_manifest_sha256 = section.manifest_sha256
    ctx.eval_items = items
    ctx.image_root = items.root
    # A question carries a group only where its answer is the label (single-image
    # bias_fairness questions): stratify by the groups every question has, and say
    # which ones are reported only as per-group accuracy.
    common = [a for a in section.sensitive_attributes if all(a in item.groups for item in items)]
    partial = sorted(set(section.sensitive_attributes) - set(common))
    if partial:
        warn(
            ctx.result,
            "dataset",
            f"group label(s) {partial} are carried by only some questions: reported as accuracy "
            "per group (evaluation.benchmark), not tested for disparity",
        )
    ctx.sensitive_attributes = common


def _training_records(ctx: StageContext) -> list[Any]:
    records = ctx.dataset.records
    split_records = [r for r in records if r.split == "train"]
    return split_records or list(records)


def _stage_corpus(ctx: StageContext) -> None:
    from faceaudit.corpus import describe_corpus, generate_corpus, import_sharegpt

    cfg = ctx.config.corpus
    out = ctx.store.path(cfg.output)
    if cfg.source is not None:
        source = Path(cfg.source)
        if not source.is_file():
            raise FileNotFoundError(f"corpus.source {source} does not exist")
        if source.suffix.lower() == ".json":
            imported = import_sharegpt(source, out)
            log.info("imported %s", imported.summary())
            for note in imported.notes():
                warn(ctx.result, "corpus", f"import of {source.name}: {note}")
        else:
            atomic_write_bytes(out, source.read_bytes())
        section = describe_corpus(out)
    else:
        section = generate_corpus(
            _training_records(ctx),
            ctx.image_root,
            cfg,
            out,
            seed=ctx.config.seed,
            progress=ctx.progress,
        )
        if section.n_failed:
            warn(
                ctx.result,
                "corpus",
                f"{section.n_failed} pair(s) failed after all retries; rerun with the same "
                "--run-id to retry them",
            )
    ctx.result.corpus = section
    ctx.result.provenance.corpus_sha256 = section.corpus_sha256
    ctx.result.provenance.prompt_set_sha256 = section.prompt_set_sha256
    if section.endpoint_host:
        ctx.result.provenance.data_sent_to.append(f"corpus generation: {section.endpoint_host}")
    ctx.corpus_path = out


def _stage_train(ctx: StageContext) -> None:
    from faceaudit.train import train_lora
    from faceaudit.train.recipe import resolve_recipe
    from faceaudit.train.trainer import prepare_base_model

    cfg = ctx.config.train
    recipe = resolve_recipe(cfg.recipe, overrides=cfg.overrides, base_model=cfg.base_model)
    # `tiny` is built from a config (random weights) into the run directory and then
    # loaded through from_pretrained like any real checkpoint.
    base_model = prepare_base_model(recipe, ctx.store.stage_dir("models"))
    out_dir = ctx.store.stage_dir("models") / "lora"
    section = train_lora(
        base_model=base_model,
        corpus=ctx.corpus_path,
        image_root=ctx.image_root,
        recipe=recipe,
        out_dir=out_dir,
        train_items=ctx.train_items,
        eval_items=ctx.eval_items,
        seed=ctx.config.seed,
        resume=cfg.resume,
        progress=ctx.progress,
    )
    ctx.result.training = section
    ctx.result.provenance.base_model = section.base_model
    ctx.result.provenance.base_model_sha256 = section.base_model_sha256
    ctx.result.provenance.adapter_sha256 = section.adapter_sha256
    ctx.result.provenance.recipe_sha256 = section.recipe_sha256
    ctx.base_model = str(base_model)
    ctx.adapter_dir = Path(section.adapter_path) if section.adapter_path else None


def _stage_evaluate(ctx: StageContext) -> None:
    from faceaudit.evaluate.stage import run_evaluation

    cfg = ctx.config.evaluate
    model_dir = Path(ctx.base_model) if ctx.base_model else None
    section = run_evaluation(
        ctx.eval_items,
        ctx.image_root,
        cfg,
        ctx.store.stage_dir("evaluate"),
        sensitive_attributes=ctx.sensitive_attributes,
        ordinal=ctx.ordinal,
        model_dir=model_dir,
        adapter=ctx.adapter_dir,
        seed=ctx.config.seed,
        progress=ctx.progress,
    )
    ctx.result.evaluation = section


def _stage_perturb(ctx: StageContext) -> None:
    from faceaudit.perturb.run import robustness_stage

    if ctx.result.evaluation is None:
        warn(ctx.result, "perturb", "robustness not tested: the evaluation stage did not run in this run")
        return
    ctx.result.robustness = robustness_stage(ctx)


def _stage_gate(ctx: StageContext) -> Path:
    from faceaudit.gate import evaluate_gate, load_policy, write_junit

    policy = load_policy(ctx.config.gate.policy)
    gate = evaluate_gate(
        ctx.result, policy, insufficient_blocks=ctx.config.gate.insufficient_blocks
    )
    ctx.result.gate = gate
    ctx.result.provenance.policy_sha256 = gate.policy_sha256
    return write_junit(gate, ctx.store.path("junit.xml"))


def _stage_report(ctx: StageContext, audit_path: Path) -> Path:
    from faceaudit.report import render_report

    # The report is rendered from the file, never from in-memory state, so
    # what it shows is exactly what audit.json says.
    stored = AuditResult.load(audit_path)
    return render_report(stored, ctx.store.path("report.html"), show_faces=ctx.config.report.show_faces)
