"""``run_audit``: the only orchestrator. Composes the stages from one config.

Each stage is a library function with typed inputs and one typed result
section; this module only wires them together, times them and writes the
run directory:

    <output_dir>/<run_id>/
        config.yaml          the resolved configuration
        data/                rendered synthetic faces (embedded default only)
        corpus/corpus.jsonl  generated Q&A pairs (resumable)
        scan/                corpus-scan review queue (review_queue.csv, review.html)
        models/              tiny base checkpoint, LoRA adapter, training log
        evaluate/            predictions.jsonl (resumable)
        audit.json           AuditResult: the one contract
        report.html, junit.xml

Rerunning with the same ``run_id`` resumes: the JSONL stages skip what is
done and training restarts from its last checkpoint, each refusing results made from
other inputs (weights, config, items). The directory is locked while a command uses it.
Provenance is never set here: :func:`faceaudit.provenance.derive_provenance` reads it off
the sections just before audit.json is written.

Under ``accelerate launch``/``torchrun`` every process runs this module: the evaluation and
perturbation stages are shared (each process answers its share of the images, see
:mod:`faceaudit.evaluate.distributed`), rank 0 holds the lock and alone writes the run's
files; stages that only rank 0 could run are refused before any work.
"""

from __future__ import annotations

import logging
import platform
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import yaml

from faceaudit import __version__
from faceaudit.config import AuditConfig
from faceaudit.errors import InputError, StageError, StaleResultsError
from faceaudit.evaluate.distributed import Shard, current_shard
from faceaudit.provenance import config_sha256, derive_provenance
from faceaudit.schema import AuditResult, ProvenanceSection, RunSection, Warning_
from faceaudit.store import (
    RunStore,
    atomic_write_bytes,
    atomic_write_text,
    read_regular_bytes,
    sha256_file,
    utc_now,
)

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
    #: False in a process other than rank 0 of a data-parallel run: it wrote none of these files
    wrote: bool = True


class _Timer:
    def __init__(self) -> None:
        self.timings: dict[str, float] = {}

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        log.info("stage %s: started", name)
        start = time.perf_counter()
        try:
            yield
        except BaseException:
            elapsed = time.perf_counter() - start
            self.timings[name] = round(elapsed, 3)
            log.info("stage %s: stopped by an error after %.1f s", name, elapsed)
            raise
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
    previous: AuditResult | None = None  # the stored audit a stage command merges into
    baseline: AuditResult | None = None  # the in-run baseline's audit (baseline.enabled)
    shard: Shard = field(default_factory=Shard)  # this process's share under accelerate launch


STAGES = ("dataset", "corpus", "scan", "train", "evaluate", "baseline", "contamination", "sensitivity", "perturb", "gate", "report")
#: The section each computing stage writes, in pipeline order (later ones depend on earlier ones).
_SECTIONS = {"corpus": "corpus", "scan": "corpus_scan", "train": "training", "evaluate": "evaluation",
             "baseline": "comparison", "contamination": "contamination", "sensitivity": "sensitivity",
             "perturb": "robustness"}
#: The ``kind`` of the warning left when a verdict is dropped; a new verdict clears it.
VERDICT_DROPPED = "verdict_dropped"


def run_audit(
    config: AuditConfig,
    *,
    progress: bool = True,
    command: str | None = None,
    only: set[str] | None = None,
) -> RunOutcome:
    """Run every enabled stage of ``config`` and write the run directory.

    ``only`` restricts the run to some stages (the single-stage subcommands use it); the
    dataset stage always runs because every other stage needs it. A restricted run on an
    existing run directory merges its sections into the stored audit.json (see
    :func:`_merge`); a full run replaces it. The run directory is locked throughout.
    """
    unknown = (only or set()) - set(STAGES)
    if unknown:
        raise InputError(f"unknown stage(s) {sorted(unknown)}; stages are {', '.join(STAGES)}")
    shard = current_shard()
    if shard.active:
        _check_data_parallel(config, only)
    store = RunStore.create(config.output_dir, config.run_id)
    if not shard.is_main:
        return _run_share(store, config, shard, only=only)  # writes nothing but its share of answers
    with store.lock(sweep=not shard.active):
        return _run_locked(store, config, progress=progress, command=command, only=only, shard=shard)


