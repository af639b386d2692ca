"""ShareGPT JSON, as LLaMA-Factory reads it (docs/reference.md §3), in and out.

Export writes the accepted records of a corpus JSONL: a FairFaceGPT pair as
``{"conversations": [{"from": "human", "value": "<image>Q"}, {"from": "gpt", "value": "A"}],
"images": ["path"], "image_id": ..., "aspect": ...}`` and an imported conversation with its
system prompt first (``{"from": "system", ...}``), its turns and all its images.
LLaMA-Factory reads only the columns its ``dataset_info.json`` maps
(:func:`llamafactory_dataset_info` gives that entry), so the extra keys make an exact
round trip possible without disturbing training. LLaMA-Factory looks each image up as
``os.path.join(media_dir, path)``, ``media_dir`` defaulting to ``dataset_dir``: exported
without a prefix, the paths are relative to the dataset root, which is then the
``media_dir`` to train with (:func:`llamafactory_instructions` says so).

Import reads two shapes, and drops nothing without counting it (:class:`ImportReport`):

* FairFaceGPT (the published corpus, or any file in that shape): one image, turns
  ``human``/``user`` then ``gpt``/``assistant`` whose questions each name one of the eight
  aspects (or are "Describe this image."), no system prompt. Each pair becomes one corpus
  record keyed ``<image id>:<aspect>``; the image id is the image path without its
  extension (as the FairFace loader names records) unless the item carries
  ``image_id``/``aspect`` itself.
* Any other multimodal ShareGPT conversation (LLaMA-Factory's ``mllm_demo.json``: several
  images, multi-turn, a system prompt as first turn or ``system`` column): one corpus
  record of ``kind: "conversation"`` holding the system prompt, every turn and every
  image, keyed by its content, for training as a whole conversation.

The number of ``<image>`` tags must equal the number of images (LLaMA-Factory refuses
anything else); a single-image item without a tag gets one before its first question.
Consecutive turns of one role are joined into one turn, and a last question nobody
answered is dropped; both are counted. The output is written atomically: an import that
raises leaves the corpus as it was.
"""

from __future__ import annotations

import dataclasses
import json
import posixpath
import re
from pathlib import Path
from typing import Any

from faceaudit.corpus.labels import LabelView
from faceaudit.corpus.prompts import ASPECT_IDS, ASPECTS
from faceaudit.corpus.quality import check_answer
from faceaudit.errors import InputError
from faceaudit.store import (
    JsonlWriter,
    atomic_write_json,
    atomic_write_text,
    read_jsonl,
    read_regular_text,
    sha256_json,
    utc_now,
)

IMAGE_TOKEN = "<image>"
CONVERSATION = "conversation"
_USER_ROLES = {"human", "user"}
_ASSISTANT_ROLES = {"gpt", "assistant"}
_SYSTEM_ROLES = {"system"}
# Longest names first: "overall detail"'s stored question never names the aspect.
_ASPECT_BY_NAME = sorted(((name, aspect) for aspect, name in ASPECTS.items()), key=lambda p: -len(p[0]))
_DESCRIBE_IMAGE = re.compile(r"^\s*describe (?:this|the) image\.?\s*$", re.IGNORECASE)


def _with_prefix(prefix: str, path: str) -> str:
    return posixpath.join(prefix, path) if prefix else path


def _exported(record: dict[str, Any], prefix: str) -> dict[str, Any]:
    if record.get("kind") == CONVERSATION:
        turns = [{"from": "system", "value": record["system"]}] if record.get("system") else []
        turns += [
            {"from": "human" if m["role"] == "user" else "gpt", "value": m["content"]}
            for m in record["messages"]
        ]
        return {
            "conversations": turns,
            "images": [_with_prefix(prefix, p) for p in record["image_paths"]],
            "image_id": record["image_id"],
            "aspect": CONVERSATION,
        }
    return {
        "conversations": [
            {"from": "human", "value": IMAGE_TOKEN + record["question"]},
            {"from": "gpt", "value": record["answer"]},
        ],
        "images": [_with_prefix(prefix, record["image_path"])],
        "image_id": record["image_id"],
        "aspect": record["aspect"],
    }


