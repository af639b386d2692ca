"""Prompt sensitivity: variants keep the answer, consistency is counted right, flips are flagged."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from faceaudit.config import load_config
from faceaudit.data.records import McqItem
from faceaudit.pipeline import run_audit
from faceaudit.sensitivity.config import SensitivityConfig
from faceaudit.sensitivity.stage import analyse, variants
from faceaudit.store import read_jsonl


def _item() -> McqItem:
    return McqItem(item_id="r1:age", image_ids=["r1"], image_paths=["r1.png"], task="age",
                   question="How old is the person in this image?", options=["0-2", "3-9", "10-19", "20-29"],
                   answer="C", groups={"race": "x"})


def test_variants_keep_the_correct_text_and_the_first_is_the_item_itself() -> None:
    cfg = SensitivityConfig(paraphrases=3, option_orders=3)
    out = variants(_item(), cfg, seed=0)
    assert len(out) == 9 and len({v.item_id for v in out}) == 9
    first = out[0]
    assert first.item_id == "r1:age#q0o0"
    assert (first.question, first.options, first.answer) == (_item().question, _item().options, "C")
    assert len({v.question for v in out}) == 3
    assert all(v.answer_text == "10-19" for v in out)
    assert any(v.options != _item().options for v in out)
    assert [v.options for v in variants(_item(), cfg, seed=0)] == [v.options for v in out]


def _frame(rows: list[tuple[str, str, str | None, bool, str]]) -> pd.DataFrame:
    return pd.DataFrame([{"item_id": f"{b}#{v}", "base_item": b, "variant": v, "predicted_text": t,
                          "valid": t is not None, "correct": c, "g": g} for b, v, t, c, g in rows])


def test_consistency_and_spread_are_counted_item_by_item() -> None:
    rows = []
    # group a: 4 items, every variant the same answer; item a0 wrong, the rest right.
    for i in range(4):
        for v in ("q0o0", "q1o0", "q0o1", "q1o1"):
            rows.append((f"a{i}", v, "x" if i else "y", i > 0, "a"))
    # group b: 4 items; b0 consistent and right, b1 flips under the shuffled order, b2 unreadable once.
    for v in ("q0o0", "q1o0", "q0o1", "q1o1"):
        rows.append(("b0", v, "x", True, "b"))
        rows.append(("b1", v, "x" if v.endswith("o0") else "y", v.endswith("o0"), "b"))
        rows.append(("b2", v, None if v == "q1o1" else "x", v != "q1o1", "b"))
        rows.append(("b3", v, "z", False, "b"))
    section = analyse(_frame(rows), model="m", mode="generation", cfg=SensitivityConfig(), sensitive_attributes=["g"])
    assert section.n_items == 8 and section.variants == ["q0o0", "q0o1", "q1o0", "q1o1"]
    assert (section.paraphrases, section.option_orders) == (2, 2)
    a, b = section.groups
    assert (a.label, a.consistency.value, b.consistency.value) == ("a", 1.0, 0.5)
    assert section.overall_consistency.value == 6 / 8
    assert a.consistency_vs_rest.value == pytest.approx(1.0 - 0.5)
    # b's accuracy per variant: q0o0 3/4 (b0,b1,b2), q0o1 2/4 (b0,b2), q1o0 3/4, q1o1 1/4 (b0).
    assert b.accuracy_by_variant == {"q0o0": 0.75, "q0o1": 0.5, "q1o0": 0.75, "q1o1": 0.25}
    assert b.accuracy_spread == pytest.approx(0.5) and a.accuracy_spread == 0.0
    assert section.accuracy_original_order.value == pytest.approx(12 / 16)
    assert section.accuracy_shuffled_order.value == pytest.approx(9 / 16)
    assert not b.flagged  # 4 items per group: nothing is significant


def test_run_flags_the_group_whose_answers_flip(tmp_path: Path) -> None:
    config = load_config(overrides=[
        "dataset.synthetic.n=400", "dataset.synthetic.image_size=32", "corpus.enabled=false",
        "train.enabled=false", "perturb.enabled=false", "report.enabled=false", "gate.enabled=false",
        "evaluate.backend=simulated", "evaluate.n_boot=100", "evaluate.intersections=false",
        "evaluate.simulated_accuracy={default: 0.97, skin_tone_group=dark: 0.4}",
        "sensitivity.enabled=true", "sensitivity.max_items=200", f"output_dir={tmp_path}", "run_id=s",
    ])
    result = run_audit(config, progress=False).result
    section = result.sensitivity
    assert "sensitivity" in result.run.stages_run
    assert section.n_items == 200 and section.option_orders == 2 and section.paraphrases >= 2
    answered = list(read_jsonl(tmp_path / "s" / "sensitivity" / "predictions-scoring.jsonl"))
    asked: dict[str, set[str]] = {}
    for row in answered:
        base, variant = row["item_id"].split("#")
        asked.setdefault(base, set()).add(variant)
    assert len(asked) == 200 and len(answered) == sum(len(v) for v in asked.values())
    # Every wording in both orders: glasses and helmet have 2 wordings, the other tasks 3.
    for base, keys in asked.items():
        wordings = {k.split("o")[0] for k in keys}
        assert keys == {f"{q}o{o}" for q in wordings for o in (0, 1)}
        assert len(wordings) == (2 if base.endswith((":glasses", ":helmet")) else 3)
    assert "skin_tone_group=dark" in section.flagged
    assert not any(name.startswith("skin_tone_group=") and name != "skin_tone_group=dark" for name in section.flagged)
    assert any(w.stage == "sensitivity" for w in result.warnings)
