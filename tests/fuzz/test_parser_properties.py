"""Every parser a user can feed: hostile or broken input ends in a clear error or a counted skip.

Property (issue #13, "what to build" 1): for any input, a parser either returns (and then
every row is accounted for: loaded, or skipped with an issue naming file, row and field;
no label holds a hidden character) or raises faceaudit's ``InputError`` whose message names
the file. Any other exception -- a traceback -- fails the property. Inputs are valid seed
files mutated byte by byte (quotes, line breaks, NUL, U+2028, surrogates, truncation) and
structurally valid files whose cells are hostile text. Cases run per property are counted:
each test asserts it ran its quota, and the session prints the counts at the end.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from fuzz_support import CASES, hostile_text, mutated
from hypothesis import given, settings
from hypothesis import strategies as st

from faceaudit.config import load_config
from faceaudit.corpus.sharegpt import import_sharegpt
from faceaudit.data.facexbench import load_facexbench
from faceaudit.data.fairface import load_fairface
from faceaudit.data.manifest import load_manifest
from faceaudit.data.validate import validate_path
from faceaudit.errors import InputError
from faceaudit.gate.policy import load_policy, parse_policy
from faceaudit.models.predictions_file import PredictionsFileModel
from faceaudit.scan.table import read_pair_columns
from faceaudit.textsafe import hidden_characters
from faceaudit.train.data import read_corpus_jsonl, read_sharegpt

pytestmark = pytest.mark.filterwarnings("ignore")
FUZZ = settings.get_profile("faceaudit-fuzz")
QUOTA = 40  # examples per property (the profile's max_examples)

FAIRFACE_SEED = (
    b"file,age,gender,race,service_test\n"
    b"val/1.jpg,3-9,Male,East Asian,False\n"
    b"val/2.jpg,50-59,Female,Indian,True\n"
    b"val/3.jpg,more than 70,Male,Latino_Hispanic,False\n"
)
MANIFEST_SEED = b"image,race,gender,age\nimg/a.png,A,female,20-29\nimg/b.png,B,male,30-39\n"
JSONL_SEED = (
    b'{"image": "img/a.png", "race": "A", "gender": "female"}\n'
    b'{"image": "img/b.png", "attributes": {"race": "B", "gender": "male"}}\n'
)
FACEXBENCH_SEED = json.dumps({
    "category": "bias_fairness", "sub-category": "race", "dataset": "fairface", "question_type": "MCQ",
    "num_images": "single", "prepend_text": "Task.", "postpend_text": "Answer with a letter.",
    "questions": {
        "1": {"image_paths": ["images/x/question_1.png"], "question_text": "Race?",
              "options": ["White", "Black", "Indian", "Other"], "correct_answer_option": "B", "answer": "Black"},
        "2": {"image_paths": ["images/x/question_2.png"], "question_text": "Race?",
              "options": ["White", "Black", "Indian", "Other"], "correct_answer_option": "A", "answer": "White"},
    },
}).encode()
CORPUS_SEED = b"".join(json.dumps({
    "key": f"img{i}:demographics", "image_id": f"img{i}", "image_path": f"img/{i}.png", "aspect": "demographics",
    "question": "Describe the demographic attributes of the image.", "answer": f"An adult, answer {i}.",
    "status": "accepted"}).encode() + b"\n" for i in range(3))
SHAREGPT_SEED = json.dumps([
    {"conversations": [{"from": "human", "value": "<image>Describe the facial structure of the image."},
                       {"from": "gpt", "value": "An oval face."}], "images": ["val/1.jpg"]},
    {"conversations": [{"from": "human", "value": "<image>Describe the skin texture of the image."},
                       {"from": "gpt", "value": "Smooth skin."}], "images": ["val/2.jpg"]},
]).encode()
PREDICTIONS_CSV_SEED = b'item_id,prediction,option_probs\nq1,A,"[0.7, 0.1, 0.1, 0.1]"\nq2,B,\n'
PREDICTIONS_JSONL_SEED = b'{"item_id": "q1", "prediction": "A"}\n{"item_id": "q2", "prediction": "The answer is (B)"}\n'
CONFIG_SEED = b"seed: 3\ndataset:\n  kind: synthetic\n  synthetic:\n    n: 40\nevaluate:\n  backend: simulated\n"


def clear_error_or_result(call, path: Path | str):
    """``call()``'s result, or None after an ``InputError`` naming ``path``; anything else fails."""
    try:
        return call()
    except InputError as error:
        assert str(path) in str(error), f"the error does not name the file: {error}"
        return None


