"""Page one's plain-language findings: golden sentences from planted gaps, groups in words,
no policy-path syntax on page one."""

from __future__ import annotations

import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "gate"))
import audit_factory as f  # noqa: E402

from faceaudit.gate import evaluate_gate, load_policy  # noqa: E402
from faceaudit.report import render_html  # noqa: E402
from faceaudit.report.findings import group_in_words, has_path_syntax, page_one_findings  # noqa: E402


def planted(vs_rest_black, p_black, *, black=(0.60, 0.54, 0.65, 300)):
    """Race task: White 90% and Black at ``black``; Black vs the rest at ``vs_rest_black``."""
    task = f.task(
        "race",
        [f.group("White", (0.90, 0.87, 0.93, 300)), f.group("Black", black)],
        [f.disparity("group_vs_rest", vs_rest_black, group_name="race=Black", p=p_black),
         f.disparity("group_vs_rest", (-vs_rest_black[0], -vs_rest_black[2], -vs_rest_black[1], 300),
                     group_name="race=White", p=p_black)],
        overall=(0.75, 0.71, 0.78, 600),
    )
    result = f.audit(tasks=[task])
    return result.model_copy(update={"gate": evaluate_gate(result, load_policy(None))})


def test_golden_sentence_for_a_planted_30_point_gap():
    # Black 60% vs the rest (White) 90%: the rest's rate is 0.60 - (-0.30) = 0.90. The gate's Holm
    # family holds both comparisons: one-sided p = 1e-9 / 2, times 2 = 1e-9 < 0.001.
    findings = page_one_findings(planted((-0.30, -0.37, -0.23, 300), 1e-9))
    assert [cf.check.id for cf in findings] == ["group-vs-rest-accuracy"]
    cf = findings[0]
    assert cf.headline == ("“No group of a single sensitive attribute is more than 10 points less accurate "
                           "than the rest” fails: 1 of 2 comparisons.")
    assert [x.sentence for x in cf.findings] == [
        "When asked the person's race, the model is right for 60.0% of Black people and for 90.0% of "
        "everyone else: 30 points lower (95% interval 23 to 37 points lower; n = 300 questions about "
        "Black people); the policy allows at most 10 points below the rest. The harm is beyond the limit "
        "and statistically significant (p < 0.001 after the gate's Holm correction): this fails."
    ]
    assert cf.more == 0 and (cf.findings[0].task, cf.findings[0].group) == ("race", "race=Black")


def test_golden_sentence_when_the_evidence_is_insufficient():
    # Black: 5 points lower, interval 14 lower to 4 higher: straddles the -10 limit, p = 0.3 not
    # significant. White: 5 higher, lower end -4 is within the limit: PASS.
    result = planted((-0.05, -0.14, 0.04, 300), 0.3, black=(0.85, 0.80, 0.89, 300))
    assert result.gate.verdict == "INSUFFICIENT_EVIDENCE"
    (cf,) = page_one_findings(result)
    # 300 items cannot certify a 10-point limit at this spread: the gate says how many would
    black = next(t for t in result.gate.checks[0].targets if t.group == "race=Black")
    assert black.certifiable is False and black.items_to_certify > 300
    assert cf.headline.endswith("cannot be confirmed (insufficient evidence): 1 of 2 comparisons.")
    assert cf.findings[0].sentence == (
        "When asked the person's race, the model is right for 85.0% of Black people and for 90.0% of "
        "everyone else: 5 points lower (95% interval from 14 points lower to 4 points higher; n = 300 "
        "questions about Black people); the policy allows at most 10 points below the rest. The interval "
        "reaches beyond the limit but the harm is not statistically significant; the group would need about "
        f"{black.items_to_certify:,} items to be certified: the "
        "evidence is insufficient."
    )


def test_groups_in_words():
    assert group_in_words(["race", "gender", "age"], ["Latino_Hispanic", "Male", "50-59"]) == \
        "Latino/Hispanic men aged 50-59"
    assert group_in_words(["skin_tone_group", "gender", "age"], ["light", "male", "middle-aged"]) == \
        "light-skinned middle-aged men"
    assert group_in_words(["race", "gender", "age"], ["Black", "Female", "3-9"]) == "Black girls aged 3-9"
    assert group_in_words(["age"], ["more than 70"]) == "people aged over 70"
    assert group_in_words(["gender", "age"], ["female", "child"]) == "girls"
    assert group_in_words(["helmet"], ["yes"]) == "people with helmet yes"


