"""FairFace: the official label CSVs and image folders, in either padding.

Accepted layouts (docs/reference.md §2):

A. ``root/fairface_label_{train,val}.csv`` with ``root/train/`` and ``root/val/``
   (one padding unpacked next to its labels; the shared sample looks like this);
B. ``root/fairface_label_{train,val}.csv`` with the official archives unpacked
   side by side: ``root/fairface-img-margin025-trainval/{train,val}/`` and
   ``root/fairface-img-margin125-trainval/{train,val}/`` (``padding`` picks one;
   0.25, FairFace's main release, when both are there and none is named);
C. ``root`` is an image folder (``train/``, ``val/``) and the CSVs sit in its
   parent, or ``label_csv`` names the file.

The ``file`` column (``val/1.jpg``) is relative to the image folder.
"""

from __future__ import annotations

from pathlib import Path

from faceaudit.data.builder import DatasetBuilder, is_missing_value
from faceaudit.data.csvfile import read_csv_rows
from faceaudit.data.dataset import DataIssue, Dataset, DatasetError
from faceaudit.data.images import DEFAULT_MAX_PIXELS

FAIRFACE_AGES = ["0-2", "3-9", "10-19", "20-29", "30-39", "40-49", "50-59", "60-69", "more than 70"]
FAIRFACE_GENDERS = ["Male", "Female"]
FAIRFACE_RACES = [
    "White",
    "Black",
    "Latino_Hispanic",
    "East Asian",
    "Southeast Asian",
    "Indian",
    "Middle Eastern",
]
FAIRFACE_LABELS: dict[str, list[str]] = {
    "race": FAIRFACE_RACES,
    "gender": FAIRFACE_GENDERS,
    "age": FAIRFACE_AGES,
    "service_test": ["False", "True"],
}
FAIRFACE_SENSITIVE = ["race", "gender", "age"]
FAIRFACE_SPLITS = ("train", "val")
REQUIRED_COLUMNS = ("file", "age", "gender", "race")
PADDINGS = {"0.25": "025", "1.25": "125"}


def label_file_name(split: str) -> str:
    return f"fairface_label_{split}.csv"


def normalize_padding(padding: str | float | None) -> str | None:
    if padding is None:
        return None
    text = f"{float(padding):.2f}" if not isinstance(padding, str) else padding.strip()
    if text in {"025", "0.25", "margin025"}:
        return "0.25"
    if text in {"125", "1.25", "margin125"}:
        return "1.25"
    raise DatasetError(
        f"FairFace padding {padding!r} is not one of the released paddings: 0.25, 1.25"
    )


def is_fairface_root(path: Path) -> bool:
    """True when ``path`` looks like a FairFace folder (a label CSV in it or its parent)."""
    if not path.is_dir():
        return False
    return any(
        (folder / label_file_name(s)).is_file()
        for folder in (path, path.parent)
        for s in FAIRFACE_SPLITS
    )


def _padding_folders(root: Path) -> dict[str, Path]:
    found: dict[str, Path] = {}
    for child in sorted(p for p in root.iterdir() if p.is_dir()):
        for padding, tag in PADDINGS.items():
            if f"margin{tag}" in child.name or child.name in {
                padding,
                f"padding{padding}",
                f"padding_{padding}",
            }:
                found.setdefault(padding, child)
    return found


def _image_root(root: Path, padding: str | None) -> tuple[Path, str | None, list[DataIssue]]:
    """Where the ``file`` paths start, the padding it holds (if known), and any choice we made."""
    folders = _padding_folders(root)
    if folders:
        if padding is not None:
            if padding not in folders:
                raise DatasetError(
                    f"{root}: no image folder for padding {padding} (found padding folders: "
                    + ", ".join(f"{p} -> {f.name}" for p, f in folders.items())
                    + ")"
                )
            return folders[padding], padding, []
        if len(folders) == 1:
            only = next(iter(folders))
            return folders[only], only, []
        chosen = "0.25"
        note = DataIssue(
            kind="default_choice",
            file=str(root),
            skipped=False,
            message=f"both paddings are present; using 0.25 ({folders[chosen].name}), FairFace's main release. "
            "Pass padding=1.25 for the other one",
        )
        return folders[chosen], chosen, [note]
    if any((root / s).is_dir() for s in FAIRFACE_SPLITS):
        return root, padding, []
    raise DatasetError(
        f"{root}: no FairFace image folder found; expected {root}/val/ (and/or train/), or "
        f"{root}/fairface-img-margin025-trainval/val/ (padding 0.25) or "
        f"{root}/fairface-img-margin125-trainval/val/ (padding 1.25)"
    )