def write(folder: Path, name: str, data: bytes) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def check_dataset(dataset) -> None:
    for record in dataset.records:
        for value in (record.image_path, record.id, *record.attributes.values()):
            assert not hidden_characters(value), f"hidden characters reached a record: {value!r}"
    for issue in dataset.issues:
        assert issue.file, issue


def run_property(name: str, test) -> None:
    """Run hypothesis-decorated ``test`` and check it ran its quota."""
    before = CASES[name]
    test()
    assert CASES[name] - before >= QUOTA, f"{name} ran {CASES[name] - before} cases"


def test_fairface_label_csv(tmp_path_factory):
    @FUZZ
    @given(mutated(FAIRFACE_SEED))
    def prop(data):
        CASES["fairface label CSV (mutated)"] += 1
        root = tmp_path_factory.mktemp("ff")
        (root / "val").mkdir()
        path = write(root, "fairface_label_val.csv", data)
        dataset = clear_error_or_result(lambda: load_fairface(root, check_images=False, progress=False), path)
        if dataset is not None:
            check_dataset(dataset)
            assert dataset.summary().fingerprint

    run_property("fairface label CSV (mutated)", prop)


def test_manifest_csv_mutated(tmp_path_factory):
    @FUZZ
    @given(mutated(MANIFEST_SEED))
    def prop(data):
        CASES["manifest CSV (mutated)"] += 1
        path = write(tmp_path_factory.mktemp("m"), "manifest.csv", data)
        dataset = clear_error_or_result(lambda: load_manifest(path, check_images=False, progress=False), path)
        if dataset is not None:
            check_dataset(dataset)

    run_property("manifest CSV (mutated)", prop)


def test_manifest_csv_hostile_cells_every_row_accounted(tmp_path_factory):
    @FUZZ
    @given(st.lists(st.tuples(hostile_text, hostile_text, hostile_text), min_size=1, max_size=6))
    def prop(rows):
        CASES["manifest CSV (hostile cells)"] += 1
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(["image", "race", "gender"])
        for image, race, gender in rows:
            writer.writerow([f"img/{image}.png", race, gender])
        data = buffer.getvalue().encode("utf-8", "surrogatepass")
        path = write(tmp_path_factory.mktemp("m"), "manifest.csv", data)
        dataset = clear_error_or_result(
            lambda: load_manifest(path, sensitive_attributes=["race"], check_images=False, progress=False), path)
        if dataset is None:
            return
        check_dataset(dataset)
        # Nothing vanishes: every row written is a record or a counted, skipped issue.
        skipped = sum(i.count for i in dataset.issues if i.skipped)
        assert len(dataset) + skipped >= len(rows)
        report = validate_path(path, check_images=False, progress=False)
        assert not hidden_characters(report.format_text().replace("\n", ""))

    run_property("manifest CSV (hostile cells)", prop)


def test_manifest_jsonl(tmp_path_factory):
    @FUZZ
    @given(st.one_of(
        mutated(JSONL_SEED),
        st.lists(st.dictionaries(st.sampled_from(["image", "race", "gender", "attributes", "id", "split"]),
                                 st.one_of(hostile_text, st.none(), st.integers(), st.floats(), st.booleans(),
                                           st.lists(st.integers(), max_size=2)), max_size=5), max_size=4)
        .map(lambda rows: "\n".join(json.dumps(r, ensure_ascii=False) for r in rows)
             .encode("utf-8", "surrogatepass")),
    ))
    def prop(data):
        CASES["manifest JSONL"] += 1
        path = write(tmp_path_factory.mktemp("m"), "manifest.jsonl", data)
        dataset = clear_error_or_result(lambda: load_manifest(path, check_images=False, progress=False), path)
        if dataset is not None:
            check_dataset(dataset)
            dataset.summary()

    run_property("manifest JSONL", prop)


