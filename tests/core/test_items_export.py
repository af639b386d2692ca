"""Items exported for an outside harness come back through the predictions backend unchanged.

The round trip: a simulated model answers the audit's items; the items are exported; a
"harness" reading only the VLMEvalKit TSV answers each row with the option the simulated
model chose (found by option text, so a reordered export would show); its result table is
imported and evaluated with the predictions backend. Every group's accuracy and every
item's outcome must equal the simulated run's.
"""

from __future__ import annotations

import base64
import csv
import json
from pathlib import Path

import pytest

from faceaudit.cli import main
from faceaudit.config import load_config
from faceaudit.data.facexbench import load_facexbench
from faceaudit.data.records import McqItem
from faceaudit.errors import InputError
from faceaudit.items import export_items, import_answers
from faceaudit.pipeline import run_audit
from faceaudit.store import read_jsonl

FAST = [
    "dataset.synthetic.n=60",
    "dataset.synthetic.image_size=32",
    "corpus.enabled=false",
    "train.enabled=false",
    "perturb.enabled=false",
    "report.enabled=false",
    "gate.enabled=false",
    "evaluate.backend=simulated",
    "evaluate.mode=generation",
    "evaluate.n_boot=100",
    "evaluate.simulated_invalid_rate=0.1",
    "evaluate.simulated_accuracy={default: 0.7, skin_tone_group=dark: 0.5}",
]


