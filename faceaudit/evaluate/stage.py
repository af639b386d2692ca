"""The evaluation stage: predict every item, then the stratified metrics with intervals.

``run_evaluation`` is what ``faceaudit run`` and ``faceaudit evaluate`` call. It builds the
configured backend, answers the items (resumably, into ``<out_dir>/predictions-<mode>.jsonl``
unless the config names another file), and turns the prediction table into the
``evaluation`` section of ``audit.json``. When scoring mode is asked of a backend that cannot
give option probabilities (an endpoint without logprobs, a predictions file of letters), the
stage falls back to generation mode and says so in the section's method notes.

FaceXBench items (a :class:`faceaudit.data.facexbench.McqItemList`, whose ``questions``
list every question of the benchmark files) are also scored FaceXBench's own way
(:mod:`faceaudit.evaluate.facexbench`) and, with ``facexbench_protocol: official``, asked
with FaceXBench's prompt. Their demographic groups come from the questions themselves, so
the stratified analysis covers the attributes every question carries; per-group accuracy
of the questions that carry a label is in ``benchmark`` (``group:...``).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from faceaudit.data.records import McqItem
from faceaudit.errors import InputError, StageError
from faceaudit.evaluate.config import (
    DEFAULT_MAX_NEW_TOKENS,
    FACEXBENCH_MAX_NEW_TOKENS,
    EvaluateConfig,
)
from faceaudit.evaluate.distributed import Shard
from faceaudit.evaluate.facexbench import (
    facexbench_accuracy,
    official_accuracy,
    protocol_difference_note,
)
from faceaudit.evaluate.metrics import build_evaluation_section
from faceaudit.evaluate.predict import Mode, predict
from faceaudit.models import FaceModel, ScoringUnavailable, make_model
from faceaudit.schema.common import Estimate
from faceaudit.schema.evaluation import EvaluationSection
from faceaudit.schema.run import DataTransfer, ModelIdentity
from faceaudit.stats.significance import CORRECTION_NAMES
from faceaudit.store import sha256_json

log = logging.getLogger("faceaudit.evaluate")


def predictions_path(cfg: EvaluateConfig, out_dir: Path, mode: Mode) -> Path:
    """The predictions file of ``mode`` in the evaluate stage directory ``out_dir`` (<run>/evaluate).

    A configured ``predictions_out`` is relative to the run directory and may not leave it: the
    resumable writer appends to, and truncates a torn tail of, whatever file it is pointed at.
    """
    if cfg.predictions_out is None:
        return Path(out_dir) / f"predictions-{mode}.jsonl"
    run_dir = Path(out_dir).parent.resolve()
    configured = Path(cfg.predictions_out)
    inside = run_dir / configured
    if configured.is_absolute() or ".." in configured.parts or not inside.resolve().is_relative_to(run_dir):
        raise InputError(
            f"evaluate.predictions_out {cfg.predictions_out!r} must be a path inside the run directory "
            f"{run_dir} (relative, without '..', not through a link that leaves it)"
        )
    configured = inside
    # A fallback to generation must not resume from (and be refused by) the scoring file.
    return configured if mode == cfg.mode else configured.with_name(f"{configured.stem}-{mode}{configured.suffix}")


def predictions_digest(frame: pd.DataFrame) -> str:
    """Content hash of the prediction table, independent of the order rows were written in."""
    ordered = frame.sort_values("item_id", kind="stable")
    return sha256_json(json.loads(ordered.to_json(orient="records", double_precision=15)))


def predict_items(
    items: Sequence[McqItem],
    image_root: str | Path,
    model: FaceModel,
    cfg: EvaluateConfig,
    out_dir: Path,
    *,
    sensitive_attributes: Sequence[str] | None,
    progress: bool = True,
    max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS,
    shard: Shard | None = None,
) -> tuple[pd.DataFrame, Mode, list[str]]:
    """The prediction table, the mode that produced it, and notes on any fallback.

    ``max_new_tokens`` applies when ``cfg.max_new_tokens`` is not set.
    """
    mode: Mode = cfg.mode
    notes: list[str] = []

    def run(chosen: Mode) -> pd.DataFrame:
        return predict(
            items,
            image_root,
            model,
            mode=chosen,
            out_jsonl=predictions_path(cfg, out_dir, chosen),
            batch_size=cfg.batch_size,
            max_new_tokens=cfg.max_new_tokens or max_new_tokens,
            prefetch=cfg.prefetch_batches,
            sensitive_attributes=sensitive_attributes,
            progress=progress,
            shard=shard,
        )

    try:
        frame = run(mode)
    except ScoringUnavailable as error:
        if mode != "scoring":
            raise
        if shard is not None and shard.active:
            # Each process finds out on its own share: one could fall back while another scores,
            # and their answers would land in files of different modes.
            raise StageError(
                f"scoring mode is unavailable ({error}); under a data-parallel launch every process must "
                "answer in the same mode: set evaluate.mode=generation") from None
        log.warning("scoring mode unavailable (%s); answering in generation mode", error)
        notes.append(
            f"Scoring mode was asked for but {model.name} gives no option probabilities ({error}); "
            "answers were generated and parsed instead, so no calibration metrics are available."
        )
        mode = "generation"
        frame = run(mode)
    return frame, mode, notes


@dataclass
class Answered:
    """The evaluation stage's answers, before any statistics (what every rank of a data-parallel
    run computes; rank 0 alone goes on to :func:`evaluation_section`)."""

    items: Sequence[McqItem]
    frame: pd.DataFrame
    mode: Mode
    notes: list[str]
    model: str
    identity: ModelIdentity | None
    data_sent: list[DataTransfer]
    questions: Any  # FaceXBench's full question list, else None


def answer_evaluation(
    items: Sequence[McqItem],
    image_root: str | Path,
    cfg: EvaluateConfig,
    out_dir: str | Path,
    *,
    sensitive_attributes: Sequence[str],
    model_dir: Path | None = None,
    adapter: Path | None = None,
    seed: int = 0,
    progress: bool = True,
    shard: Shard | None = None,
) -> Answered:
    """Answer ``items`` with the configured model (resumably, into the stage's predictions file).

    With an active ``shard`` every rank answers its share and rank 0 merges (see
    :mod:`faceaudit.evaluate.distributed`); a rank other than 0 gets the rows of its share only.
    """
    if not items:
        raise InputError("no items to evaluate")
    # FaceXBench: every question of the files, loaded or not (its scoring's denominator).
    questions = getattr(items, "questions", None)
    if cfg.facexbench_protocol == "official":
        if questions is None:
            raise InputError("facexbench_protocol 'official' needs FaceXBench data (dataset kind facexbench)")
        items = [item.model_copy(update={"prompt_style": "facexbench"}) for item in items]
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    model = make_model(cfg, model_dir=model_dir, adapter=adapter, seed=seed)
    try:
        frame, mode, notes = predict_items(
            items, image_root, model, cfg, out_dir,
            # FaceXBench questions carry a group only where the answer is one: record every
            # group column (empty where a question has none); the others must be complete.
            sensitive_attributes=None if questions is not None else sensitive_attributes,
            progress=progress,
            max_new_tokens=FACEXBENCH_MAX_NEW_TOKENS if questions is not None else DEFAULT_MAX_NEW_TOKENS,
            shard=shard,
        )
    finally:
        close = getattr(model, "close", None)
        if close is not None:
            close()
    # What left the machine is the transport's record, read from the model that sent it.
    data_sent = model.data_sent() if hasattr(model, "data_sent") else []
    return Answered(items, frame, mode, notes, model.name, getattr(model, "identity", None), data_sent, questions)


def run_evaluation(
    items: Sequence[McqItem],
    image_root: str | Path,
    cfg: EvaluateConfig,
    out_dir: str | Path,
    *,
    sensitive_attributes: Sequence[str],
    ordinal: dict[str, list[str]] | None = None,
    model_dir: Path | None = None,
    adapter: Path | None = None,
    seed: int = 0,
    progress: bool = True,
    shard: Shard | None = None,
) -> EvaluationSection:
    """Answer ``items`` with the configured model and return the ``evaluation`` section.

    ``model_dir``/``adapter`` are the training stage's outputs; the hf backend uses them
    unless ``cfg.model``/``cfg.adapter`` name a model of their own. ``shard``: this process's
    share in a data-parallel run, whose rank 0 calls this (the others call
    :func:`answer_evaluation`).
    """
    answered = answer_evaluation(
        items, image_root, cfg, out_dir, sensitive_attributes=sensitive_attributes, model_dir=model_dir,
        adapter=adapter, seed=seed, progress=progress, shard=shard,
    )
    return evaluation_section(answered, cfg, sensitive_attributes=sensitive_attributes, ordinal=ordinal,
                              seed=seed, progress=progress)


def evaluation_section(
    answered: Answered,
    cfg: EvaluateConfig,
    *,
    sensitive_attributes: Sequence[str],
    ordinal: dict[str, list[str]] | None = None,
    seed: int = 0,
    progress: bool = True,
) -> EvaluationSection:
    """The ``evaluation`` section of audit.json from the answers: metrics, intervals, benchmark."""
    items, frame, mode, questions = answered.items, answered.frame, answered.mode, answered.questions
    notes = list(answered.notes)
    benchmark: dict[str, Estimate] | None = None
    if cfg.facexbench_report:
        benchmark = facexbench_accuracy(
            frame, confidence=cfg.confidence, items=items if questions is not None else None
        )
        if questions is not None and mode == "generation":
            official, per_question = official_accuracy(frame, questions, confidence=cfg.confidence)
            benchmark.update(official)
            notes.append(protocol_difference_note(frame, per_question, questions, items[0].prompt_style))
        elif questions is not None:
            notes.append(
                "FaceXBench's own scoring reads generated text; in scoring mode only faceaudit's "
                "accuracy is reported (run generation mode for the official numbers)."
            )
    if not sensitive_attributes:
        if questions is None:
            raise InputError("sensitive_attributes is empty: name at least one group column")
        only = _benchmark_only_section(frame, answered.model, mode, cfg, seed, benchmark, notes)
        only.model_identity, only.data_sent = answered.identity, answered.data_sent
        return only
    section = build_evaluation_section(
        frame,
        model=answered.model,
        mode=mode,
        sensitive_attributes=list(sensitive_attributes),
        ordinal=ordinal,
        intersections=cfg.intersections,
        n_boot=cfg.n_boot,
        confidence=cfg.confidence,
        reference=cfg.reference_group,
        min_group_n=cfg.min_group_n,
        correction=cfg.correction,
        seed=seed,
        extra_metrics=cfg.metrics,
        predictions_sha256=predictions_digest(frame),
        benchmark=benchmark,
        progress=progress,
    )
    section.method_notes.extend(notes)
    section.model_identity = answered.identity
    section.data_sent = answered.data_sent
    return section


def _benchmark_only_section(
    frame: pd.DataFrame,
    model: str,
    mode: Mode,
    cfg: EvaluateConfig,
    seed: int,
    benchmark: dict[str, Estimate] | None,
    notes: list[str],
) -> EvaluationSection:
    """FaceXBench questions with no group label common to all: benchmark accuracy only."""
    note = (
        "No demographic label is carried by every question, so there is no stratified "
        "analysis and no disparity test; accuracy per labelled group, over the questions "
        "that carry the label, is in benchmark (group:...)."
    )
    return EvaluationSection(
        model=model, mode=mode, n_items=len(frame), n_images=int(frame["image_id"].nunique()),
        predictions_sha256=predictions_digest(frame), sensitive_attributes=[],
        n_boot=cfg.n_boot, confidence=cfg.confidence, correction=cfg.correction,
        correction_name=CORRECTION_NAMES[cfg.correction], n_comparisons=0,
        correction_scope="no disparity hypotheses were tested", min_group_n=cfg.min_group_n,
        seed=seed, tasks=[], benchmark=benchmark, method_notes=[note, *notes],
    )
