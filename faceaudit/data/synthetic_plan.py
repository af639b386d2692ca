"""What each synthetic face looks like and how it is labelled, decided before any drawing.

The plan is the whole truth about a face: its true attributes, the labels we
record (after planted noise), its split, and every appearance parameter the
renderer needs. Drawing is then a pure function of the plan, so the plan can be
inspected (and tested on large n) without rendering a single pixel.

Randomness comes from independent streams so that one knob never reshuffles
another: demographic counts are exact quotas shuffled per attribute; each face's
appearance comes from a generator seeded by (seed, index, 1) and its label
noise from (seed, index, 2), so face i does not depend on rendering order and
turning on label noise changes no pixel.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from faceaudit.data.synthetic_config import (
    BRIGHT_ABOVE,
    DIM_BELOW,
    EXPOSURE_BANDS,
    LABELS,
    MST_RGB,
    SENSITIVE_ATTRIBUTES,
    SKIN_TONE_GROUPS,
    SyntheticConfig,
)

RGB = tuple[int, int, int]

_HAIR_RGB: dict[str, RGB] = {
    "black": (28, 24, 22),
    "dark brown": (62, 40, 27),
    "brown": (105, 70, 42),
    "blonde": (205, 170, 105),
    "red": (150, 68, 32),
    "grey": (150, 148, 146),
    "white": (228, 226, 220),
}
_EYE_RGB: dict[str, RGB] = {
    "dark brown": (50, 32, 20),
    "brown": (95, 58, 30),
    "hazel": (120, 95, 50),
    "green": (75, 118, 78),
    "blue": (68, 112, 165),
}
_CLOTHING_RGB: tuple[RGB, ...] = (
    (40, 60, 110),
    (150, 30, 40),
    (40, 110, 70),
    (200, 200, 205),
    (50, 50, 55),
    (120, 80, 150),
    (210, 120, 40),
    (70, 140, 170),
    (140, 120, 90),
    (230, 230, 230),
)
_BACKGROUND_RGB: tuple[RGB, ...] = (
    (170, 190, 210),
    (215, 205, 185),
    (175, 205, 180),
    (200, 185, 215),
    (190, 190, 190),
    (120, 160, 165),
    (225, 195, 175),
    (90, 100, 120),
    (160, 170, 140),
    (235, 235, 230),
)
_FRAME_RGB: tuple[RGB, ...] = (
    (20, 20, 22),
    (70, 40, 25),
    (110, 60, 30),
    (120, 122, 128),
    (25, 35, 70),
)
_HELMET_RGB: tuple[RGB, ...] = (
    (245, 200, 20),
    (245, 125, 20),
    (238, 238, 235),
    (205, 40, 30),
    (30, 85, 190),
    (40, 150, 60),
)


@dataclass(frozen=True)
class FaceSpec:
    """Everything about one face. ``true`` holds what was drawn, ``recorded`` what the
    manifest says (they differ only where label noise flipped a label)."""

    id: str
    index: int
    split: str
    true: dict[str, str]
    recorded: dict[str, str]
    flipped: dict[str, str]
    skin_rgb: tuple[float, float, float]
    hair_rgb: RGB
    eye_rgb: RGB
    lip_rgb: RGB
    clothing_rgb: RGB
    background: tuple[RGB, RGB, RGB, RGB]
    frame_rgb: RGB
    round_frames: bool
    helmet_rgb: RGB
    earrings: bool
    face_dx: float
    face_dy: float
    width_scale: float
    height_scale: float
    hair_part: tuple[float, float]
    tilt: int
    exposure: float
    light_angle: float
    light_strength: float
    white_balance: tuple[float, float, float] = field(default=(1.0, 1.0, 1.0))

    @property
    def noisy_label(self) -> str:
        return ";".join(f"{k}={v}" for k, v in self.flipped.items())


def _quota(
    labels: tuple[str, ...], weights: dict[str, float], n: int, rng: np.random.Generator
) -> np.ndarray:
    """Exactly round(n * share) faces per label (largest remainder), in random order."""
    w = np.array([weights.get(label, 0.0) for label in labels], dtype=float)
    raw = n * w / w.sum()
    counts = np.floor(raw).astype(int)
    remainder = n - counts.sum()
    # Ties broken by label order, so the quota is deterministic without the rng.
    order = np.argsort(-(raw - counts), kind="stable")
    counts[order[:remainder]] += 1
    values = np.repeat(np.arange(len(labels)), counts)
    rng.shuffle(values)
    return np.array(labels, dtype=object)[values]


def _binary_quota(p: float, yes: str, no: str, n: int, rng: np.random.Generator) -> np.ndarray:
    return (
        _quota((no, yes), {no: 1.0 - p, yes: p}, n, rng)
        if 0.0 < p < 1.0
        else np.array([yes if p >= 1.0 else no] * n, dtype=object)
    )


def _pick(rng: np.random.Generator, options: dict[str, float]) -> str:
    names = list(options)
    p = np.array([options[name] for name in names], dtype=float)
    return names[int(rng.choice(len(names), p=p / p.sum()))]


def _hair(rng: np.random.Generator, gender: str, age: str, tone_group: str) -> tuple[str, str]:
    base_colours = {
        "light": {"black": 0.15, "dark brown": 0.25, "brown": 0.25, "blonde": 0.25, "red": 0.1},
        "medium": {"black": 0.5, "dark brown": 0.3, "brown": 0.15, "blonde": 0.05},
        "dark": {"black": 0.8, "dark brown": 0.2},
    }[tone_group]
    if age == "older":
        colour = _pick(rng, {"grey": 0.45, "white": 0.4, "base": 0.15})
    elif age == "middle-aged":
        colour = _pick(rng, {"grey": 0.2, "base": 0.8})
    else:
        colour = "base"
    if colour == "base":
        colour = _pick(rng, base_colours)
    curly = 0.35 if tone_group == "dark" else 0.15
    if gender == "female":
        styles = {"long": 0.55 - curly / 2, "bun": 0.15, "curly": curly, "short": 0.3 - curly / 2}
    elif age in ("middle-aged", "older"):
        styles = {"short": 0.65 - curly, "curly": curly, "long": 0.07, "bald": 0.28}
    else:
        styles = {"short": 0.88 - curly, "curly": curly, "long": 0.12}
    if age == "child":
        styles.pop("long" if gender == "male" else "short", None)
    return _pick(rng, styles), colour


def _jitter(rgb: RGB, rng: np.random.Generator, sd: float) -> RGB:
    values = np.clip(np.array(rgb, dtype=float) + rng.normal(0.0, sd, 3), 0, 255)
    return (int(values[0]), int(values[1]), int(values[2]))


def _matches(true: dict[str, str], knob: list[tuple[str, str, float]]) -> list[tuple[str, float]]:
    return [(attribute, value) for attribute, label, value in knob if true[attribute] == label]


def _stratified_splits(true: list[dict[str, str]], fraction: float, seed: int) -> list[str]:
    """Test share ``fraction`` within every (skin tone group, gender, age) stratum.

    A stratum of two or more faces always puts at least one face in each split,
    so both splits cover every group that has two faces or more.
    """
    splits = ["train"] * len(true)
    if fraction <= 0.0:
        return splits
    rng = np.random.default_rng([seed, 3])
    strata: dict[tuple[str, ...], list[int]] = {}
    for index, labels in enumerate(true):
        strata.setdefault(tuple(labels[a] for a in SENSITIVE_ATTRIBUTES), []).append(index)
    for key in sorted(strata):
        members = strata[key]
        n_test = int(round(len(members) * fraction))
        n_test = min(max(n_test, 1), len(members) - 1) if len(members) >= 2 else 0
        for position in rng.permutation(len(members))[:n_test]:
            splits[members[position]] = "test"
    return splits


def plan_faces(config: SyntheticConfig) -> list[FaceSpec]:
    """The labels, split and appearance of every face of ``config``, without drawing."""
    n, seed = config.n, config.seed
    quota_rng = {
        name: np.random.default_rng([seed, 100 + k])
        for k, name in enumerate(
            ("skin_tone_group", "gender", "age", "expression", "glasses", "helmet", "lighting")
        )
    }
    columns = {
        "skin_tone_group": _quota(
            LABELS["skin_tone_group"],
            config.skin_tone_group_weights,
            n,
            quota_rng["skin_tone_group"],
        ),
        "gender": _quota(LABELS["gender"], config.gender_weights, n, quota_rng["gender"]),
        "age": _quota(LABELS["age"], config.age_weights, n, quota_rng["age"]),
        "expression": _binary_quota(
            config.smiling_probability, "smiling", "neutral", n, quota_rng["expression"]
        ),
        "glasses": _binary_quota(config.glasses_probability, "yes", "no", n, quota_rng["glasses"]),
        "helmet": _binary_quota(config.helmet_probability, "yes", "no", n, quota_rng["helmet"]),
        "lighting": _quota(LABELS["lighting"], config.lighting_weights, n, quota_rng["lighting"]),
    }
    noise = config.group_keys(config.label_noise)
    bias = config.group_keys(config.lighting_bias)

    drafts = []
    for i in range(n):
        rng = np.random.default_rng([seed, i, 1])
        true = {name: str(values[i]) for name, values in columns.items()}
        group, gender, age = true["skin_tone_group"], true["gender"], true["age"]
        tone = SKIN_TONE_GROUPS[group][int(rng.integers(len(SKIN_TONE_GROUPS[group])))]
        skin = np.clip(np.array(MST_RGB[tone], dtype=float) + rng.normal(0.0, 3.0, 3), 0, 255)
        hair, hair_colour = _hair(rng, gender, age, group)
        facial_hair = "none"
        if gender == "male" and age != "child" and rng.random() < config.facial_hair_probability:
            facial_hair = _pick(rng, {"stubble": 0.3, "moustache": 0.25, "beard": 0.45})
        tilt = int(round(rng.uniform(-config.max_head_tilt, config.max_head_tilt)))
        low, high = EXPOSURE_BANDS[true["lighting"]]
        exposure = float(rng.uniform(low, high))
        eye = _pick(
            rng,
            {"brown": 0.35, "blue": 0.3, "green": 0.15, "hazel": 0.2}
            if group == "light"
            else {"dark brown": 0.6, "brown": 0.4},
        )
        adult_female = gender == "female" and age != "child"
        lipstick = adult_female and rng.random() < 0.35
        lip_base = np.array([165, 62, 72]) if lipstick else np.array([175, 95, 90])
        lip = np.clip(
            skin * (0.45 if lipstick else 0.62) + lip_base * (0.55 if lipstick else 0.38), 0, 255
        )
        base_bg = _BACKGROUND_RGB[int(rng.integers(len(_BACKGROUND_RGB)))]
        background = tuple(_jitter(base_bg, rng, 14.0) for _ in range(4))
        spec = dict(
            skin_rgb=(float(skin[0]), float(skin[1]), float(skin[2])),
            hair_rgb=_jitter(_HAIR_RGB[hair_colour], rng, 6.0),
            eye_rgb=_jitter(_EYE_RGB[eye], rng, 5.0),
            lip_rgb=(int(lip[0] * 0.8), int(lip[1] * 0.8), int(lip[2] * 0.8)),
            clothing_rgb=_jitter(_CLOTHING_RGB[int(rng.integers(len(_CLOTHING_RGB)))], rng, 10.0),
            background=background,
            frame_rgb=_FRAME_RGB[int(rng.integers(len(_FRAME_RGB)))],
            round_frames=bool(rng.random() < 0.5),
            helmet_rgb=_jitter(_HELMET_RGB[int(rng.integers(len(_HELMET_RGB)))], rng, 6.0),
            earrings=bool(adult_female and rng.random() < 0.3),
            face_dx=float(rng.uniform(-2.0, 2.0)),
            face_dy=float(rng.uniform(-1.5, 1.5)),
            width_scale=float(rng.normal(1.0, 0.04)),
            height_scale=float(rng.normal(1.0, 0.035)),
            hair_part=(float(rng.uniform(18, 34)), float(rng.uniform(18, 34))),
            tilt=tilt,
            light_angle=float(rng.uniform(0.0, 2 * np.pi)),
            light_strength=float(rng.uniform(0.1, 0.45)),
            white_balance=tuple(float(x) for x in rng.normal(1.0, 0.025, 3)),
        )
        true.update(
            skin_tone=tone,
            hair=hair,
            hair_colour=hair_colour,
            facial_hair=facial_hair,
            head_tilt=str(tilt),
        )
        # Planted lighting bias moves exposure; the label then follows the pixels.
        exposure = float(np.clip(exposure + sum(v for _, v in _matches(true, bias)), 0.2, 1.9))
        true["lighting"] = (
            "dim" if exposure < DIM_BELOW else "bright" if exposure > BRIGHT_ABOVE else "normal"
        )
        drafts.append((true, exposure, spec))

    splits = _stratified_splits([d[0] for d in drafts], config.test_fraction, seed)
    faces = []
    for i, (true, exposure, spec) in enumerate(drafts):
        recorded, flipped = _apply_noise(config, noise, true, np.random.default_rng([seed, i, 2]))
        faces.append(
            FaceSpec(
                id=f"syn-{i:05d}",
                index=i,
                split=splits[i],
                true=true,
                recorded=recorded,
                flipped=flipped,
                exposure=exposure,
                **spec,
            )
        )
    return faces


def _apply_noise(
    config: SyntheticConfig,
    noise: list[tuple[str, str, float]],
    true: dict[str, str],
    rng: np.random.Generator,
) -> tuple[dict[str, str], dict[str, str]]:
    """Recorded labels: the true ones, or wrong ones where this face drew planted noise."""
    recorded = dict(true)
    matching = [(a, p) for a, p in _matches(true, noise) if p > 0.0]
    keep_probability = float(np.prod([1.0 - p for _, p in matching])) if matching else 1.0
    # Always draw, so the decision for face i does not depend on other knobs.
    draw = rng.random()
    if not matching or draw >= 1.0 - keep_probability:
        return recorded, {}
    protected = {a for a, _ in matching}
    flipped = {}
    for attribute in config.label_noise_attributes:
        if attribute in protected:
            continue
        others = [v for v in LABELS[attribute] if v != true[attribute]]
        recorded[attribute] = others[int(rng.integers(len(others)))]
        flipped[attribute] = true[attribute]
    if "skin_tone_group" in flipped:
        tones = SKIN_TONE_GROUPS[recorded["skin_tone_group"]]
        recorded["skin_tone"] = tones[int(rng.integers(len(tones)))]
        flipped["skin_tone"] = true["skin_tone"]
    return recorded, flipped