#: Stages every process of a data-parallel launch shares; rank 0 alone writes the rest afterwards.
DATA_PARALLEL_STAGES = ("dataset", "evaluate", "perturb")


def _check_data_parallel(config: AuditConfig, only: set[str] | None) -> None:
    """Refuse what a data-parallel launch cannot run: a stage that rank 0 would run alone while
    the others wait (they time out after 30 minutes), or a run directory each process would name."""
    if config.run_id is None:
        raise InputError("a data-parallel run (accelerate launch / torchrun) needs --run-id: every process "
                         "must work in the same run directory")
    labelled = config.dataset.kind != "facexbench"  # FaceXBench turns corpus and train off itself
    has_corpus = labelled and config.corpus.enabled and (only is None or "corpus" in only)
    enabled = {"corpus": labelled and config.corpus.enabled, "scan": config.scan.enabled and has_corpus,
               "train": labelled and config.train.enabled, "baseline": config.baseline.enabled,
               "contamination": config.contamination.enabled and (has_corpus or config.contamination.corpus is not None),
               "sensitivity": config.sensitivity.enabled}
    alone = [name for name in STAGES if enabled.get(name) and (only is None or name in only)]
    if alone:
        raise InputError(
            f"stage(s) {', '.join(alone)} do not run data-parallel: run them in one process first (training "
            "has its own launch, `accelerate launch -m faceaudit.train`), or switch them off (--set "
            f"{alone[0]}.enabled=false); under accelerate launch only {', '.join(DATA_PARALLEL_STAGES)} are "
            "shared by the processes, and gate and report follow on rank 0"
        )


def _save_config(store: RunStore, config: AuditConfig) -> dict[str, Any]:
    dump = config.model_dump(mode="json")
    atomic_write_text(store.path("config.yaml"), yaml.safe_dump(dump, sort_keys=False))
    return dump


def _run_locked(
    store: RunStore, config: AuditConfig, *, progress: bool, command: str | None, only: set[str] | None,
    shard: Shard | None = None,
) -> RunOutcome:
    def wanted(name: str, enabled: bool) -> bool:
        return enabled and (only is None or name in only or name == "dataset")

    audit_path = store.path("audit.json")
    previous = AuditResult.load(audit_path) if only is not None and audit_path.is_file() else None
    config_dump = _save_config(store, config)
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
    result = AuditResult(run=run, provenance=ProvenanceSection(config_sha256=config_sha256(config_dump)))
    ctx = StageContext(config, store, result, progress, timer, previous=previous, shard=shard or Shard())

    # `enabled` is read when the stage's turn comes: the dataset stage may turn
    # off stages its data cannot feed (FaceXBench has no labels to train on).
    stages: list[tuple[str, Callable[[], bool], Callable[[StageContext], None]]] = [
        ("dataset", lambda: True, _shared_dataset),
        ("corpus", lambda: config.corpus.enabled, _stage_corpus),
        ("scan", lambda: config.scan.enabled and ctx.corpus_path is not None, _stage_scan),
        ("train", lambda: config.train.enabled, _stage_train),
        ("evaluate", lambda: config.evaluate.enabled, _stage_evaluate),
        ("baseline", lambda: config.baseline.enabled and ctx.result.evaluation is not None, _stage_baseline),
        ("contamination", lambda: config.contamination.enabled
         and (ctx.corpus_path is not None or config.contamination.corpus is not None), _stage_contamination),
        ("sensitivity", lambda: config.sensitivity.enabled, _stage_sensitivity),
        ("perturb", lambda: config.perturb.enabled, _stage_perturb),
    ]
    for name, enabled, stage in stages:
        if not wanted(name, enabled()):
            log.info("stage %s: not run (disabled or not requested)", name)
            continue
        with timer.stage(name):
            stage(ctx)
        result.run.stages_run.append(name)
    # Saved again: a stage may have adjusted the config (FaceXBench turns corpus and train off),
    # and config.yaml and audit.json must show the config that actually ran.
    result.run.config = _save_config(store, config)

    outcome = RunOutcome(result=result, run_dir=store.dir, audit_path=audit_path)
    ran_gate = wanted("gate", config.gate.enabled)
    if previous is not None:
        _merge(previous, result, ran_gate=ran_gate)
    if ran_gate:
        with timer.stage("gate"):
            outcome.junit_path = _stage_gate(ctx)
        result.run.stages_run.append("gate")
    elif result.gate is None:
        # No verdict in this audit: a junit.xml left from before would contradict it.
        store.path("junit.xml").unlink(missing_ok=True)
    result.run.finished_at = utc_now()
    result.run.timings_s = {**result.run.timings_s, **timer.timings}
    result.provenance = derive_provenance(result)
    result.save(audit_path)
    report_path = store.path("report.html")
    if wanted("report", config.report.enabled) or report_path.is_file():
        # A report left from before is re-rendered too: it must never disagree with audit.json.
        with timer.stage("report"):
            outcome.report_path = _stage_report(ctx, audit_path)
    if config.tracking.backend != "none":
        from faceaudit.tracking import log_audit

        log_audit(result, store.dir, config.tracking, Path(config.output_dir))
    return outcome


