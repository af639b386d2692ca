"""Words over-used for one group: weighted log-odds with an informative Dirichlet prior.

Monroe, Colaresi & Quinn (2008), "Fightin' Words", section 3.5: for word w,
group g and the rest r of the corpus, with prior counts alpha_w = alpha_0 *
(corpus frequency of w),

    delta_w = log((y_gw + a_w) / (n_g + a_0 - y_gw - a_w)) - log((y_rw + a_w) / (n_r + a_0 - y_rw - a_w))
    var(delta_w) ~= 1 / (y_gw + a_w) + 1 / (y_rw + a_w),     z = delta_w / sqrt(var)

A word is counted once per image (y_gw = images of group g whose answers use w):
the eight answers about one image are not independent, and a word one answer
repeats must not look like many. Two-sided p-values from z are corrected with
Benjamini-Hochberg (statsmodels ``multipletests``) over every word x group of
one attribute; words used for fewer than ``min_word_images`` images are not
tested (a filter independent of group under the null). The sensitive-descriptor
lexicon is reported per group whatever its significance.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.special import ndtr
from statsmodels.stats.multitest import multipletests

from faceaudit.scan import lexicons as lex
from faceaudit.scan.registry import ScanContext, register_scanner
from faceaudit.scan.table import ScanCorpus
from faceaudit.schema.corpus_scan import AssociationResult, WordAssociation

METHOD = "weighted log-odds, informative Dirichlet prior (Monroe et al. 2008); Benjamini-Hochberg"


def image_word_counts(corpus: ScanCorpus, max_tokens: int = 4_000_000) -> list[np.ndarray]:
    """Per group column: images of each group (rows) whose answers use each word (columns).

    Answers are taken image by image in chunks of about ``max_tokens`` words, so a
    distinct (image, word) pair is distinct within its chunk and nothing of the size of
    the whole corpus is materialised beyond the token codes themselves.
    """
    tok = corpus.tokens
    vocab = max(len(tok.vocab), 1)
    counts = [np.zeros(len(c.names) * vocab, dtype=np.int64) for c in corpus.columns]
    order = np.argsort(corpus.image, kind="stable")
    cumulative = np.cumsum(tok.lengths[order])
    begin = 0
    while begin < len(order):
        end = int(np.searchsorted(cumulative, cumulative[begin] + max_tokens, side="right"))
        end = max(end, begin + 1)
        # Extend to the end of the last image so that no image spans two chunks.
        last = corpus.image[order[end - 1]]
        while end < len(order) and corpus.image[order[end]] == last:
            end += 1
        docs = order[begin:end]
        codes, position = tok.gather(docs)
        keys = pd.unique(corpus.image[docs][position].astype(np.int64) * vocab + codes)
        images, words = keys // vocab, keys % vocab
        for column, total in zip(corpus.columns, counts):
            group = column.of_image[images]
            known = group >= 0
            total += np.bincount(group[known] * vocab + words[known], minlength=len(total))
        begin = end
    return [total.reshape(len(c.names), vocab) for c, total in zip(corpus.columns, counts)]


def log_odds(y: np.ndarray, prior_strength: float) -> tuple[np.ndarray, np.ndarray]:
    """(delta, z) of every group (rows of ``y``) against the rest, per word (columns)."""
    totals = y.sum(axis=0).astype(float)
    grand = totals.sum()
    alpha = prior_strength * totals / grand if grand > 0 else np.zeros_like(totals)
    a0 = prior_strength
    n_group = y.sum(axis=1, keepdims=True).astype(float)
    rest = totals[None, :] - y
    n_rest = grand - n_group
    with np.errstate(divide="ignore", invalid="ignore"):
        delta = np.log((y + alpha) / (n_group + a0 - y - alpha)) - np.log(
            (rest + alpha) / (n_rest + a0 - rest - alpha)
        )
        variance = 1.0 / (y + alpha) + 1.0 / (rest + alpha)
        z = delta / np.sqrt(variance)
    return delta, z


@register_scanner("association")
def scan_association(ctx: ScanContext) -> AssociationResult:
    corpus, cfg = ctx.corpus, ctx.config
    tok = corpus.tokens
    word_counts = image_word_counts(corpus)
    has_answer = np.bincount(corpus.image, minlength=corpus.n_images) > 0
    category_of = {w: c for c, ws in lex.DESCRIPTORS.items() for w in ws}
    found: list[WordAssociation] = []
    n_tested = n_significant = 0
    flagged_words: dict[str, set[int]] = {}
    for column, y in zip(corpus.columns, word_counts):
        present = (column.of_image >= 0) & has_answer
        group_images = np.bincount(column.of_image[present], minlength=len(column.names))
        if len(column.names) < 2 or y.sum() == 0:
            continue
        tested = np.flatnonzero(y.sum(axis=0) >= cfg.min_word_images)
        if len(tested) == 0:
            continue
        delta, z = log_odds(y[:, tested], cfg.prior_strength)
        p = 2.0 * ndtr(-np.abs(z))
        p = np.where(np.isnan(p), 1.0, p)
        reject, q, _, _ = multipletests(p.ravel(), alpha=cfg.fdr, method="fdr_bh")
        q = q.reshape(p.shape)
        significant = reject.reshape(p.shape) & (z > 0)
        n_tested += p.size
        n_significant += int(significant.sum())
        marginal = " × " not in column.attribute
        for g, name in enumerate(column.names):
            rest_images = max(int(group_images.sum() - group_images[g]), 1)
            order = np.flatnonzero(significant[g])
            order = order[np.argsort(-z[g, order])][: cfg.top_words]
            chosen = set(order.tolist())
            if marginal:
                chosen |= {j for j, w in enumerate(tested) if tok.vocab[w] in category_of and y[g, w] > 0}
            for j in sorted(chosen, key=lambda j: -z[g, j]):
                w = tested[j]
                word = tok.vocab[w]
                found.append(WordAssociation(
                    attribute=column.attribute, group=name, word=word,
                    images_group=int(y[g, w]), images_rest=int(y[:, w].sum() - y[g, w]),
                    share_group=float(y[g, w] / max(group_images[g], 1)),
                    share_rest=float((y[:, w].sum() - y[g, w]) / rest_images),
                    log_odds=float(delta[g, j]), z=float(z[g, j]), p_value=float(p[g, j]),
                    q_value=float(q[g, j]), significant=bool(significant[g, j]),
                    lexicon_category=category_of.get(word),
                ))  # fmt: skip
                if marginal and significant[g, j] and word in category_of:
                    flagged_words.setdefault(column.attribute, set()).add(w * len(column.names) + g)
    found.sort(key=lambda a: (not a.significant, a.lexicon_category is None, -a.z))
    _flag_associated(ctx, flagged_words)
    descriptors = _descriptor_rates(ctx)
    return AssociationResult(
        method=METHOD,
        unit="image: a word counts once per image, however many of its answers use it",
        prior_strength=cfg.prior_strength,
        fdr=cfg.fdr,
        min_images=cfg.min_word_images,
        n_words_tested=n_tested,
        n_significant=n_significant,
        words=found,
        descriptors=descriptors,
        lexicon={c: lex.DESCRIPTOR_DOCS[c] + ": " + ", ".join(sorted(ws)) for c, ws in lex.DESCRIPTORS.items()},
    )


def _flag_associated(ctx: ScanContext, flagged: dict[str, set[int]]) -> None:
    """Flag answers that use a sensitive descriptor significantly over-used for their own group."""
    corpus, tok = ctx.corpus, ctx.corpus.tokens
    for column in corpus.columns:
        keys = flagged.get(column.attribute)
        if not keys:
            continue
        group_of_token = column.of_image[corpus.image[tok.doc]]
        key = tok.codes.astype(np.int64) * len(column.names) + group_of_token
        hit = np.isin(key, np.fromiter(keys, dtype=np.int64)) & (group_of_token >= 0)
        ctx.flag("sensitive descriptor over-used for the group", tok.docs_with(hit) > 0)


def _descriptor_rates(ctx: ScanContext) -> dict:
    from faceaudit.scan.scanners import _skin_mentions

    tok = ctx.corpus.tokens
    tables = {}
    for category, words in lex.DESCRIPTORS.items():
        uses = tok.docs_with(tok.mask(words)[tok.codes]) > 0
        if category == "skin_tone":
            uses |= sum(_skin_mentions(tok).values()) > 0
        if category == "threat":
            ctx.flag("threat descriptor", uses)
        tables[category] = ctx.rates.table(
            f"answer uses a {category.replace('_', ' ')} descriptor ({lex.DESCRIPTOR_DOCS[category]})", uses
        )
    return tables
