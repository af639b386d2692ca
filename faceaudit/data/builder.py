"""Building a :class:`Dataset` from labelled rows: label matching, checks, the builder.

Every dataset kind's loader (FairFace, manifest) feeds rows through :class:`DatasetBuilder`;
:func:`faceaudit.data.loaders.load_dataset` picks the loader. Kept apart from ``loaders`` so
the loaders depend on this module and ``loaders`` on them, never in a circle.
"""

from __future__ import annotations

import difflib
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from faceaudit.data.dataset import DataIssue, Dataset, DatasetError, resolve_in_root
from faceaudit.data.images import DEFAULT_MAX_PIXELS, check_images
from faceaudit.data.records import FaceRecord
from faceaudit.textsafe import hidden_characters, visible

_MONTHS = {
    name: number
    for number, name in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"),
        start=1,
    )
}
_BOOLEANS = {"False", "True"}
# How spreadsheets, pandas and R write a missing value. Read as "no label" (reported as
# missing), never as a group named "nan" -- unless the declared vocabulary lists the value.
MISSING_MARKERS = frozenset({"nan", "<na>", "na", "n/a", "#n/a", "null"})
_DAY_MONTH = re.compile(r"(\d{1,4})[-/ ]([A-Za-z]{3,9})\.?")
_MONTH_DAY = re.compile(r"([A-Za-z]{3,9})\.?[-/ ](\d{1,4})")


def is_missing_value(raw: object) -> bool:
    """True for an empty cell or a missing-value marker (``NaN``, ``NA``, ``#N/A``, ``null``)."""
    text = "" if raw is None else str(raw).strip()
    return not text or text.casefold() in MISSING_MARKERS


def undo_spreadsheet_date(value: str, vocabulary: list[str]) -> str | None:
    """The range label a spreadsheet turned into a date, if ``value`` is one and the range is valid.

    Excel and LibreOffice read ``3-9`` as 9 March (shown ``9-Mar``, or ``03-Sep``
    in day-month locales) and ``10-19`` as 19 October or October 2019
    (``19-Oct``, ``Oct-19``). Both orders of the two numbers are tried and only
    one that is in ``vocabulary`` is accepted, so nothing is invented.
    """
    text = value.strip()
    match = _DAY_MONTH.fullmatch(text)
    if match:
        number, month_name = match.groups()
    else:
        match = _MONTH_DAY.fullmatch(text)
        if not match:
            return None
        month_name, number = match.groups()
    month = _MONTHS.get(month_name[:3].lower())
    if month is None:
        return None
    day = int(number)
    for candidate in (f"{month}-{day}", f"{day}-{month}"):
        if candidate in vocabulary:
            return candidate
    return None


@dataclass(frozen=True)
class LabelMatch:
    label: str | None
    repair: str | None = None
    suggestion: str | None = None


def match_label(value: str, vocabulary: list[str]) -> LabelMatch:
    """Map a raw cell to a vocabulary label, repairing only unambiguous damage."""
    if value in vocabulary:
        return LabelMatch(value)
    stripped = value.strip()
    if stripped in vocabulary:
        return LabelMatch(stripped, "surrounding whitespace removed")
    undated = undo_spreadsheet_date(stripped, vocabulary)
    if undated is not None:
        return LabelMatch(undated, "a spreadsheet had turned the range into a date")
    # Spreadsheets also upper-case booleans (False -> FALSE). Other case differences
    # ('male') are not spreadsheet damage: they are skipped with a suggestion, like any typo.
    if set(vocabulary) == _BOOLEANS and stripped.casefold() in {"true", "false"}:
        return LabelMatch(stripped.capitalize(), "a spreadsheet had upper-cased the boolean")
    return LabelMatch(None, suggestion=closest_label(stripped, vocabulary))


def closest_label(value: str, vocabulary: list[str]) -> str | None:
    by_fold = {label.casefold(): label for label in vocabulary}
    close = difflib.get_close_matches(value.casefold(), list(by_fold), n=1, cutoff=0.5)
    return by_fold[close[0]] if close else None