def _section_key(name: str, section: Any) -> Any:
    """What identifies a section's content, for deciding whether later sections still follow from it."""
    if name == "corpus":
        return section.corpus_sha256
    if name == "training":
        return section.adapter_sha256
    if name == "evaluation":
        identity = section.model_identity
        return (section.predictions_sha256, section.model, identity.sha256 if identity else None)
    return section.model_dump(mode="json")


def _depends_on(name: str, upstream: str, previous: AuditResult) -> bool:
    """Whether the stored section ``name`` was computed from the stored section ``upstream``."""
    if (name, upstream) in {("training", "corpus"), ("corpus_scan", "corpus"), ("contamination", "corpus"),
                            ("contamination", "evaluation"), ("sensitivity", "training"),
                            ("comparison", "evaluation")}:
        return True
    if (name, upstream) == ("evaluation", "training"):
        # Only when the evaluated model is this run's adapter (not a model named on its own).
        identity = previous.evaluation.model_identity if previous.evaluation else None
        adapter = previous.training.adapter_sha256 if previous.training else None
        return identity is None or identity.adapter_sha256 == adapter
    return False


def _merge(previous: AuditResult, result: AuditResult, *, ran_gate: bool) -> None:
    """Carry the stored sections that this restricted run did not recompute into ``result``.

    A stored section is kept only while what it was computed from is unchanged: a different
    data set refuses the merge outright; a recomputed corpus or adapter whose content differs
    drops the stored sections computed from it, with a warning saying which and why. The
    stored verdict is dropped whenever a section changed, since it judged the old ones.
    Nothing stale is carried silently.
    """
    if previous.dataset is not None and result.dataset is not None and (
        previous.dataset.fingerprint != result.dataset.fingerprint
    ):
        raise StaleResultsError(
            f"run {result.run.run_id} holds results on data set {previous.dataset.name} (fingerprint "
            f"{previous.dataset.fingerprint[:12]}), but this command uses {result.dataset.name} "
            f"(fingerprint {result.dataset.fingerprint[:12]}); use a new --run-id"
        )
    replaced: list[str] = []  # sections recomputed with a content different from the stored one
    recomputed = False
    kept: list[str] = []
    for stage, name in _SECTIONS.items():
        new, old = getattr(result, name), getattr(previous, name)
        if stage in result.run.stages_run:
            recomputed = True
            if old is not None and new is not None and _section_key(name, old) != _section_key(name, new):
                replaced.append(name)
            continue
        if old is None:
            continue
        stale = next((up for up in replaced if _depends_on(name, up, previous)), None)
        if stale is not None:
            replaced.append(name)
            warn(result, "run", f"the stored {name} section was dropped: it was computed from the "
                 f"{stale} section this command replaced; rerun `faceaudit {stage}`")
            continue
        setattr(result, name, old)
        kept.append(name)
    if not ran_gate and previous.gate is not None:
        if recomputed:
            warn(result, "gate", "the stored release verdict was dropped: it judged the sections this "
                 "command recomputed; run `faceaudit gate` again", kind=VERDICT_DROPPED)
        else:
            result.gate = previous.gate
            kept.append("gate")
    if not kept:
        return
    stage_of = {section: stage for stage, section in _SECTIONS.items()} | {"gate": "gate"}
    result.warnings[:0] = [w for w in previous.warnings if w.stage in {stage_of[k] for k in kept}]
    earlier = [s for s in previous.run.stages_run if s in {stage_of[k] for k in kept}]
    result.run.stages_run = sorted({*earlier, *result.run.stages_run}, key=STAGES.index)
    result.run.timings_s = {k: v for k, v in previous.run.timings_s.items() if k in earlier}
    now = config_sha256(result.run.config)
    if previous.provenance.config_sha256 != now:
        warn(result, "run", f"section(s) {', '.join(kept)} were computed by an earlier command with "
             f"configuration {previous.provenance.config_sha256[:12]}; this command's configuration is "
             f"{now[:12]}")


