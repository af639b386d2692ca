"""The gate, check by check, on crafted audit.json documents with hand-chosen numbers."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import audit_factory as f
import pytest

from faceaudit.gate import (
    EXIT_FAIL,
    EXIT_INSUFFICIENT,
    EXIT_PASS,
    evaluate_gate,
    exit_code,
    load_policy,
    markdown_summary,
    parse_policy,
    write_junit,
)
from faceaudit.schema import AuditResult


def policy(*checks: str):
    body = "name: test\nversion: '3'\nchecks:\n" + "".join(checks)
    return parse_policy(body.encode(), "test.yaml")


GAP = """  - id: gap
    description: accuracy gap at most 0.10
    path: evaluation.tasks.*.disparities[kind=difference].estimate
    operator: at_most
    limit: 0.10
    side: upper
    min_n: 30
"""

FLOOR = """  - id: floor
    description: every group at least 0.7
    path: evaluation.tasks.*.groups.*.metrics.accuracy
    operator: at_least
    limit: 0.7
    side: lower
    min_n: 50
"""


def gap_audit(diff):
    return f.audit(tasks=[f.fair_task(diff=diff)])


def only(gate, check_id):
    (check,) = [c for c in gate.checks if c.id == check_id]
    return check


def test_upper_end_below_limit_passes():
    gate = evaluate_gate(gap_audit((0.03, 0.01, 0.08, 600)), policy(GAP))
    check = only(gate, "gap")
    assert (check.verdict, gate.verdict) == ("PASS", "PASS")
    assert (check.value, check.lower, check.upper, check.n) == (0.03, 0.01, 0.08, 600)
    assert "upper end 0.08 is at most 0.1" in check.reason
    assert exit_code(gate, True) == EXIT_PASS == 0


def test_whole_interval_above_limit_fails():
    gate = evaluate_gate(gap_audit((0.20, 0.14, 0.26, 600)), policy(GAP))
    check = only(gate, "gap")
    assert check.verdict == "FAIL" and gate.verdict == "FAIL" and gate.blocks_release
    assert "whole interval lies above the limit 0.1" in check.reason
    assert gate.reason == "1 blocking check failed: gap."
    assert exit_code(gate, True) == EXIT_FAIL == 1
    assert exit_code(gate, False) == EXIT_FAIL


def test_straddling_interval_is_insufficient_never_pass():
    # Point estimate 0.06 is inside the limit, but the upper end 0.13 is not: no pass.
    gate = evaluate_gate(gap_audit((0.06, 0.00, 0.13, 600)), policy(GAP))
    check = only(gate, "gap")
    assert check.verdict == "INSUFFICIENT_EVIDENCE" == gate.verdict
    assert "straddles the limit 0.1" in check.reason
    assert exit_code(gate, True) == EXIT_INSUFFICIENT == 2
    assert exit_code(gate, False) == EXIT_PASS
    assert gate.blocks_release
    assert not evaluate_gate(gap_audit((0.06, 0.0, 0.13, 600)), policy(GAP),
                             insufficient_blocks=False).blocks_release


def test_point_estimate_side_ignores_interval():
    lenient = GAP.replace("side: upper", "side: value")
    gate = evaluate_gate(gap_audit((0.06, 0.00, 0.13, 600)), policy(lenient))
    assert only(gate, "gap").verdict == "PASS"


def test_too_small_group_is_insufficient_and_named():
    tiny = f.task("gender", [f.group("A", (0.9, 0.85, 0.94, 300)), f.group("B", (0.95, 0.76, 0.99, 20))], [])
    gate = evaluate_gate(f.audit(tasks=[tiny]), policy(FLOOR))
    check = only(gate, "floor")
    assert check.verdict == "INSUFFICIENT_EVIDENCE"
    assert check.counts == {"PASS": 1, "INSUFFICIENT_EVIDENCE": 1}
    assert check.worst_path == "evaluation.tasks[gender].groups[race=B].metrics.accuracy"
    assert "n=20, below the minimum sample size 50" in check.reason


def test_wildcard_reports_worst_failing_group():
    groups = [f.group("A", (0.9, 0.85, 0.94, 300)), f.group("B", (0.6, 0.55, 0.65, 300)),
              f.group("C", (0.5, 0.44, 0.56, 300))]
    gate = evaluate_gate(f.audit(tasks=[f.task("age", groups, [])]), policy(FLOOR))
    check = only(gate, "floor")
    assert check.verdict == "FAIL" and check.counts == {"PASS": 1, "FAIL": 2}
    assert check.value == 0.5 and check.worst_path.endswith("groups[race=C].metrics.accuracy")
    assert check.reason.startswith("2 of 3 value(s) fail; worst: task age, group race=C = 0.5")


def test_nan_estimate_is_insufficient():
    nan = float("nan")
    gate = evaluate_gate(gap_audit((nan, nan, nan, 600)), policy(GAP))
    assert only(gate, "gap").verdict == "INSUFFICIENT_EVIDENCE"
    assert "undefined (NaN)" in only(gate, "gap").reason


def test_missing_evaluation_is_insufficient_whatever_the_policy():
    result = f.audit(drop=("evaluation",))
    gate = evaluate_gate(result, load_policy(None))
    assert gate.verdict == "INSUFFICIENT_EVIDENCE"
    assert only(gate, "group-vs-rest-accuracy").reason.startswith(
        "The audit has no evaluation section (that stage did not run)")
    # A policy that only looks at the dataset cannot turn a missing evaluation into PASS.
    dataset_only = policy("""  - id: records
    description: enough records
    path: dataset.n_records
    operator: at_least
    limit: 10
    side: value
