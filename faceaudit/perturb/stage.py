"""The robustness stage: perturb the evaluation images, answer again, compare with clean.

The clean pass is the evaluation stage's: its prediction table (``clean``) is read, never
recomputed. Perturbed images are never written to disk nor held all at once: the stage
walks the images in chunks of about one model batch; for each chunk and condition
(perturbation x severity) a worker decodes and perturbs the chunk's images, the main thread
feeds them to the model as one batch and keeps only per-image counts (items right, answers
changed). At most ``prefetch`` perturbed chunks exist at any time, so memory is flat in the
number of images; the counts (a few integers per image and condition) are what the paired,
image-clustered statistics of :mod:`faceaudit.perturb.analysis` need.
"""

from __future__ import annotations

import hashlib
import json
import logging
import multiprocessing
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from PIL import Image
from tqdm.auto import tqdm

from faceaudit.data.images import open_face_image
from faceaudit.data.records import McqItem
from faceaudit.errors import StageError
from faceaudit.evaluate.distributed import Shard, complete_records, remove_shard_files, shard_files
from faceaudit.evaluate.predict import (
    Mode,
    answer_batch,
    check_resume_meta,
    in_order_ahead,
    item_sha256,
)
from faceaudit.models.base import Condition, FaceModel, prepare_images, resolve_image
from faceaudit.perturb.analysis import PairedTable, analyse
from faceaudit.perturb.config import PerturbConfig
from faceaudit.perturb.geometry import TEMPLATES, FaceGeometry
from faceaudit.perturb.registry import Perturbation, get_perturbation, registered
from faceaudit.schema.robustness import PerturbationInfo, RobustnessSection
from faceaudit.store import JsonlWriter, sha256_json

log = logging.getLogger("faceaudit.perturb")

GeometryFor = Callable[[str], FaceGeometry]


def select_perturbations(cfg: PerturbConfig) -> list[Perturbation]:
    if cfg.perturbations is not None:
        return [get_perturbation(name) for name in cfg.perturbations]
    chosen = registered(cfg.families)
    missing = set(cfg.families) - {p.family for p in chosen}
    if missing:
        known = sorted({p.family for p in registered()})
        raise ValueError(f"perturb.families: no perturbation registered in {sorted(missing)} (known: {known})")
    return chosen


def _shuffled(image_ids: list[str], seed: int) -> list[str]:
    """A seeded order that does not depend on the order images were listed in."""
    return sorted(image_ids, key=lambda i: hashlib.sha256(f"{seed}\x00{i}".encode()).digest())


def _sample_images(image_ids: list[str], limit: int | None, seed: int) -> list[str]:
    if limit is None or len(image_ids) <= limit:
        return sorted(image_ids)
    return sorted(_shuffled(image_ids, seed)[:limit])


def _rotate(items: list[McqItem], k: int, rank: int) -> list[McqItem]:
    """``k`` of an image's questions in task order, starting at the image's ``rank``: over
    images taken in a seeded order, every task is asked equally often."""
    if len(items) <= k:
        return items
    ordered = sorted(items, key=lambda item: item.task)
    return [ordered[(rank * k + j) % len(ordered)] for j in range(k)]


@dataclass(frozen=True)
class _Job:
    """What a worker needs to perturb one chunk of images under one condition (picklable)."""

    paths: tuple[str, ...]
    image_ids: tuple[str, ...]
    geometries: tuple[FaceGeometry, ...]
    perturbation: str
    severity: int
    seed: int


def perturb_chunk(job: _Job) -> list[np.ndarray]:
    """Decode and perturb every image of ``job`` (runs in a worker)."""
    perturbation = get_perturbation(job.perturbation)
    out = []
    for path, image_id, geometry in zip(job.paths, job.image_ids, job.geometries, strict=True):
        pixels = np.asarray(open_face_image(path)[0])  # the pixel limit and RGB conversion of every decode
        out.append(
            perturbation.apply(pixels, job.severity, seed=job.seed, image_id=image_id, geometry=geometry)
        )
    return out


def _executor(cfg: PerturbConfig) -> Executor | None:
    if cfg.workers == 0:
        return None
    if cfg.executor == "process":
        # fork: workers inherit the registry, user-registered perturbations included.
        methods = multiprocessing.get_all_start_methods()
        context = multiprocessing.get_context("fork" if "fork" in methods else None)
        return ProcessPoolExecutor(max_workers=cfg.workers, mp_context=context)
    return ThreadPoolExecutor(max_workers=cfg.workers, thread_name_prefix="faceaudit-perturb")


