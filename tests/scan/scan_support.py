"""Small hand-written corpora for the scanner tests."""

from __future__ import annotations

import random

from faceaudit.scan.config import ScanConfig
from faceaudit.scan.rates import RateBuilder
from faceaudit.scan.registry import ScanContext
from faceaudit.scan.table import ScanCorpus, build_scan_corpus

NEUTRAL = ["the", "face", "is", "seen", "from", "the", "front", "with", "even", "light", "and", "a", "soft", "shadow", "under", "the", "chin", "the", "eyes", "look", "ahead", "the", "mouth", "is", "closed", "the", "brow", "is", "relaxed", "the", "hair", "is", "short", "the", "background", "is", "plain", "and", "the", "image", "is", "sharp", "with", "natural", "colour", "and", "clear", "detail", "around", "the", "nose", "and", "ears"]


def corpus(rows: list[tuple[str, dict[str, str], str, str]], attributes=("race",)) -> ScanCorpus:
    """rows: (image id, labels, aspect, answer)."""
    pairs = [{"image_id": i, "aspect": a, "answer": text, "question": f"Describe the {a}."}
             for i, _, a, text in rows]
    labels = {i: lab for i, lab, _, _ in rows}
    return build_scan_corpus(pairs, labels, list(attributes))


def context(c: ScanCorpus, **config) -> ScanContext:
    cfg = ScanConfig(**config)
    return ScanContext(c, cfg, None, RateBuilder(c, cfg.min_group_n))


def random_corpus(seed: int, *, groups=("A", "B", "C"), images_per_group=150, planted=None,
                  words=NEUTRAL, length=20) -> ScanCorpus:
    """Answers of random neutral words; ``planted`` = (word, group, rate in group, rate elsewhere)."""
    rng = random.Random(seed)
    rows = []
    for group in groups:
        for k in range(images_per_group):
            text = " ".join(rng.choices(words, k=length))
            if planted is not None:
                word, target, inside, outside = planted
                if rng.random() < (inside if group == target else outside):
                    text += f" {word}"
            rows.append((f"{group}{k}", {"race": group}, "expression_and_emotion", text + "."))
    return corpus(rows)