""")
    gate = evaluate_gate(result, dataset_only)
    assert only(gate, "records").verdict == "PASS"
    assert gate.verdict == "INSUFFICIENT_EVIDENCE"
    assert any(item.startswith("evaluation:") for item in gate.not_tested)


def test_when_missing_skip_and_fail():
    skip = GAP.replace("min_n: 30", "min_n: 30\n    when_missing: skip").replace("id: gap", "id: skipped")
    fail = GAP.replace("min_n: 30", "min_n: 30\n    when_missing: fail").replace("id: gap", "id: failed")
    gate = evaluate_gate(f.audit(tasks=[f.task("t", [f.group("A", (0.9, 0.8, 0.95, 99))], [])]),
                         policy(skip, fail))
    assert only(gate, "skipped").verdict == "SKIPPED"
    assert only(gate, "failed").verdict == "FAIL"
    assert "no value at evaluation.tasks.*.disparities[kind=difference].estimate" in only(gate, "failed").reason


def test_warning_does_not_block():
    warn = FLOOR.replace("min_n: 50", "min_n: 50\n    severity: warning")
    groups = [f.group("A", (0.6, 0.55, 0.65, 300))]
    gate = evaluate_gate(f.audit(tasks=[f.fair_task(), f.task("x", groups, [])]), policy(GAP, warn))
    assert only(gate, "floor").verdict == "FAIL"
    assert gate.verdict == "PASS" and "1 warning(s)" in gate.reason


def test_count_aggregate_over_filtered_items():
    count = """  - id: significant
    description: no significant disparity
    path: evaluation.tasks.*.disparities[significant=true]
    operator: at_most
    limit: 0
    side: value
    aggregate: count
"""
    significant = f.task("t", [f.group("A", (0.9, 0.8, 0.95, 99))],
                         [f.disparity("difference", (0.2, 0.1, 0.3, 99), p=0.001),
                          f.disparity("error_ratio", (1.3, 0.9, 1.8, 99), p=0.4, group_name="race=A")])
    gate = evaluate_gate(f.audit(tasks=[significant]), policy(count))
    assert only(gate, "significant").value == 1 and only(gate, "significant").verdict == "FAIL"


def test_baseline_delta_uses_mover_interval():
    check = """  - id: regress
    description: no group lost more than 5 points
    path: evaluation.tasks.*.groups.*.metrics.accuracy
    operator: at_least
    limit: -0.05
    side: lower
    against_baseline: true
