"""``faceaudit data validate PATH``: load whatever is at PATH and say what was found and what is wrong.

Accepts a FairFace folder (or one of its label CSVs), a manifest (CSV or JSONL,
or a folder holding ``manifest.csv``/``manifest.jsonl``), or FaceXBench JSON.
Validation never raises on bad data: a dataset that cannot be loaded at all
gives a report with ``ok == False`` and the reason.
"""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from faceaudit.data.dataset import DataIssue, Dataset, DatasetError, summarize_issues
from faceaudit.data.facexbench import McqItemList, load_facexbench
from faceaudit.data.fairface import REQUIRED_COLUMNS, is_fairface_root, load_fairface
from faceaudit.data.manifest import MANIFEST_NAMES, load_manifest
from faceaudit.textsafe import visible


class ValidationReport(BaseModel):
    model_config = ConfigDict(extra="forbid")

    path: str
    kind: str = Field(
        description="fairface, manifest, facexbench, or unknown when nothing could be read"
    )
    name: str | None = None
    n_records: int = 0
    n_items: int = 0
    sensitive_attributes: list[str] = Field(default_factory=list)
    task_attributes: list[str] = Field(default_factory=list)
    counts: dict[str, dict[str, int]] = Field(default_factory=dict)
    splits: dict[str, int] = Field(default_factory=dict)
    conversions: dict[str, int] = Field(default_factory=dict)
    issues: list[DataIssue] = Field(default_factory=list)
    fingerprint: str | None = None
    error: str | None = Field(default=None, description="why the input could not be used at all")

    @property
    def skipped(self) -> int:
        return sum(i.count for i in self.issues if i.skipped)

    @property
    def ok(self) -> bool:
        """Usable and complete: loaded, not empty, and nothing skipped (repairs and conversions are fine)."""
        return self.error is None and (self.n_records + self.n_items) > 0 and self.skipped == 0

    def format_text(self, *, max_issues: int = 20) -> str:
        lines = [f"{self.path}: {self.kind}" + (f" dataset {self.name!r}" if self.name else "")]
        if self.error is not None:
            lines.append(f"ERROR: {self.error}")
        if self.kind == "facexbench":
            lines.append(f"multiple-choice items: {self.n_items}")
        elif self.error is None:
            lines.append(f"records: {self.n_records}")
            if self.splits:
                lines.append("splits: " + ", ".join(f"{k} {v}" for k, v in self.splits.items()))
            if self.sensitive_attributes:
                lines.append("sensitive attributes: " + ", ".join(self.sensitive_attributes))
            if self.task_attributes:
                lines.append("task attributes: " + ", ".join(self.task_attributes))
        for attribute, counts in self.counts.items():
            lines.append(
                f"  {attribute}: " + ", ".join(f"{label} {n}" for label, n in counts.items())
            )
        if self.conversions:
            lines.append(
                "image conversions: " + ", ".join(f"{k} {v}" for k, v in self.conversions.items())
            )
        if self.fingerprint:
            lines.append(f"fingerprint: {self.fingerprint}")
        if self.issues:
            per_kind = ", ".join(f"{s.kind} {s.count}" for s in summarize_issues(self.issues))
            lines.append(f"issues ({self.skipped} row(s)/image(s) skipped): {per_kind}")
            lines.extend(f"  {issue.format()}" for issue in self.issues[:max_issues])
            if len(self.issues) > max_issues:
                lines.append(f"  ... and {len(self.issues) - max_issues} more")
        elif self.error is None:
            lines.append("issues: none")
        lines.append("OK" if self.ok else "NOT OK")
        # Labels and paths come from the user's files: ANSI escapes and other hidden
        # characters are shown as escapes, never sent to the terminal raw.
        return "\n".join(visible(line) for line in lines)


def detect_kind(path: Path) -> str:
    """``fairface``, ``manifest`` or ``facexbench`` from the layout or file type; ``unknown`` otherwise."""
    if path.is_dir():
        # A manifest in the folder itself wins over FairFace labels that may sit in its parent.
        if any((path / name).is_file() for name in MANIFEST_NAMES):
            return "manifest"
        if is_fairface_root(path):
            return "fairface"
        if any(path.glob("*.json")) or any((path / "benchmark").glob("*.json")):
            return "facexbench"
        return "unknown"
    if not path.is_file():
        return "unknown"  # missing, or a FIFO/device: sniffing its header would block
    suffix = path.suffix.lower()
    if suffix == ".json":
        return "facexbench"
    if suffix in {".jsonl", ".ndjson", ".tsv"}:
        return "manifest"
    if suffix == ".csv":
        return "fairface" if _has_fairface_header(path) else "manifest"
    return "unknown"


def _has_fairface_header(path: Path) -> bool:
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            header = next(csv.reader(handle), [])
    except (OSError, UnicodeDecodeError, csv.Error):
        return False
    return set(REQUIRED_COLUMNS) <= {c.strip() for c in header}


def validate_path(
    path: str | Path, *, check_images: bool = True, progress: bool = True
) -> ValidationReport:
    path = Path(path)
    if not path.exists():
        return ValidationReport(path=str(path), kind="unknown", error=f"{path} does not exist")
    if not (path.is_dir() or path.is_file()):
        # A FIFO or device: opening it to sniff its kind would block forever.
        return ValidationReport(
            path=str(path), kind="unknown",
            error=f"{path} is not a regular file or folder (a FIFO, socket or device)",
        )
    kind = detect_kind(path)
    try:
        if kind == "fairface":
            if path.is_dir():
                dataset = load_fairface(path, check_images=check_images, progress=progress)
            else:
                dataset = load_fairface(
                    path.parent, label_csv=path, check_images=check_images, progress=progress
                )
            return _dataset_report(path, dataset)
        if kind == "manifest":
            return _dataset_report(
                path, load_manifest(path, check_images=check_images, progress=progress)
            )
        if kind == "facexbench":
            return _items_report(path, load_facexbench(path, check_images=check_images))
    except DatasetError as exc:
        return ValidationReport(path=str(path), kind=kind, error=str(exc))
    return ValidationReport(
        path=str(path),
        kind="unknown",
        error="not a FairFace folder (fairface_label_val.csv / fairface_label_train.csv), a manifest "
        f"({', '.join(MANIFEST_NAMES)}, or a .csv/.jsonl file) or FaceXBench .json files",
    )


def _dataset_report(path: Path, dataset: Dataset) -> ValidationReport:
    summary = dataset.summary()
    return ValidationReport(
        path=str(path),
        kind=dataset.kind,
        name=dataset.name,
        n_records=len(dataset),
        sensitive_attributes=dataset.sensitive_attributes,
        task_attributes=dataset.task_attributes,
        counts=summary.counts,
        splits=summary.splits,
        conversions=summary.conversions,
        issues=dataset.issues,
        fingerprint=summary.fingerprint,
    )


def _items_report(path: Path, items: McqItemList) -> ValidationReport:
    tasks = Counter(f"{item.category}/{item.task}" for item in items)
    return ValidationReport(
        path=str(path),
        kind="facexbench",
        n_items=len(items),
        task_attributes=sorted({item.task for item in items}),
        counts={"task": dict(sorted(tasks.items()))},
        issues=items.issues,
    )
