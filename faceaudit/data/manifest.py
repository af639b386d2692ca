"""A generic labelled face set: a CSV or JSONL manifest of image paths and attribute columns.

Columns (CSV header, or keys of each JSONL object):

- ``image`` (also accepted: ``image_path``, ``path``, ``file``): the image, relative
  to the dataset root (the manifest's folder unless ``root`` is given);
- ``id`` (optional; default: the image path without its extension);
- ``split`` (optional);
- every other column is an attribute (JSONL may also nest them under ``attributes``).

A sidecar ``faceaudit-dataset.yaml`` next to the manifest declares ``name``,
``kind``, ``sensitive_attributes``, ``task_attributes``, ``ordinal`` ({attribute:
labels in order}) and ``labels`` ({attribute: accepted values}); with it, labels
are checked against their vocabulary exactly as FairFace's are.
"""

from __future__ import annotations

import json
from pathlib import Path, PurePosixPath

from pydantic import BaseModel, ConfigDict, ValidationError

from faceaudit.data.builder import DatasetBuilder, is_missing_value
from faceaudit.data.csvfile import decode_utf8, read_csv_rows, read_label_bytes
from faceaudit.data.dataset import DataIssue, Dataset, DatasetError
from faceaudit.data.images import DEFAULT_MAX_PIXELS
from faceaudit.errors import format_validation_errors
from faceaudit.store import read_regular_text
from faceaudit.yaml_io import load_yaml

SIDECAR_NAME = "faceaudit-dataset.yaml"
MANIFEST_NAMES = ("manifest.csv", "manifest.jsonl")
IMAGE_COLUMNS = ("image", "image_path", "path", "file")
RESERVED_COLUMNS = frozenset({"id", "split", *IMAGE_COLUMNS})
# Attribute names that are demographic groups when no sidecar or argument says otherwise.
KNOWN_SENSITIVE = (
    "race",
    "ethnicity",
    "skin_tone",
    "gender",
    "sex",
    "gender_presentation",
    "age",
    "age_band",
)


class DatasetSidecar(BaseModel):
    """The ``faceaudit-dataset.yaml`` that describes a manifest's columns."""

    model_config = ConfigDict(extra="ignore")

    name: str | None = None
    kind: str | None = None
    sensitive_attributes: list[str] | None = None
    task_attributes: list[str] | None = None
    ordinal: dict[str, list[str]] = {}
    labels: dict[str, list[str]] = {}
    # Columns kept on the records but without a vocabulary: measurements (a head tilt in
    # degrees) and bookkeeping (was this label deliberately corrupted). Not counted in summaries.
    numeric_attributes: list[str] = []
    metadata_columns: list[str] = []


def read_sidecar(path: Path) -> DatasetSidecar:
    # Every scalar stays a string: labels such as `yes`/`no` or `1` must stay the strings the
    # manifest holds, not become booleans or integers.
    raw = load_yaml(read_regular_text(path), str(path), DatasetError, strings=True)
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise DatasetError(
            f"{path}: expected a mapping with keys name, kind, sensitive_attributes, ..."
        )
    try:
        sidecar = DatasetSidecar.model_validate(raw)
    except ValidationError as exc:
        raise DatasetError(format_validation_errors(exc.errors(), f"data set sidecar {path}")) from None
    for attr, order in sidecar.ordinal.items():
        vocabulary = sidecar.labels.get(attr)
        if vocabulary is not None and sorted(vocabulary) != sorted(order):
            raise DatasetError(
                f"{path}: ordinal order of {attr!r} ({', '.join(order)}) does not list the same labels as "
                f"labels.{attr} ({', '.join(vocabulary)})"
            )
    return sidecar


def find_manifest(path: Path) -> Path:
    if path.is_dir():
        for name in MANIFEST_NAMES:
            if (path / name).is_file():
                return path / name
        raise DatasetError(f"{path} is a folder without {' or '.join(MANIFEST_NAMES)}")
    if not path.exists():  # a FIFO or device is refused by name when read
        raise DatasetError(f"manifest {path} does not exist")
    return path


