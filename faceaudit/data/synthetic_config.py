"""Labels and configuration of the procedural synthetic face set.

The synthetic set is the embedded default of faceaudit: faces whose attributes
are known exactly because we drew them, with knobs that plant known biases
(group proportions, per-group label noise, group-correlated lighting) so the
audit can be tested against a ground truth.
"""

from __future__ import annotations

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

RENDERER_VERSION = "1"
"""Bumped whenever a change to the drawing code changes pixels: part of the cache key."""

# Monk Skin Tone scale swatches (Monk 2019, the 10 published reference colours).
MST_RGB: dict[str, tuple[int, int, int]] = {
    "1": (0xF6, 0xED, 0xE4),
    "2": (0xF3, 0xE7, 0xDB),
    "3": (0xF7, 0xEA, 0xD0),
    "4": (0xEA, 0xDA, 0xBA),
    "5": (0xD7, 0xBD, 0x96),
    "6": (0xA0, 0x7E, 0x56),
    "7": (0x82, 0x5C, 0x43),
    "8": (0x60, 0x41, 0x34),
    "9": (0x3A, 0x31, 0x2A),
    "10": (0x29, 0x24, 0x20),
}

# Three groups rather than ten: per-group intervals need tens of faces per group,
# which ten tones would spread too thin at the default n. The cut points follow the
# swatches themselves: 1-3 are near-white, 4-7 span the mid tones with a large
# lightness step between 5 and 6, and 8-10 are the deep tones whose under-
# representation is the failure mode skin-tone audits look for (Monk 2019;
# Google's MST guidance also reports "lighter / medium / darker" tertiles as 1-3/4-7/8-10).
SKIN_TONE_GROUPS: dict[str, tuple[str, ...]] = {
    "light": ("1", "2", "3"),
    "medium": ("4", "5", "6", "7"),
    "dark": ("8", "9", "10"),
}

AGE_BANDS: tuple[str, ...] = ("child", "young adult", "middle-aged", "older")
"""Ordered youngest first; child ~5-12, young adult 18-35, middle-aged 36-59, older 60+."""

HAIR_STYLES: tuple[str, ...] = ("short", "long", "curly", "bun", "bald")
HAIR_COLOURS: tuple[str, ...] = ("black", "dark brown", "brown", "blonde", "red", "grey", "white")

LABELS: dict[str, tuple[str, ...]] = {
    "skin_tone": tuple(MST_RGB),
    "skin_tone_group": tuple(SKIN_TONE_GROUPS),
    "gender": ("female", "male"),
    "age": AGE_BANDS,
    "expression": ("neutral", "smiling"),
    "glasses": ("no", "yes"),
    "helmet": ("no", "yes"),
    "hair": HAIR_STYLES,
    "hair_colour": HAIR_COLOURS,
    "facial_hair": ("none", "stubble", "moustache", "beard"),
    "lighting": ("dim", "normal", "bright"),
}
"""Every categorical attribute column and its allowed values."""

NUMERIC_ATTRIBUTES: tuple[str, ...] = ("head_tilt",)
"""head_tilt: whole degrees, counter-clockwise as seen in the image (positive = the
head leans towards the viewer's left)."""

SENSITIVE_ATTRIBUTES: tuple[str, ...] = ("skin_tone_group", "gender", "age")
#: What the embedded default audits: the three demographic tasks of FaceXBench's bias &
#: fairness category and the factory pilot's "is a safety helmet worn". Expression and
#: glasses stay labelled (any labelled attribute can be a task: dataset.tasks).
AUDIT_TASKS: tuple[str, ...] = ("gender", "age", "skin_tone_group", "helmet")

TASK_ATTRIBUTES: tuple[str, ...] = (
    "gender",
    "age",
    "skin_tone_group",
    "expression",
    "glasses",
    "helmet",
)
ATTRIBUTE_COLUMNS: tuple[str, ...] = (
    "skin_tone",
    "skin_tone_group",
    "gender",
    "age",
    "expression",
    "glasses",
    "helmet",
    "hair",
    "hair_colour",
    "facial_hair",
    "head_tilt",
    "lighting",
)
METADATA_COLUMNS: tuple[str, ...] = ("noisy_label",)
"""Not attributes: ``noisy_label`` lists ``attr=TRUE_VALUE`` pairs (``;``-separated) for
every recorded label that label noise replaced; empty when the face is clean."""

# Exposure (a multiplier on the rendered pixels) bands behind the lighting label.
# Gaps between the bands keep labels unambiguous when no bias is planted.
EXPOSURE_BANDS: dict[str, tuple[float, float]] = {
    "dim": (0.48, 0.74),
    "normal": (0.86, 1.14),
    "bright": (1.26, 1.45),
}
DIM_BELOW = 0.8
BRIGHT_ABOVE = 1.2


def _uniform(values: tuple[str, ...]) -> dict[str, float]:
    return dict.fromkeys(values, 1.0)


def _parse_group_key(key: str, knob: str) -> tuple[str, str]:
    attribute, sep, value = key.partition("=")
    if not sep or attribute not in LABELS:
        raise ValueError(
            f"{knob}: key {key!r} must look like 'attribute=value' with attribute one of "
            f"{', '.join(LABELS)}"
        )
    if value not in LABELS[attribute]:
        raise ValueError(
            f"{knob}: key {key!r}: {value!r} is not a label of {attribute!r}; "
            f"accepted: {', '.join(LABELS[attribute])}"
        )
    return attribute, value