def _stream(jobs: Iterator[tuple[Any, _Job]], executor: Executor | None, prefetch: int) -> Iterator[tuple[Any, list[np.ndarray]]]:
    """Jobs' results in submission order, with at most ``prefetch`` of them in flight."""
    if executor is None:
        for tag, job in jobs:
            yield tag, perturb_chunk(job)
        return
    yield from in_order_ahead(executor, perturb_chunk, jobs, prefetch)


def _chunks(image_ids: list[str], items_per_image: dict[str, int], batch_size: int) -> list[list[str]]:
    """Consecutive images whose items fill about one model batch (at least one image each)."""
    chunks: list[list[str]] = []
    current: list[str] = []
    filled = 0
    for image_id in image_ids:
        if current and filled + items_per_image[image_id] > batch_size:
            chunks.append(current)
            current, filled = [], 0
        current.append(image_id)
        filled += items_per_image[image_id]
    if current:
        chunks.append(current)
    return chunks


def geometry_resolver(choice: str, dataset_kind: str, synthetic_config: Any = None) -> tuple[GeometryFor, str]:
    """How occluders find the face, and a sentence saying so for the method notes."""
    if choice == "auto":
        choice = {"synthetic": "synthetic", "fairface": "fairface"}.get(dataset_kind, "centred")
    if choice == "synthetic":
        if synthetic_config is None:
            raise ValueError("perturb.geometry 'synthetic' needs the synthetic data set's config")
        from faceaudit.perturb.geometry import synthetic_geometries

        table = synthetic_geometries(synthetic_config)
        return (lambda image_id: table[image_id]), "synthetic renderer landmarks (exact, per face, with head roll)"
    template = TEMPLATES[choice]
    notes = {
        "fairface": "FairFace aligned-crop template (padding 0.25)",
        "fairface-1.25": "FairFace aligned-crop template (padding 1.25)",
        "centred": "a centred frontal-face template (the data set declares no face geometry)",
    }
    return (lambda image_id: template), notes[choice]


