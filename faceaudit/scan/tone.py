"""Tone: sentiment, hedging and refusals per group, offline.

Sentiment uses the VADER lexicon (Hutto & Gilbert 2014; 7,500 rated words, MIT,
shipped inside the ``vaderSentiment`` package, nothing downloaded). VADER's
full rule set runs per sentence in Python, far too slow for a million answers;
here each answer's score is the sum of its words' valences, a word after a
negator flipped and damped as VADER does (x -0.74), normalised to [-1, 1] with
VADER's ``x / sqrt(x^2 + 15)``. Boosters, capitals and "but" are not modelled.
Hedging is a documented word list (``lexicons.HEDGE_WORDS``); a refusal is what
the corpus quality gate's refusal pattern matches, tried only on answers with a
refusal hint word.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources

import numpy as np

from faceaudit.corpus.quality import _REFUSAL
from faceaudit.scan import lexicons as lex
from faceaudit.scan.rates import mean_estimate
from faceaudit.scan.registry import ScanContext, register_scanner
from faceaudit.scan.tokens import Tokens
from faceaudit.schema.corpus_scan import ToneResult

SENTIMENT_METHOD = (
    "VADER lexicon (vaderSentiment, Hutto & Gilbert 2014): summed word valence with negation, "
    "normalised x/sqrt(x^2+15); negative when <= -0.05"
)
_NEGATION_SCALAR = -0.74
_NORMALISATION_ALPHA = 15.0
_NEGATIVE_THRESHOLD = -0.05


@lru_cache(maxsize=1)
def vader_lexicon() -> dict[str, float]:
    """word -> mean valence (-4 .. 4), single words only."""
    text = resources.files("vaderSentiment").joinpath("vader_lexicon.txt").read_text(encoding="utf-8")
    out = {}
    for line in text.splitlines():
        parts = line.split("\t")
        if len(parts) >= 2 and parts[0].isalpha():
            out[parts[0].lower()] = float(parts[1])
    return out


def sentiment_scores(tok: Tokens) -> np.ndarray:
    """One score in [-1, 1] per answer."""
    valence = np.nan_to_num(tok.values(vader_lexicon(), default=0.0))
    # Only rated words (a few percent of tokens) get a float: the rest contribute 0.
    marked = np.flatnonzero((valence != 0)[tok.codes])
    scores = valence[tok.codes[marked]]
    if len(marked):
        negator = tok.mask(lex.NEGATORS)
        previous = marked - 1
        ok = previous >= 0
        flip = np.zeros(len(marked), dtype=bool)
        flip[ok] = negator[tok.codes[previous[ok]]] & (tok.doc[previous[ok]] == tok.doc[marked[ok]])
        scores[flip] *= _NEGATION_SCALAR
    total = np.bincount(tok.doc[marked], weights=scores, minlength=tok.n_docs)
    return total / np.sqrt(total * total + _NORMALISATION_ALPHA)


def refusals(answers: list[str], tok: Tokens) -> np.ndarray:
    hint = tok.docs_with(tok.mask(lex.REFUSAL_HINT_WORDS)[tok.codes]) > 0
    hint |= np.bincount(tok.doc[tok.bigram_hits(lex.REFUSAL_HINT_BIGRAMS)], minlength=tok.n_docs) > 0
    out = np.zeros(tok.n_docs, dtype=bool)
    for i in np.flatnonzero(hint):
        out[i] = _REFUSAL.search(answers[i]) is not None
    return out


@register_scanner("tone")
def scan_tone(ctx: ScanContext) -> ToneResult:
    corpus = ctx.corpus
    tok = corpus.tokens
    scores = sentiment_scores(tok)
    labelled = corpus.labelled_pairs
    sentiment = {"overall": mean_estimate(scores[labelled], corpus.image[labelled], corpus.n_images)}
    for column in corpus.columns:
        group = column.of_image[corpus.image]
        for code in range(len(column.names)):
            inside = group == code
            if inside.any():
                sentiment[column.key(code)] = mean_estimate(
                    scores[inside], corpus.image[inside], corpus.n_images
                )
    hedged = tok.docs_with(tok.mask(lex.HEDGE_WORDS)[tok.codes]) > 0
    refused = refusals(corpus.answers, tok)
    ctx.flag("refusal", refused)
    rates = {
        "negative": ctx.rates.table("answer's sentiment is negative (score <= -0.05)",
                                    scores <= _NEGATIVE_THRESHOLD),
        "hedging": ctx.rates.table("answer hedges (appears, likely, may, approximately ...)", hedged),
        "refusal": ctx.rates.table("answer refuses or says it cannot analyse the image", refused),
    }  # fmt: skip
    return ToneResult(sentiment_method=SENTIMENT_METHOD, sentiment=sentiment, rates=rates)
