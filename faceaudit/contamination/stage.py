"""The contamination stage: which evaluation images the training corpus holds, per group.

Reads the corpus's image paths (a corpus JSONL's accepted records, or a ShareGPT JSON such as
FairFaceGPT), fingerprints every distinct image on both sides (:mod:`.hashing`), and writes the
``contamination`` section: counts per kind of match, per group of each sensitive attribute
(Wilson intervals), examples, and, when the evaluation ran, each group's accuracy on the items
whose images are not in the corpus, from the per-item outcomes stored in the evaluation section.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from faceaudit.contamination.config import ContaminationConfig
from faceaudit.contamination.hashing import fingerprints, fingerprints_or_errors, match_images
from faceaudit.data.records import McqItem
from faceaudit.errors import InputError
from faceaudit.evaluate.outcomes import decode_outcomes
from faceaudit.schema.contamination import (
    CleanGroupAccuracy,
    CleanTaskAccuracy,
    ContaminationExample,
    ContaminationGroup,
    ContaminationSection,
)
from faceaudit.schema.evaluation import EvaluationSection
from faceaudit.stats.proportions import proportion_estimate
from faceaudit.store import read_jsonl, read_regular_text, sha256_file

log = logging.getLogger("faceaudit.contamination")

METHOD = (
    "exact: SHA-256 of the file bytes, then of the decoded RGB pixels; near: 256-bit DCT "
    "perceptual hash (imagehash.phash, hash_size 16) within {d} bits and 16x16 RGB thumbnails "
    "within a mean absolute difference of {t:g} (0-255)"
)
_MAX_EXAMPLES = 20


def corpus_image_paths(corpus: Path) -> list[str]:
    """Image paths a corpus trains on, as it writes them (relative to its image root).

    A corpus JSONL: the accepted records' ``image_path`` / ``image_paths``. A ShareGPT JSON
    list (LLaMA-Factory, FairFaceGPT): every item's ``images`` (or ``image``).
    """
    paths: list[str] = []
    if corpus.suffix.lower() == ".json":
        try:
            data = json.loads(read_regular_text(corpus))
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise InputError(f"{corpus}: not a ShareGPT JSON list ({error})") from None
        if not isinstance(data, list):
            raise InputError(f"{corpus}: expected a JSON list of ShareGPT items")
        for number, item in enumerate(data):
            images = item.get("images", item.get("image")) if isinstance(item, dict) else None
            images = [images] if isinstance(images, str) else images
            if not isinstance(images, list) or not all(isinstance(p, str) for p in images):
                raise InputError(f"{corpus}: item {number}: 'images' must be a list of paths")
            paths.extend(images)
        return paths
    for number, record in enumerate(read_jsonl(corpus), start=1):
        if not isinstance(record, dict):
            raise InputError(f"{corpus}: line {number}: expected a JSON object")
        if record.get("status", "accepted") != "accepted":
            continue  # rejected pairs are not trained on
        if isinstance(record.get("image_path"), str):
            paths.append(record["image_path"])
        paths.extend(p for p in record.get("image_paths") or [] if isinstance(p, str))
    return paths


def check_contamination(
    eval_items: Sequence[McqItem],
    eval_root: Path,
    corpus: Path,
    corpus_root: Path,
    cfg: ContaminationConfig,
    *,
    sensitive_attributes: Sequence[str],
    evaluation: EvaluationSection | None = None,
    trained_on_corpus: bool = False,
    corpus_name: str | None = None,
    corpus_sha256: str | None = None,
) -> ContaminationSection:
    """Compare ``eval_items``' images (under ``eval_root``) with the images ``corpus`` names (under
    ``corpus_root``). ``corpus_name`` and ``corpus_sha256`` are what the section records (default:
    the path and the file's SHA-256; a run passes its corpus's path in the run directory and its
    content hash, so the same inputs give the same section)."""
    eval_paths = sorted({p for item in eval_items for p in item.image_paths})
    if not eval_paths:
        raise InputError("no evaluation images to check for contamination")
    named = sorted(set(corpus_image_paths(corpus)))
    present = [p for p in named if (corpus_root / p).is_file()]
    missing = len(named) - len(present)  # not found; unreadable ones are counted below
    notes = []
    if missing:
        notes.append(f"{missing} of the {len(named)} images the corpus names were not found under "
                     f"{corpus_root} and were not compared; contamination may be undercounted.")
    eval_fp = fingerprints([eval_root / p for p in eval_paths], cfg.workers)
    # A corpus image that cannot be read (e.g. a 108-megapixel photo above the decode limit) is
    # counted and named, not fatal (the evaluation images were checked when the data set was loaded).
    found = fingerprints_or_errors([corpus_root / p for p in present], cfg.workers)
    unreadable = [f for f in found if isinstance(f, InputError)]
    if unreadable:
        notes.append(f"{len(unreadable)} of the {len(named)} images the corpus names could not be read and were "
                     f"not compared; contamination may be undercounted. First: {unreadable[0]}")
    kept = [(p, f) for p, f in zip(present, found, strict=True) if not isinstance(f, InputError)]
    present, corpus_fp = [p for p, _ in kept], [f for _, f in kept]
    matches = match_images(eval_fp, corpus_fp, phash_max_distance=cfg.phash_max_distance,
                           thumbnail_max_difference=cfg.thumbnail_max_difference)
    hit = {eval_paths[m.eval_index] for m in matches}
    kinds = defaultdict(int)
    for m in matches:
        kinds[m.kind] += 1
    contaminated_items = {i.item_id for i in eval_items if any(p in hit for p in i.image_paths)}

    # Groups of each image: the groups of the items asking about it (one image, one label).
    image_groups: dict[str, dict[str, str]] = {}
    for item in eval_items:
        image_groups.setdefault(item.image_paths[0], dict(item.groups))
    groups = []
    for attribute in sensitive_attributes:
        totals: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        for path, labels in image_groups.items():
            if attribute in labels:
                totals[labels[attribute]][0] += 1
                totals[labels[attribute]][1] += path in hit
        for label in sorted(totals):
            n, k = totals[label]
            groups.append(ContaminationGroup(attribute=attribute, label=label, n_images=n, n_contaminated=k,
                                             rate=proportion_estimate(k, n)))
    examples = [
        ContaminationExample(eval_image=eval_paths[m.eval_index], corpus_image=present[m.corpus_index],
                             kind=m.kind, phash_distance=m.phash_distance,
                             thumbnail_difference=m.thumbnail_difference)
        for m in matches[:_MAX_EXAMPLES]
    ]
    clean, skipped = None, None
    if not cfg.recompute_clean:
        skipped = "turned_off"
    elif evaluation is None:
        skipped = "no_evaluation"
    else:
        clean = clean_accuracy(evaluation, eval_items, contaminated_items, notes)
    return ContaminationSection(
        corpus=corpus_name or str(corpus), corpus_sha256=corpus_sha256 or sha256_file(corpus),
        trained_on_corpus=trained_on_corpus,
        method=METHOD.format(d=cfg.phash_max_distance, t=cfg.thumbnail_max_difference),
        phash_max_distance=cfg.phash_max_distance, thumbnail_max_difference=cfg.thumbnail_max_difference,
        n_eval_images=len(eval_paths), n_corpus_images=len(present), n_corpus_images_missing=missing,
        n_exact_file=kinds["file"], n_exact_pixels=kinds["pixels"], n_near=kinds["near"],
        n_contaminated_images=len(hit), n_contaminated_items=len(contaminated_items),
        rate=proportion_estimate(len(hit), len(eval_paths)), groups=groups, examples=examples,
        clean=clean, clean_skipped=skipped, notes=notes,
    )


def clean_accuracy(
    evaluation: EvaluationSection, eval_items: Sequence[McqItem], contaminated: set[str], notes: list[str]
) -> list[CleanTaskAccuracy]:
    """Each task's per-group accuracy on all items and without the contaminated ones.

    Read from the stored per-item outcomes (sorted item-id order), so it is exactly the
    evaluation's correctness; intervals are Wilson's on items (one item per image and task).
    """
    out = []
    attributes = evaluation.sensitive_attributes
    for task in evaluation.tasks:
        ids = sorted(i.item_id for i in eval_items if i.task == task.task)
        outcomes = task.outcomes
        digest = hashlib.sha256("\n".join(ids).encode("utf-8")).hexdigest()
        if outcomes is None or outcomes.items_sha256 != digest:
            notes.append(f"task {task.task}: the evaluation's stored outcomes are not of these items; "
                         "accuracy was not recomputed without contamination")
            continue
        correct, cell = decode_outcomes(outcomes)
        keep = np.array([i not in contaminated for i in ids], dtype=bool)
        groups = []
        for position, attribute in enumerate(attributes):
            labels = np.array([c[position] for c in outcomes.cells])[cell]
            for label in sorted(set(labels.tolist())):
                member = labels == label
                groups.append(CleanGroupAccuracy(
                    attribute=attribute, label=label,
                    all_items=proportion_estimate(int(correct[member].sum()), int(member.sum())),
                    clean_items=proportion_estimate(int(correct[member & keep].sum()), int((member & keep).sum())),
                    n_excluded=int((member & ~keep).sum()),
                ))
        out.append(CleanTaskAccuracy(
            task=task.task, n_items=len(ids), n_excluded=int((~keep).sum()),
            overall_clean=proportion_estimate(int(correct[keep].sum()), int(keep.sum())), groups=groups,
        ))
    return out