def warn(result: AuditResult, stage: str, message: str, **detail: Any) -> None:
    """Record a warning in the result and log it."""
    log.warning("%s: %s", stage, message)
    result.warnings.append(Warning_(stage=stage, message=message, detail=detail))


# --- stages ----------------------------------------------------------------
# Stage modules pull in torch and transformers; importing them inside the
# stage functions keeps `faceaudit --help` fast.


def _stage_dataset(ctx: StageContext) -> None:
    from faceaudit.data.loaders import load_dataset
    from faceaudit.data.mcq import build_mcq_items

    cfg = ctx.config.dataset
    if cfg.kind == "facexbench":
        _stage_facexbench(ctx)
        return
    dataset = load_dataset(cfg, progress=ctx.progress, render_dir=ctx.store.stage_dir("data"))
    ctx.dataset = dataset
    ctx.image_root = dataset.root
    ctx.sensitive_attributes = list(dataset.sensitive_attributes)
    ctx.ordinal = dict(dataset.ordinal)
    summary = dataset.summary()
    ctx.result.dataset = summary
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
            atomic_write_bytes(out, read_regular_bytes(source))
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
        if section.n_requested and section.n_failed == section.n_requested:
            raise StageError(
                f"corpus: every one of the {section.n_requested} request(s) failed after all retries "
                f"({section.backend} at {section.endpoint_host or 'this machine'}); nothing was generated"
            )
        if section.n_failed:
            warn(
                ctx.result,
                "corpus",
                f"{section.n_failed} pair(s) failed after all retries; rerun with the same "
                "--run-id to retry them",
            )
    ctx.result.corpus = section
    ctx.corpus_path = out


def _stage_scan(ctx: StageContext) -> None:
    from faceaudit.scan.stage import scan_run_corpus

    if not (ctx.config.scan.attributes or ctx.sensitive_attributes):
        warn(ctx.result, "scan", "the dataset declares no sensitive attributes, so the corpus scan "
             "has no groups to compare; set scan.attributes to run it")
        return
    section = scan_run_corpus(
        ctx.corpus_path,
        ctx.config.scan,
        records=ctx.dataset.records if ctx.dataset is not None else None,
        attributes=ctx.sensitive_attributes,
        out_dir=ctx.store.stage_dir("scan"),
        seed=ctx.config.seed,
        corpus_sha256=ctx.result.provenance.corpus_sha256,
    )
    review = section.review
    if review is not None:
        # Relative to the run directory, like every artefact: the same audit wherever it ran.
        for name in ("queue_csv", "queue_html"):
            path = getattr(review, name)
            if path is not None:
                setattr(review, name, Path(path).relative_to(ctx.store.dir).as_posix())
    ctx.result.corpus_scan = section


def _stage_train(ctx: StageContext) -> None:
    from faceaudit.tracking import training_environment
    from faceaudit.train import train_lora
    from faceaudit.train.recipe import resolve_recipe
    from faceaudit.train.trainer import prepare_base_model

    cfg = ctx.config.train
    recipe = resolve_recipe(cfg.recipe, overrides=cfg.overrides, base_model=cfg.base_model)
    # `tiny` is built from a config (random weights) into the run directory and then
    # loaded through from_pretrained like any real checkpoint.
    base_model = prepare_base_model(recipe, ctx.store.stage_dir("models"))
    out_dir = ctx.store.stage_dir("models") / "lora"
    with training_environment(cfg.report_to, ctx.config.tracking, Path(ctx.config.output_dir), ctx.store.run_id):
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
            report_to=cfg.report_to,
        )
    ctx.result.training = section
    ctx.base_model = str(base_model)
    ctx.adapter_dir = Path(section.adapter_path) if section.adapter_path else None


def _stage_evaluate(ctx: StageContext) -> None:
    from faceaudit.evaluate.stage import run_evaluation

    cfg = ctx.config.evaluate
    model_dir = _evaluated_model(ctx)
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
        shard=ctx.shard,
    )
    ctx.result.evaluation = section


