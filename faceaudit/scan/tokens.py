"""Vectorised tokenisation of a whole corpus into one array of word codes.

A million answers are tokenised chunk by chunk without one Python object per
word: the chunk's answers are joined with a NUL separator, lower-cased and
encoded, word boundaries are found with a byte lookup table, each word gets a
64-bit polynomial hash from prefix sums, and the hashes are coded with
``pandas.factorize``. Only a chunk's new words become strings. A per-answer
``re.findall`` (what ``CountVectorizer``'s analyser does) is several times
slower; the tests check the counts against ``CountVectorizer`` with the same
token pattern. Every scanner then works on integer arrays.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import pandas as pd

# Letters and digits, Unicode-aware; apostrophes, hyphens and punctuation split words
# ("person's" -> "person", "s"; "middle-aged" -> "middle", "aged").
TOKEN_PATTERN = r"(?u)[^\W_]+"
_SEPARATOR = "\x00"
_CHUNK = 20_000


@dataclass
class Tokens:
    """All answers' words as codes into ``vocab``; answer ``i`` is ``codes[starts[i]:starts[i+1]]``."""

    vocab: list[str]
    codes: np.ndarray  # int32
    starts: np.ndarray  # int64, len = n_docs + 1
    index: dict[str, int] = field(repr=False, default_factory=dict)

    def __post_init__(self) -> None:
        if not self.index:
            self.index = {word: i for i, word in enumerate(self.vocab)}

    @property
    def n_docs(self) -> int:
        return len(self.starts) - 1

    @cached_property
    def lengths(self) -> np.ndarray:
        return np.diff(self.starts)

    @cached_property
    def doc(self) -> np.ndarray:
        """The answer each token belongs to (int32)."""
        return np.repeat(np.arange(self.n_docs, dtype=np.int32), self.lengths)

    def mask(self, words: Iterable[str]) -> np.ndarray:
        """A boolean array over the vocabulary, true for ``words`` that occur."""
        out = np.zeros(len(self.vocab), dtype=bool)
        found = [self.index[w] for w in words if w in self.index]
        out[found] = True
        return out

    def values(self, mapping: dict[str, float], default: float = np.nan) -> np.ndarray:
        """A float array over the vocabulary: ``mapping[word]``, else ``default``."""
        out = np.full(len(self.vocab), default, dtype=np.float64)
        for word, value in mapping.items():
            code = self.index.get(word)
            if code is not None:
                out[code] = value
        return out

    def docs_with(self, token_mask: np.ndarray) -> np.ndarray:
        """Per answer: how many of its tokens ``token_mask`` (over tokens) marks."""
        return np.bincount(self.doc[token_mask], minlength=self.n_docs)

    def doc_ranges(self, max_tokens: int = 4_000_000) -> Iterator[tuple[int, int]]:
        """Consecutive answer ranges [begin, end) of about ``max_tokens`` tokens each."""
        begin = 0
        while begin < self.n_docs:
            limit = self.starts[begin] + max_tokens
            end = int(np.searchsorted(self.starts, limit, side="right")) - 1
            end = min(max(end, begin + 1), self.n_docs)
            yield begin, end
            begin = end

    def gather(self, docs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(token codes, position in ``docs`` of their answer) of the answers ``docs``, in order."""
        lengths = self.lengths[docs]
        total = int(lengths.sum())
        offsets = np.repeat(self.starts[docs] - (np.cumsum(lengths) - lengths), lengths)
        return self.codes[offsets + np.arange(total)], np.repeat(np.arange(len(docs)), lengths)

    def bigram_hits(self, pairs: Iterable[tuple[str, str]]) -> np.ndarray:
        """Indices i of tokens where (token i, token i+1) is one of ``pairs`` in the same answer."""
        positions, _ = self.bigram_labels({pair: 1 for pair in pairs})
        return positions

    def bigram_labels(self, labels: dict[tuple[str, str], int]) -> tuple[np.ndarray, np.ndarray]:
        """(token index i, label) wherever (token i, token i+1) is a labelled bigram, in one pass."""
        known = {(self.index[a], self.index[b]): v for (a, b), v in labels.items()
                 if a in self.index and b in self.index}
        empty = np.zeros(0, dtype=np.int64)
        if not known or len(self.codes) < 2:
            return empty, empty
        vocab = np.int64(len(self.vocab))
        first = np.zeros(len(self.vocab), dtype=bool)
        first[[a for a, _ in known]] = True
        candidates = np.flatnonzero(first[self.codes[:-1]])
        candidates = candidates[self.doc[candidates] == self.doc[candidates + 1]]
        keys = self.codes[candidates].astype(np.int64) * vocab + self.codes[candidates + 1]
        targets = np.array(sorted(a * vocab + b for a, b in known), dtype=np.int64)
        values = np.array([known[(int(t // vocab), int(t % vocab))] for t in targets], dtype=np.int64)
        slot = np.minimum(np.searchsorted(targets, keys), len(targets) - 1)
        hit = targets[slot] == keys
        return candidates[hit], values[slot[hit]]


_WORD_BYTE = np.zeros(256, dtype=bool)
for _c in b"abcdefghijklmnopqrstuvwxyz0123456789":
    _WORD_BYTE[_c] = True
_WORD_BYTE[0x80:] = True  # bytes of non-ASCII letters; non-ASCII punctuation is blanked first
_NON_ASCII_NON_WORD = re.compile(r"[^\x00-\x7f\w]|_")
_MULTIPLIER = np.uint64(0x9E3779B97F4A7C15)  # odd, so it has an inverse modulo 2**64


class _Powers:
    """Powers of the hash multiplier and of its inverse, grown on demand."""

    def __init__(self) -> None:
        self.forward = np.ones(1, dtype=np.uint64)
        self.inverse = np.ones(1, dtype=np.uint64)
        self._inv = np.uint64(pow(int(_MULTIPLIER), -1, 1 << 64))

    def ensure(self, n: int) -> None:
        # Doubling by one vectorised multiply per step (P^(k+m) = P^k * P^m modulo 2**64):
        # a cumulative product over millions of entries is several times slower.
        with np.errstate(over="ignore"):
            while len(self.forward) < n:
                step = self.forward[-1] * _MULTIPLIER
                inverse_step = self.inverse[-1] * self._inv
                self.forward = np.concatenate([self.forward, self.forward * step])
                self.inverse = np.concatenate([self.inverse, self.inverse * inverse_step])


def _chunk_tokens(
    block: Sequence[str], powers: _Powers
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, bytes]:
    """(token hashes, token starts, token ends, answer of each token, the chunk's bytes)."""
    joined = _SEPARATOR.join(block)
    if joined.count(_SEPARATOR) != len(block) - 1:  # hostile text may carry NULs itself
        joined = _SEPARATOR.join(t.replace(_SEPARATOR, " ") for t in block)
    joined = joined.lower()
    if not joined.isascii():
        joined = _NON_ASCII_NON_WORD.sub(" ", joined)
    data = joined.encode("utf-8") + b"\x00"
    raw = np.frombuffer(data, dtype=np.uint8)
    word = _WORD_BYTE[raw]
    edges = np.diff(word.astype(np.int8), prepend=np.int8(0), append=np.int8(0))
    starts = np.flatnonzero(edges == 1)
    ends = np.flatnonzero(edges == -1)
    powers.ensure(len(raw) + 1)
    with np.errstate(over="ignore"):
        prefix = np.zeros(len(raw) + 1, dtype=np.uint64)
        np.cumsum(raw.astype(np.uint64) * powers.forward[: len(raw)], out=prefix[1:])
        # Polynomial hash of bytes[start:end], shifted back to position 0 so that equal
        # words hash equally wherever they stand; length is mixed in against trailing zeros.
        hashes = (prefix[ends] - prefix[starts]) * powers.inverse[starts]
        hashes ^= (ends - starts).astype(np.uint64) * np.uint64(0xBF58476D1CE4E5B9)
    # A word's answer is the number of separators before it.
    doc = np.cumsum(raw == 0, dtype=np.int32)[starts]
    return hashes, starts, ends, doc, data


def tokenize(texts: Sequence[str], *, chunk: int = _CHUNK) -> Tokens:
    """Tokenise ``texts`` (lower-cased, ``TOKEN_PATTERN``) into one :class:`Tokens`."""
    known: dict[int, int] = {}
    vocab: list[str] = []
    parts: list[np.ndarray] = []
    counts: list[np.ndarray] = []
    powers = _Powers()
    for begin in range(0, len(texts), chunk):
        block = texts[begin : begin + chunk]
        hashes, starts, ends, doc, data = _chunk_tokens(block, powers)
        local, uniques = pd.factorize(hashes, sort=False)
        first = np.empty(len(uniques), dtype=np.int64)
        first[local[::-1]] = np.arange(len(local) - 1, -1, -1)
        mapping = np.empty(len(uniques), dtype=np.int32)
        for i, value in enumerate(uniques.tolist()):
            code = known.get(value)
            if code is None:
                code = known[value] = len(vocab)
                at = first[i]
                vocab.append(data[starts[at] : ends[at]].decode("utf-8"))
            mapping[i] = code
        parts.append(mapping[local])
        counts.append(np.bincount(doc, minlength=len(block)))
    codes = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int32)
    doc_lengths = np.concatenate(counts) if counts else np.zeros(0, dtype=np.int64)
    starts_all = np.zeros(len(doc_lengths) + 1, dtype=np.int64)
    np.cumsum(doc_lengths, out=starts_all[1:])
    return Tokens(vocab=vocab, codes=codes.astype(np.int32, copy=False), starts=starts_all)

