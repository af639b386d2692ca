"""The FairFaceGPT prompt set: system prompt, label-injecting user prompts, stored questions.

docs/reference.md §3: the generator is *told* the labels ("We know that this is a
face image of a {man/woman, boy/girl for ages 3-9} with {race} ethnicity and
{age} years old. Describe only the {aspect} ..."), while the question stored in
the corpus omits them ("Describe the {aspect} of the image based on the visual
information."). The set is a versioned, hashable document: its SHA-256 goes
into provenance, and a user can replace it with a YAML/JSON file.
"""

from __future__ import annotations

import json
import string
from functools import cached_property
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from faceaudit.corpus.labels import LabelView
from faceaudit.errors import InputError, format_validation_errors
from faceaudit.store import read_regular_text, sha256_json
from faceaudit.yaml_io import load_yaml

# Aspect ids in FairFaceGPT order, with the wording the original generator used.
ASPECTS: dict[str, str] = {
    "demographic_attributes": "demographic attributes",
    "facial_structure": "facial structure",
    "skin_texture": "skin texture",
    "expression_and_emotion": "expression and emotion",
    "lighting_and_image_quality": "lighting and image quality",
    "face_pose": "face pose",
    "forensic_considerations": "forensic considerations",
    "overall_detail": "detail",
}
ASPECT_IDS: tuple[str, ...] = tuple(ASPECTS)

_SYSTEM_PROMPT = (
    "You are an AI assistant specialised in analysing face images. Your task is to analyse and "
    "describe faces with high accuracy and detail, suitable for forensic and biometric "
    "applications. Provide objective and detailed descriptions based on visual information and "
    "do not make assumptions beyond visible traits. When analysing an image consider demographic "
    "estimation (estimated age range, gender and ethnicity or skin tone), facial structure and "
    "features (eye shape and colour, nose shape, lip thickness, jawline, cheekbones), skin "
    "texture and condition (smoothness, wrinkles, scars, freckles, moles or other marks), "
    "expression and emotion (neutral, smiling, frowning, surprised ...), lighting and image "
    "quality (brightness, sharpness, blur, distortions), face pose (frontal, profile, tilted) "
    "and occlusions (hair, glasses, mask, helmet ...), and forensic considerations (low light, "
    "partial occlusion, make-up, ageing effects). You may be told the person's ethnicity or "
    "skin tone, gender and age; use them as known facts. If you are asked about one aspect, "
    "describe only that aspect. Never reply that you are unable to analyse the image; answer "
    "with a description based on the visual information, in one or more plain-text paragraphs."
)

_AGE_BAND_PHRASE = {
    "infant": "an infant",
    "child": "a child",
    "teen": "a teenager",
    "young adult": "a young adult",
    "middle-aged": "middle-aged",
    "older": "an older adult",
}

_FIELDS: dict[str, set[str]] = {
    "user_template": {"preamble", "instruction"},
    "preamble_template": {"subject", "details"},
    "ethnicity_clause": {"value"},
    "skin_clause": {"value"},
    "age_years_clause": {"value"},
    "age_band_clause": {"value"},
    "extras_clause": {"value"},
    "instruction_template": {"aspect"},
    "question_template": {"aspect"},
}


class AspectPrompt(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, description="How the aspect is named inside the prompts.")
    instruction: str | None = Field(
        default=None, description="Replaces instruction_template for this aspect."
    )
    question: str | None = Field(default=None, description="Replaces question_template.")


