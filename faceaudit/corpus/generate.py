"""Generate a FairFaceGPT-style corpus: one resumable JSONL record per (image, aspect).

A record is written once its answer has passed (or failed) the quality gate;
rerunning with the same output continues where a killed run stopped, because
``JsonlWriter`` drops a torn last line and skips keys it already holds.
Backend errors that outlived every retry are *not* written, so a rerun asks
again; everything else (accepted or rejected with a reason) is final.
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from tqdm import tqdm

from faceaudit.corpus.backends import (
    CorpusBackend,
    GenerationRequest,
    GenerationResult,
    make_backend,
)
from faceaudit.corpus.config import CorpusConfig
from faceaudit.corpus.labels import label_view
from faceaudit.corpus.prompts import ASPECT_IDS, PromptSet, load_prompt_set
from faceaudit.corpus.quality import check_answer, reject_code
from faceaudit.data.records import FaceRecord
from faceaudit.errors import StaleResultsError
from faceaudit.schema.corpus import AspectCounts, CorpusSection
from faceaudit.store import JsonlWriter, read_jsonl, sha256_file, sha256_json, utc_now

# The fields of one corpus record, in the order they are written (the training
# stage and the corpus scan rely on exactly these).
RECORD_FIELDS = (
    "key", "image_id", "image_path", "aspect", "question", "answer", "backend", "model",
    "prompt_sha256", "status", "reject_reason", "started_at", "finished_at", "attempts",
    "model_sha256", "input_sha256",
)  # fmt: skip


def pair_key(image_id: str, aspect: str) -> str:
    return f"{image_id}:{aspect}"


def _select(records: Iterable[FaceRecord], limit: int | None) -> list[FaceRecord]:
    chosen: list[FaceRecord] = []
    seen: set[str] = set()
    for record in records:
        if record.id in seen:
            raise ValueError(f"duplicate image id {record.id!r} in the records given to the corpus")
        seen.add(record.id)
        chosen.append(record)
        if limit is not None and len(chosen) >= limit:
            break
    return chosen


def _check_compatible(writer: JsonlWriter, backend: CorpusBackend, prompts: PromptSet,
                      inputs: dict[str, str]) -> None:
    """Refuse to resume into a file written by another generator or from other inputs.

    Mixing them would make one corpus out of two: every stored record must come from the
    same backend, model (and model content hash) and prompt set, and each pair this run
    would ask for must have been asked with the same prompt, image and settings
    (``input_sha256``).
    """
    wanted = (backend.name, backend.model, backend.model_sha256, prompts.sha256)
    for record in writer.records():
        found = (record.get("backend"), record.get("model"), record.get("model_sha256"),
                 record.get("prompt_sha256"))
        if found != wanted:
            changed = [f"{field} {old!r} -> {new!r}" for field, old, new in
                       zip(("backend", "model", "model_sha256", "prompt_sha256"), found, wanted, strict=True)
                       if old != new]
            raise StaleResultsError(
                f"{writer.path}: record {record.get('key')!r} was generated differently from this run "
                f"({'; '.join(changed)}); write to another file (a new --run-id) or delete this one"
            )
    stale = sorted(key for key, digest in inputs.items()
                   if key in writer and writer.get(key).get("input_sha256") != digest)
    if stale:
        raise StaleResultsError(
            f"{writer.path}: {len(stale)} stored pair(s) were generated from another prompt, image, "
            f"label or generation setting than this run would use (e.g. {stale[:3]}); write to another "
            "file (a new --run-id) or delete this one"
        )


def _input_digests(chosen: Sequence[FaceRecord], image_root: Path, aspects: Sequence[str],
                   prompts: PromptSet, backend: CorpusBackend) -> dict[str, str]:
    """``input_sha256`` of every pair: prompts, image bytes, model and generation settings."""
    common = sha256_json([backend.name, backend.model, backend.model_sha256,
                          sorted(backend.generation_params.items())])
    digests = {}
    for record in chosen:
        path = image_root / record.image_path
        image = sha256_file(path) if path.is_file() else None
        labels = label_view(record.attributes)
        for aspect in aspects:
            digests[pair_key(record.id, aspect)] = sha256_json(
                [common, prompts.system_prompt, prompts.user_prompt(aspect, labels), image]
            )
    return digests


def _missing_images(records: Sequence[FaceRecord], image_root: Path) -> list[str]:
    return [r.image_path for r in records if not (image_root / r.image_path).is_file()]


def generate_corpus(
    records: Iterable[FaceRecord],
    image_root: Path,
    cfg: CorpusConfig,
    out_path: Path,
    *,
    seed: int = 0,
    progress: bool = True,
    backend: CorpusBackend | None = None,
) -> CorpusSection:
    """Generate (or finish generating) the corpus of ``records`` into ``out_path`` (JSONL).

    ``backend`` overrides the one ``cfg`` describes (tests and notebooks pass a
    ready one). Returns the ``corpus`` section of ``audit.json``.
    """
    started = time.perf_counter()
    image_root = Path(image_root)
    out_path = Path(out_path)
    prompts = load_prompt_set(cfg.prompt_file)
    aspects = list(cfg.aspects or ASPECT_IDS)
    chosen = _select(records, cfg.limit)
    owned_backend = backend is None
    backend = backend if backend is not None else make_backend(cfg, seed=seed)
    try:
        if backend.name != "template":
            missing = _missing_images(chosen, image_root)
            if missing:
                raise FileNotFoundError(
                    f"{len(missing)} image(s) not found under {image_root}, e.g. {missing[:3]}"
                )
        # A paid endpoint's answers are forced to disk one by one; the template
        # backend regenerates for free, so it syncs in batches (a kill loses nothing
        # either way: every line is flushed to the OS as it is written).
        fsync_every = 1 if backend.endpoint_host else 1024
        inputs = _input_digests(chosen, image_root, aspects, prompts, backend)
        with JsonlWriter(out_path, "key", fsync_every=fsync_every) as writer:
            _check_compatible(writer, backend, prompts, inputs)
            section = _run(chosen, image_root, aspects, prompts, backend, writer, out_path,
                           started, progress, inputs)
    finally:
        if owned_backend:
            backend.close()
    return section


def _requests(
    chosen: Sequence[FaceRecord], image_root: Path, aspects: Sequence[str], prompts: PromptSet,
    writer: JsonlWriter, inputs: dict[str, str],
) -> Iterator[GenerationRequest]:
    for record in chosen:
        labels = label_view(record.attributes)
        image_path = image_root / record.image_path
        for aspect in aspects:
            key = pair_key(record.id, aspect)
            if key in writer:
                continue
            yield GenerationRequest(
                key=key,
                image_id=record.id,
                image_path=image_path,
                aspect=aspect,
                system_prompt=prompts.system_prompt,
                user_prompt=prompts.user_prompt(aspect, labels),
                labels=labels,
                input_sha256=inputs[key],
            )


def _run(
    chosen: Sequence[FaceRecord], image_root: Path, aspects: Sequence[str], prompts: PromptSet,
    backend: CorpusBackend, writer: JsonlWriter, out_path: Path, started: float, progress: bool,
    inputs: dict[str, str],
) -> CorpusSection:
    wanted = {pair_key(r.id, a) for r in chosen for a in aspects}
    n_resumed = len(wanted & writer.keys)
    paths = {r.id: r.image_path for r in chosen}
    questions = {a: prompts.question(a) for a in aspects}
    failures: list[str] = []
    generated = 0

    bar = tqdm(total=len(wanted), initial=n_resumed, unit="pair", desc=f"corpus ({backend.name})",
               disable=not progress, file=sys.stderr, dynamic_ncols=True, mininterval=0.5)

    def sink(request: GenerationRequest, result: GenerationResult) -> None:
        nonlocal generated
        if result.error is not None and result.retryable:
            failures.append(backend.redact(f"{request.key}: {result.error}"))
            bar.update(1)
            return
        if result.error is not None:
            reason: str | None = backend.redact(f"backend_error: {result.error}")
        else:
            reason = check_answer(result.text, request.labels, finish_reason=result.finish_reason)
        now = utc_now()
        writer.append({
            "key": request.key,
            "image_id": request.image_id,
            "image_path": paths[request.image_id],
            "aspect": request.aspect,
            "question": questions[request.aspect],
            "answer": backend.redact(result.text or ""),
            "backend": backend.name,
            "model": backend.model,
            "prompt_sha256": prompts.sha256,
            "status": "accepted" if reason is None else "rejected",
            "reject_reason": reason,
            "started_at": result.started_at or now,
            "finished_at": result.finished_at or now,
            "attempts": result.attempts,
            "model_sha256": backend.model_sha256,
            "input_sha256": request.input_sha256,
        })
        generated += 1
        bar.update(1)

    try:
        backend.generate(_requests(chosen, image_root, aspects, prompts, writer, inputs), sink)
    finally:
        bar.close()
    if failures:
        print(f"corpus: {len(failures)} pair(s) failed after all retries and will be retried on "
              f"the next run; first: {failures[0]}", file=sys.stderr)
    wall = time.perf_counter() - started
    return _section(writer.records(), wanted, chosen, aspects, prompts, backend, out_path,
                    n_resumed, generated, wall)


def _section(
    all_records: list[dict[str, Any]], wanted: set[str], chosen: Sequence[FaceRecord],
    aspects: Sequence[str], prompts: PromptSet, backend: CorpusBackend, out_path: Path,
    n_resumed: int, generated: int, wall: float,
) -> CorpusSection:
    mine = sorted((r for r in all_records if r["key"] in wanted), key=lambda r: r["key"])
    sent = backend.data_sent()
    reasons: Counter[str] = Counter()
    per_aspect = {a: [0, 0] for a in aspects}
    for record in mine:
        accepted = record["status"] == "accepted"
        per_aspect[record["aspect"]][0 if accepted else 1] += 1
        if not accepted:
            reasons[reject_code(record["reject_reason"]) or "unknown"] += 1
    n_accepted = sum(c[0] for c in per_aspect.values())
    n_rejected = sum(c[1] for c in per_aspect.values())
    content = [[r["key"], r["question"], r["answer"], r["status"]] for r in mine]
    return CorpusSection(
        backend=backend.name,
        model=backend.model,
        prompt_set_version=prompts.version,
        prompt_set_sha256=prompts.sha256,
        corpus_sha256=sha256_json(content),
        corpus_path=str(out_path),
        aspects=list(aspects),
        n_images=len(chosen),
        n_requested=len(wanted),
        n_accepted=n_accepted,
        n_rejected=n_rejected,
        n_failed=len(wanted) - len(mine),
        n_resumed=n_resumed,
        rejects_by_reason=dict(sorted(reasons.items())),
        per_aspect={a: AspectCounts(accepted=c[0], rejected=c[1]) for a, c in per_aspect.items()},
        endpoint_host=backend.endpoint_host,
        n_images_sent=sum(t.n_distinct_images for t in sent),
        model_sha256=backend.model_sha256,
        data_sent=sent,
        wall_time_s=round(wall, 3),
        pairs_per_second=round(generated / wall, 1) if wall > 0 else 0.0,
    )


def describe_corpus(path: str | Path) -> CorpusSection:
    """The ``corpus`` section of a corpus that was made elsewhere (imported or an earlier run).

    Nothing is generated, so nothing is sent anywhere by this run; backend,
    model and prompt hash are read from the records ("mixed" when they differ,
    "unknown" for an imported corpus whose prompts are not known).
    """
    path = Path(path)
    records = sorted(read_jsonl(path), key=lambda r: r["key"])
    if not records:
        raise ValueError(f"{path}: the corpus has no records")

    def single(field: str) -> str:
        values = {str(r.get(field)) for r in records if r.get(field) is not None}
        return values.pop() if len(values) == 1 else ("mixed" if values else "unknown")

    reasons: Counter[str] = Counter()
    per_aspect: dict[str, list[int]] = {}
    for record in records:
        counts = per_aspect.setdefault(record["aspect"], [0, 0])
        accepted = record["status"] == "accepted"
        counts[0 if accepted else 1] += 1
        if not accepted:
            reasons[reject_code(record.get("reject_reason")) or "unknown"] += 1
    # An imported conversation (sharegpt.CONVERSATION) holds its turns instead of one pair.
    content = [
        [r["key"], r["system"], r["messages"], r["status"]] if "messages" in r
        else [r["key"], r["question"], r["answer"], r["status"]]
        for r in records
    ]
    return CorpusSection(
        backend=single("backend"),
        model=single("model"),
        prompt_set_version="unknown",
        prompt_set_sha256=single("prompt_sha256"),
        corpus_sha256=sha256_json(content),
        corpus_path=str(path),
        aspects=sorted(per_aspect),
        n_images=len({i for r in records for i in r.get("image_ids", [r["image_id"]])}),
        n_requested=len(records),
        n_accepted=sum(c[0] for c in per_aspect.values()),
        n_rejected=sum(c[1] for c in per_aspect.values()),
        n_failed=0,
        n_resumed=len(records),
        rejects_by_reason=dict(sorted(reasons.items())),
        per_aspect={a: AspectCounts(accepted=c[0], rejected=c[1]) for a, c in sorted(per_aspect.items())},
        endpoint_host=None,
        n_images_sent=0,
        wall_time_s=0.0,
        pairs_per_second=0.0,
    )
