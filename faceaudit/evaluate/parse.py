"""Extract the chosen option letter from a model's free-text answer.

This is the benchmark-harness way of reading a multiple-choice answer
(REFERENCE.md §4; VLMEvalKit's ``can_infer`` works the same way): find a
single option letter in the text, else a single option text, else give up.
An answer we cannot read is *invalid* and counts as wrong, never as a guess.

Rules, in order (the first that gives exactly one letter wins):

1. the whole answer is one letter, possibly wrapped: ``B``, ``(b)``, ``[C].``;
2. a leading capital letter with its bracket or full stop: ``C) Female``,
   ``B. Male, not A`` (unless more letters follow in that form: a repeated option list);
3. an explicit cue: ``Answer: b``, ``the correct option is (C)``, ``choice D``;
   lower case is accepted here because the cue makes the letter unambiguous;
4. capital letters standing alone as words (``I pick B.``, ``**C**``);
   a sentence-initial article (``A young man ...``) is not read as option A;
5. the text of exactly one option, as whole words, case-insensitive
   (``Female`` does not match option ``Male``); like VLMEvalKit this is only
   tried on answers at most twice as long as all option texts together, so
   a long ramble that mentions several labels is not read as a choice.

Two different letters (``A or B``), a refusal and the empty string give None.
"""

from __future__ import annotations

import re

from faceaudit.data.records import OPTION_LETTERS

_WRAPPERS = " \t\r\n.,;:!*#()[]{}\"'`<>"
_CUE = re.compile(
    r"\b(?:answer|option|choice)\b(?:\s+(?:is|would\s+be|should\s+be))?\s*[:=\-]?\s*"
    r"[\(\[\{*]*\s*([A-Za-z])(?![A-Za-z])",
    re.IGNORECASE,
)
# "C) Female", "(B) Male", "D. None of the above": the letter leads, its text follows.
_LEADING = re.compile(r"\s*[\(\[]?([A-Z])[\)\]\.:](?:\s|$)")
_LISTED = re.compile(r"(?<![A-Za-z0-9])[\(\[]?([A-Z])[\)\]\.:](?:\s|$)")
_LONE_CAPITAL = re.compile(r"(?<![A-Za-z0-9])([A-Z])(?![A-Za-z0-9])")
# "A"/"a" followed by a lower-case word is the article, not option A ("A young man"),
# unless that word joins letters ("A or B", "a and b").
_ARTICLE_A = re.compile(r"[Aa]\s+(?!(?:or|and|nor|to|vs)\b)[a-z]")


def _letters_for(options: list[str]) -> tuple[str, ...]:
    if not 1 <= len(options) <= len(OPTION_LETTERS):
        raise ValueError(
            f"an item has {len(options)} options; between 1 and {len(OPTION_LETTERS)} are accepted"
        )
    return OPTION_LETTERS[: len(options)]


def _single(found: list[str]) -> str | None:
    distinct = set(found)
    return distinct.pop() if len(distinct) == 1 else None


def _lone_capitals(text: str, letters: tuple[str, ...]) -> list[str]:
    found = []
    for match in _LONE_CAPITAL.finditer(text):
        letter = match.group(1)
        if letter not in letters:
            continue
        if letter == "A" and _ARTICLE_A.match(text, match.start()):
            continue
        found.append(letter)
    return found


def _option_text_match(text: str, options: list[str], letters: tuple[str, ...]) -> str | None:
    if len(text) > 2 * sum(len(option) for option in options):
        return None
    lowered = text.lower()
    hits = [
        letter
        for letter, option in zip(letters, options, strict=True)
        if option.strip()
        and re.search(rf"(?<!\w){re.escape(option.strip().lower())}(?!\w)", lowered)
    ]
    return _single(hits)


def parse_answer(text: str | None, options: list[str]) -> str | None:
    """The option letter ``text`` chooses among ``options``, or None when it chooses none."""
    letters = _letters_for(options)
    if text is None:
        return None
    text = str(text).strip()
    if not text:
        return None

    bare = text.strip(_WRAPPERS)
    if len(bare) == 1 and bare.upper() in letters:
        return bare.upper()

    leading = _LEADING.match(text)
    if leading and leading.group(1) in letters:
        # "(A) Male (B) Female" lists the options rather than choosing one.
        listed = {m.group(1) for m in _LISTED.finditer(text) if m.group(1) in letters}
        if len(listed) == 1:
            return leading.group(1)

    cued = [
        m.group(1).upper()
        for m in _CUE.finditer(text)
        if not _ARTICLE_A.match(text, m.start(1))
    ]
    cued_valid = [letter for letter in cued if letter in letters]
    if cued_valid:
        return _single(cued_valid)

    letter = _single(_lone_capitals(text, letters))
    if letter is not None:
        return letter
    return _option_text_match(text, options, letters)