class PromptSet(BaseModel):
    """Every string the generator sees. Placeholders are checked when the set is loaded."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: str = Field(min_length=1)
    system_prompt: str = Field(min_length=1)
    user_template: str = "{preamble} {instruction}"
    preamble_template: str = "We know that this is a face image of a {subject}{details}."
    ethnicity_clause: str = " with {value} ethnicity"
    skin_clause: str = " with {value} skin"
    age_years_clause: str = " and {value} years old"
    age_band_clause: str = " who is {value}"
    extras_clause: str = " Other recorded attributes: {value}."
    instruction_template: str = (
        "Describe only the {aspect} of the image and discuss your description of {aspect} based "
        "on the visual information (do not mention based on your description)."
    )
    question_template: str = "Describe the {aspect} of the image based on the visual information."
    aspects: dict[str, AspectPrompt]

    @model_validator(mode="after")
    def _check(self) -> PromptSet:
        for name, allowed in _FIELDS.items():
            text = getattr(self, name)
            try:
                used = {f for _, f, _, _ in string.Formatter().parse(text) if f is not None}
            except ValueError as error:
                raise ValueError(f"{name}: not a valid template ({error}): {text!r}") from None
            bad = used - allowed
            if bad:
                raise ValueError(
                    f"{name}: unknown placeholder(s) {sorted(bad)}; accepted: {sorted(allowed)}"
                )
        missing = [a for a in ASPECT_IDS if a not in self.aspects]
        unknown = [a for a in self.aspects if a not in ASPECTS]
        if missing or unknown:
            raise ValueError(
                f"aspects must be exactly {list(ASPECT_IDS)}; missing {missing}, unknown {unknown}"
            )
        for aspect_id, aspect in self.aspects.items():
            for text in (aspect.instruction, aspect.question):
                if text is not None and "{" in text.replace("{aspect}", ""):
                    raise ValueError(f"aspects.{aspect_id}: only {{aspect}} may be a placeholder")
        return self

    @cached_property
    def sha256(self) -> str:
        return sha256_json(self.model_dump(mode="json"))

    def question(self, aspect: str) -> str:
        """The stored question: what the trained model will be asked, with no labels in it."""
        spec = self.aspects[aspect]
        return (spec.question or self.question_template).format(aspect=spec.name)

    def instruction(self, aspect: str) -> str:
        spec = self.aspects[aspect]
        return (spec.instruction or self.instruction_template).format(aspect=spec.name)

    def label_preamble(self, labels: LabelView) -> str:
        """The sentence that tells the generator what the labels say about this face."""
        details = ""
        if labels.ethnicity:
            details += self.ethnicity_clause.format(value=labels.ethnicity)
        if labels.skin_tone_group:
            tone = labels.skin_tone_group
            if labels.skin_tone is not None:
                tone += f" (Monk skin tone {labels.skin_tone})"
            details += self.skin_clause.format(value=tone)
        if labels.age_text:
            if labels.age_text[:1].isdigit() or labels.age_text.startswith("more than"):
                details += self.age_years_clause.format(value=labels.age_text)
            else:
                phrase = _AGE_BAND_PHRASE.get(labels.age_band or "", labels.age_text)
                details += self.age_band_clause.format(value=phrase)
        text = self.preamble_template.format(subject=labels.subject, details=details)
        if labels.extras:
            listed = "; ".join(f"{k.replace('_', ' ')}: {v}" for k, v in sorted(labels.extras.items()))
            text += self.extras_clause.format(value=listed)
        return text

    def user_prompt(self, aspect: str, labels: LabelView) -> str:
        return self.user_template.format(
            preamble=self.label_preamble(labels), instruction=self.instruction(aspect)
        )


DEFAULT_PROMPT_SET = PromptSet(
    version="fairfacegpt-1",
    system_prompt=_SYSTEM_PROMPT,
    aspects={
        aspect_id: AspectPrompt(name=name)
        if aspect_id != "overall_detail"
        # FairFaceGPT asked the catch-all aspect without naming it.
        else AspectPrompt(name=name, instruction="Describe this image.", question="Describe this image.")
        for aspect_id, name in ASPECTS.items()
    },
)


def load_prompt_set(path: str | Path | None = None) -> PromptSet:
    """The built-in FairFaceGPT set, or a YAML/JSON file with the same fields.

    A file may leave out any field except ``version``; missing ones (including
    individual aspects) are taken from the built-in set, so a user can change
    one sentence without copying everything.
    """
    if path is None:
        return DEFAULT_PROMPT_SET
    path = Path(path)
    try:
        text = read_regular_text(path)
    except OSError as error:
        raise FileNotFoundError(f"cannot read prompt file {path}: {error.strerror}") from None
    try:
        raw: Any = json.loads(text) if path.suffix.lower() == ".json" else load_yaml(text, str(path))
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}: not valid {'JSON' if path.suffix == '.json' else 'YAML'}: {error}") from None
    if not isinstance(raw, dict) or "version" not in raw:
        raise ValueError(f"{path}: a prompt file must be a mapping with at least a 'version' field")
    merged = DEFAULT_PROMPT_SET.model_dump(mode="json")
    aspects = dict(merged["aspects"])
    for aspect_id, spec in (raw.pop("aspects", None) or {}).items():
        if not isinstance(spec, dict):
            raise ValueError(f"{path}: aspects.{aspect_id} must be a mapping (name/instruction/question)")
        aspects[aspect_id] = {**aspects.get(aspect_id, {}), **spec}
    merged.update(raw)
    merged["aspects"] = aspects
    try:
        return PromptSet.model_validate(merged)
    except ValidationError as error:
        raise InputError(format_validation_errors(error.errors(), f"prompt set {path}")) from None
