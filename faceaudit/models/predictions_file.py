"""Answers produced elsewhere: audit a model without running it.

The file is CSV or JSONL with one row per item: ``item_id`` and ``prediction``
(an option letter, or the model's raw text, which is parsed like any generated
answer). An optional ``option_probs`` (a JSON list in CSV, a list in JSONL)
enables scoring mode. The file must answer every item asked and nothing else:
a missing or unknown ``item_id`` is an error naming it, because a silently
dropped item would bias the per-group numbers.
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Any

from faceaudit.data.records import McqItem
from faceaudit.errors import InputError
from faceaudit.models.base import ScoringUnavailable
from faceaudit.schema.run import ModelIdentity
from faceaudit.store import open_regular, read_jsonl, sha256_file

_TEXT_COLUMNS = ("prediction", "predicted", "answer")


def _rows(path: Path) -> list[tuple[int, dict[str, Any]]]:
    """The file's rows; every malformed file is an :class:`InputError` naming it (and the row)."""
    suffix = path.suffix.lower()
    try:
        if suffix == ".csv":
            return _csv_rows(path)
        if suffix in (".jsonl", ".ndjson"):
            rows = []
            for number, record in enumerate(read_jsonl(path), start=1):
                if not isinstance(record, dict):
                    raise InputError(f"{path}: line {number}: expected a JSON object per line")
                rows.append((number, record))
            return rows
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}: line {exc.lineno}: not valid JSON ({exc.msg})") from None
    raise InputError(f"{path}: unsupported predictions file type {suffix!r} (accepted: .csv, .jsonl)")


def _csv_rows(path: Path) -> list[tuple[int, dict[str, Any]]]:
    # Not the label files' strict reader: a raw generated answer may hold line breaks.
    with open_regular(path, "r", encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle, strict=True)
        try:
            columns = reader.fieldnames or []
            repeated = sorted({c for c in columns if columns.count(c) > 1})
            if repeated:
                raise InputError(f"{path}: row 1: column(s) {', '.join(map(repr, repeated))} appear twice")
            rows = []
            for number, row in enumerate(reader, start=2):
                if None in row:
                    raise InputError(f"{path}: row {number}: more cells than the header has columns")
                rows.append((number, dict(row)))
            return rows
        except csv.Error as exc:
            raise InputError(f"{path}: row {reader.line_num}: malformed CSV ({exc})") from None


def _parse_probs(value: Any, path: Path, where: str) -> list[float] | None:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            raise InputError(f"{path}: {where}: option_probs is not a JSON list: {value!r}") from None
    if not isinstance(value, list) or not all(isinstance(p, (int, float)) for p in value):
        raise InputError(f"{path}: {where}: option_probs must be a list of numbers, got {value!r}")
    if any(p < 0 for p in value) or not math.isclose(sum(value), 1.0, abs_tol=1e-3):
        raise InputError(f"{path}: {where}: option_probs must be non-negative and sum to 1, got {value}")
    return [float(p) for p in value]


class PredictionsFileModel:
    """A ``FaceModel`` that looks answers up in a file instead of computing them."""

    def __init__(self, path: str | Path, *, name: str | None = None) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(f"predictions file {self.path} does not exist")
        self.name = name or f"predictions:{self.path.name}"
        self.identity = ModelIdentity(name=name or self.path.name, backend="predictions",
                                      source=str(self.path), sha256=sha256_file(self.path))
        rows = _rows(self.path)
        if not rows:
            raise InputError(f"{self.path}: no predictions in the file")
        columns = set(rows[0][1])
        if "item_id" not in columns:
            raise InputError(f"{self.path}: no 'item_id' column (columns: {sorted(columns)})")
        text_column = next((c for c in _TEXT_COLUMNS if c in columns), None)
        if text_column is None:
            raise InputError(
                f"{self.path}: no answer column; accepted names: {', '.join(_TEXT_COLUMNS)} "
                f"(columns: {sorted(columns)})"
            )
        where_of = "row" if self.path.suffix.lower() == ".csv" else "line"
        self.texts: dict[str, str] = {}
        self.probs: dict[str, list[float] | None] = {}
        first_seen: dict[str, int] = {}
        for number, row in rows:
            item_id = str(row.get("item_id") or "").strip()
            where = f"{where_of} {number}"
            if not item_id:
                raise InputError(f"{self.path}: {where}: empty item_id")
            if item_id in first_seen:
                raise InputError(
                    f"{self.path}: {where}: item_id {item_id!r} appears twice "
                    f"(first at {where_of} {first_seen[item_id]})"
                )
            first_seen[item_id] = number
            text = row.get(text_column)
            self.texts[item_id] = "" if text is None else str(text)
            self.probs[item_id] = _parse_probs(row.get("option_probs"), self.path, where)

    def validate_items(self, items: list[McqItem]) -> None:
        """Every item answered, every answer asked for; option_probs sized like the options."""
        wanted = {item.item_id for item in items}
        missing = sorted(wanted - self.texts.keys())
        unknown = sorted(self.texts.keys() - wanted)
        if missing:
            raise InputError(
                f"{self.path}: no prediction for {len(missing)} of {len(wanted)} items "
                f"(first: {', '.join(map(repr, missing[:5]))})"
            )
        if unknown:
            raise InputError(
                f"{self.path}: {len(unknown)} predictions for unknown item_ids, not in the "
                f"evaluated items (first: {', '.join(map(repr, unknown[:5]))}); "
                "is this file from another item set?"
            )
        for item in items:
            probs = self.probs[item.item_id]
            if probs is not None and len(probs) != len(item.options):
                raise InputError(
                    f"{self.path}: item {item.item_id!r}: {len(probs)} option_probs for "
                    f"{len(item.options)} options"
                )

    def prepare(self, batch: list[McqItem], image_root: str | Path) -> None:
        return None

    def _lookup(self, item: McqItem) -> str:
        try:
            return self.texts[item.item_id]
        except KeyError:
            raise KeyError(f"{self.path}: no prediction for item {item.item_id!r}") from None

    def score_options(self, batch: list[McqItem], images: object) -> list[list[float]]:
        scores = []
        for item in batch:
            self._lookup(item)
            probs = self.probs[item.item_id]
            if probs is None:
                raise ScoringUnavailable(
                    f"{self.path}: item {item.item_id!r} has no option_probs; "
                    "use mode 'generation' to read the letter answers"
                )
            if len(probs) != len(item.options):
                raise InputError(
                    f"{self.path}: item {item.item_id!r}: {len(probs)} option_probs for "
                    f"{len(item.options)} options"
                )
            scores.append([math.log(p) if p > 0 else -math.inf for p in probs])
        return scores

    def generate(self, batch: list[McqItem], images: object, max_new_tokens: int) -> list[str]:
        return [self._lookup(item) for item in batch]
