"""ShareGPT JSON, as LLaMA-Factory reads it (REFERENCE.md §3), in and out.

Export writes the accepted pairs of a corpus JSONL as
``{"conversations": [{"from": "human", "value": "<image>Q"}, {"from": "gpt", "value": "A"}],
"images": ["path"], "image_id": ..., "aspect": ...}``; LLaMA-Factory reads only the
columns its ``dataset_info.json`` maps (``llamafactory_dataset_info`` gives that
entry), so the two extra keys make an exact round trip possible without
disturbing training.

Import reads the published FairFaceGPT corpus (or any file in that shape):
roles ``human``/``user`` and ``gpt``/``assistant``, ``images`` (list) or
``image`` (string); the aspect is inferred from the question text and the image
id from the image path (the path without its extension, as the FairFace loader
names records), unless the item carries ``image_id``/``aspect`` itself.
"""

from __future__ import annotations

import json
import posixpath
import re
from pathlib import Path
from typing import Any

from faceaudit.corpus.labels import LabelView
from faceaudit.corpus.prompts import ASPECT_IDS, ASPECTS
from faceaudit.corpus.quality import check_answer
from faceaudit.store import JsonlWriter, atomic_write_json, read_jsonl, utc_now

IMAGE_TOKEN = "<image>"
_USER_ROLES = {"human", "user"}
_ASSISTANT_ROLES = {"gpt", "assistant"}
# Longest names first: "overall detail"'s stored question never names the aspect.
_ASPECT_BY_NAME = sorted(((name, aspect) for aspect, name in ASPECTS.items()), key=lambda p: -len(p[0]))
_DESCRIBE_IMAGE = re.compile(r"^\s*describe (?:this|the) image\.?\s*$", re.IGNORECASE)


def export_sharegpt(
    corpus_jsonl: str | Path, out_json: str | Path, *, image_root_prefix: str = ""
) -> Path:
    """Write the accepted pairs of ``corpus_jsonl`` as a ShareGPT JSON list, sorted by image, aspect.

    ``image_root_prefix`` is prepended to every image path (the records hold paths
    relative to the dataset root; LLaMA-Factory resolves them against its
    ``image_root`` or the working directory).
    """
    order = {aspect: i for i, aspect in enumerate(ASPECT_IDS)}
    accepted = [r for r in read_jsonl(corpus_jsonl) if r.get("status") == "accepted"]
    accepted.sort(key=lambda r: (r["image_id"], order.get(r["aspect"], len(order)), r["aspect"]))
    prefix = image_root_prefix.rstrip("/")
    items = [
        {
            "conversations": [
                {"from": "human", "value": IMAGE_TOKEN + r["question"]},
                {"from": "gpt", "value": r["answer"]},
            ],
            "images": [posixpath.join(prefix, r["image_path"]) if prefix else r["image_path"]],
            "image_id": r["image_id"],
            "aspect": r["aspect"],
        }
        for r in accepted
    ]
    return atomic_write_json(out_json, items, indent=1)


def llamafactory_dataset_info(file_name: str, image_root: str | None = None) -> dict[str, Any]:
    """The ``dataset_info.json`` entry that makes LLaMA-Factory read an exported file."""
    entry: dict[str, Any] = {
        "file_name": file_name,
        "formatting": "sharegpt",
        "columns": {"messages": "conversations", "images": "images"},
        "tags": {"role_tag": "from", "content_tag": "value", "user_tag": "human",
                 "assistant_tag": "gpt"},
    }
    if image_root:
        entry["image_root"] = image_root
    return entry


def infer_aspect(question: str) -> str | None:
    """The FairFaceGPT aspect a stored question asks about, or None."""
    if _DESCRIBE_IMAGE.match(question):
        return "overall_detail"
    low = question.lower()
    for name, aspect in _ASPECT_BY_NAME:
        if name in low and aspect != "overall_detail":
            return aspect
    return None


