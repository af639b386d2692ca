"""Offline, deterministic, label-grounded answers: the embedded default's generator.

Each aspect is a sequence of sentence slots; each slot has several phrasings
(some slots may be skipped), and a hash of (seed, image id, aspect) picks one
phrasing per slot. Facts come only from the labels (gender, age, ethnicity or
skin tone, expression, accessories, lighting ...); everything else is phrased
as a cautious visual observation. Ethnicity is stated where the labels give it,
but never tied to facial features: a template that did so would plant exactly
the stereotyped associations the corpus scan is meant to find.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable

from faceaudit.corpus.backends.base import GenerationRequest, GenerationResult, ResultSink
from faceaudit.corpus.labels import LabelView
from faceaudit.schema.run import DataTransfer

_M64 = (1 << 64) - 1
_TRUE = {"yes", "true", "1", "y", "present", "worn", "on", "with"}
_FALSE = {"no", "false", "0", "n", "none", "absent", "off", "without", "not worn"}

_AGE_DESCRIPTION = {
    "infant": "an infant, within the first couple of years of life",
    "child": "a young child",
    "teen": "a teenager",
    "young adult": "a young adult",
    "middle-aged": "a middle-aged adult",
    "older": "an older adult",
}
_AGE_STRUCTURE = {
    "infant": "The facial proportions are those of a very young face: a large forehead relative to the lower face, full cheeks and a small, rounded chin.",
    "child": "The proportions are childlike, with full cheeks, a soft jawline and a relatively large forehead.",
    "teen": "The face shows adolescent proportions, with the jaw and cheekbones still filling out.",
    "young adult": "The facial contours are well defined, with firm cheeks and a clear jawline.",
    "middle-aged": "The bone structure is clearly defined, and the soft tissue around the cheeks and jaw has begun to relax slightly.",
    "older": "The bone structure is prominent, with some loss of fullness in the cheeks and a softer jawline typical of later life.",
}
_AGE_SKIN = {
    "infant": "The skin looks very smooth and even, with the soft texture typical of an infant.",
    "child": "The skin is smooth and even, without visible lines or creases.",
    "teen": "The skin is mostly smooth, with a fine, even texture.",
    "young adult": "The skin appears smooth, with fine pores and no pronounced lines.",
    "middle-aged": "Fine lines are visible around the eyes and at the corners of the mouth, and the texture is slightly less uniform.",
    "older": "Wrinkles and creases are visible around the eyes, forehead and mouth, and the skin shows some uneven pigmentation typical of ageing.",
}
_EXPRESSIONS = {
    "neutral": "a neutral, relaxed expression, with the mouth closed and the brow at rest",
    "smiling": "a smile, with the corners of the mouth raised and the cheeks lifted",
    "smile": "a smile, with the corners of the mouth raised and the cheeks lifted",
    "happy": "a happy expression, with a clear smile that reaches the eyes",
    "sad": "a sad expression, with the mouth corners turned down and a slightly lowered gaze",
    "frowning": "a frown, with the brows drawn together and lowered",
    "angry": "an angry expression, with lowered brows and a tense mouth",
    "surprised": "a surprised expression, with raised eyebrows and widened eyes",
    "fear": "a fearful expression, with raised brows and tense features",
    "disgust": "an expression of disgust, with a wrinkled nose and raised upper lip",
}
_LIGHTING = {
    "bright": "The face is brightly lit, with strong, even illumination",
    "even": "The lighting is even across the face",
    "normal": "The lighting is even and moderate",
    "dim": "The image is dimly lit, and detail in the darker regions is reduced",
    "dark": "The image is dark, with much of the detail lost in shadow",
    "low": "The image was taken in low light, which flattens detail",
    "harsh": "The lighting is harsh, creating strong highlights and deep shadows",
    "backlit": "The face is backlit, leaving the facial features in relative shadow",
    "side": "The light falls from one side, leaving the other half of the face in shadow",
    "overexposed": "The image is overexposed, with washed-out highlights on the skin",
}

# Slot phrasings. Placeholders: {subject} (the man, the girl, the person), {a_subject},
# plus the per-image facts built in _context(). An empty phrasing skips the slot.
_ASPECTS: dict[str, tuple[tuple[str, ...], ...]] = {
    "demographic_attributes": (
        (
            "The image shows {a_subject}{origin_clause}.",
            "This is a face image of {a_subject}{origin_clause}.",
            "The face belongs to {a_subject}{origin_clause}.",
        ),
        (
            "Judging from the facial proportions and skin, {subject} appears to be {age_desc}{age_range}.",
            "The visible features are consistent with {age_desc}{age_range}.",
            "Age cues such as skin texture and facial proportions place {subject} as {age_desc}{age_range}.",
        ),
        (
            "{tone_sentence}",
            "{tone_sentence}",
            "",
        ),
        (
            "The gender presentation is consistent with {a_subject}.",
            "Hair, facial contours and overall presentation agree with the description of {a_subject}.",
            "",
        ),
    ),
    "facial_structure": (
        (
            "{age_structure}",
            "{age_structure}",
        ),
        (
            "The face has an oval outline with balanced proportions between the forehead, mid-face and chin.",
            "The face is roughly symmetrical, with a moderately wide forehead and a proportionate chin.",
            "The overall face shape is rounded to oval, and the features are evenly spaced.",
            "The face shape is slightly elongated, with the features aligned along a straight midline.",
        ),
        (
            "The eyes are almond-shaped and evenly set, framed by naturally arched eyebrows.",
            "The eyes are moderately spaced, with clearly visible upper eyelids and softly curved brows.",
            "The eyes sit level with each other under fairly straight eyebrows.",
            "The eyes are medium-sized and evenly placed, with brows that follow the brow ridge.",
        ),
        (
            "The nose is straight with a moderately wide base, and the lips are of medium fullness.",
            "The nose has a gently rounded tip, and the lips are well defined with a clear cupid's bow.",
            "The nasal bridge is of medium height, and the mouth is proportionate to the width of the nose.",
            "The nose is of average length, and the lower lip is slightly fuller than the upper lip.",
        ),
        (
            "The cheekbones are softly defined and the jawline tapers smoothly toward the chin.",
            "The jawline is clearly visible and the chin is neither prominent nor receding.",
            "",
        ),
    ),
    "skin_texture": (
        ("{age_skin}", "{age_skin}"),
        (
            "{tone_sentence}",
            "{tone_sentence}",
            "",
        ),
        (
            "No prominent scars, tattoos or large marks are visible at this resolution.",
            "There are no obvious scars or birthmarks; small blemishes cannot be ruled out at this image size.",
            "The complexion is fairly uniform, with slight natural variation in tone around the nose and cheeks.",
            "A soft sheen on the forehead and nose suggests natural skin oils catching the light.",
        ),
        (
            "Fine detail such as individual pores is limited by the image resolution.",
            "Compression softens the finest texture, so small marks or freckles may not be visible.",
            "",
        ),
    ),
    "expression_and_emotion": (
        (
            "{expression_sentence}",
            "The face of {subject} displays {expression_phrase}.",
            "The most noticeable feature of the expression is {expression_phrase}.",
        ),
        (
            "The muscles around the jaw look relaxed, with no visible tension.",
            "The forehead is free of strong creasing from the expression.",
            "The nostrils are at rest, and the lips are not pressed together.",
            "",
        ),
        (
            "The eyes are open and appear to look toward the camera.",
            "The gaze is directed roughly at the viewer, and the eyelids are relaxed.",
            "The eyes look slightly away from the camera.",
        ),
        (
            "Overall, the emotional tone reads as {emotion_tone}.",
            "Taken together, these cues suggest {emotion_tone}.",
            "",
        ),
    ),
    "lighting_and_image_quality": (
        (
            "{lighting_sentence}",
            "{lighting_sentence}",
        ),
        (
            "The image is a tightly cropped, low-resolution portrait, so fine detail is limited.",
            "Sharpness is moderate: the main features are clear, while fine texture is softened.",
            "The image shows mild compression artefacts, mostly around the edges of the face and hair.",
            "Focus is adequate on the central face, with some softness toward the edges of the frame.",
        ),
        (
            "Colours look natural, without a strong colour cast.",
            "The white balance appears neutral, and skin tones are rendered plausibly.",
            "There is no visible motion blur.",
            "",
        ),
    ),
    "face_pose": (
        (
            "The face is oriented nearly frontally toward the camera.",
            "The head is turned slightly to one side, in a near-frontal pose.",
            "The face is in a frontal pose with a slight tilt of the head.",
            "The head is held upright and faces the camera almost directly.",
        ),
        (
            "Both eyes, the nose and the mouth are fully visible.",
            "All main facial landmarks are visible, with little self-occlusion.",
            "The chin is level, without noticeable pitch up or down.",
        ),
        ("{occlusion_sentence}", "{occlusion_sentence}"),
    ),
    "forensic_considerations": (
        (
            "For identification purposes, the image offers a {usable} view of the face.",
            "From a forensic standpoint, the face is {usable} for comparison.",
        ),
        ("{occlusion_sentence}", "{occlusion_sentence}"),
        ("{forensic_lighting}", "{forensic_lighting}"),
        (
            "{forensic_age}",
            "{forensic_age}",
        ),
        (
            "No obvious signs of heavy make-up or digital retouching are visible.",
            "Make-up or retouching cannot be confirmed or excluded at this resolution.",
            "The low resolution limits the use of fine features such as moles or scars for identification.",
        ),
    ),
    "overall_detail": (
        (
            "This is a close-up face image of {a_subject}{origin_clause}, who appears to be {age_desc}.",
            "The image is a cropped portrait of {a_subject}{origin_clause}, {age_desc}.",
            "A head-and-shoulders crop shows {a_subject}{origin_clause}, apparently {age_desc}.",
        ),
        ("{expression_sentence}", "{expression_sentence}"),
        ("{occlusion_sentence}", ""),
        (
            "The face is seen from the front against a plain background.",
            "The background is indistinct and does not distract from the face.",
            "The framing centres the face, with part of the hair and neck visible.",
        ),
        ("{lighting_sentence}", "{lighting_sentence}", ""),
        ("{extras_sentence}", "{extras_sentence}"),
    ),
}


def _flag(value: str) -> bool | None:
    low = value.strip().lower()
    if low in _TRUE:
        return True
    if low in _FALSE:
        return False
    return None


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:]


def _context(labels: LabelView) -> dict[str, str]:
    """Every fact the phrasings may use, in words, for one face."""
    subject = labels.subject
    extras = {k.lower(): v for k, v in labels.extras.items()}
    origin = ""
    if labels.ethnicity:
        origin = f" of {labels.ethnicity} ethnicity"
    elif labels.skin_tone_group:
        origin = f" with {labels.skin_tone_group} skin"
    band = labels.age_band
    age_desc = _AGE_DESCRIPTION.get(band or "", "an adult of indeterminate age")
    if band is None and labels.age_text:
        age_desc = f"a person whose age is recorded as {labels.age_text}"
    age_range = ""
    if labels.age_text and labels.age_text[:1].isdigit():
        age_range = f", in the {labels.age_text} age range"
    elif labels.age_text and labels.age_text.startswith("more than"):
        age_range = f", {labels.age_text} years old"
    if labels.skin_tone_group:
        tone = f"The skin tone is in the {labels.skin_tone_group} range"
        tone += f", around tone {labels.skin_tone} on the Monk skin tone scale." if labels.skin_tone else "."
    elif labels.ethnicity:
        tone = "The skin tone is rendered evenly across the face under the given lighting."
    else:
        tone = "The skin tone appears even across the visible areas of the face."

    expression = extras.get("expression") or extras.get("emotion")
    if expression:
        phrase = _EXPRESSIONS.get(expression.lower(), f"an expression best described as {expression}")
        expression_sentence = f"The {subject} shows {phrase}."
        expression_phrase = phrase
        emotion_tone = {
            "neutral": "calm composure",
            "smiling": "friendliness and contentment",
            "smile": "friendliness and contentment",
            "happy": "happiness",
        }.get(expression.lower(), f"a {expression.lower()} mood")
    else:
        expression_phrase = "a calm, mostly neutral expression, with relaxed facial muscles"
        expression_sentence = f"The {subject} has {expression_phrase}."
        emotion_tone = "a composed, neutral state"

    occlusions: list[str] = []
    for name, noun in (("glasses", "glasses"), ("eyeglasses", "glasses"), ("sunglasses", "sunglasses"),
                       ("mask", "a face mask"), ("helmet", "a safety helmet"), ("hat", "a hat")):
        if name in extras:
            flag = _flag(extras[name])
            if flag is True:
                occlusions.append(noun)
            elif flag is None:
                occlusions.append(f"{extras[name]} {name}".strip())
    hair = extras.get("hair")
    if occlusions:
        occlusion_sentence = (
            f"The {subject} is wearing {' and '.join(occlusions)}, which partly covers the face."
        )
        usable = "partially obstructed but still informative"
    else:
        occlusion_sentence = "No glasses, mask or headwear obstruct the face."
        usable = "clear and largely unobstructed"
    if hair:
        occlusion_sentence += f" The hair is {hair} and does not hide the main facial features."

    lighting = extras.get("lighting")
    if lighting:
        base = _LIGHTING.get(lighting.lower(), f"The lighting is {lighting}")
        lighting_sentence = f"{base}."
        forensic_lighting = f"{base}, which should be taken into account when comparing features."
    else:
        lighting_sentence = "The face is evenly lit, with soft shadows under the brow and nose."
        forensic_lighting = "The lighting is adequate, without strong shadows that would hide features."

    forensic_age = {
        "infant": "Facial features change rapidly at this age, so any comparison with later images is unreliable.",
        "child": "Facial features still change substantially during childhood, which limits comparison across years.",
        "teen": "The face is still maturing, so appearance may change noticeably over a few years.",
        "older": "Age-related changes such as wrinkles and sagging should be considered when comparing with older photographs.",
        "middle-aged": "Gradual age-related changes, such as deepening lines, may differ from earlier photographs.",
    }.get(band or "", "The face shows a stable adult appearance, useful for comparison over moderate time spans.")

    known = {k: v for k, v in labels.extras.items()
             if k.lower() not in {"expression", "emotion", "glasses", "eyeglasses", "sunglasses",
                                  "mask", "helmet", "hat", "hair", "lighting"}}
    if known:
        listed = "; ".join(f"{k.replace('_', ' ')} recorded as {v}" for k, v in sorted(known.items()))
        extras_sentence = f"Other recorded attributes of the image: {listed}."
    else:
        extras_sentence = "Overall, the image gives a clear view of the main facial features."

    return {
        "subject": f"the {subject}",
        "a_subject": f"a {subject}",
        "origin_clause": origin,
        "age_desc": age_desc,
        "age_range": age_range,
        "age_structure": _AGE_STRUCTURE.get(band or "", "The facial contours are clearly defined."),
        "age_skin": _AGE_SKIN.get(band or "", "The skin appears generally smooth and even."),
        "tone_sentence": tone,
        "expression_sentence": expression_sentence,
        "expression_phrase": expression_phrase,
        "emotion_tone": emotion_tone,
        "occlusion_sentence": occlusion_sentence,
        "usable": usable,
        "lighting_sentence": lighting_sentence,
        "forensic_lighting": forensic_lighting,
        "forensic_age": forensic_age,
        "extras_sentence": extras_sentence,
    }


class TemplateBackend:
    """Fast offline generator; ``seed`` changes the phrasing, never the facts."""

    name = "template"
    endpoint_host: str | None = None
    model_sha256: str | None = None  # versioned by name: its phrasing is code, "template-v1"

    def __init__(self, *, seed: int = 0, model: str = "template-v1") -> None:
        self.seed = seed
        self.model = model
        self.generation_params: dict[str, object] = {"seed": seed}
        self._cache_labels: LabelView | None = None
        self._cache_ctx: dict[str, str] = {}

    def answer(self, image_id: str, aspect: str, labels: LabelView) -> str:
        # Requests come grouped by image: build the facts once per face.
        if labels is not self._cache_labels:
            self._cache_labels = labels
            self._cache_ctx = _context(labels)
        ctx = self._cache_ctx
        state = (zlib.crc32(f"{image_id}:{aspect}".encode()) * 0x9E3779B97F4A7C15 + self.seed) & _M64
        parts = []
        for variants in _ASPECTS[aspect]:
            state = (state * 6364136223846793005 + 1442695040888963407) & _M64
            chosen = variants[(state >> 33) % len(variants)]
            if chosen:
                parts.append(chosen.format_map(ctx))
        return _sentence(" ".join(parts))

    def generate(self, requests: Iterable[GenerationRequest], sink: ResultSink) -> None:
        for request in requests:
            text = self.answer(request.image_id, request.aspect, request.labels)
            sink(request, GenerationResult(text=text, finish_reason="stop"))

    def redact(self, text: str) -> str:
        return text

    def close(self) -> None:
        return None

    def data_sent(self) -> list[DataTransfer]:
        return []
