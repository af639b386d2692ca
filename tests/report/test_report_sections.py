"""The report's reliability diagrams, limit lines on the robustness charts, and the contamination
and prompt-sensitivity sections: present with plain sentences derived from the stored numbers
when the audit has them, and a true sentence (or a "not tested" entry) when it does not."""

from __future__ import annotations

import base64
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "gate"))
import audit_factory as f  # noqa: E402
from tests_support import PROJECT_ROOT  # noqa: E402

from faceaudit.evaluate.metrics import build_evaluation_section  # noqa: E402
from faceaudit.gate import evaluate_gate, load_policy  # noqa: E402
from faceaudit.report import render_html  # noqa: E402
from faceaudit.schema import AuditResult  # noqa: E402
from faceaudit.stats.simulate import simulate_predictions  # noqa: E402

GOLDEN = PROJECT_ROOT / "tests" / "fixtures" / "audit_golden.json"


def _svgs(html: str) -> dict[str, str]:
    """Alt text -> decoded SVG of every chart in the page."""
    found = re.findall(r'<img src="data:image/svg\+xml;base64,([^"]+)" alt="([^"]*)"', html)
    return {alt: base64.b64decode(uri).decode("utf-8") for uri, alt in found}


def _limit_line_x(svg: str) -> float | None:
    """x of the dashed vertical vermillion line interval_chart draws at the policy limit, if any."""
    found = re.search(r'<path d="M ([\d.]+) [\d.]+\s+L \1 [\d.]+\s*"[^>]*stroke-dasharray[^>]*stroke: #d55e00', svg)
    return float(found.group(1)) if found else None


def _section(html: str, name: str) -> str:
    start = html.index(f'<section id="{name}"')
    return html[start: html.index("</section>", start)]


def _simulated_audit(*, probabilities: bool = True) -> AuditResult:
    frame = simulate_predictions({"race": ["A", "B", "C"]}, 150, gaps={"race": {"B": -0.2}}, task="gender",
                                 classes=["Male", "Female"], seed=3)
    if not probabilities:
        frame["option_probs"] = None
    evaluation = build_evaluation_section(frame, model="m", mode="scoring" if probabilities else "generation",
                                          sensitive_attributes=["race"], n_boot=50, min_group_n=30)
    return f.audit(tasks=[]).model_copy(update={"evaluation": evaluation})


def test_reliability_diagram_of_the_worst_calibrated_groups():
    result = _simulated_audit()
    task = result.evaluation.tasks[0]
    worst = sorted((g for g in task.groups if not g.small_group), key=lambda g: -g.metrics["ece"].value)
    html = render_html(result)
    evaluation = _section(html, "evaluation")
    assert "<h4>Calibration</h4>" in evaluation and "No reliability diagram" not in evaluation
    assert "each point is one of 10 equal-width confidence bins" in evaluation
    (alt, svg), = [(a, s) for a, s in _svgs(evaluation).items() if "worst-calibrated" in a]
    # the 3 groups, largest ECE first, each named in words with its ECE; the diagonal and the counts
    assert alt.startswith("When asked the person&#39;s gender: the 3 worst-calibrated group(s)")
    names = [f"{g.labels[0]} people: ECE {g.metrics['ece'].value:.3g}" for g in worst]
    assert [alt.index(n) for n in names] == sorted(alt.index(n) for n in names)
    assert "perfectly calibrated" in svg and "all items" in svg
    texts = re.findall(r">([^<>]+)</text>", svg)
    # every non-empty bin's count is written above its bar, panel by panel
    counts = [t for t in texts if re.fullmatch(r"[\d,]+", t) and t not in {"0", "1"}]
    assert counts == [f"{c:,}" for g in worst for c in g.calibration.counts if c]


def test_without_option_probabilities_a_sentence_says_why_there_is_no_diagram():
    html = render_html(_simulated_audit(probabilities=False))
    evaluation = _section(html, "evaluation")
    assert ("No reliability diagram: none of the answers to this task came with option probabilities "
            "(generation mode), so the model&#39;s confidence, and with it calibration, could not be measured."
            ) in evaluation
    assert not any("worst-calibrated" in alt for alt in _svgs(evaluation))