def _evaluated_model(ctx: StageContext) -> Path | None:
    """The base model this run trained, or the one a run that trained earlier stored (then
    `faceaudit evaluate` evaluates that run's model); sets ``ctx.adapter_dir`` with it."""
    stored = ctx.previous.training if ctx.previous is not None else None
    if ctx.base_model is None and stored is not None and stored.adapter_path:
        ctx.base_model, ctx.adapter_dir = stored.base_model, Path(stored.adapter_path)
    return Path(ctx.base_model) if ctx.base_model else None


def _run_share(store: RunStore, config: AuditConfig, shard: Shard, *, only: set[str] | None) -> RunOutcome:
    """A process other than rank 0 of a data-parallel run: answer this process's share of the
    evaluation and perturbation, write nothing else. Rank 0 (:func:`_run_locked`) holds the run
    directory, merges the shares and writes config.yaml, audit.json, junit.xml and the report;
    this function meets it at the same barriers (after the data set, inside each shared stage).
    """
    from faceaudit.evaluate.stage import answer_evaluation
    from faceaudit.perturb.run import robustness_stage

    audit_path = store.path("audit.json")
    previous = AuditResult.load(audit_path) if only is not None and audit_path.is_file() else None
    run = RunSection(run_id=store.run_id, started_at=utc_now(), faceaudit_version=__version__,
                     python_version=sys.version.split()[0], platform=platform.platform(), seed=config.seed,
                     config=config.model_dump(mode="json"))
    scratch = AuditResult(run=run, provenance=ProvenanceSection(config_sha256=""))
    ctx = StageContext(config, store, scratch, False, _Timer(), previous=previous, shard=shard)
    outcome = RunOutcome(result=scratch, run_dir=store.dir, audit_path=audit_path, wrote=False)
    _shared_dataset(ctx)
    if not (config.evaluate.enabled and (only is None or "evaluate" in only)):
        return outcome
    answered = answer_evaluation(
        ctx.eval_items, ctx.image_root, config.evaluate, store.stage_dir("evaluate"),
        sensitive_attributes=ctx.sensitive_attributes, model_dir=_evaluated_model(ctx), adapter=ctx.adapter_dir,
        seed=config.seed, shard=shard, progress=False,
    )
    if config.perturb.enabled and (only is None or "perturb" in only):
        robustness_stage(ctx, mode=answered.mode)
    return outcome


def _shared_dataset(ctx: StageContext) -> None:
    """The dataset stage in a data-parallel run: rank 0 prepares it (renders a synthetic set), then
    the others read what it prepared, never writing; in one process, just the dataset stage."""
    with ctx.shard.main_first():
        _stage_dataset(ctx)


def _stage_baseline(ctx: StageContext) -> None:
    """Evaluate the baseline model on this run's items, store its audit, compare, paired."""
    from faceaudit.compare import compare_audits, render_comparison_html, to_markdown
    from faceaudit.evaluate.stage import run_evaluation

    cfg = ctx.config.baseline
    evaluate_cfg = cfg.evaluate_config(ctx.config.evaluate)
    out = ctx.store.stage_dir("baseline")
    section = run_evaluation(
        ctx.eval_items, ctx.image_root, evaluate_cfg, out / "evaluate",
        sensitive_attributes=ctx.sensitive_attributes, ordinal=ctx.ordinal,
        model_dir=Path(ctx.base_model) if ctx.base_model else None,
        adapter=ctx.adapter_dir if cfg.use_adapter else None,
        seed=ctx.config.seed, progress=ctx.progress,
    )
    baseline = AuditResult(run=ctx.result.run.model_copy(update={"stages_run": ["dataset", "evaluate"]}),
                           provenance=ProvenanceSection(config_sha256=ctx.result.provenance.config_sha256),
                           dataset=ctx.result.dataset, evaluation=section)
    baseline.provenance = derive_provenance(baseline)
    baseline.save(out / "audit.json")
    ctx.baseline = baseline
    comparison = compare_audits(baseline, ctx.result, a_name="baseline/audit.json", b_name="audit.json",
                                confidence=section.confidence)
    ctx.result.comparison = comparison
    atomic_write_text(ctx.store.path("comparison.md"), to_markdown(comparison))
    atomic_write_text(ctx.store.path("comparison.json"), comparison.model_dump_json(indent=2) + "\n")
    render_comparison_html(comparison, ctx.store.path("comparison.html"))
    worse = [f"{g.task}: {g.group}" for g in comparison.changes if g.direction == "worse"]
    if worse:
        warn(ctx.result, "baseline", f"worse than the baseline {section.model}: {'; '.join(worse)}")


