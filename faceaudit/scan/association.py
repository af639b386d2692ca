"""Words over-used for one group: weighted log-odds with an informative Dirichlet prior.

Monroe, Colaresi & Quinn (2008), "Fightin' Words", section 3.5: for word w,
group g and the rest r of the corpus, with prior counts alpha_w = alpha_0 *
(corpus frequency of w),

    delta_w = log((y_gw + a_w) / (n_g + a_0 - y_gw - a_w)) - log((y_rw + a_w) / (n_r + a_0 - y_rw - a_w))
    var(delta_w) ~= 1 / (y_gw + a_w) + 1 / (y_rw + a_w),     z = delta_w / sqrt(var)

A word is counted once per image (y_gw = images of group g whose answers use w):
the eight answers about one image are not independent, and a word one answer
repeats must not look like many. The z-score ranks words and gives the
direction; the p-value is not read off z, because for a rare word in a small
group (an intersection cell) the normal approximation is far too optimistic: on
a 100,000-pair corpus with labels assigned at random it declared 40 words
significant. Instead each p-value comes from the exact conditional test: given
the t_w images that use the word, under the null the number in group g is
hypergeometric (N images, t_w drawn, N_g in the group); its tails are taken
from the binomial (t_w, N_g / N), which is wider, so the p-value errs large,
and is a C ufunc (scipy's hypergeometric tails took 20 s on 100,000 pairs);
two-sided = twice the smaller tail. The p-values are
corrected with Benjamini-Hochberg (statsmodels ``multipletests``) over every
word x group of one attribute; words used for fewer than ``min_word_images``
images are not tested (a filter independent of group under the null). The
sensitive-descriptor lexicon is reported per group whatever its significance.
"""

from __future__ import annotations

import numpy as np
from scipy.special import bdtr, bdtrc
from statsmodels.stats.multitest import multipletests

from faceaudit.scan import lexicons as lex
from faceaudit.scan.registry import ScanContext, register_scanner
from faceaudit.scan.table import ScanCorpus
from faceaudit.schema.corpus_scan import AssociationResult, WordAssociation

METHOD = (
    "weighted log-odds with an informative Dirichlet prior (Monroe et al. 2008) for effect and "
    "rank; exact hypergeometric p-values per word x group; Benjamini-Hochberg"
)


_SCRATCH = 1 << 25  # bytes of the (image, word) presence table of one chunk


def image_word_counts(corpus: ScanCorpus) -> list[np.ndarray]:
    """Per group column: images of each group (rows) whose answers use each word (columns).

    Answers are taken image by image, in chunks of as many images as fit a 32 MiB
    presence table (images x vocabulary): marking (image, word) there and reading the
    marks back dedupes without sorting or hashing, and no image spans two chunks.
    """
    tok = corpus.tokens
    vocab = max(len(tok.vocab), 1)
    counts = [np.zeros(len(c.names) * vocab, dtype=np.int64) for c in corpus.columns]
    order = np.argsort(corpus.image, kind="stable")
    image_sorted = corpus.image[order]
    # Where each image's answers begin in ``order``, and the images in order.
    first = np.flatnonzero(np.diff(image_sorted, prepend=-1))
    images = image_sorted[first]
    per_chunk = max(1, _SCRATCH // vocab)
    scratch = np.zeros(min(_SCRATCH, per_chunk * vocab) + vocab, dtype=bool)
    for begin in range(0, len(images), per_chunk):
        chunk_images = images[begin : begin + per_chunk]
        stop = first[begin + per_chunk] if begin + per_chunk < len(first) else len(order)
        docs = order[first[begin] : stop]
        codes, position = tok.gather(docs)
        local = np.searchsorted(chunk_images, corpus.image[docs])[position]
        keys = local.astype(np.int64) * vocab + codes
        scratch[keys] = True
        marked = np.flatnonzero(scratch[: len(chunk_images) * vocab])
        scratch[marked] = False
        image, word = chunk_images[marked // vocab], marked % vocab
        for column, total in zip(corpus.columns, counts, strict=True):
            group = column.of_image[image]
            known = group >= 0
            total += np.bincount(group[known] * vocab + word[known], minlength=len(total))
    return [total.reshape(len(c.names), vocab) for c, total in zip(corpus.columns, counts, strict=True)]


def exact_pvalues(y: np.ndarray, group_images: np.ndarray) -> np.ndarray:
    """Two-sided p that group g's count of images using word w is as extreme as observed.

    Conditional on the ``y[:, w].sum()`` images that use w, group g's count is
    hypergeometric; the binomial with the group's share of images bounds its tails
    from above (sampling without replacement varies less). Twice the smaller tail.
    """
    share = np.broadcast_to((group_images / max(int(group_images.sum()), 1))[:, None], y.shape)
    users = np.broadcast_to(y.sum(axis=0, keepdims=True), y.shape).astype(np.int64)
    count = y.astype(np.int64)
    upper = np.where(count > 0, bdtrc(np.maximum(count - 1, 0), users, share), 1.0)  # P(X >= y)
    lower = bdtr(count, users, share)  # P(X <= y)
    return np.clip(2.0 * np.minimum(upper, lower), 0.0, 1.0)


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
    for column, y in zip(corpus.columns, word_counts, strict=True):
        present = (column.of_image >= 0) & has_answer
        group_images = np.bincount(column.of_image[present], minlength=len(column.names))
        if len(column.names) < 2 or y.sum() == 0:
            continue
        tested = np.flatnonzero(y.sum(axis=0) >= cfg.min_word_images)
        if len(tested) == 0:
            continue
        delta, z = log_odds(y[:, tested], cfg.prior_strength)
        p = exact_pvalues(y[:, tested], group_images)
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
            f"answer uses {category.replace('_', ' ')} wording: {lex.DESCRIPTOR_DOCS[category]}", uses
        )
    return tables
