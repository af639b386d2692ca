"""The built-in scanners: representation, label consistency, association, tone, hygiene.

Each works on the corpus's token codes (``faceaudit.scan.tokens``) with array
operations, so that a million answers scan in seconds, and returns its typed
result from ``faceaudit.schema.corpus_scan``.
"""

from __future__ import annotations

import re

import numpy as np

from faceaudit.scan import lexicons as lex
from faceaudit.scan.registry import ScanContext, register_scanner
from faceaudit.scan.table import ScanCorpus
from faceaudit.scan.tokens import Tokens
from faceaudit.schema.corpus_scan import (
    AttributeRepresentation,
    GroupCounts,
    LabelConsistencyResult,
    RepresentationResult,
)

_EXAMPLES = 5


def _ratio(values: list[float]) -> float:
    if not values:
        return float("nan")
    low, high = min(values), max(values)
    return float("inf") if low == 0 else high / low


@register_scanner("representation")
def scan_representation(ctx: ScanContext) -> RepresentationResult:
    """Images, pairs, aspects and answer tokens per group and intersection."""
    corpus = ctx.corpus
    lengths = corpus.tokens.lengths
    labelled = corpus.labelled_pairs
    attributes: dict[str, AttributeRepresentation] = {}
    for column in corpus.columns:
        group = column.of_image[corpus.image]
        n_aspects = len(corpus.aspects)
        known = group >= 0
        g = len(column.names)
        pairs = np.bincount(group[known], minlength=g)
        tokens = np.bincount(group[known], weights=lengths[known], minlength=g)
        has_pair = np.bincount(corpus.image, minlength=corpus.n_images) > 0
        images = np.bincount(column.of_image[(column.of_image >= 0) & has_pair], minlength=g)
        cells = np.bincount(
            group[known] * n_aspects + corpus.aspect[known], minlength=g * n_aspects
        ).reshape(g, n_aspects)
        total_images = max(int(images.sum()), 1)
        groups = {}
        missing: dict[str, list[str]] = {}
        for code, name in enumerate(column.names):
            groups[name] = GroupCounts(
                n_images=int(images[code]),
                n_pairs=int(pairs[code]),
                n_answer_tokens=int(tokens[code]),
                share_of_images=float(images[code] / total_images),
                mean_answer_tokens=float(tokens[code] / pairs[code]) if pairs[code] else float("nan"),
                pairs_per_aspect={a: int(cells[code, j]) for j, a in enumerate(corpus.aspects)},
            )
            absent = [a for j, a in enumerate(corpus.aspects) if cells[code, j] == 0]
            if absent:
                missing[name] = absent
        present = [c for c in range(g) if pairs[c] > 0]
        attributes[column.attribute] = AttributeRepresentation(
            attribute=column.attribute,
            groups=groups,
            imbalance_images=_ratio([float(images[c]) for c in range(g)]),
            imbalance_pairs=_ratio([float(pairs[c]) for c in range(g)]),
            imbalance_answer_length=_ratio([float(tokens[c] / pairs[c]) for c in present]),
            missing_aspects=missing,
        )
    return RepresentationResult(
        n_images=corpus.n_images,
        n_pairs=corpus.n_pairs,
        n_answer_tokens=int(lengths.sum()),
        n_unlabelled_pairs=int((~labelled).sum()),
        n_rejected_pairs=corpus.n_rejected,
        aspects=list(corpus.aspects),
        attributes=attributes,
    )


# --------------------------------------------------------------------------- label consistency


def _next_is(tok: Tokens, positions: np.ndarray, mask: np.ndarray, offset: int = 1) -> np.ndarray:
    """For token positions: is the token ``offset`` later in the same answer marked by ``mask``?"""
    after = positions + offset
    ok = after < len(tok.codes)
    result = np.zeros(len(positions), dtype=bool)
    idx = np.flatnonzero(ok)
    same = tok.doc[after[idx]] == tok.doc[positions[idx]]
    result[idx[same]] = mask[tok.codes[after[idx[same]]]]
    return result


