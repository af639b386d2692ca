"""Strict reading of a label CSV: the file's structure is either sound or refused, by row and field.

The stdlib reader is lenient where a label file must not be: a stray ``"`` opens a quoted
cell that silently swallows every following row up to the next quote (a 1,000-row file read
as 2 records), a repeated header name keeps only its last column, and a U+2028 or ``\\r``
splits what ``str.splitlines`` thinks is a line. Here:

- the file must be a regular file (a FIFO would block the reader forever) and UTF-8
  (a byte-order mark is allowed); a bad byte is reported with its row;
- quoting is strict (``"a"b`` is an error), and no record may span lines: no label or
  image path legitimately holds a line break, while a stray quote always produces one;
- header names must be distinct;
- records are split on ``\\n``/``\\r\\n``/``\\r`` only (U+2028 stays inside its cell, where
  the builder rejects it as a hidden character).

Rows come back as DictReader would shape them (extra cells under the key ``None``, missing
cells as ``None``), numbered by the line they start on.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from faceaudit.data.dataset import DatasetError
from faceaudit.errors import InputError
from faceaudit.store import read_regular_bytes
from faceaudit.textsafe import hidden_characters

CsvRow = tuple[int, dict]


def read_label_bytes(path: Path) -> bytes:
    try:
        return read_regular_bytes(path)
    except FileNotFoundError:
        raise DatasetError(f"{path}: the file does not exist") from None
    except InputError as exc:
        raise DatasetError(str(exc)) from None
    except OSError as exc:
        raise DatasetError(f"{path}: cannot be read ({exc.strerror or exc})") from None


def decode_utf8(path: Path, data: bytes) -> str:
    """``data`` as text (a UTF-8 byte-order mark dropped); a bad byte is named with its line."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise DatasetError(
            f"{path}, row {line}: not UTF-8 text ({exc.reason} at byte {exc.start}); "
            "save the file as UTF-8 (a spreadsheet's 'CSV UTF-8')"
        ) from None


def read_csv_rows(path: Path, *, delimiter: str = ",") -> tuple[list[str], list[CsvRow]]:
    """The stripped header names and the rows of the CSV at ``path`` (see the module doc)."""
    text = decode_utf8(path, read_label_bytes(path))
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    rows: list[CsvRow] = []
    columns: list[str] | None = None
    end = 0
    while True:
        start = end + 1
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            raise DatasetError(
                f"{path}, row {start}: malformed CSV ({exc}); check the quotes on that line: "
                'a quote inside a cell must be doubled ("")'
            ) from None
        end = reader.line_num
        if end > start:
            field = _field_with_break(cells, columns)
            raise DatasetError(
                f"{path}, row {start}" + (f", field {field!r}" if field else "")
                + f": a quoted cell runs over {end - start + 1} lines (to line {end}); a stray "
                '" opens a cell that swallows the rows after it. Remove the stray quote; labels '
                "and image paths cannot hold line breaks"
            )
        if columns is None:
            columns = [c.strip() for c in cells]
            _check_header(path, columns)
            continue
        if not cells:
            continue  # a blank line
        row: dict = dict(zip(columns, cells, strict=False))
        if len(cells) > len(columns):
            row[None] = cells[len(columns):]
        for name in columns[len(cells):]:
            row[name] = None
        rows.append((start, row))
    return columns or [], rows


def _field_with_break(cells: list[str], columns: list[str] | None) -> str | None:
    for index, cell in enumerate(cells):
        if "\n" in cell or "\r" in cell:
            if columns is None:
                return f"header column {index + 1}"
            return columns[index] if index < len(columns) else f"column {index + 1}"
    return None


def _check_header(path: Path, columns: list[str]) -> None:
    seen: dict[str, int] = {}
    for index, name in enumerate(columns, start=1):
        hidden = hidden_characters(name)
        if hidden:
            raise DatasetError(
                f"{path}, row 1: header column {index} holds hidden character(s) {', '.join(hidden)}"
            )
        if name in seen:
            raise DatasetError(
                f"{path}, row 1: column {name!r} appears twice in the header (columns {seen[name]} "
                f"and {index}); which one holds the labels is ambiguous. Rename or remove one"
            )
        seen[name] = index