class SyntheticConfig(BaseModel):
    """How many faces, how big, and which biases to plant.

    Group weights are relative (they need not sum to 1); a value left out of a
    weights dict gets weight 0. Counts per group are exact (largest remainder
    of ``n * weight``), so planted proportions hold in every dataset, not just
    on average.

    ``label_noise`` maps ``"attribute=value"`` (a group, judged on the TRUE
    labels) to a probability. A face in that group becomes noisy with that
    probability (a face in several listed groups: 1 - prod(1 - p)). In a noisy
    face every attribute of ``label_noise_attributes`` is recorded with a wrong
    label, drawn uniformly from the other allowed values -- except the
    attributes that define the matching groups, so a face never leaves the group
    it was selected by. When ``skin_tone_group`` flips, the recorded
    ``skin_tone`` moves to a random tone of the new group so the two columns
    agree. The true values are kept in the ``noisy_label`` column.

    ``lighting_bias`` maps ``"attribute=value"`` to an exposure shift added to
    every face of that group (-0.3 darkens by 30 % of normal exposure). The
    ``lighting`` label is taken from the final exposure, so it stays truthful.
    """

    model_config = ConfigDict(extra="forbid")

    # 3,000 faces give the embedded default's tiny model enough training images to learn
    # the attributes (2,100 train) and the audit ~900 test faces per task.
    n: int = Field(default=3000, ge=10, le=1_000_000, description="Faces to render.")
    image_size: int = Field(default=64, ge=32, le=448, description="Image side in pixels.")
    seed: int = Field(default=0, ge=0, description="Same seed and config -> identical PNGs.")
    test_fraction: float = Field(
        default=0.3, ge=0.0, lt=1.0, description="Share of each stratum put in the test split."
    )
    skin_tone_group_weights: dict[str, float] = Field(
        default_factory=lambda: _uniform(LABELS["skin_tone_group"])
    )
    gender_weights: dict[str, float] = Field(default_factory=lambda: _uniform(LABELS["gender"]))
    age_weights: dict[str, float] = Field(default_factory=lambda: _uniform(AGE_BANDS))
    lighting_weights: dict[str, float] = Field(
        default_factory=lambda: {"dim": 0.2, "normal": 0.6, "bright": 0.2}
    )
    smiling_probability: float = Field(default=0.5, ge=0.0, le=1.0)
    glasses_probability: float = Field(default=0.3, ge=0.0, le=1.0)
    helmet_probability: float = Field(default=0.3, ge=0.0, le=1.0)
    facial_hair_probability: float = Field(
        default=0.45,
        ge=0.0,
        le=1.0,
        description="Share of male-presenting adults with facial hair.",
    )
    max_head_tilt: float = Field(default=15.0, ge=0.0, le=45.0, description="Degrees.")
    label_noise: dict[str, float] = Field(default_factory=dict)
    label_noise_attributes: list[str] = Field(default_factory=lambda: list(TASK_ATTRIBUTES))
    lighting_bias: dict[str, float] = Field(default_factory=dict)

    @field_validator("skin_tone_group_weights", "gender_weights", "age_weights", "lighting_weights")
    @classmethod
    def _weights_valid(cls, weights: dict[str, float], info: ValidationInfo) -> dict[str, float]:
        attribute = str(info.field_name).removesuffix("_weights")
        allowed = LABELS[attribute]
        for key, weight in weights.items():
            if key not in allowed:
                raise ValueError(
                    f"{key!r} is not a {attribute} label; accepted: {', '.join(allowed)}"
                )
            if not weight >= 0.0 or weight == float("inf"):
                raise ValueError(f"weight of {key!r} must be a finite number >= 0, got {weight}")
        if sum(weights.values()) <= 0.0:
            raise ValueError(f"at least one {attribute} weight must be > 0")
        # Canonical order so that equal weights given in another order hash alike.
        return {key: float(weights[key]) for key in allowed if key in weights}

    @field_validator("label_noise")
    @classmethod
    def _noise_valid(cls, noise: dict[str, float]) -> dict[str, float]:
        for key, p in noise.items():
            _parse_group_key(key, "label_noise")
            if not 0.0 <= p <= 1.0:
                raise ValueError(f"label_noise[{key!r}] must be a probability in [0, 1], got {p}")
        return dict(sorted(noise.items()))

    @field_validator("label_noise_attributes")
    @classmethod
    def _noise_attributes_valid(cls, attributes: list[str]) -> list[str]:
        for attribute in attributes:
            if attribute not in LABELS:
                raise ValueError(
                    f"label_noise_attributes: {attribute!r} is not a categorical attribute; "
                    f"accepted: {', '.join(LABELS)}"
                )
        return list(dict.fromkeys(attributes))

    @field_validator("lighting_bias")
    @classmethod
    def _bias_valid(cls, bias: dict[str, float]) -> dict[str, float]:
        for key, shift in bias.items():
            _parse_group_key(key, "lighting_bias")
            if not -0.7 <= shift <= 0.7:
                raise ValueError(
                    f"lighting_bias[{key!r}] must be an exposure shift in [-0.7, 0.7], got {shift}"
                )
        return dict(sorted(bias.items()))

    @model_validator(mode="after")
    def _noise_not_on_lighting(self) -> SyntheticConfig:
        # Lighting labels follow the rendered exposure, and skin_tone follows
        # skin_tone_group when that flips; noise on either would contradict another column.
        for attribute in ("lighting", "skin_tone"):
            if attribute in self.label_noise_attributes:
                raise ValueError(
                    f"label_noise_attributes: {attribute!r} cannot be made noisy "
                    "(lighting follows the rendered exposure; flip skin_tone_group instead of skin_tone)"
                )
        return self

    def group_keys(self, knob: dict[str, float]) -> list[tuple[str, str, float]]:
        return [(*_parse_group_key(key, "knob"), value) for key, value in knob.items()]