def test_robustness_charts_draw_the_limit_the_gate_applied():
    from faceaudit.report.robustness import curve_area_chart, extra_drop_chart

    result = AuditResult.load(GOLDEN)
    gate = evaluate_gate(result, load_policy(None))
    section = result.model_dump(mode="python")["robustness"]
    worst = sorted(section["groups"], key=lambda g: -g["interaction"]["value"])

    def svg(chart):
        return base64.b64decode(chart.uri.split(",", 1)[1]).decode("utf-8")

    # robustness-extra-drop-10-points (at most +0.10) and robustness-curve-area-vs-rest (at least -0.05)
    for drawn, label in ((svg(extra_drop_chart(worst, gate)), "policy limit 10"),
                         (svg(curve_area_chart(section, gate)), "policy limit -5")):
        x = _limit_line_x(drawn)
        assert x is not None and "dashed: the policy's limit" in drawn
        assert re.search(rf'x="{x:.6f}"[^>]*> {label}</text>', drawn), "the label sits on the line"
    # without a verdict nothing was judged: no line, and the axis says so
    drops = svg(extra_drop_chart(worst, None))
    assert "> policy limit" not in drops and _limit_line_x(drops) is None and "no policy limit applied" in drops
    # a check that judged only some of the plotted values draws no line either
    partial = gate.model_copy(deep=True)
    check = next(c for c in partial.checks if c.id == "robustness-extra-drop-10-points")
    check.targets = [t for t in check.targets if t.path == f"robustness.groups[{worst[0]['name']}].interaction"]
    shown = svg(extra_drop_chart(worst[:12], partial))
    assert _limit_line_x(shown) is None and "no policy limit applied" not in shown  # a limit did apply, to one row
    assert "limit is not drawn" in shown
    # a second check judging the same values at another limit: no line, and no claim that none applied
    two = gate.model_copy(deep=True)
    stricter = next(c for c in two.checks if c.id == "robustness-extra-drop-10-points").model_copy(deep=True)
    stricter.id, stricter.limit = "stricter-copy", 0.05
    for target in stricter.targets:
        target.limit = None
    two.checks.append(stricter)
    shown = svg(extra_drop_chart(worst[:12], two))
    assert _limit_line_x(shown) is None and "limit is not drawn" in shown
    # the interval level is the section's own
    assert "(90% interval, unadjusted)" in svg(extra_drop_chart(worst[:12], None, confidence=0.9))


def _estimate(k: int, n: int) -> dict:
    from faceaudit.stats.proportions import proportion_estimate

    return proportion_estimate(k, n).model_dump()


def _contamination(*, clean: bool, contaminated: int = 3) -> dict:
    groups = [{"attribute": "race", "label": "A", "n_images": 100, "n_contaminated": contaminated,
               "rate": _estimate(contaminated, 100)},
              {"attribute": "race", "label": "B", "n_images": 100, "n_contaminated": 0, "rate": _estimate(0, 100)}]
    section = {
        "corpus": "corpus/corpus.jsonl", "corpus_sha256": "b" * 64, "trained_on_corpus": True,
        "method": "file and pixel SHA-256, perceptual hash within 4 and thumbnail within 6",
        "phash_max_distance": 4, "thumbnail_max_difference": 6.0, "n_eval_images": 200, "n_corpus_images": 50,
        "n_corpus_images_missing": 0, "n_exact_file": contaminated - 1 if contaminated else 0,
        "n_exact_pixels": 0, "n_near": 1 if contaminated else 0, "n_contaminated_images": contaminated,
        "n_contaminated_items": 2 * contaminated, "rate": _estimate(contaminated, 200), "groups": groups,
    }
    if clean:
        section["clean"] = [{
            "task": "gender", "n_items": 400, "n_excluded": 2 * contaminated, "overall_clean": _estimate(300, 394),
            "groups": [{"attribute": "race", "label": "A", "all_items": _estimate(160, 200),
                        "clean_items": _estimate(154, 194), "n_excluded": 2 * contaminated},
                       {"attribute": "race", "label": "B", "all_items": _estimate(146, 200),
                        "clean_items": _estimate(146, 200), "n_excluded": 0}],
        }]
    return section


