"""Sections that describe the run itself: what ran, on what, and the data."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from faceaudit.schema.common import ResultModel


class RunSection(ResultModel):
    run_id: str
    started_at: str
    finished_at: str | None = None
    faceaudit_version: str
    python_version: str
    platform: str
    library_versions: dict[str, str] = Field(default_factory=dict)
    seed: int
    config: dict[str, Any]
    stages_run: list[str] = Field(default_factory=list)
    timings_s: dict[str, float] = Field(default_factory=dict)
    command: str | None = None


class ProvenanceSection(ResultModel):
    """SHA-256 content hashes of everything that determined the result."""

    config_sha256: str
    dataset_manifest_sha256: str | None = None
    dataset_fingerprint: str | None = None
    corpus_sha256: str | None = None
    prompt_set_sha256: str | None = None
    base_model: str | None = None
    base_model_sha256: str | None = None
    adapter_sha256: str | None = None
    recipe_sha256: str | None = None
    policy_sha256: str | None = None
    data_sent_to: list[str] = Field(
        default_factory=list,
        description="Endpoints that received images or text during the run (empty: nothing left the machine).",
    )


class DataIssueSummary(ResultModel):
    kind: str
    count: int
    examples: list[str] = Field(default_factory=list)


class DatasetSection(ResultModel):
    name: str
    kind: str
    root: str
    fingerprint: str
    manifest_sha256: str
    n_records: int
    sensitive_attributes: list[str]
    task_attributes: list[str]
    counts: dict[str, dict[str, int]] = Field(
        default_factory=dict, description="attribute -> label -> number of records"
    )
    intersections: dict[str, dict[str, int]] = Field(
        default_factory=dict,
        description="'attr_a x attr_b' -> 'label_a | label_b' -> number of records",
    )
    splits: dict[str, int] = Field(default_factory=dict)
    issues: list[DataIssueSummary] = Field(default_factory=list)
    conversions: dict[str, int] = Field(
        default_factory=dict, description="image mode conversions applied, e.g. 'L->RGB': 3"
    )
