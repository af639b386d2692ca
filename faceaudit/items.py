"""The exact items an audit asks, exported for outside harnesses, and their answers read back.

A researcher who already runs VLMEvalKit or FaceXBench's own ``evaluate.py`` can answer
faceaudit's items there and audit the answers here, through the ``predictions`` backend.
:func:`export_items` writes three files into one folder:

``items.jsonl``
    one object per item: ``item_id`` (faceaudit's key), ``index`` (1, 2, ... the key the
    other two forms use), ``images`` (absolute paths), ``image_ids``, ``question``,
    ``options`` (in the order faceaudit asks them), ``prompt`` (the full text faceaudit sends
    its own backends), ``answer`` (the correct letter), ``task``, ``category``, ``groups``
    (the sensitive attributes the item is reported under) and ``facexbench_id``.
``vlmevalkit/<name>.tsv``
    VLMEvalKit's MCQ layout (one TSV per benchmark: ``index``, ``image`` as base64 of the
    image file, ``image_path``, ``question``, ``hint``, ``A``..``D``, ``answer``,
    ``category``, ``l2-category``), plus an ``item_id`` column that VLMEvalKit carries into
    its result file unchanged. Several images of one item are a JSON list of base64 strings.
``facexbench/benchmark/<stem>.json`` and ``facexbench/benchmark/images/``
    FaceXBench's benchmark layout, one file per task (``questions`` keyed ``"1"``, ``"2"``,
    ... with ``image_paths``, ``question_text``, ``options``, ``correct_answer_option``,
    ``answer``), the images copied beside them. faceaudit's own FaceXBench loader reads it.

Each harness wraps the question in its own prompt (VLMEvalKit adds ``Hint:`` and
``Options:`` lines); the image, the question text, the options and their order are the
audit's.

:func:`import_answers` turns a harness's result table (``index`` or ``item_id`` or a
FaceXBench id, and ``prediction``) into the ``item_id,prediction`` JSONL that
``evaluate.backend: predictions`` reads. Every exported item must be answered exactly once.
"""

from __future__ import annotations

import base64
import csv
import json
import shutil
from collections.abc import Sequence
from pathlib import Path, PurePosixPath
from typing import Any

from faceaudit.data.records import OPTION_LETTERS, McqItem
from faceaudit.errors import InputError
from faceaudit.store import (
    atomic_write_bytes,
    atomic_write_text,
    open_regular,
    read_jsonl,
    read_regular_bytes,
)

ITEMS_FILE = "items.jsonl"
FORMATS = ("jsonl", "vlmevalkit", "facexbench")
_ANSWER_COLUMNS = ("prediction", "predicted", "response")
_KEY_COLUMNS = ("item_id", "index", "facexbench_id")


def _stem(task: str) -> str:
    safe = "".join(c if c.isalnum() else "_" for c in task.lower()).strip("_") or "task"
    return f"faceaudit_{safe}"


def _facexbench_ids(items: Sequence[McqItem]) -> dict[str, tuple[str, str]]:
    """item_id -> (benchmark file stem, question key), numbered per task in item order."""
    counts: dict[str, int] = {}
    ids = {}
    for item in items:
        stem = _stem(item.task)
        counts[stem] = counts.get(stem, 0) + 1
        ids[item.item_id] = (stem, str(counts[stem]))
    return ids


def export_items(
    items: Sequence[McqItem],
    image_root: str | Path,
    out_dir: str | Path,
    *,
    name: str = "faceaudit_items",
    formats: Sequence[str] = FORMATS,
) -> dict[str, Path]:
    """Write ``items`` in the chosen ``formats`` under ``out_dir``; returns the paths written."""
    unknown = sorted(set(formats) - set(FORMATS))
    if unknown:
        raise InputError(f"unknown export format(s) {unknown}; accepted: {', '.join(FORMATS)}")
    if not items:
        raise InputError("no items to export")
    seen: set[str] = set()
    for item in items:
        if item.item_id in seen:
            raise InputError(f"item_id {item.item_id!r} appears twice among the items to export")
        seen.add(item.item_id)
    root = Path(image_root).resolve()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for item in items:
        for relative in item.image_paths:
            if not (root / relative).is_file():
                what = "is not a regular file" if (root / relative).exists() else "does not exist"
                raise InputError(f"item {item.item_id!r}: image {relative!r} {what} under {root}")
    fx_ids = _facexbench_ids(items)
    written: dict[str, Path] = {}
    # items.jsonl is always written: it is the key import_answers maps answers back with.
    rows = []
    for index, item in enumerate(items, start=1):
        stem, key = fx_ids[item.item_id]
        rows.append({
            "item_id": item.item_id,
            "index": index,
            "images": [str(root / p) for p in item.image_paths],
            "image_ids": list(item.image_ids),
            "question": item.question,
            "options": list(item.options),
            "prompt": item.prompt(),
            "answer": item.answer,
            "task": item.task,
            "category": item.category,
            "groups": dict(item.groups),
            "facexbench_id": f"{stem}:{key}",
        })
    written["jsonl"] = atomic_write_text(
        out / ITEMS_FILE, "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
    )
    if "vlmevalkit" in formats:
        written["vlmevalkit"] = _write_vlmevalkit(items, root, out / "vlmevalkit" / f"{name}.tsv")
    if "facexbench" in formats:
        written["facexbench"] = _write_facexbench(items, root, out / "facexbench" / "benchmark", fx_ids)
    return written