def _stage_contamination(ctx: StageContext) -> None:
    from faceaudit.contamination.stage import check_contamination

    cfg = ctx.config.contamination
    if cfg.corpus is not None:
        corpus = Path(cfg.corpus)
        if not corpus.is_file():
            raise InputError(f"contamination.corpus {corpus} does not exist")
        corpus_root = Path(cfg.media_dir) if cfg.media_dir else corpus.parent
        name, digest = cfg.corpus, sha256_file(corpus)
        training = ctx.result.training
        # A named corpus is the one this run trained on only when its bytes are (e.g. the
        # FairFaceGPT file handed to both `train --corpus` and contamination.corpus).
        trained = training is not None and training.corpus_sha256 == digest
    else:
        corpus, corpus_root = ctx.corpus_path, ctx.image_root
        # Relative to the run directory and hashed by content, like the corpus section itself.
        name = corpus.relative_to(ctx.store.dir).as_posix()
        digest = ctx.result.corpus.corpus_sha256 if ctx.result.corpus is not None else None
        trained = ctx.result.training is not None
    section = check_contamination(
        ctx.eval_items, ctx.image_root, corpus, corpus_root, cfg,
        sensitive_attributes=ctx.sensitive_attributes, evaluation=ctx.result.evaluation,
        trained_on_corpus=trained,
        corpus_name=name, corpus_sha256=digest,
    )
    ctx.result.contamination = section
    if section.n_contaminated_images:
        warn(ctx.result, "contamination", f"{section.n_contaminated_images} of {section.n_eval_images} evaluation "
             f"images are in the training corpus ({section.n_exact_file} same file, {section.n_exact_pixels} same "
             f"pixels, {section.n_near} near duplicates); accuracy on them is not a test of generalisation")


def _stage_sensitivity(ctx: StageContext) -> None:
    from faceaudit.models import make_model
    from faceaudit.sensitivity.stage import analyse, ask_variants

    cfg = ctx.config.evaluate
    if cfg.backend == "predictions":
        warn(ctx.result, "sensitivity", "prompt sensitivity not tested: a predictions file answers only the "
             "items it was made for, not their paraphrases")
        return
    model_dir = Path(ctx.base_model) if ctx.base_model else None
    model = make_model(cfg, model_dir=model_dir, adapter=ctx.adapter_dir, seed=ctx.config.seed)
    try:
        frame, mode = ask_variants(ctx.eval_items, ctx.image_root, model, ctx.config.sensitivity, cfg.mode,
                                   ctx.store.stage_dir("sensitivity"), seed=ctx.config.seed,
                                   batch_size=cfg.batch_size, progress=ctx.progress)
    finally:
        close = getattr(model, "close", None)
        if close is not None:
            close()
    section = analyse(frame, model=model.name, mode=mode, cfg=ctx.config.sensitivity,
                      sensitive_attributes=ctx.sensitive_attributes)
    ctx.result.sensitivity = section
    if section.flagged:
        warn(ctx.result, "sensitivity", f"answers flip with the wording or option order more often for "
             f"{', '.join(section.flagged)} than for the rest")


def _stage_perturb(ctx: StageContext) -> None:
    from faceaudit.perturb.run import robustness_stage

    if ctx.result.evaluation is None:
        warn(ctx.result, "perturb", "robustness not tested: the evaluation stage did not run in this run")
        return
    ctx.result.robustness = robustness_stage(ctx)


def _stage_gate(ctx: StageContext) -> Path:
    from faceaudit.gate import PolicyError, evaluate_gate, load_policy, write_junit

    cfg = ctx.config.gate
    try:
        policy = load_policy(cfg.policy)
    except PolicyError as error:
        raise InputError(f"gate.policy: {error}") from None
    baseline = AuditResult.load(cfg.baseline) if cfg.baseline else ctx.baseline
    gate = evaluate_gate(ctx.result, policy, baseline=baseline, insufficient_blocks=cfg.insufficient_blocks)
    ctx.result.gate = gate
    return write_junit(gate, ctx.store.path("junit.xml"))