def test_facexbench_json(tmp_path_factory):
    @FUZZ
    @given(mutated(FACEXBENCH_SEED))
    def prop(data):
        CASES["FaceXBench JSON"] += 1
        path = write(tmp_path_factory.mktemp("fx"), "fairface_single_mcq_race_test.json", data)
        items = clear_error_or_result(lambda: load_facexbench(path), path)
        if items is not None:
            assert len(items) + sum(i.count for i in items.issues if i.skipped) >= 1
            for issue in items.issues:
                assert str(path) in (issue.file or ""), issue

    run_property("FaceXBench JSON", prop)


def test_corpus_jsonl(tmp_path_factory):
    @FUZZ
    @given(mutated(CORPUS_SEED))
    def prop(data):
        CASES["corpus JSONL"] += 1
        path = write(tmp_path_factory.mktemp("c"), "corpus.jsonl", data)
        clear_error_or_result(lambda: read_corpus_jsonl(path), path)
        clear_error_or_result(lambda: read_pair_columns(path), path)

    run_property("corpus JSONL", prop)


def test_sharegpt_json(tmp_path_factory):
    @FUZZ
    @given(mutated(SHAREGPT_SEED))
    def prop(data):
        CASES["ShareGPT JSON"] += 1
        folder = tmp_path_factory.mktemp("s")
        path = write(folder, "fairfacegpt.json", data)
        clear_error_or_result(lambda: read_sharegpt(path), path)
        report = clear_error_or_result(lambda: import_sharegpt(path, folder / "corpus.jsonl"), path)
        if report is not None:
            clear_error_or_result(lambda: read_corpus_jsonl(folder / "corpus.jsonl"), folder / "corpus.jsonl")

    run_property("ShareGPT JSON", prop)


@pytest.mark.parametrize(("name", "seed"), [("predictions.csv", PREDICTIONS_CSV_SEED),
                                            ("predictions.jsonl", PREDICTIONS_JSONL_SEED)])
def test_predictions_file(tmp_path_factory, name, seed):
    label = f"predictions {name.rsplit('.', 1)[1]}"

    @FUZZ
    @given(mutated(seed))
    def prop(data):
        CASES[label] += 1
        path = write(tmp_path_factory.mktemp("p"), name, data)
        clear_error_or_result(lambda: PredictionsFileModel(path), path)

    run_property(label, prop)


def test_policy(tmp_path_factory):
    seed = Path(load_policy(None).source).read_bytes() if Path(load_policy(None).source).is_file() else None
    if seed is None:
        from importlib import resources

        seed = resources.files("faceaudit.gate").joinpath("policy-default.yaml").read_bytes()

    @FUZZ
    @given(mutated(seed[:1500]))
    def prop(data):
        CASES["policy YAML"] += 1
        clear_error_or_result(lambda: parse_policy(data, "my-policy.yaml"), "my-policy.yaml")

    run_property("policy YAML", prop)


def test_config(tmp_path_factory):
    @FUZZ
    @given(mutated(CONFIG_SEED), st.lists(st.tuples(st.sampled_from(["seed", "dataset.limit", "evaluate.backend",
                                                                     "dataset.synthetic.n", "nope.x"]),
                                                    hostile_text), max_size=2))
    def prop(data, sets):
        CASES["config YAML + --set"] += 1
        path = write(tmp_path_factory.mktemp("cfg"), "audit.yaml", data)
        overrides = [f"{key}={value}" for key, value in sets]
        try:
            load_config(path, overrides)
        except InputError as error:
            assert str(path) in str(error) or "--set" in str(error) or any(k in str(error) for k, _ in sets), error

    run_property("config YAML + --set", prop)