def load_manifest(
    path: str | Path,
    *,
    root: str | Path | None = None,
    sensitive_attributes: list[str] | None = None,
    task_attributes: list[str] | None = None,
    labels: dict[str, list[str]] | None = None,
    ordinal: dict[str, list[str]] | None = None,
    name: str | None = None,
    check_images: bool = True,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    progress: bool = True,
) -> Dataset:
    """Load a CSV or JSONL manifest (a folder holding ``manifest.csv``/``.jsonl`` works too).

    Arguments override the sidecar; the sidecar overrides the defaults
    (sensitive: the known demographic columns present; tasks: every attribute).
    """
    manifest = find_manifest(Path(path))
    sidecar_path = manifest.parent / SIDECAR_NAME
    sidecar = read_sidecar(sidecar_path) if sidecar_path.is_file() else DatasetSidecar()
    dataset_root = Path(root) if root is not None else manifest.parent
    if not dataset_root.is_dir():
        raise DatasetError(f"dataset root {dataset_root} is not a folder")
    vocabulary = {**sidecar.ordinal, **sidecar.labels, **(labels or {})}
    order = {**sidecar.ordinal, **(ordinal or {})}
    for attr, values in order.items():
        vocabulary.setdefault(attr, list(values))

    rows, columns = _read_rows(manifest)
    attribute_columns = [c for c in columns if c not in RESERVED_COLUMNS]
    notes: list[DataIssue] = []
    sensitive = _choose(sensitive_attributes, sidecar.sensitive_attributes, None)
    if sensitive is None:
        sensitive = [a for a in KNOWN_SENSITIVE if a in attribute_columns]
        notes.append(
            DataIssue(
                kind="default_choice",
                file=str(manifest),
                skipped=False,
                message="no sensitive attributes declared; using "
                + (", ".join(sensitive) if sensitive else "none (results will not be stratified)")
                + f". Declare them in {SIDECAR_NAME} or with sensitive_attributes",
            )
        )
    tasks = _choose(task_attributes, sidecar.task_attributes, attribute_columns)
    for role, chosen in (("sensitive attribute", sensitive), ("task attribute", tasks)):
        unknown = [a for a in chosen if a not in attribute_columns]
        if unknown:
            raise DatasetError(
                f"{manifest}: {role}(s) {', '.join(map(repr, unknown))} are not columns of the manifest; "
                f"its attribute columns are: {', '.join(attribute_columns) or '(none)'}"
            )

    builder = DatasetBuilder(dataset_root, manifest, vocabulary)
    free = {*sidecar.numeric_attributes, *sidecar.metadata_columns}
    for line, row in rows:
        _add_row(builder, line, row, attribute_columns, set(sensitive), free)
    return builder.build(
        name=name or sidecar.name or manifest.parent.name or manifest.stem,
        kind=sidecar.kind or "manifest",
        sensitive_attributes=sensitive,
        task_attributes=tasks,
        ordinal=order,
        check_images=check_images,
        max_pixels=max_pixels,
        progress=progress,
        extra_issues=notes + [i for _, i in rows if isinstance(i, DataIssue)],
        free_attributes=[*sidecar.numeric_attributes, *sidecar.metadata_columns],
    )


def _choose(argument: list[str] | None, declared: list[str] | None, default: list[str] | None):
    if argument is not None:
        return list(argument)
    if declared is not None:
        return list(declared)
    return default


Row = tuple[int, "dict[str, object] | DataIssue"]


def _read_rows(manifest: Path) -> tuple[list[Row], list[str]]:
    """Rows as (line number, cells); a row that cannot be parsed is a (line, DataIssue)."""
    suffix = manifest.suffix.lower()
    if suffix in {".jsonl", ".ndjson"}:
        rows, columns = _jsonl_rows(manifest, decode_utf8(manifest, read_label_bytes(manifest)))
    elif suffix in {".csv", ".tsv"}:
        rows, columns = _csv_rows(manifest)
    else:
        raise DatasetError(
            f"{manifest}: unknown manifest format {manifest.suffix!r}; use .csv or .jsonl"
        )
    image_column = next((c for c in IMAGE_COLUMNS if c in columns), None)
    if image_column is None:
        raise DatasetError(
            f"{manifest}: no image column; name it one of {', '.join(IMAGE_COLUMNS)} "
            f"(found: {', '.join(columns) or '(none)'})"
        )
    return rows, columns


