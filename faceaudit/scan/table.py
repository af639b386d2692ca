"""A corpus joined to its faces' labels: the one input every scanner reads.

The corpus is a JSONL file from ``faceaudit generate`` (accepted pairs only: the
rejected ones never reach training) or a ShareGPT/FairFaceGPT JSON file. Labels
come from the dataset records (in a run) or a label file (a FairFace label CSV,
or a CSV/JSONL manifest with an ``id`` column), joined on the image id.
"""

from __future__ import annotations

import csv
import tempfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from faceaudit.corpus.labels import LabelView, label_view
from faceaudit.scan.tokens import Tokens, tokenize
from faceaudit.store import read_jsonl

try:
    from orjson import loads as _loads
except ImportError:  # pragma: no cover - orjson is a dependency; the stdlib is the fallback
    from json import loads as _loads

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


class CorpusReader:
    """The accepted pairs of a corpus JSONL or ShareGPT JSON file, one at a time.

    Records are streamed (a million generator records with timestamps would not fit
    in memory as dicts); ``n_rejected`` is complete once the reader is exhausted.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(f"corpus {self.path} does not exist")
        self.n_rejected = 0

    def __iter__(self) -> Iterator[dict[str, Any]]:
        if self.path.suffix.lower() == ".json":
            from faceaudit.corpus.sharegpt import import_sharegpt

            with tempfile.TemporaryDirectory() as tmp:
                out = Path(tmp) / "corpus.jsonl"
                import_sharegpt(self.path, out)
                yield from self._jsonl(out)
        else:
            yield from self._jsonl(self.path)

    def _jsonl(self, path: Path) -> Iterator[dict[str, Any]]:
        for number, record in _read_jsonl_fast(path):
            if record.get("status", "accepted") != "accepted":
                self.n_rejected += 1
                continue
            for name in ("image_id", "aspect", "answer"):
                if not isinstance(record.get(name), str):
                    raise ValueError(f"{self.path}: line {number}: field {name!r} must be a string")
            yield record


def _read_jsonl_fast(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, record) of a JSONL file; orjson parses a million generator records in
    a third of the time the standard library needs (reading is a third of a full scan)."""
    with path.open("rb") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = _loads(line)
            except ValueError as error:
                raise ValueError(f"{path}: line {number}: invalid JSON ({error})") from None
            if not isinstance(record, dict):
                raise ValueError(f"{path}: line {number}: a corpus record must be a JSON object")
            yield number, record


def read_corpus(path: str | Path) -> tuple[list[dict[str, Any]], int]:
    """The accepted pairs of a corpus file as a list (small corpora), and how many were rejected."""
    reader = CorpusReader(path)
    pairs = list(reader)
    return pairs, reader.n_rejected


def read_labels(path: str | Path) -> dict[str, dict[str, str]]:
    """Labels per image id from a FairFace label CSV (``file`` column) or a manifest."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"label file {path} does not exist")
    if path.suffix.lower() == ".jsonl":
        rows = list(read_jsonl(path))
    else:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            rows = list(csv.DictReader(handle))
    labels: dict[str, dict[str, str]] = {}
    for number, row in enumerate(rows, start=2):
        attributes = row.get("attributes") if isinstance(row.get("attributes"), dict) else None
        image_id = row.get("id") or row.get("image_id")
        if image_id is None and row.get("file"):
            image_id = str(row["file"]).rsplit(".", 1)[0]  # FairFace: val/1.jpg -> val/1
        if not image_id:
            raise ValueError(
                f"{path}: row {number}: no image id; expected an 'id', 'image_id' or 'file' column"
            )
        skip = {"id", "image_id", "file", "image_path", "split", "service_test", "attributes"}
        values = attributes or {k: v for k, v in row.items() if k not in skip}
        labels[str(image_id)] = {str(k): str(v) for k, v in values.items() if v not in (None, "")}
    return labels


def build_scan_corpus(
    pairs: Iterable[Mapping[str, Any]],
    labels: Mapping[str, Mapping[str, str]],
    attributes: Sequence[str],
    *,
    intersections: bool = True,
    corpus_path: str = "",
    n_rejected: int = 0,
) -> ScanCorpus:
    """Join pairs to labels and code every sensitive attribute per image."""
    image_index: dict[str, int] = {}
    aspect_index: dict[str, int] = {}
    asked: dict[str, str] = {}  # a handful of distinct questions: keep one copy of each
    images: list[int] = []
    aspects: list[int] = []
    keys, answers, questions = [], [], []
    for pair in pairs:
        images.append(image_index.setdefault(pair["image_id"], len(image_index)))
        aspects.append(aspect_index.setdefault(pair["aspect"], len(aspect_index)))
        keys.append(pair.get("key") or f"{pair['image_id']}:{pair['aspect']}")
        answers.append(pair["answer"])
        question = pair.get("question") or ""
        questions.append(asked.setdefault(question, question))
    image = np.asarray(images, dtype=np.int32)
    aspect = np.asarray(aspects, dtype=np.int16)
    image_ids = list(image_index)
    raw = [dict(labels.get(image_id, {})) for image_id in image_ids]
    columns = [_column(name, [r.get(name) for r in raw]) for name in attributes]
    if intersections and len(columns) > 1:
        columns.append(_intersection(columns))
    return ScanCorpus(
        keys=keys,
        answers=answers,
        questions=questions,
        aspects=list(aspect_index),
        aspect=aspect,
        image_ids=image_ids,
        image=image,
        labels=[label_view(r) for r in raw],
        raw_labels=raw,
        columns=columns,
        corpus_path=corpus_path,
        n_rejected=n_rejected,
    )


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
        INTERSECTION.join(c.names[p] for c, p in zip(columns, parts[:, i])) if labelled[i] else None
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
    reader = CorpusReader(corpus)
    scan_corpus = build_scan_corpus(
        reader, labels, attributes, intersections=intersections, corpus_path=str(corpus)
    )
    scan_corpus.n_rejected = reader.n_rejected
    return scan_corpus