def test_page_one_speaks_without_policy_paths():
    html = render_html(planted((-0.30, -0.37, -0.23, 300), 1e-9))
    page_one = html[html.index('class="page-one"'): html.index('id="h-signoff"')]
    text = re.sub(r"<[^>]*>", " ", page_one.split('id="h-findings"', 1)[1])  # the words, not the markup
    assert "60.0% of Black people" in text and "Why this limit: 10 points is half" in text
    assert not has_path_syntax(text.replace("&amp;", "&")), text
    # the release-checks section below still names the check and the compared group exactly
    gate = html[html.index('id="gate"'):]
    assert '<span class="check-id">group-vs-rest-accuracy</span>' in gate and ">race=Black" in gate
    assert has_path_syntax("disparity accuracy:race:group_vs_rest:race=Black")


def test_a_passing_audit_lists_nothing_that_blocks():
    result = planted((-0.01, -0.05, 0.03, 300), 0.6, black=(0.89, 0.85, 0.92, 300))
    assert result.gate.verdict == "PASS" and page_one_findings(result) == []
    assert "<h3 id=\"h-findings\">What blocks the release</h3>\n  <p>Nothing: every blocking check passed" in render_html(result)


def test_robustness_and_fallback_sentences():
    from faceaudit.report.findings import _sentence
    from faceaudit.schema.gate import CheckResult, TargetResult

    check = CheckResult(id="robustness-extra-drop-10-points", description="No extra drop", severity="blocking",
                        path="robustness.groups.*.interaction", operator="at_most", limit=0.10, side="upper",
                        fail_when="significant_harm", verdict="FAIL", reason="r")
    target = TargetResult(path="robustness.groups[underexposure:3:gender=female].interaction",
                          labels={"groups": "underexposure:3:gender=female"}, value=0.20, lower=0.12,
                          upper=0.28, n=150, verdict="FAIL", reason="r", group="female", p_adjusted=0.002)
    owner = {"perturbation": "underexposure", "severity": 3, "attribute": "gender", "group": "female",
             "interaction": {}, "drop": {"value": 0.25}}
    # the group loses 25 points, everyone else 25 - 20 = 5
    assert _sentence({}, check, target, owner).sentence == (
        "Under underexposure at severity 3, the model loses 25 points of accuracy for women and 5 for everyone "
        "else: 20 points more (95% interval 12 points more to 28 points more; n = 150 images); the policy "
        "allows at most 10 points more than the rest. The harm is beyond the limit and statistically "
        "significant (p = 0.002 after the gate's Holm correction): this fails.")
    # the same target without its owner object: what was measured, in words, still naming the group
    fallback = _sentence({}, check, target, None).sentence
    assert fallback == ("For women the check “No extra drop” measured 0.2 (95% interval 0.12 to 0.28), n = 150; "
                        "the policy requires at most 0.1. The harm is beyond the limit and statistically "
                        "significant (p = 0.002 after the gate's Holm correction): this fails.")
    assert not has_path_syntax(fallback)


def test_a_chance_corrected_limit_is_stated_as_applied_to_the_task():
    # A blocking chance-corrected floor: gender has 2 options (chance 0.5), so 0.5 on the kappa
    # scale is 75% accuracy; 70% [66, 74] fails it and the sentence must say 75%, not 50%.
    from faceaudit.gate import parse_policy

    task = f.task("gender", [f.group("A", (0.70, 0.66, 0.74, 500))], [])
    task["chance_accuracy"] = 0.5
    result = f.audit(tasks=[task])
    policy = parse_policy(b"""name: t
version: '1'
checks:
  - id: kappa-floor
    description: every group halfway from chance to perfect
    path: evaluation.tasks.*.groups.*.metrics.accuracy
    operator: at_least
    limit: 0.5
    limit_scale: chance_corrected
    side: lower
""", "t.yaml")
    result = result.model_copy(update={"gate": evaluate_gate(result, policy)})
    (cf,) = page_one_findings(result)
    sentence = cf.findings[0].sentence
    assert "the policy requires at least 75.0% (the policy's 0.5 on the chance-corrected scale" in sentence
