"""FaceXBench benchmark JSON (REFERENCE.md section 4) into multiple-choice items."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from faceaudit.data.dataset import DatasetError
from faceaudit.data.facexbench import load_facexbench

POSTPEND = (
    "Please answer the question and provide only the correct option letter, e.g., A, B, C, D."
)
PREPEND = "Race prediction involves determining the race of a person. You have to perform the task of race prediction."


def question(
    n: int,
    options: list[str],
    letter: str,
    answer: str,
    folder: str = "fairface_single_mcq_race_test",
):
    return {
        "image_paths": [f"images/{folder}/question_{n}.png"],
        "question_text": "Identify the race of the person in this image.",
        "options": options,
        "correct_answer_option": letter,
        "answer": answer,
    }


def benchmark(
    questions: dict, *, category: str = "bias_fairness", sub: str = "race", num: str = "single"
) -> dict:
    return {
        "category": category,
        "sub-category": sub,
        "dataset": "fairface",
        "question_type": "MCQ",
        "num_images": num,
        "prepend_text": PREPEND,
        "postpend_text": POSTPEND,
        "questions": questions,
    }


def write(folder: Path, name: str, data: object) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(json.dumps(data, indent=4) if not isinstance(data, str) else data)
    return path


def test_single_file_in_the_real_format(tmp_path: Path) -> None:
    path = write(
        tmp_path / "benchmark",
        "fairface_single_mcq_race_test.json",
        benchmark(
            {
                "1": question(
                    1, ["None of the above", "White", "East Asian", "Southeast Asian"], "B", "White"
                ),
                "2": question(
                    2, ["White", "Other", "East Asian", "Southeast Asian"], "C", "East Asian"
                ),
            }
        ),
    )
    items = load_facexbench(path)
    assert len(items) == 2 and items.issues == []
    assert items.root == tmp_path / "benchmark"
    first = items[0]
    assert first.item_id == "fairface_single_mcq_race_test:1"
    assert first.image_paths == ["images/fairface_single_mcq_race_test/question_1.png"]
    assert first.image_ids == ["images/fairface_single_mcq_race_test/question_1"]
    assert (first.category, first.task) == ("bias_fairness", "race")
    assert first.answer == "B" and first.answer_text == "White"
    assert first.groups == {"race": "White"}
    assert first.prepend_text == PREPEND and first.postpend_text == POSTPEND
    assert first.prompt().splitlines() == [
        PREPEND,
        "Identify the race of the person in this image.",
        "(A) None of the above",
        "(B) White",
        "(C) East Asian",
        "(D) Southeast Asian",
        POSTPEND,
    ]


def test_folder_of_files_with_bad_questions_reported(tmp_path: Path) -> None:
    folder = tmp_path / "benchmark"
    multi = question(
        1,
        ["Image 1", "Image 2", "Image 3", "None"],
        "A",
        "Image 1",
        "fairface_multiple_mcq_age_test",
    )
    multi["image_paths"].append("images/fairface_multiple_mcq_age_test/question_1_2.png")
    write(
        folder,
        "fairface_multiple_mcq_age_test.json",
        benchmark({"1": multi}, sub="age", num="multiple"),
    )
    write(
        folder,
        "fairface_single_mcq_race_test.json",
        benchmark(
            {
                "1": question(1, ["Indian", "White", "Black", "Other"], "B", "White"),
                "2": question(2, ["Indian", "White", "Black", "Other"], "A", "Black"),
                "3": question(3, ["Indian", "White", "Black", "Other"], "E", "Other"),
                "4": question(4, ["Indian", "White"], "A", "Indian")
                | {"image_paths": ["../../etc/passwd"]},
                "5": question(5, ["Indian", "Indian", "Black", "Other"], "C", "Black"),
                "6": question(6, ["Indian", "White", "Black", "Other"], "A", "Indian")
                | {"question_text": ""},
            }
        ),
    )
    write(folder, "broken.json", "{not json")
    write(folder, "list_questions.json", benchmark([question(1, ["A1", "B1"], "A", "A1")]))
    items = load_facexbench(tmp_path)  # the benchmark/ subfolder is found
    assert [i.item_id for i in items] == [
        "fairface_multiple_mcq_age_test:1",
        "fairface_single_mcq_race_test:1",
    ]
    assert (
        items[0].groups == {} and len(items[0].image_paths) == 2
    )  # multi-image: no single group label
    issues = {(i.kind, i.message.split(":")[0]): i for i in items.issues}
    mismatch = issues[("answer_mismatch", "question '2'")]
    assert (
        mismatch.message
        == "question '2': correct_answer_option A is 'Indian' but answer is 'Black'; skipped"
    )
    assert mismatch.suggestion == "C"
    assert "is not one of A, B, C, D" in issues[("bad_answer", "question '3'")].message
    assert "outside the dataset root" in issues[("path_outside_root", "question '4'")].message
    assert "options repeat a text" in issues[("bad_question", "question '5'")].message
    assert "question_text is missing" in issues[("bad_question", "question '6'")].message
    bad_files = sorted(Path(i.file).name for i in items.issues if i.kind == "bad_file")
    assert bad_files == ["broken.json", "list_questions.json"]
    assert any("'questions' must be an object keyed" in i.message for i in items.issues)


def test_missing_images_are_checked_on_request(tmp_path: Path) -> None:
    path = write(
        tmp_path, "b.json", benchmark({"1": question(1, ["Indian", "White"], "A", "Indian")})
    )
    assert len(load_facexbench(path)) == 1
    with pytest.raises(DatasetError, match="no usable FaceXBench questions.*does not exist"):
        load_facexbench(path, check_images=True)
    image = tmp_path / "images" / "fairface_single_mcq_race_test" / "question_1.png"
    image.parent.mkdir(parents=True)
    image.write_bytes(b"png")
    assert len(load_facexbench(path, check_images=True)) == 1


def test_nothing_usable_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="no FaceXBench benchmark JSON files"):
        load_facexbench(tmp_path)
    write(tmp_path, "x.json", "[]")
    with pytest.raises(DatasetError, match="expected a JSON object with 'category'"):
        load_facexbench(tmp_path / "x.json")
