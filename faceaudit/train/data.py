"""Supervised examples for LoRA training: corpus records and multiple-choice items.

Two corpus formats are read:

* faceaudit's corpus JSONL (one record per image x aspect, with ``image_path`` relative to
  the dataset root, ``question``, ``answer`` and ``status``); only ``accepted`` records train;
  An imported conversation (``kind: "conversation"``: system prompt, several turns, several
  images) is one example that learns every answer in its context;
* ShareGPT JSON as read by LLaMA-Factory (FairFaceGPT's format, docs/reference.md §3): a list of
  ``{"conversations": [{"from": "human", "value": "<image>..."}, {"from": "gpt", ...}],
  "images": [...]}``. A single question and answer is one example; a conversation with a
  system prompt or several exchanges is one conversational example, as above.

A single exchange is encoded by :func:`faceaudit.models.chat.encode_prompt`, the same function
evaluation uses, so the prompt a model is trained on is the prompt it is scored on; a
conversation by :func:`faceaudit.models.chat.encode_conversation`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from faceaudit.data.records import McqItem
from faceaudit.errors import InputError
from faceaudit.models.chat import (
    SHAREGPT_IMAGE_TAG,
    encode_conversation,
    encode_prompt,
    load_images,
    pad_batch,
    strip_image_tags,
)
from faceaudit.store import open_regular, read_regular_text


class CorpusFormatError(InputError):
    """A corpus file that cannot be read; the message names the file, row and field."""


@dataclass(frozen=True)
class SupervisedExample:
    """One training example: a question and its answer, or a whole conversation.

    A conversation (``conversation=True``) has its ``system`` prompt, the ``earlier``
    exchanges and then ``question``/``answer``, the last one; its questions keep their
    ``<image>`` tags, which place ``image_paths`` in the turns.
    """

    image_paths: tuple[str, ...]
    question: str
    answer: str
    source: str  # "corpus" or "mcq"
    task: str | None = None
    conversation: bool = False
    earlier: tuple[tuple[str, str], ...] = ()
    system: str | None = None

    @property
    def exchanges(self) -> list[tuple[str, str]]:
        return [*self.earlier, (self.question, self.answer)]


def _conversation_example(
    exchanges: list[tuple[str, str]], images: list[str], system: str | None, where: str
) -> SupervisedExample:
    tags = sum(question.count(SHAREGPT_IMAGE_TAG) for question, _ in exchanges)
    if tags != len(images):
        raise CorpusFormatError(f"{where}: {tags} <image> tags but {len(images)} images")
    if not exchanges:
        raise CorpusFormatError(f"{where}: a conversation needs at least one question and answer")
    (question, answer), earlier = exchanges[-1], tuple(exchanges[:-1])
    return SupervisedExample(
        image_paths=tuple(images), question=question, answer=answer, source="corpus",
        task="conversation", conversation=True, earlier=earlier, system=system or None,
    )


def _require(record: dict[str, Any], field: str, where: str) -> str:
    value = record.get(field)
    if not isinstance(value, str) or not value:
        raise CorpusFormatError(f"{where}: field {field!r} must be a non-empty string, got {value!r}")
    return value


def read_corpus_jsonl(path: Path) -> list[SupervisedExample]:
    examples = []
    with open_regular(path) as handle:
        for number, raw in enumerate(handle, start=1):
            where = f"{path}: line {number}"
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as error:
                raise CorpusFormatError(f"{where}: not UTF-8 text ({error.reason})") from None
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as error:
                raise CorpusFormatError(f"{where}: invalid JSON ({error.msg})") from None
            if not isinstance(record, dict):
                raise CorpusFormatError(f"{where}: a record must be a JSON object")
            status = record.get("status", "accepted")
            if status not in ("accepted", "rejected"):
                raise CorpusFormatError(f"{where}: status must be 'accepted' or 'rejected', got {status!r}")
            if status != "accepted":
                continue
            if record.get("kind") == "conversation":
                messages = record.get("messages")
                if not isinstance(messages, list) or len(messages) % 2 or not all(
                    isinstance(m, dict) and m.get("role") == role and isinstance(m.get("content"), str)
                    for m, role in zip(messages, ["user", "assistant"] * len(messages), strict=False)
                ):
                    raise CorpusFormatError(f"{where}: 'messages' must alternate user and assistant turns with text")
                images = record.get("image_paths")
                if not isinstance(images, list) or not all(isinstance(i, str) and i for i in images):
                    raise CorpusFormatError(f"{where}: field 'image_paths' must be a list of image paths")
                exchanges = [(q["content"], a["content"]) for q, a in zip(messages[::2], messages[1::2], strict=True)]
                examples.append(_conversation_example(exchanges, images, record.get("system"), where))
                continue
            examples.append(
                SupervisedExample(
                    image_paths=(_require(record, "image_path", where),),
                    question=_require(record, "question", where),
                    answer=_require(record, "answer", where),
                    source="corpus",
                    task=record.get("aspect"),
                )
            )
    return examples


def read_sharegpt(path: Path) -> list[SupervisedExample]:
    try:
        data = json.loads(read_regular_text(path))
    except UnicodeDecodeError as error:
        raise CorpusFormatError(f"{path}: not UTF-8 text ({error.reason} at byte {error.start})") from None
    except json.JSONDecodeError as error:
        raise CorpusFormatError(f"{path}: invalid JSON (line {error.lineno}: {error.msg})") from None
    if not isinstance(data, list):
        raise CorpusFormatError(f"{path}: a ShareGPT file must hold a JSON list of conversations")
    examples = []
    for index, record in enumerate(data):
        where = f"{path}: conversation {index}"
        if not isinstance(record, dict) or not isinstance(record.get("conversations"), list):
            raise CorpusFormatError(f"{where}: needs a 'conversations' list")
        images = record.get("images", [])
        if not isinstance(images, list) or not all(isinstance(i, str) for i in images):
            raise CorpusFormatError(f"{where}: 'images' must be a list of paths")
        turns = record["conversations"]
        system = record.get("system") if isinstance(record.get("system"), str) else None
        if turns and turns[0].get("from") == "system":
            system, turns = _require(turns[0], "value", f"{where} turn 0"), turns[1:]
        if len(turns) % 2:
            raise CorpusFormatError(f"{where}: turns must alternate human/gpt, got {len(turns)} turns")
        exchanges = []
        for turn_index in range(0, len(turns), 2):
            human, gpt = turns[turn_index], turns[turn_index + 1]
            if human.get("from") != "human" or gpt.get("from") != "gpt":
                raise CorpusFormatError(
                    f"{where}: turn {turn_index} must be from 'human' then 'gpt', "
                    f"got {human.get('from')!r} then {gpt.get('from')!r}"
                )
            exchanges.append((_require(human, "value", f"{where} turn {turn_index}"),
                              _require(gpt, "value", f"{where} turn {turn_index + 1}")))
        if len(exchanges) > 1 or system:
            examples.append(_conversation_example(exchanges, images, system, where))
            continue
        for question, answer in exchanges:
            text, tags = strip_image_tags(question)
            if tags != len(images):
                raise CorpusFormatError(f"{where}: {tags} <image> tags but {len(images)} images")
            examples.append(SupervisedExample(image_paths=tuple(images), question=text, answer=answer, source="corpus"))
    return examples


def read_corpus(path: Path) -> list[SupervisedExample]:
    """Examples of a corpus file: ``.jsonl`` (faceaudit corpus) or ``.json`` (ShareGPT)."""
    path = Path(path)
    if not path.exists():  # anything else that is no regular file is refused by name when opened
        raise FileNotFoundError(f"corpus not found: {path}")
    if path.suffix == ".jsonl":
        return read_corpus_jsonl(path)
    if path.suffix == ".json":
        return read_sharegpt(path)
    raise CorpusFormatError(f"{path}: unknown corpus format; accepted: .jsonl (faceaudit corpus), .json (ShareGPT)")


def mcq_examples(items: Sequence[McqItem], repeats: int = 1) -> list[SupervisedExample]:
    """Multiple-choice items as examples whose answer is the bare option letter."""
    one = [
        SupervisedExample(
            image_paths=tuple(item.image_paths), question=item.prompt(), answer=item.answer,
            source="mcq", task=item.task,
        )
        for item in items
    ]
    return one * repeats


class SupervisedDataset:
    """Map-style dataset encoding examples on access (images are read lazily)."""

    def __init__(self, examples: Sequence[SupervisedExample], processor: Any, image_root: Path, cutoff_len: int):
        self.examples = list(examples)
        self.processor = processor
        self.image_root = Path(image_root)
        self.cutoff_len = cutoff_len

    def __len__(self) -> int:
        return len(self.examples)

    def lengths(self) -> list[int]:
        """Approximate token length of each example, for length-grouped batching: the tokens of
        its texts plus the image tokens (the chat template's few tokens are left out)."""
        tokenizer = getattr(self.processor, "tokenizer", self.processor)
        per_image = int(getattr(self.processor, "image_seq_length", 0) or 0) + 2
        texts = [" ".join(part for pair in example.exchanges for part in pair) + (example.system or "")
                 for example in self.examples]
        ids = tokenizer(texts, add_special_tokens=False)["input_ids"] if texts else []
        return [len(row) + per_image * len(example.image_paths) for row, example in zip(ids, self.examples, strict=True)]

    def __getitem__(self, index: int) -> dict[str, Any]:
        example = self.examples[index]
        images = load_images(example.image_paths, root=self.image_root)
        if example.conversation:
            return encode_conversation(
                self.processor, images, example.exchanges, system=example.system, max_length=self.cutoff_len
            )
        return encode_prompt(
            self.processor, images, example.question, answer=example.answer, max_length=self.cutoff_len
        )


class FastSupervisedDataset(SupervisedDataset):
    """The fast path's dataset (:mod:`faceaudit.train.fast`): each example is tokenized once
    (kept for later epochs) and an image whose vision features are in ``feature_cache`` is
    neither decoded nor preprocessed again. Items carry ``image_keys`` (the resolved image
    paths, in prompt order) and ``pixel_values`` only for the images not yet cached, with
    their keys in ``pixel_keys``."""

    def __init__(
        self,
        examples: Sequence[SupervisedExample],
        processor: Any,
        image_root: Path,
        cutoff_len: int,
        feature_cache: Any,
    ):
        super().__init__(examples, processor, image_root, cutoff_len)
        self.feature_cache = feature_cache
        self._text: dict[int, dict[str, Any]] = {}

    def image_keys(self, index: int) -> tuple[str, ...]:
        return tuple(str(self.image_root / path) for path in self.examples[index].image_paths)

    def __getitem__(self, index: int) -> dict[str, Any]:
        keys = self.image_keys(index)
        missing = [key for key in keys if key not in self.feature_cache]
        text = self._text.get(index)
        item: dict[str, Any] = {"image_keys": keys, "pixel_keys": ()}
        if text is None or missing:
            encoded = super().__getitem__(index)
            pixels = encoded.pop("pixel_values", None)
            if keys and (pixels is None or pixels.shape[0] != len(keys)):
                raise ValueError(
                    f"training fast path: {len(keys)} image(s) became "
                    f"{0 if pixels is None else pixels.shape[0]} tiles; it needs one tile per image "
                    "(set the recipe's fast_path: false for a tiling processor)"
                )
            text = self._text.setdefault(index, encoded)
            if missing:
                rows = [keys.index(key) for key in dict.fromkeys(missing)]
                item["pixel_keys"] = tuple(keys[row] for row in rows)
                item["pixel_values"] = pixels[rows]
        item.update(text)
        return item


class FastCollator:
    """Right-pads the fast path's items; pixels of an image needed twice in a batch go once."""

    def __init__(self, pad_token_id: int):
        self.pad_token_id = pad_token_id

    def __call__(self, examples: list[dict[str, Any]]) -> dict[str, Any]:
        import torch

        text = [{k: v for k, v in example.items() if k in ("input_ids", "attention_mask", "labels")}
                for example in examples]
        batch = pad_batch(text, self.pad_token_id, padding_side="right")
        batch["image_keys"] = [example["image_keys"] for example in examples]
        pixel_keys: list[str] = []
        pixels = []
        for example in examples:
            for row, key in enumerate(example["pixel_keys"]):
                if key not in pixel_keys:
                    pixel_keys.append(key)
                    pixels.append(example["pixel_values"][row])
        batch["pixel_keys"] = tuple(pixel_keys)
        if pixels:
            batch["pixel_values"] = torch.stack(pixels)
        return batch


class SupervisedCollator:
    """Right-pads encoded examples into one training batch."""

    def __init__(self, pad_token_id: int):
        self.pad_token_id = pad_token_id

    def __call__(self, examples: list[dict[str, Any]]) -> dict[str, Any]:
        return pad_batch(examples, self.pad_token_id, padding_side="right")
