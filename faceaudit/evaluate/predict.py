"""The prediction loop: batched answers to multiple-choice items, appended as they come.

Each answered item becomes one JSONL record (``PREDICTION_COLUMNS`` plus one field per
sensitive attribute), appended through :class:`faceaudit.store.JsonlWriter`: after a crash
a rerun skips what is on disk and answers the rest, with nothing lost or duplicated. A
small ``.meta.json`` next to the file records which model and mode wrote it, so a resume
never mixes the answers of two models or two modes in one file.

The backend's ``prepare`` (image decoding, preprocessing, tokenization) runs in a
background thread ``prefetch`` batches ahead, so the model never waits for the CPU work
of the next batch (PIL and the tokenizers release the GIL for the heavy parts).
"""

from __future__ import annotations

import functools
import json
import math
import sys
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, Literal, TypeVar

import pandas as pd
from tqdm.auto import tqdm

from faceaudit.data.records import OPTION_LETTERS, McqItem
from faceaudit.errors import StageError, StaleResultsError
from faceaudit.evaluate.distributed import Shard, complete_records, remove_shard_files, shard_files
from faceaudit.evaluate.parse import parse_answer
from faceaudit.models.base import FaceModel, prepare_batch
from faceaudit.store import JsonlWriter, atomic_write_json, read_jsonl, sha256_json

T = TypeVar("T")

Mode = Literal["scoring", "generation"]

PREDICTION_COLUMNS = (
    "item_id",
    "image_id",
    "task",
    "category",
    "answer",
    "predicted",
    "answer_text",
    "predicted_text",
    "valid",
    "correct",
    "option_probs",
    "options",
    "raw_output",
)


def softmax(logprobs: Sequence[float]) -> list[float]:
    """Normalise option scores to a distribution over the options (log-sum-exp safe)."""
    values = [float(x) for x in logprobs]
    if any(math.isnan(x) or x == math.inf for x in values):
        raise ValueError(f"option scores must be finite log-probabilities or -inf, got {values}")
    finite = [x for x in values if x != -math.inf]
    if not finite:
        raise ValueError(f"every option scored -inf: {values}")
    top = max(finite)
    weights = [math.exp(x - top) for x in values]
    total = sum(weights)
    return [w / total for w in weights]


def sensitive_columns(items: Sequence[McqItem], sensitive_attributes: Sequence[str] | None) -> list[str]:
    """The group columns of the prediction table: the given ones, else every item's groups."""
    if sensitive_attributes is None:
        names: dict[str, None] = {}
        for item in items:
            names.update(dict.fromkeys(item.groups))
        columns = list(names)
    else:
        columns = list(sensitive_attributes)
        for item in items:
            missing = [name for name in columns if name not in item.groups]
            if missing:
                raise ValueError(
                    f"item {item.item_id!r} has no label for sensitive attribute(s) {missing} "
                    f"(its groups: {sorted(item.groups)})"
                )
    clash = sorted(set(columns) & set(PREDICTION_COLUMNS))
    if clash:
        raise ValueError(f"sensitive attribute name(s) {clash} collide with prediction columns")
    return columns


def make_record(
    item: McqItem,
    *,
    predicted: str | None,
    option_probs: list[float] | None,
    raw_output: str,
    group_columns: Sequence[str],
) -> dict[str, Any]:
    letters = OPTION_LETTERS[: len(item.options)]
    if predicted is not None and predicted not in letters:
        raise ValueError(f"item {item.item_id!r}: predicted {predicted!r} is not one of {letters}")
    record: dict[str, Any] = {
        "item_id": item.item_id,
        "image_id": item.image_ids[0],
        "task": item.task,
        "category": item.category,
        "answer": item.answer,
        "predicted": predicted,
        "answer_text": item.answer_text,
        "predicted_text": item.options[letters.index(predicted)] if predicted is not None else None,
        "valid": predicted is not None,
        "correct": predicted == item.answer,
        "option_probs": option_probs,
        "options": list(item.options),
        "raw_output": raw_output,
    }
    for name in group_columns:
        record[name] = item.groups.get(name)
    return record


