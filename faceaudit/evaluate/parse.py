"""Extract the chosen option letter from a model's free-text answer.

This is faceaudit's own, strict reading of a multiple-choice answer. Like
VLMEvalKit's ``can_infer`` it looks for a single option letter, then for a
single option text, and otherwise gives up; unlike FaceXBench's extractor
(reproduced in :mod:`faceaudit.evaluate.facexbench` for the official protocol)
it never takes the first of several letters. An answer we cannot read is
*invalid* and counts as wrong, never as a guess.

Rules, in order (the first that gives exactly one letter wins):

1. the whole answer is one letter, possibly wrapped: ``B``, ``(b)``, ``[C].``;
2. a leading capital letter with its bracket or full stop: ``C) Female``,
   ``B. Male, not A`` (unless more letters follow in that form: a repeated option list);
3. the whole answer *is* one option's text (``Image 1 and Image 2``), even when
   another option's text (``Image 1``) is inside it;
4. an explicit cue: ``Answer: b``, ``the correct option is (C)``, ``choice D``;
   lower case is accepted here because the cue makes the letter unambiguous
   (only a lower-case ``a`` before a word is the article: ``the answer is a woman``);
5. capital letters standing alone as words (``I pick B.``, ``**C**``,
   ``I choose A since ...``); a sentence-initial ``A`` followed by a word an
   article can precede (``A young man ...``) is the article, not option A,
   while ``A because ...`` and ``A is correct`` choose A;
6. the text of exactly one option, as whole words, case-insensitive
   (``Female`` does not match option ``Male``); an option found only inside
   the match of a longer option (``Image 1`` inside ``Image 1, Image 2``) does
   not count. Like VLMEvalKit this is only tried on answers at most twice as
   long as all option texts together, so a long ramble that mentions several
   labels is not read as a choice.

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
# unless that word is one no article can precede: it joins letters ("A or B") or
# gives a reason or a verdict ("A because ...", "A is correct", "a since ...").
_NOT_AFTER_AN_ARTICLE = (
    "or", "and", "nor", "to", "vs", "versus", "because", "since", "as", "is", "was",
    "seems", "appears", "would", "should", "could", "must", "fits", "matches",
    "describes", "corresponds", "best", "then", "so", "but", "here",
)
_ARTICLE_A = re.compile(r"[Aa]\s+(?!(?:" + "|".join(_NOT_AFTER_AN_ARTICLE) + r")\b)[a-z]")
# Where a sentence starts: the article "A" is capitalised only there.
_SENTENCE_START = re.compile(r"(?:^|[.!?:;\n]|\*\*)\s*$")


def _letters_for(options: list[str]) -> tuple[str, ...]:
    if not 1 <= len(options) <= len(OPTION_LETTERS):
        raise ValueError(
            f"an item has {len(options)} options; between 1 and {len(OPTION_LETTERS)} are accepted"
        )
    return OPTION_LETTERS[: len(options)]


def _single(found: list[str]) -> str | None:
    distinct = set(found)
    return distinct.pop() if len(distinct) == 1 else None


def _is_article(text: str, start: int) -> bool:
    """Whether the "A"/"a" at ``start`` reads as the article rather than an option letter."""
    if not _ARTICLE_A.match(text, start):
        return False
    # A capital "A" is the article only where a sentence starts ("A young man");
    # mid-sentence ("I choose A since ...") it can only be the letter.
    return text[start] == "a" or bool(_SENTENCE_START.search(text, 0, start))


def _lone_capitals(text: str, letters: tuple[str, ...]) -> list[str]:
    found = []
    for match in _LONE_CAPITAL.finditer(text):
        letter = match.group(1)
        if letter not in letters:
            continue
        if letter == "A" and _is_article(text, match.start()):
            continue
        found.append(letter)
    return found


def _normalised(text: str) -> str:
    return " ".join(text.strip(_WRAPPERS).lower().split())


def _exact_option(text: str, options: list[str], letters: tuple[str, ...]) -> str | None:
    answer = _normalised(text)
    hits = [letter for letter, option in zip(letters, options, strict=True) if _normalised(option) == answer]
    return _single(hits)


def _option_text_match(text: str, options: list[str], letters: tuple[str, ...]) -> str | None:
    if len(text) > 2 * sum(len(option) for option in options):
        return None
    lowered = text.lower()
    spans: dict[str, list[tuple[int, int]]] = {}
    for letter, option in zip(letters, options, strict=True):
        needle = option.strip().lower()
        if needle:
            pattern = rf"(?<!\w){re.escape(needle)}(?!\w)"
            spans[letter] = [m.span() for m in re.finditer(pattern, lowered)]

    def inside_a_longer_option(letter: str) -> bool:
        return all(
            any(
                other != letter and o_start <= start and end <= o_end and (o_end - o_start) > (end - start)
                for other, found in spans.items()
                for o_start, o_end in found
            )
            for start, end in spans[letter]
        )

    hits = [letter for letter, found in spans.items() if found and not inside_a_longer_option(letter)]
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

    exact = _exact_option(text, options, letters)
    if exact is not None:
        return exact

    # After a cue only a lower-case "a" can be the article ("the answer is a woman");
    # "The answer is A because ..." chooses A.
    cued = [
        m.group(1).upper()
        for m in _CUE.finditer(text)
        if not (m.group(1) == "a" and _ARTICLE_A.match(text, m.start(1)))
    ]
    cued_valid = [letter for letter in cued if letter in letters]
    if cued_valid:
        return _single(cued_valid)

    letter = _single(_lone_capitals(text, letters))
    if letter is not None:
        return letter
    return _option_text_match(text, options, letters)