def _write_vlmevalkit(items: Sequence[McqItem], root: Path, path: Path) -> Path:
    columns = ["index", "image", "image_path", "question", "hint", *OPTION_LETTERS, "answer",
               "category", "l2-category", "item_id"]
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, delimiter="\t", lineterminator="\n")
        writer.writerow(columns)
        for index, item in enumerate(items, start=1):
            encoded = [base64.b64encode(read_regular_bytes(root / p)).decode("ascii") for p in item.image_paths]
            image = encoded[0] if len(encoded) == 1 else json.dumps(encoded)
            image_path = item.image_paths[0] if len(item.image_paths) == 1 else json.dumps(item.image_paths)
            hint = "\n".join(part for part in (item.context, item.prepend_text) if part)
            options = [*item.options, *[""] * (len(OPTION_LETTERS) - len(item.options))]
            writer.writerow([index, image, image_path, item.question, hint, *options, item.answer,
                             item.task, item.category, item.item_id])
    tmp.replace(path)
    return path


def _write_facexbench(
    items: Sequence[McqItem], root: Path, bench: Path, fx_ids: dict[str, tuple[str, str]]
) -> Path:
    files: dict[str, dict[str, Any]] = {}
    for item in items:
        stem, key = fx_ids[item.item_id]
        header = files.setdefault(stem, {
            "category": item.category,
            "sub-category": item.task,
            "dataset": item.dataset or "faceaudit",
            "question_type": "MCQ",
            "num_images": "single" if len(item.image_paths) == 1 else "multiple",
            "prepend_text": item.prepend_text,
            "postpend_text": item.postpend_text,
            "questions": {},
        })
        if len(item.image_paths) > 1:
            header["num_images"] = "multiple"
        paths = []
        for k, relative in enumerate(item.image_paths):
            suffix = PurePosixPath(relative).suffix or ".png"
            tail = "" if len(item.image_paths) == 1 else f"_{k + 1}"
            target = PurePosixPath("images", stem, f"question_{key}{tail}{suffix}")
            (bench / target).parent.mkdir(parents=True, exist_ok=True)
            with open_regular(root / relative, "rb") as source, open(bench / target, "wb") as copy:
                shutil.copyfileobj(source, copy)
            paths.append(target.as_posix())
        header["questions"][key] = {
            "image_paths": paths,
            "question_text": item.question,
            "options": list(item.options),
            "correct_answer_option": item.answer,
            "answer": item.answer_text,
            "item_id": item.item_id,  # faceaudit's key; FaceXBench's scripts ignore extra fields
        }
    for stem, content in files.items():
        atomic_write_text(bench / f"{stem}.json", json.dumps(content, indent=2, ensure_ascii=False) + "\n")
    return bench


# --- answers back ----------------------------------------------------------------


def _read_table(path: Path) -> tuple[list[tuple[str, dict[str, Any]]], str]:
    """Rows of a harness result file with where each came from (for messages)."""
    suffix = path.suffix.lower()
    if suffix in (".csv", ".tsv"):
        with open_regular(path, "r", encoding="utf-8-sig", newline="") as handle:
            reader = csv.DictReader(handle, delimiter="\t" if suffix == ".tsv" else ",")
            return [(f"row {n}", dict(row)) for n, row in enumerate(reader, start=2)], "row"
    if suffix in (".jsonl", ".ndjson"):
        rows = []
        for n, record in enumerate(read_jsonl(path), start=1):
            if not isinstance(record, dict):
                raise InputError(f"{path}: line {n}: expected a JSON object per line")
            rows.append((f"line {n}", record))
        return rows, "line"
    raise InputError(f"{path}: unsupported answers file type {suffix!r} (accepted: .tsv, .csv, .jsonl; save a spreadsheet as TSV)")