def run_robustness(
    items: Sequence[McqItem],
    image_root: str | Path,
    clean: pd.DataFrame,
    model: FaceModel,
    cfg: PerturbConfig,
    *,
    mode: Mode,
    sensitive_attributes: Sequence[str],
    geometry: GeometryFor,
    geometry_note: str,
    batch_size: int = 8,
    max_new_tokens: int = 16,
    seed: int = 0,
    progress: bool = True,
    answers_jsonl: str | Path | None = None,
    tables: list[PairedTable] | None = None,
    shard: Shard | None = None,
) -> RobustnessSection | None:
    """The ``robustness`` section for ``model`` answering ``items`` under every configured condition.

    ``clean`` is the evaluation stage's prediction table for the same items (``item_id``,
    ``predicted``, ``correct``); it is the severity-0 pass of every comparison.

    With ``answers_jsonl`` every perturbed answer is stored as it is made (one line per item
    and condition, flushed), and a rerun after a crash answers only what is missing: a chunk
    of images whose answers are all stored for a condition is not even perturbed again. Each
    answer is keyed by the perturbation, the severity's parameters and the item, so changed
    parameters are answered anew; the file's ``.meta.json`` pins the model, mode, seed and
    face geometry, and a rerun with any of them changed is refused rather than mixing old and
    new answers. (A user-registered perturbation whose code changed but whose parameters did
    not cannot be told apart: delete the file after changing such code.)

    ``tables``, when given, receives the per-image counts the section was computed from (for a
    paired comparison with another model's answers to the same perturbed images).

    With an active ``shard`` (one of several processes under ``accelerate launch``) every
    process answers the conditions on its share of the images into its own file beside
    ``answers_jsonl``; rank 0 merges them into ``answers_jsonl`` and returns the section from
    it, the other ranks return None (see :mod:`faceaudit.evaluate.distributed`).
    """
    perturbations = select_perturbations(cfg)
    notes: list[str] = []
    single = [item for item in items if len(item.image_paths) == 1]
    if len(single) < len(items):
        notes.append(f"{len(items) - len(single)} multi-image item(s) were not perturbed (one image per item only).")
    if cfg.tasks is not None:
        single = [item for item in single if item.task in set(cfg.tasks)]
    clean_by_id = clean.set_index("item_id")
    missing = [item.item_id for item in single if item.item_id not in clean_by_id.index]
    if missing:
        raise ValueError(
            f"{len(missing)} item(s) have no clean prediction from the evaluation stage (e.g. "
            f"{missing[0]!r}); run `faceaudit evaluate` on this run first"
        )
    by_image: dict[str, list[McqItem]] = {}
    for item in single:
        by_image.setdefault(item.image_ids[0], []).append(item)
    if len(by_image) < 2:
        raise ValueError("the robustness stage needs at least two single-image evaluation images")
    n_available = len(by_image)
    chosen = _sample_images(list(by_image), cfg.max_images, seed)
    if len(chosen) < n_available:
        notes.append(
            f"A seeded sample of {len(chosen)} of the {n_available} evaluation images was perturbed "
            "(perturb.max_images); clean accuracies in this section are of the same sample."
        )
    if cfg.questions_per_image is not None:
        rank = {image_id: r for r, image_id in enumerate(_shuffled(chosen, seed))}
        by_image = {i: _rotate(by_image[i], cfg.questions_per_image, rank[i]) for i in chosen}
        notes.append(
            f"{cfg.questions_per_image} question(s) per perturbed image, tasks rotating over images "
            "in a seeded order so each is asked equally often (perturb.questions_per_image); clean "
            "accuracies in this section are of the same questions."
        )
    index = {image_id: i for i, image_id in enumerate(chosen)}
    n = len(chosen)
    items_n = np.array([len(by_image[i]) for i in chosen])
    clean_correct = np.zeros(n)
    groups: dict[str, list[str]] = {a: [] for a in sensitive_attributes}
    for image_id in chosen:
        first = by_image[image_id][0]
        for attribute in sensitive_attributes:
            groups[attribute].append(str(first.groups.get(attribute)))
        clean_correct[index[image_id]] = sum(bool(clean_by_id.at[it.item_id, "correct"]) for it in by_image[image_id])
    clean_predicted = {item_id: clean_by_id.at[item_id, "predicted"] for item_id in clean_by_id.index}

    conditions = [(p, s) for p in perturbations for s in cfg.severities]
    correct = np.zeros((len(conditions), n))
    flips = np.zeros((len(conditions), n))
    chunk_size = cfg.batch_size or batch_size
    items_per_image = {i: len(by_image[i]) for i in chosen}
    image_root = Path(image_root)
    paths = {i: str(resolve_image(image_root, by_image[i][0].image_paths[0], by_image[i][0].item_id)) for i in chosen}
    geometries = {i: geometry(i) for i in chosen}
    total_items = int(items_n.sum()) * len(conditions)

    def record(k: int, item: McqItem, predicted: Any) -> None:
        i = index[item.image_ids[0]]
        correct[k, i] += predicted == item.answer
        flips[k, i] += predicted != clean_predicted[item.item_id]

    def answer(images: list[str], stored: JsonlWriter | None, *, merged: frozenset[str] = frozenset(),
               count: bool = True, show: bool = progress) -> float:
        """Answer every condition on ``images`` unless stored (in ``stored`` or ``merged``); with
        ``count`` each answer, stored or new, goes into the table. Returns the model's seconds."""
        chunks = _chunks(images, items_per_image, chunk_size)
        # (condition, first image of the chunk) whose answers were all stored: not perturbed again
        finished: set[tuple[int, str]] = set()
        resumed = 0
        if stored is not None:
            for chunk in chunks:
                for k, (perturbation, severity) in enumerate(conditions):
                    keys = [(it, _answer_key(perturbation, severity, it.item_id)) for i in chunk for it in by_image[i]]
                    if all(key in stored or key in merged for _, key in keys):
                        finished.add((k, chunk[0]))
                        resumed += len(keys)
                        for item, key in keys if count else ():
                            record(k, item, stored.get(key)["predicted"])
            if resumed:
                log.info("perturb: resumed %d stored answer(s) from %s", resumed, stored.path)

        def jobs() -> Iterator[tuple[tuple[int, list[str]], _Job]]:
            # Chunk-major: each image's file is hot in the page cache for all its conditions.
            for chunk in chunks:
                for k, (perturbation, severity) in enumerate(conditions):
                    if (k, chunk[0]) in finished:
                        continue
                    job = _Job(
                        paths=tuple(paths[i] for i in chunk),
                        image_ids=tuple(chunk),
                        geometries=tuple(geometries[i] for i in chunk),
                        perturbation=perturbation.name,
                        severity=severity,
                        seed=seed,
                    )
                    yield (k, chunk), job

        model_s = 0.0
        executor = _executor(cfg)
        try:
            total = sum(items_per_image[i] for i in images) * len(conditions)
            with tqdm(total=total, initial=resumed, desc="perturb", unit="item", disable=not show,
                      file=sys.stderr) as bar:
                for (k, chunk), pixels_list in _stream(jobs(), executor, cfg.prefetch):
                    perturbation, severity = conditions[k]
                    batch: list[McqItem] = []
                    pictures: list[list[Image.Image]] = []
                    for image_id, pixels in zip(chunk, pixels_list, strict=True):
                        picture = Image.fromarray(pixels)
                        for item in by_image[image_id]:
                            batch.append(item)
                            pictures.append([picture])
                    tick = time.perf_counter()
                    condition = Condition(perturbation.name, perturbation.family, severity)
                    prepared = prepare_images(model, batch, pictures, condition)
                    answers = answer_batch(model, batch, prepared, mode=mode, max_new_tokens=max_new_tokens)
                    model_s += time.perf_counter() - tick
                    for item, (predicted, _, _) in zip(batch, answers, strict=True):
                        if stored is not None:
                            key = _answer_key(perturbation, severity, item.item_id)
                            # An answer stored before a crash stands: the file and the section agree.
                            if not stored.append({"key": key, "item_id": item.item_id,
                                                  "perturbation": perturbation.name,
                                                  "severity": severity, "predicted": predicted}):
                                predicted = stored.get(key)["predicted"]
                        if count:
                            record(k, item, predicted)
                    bar.update(len(batch))
        finally:
            if executor is not None:
                executor.shutdown(wait=True, cancel_futures=True)
            if stored is not None:
                stored.close()
        return model_s

    def store(path: str | Path | None, images: list[str]) -> JsonlWriter | None:
        return _answer_store(path, model, mode, seed, geometry_note, [it for i in images for it in by_image[i]])

    def merge(main: Path, *, complete: bool) -> None:
        """Append the shard files' answers to ``main`` in the order one process writes them, then
        delete them; with ``complete`` (rank 0 after the others finished) none may be missing.
        A shard file written under other settings is refused."""
        parts = shard_files(main)
        answers: dict[str, dict[str, Any]] = {}
        for part in parts:
            with store(part, chosen) as writer:
                for answered in writer.records():
                    answers.setdefault(answered["key"], answered)
        with store(main, chosen) as writer:
            for chunk in _chunks(chosen, items_per_image, chunk_size):
                for perturbation, severity in conditions:
                    for item in (it for i in chunk for it in by_image[i]):
                        key = _answer_key(perturbation, severity, item.item_id)
                        if key in answers:
                            writer.append(answers[key])  # no-op for an answer already merged
                        elif complete and key not in writer:
                            raise StageError(f"no process answered {item.item_id!r} under {perturbation.name} "
                                             f"severity {severity}; rerun with the same --run-id")
        remove_shard_files(parts)

    started = time.perf_counter()
    model_s = 0.0
    if shard is not None and shard.active:
        if answers_jsonl is None:
            raise ValueError("a data-parallel robustness run needs answers_jsonl to merge the processes' answers")
        main = Path(answers_jsonl)
        if shard.is_main:
            store(main, chosen).close()  # a file of other settings is refused before any work
        merged = frozenset(record["key"] for record in complete_records(main))
        mine = set(shard.select(chosen))
        own = [i for i in chosen if i in mine]
        model_s = answer(own, store(shard.path(main), own), merged=merged, count=False,
                         show=progress and shard.is_main)
        shard.barrier()  # every shard file is complete
        if not shard.is_main:
            return None
        merge(main, complete=True)
    elif answers_jsonl is not None and shard_files(answers_jsonl):
        merge(Path(answers_jsonl), complete=False)  # a data-parallel launch stopped before merging
    model_s += answer(chosen, store(answers_jsonl, chosen))
    wall = time.perf_counter() - started

    table = PairedTable(
        image_ids=chosen,
        items=items_n,
        clean_correct=clean_correct,
        groups={a: np.array(v) for a, v in groups.items()},
        conditions=conditions,
        correct=correct,
        flips=flips,
    )
    if tables is not None:
        tables.append(table)
    condition_results, group_results, curves, n_comparisons = analyse(
        table,
        attributes=list(sensitive_attributes),
        severities=cfg.severities,
        confidence=cfg.confidence,
        min_group_n=cfg.min_group_n,
    )
    images_done = n * len(conditions)
    notes.extend(method_notes(geometry_note))
    return RobustnessSection(
        model=model.name,
        mode=mode,
        seed=seed,
        confidence=cfg.confidence,
        n_images=n,
        n_items=int(items_n.sum()),
        n_images_available=n_available,
        sensitive_attributes=list(sensitive_attributes),
        families=sorted({p.family for p in perturbations}, key=[p.family for p in perturbations].index),
        severities=list(cfg.severities),
        geometry=geometry_note,
        min_group_n=cfg.min_group_n,
        n_comparisons=n_comparisons,
        perturbations=[_info(p) for p in perturbations],
        conditions=condition_results,
        groups=group_results,
        curves=curves,
        throughput={
            "wall_s": round(wall, 3),
            "model_s": round(model_s, 3),
            "perturbed_images": float(images_done),
            "perturbed_images_per_s": round(images_done / wall, 2) if wall > 0 else float("nan"),
            "answers_per_s": round(total_items / wall, 2) if wall > 0 else float("nan"),
        },
        method_notes=notes,
    )


