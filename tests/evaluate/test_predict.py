"""The prediction loop: table contract, both modes, resume after SIGKILL, prefetch, errors."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from faceaudit.data.records import McqItem
from faceaudit.errors import StaleResultsError
from faceaudit.evaluate.predict import PREDICTION_COLUMNS, predict, softmax
from faceaudit.models.simulated import SimulatedFaceModel
from faceaudit.store import read_jsonl


def make_items(n: int, *, groups=("light", "dark")) -> list[McqItem]:
    return [
        McqItem(
            item_id=f"q{i:04d}",
            image_ids=[f"img{i // 2}"],
            image_paths=[f"faces/{i // 2}.png"],
            task="gender" if i % 3 else "age",
            category="bias_fairness",
            question="What is the gender of the person in the image?",
            options=["Male", "Female", "Other"] if i % 2 else ["Male", "Female"],
            answer="B" if i % 4 == 1 else "A",
            groups={"skin_tone": groups[i % len(groups)], "gender": "female" if i % 5 else "male"},
        )
        for i in range(n)
    ]


def test_scoring_table_has_the_contract_columns_and_consistent_values(tmp_path: Path) -> None:
    items = make_items(40)
    model = SimulatedFaceModel({"default": 0.8, "skin_tone=dark": 0.5}, seed=3)
    frame = predict(items, tmp_path, model, mode="scoring", out_jsonl=tmp_path / "p.jsonl", batch_size=7, progress=False)
    assert list(frame.columns) == [*PREDICTION_COLUMNS, "skin_tone", "gender"]
    assert list(frame["item_id"]) == [item.item_id for item in items]
    for item, row in zip(items, frame.itertuples(index=False), strict=True):
        probs = row.option_probs
        assert len(probs) == len(item.options) and abs(sum(probs) - 1) < 1e-9
        assert row.predicted == "ABCD"[max(range(len(probs)), key=probs.__getitem__)]
        assert row.predicted_text == item.options["ABCD".index(row.predicted)]
        assert row.correct == (row.predicted == item.answer)
        assert row.valid and row.answer_text == item.answer_text and row.image_id == item.image_ids[0]
        assert row.skin_tone == item.groups["skin_tone"]
    on_disk = list(read_jsonl(tmp_path / "p.jsonl"))
    assert [r["item_id"] for r in on_disk] == [item.item_id for item in items]
    assert set(on_disk[0]) == {*PREDICTION_COLUMNS, "skin_tone", "gender"}


def test_generation_marks_unreadable_answers_invalid_and_wrong(tmp_path: Path) -> None:
    items = make_items(60)
    model = SimulatedFaceModel({"default": 1.0}, seed=1, invalid_rate=0.3)
    frame = predict(items, tmp_path, model, mode="generation", out_jsonl=tmp_path / "g.jsonl", progress=False)
    invalid = frame[~frame["valid"]]
    assert 5 <= len(invalid) <= 35
    assert invalid["predicted"].isna().all() and not invalid["correct"].any()
    assert invalid["option_probs"].isna().all()
    # Accuracy 1.0: every readable answer is right, whatever format the model used.
    assert frame.loc[frame["valid"], "correct"].all()
    assert set(frame["raw_output"]) - {"I'm sorry, I cannot tell from this image."} != set()


def test_scoring_and_generation_agree_for_the_simulated_model(tmp_path: Path) -> None:
    items = make_items(50)
    model = SimulatedFaceModel({"default": 0.6}, seed=5)
    scored = predict(items, tmp_path, model, mode="scoring", out_jsonl=tmp_path / "s.jsonl", progress=False)
    generated = predict(items, tmp_path, model, mode="generation", out_jsonl=tmp_path / "g.jsonl", progress=False)
    assert list(scored["predicted"]) == list(generated["predicted"])


def test_a_file_from_another_model_or_mode_is_not_resumed(tmp_path: Path) -> None:
    items = make_items(10)
    out = tmp_path / "p.jsonl"
    predict(items, tmp_path, SimulatedFaceModel({"default": 0.9}), mode="scoring", out_jsonl=out, progress=False)
    with pytest.raises(StaleResultsError, match="must not reuse, because mode: 'scoring' then, 'generation' now"):
        predict(items, tmp_path, SimulatedFaceModel({"default": 0.9}), mode="generation", out_jsonl=out, progress=False)
    foreign = tmp_path / "foreign.jsonl"
    foreign.write_text('{"item_id": "q0000"}\n', encoding="utf-8")
    with pytest.raises(ValueError, match="cannot tell which model wrote it"):
        predict(items, tmp_path, SimulatedFaceModel({"default": 0.9}), mode="scoring", out_jsonl=foreign, progress=False)


def test_bad_input_is_named(tmp_path: Path) -> None:
    items = make_items(4)
    model = SimulatedFaceModel({"default": 0.9})
    with pytest.raises(ValueError, match="item_id 'q0000' occurs twice"):
        predict([items[0], items[0]], tmp_path, model, mode="scoring", out_jsonl=tmp_path / "a.jsonl", progress=False)
    with pytest.raises(ValueError, match="no label for sensitive attribute"):
        predict(items, tmp_path, model, mode="scoring", out_jsonl=tmp_path / "b.jsonl",
                sensitive_attributes=["age"], progress=False)
    with pytest.raises(ValueError, match="mode must be"):
        predict(items, tmp_path, model, mode="vote", out_jsonl=tmp_path / "c.jsonl", progress=False)  # type: ignore[arg-type]


def test_softmax_handles_impossible_options() -> None:
    assert softmax([0.0, float("-inf")]) == [1.0, 0.0]
    assert softmax([-1000.0, -1000.0]) == [0.5, 0.5]
    with pytest.raises(ValueError, match="every option scored -inf"):
        softmax([float("-inf")] * 2)


_CRASHING_RUN = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    sys.path.insert(0, {tests!r})
    from test_predict import make_items
    from faceaudit.evaluate.predict import predict
    from faceaudit.models.simulated import SimulatedFaceModel

    class Slow(SimulatedFaceModel):
        def generate(self, batch, images, max_new_tokens):
            time.sleep(0.01)
            return super().generate(batch, images, max_new_tokens)

    predict(make_items(300), Path({root!r}), Slow({{"default": 0.7}}, seed=9, invalid_rate=0.1),
            mode="generation", out_jsonl=Path({out!r}), batch_size=1, progress=False)
    """
)