def import_answers(answers: str | Path, export_dir: str | Path, out_path: str | Path) -> Path:
    """Write the predictions JSONL (``item_id``, ``prediction``) of a harness's result table.

    Rows are matched to exported items by ``item_id`` when the table has it (VLMEvalKit keeps
    the extra column), else by ``index`` or ``facexbench_id``. A row naming no exported item,
    an item answered twice, or an item not answered is an error naming the row or item.
    """
    answers, export_dir = Path(answers), Path(export_dir)
    key_file = export_dir / ITEMS_FILE
    if not key_file.is_file():
        raise InputError(f"{export_dir}: no {ITEMS_FILE}; pass the folder `faceaudit items export` wrote")
    exported = list(read_jsonl(key_file))
    lookup: dict[str, dict[str, str]] = {
        "item_id": {str(r["item_id"]): str(r["item_id"]) for r in exported},
        "index": {str(r["index"]): str(r["item_id"]) for r in exported},
        "facexbench_id": {str(r["facexbench_id"]): str(r["item_id"]) for r in exported},
    }
    if not answers.exists():  # a FIFO or a folder is refused by name when read
        raise InputError(f"answers file {answers} does not exist")
    rows, _ = _read_table(answers)
    if not rows:
        raise InputError(f"{answers}: no answers in the file")
    columns = set(rows[0][1])
    key = next((c for c in _KEY_COLUMNS if c in columns), None)
    text = next((c for c in _ANSWER_COLUMNS if c in columns), None)
    if key is None or text is None:
        raise InputError(
            f"{answers}: needs a key column ({' or '.join(_KEY_COLUMNS)}) and an answer column "
            f"({' or '.join(_ANSWER_COLUMNS)}); columns: {sorted(columns)}"
        )
    predictions: dict[str, str] = {}
    first: dict[str, str] = {}
    for where, row in rows:
        raw_key = str(row.get(key) or "").strip()
        if key == "index" and raw_key.endswith(".0"):  # spreadsheets turn 7 into 7.0
            raw_key = raw_key[:-2]
        item_id = lookup[key].get(raw_key)
        if item_id is None:
            raise InputError(f"{answers}: {where}: {key} {raw_key!r} is not an exported item of {key_file}")
        if item_id in predictions:
            raise InputError(f"{answers}: {where}: item {item_id!r} answered twice (first at {first[item_id]})")
        value = row.get(text)
        predictions[item_id] = "" if value is None else str(value)
        first[item_id] = where
    missing = [str(r["item_id"]) for r in exported if str(r["item_id"]) not in predictions]
    if missing:
        raise InputError(
            f"{answers}: no answer for {len(missing)} of {len(exported)} exported items "
            f"(first: {', '.join(map(repr, missing[:5]))})"
        )
    body = "".join(
        json.dumps({"item_id": str(r["item_id"]), "prediction": predictions[str(r["item_id"])]},
                   ensure_ascii=False) + "\n"
        for r in exported
    )
    return atomic_write_bytes(Path(out_path), body.encode("utf-8"))


def audit_items(config: Any, work_dir: str | Path) -> tuple[list[McqItem], Path]:
    """The evaluation items and image root ``config`` (an ``AuditConfig``) makes an audit ask.

    They are built by the pipeline's own dataset stage, so they are the items ``faceaudit run``
    asks with that config and seed. ``work_dir`` is a run directory: a synthetic data set is
    rendered into (or reused from) its ``data/`` folder.
    """
    from faceaudit.pipeline import StageContext, _stage_dataset, _Timer
    from faceaudit.schema import AuditResult, ProvenanceSection, RunSection
    from faceaudit.store import RunStore, utc_now

    store = RunStore(Path(work_dir))
    run = RunSection(run_id=store.run_id, started_at=utc_now(), faceaudit_version="", python_version="",
                     platform="", seed=config.seed, config={})
    scratch = AuditResult(run=run, provenance=ProvenanceSection(config_sha256=""))
    ctx = StageContext(config, store, scratch, False, _Timer())
    _stage_dataset(ctx)
    if ctx.image_root is None:
        raise InputError("the configured data set yields no images to export")
    return list(ctx.eval_items), Path(ctx.image_root)
