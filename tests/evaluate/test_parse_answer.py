"""parse_answer on the kinds of text real models write after a multiple-choice prompt."""

from __future__ import annotations

import pytest

from faceaudit.evaluate.parse import parse_answer

GENDER = ["Male", "Female", "Other", "None of the above"]

CASES = [
    ("B", "B"),
    ("b", "B"),
    ("(B)", "B"),
    ("[C].", "C"),
    ("**D**", "D"),
    ("A.", "A"),
    ("Answer: b", "B"),
    ("answer: (d)", "D"),
    ("The answer is C.", "C"),
    ("The correct option is B) Female", "B"),
    ("My choice would be A", "A"),
    ("C) Female", "C"),
    ("(B) Female", "B"),
    ("B. Male, not A", "B"),
    ("I pick B.", "B"),
    ("Female", "B"),
    ("female.", "B"),
    ("Male", "A"),  # whole words only: "Male" is not found inside "Female"
    ("None of the above", "D"),
    ("A young woman", None),  # the article, not option A
    ("The answer is a woman", None),
    ("A or B", None),  # two letters: undecided
    ("I think it is B, not C", None),
    ("(A) Male (B) Female", None),  # repeats the options
    ("I'm sorry, I can't help with images of people.", None),
    ("", None),
    ("   \n", None),
    (None, None),
    ("E", None),  # not an option letter of this item
    ("The person appears to be male, though it is hard to tell from a low-resolution crop "
     "with poor lighting and an unusual head pose; female is also possible.", None),
]


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_parse_answer_reads_real_world_outputs(text: str | None, expected: str | None) -> None:
    assert parse_answer(text, GENDER) == expected


def test_letters_beyond_the_items_options_are_not_answers() -> None:
    yes_no = ["Yes", "No"]
    assert parse_answer("C", yes_no) is None
    assert parse_answer("The answer is C", yes_no) is None
    assert parse_answer("B", yes_no) == "B"
    assert parse_answer("No", yes_no) == "B"


def test_an_item_needs_options() -> None:
    with pytest.raises(ValueError, match="between 1 and 4"):
        parse_answer("A", [])