def test_resume_after_sigkill_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    out = tmp_path / "crash.jsonl"
    script = tmp_path / "run.py"
    script.write_text(_CRASHING_RUN.format(tests=str(Path(__file__).parent), root=str(tmp_path), out=str(out)))
    process = subprocess.Popen([sys.executable, str(script)], env={**os.environ, "PYTHONHASHSEED": "0"})
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if out.exists() and out.read_bytes().count(b"\n") >= 40:
                break
            if process.poll() is not None:
                pytest.fail(f"the prediction run ended (rc {process.returncode}) before it could be killed")
            time.sleep(0.02)
        process.send_signal(signal.SIGKILL)
    finally:
        process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL
    written_before = out.read_bytes().count(b"\n")
    assert 40 <= written_before < 300

    items = make_items(300)
    model = SimulatedFaceModel({"default": 0.7}, seed=9, invalid_rate=0.1)
    resumed = predict(items, tmp_path, model, mode="generation", out_jsonl=out, batch_size=16, progress=False)
    lines = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    ids = [line["item_id"] for line in lines]
    assert len(ids) == len(set(ids)) == 300
    clean = predict(items, tmp_path, model, mode="generation", out_jsonl=tmp_path / "clean.jsonl", progress=False)
    assert resumed.drop(columns=["option_probs"]).equals(clean.drop(columns=["option_probs"]))


class _RecordingModel(SimulatedFaceModel):
    """Notes the thread that prepares each batch and the order batches are answered in."""

    def __init__(self) -> None:
        super().__init__({"default": 0.9})
        self.prepare_threads: list[str] = []
        self.answered: list[str] = []

    def prepare(self, batch, image_root):
        import threading

        self.prepare_threads.append(threading.current_thread().name)
        return [item.item_id for item in batch]

    def score_options(self, batch, images):
        assert images == [item.item_id for item in batch]  # each batch gets its own preparation
        self.answered.extend(images)
        return super().score_options(batch, images)


@pytest.mark.parametrize("prefetch", [0, 1, 3])
def test_preparation_runs_ahead_in_a_background_thread(tmp_path: Path, prefetch: int) -> None:
    items = make_items(23)
    model = _RecordingModel()
    predict(items, tmp_path, model, mode="scoring", out_jsonl=tmp_path / "p.jsonl", batch_size=4,
            prefetch=prefetch, progress=False)
    assert model.answered == [item.item_id for item in items]
    assert len(model.prepare_threads) == 6
    if prefetch:
        assert all(name.startswith("faceaudit-prepare") for name in model.prepare_threads)
    else:
        assert model.prepare_threads == ["MainThread"] * 6


def test_a_resume_refuses_answers_of_changed_weights_or_changed_items(tmp_path: Path) -> None:
    """The issue's case: a model changed from 95% to 20% must not be credited with 95%."""
    items = make_items(20)
    out = tmp_path / "p.jsonl"
    first = predict(items, tmp_path, SimulatedFaceModel({"default": 0.95}), mode="scoring", out_jsonl=out,
                    progress=False)
    assert first["correct"].mean() > 0.8
    # Same name, other weights: refused, and the message says the hash changed.
    with pytest.raises(StaleResultsError, match="model_sha256: '[0-9a-f]{64}' then, '[0-9a-f]{64}' now"):
        predict(items, tmp_path, SimulatedFaceModel({"default": 0.2}), mode="scoring", out_jsonl=out, progress=False)
    # Same model, an item whose question changed: refused, naming the item.
    edited = [items[0].model_copy(update={"question": "Another question?"}), *items[1:]]
    with pytest.raises(StaleResultsError, match=r"1 item\(s\) changed since they were answered, e.g. \['q0000'\]"):
        predict(edited, tmp_path, SimulatedFaceModel({"default": 0.95}), mode="scoring", out_jsonl=out,
                progress=False)
    # Same model, more items: the stored answers are reused and the new items answered.
    more = make_items(25)
    again = predict(more, tmp_path, SimulatedFaceModel({"default": 0.95}), mode="scoring", out_jsonl=out,
                    progress=False)
    assert len(again) == 25 and list(again["predicted"][:20]) == list(first["predicted"])