def answer_batch(
    model: FaceModel, batch: list[McqItem], prepared: Any, *, mode: Mode, max_new_tokens: int
) -> list[tuple[str | None, list[float] | None, str]]:
    """(predicted letter, option probabilities, raw output) for each item of ``batch``."""
    if mode == "scoring":
        scores = model.score_options(batch, prepared)
        if len(scores) != len(batch):
            raise ValueError(f"{model.name}: {len(scores)} score rows for a batch of {len(batch)}")
        results = []
        for item, row in zip(batch, scores, strict=True):
            if len(row) != len(item.options):
                raise ValueError(
                    f"{model.name}: item {item.item_id!r}: {len(row)} scores for {len(item.options)} options"
                )
            probs = softmax(row)
            best = max(range(len(probs)), key=probs.__getitem__)
            results.append((OPTION_LETTERS[best], probs, ""))
        return results
    if mode == "generation":
        texts = model.generate(batch, prepared, max_new_tokens)
        if len(texts) != len(batch):
            raise ValueError(f"{model.name}: {len(texts)} answers for a batch of {len(batch)}")
        return [(parse_answer(text, item.options), None, text) for item, text in zip(batch, texts, strict=True)]
    raise ValueError(f"mode must be 'scoring' or 'generation', got {mode!r}")


def in_order_ahead(
    executor: Executor, fn: Callable[[Any], Any], jobs: Iterable[tuple[T, Any]], ahead: int
) -> Iterator[tuple[T, Any]]:
    """``(tag, fn(job))`` for each ``(tag, job)``, in submission order, with at most ``ahead``
    results computed ahead of the consumer (bounded memory); unconsumed work is cancelled."""
    pending: deque[tuple[T, Future[Any]]] = deque()
    try:
        for tag, job in jobs:
            pending.append((tag, executor.submit(fn, job)))
            if len(pending) > ahead:
                ready, future = pending.popleft()
                yield ready, future.result()
        while pending:
            ready, future = pending.popleft()
            yield ready, future.result()
    finally:
        for _, future in pending:
            future.cancel()


def _prefetched(
    model: FaceModel, batches: list[list[McqItem]], image_root: Path, prefetch: int
) -> Iterator[tuple[list[McqItem], Any]]:
    if prefetch <= 0:
        for batch in batches:
            yield batch, prepare_batch(model, batch, image_root)
        return
    # One worker keeps batch order simple; ``prefetch`` bounds the memory held ahead.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="faceaudit-prepare") as pool:
        yield from in_order_ahead(pool, lambda batch: prepare_batch(model, batch, image_root),
                                  ((batch, batch) for batch in batches), prefetch)


def group_by_image(items: Sequence[McqItem]) -> list[McqItem]:
    """Items reordered so that the questions on one image are adjacent (first appearance order).

    A batch then holds few distinct images, and a backend that shares one vision pass among
    an image's questions (hf) runs its vision tower far less. Records are keyed by item id
    and the returned table follows the input order, so the order of answering changes nothing.
    """
    groups: dict[tuple[str, ...], list[McqItem]] = {}
    for item in items:
        groups.setdefault(tuple(item.image_paths), []).append(item)
    return [item for group in groups.values() for item in group]


def item_sha256(item: McqItem) -> str:
    """Hash of everything about an item that determines its answer (question, options, images, groups)."""
    return sha256_json(item.model_dump(mode="json"))


def check_resume_meta(out_jsonl: Path, meta: dict[str, Any], items: dict[str, str]) -> None:
    """Refuse to resume from answers made by another model, mode or to other questions.

    Shared by every stage that stores answers to resume from (evaluation, perturbation).
    ``meta`` names the model (with its content hash) and the mode; ``items`` maps each
    item id to :func:`item_sha256`. A stored answer is reused only when all of them match.
    """
    meta_path = out_jsonl.with_name(out_jsonl.name + ".meta.json")
    if meta_path.exists():
        previous = json.loads(meta_path.read_text(encoding="utf-8"))
        changed = [
            f"{key}: {previous.get(key)!r} then, {value!r} now"
            for key, value in meta.items() if previous.get(key) != value
        ]
        stored_items = previous.get("items", {})
        edited = sorted(k for k, digest in items.items() if k in stored_items and stored_items[k] != digest)
        if edited:
            changed.append(f"{len(edited)} item(s) changed since they were answered, e.g. {edited[:3]}")
        if changed:
            raise StaleResultsError(
                f"{out_jsonl} holds answers that this run must not reuse, because "
                + "; ".join(changed)
                + ". Use a new --run-id, or delete the file to answer again"
            )
        items = {**stored_items, **items}
    elif out_jsonl.exists() and out_jsonl.stat().st_size > 0:
        raise StaleResultsError(
            f"{out_jsonl} exists without {meta_path.name}: cannot tell which model wrote it; "
            "choose another predictions file or delete it"
        )
    atomic_write_json(meta_path, {**meta, "items": items})


