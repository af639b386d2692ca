"""A predictions table with planted per-group accuracy, for testing the auditor itself.

Independent of any model: the simulated backend and the tests reuse it to check that
planted disparities are found (power) and fair models raise no alarm (false alarms).
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd

from faceaudit.data.records import OPTION_LETTERS


def simulate_predictions(
    groups: dict[str, list[str]],
    n_per_cell: int | dict[tuple[str, ...], int],
    *,
    accuracy: float = 0.8,
    gaps: dict[str, dict[str, float]] | None = None,
    cell_gaps: dict[tuple[str, ...], float] | None = None,
    classes: list[str] | None = None,
    invalid_rate: float = 0.0,
    rows_per_image: int = 1,
    image_effect: float = 0.0,
    task: str = "simulated",
    seed: int = 0,
) -> pd.DataFrame:
    """Simulate answered items for every cell of the attribute grid ``groups``.

    Each cell (one label per attribute) gets ``n_per_cell`` rows (one number for every cell,
    or a mapping from the cell's labels, in the order of ``groups``, to its count; cells left
    out or given 0 have no rows); each image yields
    ``rows_per_image`` rows. A row is correct with probability ``accuracy`` plus the
    ``gaps[attribute][label]`` of its labels (e.g. ``{"race": {"B": -0.15}}``) plus the
    ``cell_gaps`` of its cell (one intersection only, e.g. ``{("B", "F"): -0.3}``), clipped to
    [0, 1]; with probability ``invalid_rate`` the answer is invalid (and wrong). Items have
    one option per class; option probabilities put the largest mass on the prediction.
    ``image_effect`` > 0 adds one normal shift (this standard deviation) per image to the
    probability of a correct answer, so rows of one image are correlated (as when a model
    finds some faces hard), which is what the design effect must absorb.
    """
    classes = classes or ["cat", "dog", "fox", "owl"]
    if not 2 <= len(classes) <= len(OPTION_LETTERS):
        raise ValueError(f"classes must have 2 to {len(OPTION_LETTERS)} labels, got {len(classes)}")
    names = list(groups)
    all_cells = list(itertools.product(*(groups[a] for a in names)))
    if isinstance(n_per_cell, dict):
        unknown_cells = set(n_per_cell) - set(all_cells)
        if unknown_cells:
            raise ValueError(f"n_per_cell names cells outside the grid: {sorted(unknown_cells)[:3]}")
        sizes = np.array([int(n_per_cell.get(c, 0)) for c in all_cells])
    else:
        sizes = np.full(len(all_cells), int(n_per_cell))
    if (sizes < 0).any() or sizes.sum() < 1 or rows_per_image < 1:
        raise ValueError("n_per_cell must be >= 0 with at least one row, and rows_per_image >= 1")
    if image_effect < 0:
        raise ValueError(f"image_effect must be >= 0, got {image_effect!r}")
    gaps = gaps or {}
    for attribute, labels in gaps.items():
        unknown = set(labels) - set(groups.get(attribute, []))
        if attribute not in groups or unknown:
            raise ValueError(f"gaps name unknown attribute/labels: {attribute!r} {sorted(unknown)}")
    rng = np.random.default_rng(seed)
    keep = sizes > 0
    cells = [c for c, k in zip(all_cells, keep, strict=True) if k]
    sizes = sizes[keep]
    n = int(sizes.sum())
    cell_index = np.repeat(np.arange(len(cells)), sizes)
    p_correct = np.full(len(cells), accuracy, dtype=float)
    for c, labels in enumerate(cells):
        p_correct[c] += sum(gaps.get(a, {}).get(label, 0.0) for a, label in zip(names, labels, strict=True))
        p_correct[c] += (cell_gaps or {}).get(tuple(labels), 0.0)
    p_correct = p_correct[cell_index]

    # Images are numbered within each cell; rows of one image are consecutive.
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    within = np.arange(n) - starts[cell_index]
    images_per_cell = -(-sizes // rows_per_image)
    image_start = np.concatenate([[0], np.cumsum(images_per_cell)[:-1]])
    image = image_start[cell_index] + within // rows_per_image
    if image_effect > 0:
        p_correct = p_correct + rng.normal(0.0, image_effect, int(image.max()) + 1)[image]
    p_correct = np.clip(p_correct, 0.0, 1.0)

    k = len(classes)
    gold = rng.integers(0, k, n)
    valid = rng.random(n) >= invalid_rate
    correct = (rng.random(n) < p_correct) & valid
    wrong_choice = (gold + rng.integers(1, k, n)) % k
    predicted = np.where(correct, gold, wrong_choice)
    probs = rng.dirichlet(np.ones(k), n)
    top = probs.argmax(axis=1)
    rows = np.arange(n)
    probs[rows, top], probs[rows, predicted] = probs[rows, predicted], probs[rows, top].copy()

    letters = np.array(OPTION_LETTERS[:k])
    labels = np.array(classes)
    frame = pd.DataFrame(
        {
            "item_id": [f"{task}-{i}" for i in range(n)],
            "image_id": [f"img-{i}" for i in image],
            "task": task,
            "category": task,
            "answer": letters[gold],
            "predicted": pd.Series(letters[predicted], dtype=object).where(valid, None),
            "answer_text": labels[gold],
            "predicted_text": pd.Series(labels[predicted], dtype=object).where(valid, None),
            "valid": valid,
            "correct": correct,
            "option_probs": list(probs),
            "options": [list(classes)] * n,
        }
    )
    frame["option_probs"] = frame["option_probs"].map(lambda p: [float(v) for v in p])
    for j, attribute in enumerate(names):
        frame[attribute] = [cells[c][j] for c in cell_index]
    return frame
