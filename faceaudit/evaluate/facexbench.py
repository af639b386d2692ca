"""FaceXBench accuracy, read two ways from the same raw answers.

**FaceXBench's own scoring** (``official``), as its ``evaluate.py`` and
``aggregate_results.py`` do it:

* prompt: ``[context]\\n question\\n postpend\\n (A) ...\\n (B) ...\\n`` without the task
  description (``McqItem.prompt_style == "facexbench"``; the ``official`` protocol sets it);
* extraction (:func:`official_extract`): the first option letter standing alone as a word
  anywhere in the answer, else the first option whose text the answer contains; nothing
  else is read, so "A young man" is read as A and "I think B, not C" as B;
* denominator: every question of the files read, including those faceaudit could not
  load (they were never asked, so they count wrong);
* breakdowns: overall, category, sub-category and ``num_images`` (single / multiple /
  zero), each correct over questions (micro-averaged).

**faceaudit's reading** uses :func:`faceaudit.evaluate.parse.parse_answer`, which never
takes the first of several letters (an undecided answer is invalid and wrong), and
divides by the questions that were loaded and asked. Its keys are ``overall``,
``category:<c>``, ``task:<sub-category>``, ``num_images:<n>`` and, where the questions
themselves carry a demographic label (single-image ``bias_fairness`` questions),
``group:<attribute>=<label>``. The official numbers are keyed ``official:overall``,
``official:category:<c>``, ``official:sub-category:<s>`` and ``official:num_images:<n>``.
Every number is an :class:`Estimate` with its Wilson interval and n.

What the ``official`` protocol cannot reproduce: the model wrapper. FaceXBench calls
VLMEvalKit's, which may wrap the prompt in its own chat template and generates up to
its own token limit; faceaudit sends the prompt through the configured backend.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import pandas as pd

from faceaudit.data.facexbench import BenchmarkQuestion
from faceaudit.data.records import OPTION_LETTERS, McqItem
from faceaudit.schema.common import Estimate
from faceaudit.stats.proportions import proportion_estimate

_REQUIRED = ("task", "category", "correct", "valid")
# FaceXBench's label patterns ("A", "(A)", "Option A", "A.", "A:", "A -") all come down to
# one ASCII letter with no letter, digit or underscore on either side.
_STANDALONE_LETTER = re.compile(r"(?<!\w)([A-Za-z])(?!\w)")


def official_extract(text: str | None, options: Sequence[object]) -> str | None:
    """The letter FaceXBench's ``aggregate_results.py`` reads from ``text``, or None.

    The first standalone letter that is one of the options' letters (upper case only,
    anywhere in the answer), else the first option (in option order) whose text equals
    the answer or occurs in it, else None.
    """
    if text is None:
        return None
    answer = str(text).strip()
    letters = OPTION_LETTERS[: len(options)]
    for match in _STANDALONE_LETTER.finditer(answer):
        if match.group(1) in letters:
            return match.group(1)
    for letter, option in zip(letters, options, strict=False):
        if str(option).strip() in answer:
            return letter
    return None


def _estimates(
    frame: pd.DataFrame, columns: dict[str, str], prefix: str, confidence: float
) -> dict[str, Estimate]:
    result = {f"{prefix}overall": proportion_estimate(int(frame["correct"].sum()), len(frame), confidence)}
    for column, label in columns.items():
        for key, group in frame.groupby(column, sort=True):
            result[f"{prefix}{label}:{key}"] = proportion_estimate(
                int(group["correct"].sum()), len(group), confidence
            )
    return result


def facexbench_accuracy(
    predictions: pd.DataFrame,
    *,
    confidence: float = 0.95,
    items: Sequence[McqItem] | None = None,
) -> dict[str, Estimate]:
    """faceaudit's reading: ``overall``, ``category:<c>``, ``task:<t>``, micro-averaged.

    Invalid answers are wrong. With ``items`` (for their ``num_images`` and ``groups``),
    also ``num_images:<n>`` and ``group:<attribute>=<label>`` over the questions that
    carry that label.
    """
    missing = [column for column in _REQUIRED if column not in predictions.columns]
    if missing:
        raise ValueError(f"predictions table lacks column(s) {missing} (has {list(predictions.columns)})")
    if predictions.empty:
        raise ValueError("no predictions to score")
    # An invalid answer is wrong even if a backend marked it otherwise (FaceXBench's rule too).
    correct = predictions["correct"].astype(bool) & predictions["valid"].astype(bool)
    frame = pd.DataFrame(
        {"task": predictions["task"].astype(str), "category": predictions["category"].astype(str), "correct": correct}
    )
    result = _estimates(frame, {"category": "category", "task": "task"}, "", confidence)
    if items is None:
        return result
    by_id = {item.item_id: item for item in items}
    asked = [by_id[item_id] for item_id in predictions["item_id"]]
    frame["num_images"] = [item.num_images or "unknown" for item in asked]
    result.update(
        {k: v for k, v in _estimates(frame, {"num_images": "num_images"}, "", confidence).items() if k != "overall"}
    )
    labelled: dict[str, list[tuple[str, bool]]] = {}
    for item, right in zip(asked, frame["correct"], strict=True):
        for attribute, label in item.groups.items():
            labelled.setdefault(f"group:{attribute}={label}", []).append((label, bool(right)))
    for key in sorted(labelled):
        hits = labelled[key]
        result[key] = proportion_estimate(sum(right for _, right in hits), len(hits), confidence)
    return result


def official_accuracy(
    predictions: pd.DataFrame,
    questions: Sequence[BenchmarkQuestion],
    *,
    confidence: float = 0.95,
) -> tuple[dict[str, Estimate], pd.DataFrame]:
    """FaceXBench's own scoring of the raw answers in ``predictions``.

    ``questions``: every question of the files, loaded or not. A question without a row in ``predictions``
    (not loadable, so never asked) counts wrong. Returns the ``official:`` estimates and
    the per-question table (``item_id``, ``official``, ``official_correct``).
    """
    if "raw_output" not in predictions.columns:
        raise ValueError("official FaceXBench scoring needs the raw answers (generation mode)")
    read = {
        row.item_id: (official_extract(row.raw_output, row.options), row.answer)
        for row in predictions[["item_id", "raw_output", "options", "answer"]].itertuples(index=False)
    }
    rows = []
    for question in questions:
        letter, answer = read.get(question.item_id, (None, None))
        rows.append(
            {
                "item_id": question.item_id,
                "category": question.category,
                "sub-category": question.sub_category,
                "num_images": question.num_images,
                "official": letter,
                "correct": letter is not None and letter == answer,
            }
        )
    if not rows:
        raise ValueError("no FaceXBench questions to score")
    frame = pd.DataFrame(rows)
    estimates = _estimates(
        frame,
        {"category": "category", "sub-category": "sub-category", "num_images": "num_images"},
        "official:",
        confidence,
    )
    return estimates, frame.rename(columns={"correct": "official_correct"})[["item_id", "official", "official_correct"]]


def protocol_difference_note(
    predictions: pd.DataFrame,
    official: pd.DataFrame,
    questions: Sequence[BenchmarkQuestion],
    prompt_style: str,
) -> str:
    """One sentence comparing FaceXBench's scoring with faceaudit's on the same answers."""
    mine = predictions["correct"].astype(bool) & predictions["valid"].astype(bool)
    n_mine, right_mine = len(predictions), int(mine.sum())
    n_all, right_all = len(official), int(official["official_correct"].sum())
    not_loaded = sum(not q.loaded for q in questions)
    merged = predictions[["item_id", "predicted"]].merge(official, on="item_id", how="left")
    differ = merged.apply(lambda r: (r["predicted"] or None) != (r["official"] or None), axis=1)
    prompt = (
        "FaceXBench's prompt (zero-shot, no task description)"
        if prompt_style == "facexbench"
        else "faceaudit's prompt (task description first, instruction last)"
    )
    return (
        f"FaceXBench official scoring on {prompt}: {right_all}/{n_all} = {right_all / n_all:.2%} "
        f"(every question of the files in the denominator; {not_loaded} could not be loaded and "
        f"count wrong; letter = FaceXBench's extractor). faceaudit's parser on the same answers: "
        f"{right_mine}/{n_mine} = {right_mine / n_mine:.2%} (loaded questions only; an undecided "
        f"answer is invalid). The two readings give a different letter on {int(differ.sum())} of "
        f"{n_mine} answers."
    )