"""
    base = f.audit(tasks=[f.task("g", [f.group("A", (0.80, 0.76, 0.84, 400))], [])])
    cand = f.audit(tasks=[f.task("g", [f.group("A", (0.70, 0.65, 0.75, 300))], [])])
    gate = evaluate_gate(cand, policy(check), baseline=base)
    result = only(gate, "regress")
    # delta -0.10; lower = -0.10 - sqrt(0.05^2 + 0.04^2); upper = -0.10 + sqrt(0.05^2 + 0.04^2)
    half = (0.05**2 + 0.04**2) ** 0.5
    assert result.value == pytest.approx(-0.10)
    assert result.lower == pytest.approx(-0.10 - half) and result.upper == pytest.approx(-0.10 + half)
    assert result.n == 300 and result.targets[0].baseline_value == 0.80
    assert result.verdict == "INSUFFICIENT_EVIDENCE"  # -0.164 .. -0.036 straddles -0.05
    assert gate.baseline.run_id == base.run.run_id
    # Without a baseline the check is skipped, not passed.
    assert only(evaluate_gate(cand, policy(check)), "regress").verdict == "SKIPPED"


def harmed_audit(vs_rest=(-0.25, -0.32, -0.18, 300), p=1e-9):
    return f.audit(tasks=[f.task("gender", [f.group("A", (0.9, 0.86, 0.93, 300)), f.group("B", (0.65, 0.6, 0.7, 300))],
                                 [f.disparity("group_vs_rest", vs_rest, group_name="race=B", p=p)])])


def test_gate_section_round_trips_through_audit_json(tmp_path):
    result = harmed_audit()
    gate = evaluate_gate(result, load_policy(None))
    stored = result.model_copy(update={"gate": gate})
    stored.save(tmp_path / "audit.json")
    again = AuditResult.load(tmp_path / "audit.json")
    assert again.gate == gate
    assert gate.policy_sha256 == load_policy(None).sha256 and len(gate.policy_sha256) == 64
    # Re-evaluating the stored result needs nothing but the stored result.
    assert evaluate_gate(again, load_policy(None)).verdict == gate.verdict == "FAIL"


def test_junit_has_one_case_per_check_and_matches_exit_code(tmp_path):
    # 6 points worse, not significant, and its lower end misses -0.10: undecided, and the group
    # (n=300) is large enough to be certified, so the check is INSUFFICIENT_EVIDENCE.
    undecided = harmed_audit((-0.06, -0.12, 0.0, 300), p=0.2)
    gate = evaluate_gate(undecided, load_policy(None))
    path = write_junit(gate, tmp_path / "junit.xml")
    suite = ET.parse(path).getroot().find("testsuite")
    cases = {c.get("name"): c for c in suite.findall("testcase")}
    assert list(cases) == [c.id for c in gate.checks]
    assert cases["group-vs-rest-accuracy"].find("failure").get("type") == "INSUFFICIENT_EVIDENCE"
    assert cases["no-group-worse-than-baseline"].find("skipped") is not None
    assert cases["intersection-group-vs-rest-accuracy"].find("skipped") is not None
    # Two skipped checks, plus the corpus-scan, contamination and robustness checks: this audit
    # has none of those sections.
    assert cases["robustness-extra-drop-10-points"].find("skipped") is not None
    assert cases["no-train-eval-contamination"].find("skipped") is not None
    absent = sum(c.path.startswith(("corpus_scan.", "robustness.", "contamination.")) for c in gate.checks)
    assert suite.get("failures") == "1" and suite.get("skipped") == str(2 + absent)
    relaxed = evaluate_gate(undecided, load_policy(None), insufficient_blocks=False)
    suite = ET.fromstring(write_junit(relaxed, tmp_path / "j2.xml").read_bytes()).find("testsuite")
    assert suite.get("failures") == "0"


def test_markdown_summary_lists_every_check_and_escapes_pipes():
    gate = evaluate_gate(harmed_audit(), load_policy(None))
    text = markdown_summary(gate)
    assert text.startswith("## faceaudit gate: FAIL\n")
    rows = [line for line in text.splitlines() if line.startswith("| `")]
    assert len(rows) == len(gate.checks)
    assert rows[0].startswith("| `group-vs-rest-accuracy` | blocking | **FAIL** | -0.25 [-0.32, -0.18] | 300 |")
    assert "- robustness:" in text


def test_the_evaluations_minimum_group_size_is_a_floor_for_its_checks():
    result = f.audit(tasks=[f.task("g", [f.group("A", (0.9, 0.85, 0.94, 80))], [])])
    assert only(evaluate_gate(result, policy(FLOOR)), "floor").verdict == "PASS"  # min_n 50 <= 80
    strict = result.model_copy(update={"evaluation": result.evaluation.model_copy(update={"min_group_n": 100})})
    check = only(evaluate_gate(strict, policy(FLOOR)), "floor")
    assert check.verdict == "INSUFFICIENT_EVIDENCE" and "below the minimum sample size 100" in check.reason


CHANCE_FLOOR = """  - id: kappa-floor
    description: every group at least halfway from chance to perfect
    path: evaluation.tasks.*.groups.*.metrics.accuracy
    operator: at_least
    limit: 0.5
    limit_scale: chance_corrected
    side: lower