def _sensitivity(*, flagged: bool) -> dict:
    def group(label, k, vs_rest, p_adj, flag):
        est = _estimate(k, 100)
        rest = {**_estimate(k, 100), "value": vs_rest, "lower": vs_rest - 0.1, "upper": vs_rest + 0.1,
                "null_value": 0.0, "p_value": p_adj / 2}
        return {"attribute": "race", "label": label, "n_items": 100, "consistency": est, "consistency_vs_rest": rest,
                "p_adjusted": p_adj, "accuracy_by_variant": {"q0o0": 0.8, "q1o1": 0.6}, "accuracy_spread": 0.2,
                "flagged": flag}
    return {
        "model": "m", "mode": "scoring", "n_items": 200, "paraphrases": 2, "option_orders": 2,
        "variants": ["q0o0", "q0o1", "q1o0", "q1o1"], "overall_consistency": _estimate(150, 200),
        "accuracy_by_variant": {"q0o0": _estimate(160, 200), "q0o1": _estimate(150, 200),
                                "q1o0": _estimate(140, 200), "q1o1": _estimate(120, 200)},
        "accuracy_original_order": _estimate(300, 400), "accuracy_shuffled_order": _estimate(270, 400),
        "groups": [group("A", 90, 0.3, 0.001, False), group("B", 60, -0.3, 0.001 if flagged else 0.4, flagged)],
        "flagged": ["race=B"] if flagged else [],
    }


def test_contamination_section_in_plain_sentences():
    result = f.audit(tasks=[f.fair_task()], contamination=_contamination(clean=True))
    html = render_html(result)
    section = _section(html, "contamination")
    assert ("3 of the 200 evaluation images (1.5%, 95% interval 0.5% to 4.3%) were found among the 50 images of "
            "the corpus this run trained on (corpus/corpus.jsonl): 2 as the same file, 1 as a near copy "
            "(re-encoded or resized). 6 evaluation questions ask about them.") in section
    assert "Accuracy recomputed on the questions whose images are not in the corpus, for 1 task (gender)" in section
    assert "gender: 6 questions of 400 left out; accuracy without them 76.1%" in section
    # per group: A people first (the only contaminated group), with both accuracies
    rows = re.findall(r'<tr><th scope="row">([^<]+)</th>', section)
    assert rows[:2] == ["A people", "B people"]
    page_one = html[html.index('class="page-one"'): html.index('id="h-signoff"')]
    assert "Training images in the evaluation" in page_one and "3 of 200 evaluation images found in the training corpus" in page_one
    assert "<li>contamination:" not in page_one


def test_contamination_without_recomputation_says_why_from_the_config():
    result = f.audit(tasks=[f.fair_task()], contamination=_contamination(clean=False))
    result.run.config = {"contamination": {"recompute_clean": False}}
    section = _section(render_html(result), "contamination")
    assert ("Accuracy was not recomputed without these images: the run&#39;s settings turned it off "
            "(contamination.recompute_clean: false).") in section
    # The section's own record wins over a config stored later by another command (after a merge).
    carried = f.audit(tasks=[f.fair_task()], contamination=_contamination(clean=False))
    carried.run.config = {"contamination": {"recompute_clean": True}}
    carried.contamination.clean_skipped = "turned_off"
    assert "turned it off (contamination.recompute_clean: false)" in _section(render_html(carried), "contamination")
    carried.contamination.clean_skipped = "no_evaluation"
    assert "the evaluation was not available when the check ran" in _section(render_html(carried), "contamination")
    clean = f.audit(tasks=[f.fair_task()], contamination=_contamination(clean=True, contaminated=0))
    section = _section(render_html(clean), "contamination")
    assert "None of the 200 evaluation images was found among the 50 images of the corpus this run trained on" in section
    assert "No evaluation question asks about an image found in the corpus" in section
    no_eval = f.audit(drop=("evaluation",), contamination=_contamination(clean=False))
    assert "this audit has no evaluation." in _section(render_html(no_eval), "contamination")