def export_sharegpt(
    corpus_jsonl: str | Path, out_json: str | Path, *, image_root_prefix: str = ""
) -> Path:
    """Write the accepted records of ``corpus_jsonl`` as a ShareGPT JSON list, sorted by image, aspect.

    ``image_root_prefix`` is prepended to every image path (the records hold paths
    relative to the dataset root; LLaMA-Factory joins them to its ``media_dir``).
    """
    order = {aspect: i for i, aspect in enumerate(ASPECT_IDS)}
    accepted = [r for r in read_jsonl(corpus_jsonl) if r.get("status") == "accepted"]
    accepted.sort(key=lambda r: (r["image_id"], order.get(r["aspect"], len(order)), r["aspect"], r["key"]))
    prefix = image_root_prefix.rstrip("/")
    return atomic_write_json(out_json, [_exported(r, prefix) for r in accepted], indent=1)


def llamafactory_dataset_info(file_name: str) -> dict[str, Any]:
    """The ``dataset_info.json`` entry that makes LLaMA-Factory read an exported file.

    There is no per-dataset image folder in that file: LLaMA-Factory resolves image paths
    against its ``media_dir`` argument (default: ``dataset_dir``).
    """
    return {
        "file_name": file_name,
        "formatting": "sharegpt",
        "columns": {"messages": "conversations", "images": "images"},
        "tags": {"role_tag": "from", "content_tag": "value", "user_tag": "human",
                 "assistant_tag": "gpt", "system_tag": "system"},
    }


def llamafactory_instructions(exported: str | Path, media_dir: str | Path, *, name: str | None = None) -> str:
    """How to train on an export with LLaMA-Factory: the ``dataset_info.json`` entry and arguments.

    ``media_dir`` is the folder the exported image paths are relative to (the dataset
    root when exported without a prefix).
    """
    exported = Path(exported).resolve()
    name = name or exported.stem
    entry = json.dumps({name: llamafactory_dataset_info(exported.name)}, indent=2)
    return (
        f"LLaMA-Factory: add this entry to {exported.parent / 'dataset_info.json'}\n{entry}\n"
        f"and train with  dataset: {name}  dataset_dir: {exported.parent}  "
        f"media_dir: {Path(media_dir).resolve()}"
    )


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


@dataclasses.dataclass
class ImportReport:
    """What an import read and wrote; every item of the file is accounted for."""

    source: str
    items: int = 0
    pairs: int = 0
    conversations: int = 0
    already_present: int = 0
    duplicates: list[str] = dataclasses.field(default_factory=list)
    merged_turns: list[str] = dataclasses.field(default_factory=list)
    unanswered: list[str] = dataclasses.field(default_factory=list)
    image_tags_added: int = 0

    @property
    def written(self) -> int:
        return self.pairs + self.conversations

    def notes(self) -> list[str]:
        """One sentence per kind of thing in the file that was not imported as it stood."""
        notes = []
        for what, found in (
            ("repeated an earlier record and were not written again", self.duplicates),
            ("had consecutive turns of one role, joined into one turn", self.merged_turns),
            ("ended with a question nobody answered, which was dropped", self.unanswered),
        ):
            if found:
                notes.append(f"{len(found)} item(s) {what}: {'; '.join(found[:3])}")
        if self.image_tags_added:
            notes.append(f"{self.image_tags_added} single-image item(s) had no <image> tag; one was put before the first question")
        return notes

    def summary(self) -> str:
        text = (
            f"{self.source}: {self.items} item(s) -> {self.pairs} FairFaceGPT pair(s) and "
            f"{self.conversations} conversation(s) written"
        )
        if self.already_present:
            # A resumed import: not a change to the data, so not among the notes.
            text += f", {self.already_present} record(s) already in the corpus kept as they were"
        return "; ".join([text, *self.notes()])