class DatasetBuilder:
    """Collects records and issues from the rows of one label file.

    Repeated problems (the same mangled label in many rows, the same unknown
    value) are folded into one issue with a count and the first row, so a
    damaged 80,000-row file yields a readable report rather than 80,000 lines.
    """

    def __init__(self, root: Path, source: str | Path, labels: dict[str, list[str]]) -> None:
        self.root = Path(root)
        self.source = str(source)
        self.labels = labels
        self.records: list[FaceRecord] = []
        self.issues: list[DataIssue] = []
        self._rows: dict[str, tuple[str, int]] = {}
        self._repairs: dict[tuple[str, str, str, str, str], list[int]] = {}
        self._unknown: dict[tuple[str, str, str], list[int]] = {}
        self._missing: dict[tuple[str, str, bool], list[int]] = {}
        self._hidden: dict[tuple[str, str, str], list[int]] = {}

    def start_file(self, source: str | Path) -> None:
        """Rows added from now on come from ``source`` (one builder can read several label files)."""
        self.source = str(source)

    def issue(
        self,
        kind: str,
        message: str,
        *,
        row: int | None = None,
        field: str | None = None,
        suggestion: str | None = None,
        skipped: bool = True,
        file: str | None = None,
    ) -> None:
        self.issues.append(
            DataIssue(
                kind=kind,
                file=file or self.source,
                row=row,
                field=field,
                message=message,
                suggestion=suggestion,
                skipped=skipped,
            )
        )

    def label(self, row: int, field: str, raw: object, *, required: bool = True) -> str | None:
        """The validated label of ``field`` in ``row``, or None (the problem is recorded).

        A missing value in a ``required`` field skips the row; in any other field
        the record is kept without that attribute.
        """
        value = "" if raw is None else str(raw)
        vocabulary = self.labels.get(field)
        marker = value.strip().casefold() in MISSING_MARKERS and not (
            vocabulary and value.strip() in vocabulary
        )
        if not value.strip() or marker:
            self._missing.setdefault((self.source, field, required), []).append(row)
            return None
        hidden = hidden_characters(value)
        if hidden:
            # Control characters, line separators, lone surrogates, bidi overrides: never a
            # label, and they would reach every output (terminal, Markdown, XML, charts).
            self._hidden.setdefault((self.source, field, value), []).append(row)
            return None
        if not vocabulary:
            return value.strip()
        match = match_label(value, vocabulary)
        if match.label is None:
            self._unknown.setdefault((self.source, field, value), []).append(row)
            return None
        if match.repair is not None:
            self._repairs.setdefault(
                (self.source, field, value, match.label, match.repair), []
            ).append(row)
        return match.label

    def add(
        self, row: int, record_id: str, image: str, attributes: dict[str, str], split: str | None
    ) -> None:
        for field, text in (("image", image), ("id", record_id)):
            hidden = hidden_characters(text)
            if hidden:
                self.issue(
                    "bad_label",
                    f"{field} '{visible(text)}' holds hidden character(s) {', '.join(hidden)}; "
                    "the row was skipped",
                    row=row,
                    field=field,
                )
                return
        relative, problem = resolve_in_root(self.root, image)
        if relative is None:
            self.issue(
                "path_outside_root",
                f"image {image!r} is {problem}; the row was skipped",
                row=row,
                field="image",
            )
            return
        if record_id in self._rows:
            first_file, first_row = self._rows[record_id]
            where = f"row {first_row}" + ("" if first_file == self.source else f" of {first_file}")
            self.issue(
                "duplicate_id",
                f"id {record_id!r} already used in {where}; this row was skipped (the first one is kept)",
                row=row,
                field="id",
            )
            return
        self._rows[record_id] = (self.source, row)
        self.records.append(
            FaceRecord(id=record_id, image_path=relative, attributes=attributes, split=split)
        )

    def _fold_label_issues(self) -> None:
        for (source, field, raw, fixed, why), rows in self._repairs.items():
            self.issues.append(
                DataIssue(
                    kind="repaired_label",
                    file=source,
                    row=rows[0],
                    field=field,
                    count=len(rows),
                    skipped=False,
                    message=f"{field} {raw!r} read as {fixed!r} ({why}) in {len(rows)} row(s), first row {rows[0]}",
                )
            )
        for (source, field, raw), rows in self._unknown.items():
            accepted = ", ".join(self.labels[field])
            match = match_label(raw, self.labels[field])
            self.issues.append(
                DataIssue(
                    kind="unknown_label",
                    file=source,
                    row=rows[0],
                    field=field,
                    count=len(rows),
                    suggestion=match.suggestion,
                    message=f"unknown {field} label {raw!r} in {len(rows)} row(s), first row {rows[0]}; "
                    f"the row(s) were skipped; accepted: {accepted}",
                )
            )
        for (source, field, raw), rows in self._hidden.items():
            self.issues.append(
                DataIssue(
                    kind="bad_label",
                    file=source,
                    row=rows[0],
                    field=field,
                    count=len(rows),
                    message=f"{field} label '{visible(raw)}' holds hidden character(s) "
                    f"{', '.join(hidden_characters(raw))} (control characters, line separators, lone "
                    f"surrogates or bidirectional overrides) in {len(rows)} row(s), first row "
                    f"{rows[0]}; the row(s) were skipped",
                )
            )
        for (source, field, required), rows in self._missing.items():
            effect = (
                "the row(s) were skipped"
                if required
                else f"the record(s) were kept without {field!r}"
            )
            self.issues.append(
                DataIssue(
                    kind="missing_label",
                    file=source,
                    row=rows[0],
                    field=field,
                    count=len(rows),
                    skipped=required,
                    message=f"empty or missing-value marker (NaN, NA, #N/A, null) in {field} in "
                    f"{len(rows)} row(s), first row {rows[0]}; {effect}",
                )
            )
        self._repairs, self._unknown, self._missing, self._hidden = {}, {}, {}, {}

    def build(
        self,
        *,
        name: str,
        kind: str,
        sensitive_attributes: list[str],
        task_attributes: list[str],
        ordinal: dict[str, list[str]] | None = None,
        check_images: bool = True,
        max_pixels: int = DEFAULT_MAX_PIXELS,
        progress: bool = True,
        extra_issues: list[DataIssue] | None = None,
        free_attributes: list[str] | None = None,
    ) -> Dataset:
        """Check every image (existence always; full decode when ``check_images``) and assemble.

        Every attribute without a declared vocabulary gets the sorted set of its
        observed values, except ``free_attributes`` (measurements, bookkeeping).
        """
        self._fold_label_issues()
        checks = _check(
            self.root, self.records, decode=check_images, max_pixels=max_pixels, progress=progress
        )
        records: list[FaceRecord] = []
        conversions: Counter[str] = Counter()
        hashes: dict[str, str] = {}
        for record in self.records:
            check = checks[record.image_path]
            if not check.ok:
                source, row = self._rows[record.id]
                self.issue(
                    check.error_kind or "unreadable_image",
                    f"image {record.image_path!r} (id {record.id!r}): {check.error}; the record was skipped",
                    row=row,
                    field="image",
                    file=source,
                )
                continue
            records.append(record)
            if check.conversion is not None:
                conversions[check.conversion] += 1
            if check.sha256 is not None:
                hashes[record.image_path] = check.sha256
        if not records:
            details = "; ".join(i.format() for i in self.issues[:5])
            raise DatasetError(
                f"{self.source}: no usable records were found"
                + (
                    f" ({len(self.issues)} problem(s), e.g. {details})"
                    if details
                    else " (the file has no rows)"
                )
            )
        vocabulary = {attr: list(values) for attr, values in self.labels.items()}
        observed_attributes = dict.fromkeys(a for r in records for a in r.attributes)
        for attr in observed_attributes:
            if attr not in vocabulary and attr not in (free_attributes or []):
                vocabulary[attr] = sorted(
                    {r.attributes[attr] for r in records if attr in r.attributes}
                )
        return Dataset(
            name=name,
            kind=kind,
            root=self.root,
            records=records,
            sensitive_attributes=list(sensitive_attributes),
            task_attributes=list(task_attributes),
            ordinal=dict(ordinal or {}),
            labels=vocabulary,
            issues=[*(extra_issues or []), *self.issues],
            conversions=conversions,
            image_sha256=hashes,
        )


def _check(root: Path, records: list[FaceRecord], *, decode: bool, max_pixels: int, progress: bool):
    return check_images(
        root,
        (r.image_path for r in records),
        decode=decode,
        max_pixels=max_pixels,
        progress=progress,
    )