def stated_ages(tok: Tokens) -> tuple[np.ndarray, np.ndarray]:
    """(answer, age in years) of every age statement: "35 years", "in his 30s", "forties"."""
    numbers: dict[str, float] = {}
    for word in tok.vocab:
        if word.isdigit() and len(word) <= 3:
            numbers[word] = float(word)
    decades = dict(lex.DECADE_WORDS)
    for word in tok.vocab:
        match = re.fullmatch(r"([1-9])0s", word)
        if match:
            decades[word] = float(match.group(1)) * 10
    number = tok.values(numbers)
    decade = tok.values({w: v + 5 for w, v in decades.items()})
    years = tok.mask(lex.YEAR_WORDS)
    # Masks over the vocabulary first: a float per token would cost 8 bytes x every word.
    positions = np.flatnonzero(~np.isnan(number)[tok.codes])
    positions = positions[_next_is(tok, positions, years)]
    decade_positions = np.flatnonzero(~np.isnan(decade)[tok.codes])
    all_positions = np.concatenate([positions, decade_positions])
    ages = np.concatenate([number[tok.codes[positions]], decade[tok.codes[decade_positions]]])
    return tok.doc[all_positions], ages


def _race_mentions(tok: Tokens) -> np.ndarray:
    """Per answer, a bit mask over ``lex.RACES`` of the categories it names."""
    bit = {race: 1 << i for i, race in enumerate(lex.RACES)}
    unigram = np.zeros(len(tok.vocab), dtype=np.int16)
    for word, races in lex.RACE_UNIGRAMS.items():
        code = tok.index.get(word)
        if code is not None:
            unigram[code] = sum(bit[r] for r in races)
    token_bits = unigram[tok.codes]
    second = tok.mask(lex.RACE_BIGRAM_SECOND_WORDS)
    hits, bits = tok.bigram_labels(
        {pair: sum(bit[r] for r in races) for pair, races in lex.RACE_BIGRAMS.items()}
    )
    following = hits + 1
    token_bits[following[second[tok.codes[following]]]] = 0
    np.bitwise_or.at(token_bits, hits, bits.astype(np.int16))
    mentions = np.zeros(tok.n_docs, dtype=np.int16)
    marked = np.flatnonzero(token_bits)
    np.bitwise_or.at(mentions, tok.doc[marked], token_bits[marked])
    return mentions


def _skin_mentions(tok: Tokens) -> dict[str, np.ndarray]:
    """Per answer: how often it calls the skin light, medium or dark."""
    groups = ("light", "medium", "dark")
    hits, which = tok.bigram_labels({
        (adjective, noun): groups.index(group)
        for adjective, group in lex.SKIN_TONE_ADJECTIVES.items() for noun in lex.SKIN_NOUNS
    })  # fmt: skip
    return {g: np.bincount(tok.doc[hits[which == i]], minlength=tok.n_docs) for i, g in enumerate(groups)}


def _age_bin(years: np.ndarray | float) -> np.ndarray:
    return np.searchsorted(np.asarray(lex.AGE_BIN_EDGES), years, side="right") - 1


def _per_pair_labels(corpus: ScanCorpus) -> dict[str, np.ndarray]:
    """Label facts per image as arrays, then indexed per pair."""
    views = corpus.labels
    gender = np.array([{"male": 1, "female": 2}.get(v.gender or "", 0) for v in views], dtype=np.int8)
    race_bit = {race: 1 << i for i, race in enumerate(lex.RACES)}
    race = np.array([race_bit.get(v.ethnicity or "", 0) for v in views], dtype=np.int16)
    band = np.array([v.age_band or "" for v in views], dtype=object)
    lo = np.array([v.age_years[0] if v.age_years else -1 for v in views], dtype=float)
    hi = np.array([v.age_years[1] if v.age_years else -1 for v in views], dtype=float)
    skin = np.array([v.skin_tone_group or "" for v in views], dtype=object)
    image = corpus.image
    return {"gender": gender[image], "race": race[image], "band": band[image],
            "age_lo": lo[image], "age_hi": hi[image], "skin": skin[image]}  # fmt: skip


