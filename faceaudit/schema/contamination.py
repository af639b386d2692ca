"""The ``contamination`` section: evaluation images that are also in the training corpus."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from faceaudit.schema.common import Estimate, ResultModel


class ContaminationGroup(ResultModel):
    """One group's evaluation images and how many of them the corpus holds."""

    attribute: str
    label: str
    n_images: int = Field(ge=0)
    n_contaminated: int = Field(ge=0)
    rate: Estimate = Field(description="n_contaminated / n_images with its Wilson interval")


class ContaminationExample(ResultModel):
    eval_image: str = Field(description="evaluation image path, relative to the data set root")
    corpus_image: str = Field(description="the matching corpus image, as the corpus names it")
    kind: str = Field(description="'file' (same bytes), 'pixels' (same decoded picture) or 'near'")
    phash_distance: int = Field(ge=0)
    thumbnail_difference: float = Field(ge=0)


class CleanGroupAccuracy(ResultModel):
    """A group's accuracy on all items and on the items whose images are not in the corpus."""

    attribute: str
    label: str
    all_items: Estimate
    clean_items: Estimate = Field(description="items with no contaminated image (NaN when none is left)")
    n_excluded: int = Field(ge=0)


class CleanTaskAccuracy(ResultModel):
    task: str
    n_items: int = Field(ge=0)
    n_excluded: int = Field(ge=0)
    overall_clean: Estimate
    groups: list[CleanGroupAccuracy]


class ContaminationSection(ResultModel):
    """Evaluation images found in the training corpus: exactly (file bytes or decoded pixels)
    or nearly (perceptual hash and thumbnail within the thresholds, i.e. re-encoded or resized)."""

    corpus: str = Field(description="the corpus compared with: this run's, or contamination.corpus")
    corpus_sha256: str
    trained_on_corpus: bool = Field(description="this run's training stage learned from this corpus")
    method: str
    phash_max_distance: int
    thumbnail_max_difference: float
    n_eval_images: int = Field(ge=0)
    n_corpus_images: int = Field(ge=0, description="distinct corpus images found on disk and compared")
    n_corpus_images_missing: int = Field(ge=0, description="corpus images named but not found (not compared)")
    n_exact_file: int = Field(ge=0)
    n_exact_pixels: int = Field(ge=0, description="same pixels, different file bytes")
    n_near: int = Field(ge=0, description="near duplicates that are not exact")
    n_contaminated_images: int = Field(ge=0, description="evaluation images found in the corpus, any way")
    n_contaminated_items: int = Field(ge=0, description="evaluation items asking about such an image")
    rate: Estimate = Field(description="contaminated share of evaluation images, Wilson interval")
    groups: list[ContaminationGroup] = Field(default_factory=list)
    examples: list[ContaminationExample] = Field(default_factory=list, description="up to 20 matches")
    clean: list[CleanTaskAccuracy] | None = Field(
        default=None, description="accuracy recomputed without contaminated items (None: not asked "
        "or no evaluation section)",
    )
    clean_skipped: Literal["turned_off", "no_evaluation"] | None = Field(
        default=None, description="why clean is None, as the check itself saw it: contamination.recompute_clean "
        "was false, or the run had no evaluation section when the check ran",
    )
    notes: list[str] = Field(default_factory=list)
