"""Hygiene: duplicated answers, answers copied across groups, personal data.

* exact duplicates: the same words in the same order (case and punctuation aside),
  by a 64-bit polynomial hash of each answer's word codes;
* near duplicates: MinHash over word trigrams (8 hashes, 4 LSH bands of 2), then
  an answer is a near duplicate of its bucket's first answer when at least 6 of
  the 8 hashes agree (estimated Jaccard >= 0.75) and it is not an exact one;
* cross-group copies: answers that become identical once every demographic word
  (gender words and pronouns, race and age words, numbers, skin-tone adjectives)
  is masked, while their unmasked text differs and their images belong to
  different groups: the generator wrote one text and swapped the label;
* personal data: e-mail addresses, phone numbers, and names after an honorific
  or "named"/"called" (a pattern, not named-entity recognition: a reviewer checks).
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from faceaudit.scan import lexicons as lex
from faceaudit.scan.registry import ScanContext, register_scanner
from faceaudit.scan.tokens import Tokens
from faceaudit.schema.corpus_scan import DuplicateExample, HygieneResult

_MINHASHES, _BANDS, _AGREE = 8, 4, 6
_EXAMPLES = 5
_EXCERPT = 300
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)*\.[A-Za-z]{2,}")
_PHONE = re.compile(r"(?<![\w.])(?:\+\d{1,3}[\s.-]?)?(?:\(\d{2,4}\)[\s.-]?)?\d{3,4}[\s.-]\d{3,4}(?:[\s.-]\d{2,4})?(?![\w.])")
_NAME = re.compile(
    r"\b(?:(?:Mr|Mrs|Ms|Miss|Dr|Prof)\.?\s+[A-Z][a-z]+|(?:named|called|name is)\s+[A-Z][a-z]+(?:\s+[A-Z][a-z]+)?)"
)
_NAME_HINTS = frozenset({"mr", "mrs", "ms", "miss", "dr", "prof", "named", "called", "name"})


def sequence_hashes(tok: Tokens, codes: np.ndarray | None = None) -> np.ndarray:
    """A 64-bit hash of each answer's word sequence (uint64 arithmetic wraps, as intended)."""
    codes = tok.codes if codes is None else codes
    hashes = np.zeros(tok.n_docs, dtype=np.uint64)
    if len(codes) == 0:
        return hashes
    longest = int(tok.lengths.max())
    with np.errstate(over="ignore"):
        powers = np.ones(longest + 1, dtype=np.uint64)
        powers[1:] = np.cumprod(np.full(longest, np.uint64(1099511628211), dtype=np.uint64))
    for begin, end in tok.doc_ranges():
        low, high = tok.starts[begin], tok.starts[end]
        position = np.arange(low, high, dtype=np.int64) - tok.starts[tok.doc[low:high]]
        with np.errstate(over="ignore"):
            terms = (codes[low:high].astype(np.uint64) + np.uint64(1)) * powers[position]
        nonempty = begin + np.flatnonzero(tok.lengths[begin:end] > 0)
        if len(nonempty):
            sums = np.add.reduceat(terms, tok.starts[nonempty] - low)
            hashes[nonempty] = sums ^ tok.lengths[nonempty].astype(np.uint64)
    return hashes