def image_id_from_path(path: str, strip_prefix: str = "") -> tuple[str, str]:
    """(image id, image path relative to the dataset root) of a corpus image path."""
    clean = path.replace("\\", "/")
    if strip_prefix and clean.startswith(strip_prefix):
        clean = clean[len(strip_prefix):]
    clean = clean.lstrip("/")
    stem, ext = posixpath.splitext(clean)
    return (stem if ext else clean), clean


def _pairs(item: Any, where: str) -> tuple[list[tuple[str, str]], str]:
    if not isinstance(item, dict):
        raise ValueError(f"{where}: an item must be an object with 'conversations' and 'images'")
    turns = item.get("conversations", item.get("messages"))
    if not isinstance(turns, list) or not turns:
        raise ValueError(f"{where}: 'conversations' must be a non-empty list of turns")
    images = item.get("images", item.get("image"))
    if isinstance(images, list):
        images = images[0] if len(images) == 1 else images
    if not isinstance(images, str) or not images:
        raise ValueError(f"{where}: expected exactly one image path in 'images' (or 'image'), got {images!r}")
    pairs: list[tuple[str, str]] = []
    question: str | None = None
    for n, turn in enumerate(turns):
        if not isinstance(turn, dict):
            raise ValueError(f"{where}: turn {n} is not an object")
        role = turn.get("from", turn.get("role"))
        text = turn.get("value", turn.get("content"))
        if not isinstance(text, str):
            raise ValueError(f"{where}: turn {n} has no text in 'value' (or 'content')")
        if role in _USER_ROLES:
            question = text.replace(IMAGE_TOKEN, "").strip()
        elif role in _ASSISTANT_ROLES:
            if question is None:
                raise ValueError(f"{where}: turn {n} answers before any question")
            pairs.append((question, text))
            question = None
        elif role != "system":
            raise ValueError(
                f"{where}: turn {n} has role {role!r}; accepted: human/user, gpt/assistant, system"
            )
    return pairs, images


def import_sharegpt(
    path: str | Path,
    out_jsonl: str | Path,
    *,
    strip_prefix: str = "",
    backend: str = "imported",
    model: str = "unknown",
) -> int:
    """Append the pairs of a ShareGPT/FairFaceGPT JSON file to a corpus JSONL; returns how many.

    Imported answers pass the label-free part of the quality gate (empty,
    refusal, cut off) and are recorded as accepted or rejected accordingly.
    A pair already in ``out_jsonl`` (same image and aspect) is skipped.
    ``prompt_sha256`` is null: the prompts that produced an imported corpus are
    not known.
    """
    path = Path(path)
    try:
        items = json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise FileNotFoundError(f"cannot read {path}: {error.strerror}") from None
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}: not valid JSON (line {error.lineno}: {error.msg})") from None
    if not isinstance(items, list):
        raise ValueError(f"{path}: a ShareGPT file is a JSON list of conversations")
    written = 0
    unknown = LabelView()
    now = utc_now()
    with JsonlWriter(out_jsonl, "key", fsync_every=0) as writer:
        for index, item in enumerate(items):
            where = f"{path}: item {index}"
            pairs, image = _pairs(item, where)
            image_id, image_path = image_id_from_path(image, strip_prefix)
            if isinstance(item.get("image_id"), str) and item["image_id"]:
                image_id = item["image_id"]
            for question, answer in pairs:
                aspect = item.get("aspect") if len(pairs) == 1 else None
                aspect = aspect if aspect in ASPECTS else infer_aspect(question)
                if aspect is None:
                    raise ValueError(
                        f"{where}: cannot tell which aspect {question[:80]!r} asks about; "
                        f"a FairFaceGPT question names one of {sorted(ASPECTS.values())} "
                        "or is 'Describe this image.'"
                    )
                reason = check_answer(answer, unknown)
                written += writer.append({
                    "key": f"{image_id}:{aspect}",
                    "image_id": image_id,
                    "image_path": image_path,
                    "aspect": aspect,
                    "question": question,
                    "answer": answer,
                    "backend": backend,
                    "model": model,
                    "prompt_sha256": None,
                    "status": "accepted" if reason is None else "rejected",
                    "reject_reason": reason,
                    "started_at": now,
                    "finished_at": now,
                    "attempts": 0,
                })
    return written
