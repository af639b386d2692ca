"""FaceXBench-style multiple-choice items built from any labelled face set.

One item per record and task: the record's label plus distractors drawn from
the attribute's vocabulary, in a shuffled order, under a question phrased one
of a few ways. Everything random is drawn from a generator seeded by
``(seed, record id, task)``, so an item does not change when records are added,
removed or reordered, and the same seed always gives the same items.

Option count: ``min(n_options, size of the vocabulary)``. A binary attribute
(gender ``Male``/``Female``) gives two options; we do not pad with
"None of the above" or "Other", because a filler that is never the answer is a
free elimination that makes chance level differ between tasks in a way the
report would have to explain. Chance level of an item is ``1 / len(options)``.
"""

from __future__ import annotations

import random
from typing import Literal

from faceaudit.data.dataset import Dataset, DatasetError
from faceaudit.data.records import OPTION_LETTERS, McqItem

DEMOGRAPHIC_TASKS = frozenset(
    {"age", "age_band", "gender", "sex", "gender_presentation", "race", "ethnicity", "skin_tone"}
)

_QUESTIONS: dict[str, tuple[str, ...]] = {
    "age": (
        "What is the most likely age range of the person in this image?",
        "Which age group does the person in this image belong to?",
        "Estimate the age of the person shown in this image.",
        "How old is the person in this image?",
    ),
    "gender": (
        "What is the gender of the person in this image?",
        "Which gender best describes the person shown in this image?",
        "Identify the gender of the person in this image.",
    ),
    "race": (
        "What is the race of the person in this image?",
        "Which race category best describes the person in this image?",
        "Identify the race of the person shown in this image.",
    ),
    "skin_tone": (
        "Which skin tone best describes the person in this image?",
        "What is the skin tone of the person shown in this image?",
        "Identify the skin tone of the person in this image.",
    ),
    "expression": (
        "What is the facial expression of the person in this image?",
        "Which expression best describes the face in this image?",
        "Identify the facial expression of the person in this image.",
    ),
    "glasses": (
        "Is the person in this image wearing glasses?",
        "Does the person shown in this image wear glasses?",
    ),
    "helmet": (
        "Is the person in this image wearing a safety helmet?",
        "Does the person shown in this image wear a safety helmet?",
    ),
}
_QUESTIONS["age_band"] = _QUESTIONS["age"]
_QUESTIONS["sex"] = _QUESTIONS["gender"]
_QUESTIONS["gender_presentation"] = _QUESTIONS["gender"]
_QUESTIONS["ethnicity"] = _QUESTIONS["race"]

_GENERIC_QUESTIONS = (
    "Which {name} label best describes the person in this image?",
    "What is the {name} of the person shown in this image?",
    "Choose the {name} that fits the person in this image.",
)

_TASK_DESCRIPTIONS = {
    "age": "Age estimation means predicting a person's age group from their face",
    "gender": "Gender prediction means determining the gender of a person from their face",
    "race": "Race prediction means determining the race or ethnicity of a person from their face",
    "skin_tone": "Skin tone classification means describing the skin tone of a person from their face",
}


def _task_name(task: str) -> str:
    return task.replace("_", " ")


def prepend_text(task: str, vocabulary: list[str]) -> str:
    """The task description placed before the question, naming every possible answer."""
    base = task
    for canonical, aliases in (
        ("age", ("age_band",)),
        ("gender", ("sex", "gender_presentation")),
        ("race", ("ethnicity",)),
    ):
        if task in aliases:
            base = canonical
    description = _TASK_DESCRIPTIONS.get(
        base, f"This task asks for the {_task_name(task)} of the person in an image"
    )
    return f"{description}. The possible answers are: {', '.join(vocabulary)}."


def _vocabulary(dataset: Dataset, task: str) -> list[str]:
    vocabulary = dataset.labels.get(task) or sorted(
        {r.attributes[task] for r in dataset.records if task in r.attributes}
    )
    if len(vocabulary) < 2:
        raise DatasetError(
            f"task {task!r} of dataset {dataset.name!r} has {len(vocabulary)} label(s) "
            f"({', '.join(vocabulary) or 'none'}); a multiple-choice item needs at least 2"
        )
    return list(vocabulary)


def build_mcq_items(
    dataset: Dataset,
    tasks: list[str] | None = None,
    *,
    seed: int = 0,
    n_options: int = 4,
    split: str | None = None,
    option_order: Literal["shuffled", "vocabulary"] = "shuffled",
) -> list[McqItem]:
    """One item per record (of ``split``, if given) and task; records lacking the task's label are left out.

    ``option_order="shuffled"`` (the default, as in FaceXBench) puts the correct
    label at a seeded random position. ``"vocabulary"`` lists the chosen labels in
    vocabulary order, so a label always has the same letter: the embedded default
    uses it because a tiny model trained from scratch in a minute cannot learn to
    match label text to a moving letter, while it can learn image -> letter.
    """
    if option_order not in ("shuffled", "vocabulary"):
        raise DatasetError(f"option_order must be 'shuffled' or 'vocabulary', got {option_order!r}")
    if not 2 <= n_options <= len(OPTION_LETTERS):
        raise DatasetError(
            f"n_options must be between 2 and {len(OPTION_LETTERS)}, got {n_options}"
        )
    tasks = list(tasks) if tasks is not None else list(dataset.task_attributes)
    if not tasks:
        raise DatasetError(
            f"dataset {dataset.name!r} declares no task attributes; pass tasks=[...]"
        )
    available = sorted({a for r in dataset.records for a in r.attributes})
    unknown = [t for t in tasks if t not in available]
    if unknown:
        raise DatasetError(
            f"task(s) {', '.join(map(repr, unknown))} not labelled in dataset {dataset.name!r}; "
            f"its attributes are: {', '.join(available)}"
        )
    vocabularies = {task: _vocabulary(dataset, task) for task in tasks}
    records = dataset.records if split is None else [r for r in dataset.records if r.split == split]
    items: list[McqItem] = []
    for record in records:
        groups = {
            a: record.attributes[a] for a in dataset.sensitive_attributes if a in record.attributes
        }
        for task in tasks:
            correct = record.attributes.get(task)
            if correct is None:
                continue
            vocabulary = vocabularies[task]
            # A string seed is hashed with SHA-512 by `random`, independent of PYTHONHASHSEED.
            rng = random.Random(f"faceaudit-mcq:{seed}:{record.id}:{task}")
            k = min(n_options, len(vocabulary))
            distractors = rng.sample([label for label in vocabulary if label != correct], k - 1)
            if option_order == "vocabulary":
                options = sorted([correct, *distractors], key=vocabulary.index)
                position = options.index(correct)
            else:
                position = rng.randrange(k)
                options = [*distractors[:position], correct, *distractors[position:]]
            templates = _QUESTIONS.get(task, _GENERIC_QUESTIONS)
            question = rng.choice(templates).format(name=_task_name(task))
            items.append(
                McqItem(
                    item_id=f"{record.id}:{task}",
                    image_ids=[record.id],
                    image_paths=[record.image_path],
                    task=task,
                    category="bias_fairness"
                    if task in DEMOGRAPHIC_TASKS
                    else "attributes_expression",
                    question=question,
                    options=options,
                    answer=OPTION_LETTERS[position],
                    groups=groups,
                    prepend_text=prepend_text(task, vocabulary),
                    postpend_text=_postpend(k),
                )
            )
    return items


def _postpend(k: int) -> str:
    letters = ", ".join(OPTION_LETTERS[:k])
    return (
        f"Please answer the question and provide only the correct option letter, e.g., {letters}."
    )
