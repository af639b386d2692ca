"""A corpus joined to its faces' labels: the one input every scanner reads.

The corpus is a JSONL file from ``faceaudit generate`` (accepted pairs only: the
rejected ones never reach training) or a ShareGPT/FairFaceGPT JSON file. Labels
come from the dataset records (in a run) or a label file (a FairFace label CSV,
or a CSV/JSONL manifest with an ``id`` column), joined on the image id.
"""

from __future__ import annotations

import csv
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from faceaudit.corpus.labels import LabelView, label_view
from faceaudit.errors import InputError
from faceaudit.scan.tokens import Tokens, tokenize
from faceaudit.store import open_regular, read_jsonl

try:
    from orjson import loads as _loads
except ImportError:  # pragma: no cover - orjson is a dependency; the stdlib is the fallback
    from json import loads as _loads  # type: ignore[assignment]

INTERSECTION = " × "


@dataclass
class GroupColumn:
    """One sensitive attribute (or intersection): a group code per image, -1 when unlabelled."""

    attribute: str
    names: list[str]
    of_image: np.ndarray  # int32 per image

    def key(self, code: int) -> str:
        return f"{self.attribute}={self.names[code]}"


@dataclass
class ScanCorpus:
    keys: list[str]
    answers: list[str]
    questions: list[str]
    aspects: list[str]
    aspect: np.ndarray  # int16 code per pair
    image_ids: list[str]
    image: np.ndarray  # int32 image code per pair
    labels: list[LabelView]  # per image
    raw_labels: list[dict[str, str]]  # per image
    columns: list[GroupColumn]  # marginal attributes first, then the intersection
    corpus_path: str = ""
    n_rejected: int = 0
    _tokens: Tokens | None = field(default=None, repr=False)

    @property
    def n_pairs(self) -> int:
        return len(self.answers)

    @property
    def n_images(self) -> int:
        return len(self.image_ids)

    @property
    def tokens(self) -> Tokens:
        if self._tokens is None:
            self._tokens = tokenize(self.answers)
        return self._tokens

    def group_of_pair(self, column: GroupColumn) -> np.ndarray:
        return column.of_image[self.image]

    @cached_property
    def labelled_pairs(self) -> np.ndarray:
        """Pairs whose image has every scanned attribute's label."""
        ok = np.ones(self.n_images, dtype=bool)
        for column in self.columns:
            ok &= column.of_image >= 0
        return ok[self.image]

    def pair_labels(self, i: int) -> str:
        raw = self.raw_labels[self.image[i]]
        return ", ".join(f"{k}={v}" for k, v in sorted(raw.items()))


@dataclass
class PairColumns:
    """The fields of the accepted pairs that the scan reads, one list per field."""

    keys: list[str | None] = field(default_factory=list)
    image_ids: list[str] = field(default_factory=list)
    aspects: list[str] = field(default_factory=list)
    questions: list[str | None] = field(default_factory=list)
    answers: list[str] = field(default_factory=list)
    n_rejected: int = 0

    def add(self, records: Sequence[Mapping[str, Any]], where: Callable[[int], str]) -> None:
        accepted = [r for r in records if r.get("status", "accepted") == "accepted"]
        self.n_rejected += len(records) - len(accepted)
        if any(r.get("kind") == CONVERSATION for r in accepted):
            accepted = [p for r in accepted for p in _conversation_pairs(r)]
        for name, target in (("image_id", self.image_ids), ("aspect", self.aspects), ("answer", self.answers)):
            values = [r.get(name) for r in accepted]
            if not all(type(v) is str for v in values):
                bad = next(i for i, v in enumerate(values) if type(v) is not str)
                index = records.index(accepted[bad])
                raise InputError(f"{where(index)}: field {name!r} must be a string")
            target.extend(values)
        self.keys.extend(r.get("key") for r in accepted)
        self.questions.extend(r.get("question") for r in accepted)


CONVERSATION = "conversation"