def predict(
    items: Sequence[McqItem],
    image_root: str | Path,
    model: FaceModel,
    *,
    mode: Mode,
    out_jsonl: str | Path,
    batch_size: int = 8,
    max_new_tokens: int = 16,
    prefetch: int = 2,
    sensitive_attributes: Sequence[str] | None = None,
    progress: bool = True,
    shard: Shard | None = None,
) -> pd.DataFrame:
    """Answer every item (resuming from ``out_jsonl``) and return one row per item, in order.

    Columns: ``PREDICTION_COLUMNS`` then one per sensitive attribute. In scoring mode
    ``predicted`` is the most probable option and ``option_probs`` the distribution over
    the options; in generation mode ``predicted`` is the parsed letter (None when the
    answer cannot be read: invalid, and counted wrong).

    With an active ``shard`` (one of several processes under ``accelerate launch``) this
    process answers only its share of the images; see :func:`_predict_shard`.
    """
    if mode not in ("scoring", "generation"):
        raise ValueError(f"mode must be 'scoring' or 'generation', got {mode!r}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    items = list(items)
    seen: set[str] = set()
    for item in items:
        if item.item_id in seen:
            raise ValueError(f"item_id {item.item_id!r} occurs twice; item ids must be unique")
        seen.add(item.item_id)
    group_columns = sensitive_columns(items, sensitive_attributes)
    validate = getattr(model, "validate_items", None)
    if validate is not None:
        validate(items)

    out_jsonl = Path(out_jsonl)
    out_jsonl.parent.mkdir(parents=True, exist_ok=True)
    identity = getattr(model, "identity", None)
    meta = {"model": model.name, "model_sha256": identity.sha256 if identity else None,
            "model_revision": identity.revision if identity else None, "mode": mode}
    digests = {item.item_id: item_sha256(item) for item in items}
    answer = functools.partial(
        _answer_into, model=model, image_root=Path(image_root), mode=mode, batch_size=batch_size,
        max_new_tokens=max_new_tokens, prefetch=prefetch, group_columns=group_columns,
    )
    if shard is not None and shard.active:
        return _predict_shard(items, out_jsonl, meta, digests, shard, answer, group_columns,
                              batch_size=batch_size, progress=progress)
    check_resume_meta(out_jsonl, meta, digests)
    if shard_files(out_jsonl):  # a data-parallel launch stopped before merging: its answers count
        _merge_shards(items, out_jsonl, meta, digests, batch_size=batch_size, complete=False)
    # Every record is flushed (a killed process loses nothing); fsync once per batch keeps
    # a fast GPU from waiting on the disk for every single item.
    with JsonlWriter(out_jsonl, key_field="item_id", fsync_every=batch_size) as writer:
        answer(writer, [item for item in items if item.item_id not in writer], total=len(items), progress=progress)
        by_id = {record["item_id"]: record for record in writer.records()}
    return predictions_frame([by_id[item.item_id] for item in items], group_columns)


def _answer_into(
    writer: JsonlWriter,
    todo: list[McqItem],
    *,
    total: int,
    progress: bool,
    model: FaceModel,
    image_root: Path,
    mode: Mode,
    batch_size: int,
    max_new_tokens: int,
    prefetch: int,
    group_columns: Sequence[str],
) -> None:
    """Answer ``todo`` (the questions of an image adjacent) and append each record to ``writer``."""
    todo = group_by_image(todo)
    batches = [todo[i : i + batch_size] for i in range(0, len(todo), batch_size)]
    with tqdm(
        total=total,
        initial=total - len(todo),
        desc=f"predict ({mode})",
        unit="item",
        disable=not progress,
        file=sys.stderr,
    ) as bar:
        for batch, prepared in _prefetched(model, batches, image_root, prefetch):
            answers = answer_batch(model, batch, prepared, mode=mode, max_new_tokens=max_new_tokens)
            for item, (predicted, probs, raw) in zip(batch, answers, strict=True):
                writer.append(
                    make_record(
                        item,
                        predicted=predicted,
                        option_probs=probs,
                        raw_output=raw,
                        group_columns=group_columns,
                    )
                )
            bar.update(len(batch))


def _image_key(item: McqItem) -> str:
    return "\x00".join(item.image_paths)


def _predict_shard(
    items: list[McqItem],
    out_jsonl: Path,
    meta: dict[str, Any],
    digests: dict[str, str],
    shard: Shard,
    answer: Callable[..., None],
    group_columns: Sequence[str],
    *,
    batch_size: int,
    progress: bool,
) -> pd.DataFrame:
    """:func:`predict` as one of ``shard.world_size`` processes (see :mod:`faceaudit.evaluate.distributed`).

    Every rank answers the questions on its images into its shard file; rank 0 then merges the
    shard files into ``out_jsonl`` in the order one process writes it and returns the whole
    table, the other ranks return the rows of their shard. All ranks return only once the
    merged file is complete, so any of them may read it afterwards.
    """
    mine_keys = set(shard.select(_image_key(item) for item in items))
    if shard.is_main:
        check_resume_meta(out_jsonl, meta, digests)  # a file of another model is refused before any work
    merged = {record["item_id"]: record for record in complete_records(out_jsonl)}
    mine = [item for item in items if _image_key(item) in mine_keys]
    part = shard.path(out_jsonl)
    check_resume_meta(part, meta, {item.item_id: digests[item.item_id] for item in mine})
    with JsonlWriter(part, key_field="item_id", fsync_every=batch_size) as writer:
        todo = [item for item in mine if item.item_id not in writer and item.item_id not in merged]
        answer(writer, todo, total=len(mine), progress=progress and shard.is_main)
        by_id = {**merged, **{record["item_id"]: record for record in writer.records()}}
    shard.barrier()  # every shard file is complete
    if shard.is_main:
        by_id = _merge_shards(items, out_jsonl, meta, digests, batch_size=batch_size)
    shard.barrier()  # the merged file is complete
    rows = items if shard.is_main else mine
    return predictions_frame([by_id[item.item_id] for item in rows], group_columns)


def _merge_shards(
    items: list[McqItem], out_jsonl: Path, meta: dict[str, Any], digests: dict[str, str], *, batch_size: int,
    complete: bool = True,
) -> dict[str, dict[str, Any]]:
    """Append every shard's answers to ``out_jsonl`` in single-process order, then delete the shard
    files; with ``complete`` (rank 0 after the others finished) every item must have an answer.
    A shard file written by another model or to other questions is refused."""
    parts = shard_files(out_jsonl)
    answers: dict[str, dict[str, Any]] = {}
    for part in parts:
        check_resume_meta(part, meta, digests)
        for record in complete_records(part):
            answers.setdefault(record["item_id"], record)
    with JsonlWriter(out_jsonl, key_field="item_id", fsync_every=batch_size) as writer:
        for item in group_by_image(items):
            if item.item_id in answers:
                writer.append(answers[item.item_id])  # no-op for an answer already merged
            elif complete and item.item_id not in writer:
                raise StageError(f"no process answered item {item.item_id!r}; rerun with the same --run-id")
        by_id = {record["item_id"]: record for record in writer.records()}
    remove_shard_files(parts)
    return by_id


def predictions_frame(records: Sequence[dict[str, Any]], group_columns: Sequence[str]) -> pd.DataFrame:
    """The prediction table with its columns in contract order and stable dtypes."""
    columns = [*PREDICTION_COLUMNS, *group_columns]
    frame = pd.DataFrame.from_records(list(records), columns=columns)
    frame["valid"] = frame["valid"].astype(bool)
    frame["correct"] = frame["correct"].astype(bool)
    # None, not NaN, marks "no answer" in the object columns.
    for name in ("predicted", "predicted_text", "option_probs"):
        frame[name] = frame[name].astype(object).where(frame[name].notna(), None)
    return frame


def load_predictions(path: str | Path, group_columns: Sequence[str] | None = None) -> pd.DataFrame:
    """Read a predictions JSONL written by :func:`predict` back into the prediction table."""
    records = list(read_jsonl(path))
    if group_columns is None:
        extra: dict[str, None] = {}
        for record in records:
            extra.update(dict.fromkeys(k for k in record if k not in PREDICTION_COLUMNS))
        group_columns = list(extra)
    return predictions_frame(records, group_columns)