def _answer_key(perturbation: Perturbation, severity: int, item_id: str) -> str:
    """Stored answers are keyed by what made the image: the perturbation's name and the
    parameters of this severity (so a changed parameter is answered anew), and the item."""
    params = sha256_json({"severity": severity, "params": dict(perturbation.severities[severity - 1])})
    return f"{perturbation.name}\x1f{severity}\x1f{params[:16]}\x1f{item_id}"


def _answer_store(
    path: str | Path | None, model: FaceModel, mode: str, seed: int, geometry_note: str, items: list[McqItem],
) -> JsonlWriter | None:
    """The resumable store of perturbed answers, after refusing one written under other settings."""
    if path is None:
        return None
    path = Path(path)
    identity = getattr(model, "identity", None)
    meta = {
        "model": model.name, "model_sha256": identity.sha256 if identity else None,
        "model_revision": identity.revision if identity else None, "mode": mode, "seed": seed,
        "geometry": geometry_note,
    }
    # Through JSON once, as it will be read back (tuples become lists), so equal settings compare equal.
    meta = json.loads(json.dumps(meta, default=str))
    check_resume_meta(path, meta, {item.item_id: item_sha256(item) for item in items})
    return JsonlWriter(path, key_field="key", fsync_every=64)


def _info(p: Perturbation) -> PerturbationInfo:
    statistic, direction = p.statistic
    return PerturbationInfo(
        name=p.name,
        family=p.family,
        description=p.description,
        backend=p.backend,
        uses_geometry=p.uses_geometry,
        statistic=f"{statistic} {'+' if direction > 0 else '-'}",
        severities=[dict(s) for s in p.severities],
    )


