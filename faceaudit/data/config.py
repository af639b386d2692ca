"""Configuration of the data stage: which face set, and which attributes matter."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from faceaudit.data.synthetic_config import SyntheticConfig

BUILTIN_KINDS = ("synthetic", "fairface", "manifest", "facexbench")


class DatasetConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: str = Field(
        default="synthetic",
        description="synthetic, fairface, manifest, facexbench, or the name of an installed plug-in "
        "loader (entry point group faceaudit.datasets).",
    )
    path: str | None = Field(
        default=None,
        description="FairFace root (with the label CSV), manifest file, or FaceXBench folder. "
        "Unused for 'synthetic'.",
    )
    split: str | None = Field(default=None, description="Use only records of this split.")
    padding: Literal["0.25", "1.25"] | None = Field(
        default=None,
        description="FairFace image padding when both released crops are unpacked under 'path' "
        "(default 0.25, FairFace's main release). Unused for other kinds.",
    )
    limit: int | None = Field(default=None, ge=1, description="Use at most this many records.")
    sensitive_attributes: list[str] | None = Field(
        default=None,
        description="Attributes every result is stratified by (default: the loader's).",
    )
    tasks: list[str] | None = Field(
        default=None,
        description="Attributes turned into multiple-choice questions (default: the loader's).",
    )
    option_order: Literal["auto", "shuffled", "vocabulary"] = Field(
        default="auto",
        description="Order of the options in the multiple-choice items built from labels: "
        "'shuffled' (seeded, as FaceXBench does) or 'vocabulary' (a label always has the same "
        "letter). 'auto' = 'vocabulary' for the synthetic set, whose tiny demo model cannot learn "
        "to match label text to a moving letter in a CPU minute, and 'shuffled' otherwise.",
    )
    synthetic: SyntheticConfig = Field(
        default_factory=SyntheticConfig,
        description="kind 'synthetic' only: how many faces, their size, and the biases planted in "
        "them (group proportions, label noise per group, group-correlated lighting).",
    )

    @field_validator("kind")
    @classmethod
    def _known_kind(cls, value: str) -> str:
        from faceaudit.plugins import DATASETS_GROUP, check_name

        return check_name(DATASETS_GROUP, value, BUILTIN_KINDS)
