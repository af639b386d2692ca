"""The ``robustness`` section: accuracy under perturbations, per group, and whether it is fair.

Every comparison is an :class:`Estimate` with ``null_value`` and an unadjusted two-sided
``p_value``; the gate corrects for multiplicity itself. All estimates are paired (clean and
perturbed answers on the same images) and clustered by image (one image yields one item per
task). Undefined numbers are NaN, never 0.
"""

from __future__ import annotations

from pydantic import Field

from faceaudit.schema.common import Estimate, ResultModel
from faceaudit.schema.comparison import Direction


class PerturbationInfo(ResultModel):
    """What one perturbation does at each severity (the fixed, citable parameters)."""

    name: str
    family: str
    description: str
    backend: str = Field(description="'albumentations' or 'numpy' (geometry-placed drawing)")
    uses_geometry: bool = Field(description="placed from face landmarks (eyes, mouth, chin)")
    statistic: str = Field(description="image statistic that moves monotonically with severity, e.g. 'mean_luminance -'")
    severities: list[dict[str, float | int | str]] = Field(description="parameters of severity 1..5")


class ConditionResult(ResultModel):
    """One perturbation at one severity over all audited images."""

    name: str = Field(description="'<perturbation>:<severity>', e.g. 'underexposure:3'")
    perturbation: str
    family: str
    severity: int = Field(ge=1)
    n_images: int = Field(ge=0)
    n_items: int = Field(ge=0)
    accuracy: Estimate
    drop: Estimate = Field(description="clean minus perturbed accuracy on the same images (null 0)")
    flip_rate: Estimate = Field(description="share of answers that changed (needs no labels)")


class GroupRobustness(ResultModel):
    """One group under one perturbation at one severity."""

    name: str = Field(description="'<perturbation>:<severity>:<attribute>=<group>' (the gate's label)")
    perturbation: str
    family: str
    severity: int = Field(ge=1)
    attribute: str
    group: str
    n_images: int = Field(ge=0)
    n_items: int = Field(ge=0)
    small_group: bool = Field(description="n_images below min_group_n: judged, but flagged")
    clean_accuracy: Estimate = Field(description="accuracy of the same images unperturbed")
    accuracy: Estimate
    drop: Estimate = Field(description="clean minus perturbed accuracy, paired per image (null 0)")
    flip_rate: Estimate
    interaction: Estimate = Field(
        description="this group's drop minus the drop of every other image (null 0); positive: "
        "the group loses more than the rest. n is the smaller side's number of images"
    )
    flip_vs_rest: Estimate = Field(description="this group's flip rate minus the rest's (null 0)")


class FamilyCurve(ResultModel):
    """Accuracy against severity for one group, averaged over the perturbations of a family."""

    name: str = Field(description="'<family>:<attribute>=<group>'")
    family: str
    attribute: str
    group: str
    n_images: int = Field(ge=0)
    small_group: bool
    accuracy_by_severity: list[Estimate] = Field(description="severity 0 (clean) .. 5")
    auc: Estimate = Field(
        description="normalised area under accuracy vs severity (0..5 mapped to 0..1, trapezoids)"
    )
    auc_vs_rest: Estimate = Field(description="this group's area minus the rest's (null 0)")


class RobustnessChange(ResultModel):
    """How much more (or less) accuracy one group loses under a family of perturbations than
    it did with the baseline model, paired on the same perturbed images."""

    name: str = Field(description="'<family>' (all images) or '<family>:<attribute>=<group>'")
    family: str
    attribute: str | None = Field(description="None for all images")
    group: str | None
    n_images: int = Field(ge=0)
    n_items: int = Field(ge=0)
    small_group: bool
    drop_baseline: float = Field(description="the baseline's clean minus perturbed accuracy, averaged over "
                                 "the family's perturbations and severities")
    drop_candidate: float = Field(description="the same for the audited model")
    change: Estimate = Field(
        description="candidate drop minus baseline drop (null 0), paired per image, clustered t interval; "
        "positive: the audited model is less robust than the baseline")
    p_adjusted: float = Field(description="change's p-value after the Holm correction over every change")
    direction: Direction


class RobustnessComparison(ResultModel):
    """The audited model's robustness against the in-run baseline's, on the same perturbed images."""

    baseline_model: str
    baseline_audit: str = Field(description="where the baseline's own audit is, relative to the run directory")
    confidence: float = Field(gt=0, lt=1)
    alpha: float = Field(gt=0, lt=1)
    correction: str = "holm"
    n_tests: int = Field(ge=0)
    changes: list[RobustnessChange]


class RobustnessSection(ResultModel):
    """Robustness of one model to lighting, occlusion and capture-quality perturbations."""

    model: str
    mode: str = Field(description="'scoring' or 'generation', as in the evaluation section")
    seed: int
    confidence: float = Field(gt=0, lt=1)
    n_images: int = Field(ge=0, description="images perturbed (after any subsampling)")
    n_items: int = Field(ge=0)
    n_images_available: int = Field(ge=0, description="evaluation images before subsampling")
    sensitive_attributes: list[str]
    families: list[str]
    severities: list[int]
    geometry: str = Field(description="where occluders were placed from, e.g. 'synthetic landmarks'")
    min_group_n: int = Field(ge=0)
    n_comparisons: int = Field(
        ge=0, description="comparisons stored (interaction, flip_vs_rest, auc_vs_rest): unadjusted"
    )
    perturbations: list[PerturbationInfo]
    conditions: list[ConditionResult]
    groups: list[GroupRobustness]
    curves: list[FamilyCurve]
    relative_corruption_error: dict[str, Estimate] | None = Field(
        default=None,
        description="against the baseline audit's robustness section (gate.baseline): per family "
        "('<family>') and per group ('<family>:<attribute>=<group>'), relative mCE (Hendrycks & "
        "Dietterich 2019); point estimates, lower and upper NaN",
    )
    baseline_comparison: RobustnessComparison | None = Field(
        default=None,
        description="with an in-run baseline (baseline.enabled): each group's change in accuracy drop "
        "against the baseline model on the same perturbed images, paired, per family",
    )
    throughput: dict[str, float] = Field(
        default_factory=dict, description="seconds and images/s of perturbing and predicting"
    )
    method_notes: list[str] = Field(default_factory=list)

