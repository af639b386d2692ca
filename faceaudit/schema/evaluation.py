"""The ``evaluation`` section: stratified metrics with intervals, per task.

Every sampled number is an :class:`Estimate` (value, interval, n, method). Undefined
numbers (an empty group, a metric with no valid rows) are NaN, never 0. The gate and the
report read these models as they are and recompute nothing.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from faceaudit.schema.common import Estimate, ResultModel
from faceaudit.schema.run import DataTransfer, ModelIdentity

MetricName = Literal["accuracy", "macro_f1", "invalid_rate", "ece", "off_by_one"]
HIGHER_IS_BETTER: dict[str, bool] = {
    "accuracy": True,
    "macro_f1": True,
    "off_by_one": True,
    "invalid_rate": False,
    "ece": False,
}


class ConfusionMatrix(ResultModel):
    """Counts of gold label (rows) against predicted label (columns).

    ``predicted_labels`` equals ``labels`` plus a final ``"<invalid>"`` column for
    answers that could not be parsed or were refused.
    """

    labels: list[str]
    predicted_labels: list[str]
    counts: list[list[int]] = Field(description="counts[i][j]: gold labels[i] predicted as predicted_labels[j]")


class CalibrationBins(ResultModel):
    """What a reliability diagram draws: the items of a group (or task) whose answer came with
    option probabilities, in equal-width bins of the largest option probability.

    ``accuracy`` is the share of a bin's items whose most probable option is the correct one
    (the quantity ECE compares with confidence), so that ECE = sum over bins of
    count * |accuracy - mean_confidence| / sum of counts. An empty bin has NaN mean
    confidence and accuracy.
    """

    edges: list[float] = Field(description="bin edges, n_bins + 1 values from 0 to 1")
    counts: list[int] = Field(description="items per bin")
    mean_confidence: list[float] = Field(description="mean largest option probability per bin (NaN: empty)")
    accuracy: list[float] = Field(description="share of the bin's items whose most probable option is correct")


class GroupMetrics(ResultModel):
    """Metrics of one group: one label per attribute in ``attributes``."""

    attributes: list[str] = Field(description="sensitive attributes defining the group, e.g. ['race', 'gender']")
    labels: list[str] = Field(description="the group's label for each attribute, same order")
    name: str = Field(description="display name, e.g. 'race=Black & gender=Female'")
    n_items: int = Field(ge=0)
    n_images: int = Field(ge=0)
    metrics: dict[str, Estimate] = Field(description="metric name -> estimate (see MetricName)")
    recall: dict[str, Estimate] = Field(description="per-class recall, keyed by gold label")
    confusion: ConfusionMatrix
    small_group: bool = Field(
        description="n_items below min_group_n: left out of the max-min difference, still compared "
        "with the rest and judged by the gate on its favourable end"
    )
    calibration: CalibrationBins | None = Field(
        default=None, description="per-bin confidence and accuracy behind ece (None: no answer of the "
        "group came with option probabilities)",
    )


class Disparity(ResultModel):
    """A comparison between groups of one attribute (or intersection) on one metric.

    ``kind``: ``difference`` = best minus worst group among groups of at least ``min_group_n``
    items (>= 0; its interval is bounded through the pairs of groups); ``group_vs_rest`` =
    ``group`` minus all other items (signed), for every group; ``error_ratio`` = the group's
    error rate over the reference group's (accuracy only, Aequitas' disparity ratio). The
    estimate carries ``null_value`` and the unadjusted two-sided ``p_value`` the gate needs.
    """

    metric: str
    attributes: list[str]
    order: int = Field(default=1, ge=1, description="number of attributes: 1 marginal, 2+ intersection")
    intersection: bool = Field(default=False, description="order >= 2 (for policy paths: [intersection=true])")
    kind: Literal["difference", "group_vs_rest", "error_ratio"]
    group: str | None = Field(default=None, description="the compared group (group_vs_rest, error_ratio)")
    reference_group: str | None = Field(default=None, description="the reference group (error_ratio)")
    small_group: bool = Field(default=False, description="the compared group has fewer than min_group_n items")
    worst_group: str | None = None
    best_group: str | None = None
    estimate: Estimate
    test: str = Field(description="how p_value was computed, e.g. 'chi-square-homogeneity'")
    p_value: float
    p_adjusted: float
    significant: bool = Field(
        description="p_adjusted < 1 - confidence; the correction spans every hypothesis of the "
        "evaluation section (all tasks, metrics, attribute sets and tests)"
    )
    correction: str = Field(description="multiple-comparison correction applied (statsmodels name)")


class ItemOutcomes(ResultModel):
    """Every item's correctness in one task, compact, so that another audit of the same items
    can be compared item by item (paired), from audit.json alone.

    Items are in sorted ``item_id`` order; ``items_sha256`` identifies that list, so two audits
    pair only when they asked exactly the same items.
    """

    items_sha256: str = Field(description="SHA-256 of the sorted item ids joined by newlines")
    n: int = Field(ge=0)
    correct: str = Field(description="base64 of numpy.packbits of the correct flags (big-endian bit order)")
    cell: str = Field(description="base64 of each item's cell index, little-endian unsigned, cell_bytes each")
    cell_bytes: Literal[1, 2, 4] = 1
    cells: list[list[str]] = Field(description="labels of each cell, in the order of sensitive_attributes")


class TaskMetrics(ResultModel):
    """Everything measured for one task (e.g. 'age', 'gender')."""

    task: str
    n_items: int = Field(ge=0)
    n_images: int = Field(ge=0)
    labels: list[str] = Field(description="class labels of the task (ordinal order when given)")
    ordinal: bool = False
    chance_accuracy: float | None = Field(
        default=None, ge=0, le=1,
        description="accuracy of a uniform guess among each item's own options, averaged over the "
        "task's items (a 9-bin age question asked with 4 options has chance 0.25, not 1/9)",
    )
    clustered: bool = Field(description="some image yields several rows in this task")
    overall: dict[str, Estimate]
    calibration: CalibrationBins | None = Field(
        default=None, description="per-bin confidence and accuracy of all the task's items (None: no "
        "option probabilities)",
    )
    groups: list[GroupMetrics]
    disparities: list[Disparity]
    n_comparisons: int = Field(
        ge=0, description="hypotheses this task adds to the multiplicity family; the family spans "
        "every task of the section (EvaluationSection.n_comparisons)",
    )
    outcomes: ItemOutcomes | None = Field(
        default=None, description="per-item correctness for paired comparison with a baseline audit"
    )


class EvaluationSection(ResultModel):
    """Stratified evaluation of one model."""

    model: str
    model_identity: ModelIdentity | None = None
    data_sent: list[DataTransfer] = Field(
        default_factory=list, description="What this run sent off the machine (empty: nothing)."
    )
    mode: str = Field(description="'scoring' (option-letter probabilities) or 'generation' (parsed text)")
    n_items: int = Field(ge=0)
    n_images: int = Field(ge=0)
    predictions_sha256: str | None = None
    sensitive_attributes: list[str]
    n_boot: int = Field(ge=1)
    confidence: float = Field(gt=0, lt=1)
    correction: str = Field(description="statsmodels multipletests method: 'holm' or 'fdr_bh'")
    correction_name: str
    n_comparisons: int | None = Field(
        default=None, ge=0,
        description="size of the one multiplicity family: all disparity hypotheses of all tasks",
    )
    correction_scope: str | None = Field(
        default=None, description="which significance claims the correction covers, in words"
    )
    min_group_n: int = Field(ge=0)
    reference_group: str | dict[str, str] = Field(
        default="largest",
        description="reference group of error ratios: 'largest', 'best', or a label per attribute",
    )
    seed: int
    tasks: list[TaskMetrics]
    benchmark: dict[str, Estimate] | None = Field(
        default=None, description="FaceXBench-style accuracy per task/category, for parity checks"
    )
    method_notes: list[str] = Field(default_factory=list)