def method_notes(geometry_note: str) -> list[str]:
    return [
        "Clean answers are the evaluation stage's (not recomputed); perturbed answers come from the "
        "same model on the same images, so every drop is paired image by image.",
        "Intervals and p-values are clustered by image: each is a ratio of per-image sums with the "
        "linearised (cluster-robust) variance; accuracy and flip rate get a Wilson interval on the "
        "design-effect sample size; a drop gets a paired t interval (n - 1 df); a group against the "
        "rest (interaction, flip_vs_rest, auc_vs_rest) a Welch t interval with Satterthwaite df.",
        "p-values are two-sided and unadjusted (null_value 0): the gate corrects for the number of "
        "comparisons (n_comparisons) itself. Groups below min_group_n images are flagged "
        "small_group and still reported.",
        "interaction = the group's drop minus the drop of all other images: positive means the group "
        "loses more accuracy under the perturbation than everyone else (Dooley et al. 2022).",
        "auc = area under accuracy against severity 0..5 (0 = clean), trapezoids, scaled to 0..1 and "
        "averaged over the family's perturbations: 1 is perfect accuracy that never degrades.",
        f"Occluders, shadows and side light were placed from {geometry_note}.",
        "Lighting perturbations change how light or dark skin looks: on a skin-tone task a group's "
        "drop under exposure changes partly measures the task itself, not only robustness.",
    ]
