"""Configuration of the prompt-sensitivity stage (the ``sensitivity`` section of ``AuditConfig``)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class SensitivityConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(
        default=False,
        description="Ask a sample of the evaluation items again in other wordings and option orders "
        "(costs max_items x paraphrases x option_orders answers).",
    )
    paraphrases: int = Field(
        default=3, ge=1, le=8,
        description="Question wordings per item, from the task's templates (the first is the item's own).",
    )
    option_orders: int = Field(
        default=2, ge=1, le=8,
        description="Option orders per wording: the item's own, then seeded shuffles.",
    )
    max_items: int = Field(default=300, ge=1, description="Items asked, a seeded sample of the evaluation's.")
    alpha: float = Field(
        default=0.05, gt=0, lt=1,
        description="A group is flagged when its consistency is below the rest's, Holm-corrected over groups.",
    )
