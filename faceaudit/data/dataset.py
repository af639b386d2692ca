"""A loaded face set: records, vocabularies, what went wrong while loading, and its identity.

Every loader (FairFace, generic manifest, synthetic) returns a :class:`Dataset`.
Problems found while loading never crash and never vanish: each becomes a
:class:`DataIssue` (a row skipped, a label repaired, an image converted) that
the summary, ``faceaudit data validate`` and the report show. Only input that
makes the whole dataset unusable (no label file, a missing column) raises
:class:`DatasetError`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import os
from collections import Counter, defaultdict
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from PIL import Image
from pydantic import BaseModel, ConfigDict, Field
from tqdm.auto import tqdm

from faceaudit.data.records import FaceRecord
from faceaudit.errors import InputError
from faceaudit.schema.run import DataIssueSummary, DatasetSection
from faceaudit.store import sha256_file, sha256_json

# Issue kinds after which the row (or image) is kept; every other kind means it was skipped.
KEPT_ISSUE_KINDS = frozenset(
    {"repaired_label", "missing_label", "image_converted", "default_choice"}
)
_EXAMPLES_PER_KIND = 3


class DatasetError(InputError):
    """The input cannot be used at all; the message says what was found and what is accepted."""


class DataIssue(BaseModel):
    """One problem found while loading, located as precisely as the input allows.

    ``count`` lets one issue stand for many identical rows (a spreadsheet that
    mangled ``3-9`` into ``9-Mar`` in 263 rows is one issue, not 263).
    ``skipped`` says whether the row or image was left out of the dataset.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: str
    file: str | None = None
    row: int | None = None
    field: str | None = None
    message: str
    suggestion: str | None = None
    count: int = Field(default=1, ge=1)
    skipped: bool = True

    def format(self) -> str:
        where = self.file or ""
        if self.row is not None:
            where += f", row {self.row}"
        if self.field:
            where += f", field {self.field!r}"
        text = (
            f"[{self.kind}] {where}: {self.message}" if where else f"[{self.kind}] {self.message}"
        )
        if self.suggestion is not None:
            text += f" (did you mean {self.suggestion!r}?)"
        if self.count > 1:
            text += f" [x{self.count}]"
        return text


def issue_kept(kind: str) -> bool:
    return kind in KEPT_ISSUE_KINDS


def resolve_in_root(root: Path, raw: str) -> tuple[str | None, str | None]:
    """Return ``(relative POSIX path, None)`` or ``(None, reason)`` when ``raw`` leaves ``root``.

    The check runs on the fully resolved path so that ``../``, absolute paths and
    symlinks pointing outside the root are all caught: a manifest must not be
    able to make us read (and hash, and send to a model) arbitrary files.
    """
    if not raw or not raw.strip():
        return None, "empty image path"
    if "\x00" in raw:  # the OS cannot take it (Path.resolve raises "embedded null byte")
        return None, "a path holding a NUL character"
    root_resolved = root.resolve()
    candidate = Path(raw)
    full = candidate if candidate.is_absolute() else root / candidate
    resolved = full.resolve()
    if not resolved.is_relative_to(root_resolved):
        how = "a symlink that points" if full.is_symlink() or _has_symlink(root, full) else "a path"
        return None, (
            f"{how} outside the dataset root {root_resolved} (resolves to {resolved}); "
            "if the images really live there, make that folder the dataset root"
        )
    if candidate.is_absolute():
        return resolved.relative_to(root_resolved).as_posix(), None
    return candidate.as_posix(), None


def _has_symlink(root: Path, full: Path) -> bool:
    try:
        parts = full.relative_to(root).parts
    except ValueError:
        return False
    current = root
    for part in parts:
        current = current / part
        if current.is_symlink():
            return True
    return False


