"""Configuration of the gate and the report."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class GateConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    policy: str | None = Field(
        default=None, description="Policy YAML file (default: the shipped faceaudit-default policy)."
    )
    insufficient_blocks: bool = Field(
        default=True,
        description="INSUFFICIENT_EVIDENCE stops the release (exit code 2); false: it exits 0.",
    )
    baseline: str | None = Field(
        default=None,
        description="audit.json of the base model or last released checkpoint, for regression checks.",
    )


class ReportConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    show_faces: bool = Field(
        default=False,
        description="Allow the report to show faces (personal data). audit.json stores no example "
        "images, so today this only changes the report's privacy note.",
    )