"""

CHANCE_GAP = """  - id: kappa-gap
    description: no group more than 10 chance-corrected points below the rest
    path: evaluation.tasks.*.disparities[kind=group_vs_rest].estimate
    operator: at_least
    limit: -0.10
    limit_scale: chance_corrected
    side: lower
    fail_when: significant_harm
"""


def _chance_task(name, chance, accuracy, vs_rest=None):
    t = f.task(name, [f.group("A", accuracy)],
               [f.disparity("group_vs_rest", vs_rest, group_name="race=A")] if vs_rest else [])
    t["chance_accuracy"] = chance
    return t


def test_chance_corrected_floor_means_the_same_for_two_and_four_options():
    # 0.70 [0.66, 0.74]: below the 2-option limit 0.5 + 0.5 x 0.5 = 0.75 (whole interval below:
    # FAIL), above the 4-option limit 0.25 + 0.5 x 0.75 = 0.625 (lower end 0.66: PASS).
    audit = f.audit(tasks=[_chance_task("gender", 0.5, (0.70, 0.66, 0.74, 500)),
                           _chance_task("age", 0.25, (0.70, 0.66, 0.74, 500))])
    check = only(evaluate_gate(audit, policy(CHANCE_FLOOR)), "kappa-floor")
    by_task = {t.labels["tasks"]: t for t in check.targets}
    assert by_task["gender"].verdict == "FAIL" and by_task["gender"].limit == pytest.approx(0.75)
    assert by_task["age"].verdict == "PASS" and by_task["age"].limit == pytest.approx(0.625)
    assert "the policy's 0.5 on the chance-corrected scale; chance is 0.25 for task age" in by_task["age"].reason
    assert check.limit_scale == "chance_corrected"


def test_chance_corrected_gap_scales_the_margin_of_a_comparison():
    # A 2-option task: -0.10 on the kappa scale is -0.05 in accuracy. Lower end -0.07 is not
    # within it, although it would be within the raw -0.10.
    audit = f.audit(tasks=[_chance_task("gender", 0.5, (0.9, 0.87, 0.93, 300), (-0.03, -0.07, 0.01, 300))])
    target = only(evaluate_gate(audit, policy(CHANCE_GAP)), "kappa-gap").targets[0]
    assert target.limit == pytest.approx(-0.05)
    assert target.verdict == "INSUFFICIENT_EVIDENCE"
    assert "is not at least -0.05" in target.reason


def test_chance_corrected_limit_without_chance_is_insufficient_and_says_why():
    audit = f.audit(tasks=[f.task("age", [f.group("A", (0.9, 0.87, 0.93, 300))], [])])
    target = only(evaluate_gate(audit, policy(CHANCE_FLOOR)), "kappa-floor").targets[0]
    assert target.verdict == "INSUFFICIENT_EVIDENCE"
    assert "task age records no chance accuracy" in target.reason


def test_chance_corrected_scale_is_refused_where_it_means_nothing():
    with pytest.raises(Exception, match="limit_scale 'chance_corrected' applies to accuracy"):
        policy(CHANCE_FLOOR.replace("metrics.accuracy", "metrics.invalid_rate"))


def test_chance_corrected_gap_of_another_metric_is_not_scaled():
    t = f.task("gender", [f.group("A", (0.9, 0.87, 0.93, 300))],
               [f.disparity("group_vs_rest", (-0.03, -0.07, 0.01, 300), metric="macro_f1", group_name="race=A")])
    t["chance_accuracy"] = 0.5
    target = only(evaluate_gate(f.audit(tasks=[t]), policy(CHANCE_GAP)), "kappa-gap").targets[0]
    assert target.verdict == "INSUFFICIENT_EVIDENCE"
    assert "is a group_vs_rest of macro_f1, not an accuracy gap" in target.reason