@dataclasses.dataclass
class Dataset:
    """A labelled face set ready for the audit.

    ``labels`` is the vocabulary of every attribute (the accepted values, in
    ordinal order where ``ordinal`` gives one). ``conversions`` counts image mode
    conversions (``"L->RGB"``) applied when the images are read; the files on
    disk are never changed.
    """

    name: str
    kind: str
    root: Path
    records: list[FaceRecord]
    sensitive_attributes: list[str]
    task_attributes: list[str]
    ordinal: dict[str, list[str]] = dataclasses.field(default_factory=dict)
    labels: dict[str, list[str]] = dataclasses.field(default_factory=dict)
    issues: list[DataIssue] = dataclasses.field(default_factory=list)
    conversions: Counter[str] = dataclasses.field(default_factory=Counter)
    # SHA-256 of each image file, filled by the image check (which reads the bytes anyway).
    image_sha256: dict[str, str] = dataclasses.field(default_factory=dict, repr=False)
    _fingerprint: str | None = dataclasses.field(default=None, init=False, repr=False)
    _manifest_sha256: str | None = dataclasses.field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        self.root = Path(self.root)

    def __len__(self) -> int:
        return len(self.records)

    def image_file(self, record: FaceRecord) -> Path:
        return self.root / record.image_path

    def open_image(self, record: FaceRecord) -> Image.Image:
        """The record's image as RGB (converted the same way the image check did)."""
        from faceaudit.data.images import open_face_image

        image, _ = open_face_image(self.image_file(record))
        return image

    def manifest_sha256(self) -> str:
        """Hash of the canonical manifest: records sorted by id, attributes sorted by name."""
        if self._manifest_sha256 is None:
            canonical = [
                {
                    "id": r.id,
                    "image": r.image_path,
                    "split": r.split,
                    "attributes": dict(sorted(r.attributes.items())),
                }
                for r in sorted(self.records, key=lambda r: r.id)
            ]
            self._manifest_sha256 = sha256_json(canonical)
        return self._manifest_sha256

    def fingerprint(self, *, progress: bool = False) -> str:
        """SHA-256 over the canonical manifest and the bytes of every image (computed once)."""
        if self._fingerprint is None:
            missing = sorted({r.image_path for r in self.records} - self.image_sha256.keys())
            if missing:
                self.image_sha256.update(_hash_files(self.root, missing, progress=progress))
            digest = hashlib.sha256(self.manifest_sha256().encode("ascii"))
            for path in sorted({r.image_path for r in self.records}):
                digest.update(b"\0" + path.encode("utf-8") + b"\0")
                digest.update(self.image_sha256[path].encode("ascii"))
            self._fingerprint = digest.hexdigest()
        return self._fingerprint

    def filter(self, split: str | None = None, limit: int | None = None) -> Dataset:
        """A new dataset with the records of ``split`` (if given), the first ``limit`` of them."""
        records = self.records
        if split is not None:
            records = [r for r in records if r.split == split]
            if not records:
                found = sorted({str(r.split) for r in self.records})
                raise DatasetError(
                    f"dataset {self.name!r} has no records in split {split!r}; splits found: {', '.join(found)}"
                )
        if limit is not None:
            if limit < 1:
                raise DatasetError(f"limit must be at least 1, got {limit}")
            records = records[:limit]
        if records is self.records:
            return self
        kept = {r.image_path for r in records}
        return dataclasses.replace(
            self,
            records=list(records),
            issues=list(self.issues),
            conversions=Counter(self.conversions),
            image_sha256={k: v for k, v in self.image_sha256.items() if k in kept},
        )

    def counts(self, attribute: str) -> dict[str, int]:
        """Records per label of ``attribute``, in vocabulary order, zero counts included."""
        observed = Counter(
            r.attributes[attribute] for r in self.records if attribute in r.attributes
        )
        order = list(self.labels.get(attribute, []))
        order += sorted(set(observed) - set(order))
        return {label: observed.get(label, 0) for label in order}

    def intersection_counts(self, attributes: Iterable[str]) -> dict[str, int]:
        """Records per combination of labels (``'White | Male'``), every combination listed."""
        attributes = list(attributes)
        observed = Counter(
            " | ".join(r.attributes[a] for a in attributes)
            for r in self.records
            if all(a in r.attributes for a in attributes)
        )
        vocabularies = [list(self.counts(a)) for a in attributes]
        combos = [" | ".join(c) for c in itertools.product(*vocabularies)]
        combos += sorted(set(observed) - set(combos))
        return {combo: observed.get(combo, 0) for combo in combos}

    def summary(self) -> DatasetSection:
        attributes = list(
            dict.fromkeys([*self.sensitive_attributes, *self.task_attributes, *self.labels])
        )
        counts = {
            a: self.counts(a) for a in attributes if any(a in r.attributes for r in self.records)
        }
        groups = [a for a in self.sensitive_attributes if a in counts]
        intersections: dict[str, dict[str, int]] = {}
        for pair in itertools.combinations(groups, 2):
            intersections[" x ".join(pair)] = self.intersection_counts(pair)
        if len(groups) > 2:
            intersections[" x ".join(groups)] = self.intersection_counts(groups)
        splits = Counter(r.split or "unspecified" for r in self.records)
        return DatasetSection(
            name=self.name,
            kind=self.kind,
            root=str(self.root),
            fingerprint=self.fingerprint(),
            manifest_sha256=self.manifest_sha256(),
            n_records=len(self.records),
            sensitive_attributes=list(self.sensitive_attributes),
            task_attributes=list(self.task_attributes),
            counts=counts,
            intersections=intersections,
            splits=dict(sorted(splits.items())),
            issues=summarize_issues(self.issues),
            conversions=dict(sorted(self.conversions.items())),
        )


def summarize_issues(issues: Iterable[DataIssue]) -> list[DataIssueSummary]:
    counts: Counter[str] = Counter()
    examples: dict[str, list[str]] = defaultdict(list)
    for issue in issues:
        counts[issue.kind] += issue.count
        if len(examples[issue.kind]) < _EXAMPLES_PER_KIND:
            examples[issue.kind].append(issue.format())
    return [DataIssueSummary(kind=k, count=counts[k], examples=examples[k]) for k in sorted(counts)]


def _hash_files(root: Path, paths: list[str], *, progress: bool) -> dict[str, str]:
    def one(path: str) -> tuple[str, str]:
        return path, sha256_file(root / path)

    with ThreadPoolExecutor(max_workers=image_workers()) as pool:
        results = tqdm(
            pool.map(one, paths),
            total=len(paths),
            desc="hashing images",
            unit="img",
            disable=not progress,
        )
        return dict(results)


def image_workers() -> int:
    # Decoding and hashing release the GIL, so a few threads per core keep the disk and CPUs busy.
    return min(16, 2 * (os.cpu_count() or 1))
