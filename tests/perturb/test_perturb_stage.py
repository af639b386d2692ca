"""The robustness stage inside a run, on synthetic faces with the simulated backend.

Planted truth: every group loses 3 points per severity level under lighting, dark skin 6,
and nothing under occlusion.
The stage must reuse the evaluation's clean predictions, cover every configured
perturbation x severity, name the dark group, and give the same numbers when run again
alone on the finished run (``faceaudit perturb``).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from faceaudit.cli import EXIT_OK, main
from faceaudit.config import load_config
from faceaudit.pipeline import run_audit
from faceaudit.report import render_html
from faceaudit.report.robustness import BASELINE_ROWS_SHOWN
from faceaudit.schema import AuditResult

PLANTED = [
    "dataset.synthetic.n=600",
    "dataset.synthetic.image_size=48",
    "train.enabled=false",
    "evaluate.backend=simulated",
    "evaluate.n_boot=200",
    "evaluate.simulated_accuracy={default: 0.9}",
    "evaluate.simulated_perturbation_drop={default: 0.0, family=lighting: 0.03, 'family=lighting&skin_tone_group=dark': 0.06}",
    "perturb.perturbations=[underexposure, eye_band]",
    "perturb.max_images=null",
    "perturb.questions_per_image=null",  # every task: exercises the image-clustered path
]


@pytest.fixture(scope="module")
def planted_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("runs")
    config = load_config(overrides=[*PLANTED, f"output_dir={root}", "run_id=planted"])
    run_audit(config, progress=False)
    return root / "planted"


def test_every_condition_is_reported_and_the_planted_group_is_named(planted_run: Path) -> None:
    result = AuditResult.load(planted_run / "audit.json")
    assert result.run.stages_run[:6] == ["dataset", "corpus", "scan", "evaluate", "contamination", "perturb"]
    robustness = result.robustness
    assert robustness is not None and result.evaluation is not None
    assert robustness.n_images == result.evaluation.n_images > 150
    assert [c.name for c in robustness.conditions] == [
        f"{p}:{s}" for p in ("underexposure", "eye_band") for s in range(1, 6)
    ]
    assert robustness.geometry.startswith("synthetic renderer landmarks")
    # Clean accuracy in the section is the evaluation's own (shared clean pass, same images).
    first = robustness.groups[0]
    evaluation_accuracy = sum(t.overall["accuracy"].value * t.n_items for t in result.evaluation.tasks) / sum(
        t.n_items for t in result.evaluation.tasks
    )
    clean_all = [c for c in robustness.curves if c.family == "lighting" and c.attribute == "gender"]
    pooled = sum(c.accuracy_by_severity[0].value * c.n_images for c in clean_all) / robustness.n_images
    assert pooled == pytest.approx(evaluation_accuracy)
    assert first.clean_accuracy.method == "wilson-clustered"
    # Under the lighting perturbation at severity 5, dark skin has the largest extra drop.
    at5 = [g for g in robustness.groups if g.perturbation == "underexposure" and g.severity == 5
           and g.attribute == "skin_tone_group"]
    dark = next(g for g in at5 if g.group == "dark")
    assert max(at5, key=lambda g: g.interaction.value) is dark
    assert dark.interaction.lower > 0 and dark.interaction.p_value < 0.01
    # The occlusion family had no planted drop at all.
    eye = [g for g in robustness.groups if g.perturbation == "eye_band"]
    assert all(g.drop.value == 0 and g.flip_rate.value == 0 for g in eye)
    assert robustness.throughput["perturbed_images"] == robustness.n_images * 10
    assert result.gate is not None and any(c.id.startswith("robustness-") for c in result.gate.checks)


def test_perturb_alone_on_the_finished_run_gives_the_same_section(planted_run: Path) -> None:
    before = AuditResult.load(planted_run / "audit.json").robustness
    assert main(["-q", "perturb", str(planted_run)]) == EXIT_OK
    after = AuditResult.load(planted_run / "audit.json")
    assert after.evaluation is not None  # the stored sections are kept
    strip = lambda section: {k: v for k, v in json.loads(section.model_dump_json()).items() if k != "throughput"}  # noqa: E731
    assert strip(after.robustness) == strip(before)
    assert "perturb" in after.run.stages_run


def test_the_stage_refuses_a_run_without_predictions(tmp_path: Path) -> None:
    assert main(["-q", "perturb", str(tmp_path)]) != EXIT_OK


def test_report_shows_heat_map_curves_and_a_synthetic_contact_sheet(planted_run: Path) -> None:
    from faceaudit.report import render_html

    html = render_html(AuditResult.load(planted_run / "audit.json"))
    assert 'id="robustness"' in html
    assert "extra accuracy drop against the rest, per perturbation" in html
    # 2 families x 3 attributes, each in alt text and caption.
    assert html.count("accuracy against severity for each") == 2 * 3 * 2
    assert "drawn on a synthetic face, not an audited image" in html


def test_one_question_per_image_covers_every_task_equally() -> None:
    from collections import Counter

    from faceaudit.data.records import McqItem
    from faceaudit.perturb.stage import _rotate, _shuffled

    tasks = ("age", "gender", "helmet", "skin_tone_group")
    images = [f"img{i}" for i in range(40)]
    asked = Counter()
    for rank, image_id in enumerate(_shuffled(images, seed=0)):
        items = [McqItem(item_id=f"{image_id}-{t}", image_ids=[image_id], image_paths=["x.png"], task=t,
                         question="?", options=["a", "b"], answer="A") for t in reversed(tasks)]
        chosen = _rotate(items, 1, rank)
        assert len(chosen) == 1
        asked[chosen[0].task] += 1
    assert asked == {t: 10 for t in tasks}
    assert _shuffled(images, seed=0) == _shuffled(list(reversed(images)), seed=0) != _shuffled(images, seed=1)


def test_relative_corruption_error_against_a_baseline_audit(planted_run: Path, tmp_path: Path) -> None:
    # The run itself as its own baseline: the lighting family loses exactly as much (1.0 overall
    # and in every group); the occlusion family lost nothing in either, so its ratio is undefined.
    import math
    import shutil

    baseline = shutil.copy(planted_run / "audit.json", tmp_path / "baseline.json")
    assert main(["-q", "perturb", str(planted_run), "--set", f"gate.baseline={baseline}"]) == EXIT_OK
    robustness = AuditResult.load(planted_run / "audit.json").robustness
    rce = robustness.relative_corruption_error
    assert rce["lighting"].value == pytest.approx(1.0)
    assert all(v.value == pytest.approx(1.0) for k, v in rce.items() if k.startswith("lighting:"))
    assert "lighting:skin_tone_group=dark" in rce and math.isnan(rce["occlusion"].value)
    assert any("Relative corruption error against the baseline audit" in n for n in robustness.method_notes)


def test_relative_corruption_error_hand_values() -> None:
    from types import SimpleNamespace as NS

    from faceaudit.perturb.analysis import relative_corruption_error

    def info(name, family):
        return NS(name=name, family=family, severities=[{"a": 1}, {"a": 2}])

    def section(drops, dark_drops):
        conditions = [NS(perturbation=p, severity=s + 1, drop=NS(value=d), n_images=100)
                      for p, ds in drops.items() for s, d in enumerate(ds)]
        groups = [NS(perturbation=p, severity=s + 1, attribute="skin", group="dark", drop=NS(value=d), n_images=40)
                  for p, ds in dark_drops.items() for s, d in enumerate(ds)]
        return NS(severities=[1, 2], perturbations=[info("A", "lighting"), info("B", "lighting"), info("C", "occlusion")],
                  conditions=conditions, groups=groups)

    candidate = section({"A": [0.1, 0.2], "B": [0.05, 0.05], "C": [0.0, 0.1]},
                        {"A": [0.2, 0.2], "B": [0.1, 0.1], "C": [0.0, 0.0]})
    baseline = section({"A": [0.1, 0.1], "B": [0.1, 0.1], "C": [0.0, 0.0]},
                       {"A": [0.1, 0.1], "B": [0.1, 0.1], "C": [0.05, 0.05]})
    values, notes = relative_corruption_error(candidate, baseline)
    assert values["lighting"].value == pytest.approx((0.3 / 0.2 + 0.1 / 0.2) / 2)  # 1.0
    assert values["lighting:skin=dark"].value == pytest.approx((0.4 / 0.2 + 0.2 / 0.2) / 2)  # 1.5
    assert values["occlusion:skin=dark"].value == 0.0 and values["lighting:skin=dark"].n == 40
    import math

    assert math.isnan(values["occlusion"].value) and math.isnan(values["lighting"].lower)
    assert any("undefined (NaN)" in n for n in notes)


def test_the_in_run_baseline_answers_the_same_perturbed_images_and_the_regression_is_named(tmp_path: Path) -> None:
    """Candidate and baseline are equally accurate on clean faces and both lose 3 points per
    severity under lighting, except that the candidate loses 6 on dark skin: only that group's
    robustness got worse, paired on the same images; `faceaudit perturb` gives the same changes."""
    config = load_config(overrides=[
        "dataset.synthetic.n=300", "dataset.synthetic.image_size=32", "train.enabled=false",
        "evaluate.backend=simulated", "evaluate.n_boot=100", "evaluate.simulated_accuracy={default: 0.9}",
        "evaluate.simulated_perturbation_drop={default: 0.03, 'family=lighting&skin_tone_group=dark': 0.06}",
        "perturb.perturbations=[underexposure]", "perturb.max_images=null", "perturb.questions_per_image=null",
        "baseline.enabled=true", "baseline.evaluate={model: base-sim, simulated_perturbation_drop: {default: 0.03}}",
        "report.enabled=false", f"output_dir={tmp_path}", "run_id=paired",
    ])
    result = run_audit(config, progress=False).result
    run_dir = tmp_path / "paired"
    comparison = result.robustness.baseline_comparison
    assert comparison.baseline_model == "base-sim" and comparison.baseline_audit == "baseline/audit.json"
    changes = {c.name: c for c in comparison.changes}
    worse = [name for name, c in changes.items() if c.direction == "worse"]
    assert "lighting:skin_tone_group=dark" in worse
    assert all(changes[f"lighting:skin_tone_group={t}"].change.value == 0.0 for t in ("light", "medium"))
    # The baseline's own robustness section, on the same images, is stored with its audit.
    baseline = AuditResult.load(run_dir / "baseline" / "audit.json")
    assert baseline.robustness.model == "base-sim" and "perturb" in baseline.run.stages_run
    assert baseline.robustness.n_items == result.robustness.n_items
    assert [c.name for c in baseline.robustness.conditions] == [c.name for c in result.robustness.conditions]
    assert result.robustness.relative_corruption_error["lighting:skin_tone_group=dark"].value > 1.5
    # The report names the regression in words above the paired table of every change.
    page = render_html(AuditResult.load(run_dir / "audit.json"))
    paired = page.split('id="robustness-baseline"', 1)[1].split("<h3>", 1)[0]
    less = paired.split("Less robust than the baseline: ", 1)[1].split("</li>", 1)[0]
    assert "lighting: skin_tone_group=dark" in less and "skin_tone_group=light" not in less
    assert "More robust than the baseline: no family or group" in paired
    folded = len(comparison.changes) > BASELINE_ROWS_SHOWN  # the rest fold into a second table
    assert paired.count("<tr") == (2 if folded else 1) + len(comparison.changes)  # headers, one row per change
    # Run again alone on the finished run (stored answers resumed): the same comparison.
    judged = next(c for c in result.gate.checks if c.id == "no-group-worse-than-baseline")
    assert judged.verdict != "SKIPPED"
    assert main(["-q", "perturb", str(run_dir)]) == EXIT_OK
    again = AuditResult.load(run_dir / "audit.json")
    assert again.robustness.baseline_comparison == comparison
    # The verdict re-judged after `faceaudit perturb`, and by `faceaudit gate` on the stored audit,
    # still compares with the in-run baseline (it used to skip that check: "no baseline given").
    assert next(c for c in again.gate.checks if c.id == judged.id).verdict == judged.verdict
    main(["-q", "gate", str(run_dir / "audit.json")])
    gated = AuditResult.load(run_dir / "audit.json")
    assert next(c for c in gated.gate.checks if c.id == judged.id).verdict == judged.verdict