@dataclasses.dataclass
class _Turns:
    system: str | None
    messages: list[dict[str, str]]  # role "user"/"assistant", content verbatim
    images: list[str]


def _read_turns(item: Any, where: str, report: ImportReport) -> _Turns:
    if not isinstance(item, dict):
        raise InputError(f"{where}: an item must be an object with 'conversations' (or 'messages') and 'images'")
    turns = item.get("conversations", item.get("messages"))
    if not isinstance(turns, list) or not turns:
        raise InputError(f"{where}: 'conversations' must be a non-empty list of turns")
    images = item.get("images", item.get("image"))
    images = [images] if isinstance(images, str) else images
    if images is None:
        images = []
    if not isinstance(images, list) or not all(isinstance(i, str) and i for i in images):
        raise InputError(f"{where}: 'images' must be a list of image paths, got {images!r}")
    if not images:
        raise InputError(f"{where}: no image; a face corpus item needs at least one in 'images' (or 'image')")
    system = item.get("system") if isinstance(item.get("system"), str) and item.get("system") else None
    messages: list[dict[str, str]] = []
    merged = False
    for n, turn in enumerate(turns):
        if not isinstance(turn, dict):
            raise InputError(f"{where}: turn {n} is not an object")
        role = turn.get("from", turn.get("role"))
        text = turn.get("value", turn.get("content"))
        if not isinstance(text, str):
            raise InputError(f"{where}: turn {n} has no text in 'value' (or 'content')")
        if role in _SYSTEM_ROLES:
            if messages or system is not None:
                raise InputError(f"{where}: turn {n} is a system prompt after the conversation started; "
                                 "only the first turn may be one")
            system = text
            continue
        if role in _USER_ROLES:
            role = "user"
        elif role in _ASSISTANT_ROLES:
            role = "assistant"
        else:
            raise InputError(f"{where}: turn {n} has role {role!r}; accepted: human/user, gpt/assistant, system")
        if not messages and role == "assistant":
            raise InputError(f"{where}: turn {n} answers before any question")
        if messages and messages[-1]["role"] == role:
            messages[-1]["content"] += "\n" + text
            merged = True
        else:
            messages.append({"role": role, "content": text})
    if merged:
        report.merged_turns.append(where)
    if messages[-1]["role"] == "user":
        report.unanswered.append(where)
        messages.pop()
    if not messages:
        raise InputError(f"{where}: no answered question")
    tags = sum(m["content"].count(IMAGE_TOKEN) for m in messages)
    if tags == 0 and len(images) == 1:
        messages[0]["content"] = IMAGE_TOKEN + messages[0]["content"]
        report.image_tags_added += 1
    elif tags != len(images):
        raise InputError(
            f"{where}: {tags} {IMAGE_TOKEN} tag(s) for {len(images)} image(s); each image needs "
            f"exactly one tag where it belongs in the conversation (LLaMA-Factory refuses the item)"
        )
    return _Turns(system, messages, images)


def _fairfacegpt_pairs(item: dict[str, Any], turns: _Turns) -> list[tuple[str, str, str]] | None:
    """``(aspect, question, answer)`` per pair if the item is FairFaceGPT-shaped, else None."""
    if turns.system is not None or len(turns.images) != 1:
        return None
    pairs = []
    for question, answer in zip(turns.messages[::2], turns.messages[1::2], strict=True):
        text = question["content"].replace(IMAGE_TOKEN, "").strip()
        aspect = item.get("aspect") if len(turns.messages) == 2 else None
        aspect = aspect if aspect in ASPECTS else infer_aspect(text)
        if aspect is None:
            return None
        pairs.append((aspect, text, answer["content"]))
    if len({aspect for aspect, _, _ in pairs}) != len(pairs):
        return None  # a conversation that returns to an aspect is kept whole
    return pairs