def _bad_row(manifest: Path, line: int, message: str, field: str | None = None) -> Row:
    """A manifest row that is skipped, with the issue that says why."""
    return line, DataIssue(kind="bad_row", file=str(manifest), row=line, field=field, message=message)


def _csv_rows(manifest: Path) -> tuple[list[Row], list[str]]:
    delimiter = "\t" if manifest.suffix.lower() == ".tsv" else ","
    columns, cells = read_csv_rows(manifest, delimiter=delimiter)
    rows: list[Row] = []
    for line, row in cells:
        if None in row:
            rows.append(_bad_row(manifest, line, f"the row has more cells than the header's {len(columns)}; skipped"))
        else:
            rows.append((line, row))
    return rows, columns


def _jsonl_rows(manifest: Path, text: str) -> tuple[list[Row], list[str]]:
    rows: list[Row] = []
    columns: dict[str, None] = {}
    # Split on "\n" only: str.splitlines would also split inside a JSON string holding
    # U+2028, U+0085 or a form feed, and report valid rows as broken ones.
    for line, raw in enumerate(text.split("\n"), start=1):
        if not raw.strip():
            continue
        try:
            value = json.loads(raw)
        except json.JSONDecodeError as exc:
            rows.append(_bad_row(manifest, line, f"not valid JSON ({exc.msg} at column {exc.colno}); skipped"))
            continue
        if not isinstance(value, dict):
            rows.append(_bad_row(manifest, line, f"expected a JSON object, got {type(value).__name__}; skipped"))
            continue
        nested = value.pop("attributes", None)
        if isinstance(nested, dict):
            value = {**nested, **value}
        elif nested is not None:
            rows.append(_bad_row(manifest, line, "'attributes' must be an object; skipped", field="attributes"))
            continue
        columns.update(dict.fromkeys(value))
        rows.append((line, value))
    return rows, list(columns)


def _cell(value: object) -> str | None:
    """A JSON/CSV cell as label text; None for an empty cell."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _add_row(
    builder: DatasetBuilder,
    line: int,
    row: dict[str, object] | DataIssue,
    attribute_columns: list[str],
    sensitive: set[str],
    free: set[str],
) -> None:
    if isinstance(row, DataIssue):
        return
    image = next((_cell(row[c]) for c in IMAGE_COLUMNS if c in row and _cell(row[c])), None)
    if image is None:
        builder.issue(
            "missing_label", "no image path in this row; skipped", row=line, field="image"
        )
        return
    for column in attribute_columns:
        if isinstance(row.get(column), (dict, list)):
            builder.issue(
                "bad_row",
                f"{column} holds a {type(row[column]).__name__}, expected a label; skipped",
                row=line,
                field=column,
            )
            return
    attributes: dict[str, str] = {}
    ok = True
    for column in attribute_columns:
        raw = _cell(row.get(column))
        if column in free:
            # Measurements and bookkeeping may be blank by design (no label noise applied).
            if raw is not None and raw.strip():
                attributes[column] = raw.strip()
            continue
        label = builder.label(line, column, raw, required=column in sensitive)
        if label is not None:
            attributes[column] = label
        elif column in sensitive or not is_missing_value(raw):
            ok = False  # an unknown label, or an empty sensitive one: reported as skipping the row
    if not ok:
        return
    record_id = _cell(row.get("id")) or _default_id(image.strip())
    split = _cell(row.get("split")) or None
    builder.add(
        line, record_id.strip(), image.strip(), attributes, split.strip() if split else None
    )


def _default_id(image: str) -> str:
    path = PurePosixPath(image.replace("\\", "/"))
    return str(path.with_suffix("")) if path.suffix else str(path)
