"""Configuration of LoRA training (the ``train`` section of AuditConfig)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class TrainConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    recipe: str = Field(
        default="tiny",
        description="Recipe name (tiny, facellm-1b, facellm-8b, facellm-38b) or path to a recipe YAML.",
    )
    base_model: str | None = Field(
        default=None, description="Hub id or checkpoint directory replacing the recipe's base_model."
    )
    overrides: dict[str, Any] = Field(
        default_factory=dict,
        description="Recipe fields to change, validated like the recipe itself, e.g. "
        "{max_steps: 20, lora: {r: 8}}. trust_remote_code can only be enabled here or in the recipe.",
    )
    resume: bool = Field(default=True, description="Continue from the last checkpoint of an interrupted run.")
    report_to: list[Literal["mlflow", "wandb"]] = Field(
        default_factory=list,
        description="Log training (loss, learning rate) through the Trainer's report_to: mlflow and/or wandb, "
        "to the store and experiment of the tracking section (W&B offline unless tracking.wandb_mode says so).",
    )
