"""Per-item outcomes stored compactly in audit.json, and paired comparison of two audits.

A regression check asks whether a group got worse than under the baseline model. Both
models answered the same items, so their outcomes are paired: treating them as two
independent samples (combining the two stored intervals) is valid but so wide that a model
compared with itself cannot show it did not get worse. Here the candidate's and the
baseline's correctness are paired item by item, and each group's change gets Newcombe's
paired interval and an exact McNemar test.
"""

from __future__ import annotations

import base64
import hashlib

import numpy as np
import pandas as pd

from faceaudit.schema.common import Estimate
from faceaudit.schema.evaluation import ItemOutcomes, TaskMetrics
from faceaudit.stats.proportions import newcombe_paired_interval
from faceaudit.stats.significance import mcnemar_pvalue


def encode_outcomes(frame: pd.DataFrame, sensitive_attributes: list[str]) -> ItemOutcomes:
    """``frame``: one task's rows with item_id, correct and the sensitive attributes."""
    ordered = frame.sort_values("item_id", kind="stable")
    ids = ordered["item_id"].astype(str).tolist()
    keys = pd.MultiIndex.from_frame(ordered[sensitive_attributes].astype(str))
    codes, uniques = keys.factorize()
    cell_bytes = 1 if len(uniques) <= 2**8 else 2 if len(uniques) <= 2**16 else 4
    dtype = {1: "<u1", 2: "<u2", 4: "<u4"}[cell_bytes]
    correct = np.packbits(ordered["correct"].fillna(False).astype(bool).to_numpy())
    return ItemOutcomes(
        items_sha256=hashlib.sha256("\n".join(ids).encode("utf-8")).hexdigest(),
        n=len(ids),
        correct=base64.b64encode(correct.tobytes()).decode("ascii"),
        cell=base64.b64encode(codes.astype(dtype).tobytes()).decode("ascii"),
        cell_bytes=cell_bytes,
        cells=[[str(v) for v in (u if isinstance(u, tuple) else (u,))] for u in uniques],
    )


def decode_outcomes(outcomes: ItemOutcomes) -> tuple[np.ndarray, np.ndarray]:
    """(correct flags, cell index) per item, in sorted item-id order."""
    bits = np.unpackbits(np.frombuffer(base64.b64decode(outcomes.correct), np.uint8))[: outcomes.n]
    dtype = {1: "<u1", 2: "<u2", 4: "<u4"}[outcomes.cell_bytes]
    cell = np.frombuffer(base64.b64decode(outcomes.cell), dtype).astype(np.int64)
    if bits.size != outcomes.n or cell.size != outcomes.n:
        raise ValueError(f"stored outcomes hold {bits.size} flags and {cell.size} cells for n={outcomes.n}")
    return bits.astype(bool), cell


def paired_group_change(
    candidate: TaskMetrics, baseline: TaskMetrics, sensitive_attributes: list[str],
    attributes: list[str], labels: list[str], confidence: float = 0.95,
) -> Estimate | None:
    """Candidate minus baseline accuracy of one group on the same items, or None when the two
    audits did not ask exactly the same items (or did not store their outcomes)."""
    a, b = candidate.outcomes, baseline.outcomes
    if a is None or b is None or a.items_sha256 != b.items_sha256:
        return None
    correct_a, cell = decode_outcomes(a)
    correct_b, _ = decode_outcomes(b)
    positions = [sensitive_attributes.index(x) for x in attributes]
    in_group = np.array([[c[i] for i in positions] == list(labels) for c in a.cells])
    mask = in_group[cell]
    ca, cb = correct_a[mask], correct_b[mask]
    both, only_a = int(np.sum(ca & cb)), int(np.sum(ca & ~cb))
    only_b, neither = int(np.sum(~ca & cb)), int(np.sum(~ca & ~cb))
    n = both + only_a + only_b + neither
    if n == 0:
        return None
    lower, upper = newcombe_paired_interval(both, only_a, only_b, neither, confidence)
    return Estimate(
        value=(only_a - only_b) / n, lower=float(lower), upper=float(upper), n=n,
        method="newcombe-paired", confidence=confidence, null_value=0.0,
        p_value=mcnemar_pvalue(only_a, only_b),
    )