def test_sensitivity_section_names_the_flagged_groups():
    html = render_html(f.audit(tasks=[f.fair_task()], sensitivity=_sensitivity(flagged=True)))
    section = _section(html, "sensitivity")
    assert ("The model answered 200 evaluation questions again in up to 2 wordings × 2 option orders (up to 4 "
            "versions of each question, fewer where its task has fewer wordings; scoring mode). 75.0% of the questions "
            "got the same answer in every version") in section
    assert ("Accuracy ranged from 60.0% (another wording (1), options shuffled (1)) to 80.0% (the question&#39;s own "
            "wording, options in the evaluation&#39;s order): a spread of 20 points.") in section
    assert "with them shuffled, for 67.5%" in section
    assert ("Flagged: B people. Their answers stay the same less often than everyone else&#39;s, significantly "
            "after Holm&#39;s correction over all 2 groups.") in section
    assert re.search(r'<th scope="row">B people</th>.*?<strong>yes</strong>', section, re.S)
    page_one = html[html.index('class="page-one"'): html.index('id="h-signoff"')]
    assert "200 questions asked in up to 4 versions; 75.0% answered the same every time; 1 group flagged" in page_one
    # A version that lacks a task's questions (it has fewer wordings) is said to be another question set.
    uneven = f.audit(tasks=[f.fair_task()], sensitivity=_sensitivity(flagged=True))
    uneven.sensitivity.accuracy_by_variant["q1o1"] = uneven.sensitivity.accuracy_by_variant["q1o1"].model_copy(
        update={"n": 150})
    assert ("a spread of 20 points, over different sets of questions (150 and 200 answers: tasks with fewer "
            "wordings are not in every version), so part of it can be the mix of tasks.") in _section(
                render_html(uneven), "sensitivity")
    calm = _section(render_html(f.audit(tasks=[f.fair_task()], sensitivity=_sensitivity(flagged=False))), "sensitivity")
    assert "No group was flagged" in calm and "Flagged:" not in calm


def test_absent_sections_are_listed_as_not_tested_and_not_drawn():
    html = render_html(f.audit(tasks=[f.fair_task()]))
    assert 'id="contamination"' not in html and 'id="sensitivity"' not in html
    for stage in ("contamination:", "sensitivity: whether answers change with the wording", "robustness:"):
        assert f"<li>{stage}" in html


def _accuracy_chart(result: AuditResult) -> str:
    judged = result.model_copy(update={"gate": evaluate_gate(result, load_policy(None))})
    charts = _svgs(_section(render_html(judged), "evaluation"))
    (svg,) = [svg for alt, svg in charts.items() if alt.startswith("Accuracy on &#39;gender&#39; by race")]
    return svg


def test_a_chance_corrected_floor_is_drawn_on_the_accuracy_scale_or_not_at_all():
    # worst-group-accuracy-floor: 0.5 on the chance-corrected scale. With 2 options (chance 0.5) the
    # gate stores each target's accuracy limit, 0.5 + 0.5 * (1 - 0.5) = 0.75: that is the line.
    task = f.fair_task()
    task["chance_accuracy"] = 0.5
    svg = _accuracy_chart(f.audit(tasks=[task]))
    assert _limit_line_x(svg) is not None and "> policy limit 0.75</text>" in svg
    # Without the task's chance accuracy the targets hold no accuracy limit: the check's 0.5 is on
    # another scale, so no line (it would read as a 50% floor).
    svg = _accuracy_chart(f.audit(tasks=[f.fair_task()]))
    assert _limit_line_x(svg) is None and "policy limit" not in svg


def test_reliability_diagram_keeps_hostile_labels_as_text():
    import xml.etree.ElementTree as ET

    from faceaudit.report import charts

    label = "race=$\\frac{1}{0}$ <img src=x>"
    panel = charts.Reliability(label, 0.1, [0] * 8 + [3, 5], [float("nan")] * 8 + [0.85, 0.95],
                               [float("nan")] * 8 + [1 / 3, 0.8])
    chart = charts.reliability_diagram([panel], title=f"When asked {label}")
    svg = base64.b64decode(chart.uri.split(",", 1)[1]).decode("utf-8")
    texts = "".join(ET.fromstring(svg).itertext())
    assert "$\\frac{1}{0}$" in texts and "<img src=x>" in texts
    assert "largest gap in a bin of 3 items, mean confidence 85% and accuracy 33%" in chart.alt
