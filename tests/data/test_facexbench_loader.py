"""FaceXBench benchmark JSON (docs/reference.md §4) into multiple-choice items."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from facexbench_support import CONTEXT, write_clone
from facexbench_support import POSTPEND as CLONE_POSTPEND

from faceaudit.data.dataset import DatasetError
from faceaudit.data.facexbench import load_facexbench
from faceaudit.data.validate import validate_path

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
    assert first.groups == {"fairface_race": "White"}
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


def test_a_cloned_repository_loads_from_its_root_its_benchmark_folder_or_one_file(tmp_path: Path) -> None:
    root = write_clone(tmp_path / "facexbench")
    from_root = load_facexbench(root, check_images=True)
    from_folder = load_facexbench(root / "benchmark", check_images=True)
    assert [i.item_id for i in from_root] == [i.item_id for i in from_folder]
    assert from_root.root == from_folder.root == root / "benchmark"
    # 14 questions in 5 files; the one whose letter and answer disagree is the only loss.
    assert len(from_root.questions) == 14 and len(from_root) == 13
    assert [(q.item_id, q.loaded) for q in from_root.questions if not q.loaded] == [
        ("fairface_single_mcq_race_test:4", False)
    ]
    assert [i.kind for i in from_root.issues] == ["answer_mismatch"]
    assert all((from_root.root / p).is_file() for item in from_root for p in item.image_paths)
    one = load_facexbench(root / "benchmark" / "tools_retrieval.json", check_images=True)
    assert [i.item_id for i in one] == ["tools_retrieval:1", "tools_retrieval:2"]


def test_clone_items_keep_numbers_context_dataset_and_image_count(tmp_path: Path) -> None:
    items = {i.item_id: i for i in load_facexbench(write_clone(tmp_path))}
    crowd = items["jhucrowd_single_mcq_test:1"]
    assert crowd.options == ["8", "4", "6", "5"] and crowd.answer == "D" and crowd.answer_text == "5"
    assert (crowd.dataset, crowd.num_images, crowd.groups) == ("jhucrowd", "single", {})
    multi = items["fairface_multiple_mcq_race_test:1"]
    assert len(multi.image_paths) == 3 and multi.num_images == "multiple" and multi.groups == {}
    assert multi.image_paths[2] == "images/fairface_multiple_mcq_race_test/question_1_3.png"
    # FairFace and UTKFace age/race vocabularies differ: their groups are separate columns.
    assert items["fairface_single_mcq_race_test:2"].groups == {"fairface_race": "East Asian"}
    assert items["utkface_single_mcq_age_test:1"].groups == {"utkface_age": "50-60"}

    tools = items["tools_retrieval:2"]
    assert (tools.category, tools.task, tools.num_images, tools.context) == (
        "tools_use", "tools_retrieval", "zero", CONTEXT
    )
    options = ["(A) api_4-detect_spoofing", "(B) api_1-predict_age",
               "(C) api_4-detect_spoofing, api_1-predict_age", "(D) api_1-predict_age, api_4-detect_spoofing"]
    # faceaudit's prompt: context, task description, question, options, instruction.
    assert tools.prompt().split("\n") == [
        *CONTEXT.split("\n"), tools.prepend_text, "A door only estimates age. Which calls?", *options, CLONE_POSTPEND
    ]
    # FaceXBench's evaluate.py: context, question, instruction, options; no task description.
    official = tools.model_copy(update={"prompt_style": "facexbench"}).prompt()
    assert official == (
        CONTEXT + "\n" + "A door only estimates age. Which calls?\n" + CLONE_POSTPEND + "\n"
        + "".join(line + "\n" for line in options)
    )


def test_validate_on_the_clone_root_finds_every_image(tmp_path: Path) -> None:
    report = validate_path(write_clone(tmp_path), progress=False)
    assert (report.kind, report.n_items, report.error) == ("facexbench", 13, None)
    assert [i.kind for i in report.issues] == ["answer_mismatch"]
    empty = tmp_path / "empty"
    (empty / "benchmark").mkdir(parents=True)
    (empty / "benchmark" / "x.json").write_text("{}")
    text = validate_path(empty, progress=False).format_text()
    assert "ERROR:" in text and "issues: none" not in text and text.endswith("NOT OK")


def test_options_must_be_texts_or_numbers(tmp_path: Path) -> None:
    bad = question(1, ["Indian", None, "Black", "Other"], "A", "Indian")
    path = write(tmp_path, "b.json", benchmark({"1": bad, "2": question(2, [1, 2.5, 3, 4], "B", 2.5)}))
    items = load_facexbench(path)
    assert [i.options for i in items] == [["1", "2.5", "3", "4"]]
    assert "options must be 2 to 4 non-empty strings or numbers, got ['Indian', None" in items.issues[0].message


def test_a_limit_keeps_the_first_questions_skipped_ones_included(tmp_path: Path) -> None:
    items = load_facexbench(write_clone(tmp_path))
    first = items.head(8)  # the 3 multi-image race questions, then single-image race 1-5
    assert [q.item_id for q in first.questions][-2:] == ["fairface_single_mcq_race_test:4",
                                                         "fairface_single_mcq_race_test:5"]
    assert len(first) == 7 and first.root == items.root and first.files == items.files
    with pytest.raises(DatasetError, match="limit must be at least 1, got 0"):
        items.head(0)
