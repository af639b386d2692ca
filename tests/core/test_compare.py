"""`faceaudit compare`: paired per-group changes between two audits of the same items.

The simulated backend draws each item's answer from a uniform number fixed by the item and
the seed, so two simulated models that differ only for dark-skinned faces answer every other
item identically: the comparison must show exactly zero change elsewhere, and for the dark
group exactly the items the harm flipped, counted here by hand from the two prediction files.
"""

from __future__ import annotations

import html
import json
from pathlib import Path

import pytest

from faceaudit.cli import main
from faceaudit.compare import compare_audits
from faceaudit.config import load_config
from faceaudit.errors import InputError
from faceaudit.pipeline import run_audit
from faceaudit.report import render_html
from faceaudit.schema import AuditResult
from faceaudit.store import read_jsonl

FAST = [
    "dataset.synthetic.n=400",
    "dataset.synthetic.image_size=32",
    "corpus.enabled=false",
    "train.enabled=false",
    "perturb.enabled=false",
    "report.enabled=false",
    "gate.enabled=false",
    "evaluate.backend=simulated",
    "evaluate.n_boot=100",
    "evaluate.intersections=false",
]


@pytest.fixture(scope="module")
def audits(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    root = tmp_path_factory.mktemp("compare")
    for run_id, accuracy in (("base", "{default: 0.85}"),
                             ("cand", "{default: 0.85, skin_tone_group=dark: 0.45}")):
        run_audit(load_config(overrides=[*FAST, f"output_dir={root}", f"run_id={run_id}",
                                         f"evaluate.simulated_accuracy={accuracy}"]), progress=False)
    run_audit(load_config(overrides=[*FAST, f"output_dir={root}", "run_id=fewer", "dataset.limit=300"]),
              progress=False)
    return root / "base", root / "cand", root / "fewer"


def _flipped(base: Path, cand: Path, task: str) -> tuple[int, int, int]:
    """(items of dark faces in the task, correct only in base, correct only in cand)."""
    def rows(run: Path) -> dict[str, dict]:
        return {r["item_id"]: r for r in read_jsonl(run / "evaluate" / "predictions-scoring.jsonl") if r["task"] == task}

    a, b = rows(base), rows(cand)
    dark = [k for k, r in a.items() if r["skin_tone_group"] == "dark"]
    return (len(dark), sum(a[k]["correct"] and not b[k]["correct"] for k in dark),
            sum(b[k]["correct"] and not a[k]["correct"] for k in dark))


def test_the_harmed_group_got_worse_by_exactly_the_flipped_items_and_nobody_else_changed(audits) -> None:
    base, cand, _ = audits
    comparison = compare_audits(AuditResult.load(base / "audit.json"), AuditResult.load(cand / "audit.json"))
    assert not comparison.not_compared
    tasks = {g.task for g in comparison.changes}
    assert len(tasks) >= 2
    for task in tasks:
        n, only_a, only_b = _flipped(base, cand, task)
        dark = next(g for g in comparison.changes if g.task == task and g.labels == ["dark"])
        assert dark.n == n and dark.change.value == pytest.approx((only_b - only_a) / n)
        assert dark.change.method == "newcombe-paired" and dark.change.upper < 0
        assert dark.accuracy_b - dark.accuracy_a == pytest.approx(dark.change.value)
        for g in comparison.changes:
            if g.task == task and g.attributes == ["skin_tone_group"] and g.labels != ["dark"]:
                assert g.change.value == 0 and g.direction == "no clear change"
    worse = {(g.task, g.group) for g in comparison.changes if g.direction == "worse"}
    assert {(t, "skin_tone_group=dark") for t in tasks} <= worse
    assert all(g.labels == ["dark"] or g.group == "all items" or g.attributes != ["skin_tone_group"]
               for g in comparison.changes if g.direction == "worse")
    assert not any(g.direction == "better" for g in comparison.changes)
    assert comparison.n_tests == sum(1 for g in comparison.changes if g.change.p_value is not None)


def test_cli_writes_markdown_html_and_json_and_names_who_got_worse(audits, tmp_path: Path, capsys) -> None:
    base, cand, _ = audits
    code = main(["compare", str(base / "audit.json"), str(cand / "audit.json"), "--markdown",
                 str(tmp_path / "c.md"), "--html", str(tmp_path / "c.html"), "--json", str(tmp_path / "c.json")])
    assert code == 0
    out = capsys.readouterr().out
    worse_line = next(line for line in out.splitlines() if line.startswith("- Got worse:"))
    # Other groups that hold dark faces (gender=female ...) got worse too; other skin tones did not.
    named = {part.split(" (")[0].split(": ")[-1] for part in worse_line.split("; ")}
    assert "skin_tone_group=dark" in named
    assert not any(n.startswith("skin_tone_group=") and n != "skin_tone_group=dark" for n in named)
    assert "- Got better: no group" in out
    assert (tmp_path / "c.md").read_text() == out
    html = (tmp_path / "c.html").read_text()
    assert 'id="comparison"' in html and "skin_tone_group=dark" in html and "<script" not in html
    stored = json.loads((tmp_path / "c.json").read_text())
    assert {c["direction"] for c in stored["changes"]} == {"worse", "no clear change"}


def test_audits_of_different_items_are_not_paired(audits) -> None:
    base, _, fewer = audits
    comparison = compare_audits(AuditResult.load(base / "audit.json"), AuditResult.load(fewer / "audit.json"))
    assert comparison.changes == [] and comparison.n_tests == 0
    assert all("asked different items" in reason for reason in comparison.not_compared)
    assert comparison.headline()[0].startswith("Got worse: no group")


def test_different_sensitive_attributes_are_refused(audits) -> None:
    base, cand, _ = audits
    a, b = AuditResult.load(base / "audit.json"), AuditResult.load(cand / "audit.json")
    b.evaluation.sensitive_attributes = ["gender"]
    with pytest.raises(InputError, match="stratify by different attributes"):
        compare_audits(a, b)


def test_run_with_a_baseline_evaluates_both_compares_and_gates_and_compare_agrees(tmp_path: Path) -> None:
    from faceaudit.compare import Comparison

    config = load_config(overrides=[
        *[o for o in FAST if not o.startswith("gate.")], f"output_dir={tmp_path}", "run_id=both",
        "evaluate.simulated_accuracy={default: 0.85, skin_tone_group=dark: 0.45}",
        "baseline.enabled=true", "baseline.evaluate={simulated_accuracy: {default: 0.85}, model: base-sim}",
    ])
    result = run_audit(config, progress=False).result
    run_dir = tmp_path / "both"
    assert "baseline" in result.run.stages_run
    baseline = AuditResult.load(run_dir / "baseline" / "audit.json")
    assert baseline.evaluation.model == "base-sim" and result.evaluation.model == "simulated"
    stored = Comparison.model_validate_json((run_dir / "comparison.json").read_text())
    again = compare_audits(baseline, AuditResult.load(run_dir / "audit.json"),
                           a_name="baseline/audit.json", b_name="audit.json")
    assert stored == again
    # The same comparison is a section of audit.json, and the audit's own report prints it.
    assert AuditResult.load(run_dir / "audit.json").comparison == stored
    page = render_html(AuditResult.load(run_dir / "audit.json"))
    section = page.split('<section id="comparison"', 1)[1].split("</section>", 1)[0]
    for line in stored.headline():
        assert html.escape(line) in section
    assert section.count('<tr class="change-') == len(stored.changes)
    assert "skin_tone_group=dark" in (run_dir / "comparison.md").read_text().split("Got better")[0]
    assert 'id="comparison"' in (run_dir / "comparison.html").read_text()
    # The gate's regression check judged the candidate against the in-run baseline, paired.
    check = next(c for c in result.gate.checks if c.id == "no-group-worse-than-baseline")
    assert check.verdict == "FAIL"
    assert any(w.stage == "baseline" for w in result.warnings)
