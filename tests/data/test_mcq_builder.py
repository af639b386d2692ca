"""Multiple-choice items from labels: content, seeding, option counts and answer balance."""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path

import pytest

from faceaudit.data.dataset import Dataset, DatasetError
from faceaudit.data.fairface import FAIRFACE_AGES, FAIRFACE_RACES, load_fairface
from faceaudit.data.mcq import build_mcq_items
from faceaudit.data.records import FaceRecord

LABELS = {
    "race": ["White", "Black", "Indian", "East Asian", "Other"],
    "gender": ["Male", "Female"],
    "helmet": ["yes", "no"],
    "site": ["plant"],
}


def small_dataset() -> Dataset:
    people = [
        ("a", "White", "Male", "yes", "train"),
        ("b", "Black", "Female", "no", "test"),
        ("c", "Indian", "Female", "yes", "test"),
    ]
    records = [
        FaceRecord(
            id=i,
            image_path=f"{i}.png",
            split=s,
            attributes={"race": r, "gender": g, "helmet": h, "site": "plant"},
        )
        for i, r, g, h, s in people
    ]
    records.append(
        FaceRecord(id="d", image_path="d.png", attributes={"race": "Other", "gender": "Male"})
    )
    return Dataset(
        name="small",
        kind="manifest",
        root=Path("."),
        records=records,
        sensitive_attributes=["race", "gender"],
        task_attributes=["race", "gender", "helmet"],
        labels=LABELS,
    )


def test_one_item_per_record_and_task_with_valid_content() -> None:
    items = build_mcq_items(small_dataset(), seed=3)
    # Record d has no helmet label, so it gets two items, not three.
    assert [i.item_id for i in items] == ["a:race", "a:gender", "a:helmet", "b:race", "b:gender", "b:helmet",
                                          "c:race", "c:gender", "c:helmet", "d:race", "d:gender"]  # fmt: skip
    by_id = {i.item_id: i for i in items}
    race = by_id["b:race"]
    assert race.answer_text == "Black" and len(race.options) == 4 and len(set(race.options)) == 4
    assert set(race.options) <= set(LABELS["race"])
    assert race.groups == {"race": "Black", "gender": "Female"}
    assert race.image_ids == ["b"] and race.image_paths == ["b.png"]
    assert (
        race.category == "bias_fairness" and by_id["a:helmet"].category == "attributes_expression"
    )
    assert "White, Black, Indian, East Asian, Other" in race.prepend_text
    # Binary attributes get two options, never a filler such as "None of the above".
    gender = by_id["a:gender"]
    assert sorted(gender.options) == ["Female", "Male"] and gender.answer_text == "Male"
    assert gender.postpend_text.endswith("e.g., A, B.")
    assert by_id["a:helmet"].question in {
        "Is the person in this image wearing a safety helmet?",
        "Does the person shown in this image wear a safety helmet?",
    }
    # An attribute without its own wording gets a generic one naming it.
    moods = small_dataset()
    moods.records = [FaceRecord(id="m", image_path="m.png", attributes={"work_mood": "calm"})]
    moods.labels = {"work_mood": ["calm", "tense"]}
    (mood,) = build_mcq_items(moods, ["work_mood"])
    assert mood.question in {
        "Which work mood label best describes the person in this image?",
        "What is the work mood of the person shown in this image?",
        "Choose the work mood that fits the person in this image.",
    }
    assert mood.groups == {} and mood.category == "attributes_expression"


def test_items_are_reproducible_and_independent_of_record_order() -> None:
    dataset = small_dataset()
    first = build_mcq_items(dataset, seed=7)
    assert build_mcq_items(dataset, seed=7) == first
    shuffled = small_dataset()
    random.Random(1).shuffle(shuffled.records)
    assert sorted(build_mcq_items(shuffled, seed=7), key=lambda i: i.item_id) == sorted(
        first, key=lambda i: i.item_id
    )
    # Dropping a record leaves every other item exactly as it was.
    shorter = small_dataset()
    shorter.records = shorter.records[1:]
    assert build_mcq_items(shorter, seed=7) == [i for i in first if not i.item_id.startswith("a:")]
    other_seed = build_mcq_items(dataset, seed=8)
    assert [i.options for i in other_seed] != [i.options for i in first]


def test_options_tasks_and_split_arguments() -> None:
    dataset = small_dataset()
    two = build_mcq_items(dataset, ["race"], n_options=2)
    assert all(len(i.options) == 2 for i in two)
    assert [i.item_id for i in build_mcq_items(dataset, ["gender"], split="test")] == [
        "b:gender",
        "c:gender",
    ]
    with pytest.raises(
        DatasetError, match=r"task 'site' of dataset 'small' has 1 label\(s\) \(plant\)"
    ):
        build_mcq_items(dataset, ["site"])
    with pytest.raises(DatasetError, match=r"task\(s\) 'age' not labelled in dataset 'small'"):
        build_mcq_items(dataset, ["age"])
    with pytest.raises(DatasetError, match="n_options must be between 2 and 4, got 5"):
        build_mcq_items(dataset, n_options=5)


def test_answer_letters_are_near_uniform_on_fairface(shared_fairface: Path) -> None:
    dataset = load_fairface(shared_fairface, check_images=False, progress=False)
    items = build_mcq_items(dataset, seed=0)
    assert len(items) == 3 * 2100
    race = [i for i in items if i.task == "race"]
    letters = Counter(i.answer for i in race)
    # 2,100 draws, p = 1/4 each: expected 525, standard deviation about 20.
    assert set(letters) == {"A", "B", "C", "D"}
    assert all(450 <= n <= 600 for n in letters.values()), letters
    assert all(set(i.options) <= set(FAIRFACE_RACES) for i in race)
    assert all(set(i.options) <= set(FAIRFACE_AGES) for i in items if i.task == "age")
    for seed in range(3):
        gender = Counter(i.answer for i in build_mcq_items(dataset, ["gender"], seed=seed))
        assert abs(gender["A"] - 1050) <= 100 and gender["A"] + gender["B"] == 2100
    # Several phrasings are used, each often.
    phrasings = Counter(i.question for i in race)
    assert len(phrasings) == 3 and min(phrasings.values()) > 600


def test_vocabulary_option_order_gives_each_label_a_fixed_letter() -> None:
    items = build_mcq_items(small_dataset(), ["gender", "race"], option_order="vocabulary")
    gender = {item.answer_text: item.answer for item in items if item.task == "gender"}
    # vocabulary order of gender is Male, Female: A is always Male, B always Female
    assert gender == {"Male": "A", "Female": "B"}
    for item in items:
        vocabulary = LABELS[item.task]
        assert item.options == sorted(item.options, key=vocabulary.index)
        assert item.answer_text == next(
            r.attributes[item.task] for r in small_dataset().records if r.id == item.image_ids[0]
        )
    with pytest.raises(DatasetError, match="option_order must be 'shuffled' or 'vocabulary'"):
        build_mcq_items(small_dataset(), option_order="sorted")