@register_scanner("label_consistency")
def scan_label_consistency(ctx: ScanContext) -> LabelConsistencyResult:
    """Answers that contradict the image's labels, and unsolicited demographic mentions."""
    corpus, tok = ctx.corpus, ctx.corpus.tokens
    labels = _per_pair_labels(corpus)
    n = corpus.n_pairs

    male = tok.docs_with(tok.mask(lex.MALE_WORDS)[tok.codes])
    female = tok.docs_with(tok.mask(lex.FEMALE_WORDS)[tok.codes])
    gender_known = labels["gender"] > 0
    gender_contra = ((labels["gender"] == 1) & (female > male)) | ((labels["gender"] == 2) & (male > female))

    age_doc, ages = stated_ages(tok)
    age_known = labels["age_lo"] >= 0
    bins = _age_bin(ages)
    lo_bin = _age_bin(labels["age_lo"][age_doc])
    hi_bin = _age_bin(labels["age_hi"][age_doc])
    far = age_known[age_doc] & ((bins < lo_bin - 1) | (bins > hi_bin + 1))
    age_contra = np.bincount(age_doc[far], minlength=n) > 0
    child_label = np.isin(labels["band"], ["infant", "child"])
    older_label = np.isin(labels["band"], ["middle-aged", "older"])
    adult_words = tok.docs_with(tok.mask(lex.ADULT_OR_OLD_WORDS)[tok.codes]) > 0
    middle_aged = np.bincount(tok.doc[tok.bigram_hits([("middle", "aged")])], minlength=n) > 0
    child_words = tok.docs_with(tok.mask(lex.CHILD_WORDS)[tok.codes]) > 0
    age_contra |= child_label & (adult_words | middle_aged)
    age_contra |= older_label & child_words

    mentions = _race_mentions(tok)
    race_known = labels["race"] > 0
    race_contra = race_known & (mentions != 0) & ((mentions & labels["race"]) == 0)

    skin = _skin_mentions(tok)
    skin_known = np.isin(labels["skin"], ["light", "medium", "dark"])
    skin_contra = ((labels["skin"] == "light") & (skin["dark"] > 0) & (skin["light"] == 0)) | (
        (labels["skin"] == "dark") & (skin["light"] > 0) & (skin["dark"] == 0)
    )

    any_contra = gender_contra | age_contra | race_contra | skin_contra
    any_known = gender_known | age_known | race_known | skin_known

    demographic = np.isin(np.array(corpus.aspects, dtype=object), ctx.config.demographic_aspects)
    other_aspect = ~demographic[corpus.aspect]
    gender_mention = tok.docs_with(tok.mask(lex.GENDER_CATEGORY_WORDS)[tok.codes]) > 0
    age_mention = np.bincount(age_doc, minlength=n) > 0
    age_mention |= tok.docs_with(tok.mask(lex.AGE_CATEGORY_WORDS)[tok.codes]) > 0
    age_mention |= np.bincount(tok.doc[tok.bigram_hits(lex.AGE_CATEGORY_BIGRAMS)], minlength=n) > 0
    race_mention = mentions != 0
    skin_mention = sum(skin.values()) > 0

    rates = ctx.rates
    tables = {
        "gender_contradiction": rates.table(
            "answer's gender words contradict the gender label (the other gender's words dominate)",
            gender_contra, gender_known),
        "age_contradiction": rates.table(
            "answer states an age more than one FairFace bin from the label, or calls a child an "
            "adult, or a middle-aged or older person a child", age_contra, age_known),
        "race_contradiction": rates.table(
            "answer names a race or ethnicity and none it names fits the label", race_contra, race_known),
        "skin_tone_contradiction": rates.table(
            "answer calls light-labelled skin dark, or dark-labelled skin light", skin_contra, skin_known),
        "any_contradiction": rates.table(
            "answer contradicts at least one of the image's labels", any_contra, any_known),
        "unsolicited_race": rates.table(
            "a non-demographic aspect's answer names a race or ethnicity", race_mention, other_aspect),
        "unsolicited_gender": rates.table(
            "a non-demographic aspect's answer names a gender category (male, feminine ...)",
            gender_mention, other_aspect),
        "unsolicited_age": rates.table(
            "a non-demographic aspect's answer states an age or age category", age_mention, other_aspect),
        "unsolicited_any": rates.table(
            "a non-demographic aspect's answer names race, skin tone, gender or age",
            race_mention | gender_mention | age_mention | skin_mention, other_aspect),
    }  # fmt: skip
    ctx.flag("label contradiction", any_contra)
    kinds = {"gender_contradiction": gender_contra, "age_contradiction": age_contra,
             "race_contradiction": race_contra, "skin_tone_contradiction": skin_contra,
             "unsolicited_any": other_aspect & (race_mention | gender_mention | age_mention)}  # fmt: skip
    examples = {
        kind: [corpus.keys[i] for i in np.flatnonzero(mask)[:_EXAMPLES]]
        for kind, mask in kinds.items()
        if mask.any()
    }
    return LabelConsistencyResult(
        lexicon=f"{lex.LEXICON_VERSION}: FairFace race/gender/age vocabularies, synonyms, "
        "numeric ages mapped to FairFace bins, Monk skin-tone groups",
        demographic_aspects=[a for a in corpus.aspects if a in ctx.config.demographic_aspects],
        rates=tables,
        examples=examples,
    )

