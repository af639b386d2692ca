"""Configuration of the robustness stage (the ``perturb`` section of ``AuditConfig``)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator


class PerturbConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    families: list[str] = Field(
        default_factory=lambda: ["lighting", "occlusion"],
        description="Perturbation families to run: lighting, occlusion, capture, or a family "
        "of your own registered perturbations.",
    )
    perturbations: list[str] | None = Field(
        default=None, description="Exact perturbation names; overrides families when given."
    )
    severities: list[int] = Field(default_factory=lambda: [1, 2, 3, 4, 5])
    max_images: int | None = Field(
        default=300,
        ge=2,
        description="Perturb at most this many evaluation images (a seeded sample; None: all). "
        "Cost: images x questions_per_image x perturbations x severities answers.",
    )
    questions_per_image: int | None = Field(
        default=1,
        ge=1,
        description="Questions asked about each perturbed image (None: all its tasks). Tasks "
        "rotate over images (seeded), so every task is covered; for a fixed number of answers, "
        "more images with fewer questions each give narrower intervals (questions about one "
        "image are correlated).",
    )
    tasks: list[str] | None = Field(
        default=None, description="Ask only these tasks under perturbation (None: every task)."
    )
    geometry: Literal["auto", "synthetic", "fairface", "fairface-1.25", "centred"] = Field(
        default="auto",
        description="Where occluders are placed from: auto = the synthetic renderer's landmarks "
        "for synthetic data, the aligned-crop template for FairFace, centred otherwise.",
    )
    workers: int = Field(default=1, ge=0, description="Perturbing workers (0: inline in the main thread).")
    executor: Literal["thread", "process"] = Field(
        default="thread",
        description="thread: numpy/OpenCV release the GIL and nothing is copied; process: for "
        "expensive pure-Python perturbations (workers start by fork and import albumentations).",
    )
    prefetch: int = Field(default=4, ge=1, description="Perturbed batches prepared ahead of the model.")
    batch_size: int | None = Field(
        default=None, ge=1, description="Questions per model batch (None: evaluate.batch_size)."
    )
    min_group_n: int = Field(default=30, ge=1, description="Groups with fewer images are flagged small.")
    confidence: float = Field(default=0.95, gt=0.5, lt=1.0)

    @field_validator("severities")
    @classmethod
    def _severities_valid(cls, value: list[int]) -> list[int]:
        if not value or any(not 1 <= s <= 5 for s in value) or len(set(value)) != len(value):
            raise ValueError("severities must be distinct values in 1..5, e.g. [1, 2, 3, 4, 5]")
        return sorted(value)