def _minhash(tok: Tokens, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(answers with >= 3 words, their MinHash signatures [n, 8])."""
    rng = np.random.default_rng(seed)
    params = rng.integers(1, 2**63 - 1, size=(_MINHASHES, 2), dtype=np.int64).astype(np.uint64)
    all_docs, signatures = [], []
    for begin, end in tok.doc_ranges():
        low, high = tok.starts[begin], tok.starts[end]
        c = tok.codes[low:high].astype(np.uint64)
        doc = tok.doc[low:high]
        if len(c) < 3:
            continue
        valid = np.flatnonzero(doc[:-2] == doc[2:])
        if len(valid) == 0:
            continue
        with np.errstate(over="ignore"):
            shingles = (c[valid] * np.uint64(0x9E3779B97F4A7C15)) ^ (
                c[valid + 1] * np.uint64(0xC2B2AE3D27D4EB4F)
            ) ^ (c[valid + 2] * np.uint64(0x165667B19E3779F9))
        docs = doc[valid]
        starts = np.flatnonzero(np.diff(docs, prepend=-1))
        signature = np.empty((len(starts), _MINHASHES), dtype=np.uint64)
        with np.errstate(over="ignore"):
            for j in range(_MINHASHES):
                hashed = shingles * (params[j, 0] | np.uint64(1)) + params[j, 1]
                hashed ^= hashed >> np.uint64(29)
                signature[:, j] = np.minimum.reduceat(hashed, starts)
        all_docs.append(docs[starts].astype(np.int64))
        signatures.append(signature)
    if not all_docs:
        return np.zeros(0, dtype=np.int64), np.zeros((0, _MINHASHES), dtype=np.uint64)
    return np.concatenate(all_docs), np.concatenate(signatures)


def near_duplicates(tok: Tokens, exact: np.ndarray, seed: int = 0) -> np.ndarray:
    """Per answer: a near (not exact) duplicate of an earlier answer."""
    docs, signature = _minhash(tok, seed)
    out = np.zeros(tok.n_docs, dtype=bool)
    if len(docs) == 0:
        return out
    rows = _MINHASHES // _BANDS
    for band in range(_BANDS):
        part = signature[:, band * rows : (band + 1) * rows]
        key = part[:, 0] ^ (part[:, 1] * np.uint64(0xFF51AFD7ED558CCD))
        bucket, _ = pd.factorize(key, sort=False)
        first = np.full(bucket.max() + 1, -1, dtype=np.int64)
        first[bucket[::-1]] = np.arange(len(bucket) - 1, -1, -1)
        representative = first[bucket]
        agree = (signature == signature[representative]).sum(axis=1) >= _AGREE
        differ = exact[docs] != exact[docs[representative]]
        out[docs[agree & differ & (representative != np.arange(len(docs)))]] = True
    return out


def _demographic_mask(tok: Tokens) -> np.ndarray:
    words = set(lex.MALE_WORDS) | lex.FEMALE_WORDS | lex.CHILD_WORDS | lex.ADULT_OR_OLD_WORDS
    words |= set(lex.RACE_UNIGRAMS) | {a for a, _ in lex.RACE_BIGRAMS} | {b for _, b in lex.RACE_BIGRAMS}
    words |= lex.GENDER_CATEGORY_WORDS | lex.AGE_CATEGORY_WORDS | set(lex.DECADE_WORDS)
    words |= set(lex.SKIN_TONE_ADJECTIVES) | {"they", "them", "their", "person", "individual", "aged"}
    mask = tok.mask(words)
    for code, word in enumerate(tok.vocab):
        if word.isdigit() or (word[:-1].isdigit() and word.endswith("s")):
            mask[code] = True
    return mask


def personal_data(answers: list[str], tok: Tokens) -> dict[str, np.ndarray]:
    """kind -> per answer: does it contain an e-mail, phone number or name?"""
    n = tok.n_docs
    found = {kind: np.zeros(n, dtype=bool) for kind in ("email", "phone", "name")}
    for i, answer in enumerate(answers):
        if "@" in answer and _EMAIL.search(answer):
            found["email"][i] = True
    # A phone number has two groups of 3-4 digits next to each other ("555 0132",
    # "555-0132"); only answers with such a pair of words are matched against the pattern.
    digits = np.zeros(len(tok.vocab), dtype=bool)
    for code, word in enumerate(tok.vocab):
        digits[code] = word.isdigit() and 3 <= len(word) <= 4
    lead = np.flatnonzero(digits[tok.codes[:-1]])
    lead = lead[digits[tok.codes[lead + 1]] & (tok.doc[lead] == tok.doc[lead + 1])]
    for i in np.unique(tok.doc[lead]):
        found["phone"][i] = _PHONE.search(answers[i]) is not None
    for i in np.flatnonzero(tok.docs_with(tok.mask(_NAME_HINTS)[tok.codes]) > 0):
        found["name"][i] = _NAME.search(answers[i]) is not None
    return found


def _excerpt(text: str) -> str:
    return text if len(text) <= _EXCERPT else text[:_EXCERPT] + "…"


@register_scanner("hygiene")
def scan_hygiene(ctx: ScanContext) -> HygieneResult:
    corpus = ctx.corpus
    tok = corpus.tokens
    exact = sequence_hashes(tok)
    frame = pd.DataFrame({"exact": exact})
    duplicate = frame["exact"].duplicated().to_numpy()
    near = near_duplicates(tok, exact, ctx.seed)
    mask = _demographic_mask(tok)
    masked_codes = np.where(mask[tok.codes], np.int32(len(tok.vocab)), tok.codes)
    frame["masked"] = sequence_hashes(tok, masked_codes)
    copies_any = np.zeros(corpus.n_pairs, dtype=bool)
    by_attribute: dict[str, int] = {}
    examples: list[DuplicateExample] = []
    first_column = corpus.columns[0] if corpus.columns else None
    for column in corpus.columns:
        frame["group"] = column.of_image[corpus.image]
        labelled = frame[frame["group"] >= 0]
        stats = labelled.groupby("masked").agg(texts=("exact", "nunique"), groups=("group", "nunique"))
        families = stats.index[(stats["texts"] > 1) & (stats["groups"] > 1)]
        copied = frame["masked"].isin(families).to_numpy() & (frame["group"].to_numpy() >= 0)
        by_attribute[column.attribute] = int(copied.sum())
        copies_any |= copied
    personal = personal_data(corpus.answers, tok)
    any_personal = personal["email"] | personal["phone"] | personal["name"]
    ctx.flag("personal data", any_personal)
    counts = frame["exact"].value_counts()
    for value, count in counts[counts > 1].head(_EXAMPLES).items():
        where = np.flatnonzero(exact == value)
        groups = []
        if first_column is not None:
            codes = sorted({int(c) for c in first_column.of_image[corpus.image[where]] if c >= 0})
            groups = [first_column.key(c) for c in codes]
        examples.append(DuplicateExample(
            key=corpus.keys[where[0]], count=int(count), groups=groups,
            text=_excerpt(corpus.answers[where[0]]),
        ))  # fmt: skip
    rates = {
        "exact_duplicate": ctx.rates.table("answer repeats an earlier answer word for word", duplicate),
        "near_duplicate": ctx.rates.table("answer nearly repeats an earlier answer (Jaccard >= 0.75)", near),
        "cross_group_copy": ctx.rates.table(
            "answer equals one written for another group once demographic words are masked", copies_any),
        "personal_data": ctx.rates.table("answer contains an e-mail, phone number or name", any_personal),
    }  # fmt: skip
    return HygieneResult(
        n_exact_duplicates=int(duplicate.sum()),
        n_near_duplicates=int(near.sum()),
        n_cross_group_copies=int(copies_any.sum()),
        cross_group_copies_by_attribute=by_attribute,
        n_personal_data=int(any_personal.sum()),
        personal_data_by_kind={k: int(v.sum()) for k, v in personal.items()},
        rates=rates,
        examples=examples,
        flagged_personal_data=[corpus.keys[i] for i in np.flatnonzero(any_personal)[:50]],
    )
