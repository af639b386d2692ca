"""Configuration of prediction and stratified evaluation."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class EvaluateConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
