"""Normalise a face's labels, whatever vocabulary they come in, for prompts and checks.

Two vocabularies reach the corpus stage: FairFace's (``race``/``gender``/``age``
with the strings of docs/reference.md §2, including spreadsheet-mangled age ranges)
and the synthetic set's (``skin_tone_group``, ``skin_tone`` on the Monk scale,
``gender``, age bands, and task attributes such as ``expression`` or
``helmet``). Anything not recognised is kept verbatim in ``extras`` and
described generically: an unknown label must never stop a corpus run.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

Gender = Literal["female", "male"]
AgeBand = Literal["infant", "child", "teen", "young adult", "middle-aged", "older"]

_GENDER = {
    "female": "female", "woman": "female", "women": "female", "f": "female", "girl": "female",
    "male": "male", "man": "male", "men": "male", "m": "male", "boy": "male",
}  # fmt: skip

# FairFace ranges, and the forms spreadsheet software turns them into (docs/reference.md §2).
_AGE_ALIASES = {
    "9-mar": "3-9", "03-sep": "3-9", "3-sep": "3-9", "mar-09": "3-9",
    "19-oct": "10-19", "oct-19": "10-19", "2-jan": "0-2", "02-jan": "0-2",
    "70+": "more than 70",
}  # fmt: skip
_FAIRFACE_AGE_BAND: dict[str, AgeBand] = {
    "0-2": "infant", "3-9": "child", "10-19": "teen", "20-29": "young adult",
    "30-39": "young adult", "40-49": "middle-aged", "50-59": "middle-aged",
    "60-69": "older", "more than 70": "older",
}  # fmt: skip
_BAND_ALIASES: dict[str, AgeBand] = {
    "infant": "infant", "baby": "infant", "child": "child", "kid": "child",
    "teen": "teen", "teenager": "teen", "adolescent": "teen",
    "young adult": "young adult", "young": "young adult", "adult": "young adult",
    "middle-aged": "middle-aged", "middle aged": "middle-aged", "middle": "middle-aged",
    "older": "older", "old": "older", "senior": "older", "elderly": "older",
}  # fmt: skip
_BAND_YEARS: dict[AgeBand, tuple[int, int]] = {
    "infant": (0, 2), "child": (3, 12), "teen": (13, 19), "young adult": (20, 39),
    "middle-aged": (40, 59), "older": (60, 110),
}  # fmt: skip

_RACE = {
    "white": "White", "black": "Black", "latino_hispanic": "Latino/Hispanic",
    "latino/hispanic": "Latino/Hispanic", "latino": "Latino/Hispanic", "hispanic": "Latino/Hispanic",
    "east asian": "East Asian", "east_asian": "East Asian",
    "southeast asian": "Southeast Asian", "southeast_asian": "Southeast Asian",
    "indian": "Indian", "middle eastern": "Middle Eastern", "middle_eastern": "Middle Eastern",
}  # fmt: skip

_SKIN_GROUPS = {"light", "medium", "dark"}
_GENDER_KEYS = ("gender", "sex")
_AGE_KEYS = ("age", "age_band", "age_group")
_RACE_KEYS = ("race", "ethnicity")
_SKIN_GROUP_KEYS = ("skin_tone_group", "skin_group")
_SKIN_TONE_KEYS = ("skin_tone", "mst", "monk_skin_tone")
_CONSUMED = set(_GENDER_KEYS + _AGE_KEYS + _RACE_KEYS + _SKIN_GROUP_KEYS + _SKIN_TONE_KEYS)
_RANGE = re.compile(r"^\s*(\d{1,3})\s*-\s*(\d{1,3})\s*$")


@dataclass(frozen=True)
class LabelView:
    """What the prompts and the quality gate know about one face."""

    gender: Gender | None = None
    age_band: AgeBand | None = None
    age_text: str | None = None  # the label as the generator is told it ("3-9", "middle-aged")
    age_years: tuple[int, int] | None = None
    ethnicity: str | None = None
    skin_tone_group: str | None = None
    skin_tone: int | None = None  # Monk skin tone 1-10
    extras: dict[str, str] = field(default_factory=dict)

    @property
    def is_child(self) -> bool:
        """Child wording ("boy"/"girl"): FairFaceGPT used it for 3-9; an infant is no "man" either."""
        return self.age_band in ("infant", "child")

    @property
    def subject(self) -> str:
        if self.gender == "male":
            return "boy" if self.is_child else "man"
        if self.gender == "female":
            return "girl" if self.is_child else "woman"
        return "child" if self.is_child else "person"


def _lookup(attributes: dict[str, str], keys: tuple[str, ...]) -> str | None:
    for key in keys:
        value = attributes.get(key)
        if value is not None and str(value).strip():
            return str(value).strip()
    return None


def _age(raw: str) -> tuple[AgeBand | None, str, tuple[int, int] | None]:
    text = raw.strip()
    low = _AGE_ALIASES.get(text.lower(), text.lower())
    if low in _FAIRFACE_AGE_BAND:
        years = (70, 110) if low == "more than 70" else tuple(int(p) for p in low.split("-"))
        return _FAIRFACE_AGE_BAND[low], low, years  # type: ignore[return-value]
    if low in _BAND_ALIASES:
        band = _BAND_ALIASES[low]
        return band, text, _BAND_YEARS[band]
    match = _RANGE.match(low)
    if match:
        lo, hi = int(match.group(1)), int(match.group(2))
        return _band_of((lo + hi) // 2), f"{lo}-{hi}", (lo, hi)
    if low.isdigit():
        years = int(low)
        return _band_of(years), low, (years, years)
    return None, text, None


def _band_of(years: int) -> AgeBand:
    for band, (lo, hi) in _BAND_YEARS.items():
        if lo <= years <= hi:
            return band
    return "older"


def label_view(attributes: dict[str, str]) -> LabelView:
    """Read FairFace or synthetic labels; unknown names and values survive as ``extras``."""
    extras = {k: str(v) for k, v in attributes.items() if k not in _CONSUMED and str(v).strip()}
    gender_raw = _lookup(attributes, _GENDER_KEYS)
    gender = _GENDER.get(gender_raw.lower()) if gender_raw else None
    if gender_raw and gender is None:
        extras["gender"] = gender_raw  # e.g. "non-binary": described as given, never guessed
    band = age_text = years = None
    age_raw = _lookup(attributes, _AGE_KEYS)
    if age_raw:
        band, age_text, years = _age(age_raw)
    race_raw = _lookup(attributes, _RACE_KEYS)
    ethnicity = _RACE.get(race_raw.lower(), race_raw) if race_raw else None
    group = _lookup(attributes, _SKIN_GROUP_KEYS)
    tone_raw = _lookup(attributes, _SKIN_TONE_KEYS)
    tone: int | None = None
    if tone_raw is not None:
        if tone_raw.isdigit() and 1 <= int(tone_raw) <= 10:
            tone = int(tone_raw)
        elif tone_raw.lower() in _SKIN_GROUPS and group is None:
            group = tone_raw
        else:
            extras["skin_tone"] = tone_raw
    if group is None and tone is not None:
        group = "light" if tone <= 3 else "medium" if tone <= 6 else "dark"
    return LabelView(
        gender=gender,  # type: ignore[arg-type]
        age_band=band,
        age_text=age_text,
        age_years=years,
        ethnicity=ethnicity,
        skin_tone_group=group.lower() if group else None,
        skin_tone=tone,
        extras=extras,
    )
