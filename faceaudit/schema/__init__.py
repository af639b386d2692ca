"""``AuditResult``: the one document every stage writes into and every reader reads.

The gate and the report read ``audit.json`` and never recompute anything.
A section that is ``None`` means its stage did not run; it is never faked.
Any change to the structure bumps ``SCHEMA_VERSION`` and the golden fixture in
``tests/fixtures/audit_golden.json``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError

from faceaudit.errors import InputError, format_validation_errors
from faceaudit.schema.common import Estimate, ResultModel, Warning_
from faceaudit.schema.comparison import Comparison
from faceaudit.schema.contamination import ContaminationSection
from faceaudit.schema.corpus import CorpusSection
from faceaudit.schema.corpus_scan import CorpusScanSection
from faceaudit.schema.evaluation import EvaluationSection
from faceaudit.schema.gate import GateSection
from faceaudit.schema.robustness import RobustnessSection
from faceaudit.schema.run import DatasetSection, ProvenanceSection, RunSection
from faceaudit.schema.sensitivity import SensitivitySection
from faceaudit.schema.training import TrainingSection
from faceaudit.store import atomic_write_text, read_regular_text

SCHEMA_VERSION = "2"


class AuditResult(ResultModel):
    """audit.json: one section per stage (``None`` where the stage did not run), versioned.
    :meth:`load` validates a file (NaN stays NaN), :meth:`save` writes one atomically."""

    schema_version: Literal["2"] = SCHEMA_VERSION
    run: RunSection
    provenance: ProvenanceSection
    dataset: DatasetSection | None = None
    corpus: CorpusSection | None = None
    corpus_scan: CorpusScanSection | None = None
    training: TrainingSection | None = None
    evaluation: EvaluationSection | None = None
    contamination: ContaminationSection | None = None
    sensitivity: SensitivitySection | None = None
    robustness: RobustnessSection | None = None
    comparison: Comparison | None = Field(
        default=None, description="with an in-run baseline (baseline.enabled): each group's change in accuracy "
        "from the baseline model (a) to the audited one (b), paired on the same items")
    gate: GateSection | None = None
    warnings: list[Warning_] = Field(default_factory=list)

    def to_json(self) -> str:
        return self.model_dump_json(indent=2)

    def to_frame(self, kind: str = "groups"):  # -> pandas.DataFrame
        """A tidy table: 'groups', 'disparities', 'checks' or 'targets' (faceaudit.report.frames)."""
        from faceaudit.report.frames import to_frame

        return to_frame(self, kind)

    def _repr_html_(self) -> str:  # Jupyter: the verdict, what blocks, the least accurate groups
        from faceaudit.report.frames import repr_html

        return repr_html(self)

    def save(self, path: str | Path) -> Path:
        return atomic_write_text(path, self.to_json() + "\n")

    @classmethod
    def load(cls, path: str | Path) -> AuditResult:
        path = Path(path)
        try:
            text = read_regular_text(path)
        except OSError as error:
            raise FileNotFoundError(f"cannot read audit result {path}: {error.strerror}") from None
        try:
            raw = json.loads(text)  # the stdlib parser accepts NaN; pydantic then validates
        except json.JSONDecodeError as error:
            raise InputError(f"{path}: not valid JSON (line {error.lineno}: {error.msg})") from None
        version = raw.get("schema_version") if isinstance(raw, dict) else None
        if version != SCHEMA_VERSION:
            raise InputError(
                f"{path}: schema_version {version!r} is not supported (this faceaudit reads "
                f"{SCHEMA_VERSION!r})"
            )
        try:
            return cls.model_validate(raw)
        except ValidationError as error:
            raise InputError(format_validation_errors(error.errors(), f"audit result {path}")) from None


__all__ = [
    "SCHEMA_VERSION",
    "AuditResult",
    "Comparison",
    "ContaminationSection",
    "CorpusScanSection",
    "CorpusSection",
    "DatasetSection",
    "Estimate",
    "EvaluationSection",
    "GateSection",
    "ProvenanceSection",
    "ResultModel",
    "RobustnessSection",
    "RunSection",
    "SensitivitySection",
    "TrainingSection",
    "Warning_",
]
