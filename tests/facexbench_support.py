"""A small FaceXBench clone in the upstream layout, with fixed raw answers and their hand count.

Layout as in ``Kartik-3004/facexbench``: ``<root>/benchmark/<stem>.json`` whose
``image_paths`` ("images/<stem>/question_N.png", "..._N_k.png" for several images) are
relative to ``benchmark/``, the images in ``<root>/benchmark/images/<stem>/``. The files
copy the upstream shapes: a multi-image race file, integer options (crowd counting), a
tools file with a top-level ``context`` and ``num_images: "zero"``, two datasets with
different age bins. The texts are written here; the images are tiny generated PNGs.

``RAW_ANSWERS`` are what a model said; each comment gives the letter FaceXBench's
``aggregate_results.py`` reads (first standalone option letter, else first option text
contained) and the letter faceaudit's parser reads, so the expected numbers below are a
hand count.
"""

from __future__ import annotations

import json
from pathlib import Path

from PIL import Image

POSTPEND = "Please answer the question and provide only the correct option letter, e.g., A, B, C, D."
CONTEXT = (
    "Ignore the black image provided.\n1. Age Estimation:\n    api_name: api_1\n    functions:\n"
    "        predict_age:\n            description: Predicts the age of the person.\n"
    "2. Face Anti-Spoofing:\n    api_name: api_4\n    functions:\n        detect_spoofing:\n"
    "            description: Detects if the face in the image is real or a spoof."
)


def _q(stem: str, n: int, n_images: int, text: str, options: list, letter: str, answer=None) -> dict:
    paths = (
        [f"images/{stem}/question_{n}.png"]
        if n_images == 1
        else [f"images/{stem}/question_{n}_{k}.png" for k in range(1, n_images + 1)]
    )
    return {
        "image_paths": paths,
        "question_text": text,
        "options": options,
        "correct_answer_option": letter,
        "answer": options["ABCD".index(letter)] if answer is None else answer,
    }


RACES_1 = ["None of the above", "White", "East Asian", "Southeast Asian"]
RACES_2 = ["White", "Other", "East Asian", "Southeast Asian"]
RACES_3 = ["Indian", "White", "Black", "Other"]
RACES_4 = ["Latino/Hispanic", "White", "Black", "Other"]
RACE_Q = "What is the race of the person in this image?"

FILES: dict[str, dict] = {
    "fairface_single_mcq_race_test": {
        "category": "bias_fairness", "sub-category": "race", "dataset": "fairface",
        "num_images": "single",
        "prepend_text": "Race prediction involves determining the race of a person. You have to perform the task of race prediction.",
        "questions": {
            "1": _q("fairface_single_mcq_race_test", 1, 1, RACE_Q, RACES_1, "B"),
            "2": _q("fairface_single_mcq_race_test", 2, 1, RACE_Q, RACES_2, "C"),
            "3": _q("fairface_single_mcq_race_test", 3, 1, RACE_Q, RACES_3, "C"),
            # The letter says Indian, the answer says Black: faceaudit skips it, FaceXBench counts it.
            "4": _q("fairface_single_mcq_race_test", 4, 1, RACE_Q, RACES_3, "A", answer="Black"),
            "5": _q("fairface_single_mcq_race_test", 5, 1, RACE_Q, RACES_4, "A"),
        },
    },
    "fairface_multiple_mcq_race_test": {
        "category": "bias_fairness", "sub-category": "race", "dataset": "fairface",
        "num_images": "multiple",
        "prepend_text": "Race prediction involves determining the race of a person.",
        "questions": {
            "1": _q("fairface_multiple_mcq_race_test", 1, 3, "Which images show a person of Indian descent?",
                    ["Image 2", "Image 1", "Image 1, Image 2, Image 3", "Image 3, Image 1"], "C"),
            "2": _q("fairface_multiple_mcq_race_test", 2, 2, "Do both images depict individuals of the same race category?",
                    ["No", "Yes", "Image 2", "Image 1"], "A"),
            "3": _q("fairface_multiple_mcq_race_test", 3, 2, "Which image shows a person belonging to the White race?",
                    ["Image 1", "Image 2", "Both Images", "None of the above"], "D"),
        },
    },
    "jhucrowd_single_mcq_test": {
        "category": "face_localization", "sub-category": "crowd_counting", "dataset": "jhucrowd",
        "num_images": "single",
        "prepend_text": "Crowd counting involves estimating the number of people present in an image.",
        "questions": {
            "1": _q("jhucrowd_single_mcq_test", 1, 1, "Determine the number of people in this picture.", [8, 4, 6, 5], "D"),
            "2": _q("jhucrowd_single_mcq_test", 2, 1, "How many people are present in this image?", [42, 40, 36, 39], "D"),
        },
    },
    "tools_retrieval": {
        "category": "tools_use", "sub-category": "tools_retrieval", "dataset": "gpt4o",
        "num_images": "zero",
        "prepend_text": "This task involves selecting the correct sequence of API function calls.",
        "context": CONTEXT,
        "questions": {
            "1": _q("tools_retrieval", 1, 1, "A kiosk checks for spoofing, then estimates age. Which calls?",
                    ["api_1-predict_age", "api_1-predict_age, api_4-detect_spoofing",
                     "api_4-detect_spoofing", "api_4-detect_spoofing, api_1-predict_age"], "D"),
            "2": _q("tools_retrieval", 2, 1, "A door only estimates age. Which calls?",
                    ["api_4-detect_spoofing", "api_1-predict_age",
                     "api_4-detect_spoofing, api_1-predict_age", "api_1-predict_age, api_4-detect_spoofing"], "B"),
        },
    },
    "utkface_single_mcq_age_test": {
        "category": "bias_fairness", "sub-category": "age", "dataset": "utkface",
        "num_images": "single",
        "prepend_text": "Age estimation involves predicting the age of a person.",
        "questions": {
            "1": _q("utkface_single_mcq_age_test", 1, 1, "What is the age range of this person?",
                    ["0-10", "11-20", "50-60", "61-70"], "C"),
            "2": _q("utkface_single_mcq_age_test", 2, 1, "Estimate the age range of this person.",
                    ["21-30", "31-40", "41-50", "51-60"], "A"),
        },
    },
}

