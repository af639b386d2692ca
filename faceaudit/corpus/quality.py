"""The quality gate every generated answer passes before it may train a model.

Cheap lexical checks only (the corpus scan does the deep analysis): an answer is
rejected when it is empty, a refusal, cut off, or contradicts the labels the
generator was given on gender or age. A rejection reason is ``"<code>: <detail>"``
with a code from ``REJECT_CODES`` so that reports can count them.
"""

from __future__ import annotations

import re

from faceaudit.corpus.labels import LabelView

REJECT_CODES = (
    "empty",
    "refusal",
    "truncated",
    "gender_contradiction",
    "age_contradiction",
    "backend_error",
)

_REFUSAL = re.compile(
    r"\b(?:I['’]m|I am|I['’]ll|I will) (?:not |)(?:unable|not able) to\b"
    r"|\bI (?:can(?:not|['’]t)|won['’]t) (?:help|assist|analy[sz]e|provide|describe|identify|"
    r"determine|comply|do that|make)\b"
    r"|\bI['’]m sorry,? but\b|\bI apologi[sz]e,? but\b|\bas an AI\b"
    r"|\b(?:unable|not able) to (?:analy[sz]e|assist with|help with) (?:this|that|the) (?:image|request)\b",
    re.IGNORECASE,
)
# Cheap substring tests run first: the regexes are ~20x slower and the template
# backend (tens of thousands of answers a second) almost never needs them.
_REFUSAL_HINTS = ("unable", "not able", "cannot", "can't", "can’t", "won't", "won’t", "sorry",
                  "apologi", "as an ai")
_OLD_HINTS = ("old", "middle", "late ", "ties")
_DIGIT = re.compile(r"\d").search
_TO_SPACE = str.maketrans({c: " " for c in ".,;:!?\"()[]{}*/-–—'’“”\n\t"})
_MALE_WORDS = frozenset(
    ["man", "men", "male", "males", "boy", "boys", "he", "him", "his", "himself", "gentleman", "gentlemen", "masculine"]
)
_FEMALE_WORDS = frozenset(
    ["woman", "women", "female", "females", "girl", "girls", "she", "her", "hers", "herself", "lady", "ladies", "feminine"]
)
_CHILD_WORDS = frozenset(
    ["child", "children", "kid", "kids", "toddler", "toddlers", "infant", "infants", "baby", "babies", "boy", "girl", "boys", "girls", "teen", "teens", "teenager", "teenagers", "adolescent", "adolescents", "youngster"]
)
_OLD_WORDS = frozenset(["elderly", "senior", "seniors", "geriatric", "pensioner"])
_OLD_PHRASES = re.compile(
    r"\b(?:older adult|old (?:man|woman|person|age)|late (?:middle|adulthood)|middle[- ]aged|"
    r"in (?:his|her|their) (?:fifties|sixties|seventies|eighties))\b",
    re.IGNORECASE,
)
_ADULT_NOUNS = frozenset(["man", "men", "woman", "women", "gentleman", "lady", "adult", "adults"])
_ADULT_OR_OLD = _OLD_WORDS | _ADULT_NOUNS
_YEARS = re.compile(
    r"\b(\d{1,3})\s*(?:-|to)?\s*(?:\d{1,3}\s*)?(?:years?[- ]old|yrs?\b)"
    r"|\bin (?:his|her|their) (?:early |mid[- ]|late )?(\d0)s\b",
    re.IGNORECASE,
)
_TERMINAL = ('.', '!', '?', '"', "'", ')', '”', '’', '*', ']')
# Generators estimate ages loosely; only a statement far outside the label contradicts it.
_AGE_SLACK_YEARS = 15


def check_answer(answer: str | None, labels: LabelView, *, finish_reason: str | None = None) -> str | None:
    """``None`` when the answer is acceptable, else the reason it is rejected."""
    text = (answer or "").strip()
    if finish_reason in ("refusal", "content_filter"):
        return f"refusal: the generator declined (finish_reason {finish_reason})"
    if not text:
        return "empty: the generator returned no text"
    low = text.lower()
    refusal = _REFUSAL.search(text) if any(h in low for h in _REFUSAL_HINTS) else None
    if refusal:
        return f"refusal: {refusal.group(0)!r}"
    if finish_reason == "length":
        return "truncated: the generator stopped at its token limit"
    if not text.endswith(_TERMINAL):
        tail = text if len(text) <= 30 else "…" + text[-30:].lstrip()
        return f"truncated: the answer ends mid-sentence ({tail!r})"
    words = low.translate(_TO_SPACE).split()
    gender = _gender_contradiction(words, labels)
    if gender:
        return gender
    return _age_contradiction(text, low, words, labels)


def _gender_contradiction(words: list[str], labels: LabelView) -> str | None:
    if labels.gender is None:
        return None
    own, other = (
        (_MALE_WORDS, _FEMALE_WORDS) if labels.gender == "male" else (_FEMALE_WORDS, _MALE_WORDS)
    )
    wrong = other.intersection(words)
    if not wrong:
        return None
    # An answer may say "unlike typical male features"; it contradicts the label only
    # when the other gender's words dominate.
    n_wrong = sum(map(other.__contains__, words))
    if n_wrong > sum(map(own.__contains__, words)):
        return f"gender_contradiction: label {labels.gender}, answer says {sorted(wrong)}"
    return None


def _age_contradiction(text: str, low: str, words: list[str], labels: LabelView) -> str | None:
    if labels.age_band is None:
        return None
    if labels.age_years is not None:
        lo, hi = labels.age_years
        hinted = _DIGIT(text) and ("year" in low or "yr" in low or "0s" in low)
        for match in _YEARS.finditer(text) if hinted else ():
            stated = int(match.group(1) or match.group(2))
            if stated < lo - _AGE_SLACK_YEARS or stated > hi + _AGE_SLACK_YEARS:
                return (
                    f"age_contradiction: label {labels.age_text}, answer says "
                    f"{match.group(0).strip()!r}"
                )
    if labels.is_child:
        old = sorted(_ADULT_OR_OLD.intersection(words))
        phrase = _OLD_PHRASES.search(text) if any(h in low for h in _OLD_HINTS) else None
        if phrase:
            old.append(phrase.group(0))
        if old:
            return f"age_contradiction: label {labels.age_text}, answer says {old}"
    elif labels.age_band in ("middle-aged", "older"):
        young = sorted(_CHILD_WORDS.intersection(words))
        if young:
            return f"age_contradiction: label {labels.age_text}, answer says {young}"
    return None


def reject_code(reason: str | None) -> str | None:
    return None if reason is None else reason.split(":", 1)[0]
