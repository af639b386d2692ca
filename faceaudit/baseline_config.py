"""Configuration of the in-run baseline (the ``baseline`` section of ``AuditConfig``)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from faceaudit.errors import InputError


class BaselineConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(
        default=False,
        description="Also evaluate a baseline model on the same items in this run and compare the "
        "candidate with it, paired (baseline/audit.json, comparison.md/.json/.html; the gate's "
        "baseline checks use it when gate.baseline names no file).",
    )
    use_adapter: bool = Field(
        default=False,
        description="hf: give the baseline this run's trained adapter too (default: the base model alone).",
    )
    evaluate: dict[str, Any] = Field(
        default_factory=dict,
        description="evaluate fields that differ for the baseline, e.g. {model: OpenGVLab/InternVL3-1B-hf} "
        "or {backend: simulated, simulated_accuracy: {default: 0.8}}; the rest is the candidate's.",
    )

    def evaluate_config(self, candidate: Any) -> Any:
        """The baseline's ``EvaluateConfig``: the candidate's (``candidate``) with this section's
        ``evaluate`` fields over it, writing no predictions file of its own."""
        from faceaudit.evaluate.config import EvaluateConfig

        merged = {**candidate.model_dump(), **self.evaluate, "predictions_out": None}
        try:
            return EvaluateConfig.model_validate(merged)
        except ValueError as error:
            raise InputError(f"baseline.evaluate: {error}") from None
