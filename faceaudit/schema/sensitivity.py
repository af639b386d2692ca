"""The ``sensitivity`` section: do answers change with the wording or the order of the options?"""

from __future__ import annotations

from pydantic import Field

from faceaudit.schema.common import Estimate, ResultModel


class SensitivityGroup(ResultModel):
    attribute: str
    label: str
    n_items: int = Field(ge=0)
    consistency: Estimate = Field(description="share of items answered with the same option in every variant")
    consistency_vs_rest: Estimate = Field(
        description="this group's consistency minus the other items', Newcombe interval, two-sided p_value")
    p_adjusted: float = Field(description="Holm over every group of every attribute")
    accuracy_by_variant: dict[str, float] = Field(description="variant key (q<wording>o<order>) -> accuracy")
    accuracy_spread: float = Field(description="largest minus smallest accuracy over the variants")
    flagged: bool = Field(description="consistency significantly below the rest's after the correction")


class SensitivitySection(ResultModel):
    """The evaluation items asked again: ``paraphrases`` wordings x ``option_orders`` orders each.

    Variant ``q0o0`` is the item as the evaluation asked it; ``o1`` ... are seeded shuffles of its
    options (the correct answer moves with its text). An item is consistent when every variant
    chose the same option text (an unreadable answer is never consistent).
    """

    model: str
    mode: str
    n_items: int = Field(ge=0)
    paraphrases: int = Field(description="wordings asked (at most the task's templates)")
    option_orders: int
    variants: list[str]
    overall_consistency: Estimate
    accuracy_by_variant: dict[str, Estimate]
    accuracy_original_order: Estimate = Field(description="all wordings, the options in the evaluation's order")
    accuracy_shuffled_order: Estimate | None = Field(
        default=None, description="all wordings, the options shuffled (None with option_orders 1)")
    groups: list[SensitivityGroup]
    flagged: list[str] = Field(default_factory=list, description="groups whose answers flip with wording or order")
    notes: list[str] = Field(default_factory=list)