def _label_files(root: Path, label_csv: str | Path | None, split: str | None) -> list[Path]:
    if label_csv is not None:
        path = Path(label_csv)
        if not path.is_file():
            raise DatasetError(f"FairFace label file {path} does not exist")
        return [path]
    splits = [split] if split is not None else list(FAIRFACE_SPLITS)
    for folder in (root, root.parent):
        found = [
            folder / label_file_name(s) for s in splits if (folder / label_file_name(s)).is_file()
        ]
        if found:
            return found
    looked = ", ".join(str(f / label_file_name(s)) for f in (root, root.parent) for s in splits)
    raise DatasetError(f"no FairFace label CSV found; looked for: {looked}")


def load_fairface(
    root: str | Path,
    *,
    label_csv: str | Path | None = None,
    split: str | None = None,
    padding: str | float | None = None,
    check_images: bool = True,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    progress: bool = True,
) -> Dataset:
    """Load FairFace labels and images (see the module docstring for the layouts).

    Labels must use the official vocabularies; spreadsheet-mangled age bins are
    repaired and reported, any other unknown label skips its row and is reported
    with the closest valid label.
    """
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"FairFace root {root} is not a folder")
    if split is not None and split not in FAIRFACE_SPLITS:
        raise DatasetError(f"FairFace split {split!r} is not one of: {', '.join(FAIRFACE_SPLITS)}")
    image_root, used_padding, notes = _image_root(root, normalize_padding(padding))
    label_files = _label_files(root, label_csv, split)
    builder = DatasetBuilder(image_root, label_files[0], FAIRFACE_LABELS)
    for label_path in label_files:
        builder.start_file(label_path)
        _read_label_csv(builder, label_path, split)
    name = "fairface" + (f" (padding {used_padding})" if used_padding else "")
    return builder.build(
        name=name,
        kind="fairface",
        sensitive_attributes=FAIRFACE_SENSITIVE,
        task_attributes=["age", "gender", "race"],
        ordinal={"age": FAIRFACE_AGES},
        check_images=check_images,
        max_pixels=max_pixels,
        progress=progress,
        extra_issues=notes,
    )


def _read_label_csv(builder: DatasetBuilder, path: Path, split: str | None) -> None:
    # Strict structure (faceaudit/data/csvfile.py): a stray quote, a repeated column or a
    # non-UTF-8 byte is refused with its row, never read as fewer rows.
    columns, rows = read_csv_rows(path)
    missing = [c for c in REQUIRED_COLUMNS if c not in columns]
    if missing:
        raise DatasetError(
            f"{path}: missing column(s) {', '.join(missing)}; found: {', '.join(columns) or '(none)'}; "
            "a FairFace label CSV has columns file,age,gender,race,service_test"
        )
    default_split = next((s for s in FAIRFACE_SPLITS if path.name == label_file_name(s)), None)
    for line, row in rows:
        _add_row(builder, line, row, split, default_split)


def _add_row(
    builder: DatasetBuilder, line: int, row: dict, split: str | None, default_split: str | None
) -> None:
    if None in row:
        builder.issue(
            "bad_row",
            f"row has {len(row) - 1 + len(row[None])} cells, more than the header; skipped",
            row=line,
        )
        return
    file_value = (row.get("file") or "").strip()
    if not file_value:
        builder.issue(
            "missing_label", "empty 'file' cell; the row was skipped", row=line, field="file"
        )
        return
    first = file_value.replace("\\", "/").split("/", 1)[0]
    row_split = first if first in FAIRFACE_SPLITS else default_split
    if split is not None and row_split != split:
        return
    attributes: dict[str, str] = {}
    ok = True
    for field in ("race", "gender", "age"):
        label = builder.label(line, field, row.get(field))
        if label is None:
            ok = False
        else:
            attributes[field] = label
    raw_flag = row.get("service_test")
    if raw_flag is not None:
        flag = builder.label(line, "service_test", raw_flag, required=False)
        if flag is not None:
            attributes["service_test"] = flag
        elif not is_missing_value(raw_flag):
            ok = False  # an unknown value (not an empty one) was reported as skipping the row
    if not ok:
        return
    record_id = file_value.rsplit(".", 1)[0] if "." in file_value.rsplit("/", 1)[-1] else file_value
    builder.add(line, record_id, file_value, attributes, row_split)
