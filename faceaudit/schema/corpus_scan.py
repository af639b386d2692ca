"""The ``corpus_scan`` section: how the training corpus talks about each group.

Every scanner writes its own typed result; a scanner that did not run leaves its
field ``None``. A per-group rate is an :class:`Estimate` (Wilson, widened by the
design effect of several answers per image, ``n`` = images); a comparison of a
group with the rest of the corpus also carries ``null_value`` (0) and an
unadjusted two-sided ``p_value``: the gate corrects for multiplicity itself.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from faceaudit.schema.common import Estimate, ResultModel


class GroupRate(ResultModel):
    """One proportion for one group, and the same group against everyone else."""

    attribute: str = Field(description="'race', or an intersection such as 'race × gender'")
    group: str
    n_pairs: int = Field(ge=0, description="Q&A pairs of the group the rate is measured on")
    rate: Estimate
    vs_rest: Estimate | None = Field(
        default=None, description="rate of the group minus rate of the rest (Newcombe interval)"
    )
    small_group: bool = Field(description="fewer images than min_group_n: read with care")


class RateTable(ResultModel):
    """One yes/no property of an answer, measured overall and per group."""

    description: str
    overall: Estimate
    groups: dict[str, GroupRate] = Field(
        default_factory=dict, description="keyed 'attribute=group', e.g. 'race=Black'"
    )


class GroupCounts(ResultModel):
    n_images: int = Field(ge=0)
    n_pairs: int = Field(ge=0)
    n_answer_tokens: int = Field(ge=0)
    share_of_images: float
    mean_answer_tokens: float
    pairs_per_aspect: dict[str, int] = Field(default_factory=dict)


class AttributeRepresentation(ResultModel):
    attribute: str
    groups: dict[str, GroupCounts]
    imbalance_images: float = Field(description="largest / smallest group by images (inf if one is empty)")
    imbalance_pairs: float
    imbalance_answer_length: float = Field(description="longest / shortest mean answer, in tokens")
    missing_aspects: dict[str, list[str]] = Field(
        default_factory=dict, description="group -> aspects of the corpus it has no answer for"
    )


class RepresentationResult(ResultModel):
    n_images: int = Field(ge=0)
    n_pairs: int = Field(ge=0)
    n_answer_tokens: int = Field(ge=0)
    n_unlabelled_pairs: int = Field(ge=0, description="pairs whose image has no label: left out")
    n_rejected_pairs: int = Field(ge=0, description="pairs the corpus quality gate rejected: not scanned")
    aspects: list[str]
    attributes: dict[str, AttributeRepresentation]


class LabelConsistencyResult(ResultModel):
    lexicon: str = Field(description="lexicon version and what it covers")
    demographic_aspects: list[str] = Field(
        description="aspects that may name demographics; every other aspect's mentions are unsolicited"
    )
    rates: dict[str, RateTable] = Field(
        description="gender/age/race/skin_tone/any_contradiction; unsolicited_* mentions"
    )
    examples: dict[str, list[str]] = Field(
        default_factory=dict, description="kind -> keys of a few answers that show it"
    )


class WordAssociation(ResultModel):
    """A word used more often for one group than for the rest (Monroe et al. 2008)."""

    attribute: str
    group: str
    word: str
    images_group: int = Field(ge=0, description="images of the group whose answers use the word")
    images_rest: int = Field(ge=0)
    share_group: float
    share_rest: float
    log_odds: float = Field(description="weighted log-odds ratio with the informative Dirichlet prior")
    z: float
    p_value: float = Field(description="two-sided exact (hypergeometric) p-value, unadjusted")
    q_value: float = Field(description="Benjamini-Hochberg over every word x group of the attribute")
    significant: bool
    lexicon_category: str | None = None


class AssociationResult(ResultModel):
    method: str
    unit: str = Field(description="what one count is (a word counted once per image)")
    prior_strength: float
    fdr: float
    min_images: int = Field(description="words used for fewer images are not tested")
    n_words_tested: int = Field(ge=0)
    n_significant: int = Field(ge=0)
    words: list[WordAssociation] = Field(
        default_factory=list,
        description="every significant over-use, then every sensitive-lexicon word, strongest first",
    )
    descriptors: dict[str, RateTable] = Field(
        default_factory=dict, description="sensitive-descriptor category -> share of answers using it"
    )
    lexicon: dict[str, str] = Field(default_factory=dict, description="category -> what it is and why")


class ToneResult(ResultModel):
    sentiment_method: str
    sentiment: dict[str, Estimate] = Field(
        default_factory=dict, description="'attribute=group' (and 'overall') -> mean sentiment in [-1, 1]"
    )
    rates: dict[str, RateTable] = Field(description="negative, hedging, refusal")


class DuplicateExample(ResultModel):
    key: str
    count: int
    groups: list[str] = Field(default_factory=list)
    text: str


class HygieneResult(ResultModel):
    n_exact_duplicates: int = Field(ge=0, description="answers equal (case, punctuation aside) to an earlier one")
    n_near_duplicates: int = Field(ge=0, description="not exact, but estimated word-trigram Jaccard >= 0.75")
    n_cross_group_copies: int = Field(
        ge=0, description="answers identical to one for another group once demographic words are masked"
    )
    cross_group_copies_by_attribute: dict[str, int] = Field(default_factory=dict)
    n_personal_data: int = Field(ge=0, description="answers with an e-mail, phone number or name")
    personal_data_by_kind: dict[str, int] = Field(default_factory=dict)
    rates: dict[str, RateTable] = Field(default_factory=dict)
    examples: list[DuplicateExample] = Field(default_factory=list)
    flagged_personal_data: list[str] = Field(default_factory=list, description="keys, first 50")


class ReviewedGroup(ResultModel):
    stratum: str
    n_population: int = Field(ge=0)
    n_sampled: int = Field(ge=0)
    n_reviewed: int = Field(ge=0)
    n_errors: int = Field(ge=0)


class ReviewResult(ResultModel):
    """The human review loop: what was exported, what came back."""

    stratify_by: list[str]
    precision: float = Field(description="95% half-width each stratum's sample bounds the error rate to")
    queue_csv: str | None = None
    queue_html: str | None = None
    n_queued: int = Field(ge=0)
    n_sampled: int = Field(ge=0, description="random per-stratum sample")
    n_flagged: int = Field(ge=0, description="flagged by a scanner (not a random sample)")
    n_flagged_dropped: int = Field(ge=0, description="flagged items beyond max_flagged, not queued")
    verdicts_file: str | None = None
    n_checked: int = Field(ge=0, description="items a human gave a verdict on")
    n_errors: int = Field(ge=0)
    n_flagged_confirmed: int = Field(ge=0, description="flagged items the reviewer called errors")
    required: bool = Field(description="the config demands a reviewed sample before PASS")
    required_n: int = Field(ge=0)
    shortfall: int | None = Field(
        default=None, ge=0, description="sampled items still to review; None when review is not required"
    )
    strata: list[ReviewedGroup] = Field(default_factory=list)
    reviewed: RateTable | None = Field(
        default=None, description="reviewed error rate of the random sample, per stratum"
    )


class CorpusScanSection(ResultModel):
    corpus_path: str
    corpus_sha256: str | None = None
    attributes: list[str] = Field(description="sensitive attributes the corpus is stratified by")
    intersections: list[str] = Field(default_factory=list)
    min_group_n: int
    scanners_run: list[str]
    wall_time_s: float = Field(ge=0)
    representation: RepresentationResult | None = None
    label_consistency: LabelConsistencyResult | None = None
    association: AssociationResult | None = None
    tone: ToneResult | None = None
    hygiene: HygieneResult | None = None
    review: ReviewResult | None = None
    plugin_results: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="results of plug-in scanners (entry point group faceaudit.scanners) by name")