def _fake_harness(tsv: Path, run_dir: Path, image_root: Path, out: Path) -> None:
    """Answer each TSV row with the option the simulated model picked, as a letter of the TSV."""
    chosen = {}  # item_id -> option text the simulated model picked (or its raw text if invalid)
    items = {row["item_id"]: row for row in read_jsonl(run_dir / "evaluate" / "predictions-generation.jsonl")}
    for item_id, row in items.items():
        chosen[item_id] = row["predicted_text"] if row["predicted"] else row["raw_output"]
    with open(tsv, encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    with open(out, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, delimiter="\t")
        writer.writerow(["index", "prediction"])  # VLMEvalKit's result keys rows by index
        for row in rows:
            assert base64.b64decode(row["image"]) == (image_root / row["image_path"]).read_bytes()
            options = {row[letter]: letter for letter in "ABCD" if row[letter]}
            answer = chosen[row["item_id"]]
            writer.writerow([row["index"], options.get(answer, answer)])


def test_exported_items_answered_elsewhere_reproduce_the_simulated_metrics(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = load_config(overrides=[*FAST, f"output_dir={tmp_path}", "run_id=sim"])
    simulated = run_audit(config, progress=False).result
    run_dir = tmp_path / "sim"
    export = tmp_path / "export"
    assert main(["--quiet", "items", "export", str(run_dir), "--out", str(export)]) == 0

    exported = list(read_jsonl(export / "items.jsonl"))
    assert len(exported) == simulated.evaluation.n_items
    assert [r["index"] for r in exported] == list(range(1, len(exported) + 1))
    image_root = run_dir / "data"
    assert all(Path(p).is_file() for r in exported for p in r["images"])
    answers = tmp_path / "harness.tsv"
    _fake_harness(export / "vlmevalkit" / "faceaudit_items.tsv", run_dir, image_root, answers)
    predictions = tmp_path / "answers.jsonl"
    assert main(["--quiet", "items", "import", str(answers), "--items", str(export), "--out", str(predictions)]) == 0

    again = load_config(overrides=[*FAST, f"output_dir={tmp_path}", "run_id=imported",
                                   "evaluate.backend=predictions", f"evaluate.predictions_file={predictions}"])
    imported = run_audit(again, progress=False, only={"evaluate"}).result
    assert imported.evaluation.model.startswith("predictions:")
    for a, b in zip(simulated.evaluation.tasks, imported.evaluation.tasks, strict=True):
        assert a.task == b.task
        assert a.outcomes.items_sha256 == b.outcomes.items_sha256
        assert a.outcomes.correct == b.outcomes.correct
        for ga, gb in zip(a.groups, b.groups, strict=True):
            assert (ga.attributes, ga.labels) == (gb.attributes, gb.labels)
            for name in ("accuracy", "invalid_rate"):
                assert ga.metrics[name].value == gb.metrics[name].value
                assert ga.metrics[name].n == gb.metrics[name].n
    # The planted invalid answers came back as invalid, not as a guessed letter.
    overall = [t.overall["invalid_rate"].value for t in imported.evaluation.tasks]
    assert any(v > 0 for v in overall)
    # A config that no longer builds the items the run evaluated exports nothing.
    assert main(["--quiet", "items", "export", str(run_dir), "--out", str(tmp_path / "x"),
                 "--set", "dataset.limit=30"]) == 3
    assert "was evaluated on" in capsys.readouterr().err
    assert not (tmp_path / "x" / "items.jsonl").exists()


@pytest.mark.parametrize("words", [["items"], ["items", "export"], ["items", "import"]], ids=" ".join)
def test_items_commands_have_help(words: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main([*words, "--help"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.startswith("usage: faceaudit " + " ".join(words))


def _items(root: Path) -> list[McqItem]:
    (root / "a.png").write_bytes(b"\x89PNG-a")
    (root / "b.jpg").write_bytes(b"jpeg-b")
    return [
        McqItem(item_id="r1:race", image_ids=["r1"], image_paths=["a.png"], task="race", question="Race?",
                options=["Black", "White", "Indian"], answer="C", groups={"race": "Indian"}),
        McqItem(item_id="r2:race", image_ids=["r2"], image_paths=["b.jpg"], task="race", question="Race?",
                options=["White", "Black", "Indian"], answer="A", groups={"race": "White"}),
        McqItem(item_id="r2:gender", image_ids=["r2"], image_paths=["b.jpg"], task="gender", question="Gender?",
                options=["Male", "Female"], answer="B", groups={"race": "White"}),
    ]


def test_facexbench_form_reads_back_through_faceaudits_loader(tmp_path: Path) -> None:
    (tmp_path / "img").mkdir()
    items = _items(tmp_path / "img")
    export_items(items, tmp_path / "img", tmp_path / "out")
    loaded = load_facexbench(tmp_path / "out" / "facexbench")
    assert not loaded.issues
    by_key = {item.item_id: item for item in loaded}
    keys = {r["item_id"]: r["facexbench_id"] for r in read_jsonl(tmp_path / "out" / "items.jsonl")}
    assert keys == {"r1:race": "faceaudit_race:1", "r2:race": "faceaudit_race:2", "r2:gender": "faceaudit_gender:1"}
    for item in items:
        back = by_key[keys[item.item_id]]
        assert (back.question, back.options, back.answer, back.task) == (
            item.question, item.options, item.answer, item.task)
        assert (loaded.root / back.image_paths[0]).read_bytes() == (tmp_path / "img" / item.image_paths[0]).read_bytes()
    fx = json.loads((tmp_path / "out/facexbench/benchmark/faceaudit_race.json").read_text())
    assert fx["questions"]["1"]["answer"] == "Indian" and fx["questions"]["1"]["item_id"] == "r1:race"
    # The TSV pads a three-option item's D with an empty cell.
    with open(tmp_path / "out/vlmevalkit/faceaudit_items.tsv", encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    assert [(r["A"], r["D"], r["answer"], r["category"]) for r in rows] == [
        ("Black", "", "C", "race"), ("White", "", "A", "race"), ("Male", "", "B", "gender")]


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ("index\tprediction\n1\tA\n2\tB\n", r"no answer for 1 of 3 exported items \(first: 'r2:gender'\)"),
        ("index\tprediction\n1\tA\n2\tB\n3\tA\n9\tA\n", r"row 5: index '9' is not an exported item"),
        ("index\tprediction\n1\tA\n1\tB\n", r"row 3: item 'r1:race' answered twice \(first at row 2\)"),
        ("id\tprediction\n1\tA\n", r"needs a key column \(item_id or index or facexbench_id\)"),
    ],
)
def test_bad_answer_tables_name_the_row_or_item(tmp_path: Path, table: str, message: str) -> None:
    (tmp_path / "img").mkdir()
    export_items(_items(tmp_path / "img"), tmp_path / "img", tmp_path / "out", formats=["jsonl"])
    answers = tmp_path / "answers.tsv"
    answers.write_text(table, encoding="utf-8")
    with pytest.raises(InputError, match=message):
        import_answers(answers, tmp_path / "out", tmp_path / "p.jsonl")


def test_facexbench_ids_and_spreadsheet_indices_map_back(tmp_path: Path) -> None:
    (tmp_path / "img").mkdir()
    export_items(_items(tmp_path / "img"), tmp_path / "img", tmp_path / "out", formats=["jsonl"])
    answers = tmp_path / "a.jsonl"
    answers.write_text("".join(json.dumps({"facexbench_id": k, "response": v}) + "\n" for k, v in
                               [("faceaudit_gender:1", "B"), ("faceaudit_race:2", "(A) White"),
                                ("faceaudit_race:1", "C")]), encoding="utf-8")
    out = import_answers(answers, tmp_path / "out", tmp_path / "p.jsonl")
    assert [(r["item_id"], r["prediction"]) for r in read_jsonl(out)] == [
        ("r1:race", "C"), ("r2:race", "(A) White"), ("r2:gender", "B")]
    csv_answers = tmp_path / "a.csv"
    csv_answers.write_text("index,prediction\n1.0,C\n2.0,A\n3.0,B\n", encoding="utf-8")
    assert [r["prediction"] for r in read_jsonl(import_answers(csv_answers, tmp_path / "out", tmp_path / "q.jsonl"))] \
        == ["C", "A", "B"]


def test_export_refuses_a_missing_image(tmp_path: Path) -> None:
    (tmp_path / "img").mkdir()
    items = _items(tmp_path / "img")
    (tmp_path / "img" / "b.jpg").unlink()
    with pytest.raises(InputError, match=r"item 'r2:race': image 'b.jpg' does not exist"):
        export_items(items, tmp_path / "img", tmp_path / "out")
