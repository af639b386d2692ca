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


# Explicit cues followed by "A" and a lower-case word: "A" is the letter there, exactly as
# "B", "C" and "D" are. A parser that reads A in fewer templates than the other letters
# manufactures a group gap wherever a group's right answer is always A.
CUE_TEMPLATES = [
    "{x}",
    "{x}.",
    "({x})",
    "Answer: {x}",
    "The answer is {x}.",
    "The answer is {x} because the jawline and brow ridge suggest it.",
    "I choose {x} since the hairline is visible.",
    "{x} because the face shows fine wrinkles.",
    "{x}, because of the skin texture.",
    "{x} is correct.",
    "My answer is {x} as the lighting shows the features clearly.",
    "Looking at the face, I would pick {x}.",
]


@pytest.mark.parametrize("template", CUE_TEMPLATES)
@pytest.mark.parametrize("letter", ["A", "B", "C", "D"])
def test_every_letter_is_read_in_every_template(template: str, letter: str) -> None:
    assert parse_answer(template.format(x=letter), GENDER) == letter


def test_the_article_is_still_not_option_a() -> None:
    for text in ("A young woman with long hair.", "The answer is a woman.", "It shows a man. A tall one."):
        assert parse_answer(text, ["Child", "Teenager", "Adult", "Senior"]) is None, text


IMAGES = ["Image 1", "Image 2", "Image 1 and Image 2", "None of the above"]
IMAGE_LISTS = ["Image 2", "Image 1", "Image 1, Image 2, Image 3", "Image 3, Image 1"]


@pytest.mark.parametrize(
    ("text", "options", "expected"),
    [
        ("Image 1 and Image 2", IMAGES, "C"),
        ("image 1 and image 2.", IMAGES, "C"),
        ("Image 1", IMAGES, "A"),
        ("Image 1, Image 2, Image 3", IMAGE_LISTS, "C"),
        ("Image 3, Image 1", IMAGE_LISTS, "D"),
        ("It is Image 1 and Image 2.", IMAGES, "C"),  # the longer option's match covers the shorter
        ("Image 1 or Image 2", IMAGES, None),  # two options, neither said whole
        ("5", ["8", "4", "6", "5"], "D"),  # counting questions: options are numbers
    ],
)
def test_an_answer_equal_to_an_option_is_that_option(text: str, options: list[str], expected: str | None) -> None:
    assert parse_answer(text, options) == expected