def _stage_report(ctx: StageContext, audit_path: Path) -> Path:
    from faceaudit.report import render_report

    # The report is rendered from the file, never from in-memory state, so
    # what it shows is exactly what audit.json says.
    stored = AuditResult.load(audit_path)
    return render_report(stored, ctx.store.path("report.html"), show_faces=ctx.config.report.show_faces)


def stored_baseline(run_dir: Path, config: dict[str, Any], *, gate_file: bool = True) -> AuditResult | None:
    """The baseline audit a run's gate judges against: ``gate.baseline`` (with ``gate_file``),
    else the in-run baseline's audit (``baseline.enabled``) stored in the run directory."""
    from faceaudit.perturb.run import stored_in_run_baseline

    named = (config.get("gate") or {}).get("baseline") if gate_file else None
    if named:
        return AuditResult.load(named)
    return stored_in_run_baseline(run_dir, bool((config.get("baseline") or {}).get("enabled")))


def perturb_existing_run(run_dir: str | Path, overrides: list[str] | None = None, *, progress: bool = True) -> Path:
    """Add the ``robustness`` section to the finished run in ``run_dir`` (``faceaudit perturb``);
    refreshes a stored verdict and report. Returns the path of its audit.json."""
    from faceaudit.config import load_config
    from faceaudit.perturb.run import BASELINE_AUDIT, robustness_stage

    run_dir = Path(run_dir)
    audit_path = run_dir / "audit.json"
    config_path = run_dir / "config.yaml"
    if not (audit_path.is_file() and config_path.is_file()):
        raise FileNotFoundError(f"{run_dir} is not a run directory (needs audit.json and config.yaml)")
    config = load_config(config_path, overrides)
    store = RunStore(run_dir)
    shard = current_shard()  # under accelerate launch every process perturbs its share of the images
    if shard.active and config.baseline.enabled and (run_dir / BASELINE_AUDIT).is_file():
        raise InputError(
            f"{run_dir} has an in-run baseline ({BASELINE_AUDIT}), which the robustness stage perturbs "
            "too, and that part does not run data-parallel: run `faceaudit perturb` in one process, or "
            "--set baseline.enabled=false")
    # Rank 0 (or the one process) holds the run directory; the other ranks write only their
    # own shard files, which rank 0 merges.
    with store.lock(sweep=not shard.active) if shard.is_main else nullcontext():
        stored = AuditResult.load(audit_path)
        if stored.evaluation is None:
            raise ValueError(f"{audit_path} has no evaluation section: run `faceaudit evaluate` on this run first")
        # The dataset stage rebuilds the evaluation items (a synthetic render is cached); it
        # writes into a scratch result, the stored audit keeps its own dataset section.
        scratch = AuditResult(run=stored.run, provenance=stored.provenance.model_copy())
        timer = _Timer()
        ctx = StageContext(config, store, scratch, progress and shard.is_main, timer, shard=shard)
        _shared_dataset(ctx)
        ctx.result = stored
        started = time.perf_counter()
        section = robustness_stage(ctx)
        if section is None:  # not rank 0: its answers are merged, rank 0 writes the audit
            return audit_path
        stored.robustness = section
        stored.run.timings_s["perturb"] = round(time.perf_counter() - started, 3)
        if "perturb" not in stored.run.stages_run:
            stored.run.stages_run.append("perturb")
        if stored.gate is not None:
            from faceaudit.gate import evaluate_gate, load_policy, write_junit

            policy = load_policy(config.gate.policy)
            # Judged against the same baseline the run's gate used: gate.baseline, else the
            # in-run baseline (just re-saved with its own robustness section).
            baseline = stored_baseline(run_dir, config.model_dump(mode="json"))
            stored.gate = evaluate_gate(stored, policy, baseline=baseline,
                                        insufficient_blocks=config.gate.insufficient_blocks)
            write_junit(stored.gate, run_dir / "junit.xml")
        stored.save(audit_path)
        if (run_dir / "report.html").is_file():
            from faceaudit.report import render_report

            render_report(AuditResult.load(audit_path), run_dir / "report.html",
                          show_faces=config.report.show_faces)
    return audit_path