# item_id -> (raw answer, letter FaceXBench reads, letter faceaudit reads); correct letters above.
RAW_ANSWERS: dict[str, tuple[str, str | None, str | None]] = {
    "fairface_single_mcq_race_test:1": ("B", "B", "B"),  # both right
    "fairface_single_mcq_race_test:2": ("A young East Asian woman.", "A", "C"),  # official: the article is A
    "fairface_single_mcq_race_test:3": ("I think it is C because of the skin tone.", "C", "C"),
    "fairface_single_mcq_race_test:5": ("The answer is A because of the features.", "A", "A"),
    "fairface_multiple_mcq_race_test:1": ("Image 1, Image 2, Image 3", "A", "C"),  # official: first option inside
    "fairface_multiple_mcq_race_test:2": ("No", "A", "A"),
    "fairface_multiple_mcq_race_test:3": ("B or D", "B", None),  # faceaudit: undecided
    "jhucrowd_single_mcq_test:1": ("5", "D", "D"),
    "jhucrowd_single_mcq_test:2": ("There are about 40 people.", "B", None),
    "tools_retrieval:1": ("D", "D", "D"),
    "tools_retrieval:2": ("Option B is the right sequence.", "B", "B"),
    "utkface_single_mcq_age_test:1": ("a", None, "A"),  # official reads upper-case letters only
    "utkface_single_mcq_age_test:2": ("(A) 21-30", "A", "A"),
}

# Hand count, FaceXBench's way: right / every question of the files (14, one not loadable).
OFFICIAL = {
    "official:overall": (8, 14),
    "official:category:bias_fairness": (5, 10),
    "official:category:face_localization": (1, 2),
    "official:category:tools_use": (2, 2),
    "official:sub-category:race": (4, 8),
    "official:sub-category:age": (1, 2),
    "official:sub-category:crowd_counting": (1, 2),
    "official:sub-category:tools_retrieval": (2, 2),
    "official:num_images:single": (5, 9),
    "official:num_images:multiple": (1, 3),
    "official:num_images:zero": (2, 2),
}
# Hand count, faceaudit's way: right / the 13 loaded questions.
FACEAUDIT = {
    "overall": (10, 13),
    "category:bias_fairness": (7, 9),
    "task:race": (6, 7),
    "task:age": (1, 2),
    "num_images:multiple": (2, 3),
    "group:fairface_race=White": (1, 1),
    "group:utkface_age=50-60": (0, 1),
    "group:utkface_age=21-30": (1, 1),
}


def write_clone(root: Path) -> Path:
    """Write the clone under ``root`` (with every image) and return ``root``."""
    benchmark = root / "benchmark"
    benchmark.mkdir(parents=True, exist_ok=True)
    for shade, (stem, body) in enumerate(FILES.items()):
        data = {
            "category": body["category"], "sub-category": body["sub-category"], "dataset": body["dataset"],
            "question_type": "MCQ", "num_images": body["num_images"], "prepend_text": body["prepend_text"],
        }
        if "context" in body:
            data["context"] = body["context"]
        data["postpend_text"] = POSTPEND
        data["questions"] = body["questions"]
        (benchmark / f"{stem}.json").write_text(json.dumps(data, indent=4), encoding="utf-8")
        for question in body["questions"].values():
            for relative in question["image_paths"]:
                image = benchmark / relative
                image.parent.mkdir(parents=True, exist_ok=True)
                Image.new("RGB", (8, 8), (40 * shade, 90, 160)).save(image)
    return root


def write_raw_answers(path: Path) -> Path:
    """The raw answers as a predictions file (JSONL: item_id, prediction)."""
    path.write_text(
        "".join(json.dumps({"item_id": k, "prediction": v[0]}) + "\n" for k, v in RAW_ANSWERS.items()),
        encoding="utf-8",
    )
    return path