def _conversation_pairs(record: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """An imported multi-turn conversation (``kind: "conversation"``) as one pair per assistant
    turn, aspect "conversation"; any other record as itself."""
    if record.get("kind") != CONVERSATION:
        return [record]
    pairs: list[Mapping[str, Any]] = []
    question = ""
    for n, message in enumerate(record.get("messages") or []):
        if not isinstance(message, dict):
            continue
        if message.get("role") == "user":
            question = str(message.get("content") or "")
        elif message.get("role") == "assistant":
            pairs.append({"key": f"{record.get('key')}#{n}", "image_id": record.get("image_id"),
                          "aspect": CONVERSATION, "question": question,
                          "answer": message.get("content")})
    return pairs


_LINES_PER_CHUNK = 20_000


def read_pair_columns(path: str | Path) -> PairColumns:
    """The accepted pairs of a corpus JSONL or ShareGPT JSON file, as columns.

    JSONL is parsed 20,000 lines at a time with one orjson call each: a million
    generator records (timestamps and all) never sit in memory as dicts together,
    and the per-record Python work is a few list comprehensions.
    """
    path = Path(path)
    if not path.exists():  # a FIFO or a folder is refused by name when opened
        raise FileNotFoundError(f"corpus {path} does not exist")
    if path.suffix.lower() == ".json":
        from faceaudit.corpus.sharegpt import import_sharegpt

        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "corpus.jsonl"
            import_sharegpt(path, out)
            return read_pair_columns(out)
    columns = PairColumns()

    def where(number: int) -> str:
        return f"{path}: line {number}"

    with open_regular(path) as handle:
        number = 0
        while True:
            lines, numbers = [], []
            for line in handle:
                number += 1
                if line.strip():
                    lines.append(line)
                    numbers.append(number)
                    if len(lines) == _LINES_PER_CHUNK:
                        break
            if not lines:
                return columns
            columns.add(_parse_lines(lines, numbers, where), lambda i, at=numbers: where(at[i]))


def _parse_lines(
    lines: list[bytes], numbers: list[int], where: Callable[[int], str]
) -> list[dict[str, Any]]:
    try:
        records = _loads(b"[" + b",".join(lines) + b"]")
    except ValueError:
        records = None  # find the line to blame
    if records is None or not all(type(r) is dict for r in records):
        for line, number in zip(lines, numbers, strict=True):
            try:
                record = _loads(line)
            except ValueError as error:
                raise InputError(f"{where(number)}: invalid JSON ({error})") from None
            if type(record) is not dict:
                raise InputError(f"{where(number)}: a corpus record must be a JSON object")
    return records  # type: ignore[return-value]


def read_corpus(path: str | Path) -> tuple[list[dict[str, Any]], int]:
    """The accepted pairs of a corpus file as a list of small dicts, and how many were rejected."""
    c = read_pair_columns(path)
    pairs = [
        {"key": k, "image_id": i, "aspect": a, "question": q, "answer": t}
        for k, i, a, q, t in zip(c.keys, c.image_ids, c.aspects, c.questions, c.answers, strict=True)
    ]
    return pairs, c.n_rejected


def read_labels(path: str | Path) -> dict[str, dict[str, str]]:
    """Labels per image id from a FairFace label CSV (``file`` column) or a manifest."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"label file {path} does not exist")
    if path.suffix.lower() == ".jsonl":
        rows = list(read_jsonl(path))
    else:
        with open_regular(path, "r", encoding="utf-8-sig", newline="") as handle:
            rows = list(csv.DictReader(handle))
    labels: dict[str, dict[str, str]] = {}
    for number, row in enumerate(rows, start=2):
        attributes = row.get("attributes") if isinstance(row.get("attributes"), dict) else None
        image_id = row.get("id") or row.get("image_id")
        if image_id is None and row.get("file"):
            image_id = str(row["file"]).rsplit(".", 1)[0]  # FairFace: val/1.jpg -> val/1
        if not image_id:
            raise InputError(
                f"{path}: row {number}: no image id; expected an 'id', 'image_id' or 'file' column"
            )
        skip = {"id", "image_id", "file", "image_path", "split", "service_test", "attributes"}
        values = attributes or {k: v for k, v in row.items() if k not in skip}
        labels[str(image_id)] = {str(k): str(v) for k, v in values.items() if v not in (None, "")}
    return labels


def build_scan_corpus(
    pairs: Iterable[Mapping[str, Any]] | PairColumns,
    labels: Mapping[str, Mapping[str, str]],
    attributes: Sequence[str],
    *,
    intersections: bool = True,
    corpus_path: str = "",
) -> ScanCorpus:
    """Join pairs (mappings with image_id, aspect, answer; key and question optional) to labels."""
    if isinstance(pairs, PairColumns):
        c = pairs
    else:
        c = PairColumns()
        records = list(pairs)
        c.add(records, lambda i: f"pair {i}")
    image, image_ids = pd.factorize(np.asarray(c.image_ids, dtype=object), sort=False)
    aspect, aspects = pd.factorize(np.asarray(c.aspects, dtype=object), sort=False)
    asked, distinct = pd.factorize(np.asarray([q or "" for q in c.questions], dtype=object), sort=False)
    keys = [k or f"{i}:{a}" for k, i, a in zip(c.keys, c.image_ids, c.aspects, strict=True)]
    image_ids = [str(i) for i in image_ids]
    raw = [dict(_labels_of(labels, image_id)) for image_id in image_ids]
    columns = [_column(name, [r.get(name) for r in raw]) for name in attributes]
    if intersections and len(columns) > 1:
        columns.append(_intersection(columns))
    views: dict[tuple[tuple[str, str], ...], LabelView] = {}  # a few hundred label combinations
    return ScanCorpus(
        keys=keys,
        answers=c.answers,
        questions=[distinct[q] for q in asked.tolist()],
        aspects=[str(a) for a in aspects],
        aspect=aspect.astype(np.int16),
        image_ids=image_ids,
        image=image.astype(np.int32),
        labels=[_view(r, views) for r in raw],
        raw_labels=raw,
        columns=columns,
        corpus_path=corpus_path,
        n_rejected=c.n_rejected,
    )


def _labels_of(labels: Mapping[str, Mapping[str, str]], image_id: str) -> Mapping[str, str]:
    """The labels of ``image_id``, or of its longest path suffix that has labels: a corpus made
    elsewhere names "fairface/val/1" what the FairFace label CSV calls "val/1"."""
    found = labels.get(image_id)
    parts = image_id.split("/")
    for k in range(1, len(parts)):
        if found is not None:
            break
        found = labels.get("/".join(parts[k:]))
    return found or {}


def _view(raw: dict[str, str], cache: dict[tuple[tuple[str, str], ...], LabelView]) -> LabelView:
    key = tuple(sorted(raw.items()))
    view = cache.get(key)
    if view is None:
        view = cache[key] = label_view(raw)
    return view


def _column(attribute: str, values: Iterable[str | None]) -> GroupColumn:
    values = list(values)
    names = sorted({v for v in values if v})
    code = {name: i for i, name in enumerate(names)}
    of_image = np.array([code.get(v, -1) if v else -1 for v in values], dtype=np.int32)
    return GroupColumn(attribute, names, of_image)


def _intersection(columns: Sequence[GroupColumn]) -> GroupColumn:
    attribute = INTERSECTION.join(c.attribute for c in columns)
    parts = np.stack([c.of_image for c in columns])
    labelled = (parts >= 0).all(axis=0)
    values = [
        INTERSECTION.join(c.names[p] for c, p in zip(columns, parts[:, i], strict=True)) if labelled[i] else None
        for i in range(parts.shape[1])
    ]
    return _column(attribute, values)


def load_scan_corpus(
    corpus: str | Path,
    labels: Mapping[str, Mapping[str, str]],
    attributes: Sequence[str],
    *,
    intersections: bool = True,
) -> ScanCorpus:
    return build_scan_corpus(
        read_pair_columns(corpus), labels, attributes, intersections=intersections,
        corpus_path=str(corpus),
    )