def import_sharegpt(
    path: str | Path,
    out_jsonl: str | Path,
    *,
    strip_prefix: str = "",
    backend: str = "imported",
    model: str = "unknown",
) -> ImportReport:
    """Add the items of a ShareGPT JSON file to a corpus JSONL; the report says what became of each.

    Imported answers pass the label-free part of the quality gate (empty, refusal,
    cut off) and are recorded as accepted or rejected accordingly (a conversation is
    rejected when any of its answers is). A record already in ``out_jsonl`` (same key)
    is kept and counted, not written again. ``prompt_sha256`` is null: the prompts that
    produced an imported corpus are not known.
    """
    path = Path(path)
    try:
        items = json.loads(read_regular_text(path))
    except OSError as error:
        raise FileNotFoundError(f"cannot read {path}: {error.strerror}") from None
    except UnicodeDecodeError as error:
        raise InputError(f"{path}: not UTF-8 text ({error.reason} at byte {error.start})") from None
    except json.JSONDecodeError as error:
        raise InputError(f"{path}: not valid JSON (line {error.lineno}: {error.msg})") from None
    if not isinstance(items, list):
        raise InputError(f"{path}: a ShareGPT file is a JSON list of conversations")
    report = ImportReport(source=str(path), items=len(items))
    unknown = LabelView()
    now = utc_now()
    common = {"backend": backend, "model": model, "prompt_sha256": None,
              "started_at": now, "finished_at": now, "attempts": 0}
    # Every item is read (and may raise) before the corpus is touched.
    candidates: list[tuple[dict[str, Any], str]] = []
    for index, item in enumerate(items):
        where = f"{path}: item {index}"
        turns = _read_turns(item, where, report)
        ids = [image_id_from_path(image, strip_prefix) for image in turns.images]
        pairs = _fairfacegpt_pairs(item, turns)
        if pairs is not None:
            image_id, image_path = ids[0]
            if isinstance(item.get("image_id"), str) and item["image_id"]:
                image_id = item["image_id"]
            for aspect, question, answer in pairs:
                reason = check_answer(answer, unknown)
                candidates.append(({
                    "key": f"{image_id}:{aspect}", "image_id": image_id, "image_path": image_path,
                    "aspect": aspect, "question": question, "answer": answer,
                    "status": "accepted" if reason is None else "rejected", "reject_reason": reason,
                    **common,
                }, where))
            continue
        reasons = [check_answer(m["content"], unknown) for m in turns.messages if m["role"] == "assistant"]
        reason = next((r for r in reasons if r is not None), None)
        content = {"system": turns.system, "messages": turns.messages, "image_paths": [p for _, p in ids]}
        candidates.append(({
            "key": f"{CONVERSATION}:{sha256_json(content)[:16]}", "kind": CONVERSATION,
            "image_id": ids[0][0], "image_ids": [i for i, _ in ids], "aspect": CONVERSATION, **content,
            "status": "accepted" if reason is None else "rejected", "reject_reason": reason,
            **common,
        }, where))

    out_jsonl = Path(out_jsonl)
    existing: list[dict[str, Any]] = []
    if out_jsonl.exists():
        # JsonlWriter drops a line a crashed writer left half-written, as a resumed run would.
        with JsonlWriter(out_jsonl, "key", fsync_every=0) as writer:
            existing = list(writer.records())
    keys = {record["key"] for record in existing}
    new: dict[str, dict[str, Any]] = {}
    for record, where in candidates:
        if record["key"] in new:
            report.duplicates.append(f"{where} ({record['key']})")
        elif record["key"] in keys:
            report.already_present += 1
        else:
            new[record["key"]] = record
            if record.get("kind") == CONVERSATION:
                report.conversations += 1
            else:
                report.pairs += 1
    lines = [
        json.dumps(record, ensure_ascii=False, allow_nan=True, separators=(",", ":")) + "\n"
        for record in [*existing, *new.values()]
    ]
    atomic_write_text(out_jsonl, "".join(lines))
    return report
