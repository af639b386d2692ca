"""Prompt set (label injection, stored questions, user files, hash) and the quality gate."""

from __future__ import annotations

from pathlib import Path

import pytest

from faceaudit.corpus.config import CorpusConfig
from faceaudit.corpus.labels import label_view
from faceaudit.corpus.prompts import ASPECT_IDS, DEFAULT_PROMPT_SET, load_prompt_set
from faceaudit.corpus.quality import check_answer
from faceaudit.errors import InputError


def test_corpus_prompts_inject_labels_with_child_wording() -> None:
    prompts = load_prompt_set()
    boy = label_view({"age": "3-9", "gender": "Male", "race": "East Asian"})
    assert prompts.user_prompt("skin_texture", boy) == (
        "We know that this is a face image of a boy with East Asian ethnicity and 3-9 years old. "
        "Describe only the skin texture of the image and discuss your description of skin texture "
        "based on the visual information (do not mention based on your description)."
    )
    woman = label_view({"age": "more than 70", "gender": "Female", "race": "Latino_Hispanic"})
    assert prompts.user_prompt("overall_detail", woman) == (
        "We know that this is a face image of a woman with Latino/Hispanic ethnicity and more than "
        "70 years old. Describe this image."
    )
    synthetic = label_view({"skin_tone_group": "dark", "skin_tone": "9", "gender": "male",
                            "age": "young adult", "helmet": "yes"})
    assert prompts.label_preamble(synthetic) == (
        "We know that this is a face image of a man with dark (Monk skin tone 9) skin who is a "
        "young adult. Other recorded attributes: helmet: yes."
    )
    assert label_view({"age": "19-Oct"}).age_text == "10-19"  # spreadsheet-mangled FairFace age


def test_corpus_prompts_stored_questions_omit_labels() -> None:
    prompts = load_prompt_set()
    assert [prompts.question(a) for a in ASPECT_IDS] == [
        "Describe the demographic attributes of the image based on the visual information.",
        "Describe the facial structure of the image based on the visual information.",
        "Describe the skin texture of the image based on the visual information.",
        "Describe the expression and emotion of the image based on the visual information.",
        "Describe the lighting and image quality of the image based on the visual information.",
        "Describe the face pose of the image based on the visual information.",
        "Describe the forensic considerations of the image based on the visual information.",
        "Describe this image.",
    ]


def test_corpus_prompts_user_file_overrides_and_changes_the_hash(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text("version: lab-2\naspects:\n  face_pose:\n    name: head pose\n")
    custom = load_prompt_set(path)
    assert custom.question("face_pose") == "Describe the head pose of the image based on the visual information."
    assert custom.system_prompt == DEFAULT_PROMPT_SET.system_prompt
    assert custom.sha256 != DEFAULT_PROMPT_SET.sha256 == load_prompt_set(None).sha256
    assert len(custom.sha256) == 64

    bad = tmp_path / "bad.yaml"
    bad.write_text("version: x\nquestion_template: 'Describe {aspect} of {race}'\n")
    # the one formatter every invalid file goes through (faceaudit.errors.format_validation_errors)
    with pytest.raises(InputError, match=r"invalid prompt set .*bad\.yaml:\n  \(top level\): question_template: "
                       r"unknown placeholder\(s\) \['race'\]; accepted: \['aspect'\]"):
        load_prompt_set(bad)
    with pytest.raises(ValueError, match="a mapping with at least a 'version' field"):
        (tmp_path / "nov.yaml").write_text("system_prompt: hi\n")
        load_prompt_set(tmp_path / "nov.yaml")


def test_corpus_config_rejects_unknown_aspects() -> None:
    with pytest.raises(ValueError, match="unknown aspect\\(s\\) \\['hair'\\]; accepted: demographic_attributes"):
        CorpusConfig(aspects=["face_pose", "hair"])


@pytest.mark.parametrize(("answer", "labels", "finish", "expected"), [
    ("The woman has a calm expression.", {"gender": "Female", "age": "20-29"}, "stop", None),
    ("", {}, "stop", "empty: the generator returned no text"),
    (None, {}, "stop", "empty: the generator returned no text"),
    ("I'm unable to analyze this image.", {}, "stop", "refusal: \"I'm unable to\""),
    ("I am sorry, but I cannot help with identifying people.", {}, "stop", "refusal: 'I cannot help'"),
    ("Sure.", {}, "content_filter", "refusal: the generator declined (finish_reason content_filter)"),
    ("The face is lit from the left and", {}, "stop",
     "truncated: the answer ends mid-sentence ('…face is lit from the left and')"),
    ("The face is evenly lit.", {}, "length", "truncated: the generator stopped at its token limit"),
    ("She smiles; her eyes are bright.", {"gender": "Male"}, "stop",
     "gender_contradiction: label male, answer says ['her', 'she']"),
    ("He looks at her, and he smiles.", {"gender": "Male"}, "stop", None),
    ("An elderly face with deep lines.", {"age": "3-9"}, "stop",
     "age_contradiction: label 3-9, answer says ['elderly']"),
    ("The man appears about 45 years old.", {"age": "20-29"}, "stop",
     "age_contradiction: label 20-29, answer says '45 years old'"),
    ("The man appears about 35 years old.", {"age": "20-29"}, "stop", None),
    ("A teenager with smooth skin.", {"age": "older"}, "stop",
     "age_contradiction: label older, answer says ['teenager']"),
    ("A portrait of someone in their 70s.", {"age": "0-2"}, "stop",
     "age_contradiction: label 0-2, answer says 'in their 70s'"),
])
def test_corpus_quality_gate(answer, labels, finish, expected) -> None:
    assert check_answer(answer, label_view(labels), finish_reason=finish) == expected
