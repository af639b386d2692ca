"""Prompt sensitivity: each sampled item asked in several wordings and option orders.

The wordings are the task's question templates (those the item builder draws from), starting
with the item's own; the orders are the item's own and seeded shuffles. A model that knows the
answer picks the same option text every time; one that follows the wording or a position does
not. Per group of every sensitive attribute: the share of fully consistent items (Wilson), its
difference from the rest (Newcombe, two-proportion or Fisher test, Holm over all groups), the
accuracy of every variant and their spread. A group whose consistency is significantly lower
than the rest's is flagged.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from faceaudit.data.records import OPTION_LETTERS, McqItem
from faceaudit.evaluate.predict import Mode, predict
from faceaudit.models import FaceModel, ScoringUnavailable
from faceaudit.schema.common import Estimate
from faceaudit.schema.sensitivity import SensitivityGroup, SensitivitySection
from faceaudit.sensitivity.config import SensitivityConfig
from faceaudit.stats.proportions import newcombe_interval, proportion_estimate
from faceaudit.stats.significance import adjust_pvalues, two_proportion_pvalue

_SEP = "#"


def _templates(task: str) -> tuple[str, ...]:
    # The item builder's own wordings (faceaudit/data/mcq.py), so a paraphrase is one the
    # audit could have asked in the first place.
    from faceaudit.data.mcq import _GENERIC_QUESTIONS, _QUESTIONS

    return tuple(t.format(name=task.replace("_", " ")) for t in _QUESTIONS.get(task, _GENERIC_QUESTIONS))


def variants(item: McqItem, cfg: SensitivityConfig, seed: int) -> list[McqItem]:
    """The item in ``paraphrases`` wordings x ``option_orders`` orders; ``q0o0`` is the item itself."""
    others = [t for t in _templates(item.task) if t != item.question]
    wordings = [item.question, *others][: cfg.paraphrases]
    correct = item.answer_text
    out = []
    for o in range(cfg.option_orders):
        options = list(item.options)
        if o:
            rng = random.Random(f"faceaudit-sensitivity:{seed}:{item.item_id}:{o}")
            rng.shuffle(options)
        for q, wording in enumerate(wordings):
            out.append(item.model_copy(update={
                "item_id": f"{item.item_id}{_SEP}q{q}o{o}", "question": wording, "options": options,
                "answer": OPTION_LETTERS[options.index(correct)],
            }))
    return out


def sample_items(items: Sequence[McqItem], cfg: SensitivityConfig, seed: int) -> list[McqItem]:
    if len(items) <= cfg.max_items:
        return list(items)
    chosen = sorted(random.Random(f"faceaudit-sensitivity-sample:{seed}").sample(range(len(items)), cfg.max_items))
    return [items[i] for i in chosen]


def ask_variants(
    items: Sequence[McqItem], image_root: Path, model: FaceModel, cfg: SensitivityConfig, mode: Mode,
    out_dir: Path, *, seed: int, batch_size: int = 8, progress: bool = False,
) -> tuple[pd.DataFrame, Mode]:
    asked = [v for item in sample_items(items, cfg, seed) for v in variants(item, cfg, seed)]
    try:
        frame = predict(asked, image_root, model, mode=mode, out_jsonl=out_dir / f"predictions-{mode}.jsonl",
                        batch_size=batch_size, progress=progress)
    except ScoringUnavailable:
        mode = "generation"
        frame = predict(asked, image_root, model, mode=mode, out_jsonl=out_dir / f"predictions-{mode}.jsonl",
                        batch_size=batch_size, progress=progress)
    groups = {item.item_id: item.groups for item in asked}
    frame = frame.copy()
    frame["base_item"] = frame["item_id"].str.rsplit(_SEP, n=1).str[0]
    frame["variant"] = frame["item_id"].str.rsplit(_SEP, n=1).str[1]
    for attribute in sorted({a for g in groups.values() for a in g}):
        frame[attribute] = [groups[i].get(attribute) for i in frame["item_id"]]
    return frame, mode


def analyse(
    frame: pd.DataFrame, *, model: str, mode: str, cfg: SensitivityConfig, sensitive_attributes: Sequence[str],
) -> SensitivitySection:
    """The section from one row per (item, variant): item_id, base_item, variant, valid,
    correct, predicted_text and the sensitive attributes."""
    variant_keys = sorted(frame["variant"].unique(), key=lambda v: (int(v[1:].split("o")[0]), int(v.split("o")[1])))
    answer = frame["predicted_text"].where(frame["valid"], None)
    per_item = pd.DataFrame({"base_item": frame["base_item"], "answer": answer})
    consistent = per_item.groupby("base_item", sort=True)["answer"].agg(
        lambda s: bool(s.notna().all() and s.nunique() == 1))
    n_items = len(consistent)
    first = frame.drop_duplicates("base_item").set_index("base_item").loc[consistent.index]

    def accuracy(rows: pd.DataFrame) -> Estimate:
        return proportion_estimate(int(rows["correct"].sum()), len(rows))

    by_variant = {v: accuracy(frame[frame["variant"] == v]) for v in variant_keys}
    original = frame[frame["variant"].str.endswith("o0")]
    shuffled = frame[~frame["variant"].str.endswith("o0")]
    pending = []
    for attribute in sensitive_attributes:
        labels = first[attribute]
        for label in sorted(labels.dropna().unique()):
            member = (labels == label).to_numpy()
            k_in, n_in = int(consistent[member].sum()), int(member.sum())
            k_out, n_out = int(consistent[~member].sum()), int((~member).sum())
            lower, upper = newcombe_interval(k_in, n_in, k_out, n_out)
            p, test = two_proportion_pvalue(k_in, n_in, k_out, n_out)
            rows = frame[frame[attribute] == label]
            accs = {v: float(rows.loc[rows["variant"] == v, "correct"].mean()) for v in variant_keys}
            pending.append((attribute, str(label), n_in, proportion_estimate(k_in, n_in), Estimate(
                value=(k_in / n_in - k_out / n_out) if n_in and n_out else float("nan"),
                lower=float(lower), upper=float(upper), n=min(n_in, n_out), method=f"newcombe; {test}",
                null_value=0.0, p_value=p), accs))
    adjusted, reject = adjust_pvalues([g[4].p_value for g in pending], "holm", cfg.alpha)
    groups = []
    for (attribute, label, n, consistency, vs_rest, accs), p_adj, rejected in zip(pending, adjusted, reject, strict=True):
        values = [a for a in accs.values() if not np.isnan(a)]
        groups.append(SensitivityGroup(
            attribute=attribute, label=label, n_items=n, consistency=consistency, consistency_vs_rest=vs_rest,
            p_adjusted=float(p_adj), accuracy_by_variant=accs,
            accuracy_spread=float(max(values) - min(values)) if values else float("nan"),
            flagged=bool(rejected and vs_rest.value < 0),
        ))
    return SensitivitySection(
        model=model, mode=mode, n_items=n_items,
        paraphrases=len({v.split("o")[0] for v in variant_keys}), option_orders=len({v.split("o")[1] for v in variant_keys}),
        variants=variant_keys, overall_consistency=proportion_estimate(int(consistent.sum()), n_items),
        accuracy_by_variant=by_variant, accuracy_original_order=accuracy(original),
        accuracy_shuffled_order=accuracy(shuffled) if len(shuffled) else None,
        groups=groups, flagged=[f"{g.attribute}={g.label}" for g in groups if g.flagged],
    )
