"""Configuration of LoRA training."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class TrainConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    recipe: str = "tiny"
