"""Configuration of the corpus scan (the ``scan`` section of ``AuditConfig``)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class ReviewConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(default=True, description="Export a review queue (CSV + HTML page).")
    stratify_by: list[str] | None = Field(
        default=None,
        description="Attributes whose intersection cells are the review strata (default: the "
        "first sensitive attribute; every cell costs a full sample, so an intersection of three "
        "attributes can mean thousands of items).",
    )
    precision: float = Field(
        default=0.10,
        gt=0,
        lt=0.5,
        description="Half-width of the 95% interval each stratum's reviewed error rate is bounded to.",
    )
    expected_error_rate: float = Field(
        default=0.5,
        gt=0,
        le=0.5,
        description="Planning value of the error rate; 0.5 is the worst case and never too small.",
    )
    max_flagged: int = Field(default=500, ge=0, description="Flagged items queued at most.")
    verdicts: str | None = Field(
        default=None, description="CSV of a reviewer's verdicts (key, verdict ok/error) to import."
    )
    require: bool = Field(
        default=False,
        description="Opt-in: the gate may PASS only once the whole random sample has been reviewed.",
    )


class ScanConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    scanners: list[str] | None = Field(
        default=None, description="Scanner names to run (default: every registered scanner)."
    )
    attributes: list[str] | None = Field(
        default=None, description="Sensitive attributes to stratify by (default: the dataset's)."
    )
    intersections: bool = Field(default=True, description="Also report the intersection of all attributes.")
    labels: str | None = Field(
        default=None,
        description="Labels of a corpus scanned without its dataset: a FairFace label CSV or a "
        "manifest (CSV/JSONL with id and attribute columns).",
    )
    min_group_n: int = Field(default=30, ge=1, description="Groups with fewer images are flagged small.")
    fdr: float = Field(default=0.05, gt=0, lt=1, description="Benjamini-Hochberg level over the vocabulary.")
    prior_strength: float = Field(
        default=500.0, gt=0, description="alpha_0 of the informative Dirichlet prior (Monroe et al. 2008)."
    )
    min_word_images: int = Field(default=10, ge=1, description="Words used for fewer images are not tested.")
    top_words: int = Field(default=15, ge=1, description="Significant words kept per group.")
    demographic_aspects: list[str] = Field(
        default_factory=lambda: ["demographic_attributes", "overall_detail", "forensic_considerations"],
        description="Aspects that may name demographics; a mention anywhere else is unsolicited.",
    )
    review: ReviewConfig = Field(default_factory=ReviewConfig)
