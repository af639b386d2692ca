"""Policy loading: the shipped default, and errors that name the check and field."""

from __future__ import annotations

import pytest

from faceaudit.gate import PolicyError, load_policy, parse_policy, resolve
from faceaudit.gate.paths import PathError, parse_path
from faceaudit.store import sha256_bytes


def test_default_policy_loads_and_every_threshold_is_justified():
    from importlib import resources

    policy = load_policy(None)
    raw = resources.files("faceaudit.gate").joinpath("policy-default.yaml").read_bytes()
    assert policy.sha256 == sha256_bytes(raw)
    assert policy.source == "built-in default" and policy.version == "2026.2"
    # Every threshold carries its rationale as data (rendered beside the check), not only a comment.
    for check in policy.checks:
        assert check.rationale and len(check.rationale) > 60, f"{check.id} has no rationale"
    assert policy.rationale and "Aequitas" in policy.rationale
    blocking = {c.id: c for c in policy.checks if c.severity == "blocking"}
    assert set(blocking) == {"group-vs-rest-accuracy", "intersection-group-vs-rest-accuracy",
                             "no-group-worse-than-baseline", "corpus-review-done",
                             "robustness-extra-drop-10-points", "no-train-eval-contamination"}
    assert blocking["corpus-review-done"].when_missing == "skip"  # opt-in: scan.review.require
    assert blocking["no-train-eval-contamination"].when_missing == "skip"  # needs a corpus to compare
    assert blocking["group-vs-rest-accuracy"].fail_when == "significant_harm"
    assert not blocking["intersection-group-vs-rest-accuracy"].insufficient_blocks


def test_significant_harm_needs_the_harmful_end():
    message = _bad("""  - id: h
    description: d
    path: evaluation.tasks.*.disparities[kind=group_vs_rest].estimate
    operator: at_least
    limit: -0.1
    side: upper
    fail_when: significant_harm
""")
    assert "with operator 'at_least' use side 'lower'" in message


def _bad(checks: str) -> str:
    with pytest.raises(PolicyError) as error:
        parse_policy(f"name: p\nversion: '1'\nchecks:\n{checks}".encode(), "p.yaml")
    return str(error.value)


def test_error_names_check_and_field():
    message = _bad("""  - id: gap
    description: d
    path: evaluation.tasks.*.disparities.*.estimate
    operator: at_most
    limit: high
    side: upper
""")
    assert "check 'gap' (checks[0]), field 'limit'" in message and "'high'" in message
    assert message.startswith("invalid policy p.yaml:")


def test_misspelt_path_is_rejected_with_the_valid_fields():
    message = _bad("""  - id: typo
    description: d
    path: evaluation.taskz.*.groups
    operator: at_most
    limit: 1
    side: upper
""")
    assert "check 'typo' (checks[0]), field 'path'" in message
    assert "evaluation has no field 'taskz'" in message and "tasks" in message


def test_path_into_a_list_needs_a_wildcard_and_filter_fields_exist():
    assert "is a list; use '*'" in _bad("""  - id: l
    description: d
    path: evaluation.tasks.gender
    operator: at_most
    limit: 1
    side: value
""")
    assert "cannot filter" in _bad("""  - id: f
    description: d
    path: evaluation.tasks[colour=red].n_items
    operator: at_most
    limit: 1
    side: value
""")


def test_unknown_field_duplicate_id_and_missing_checks():
    assert "check 'x' (checks[0]), field 'treshold': unknown field" in _bad("""  - id: x
    description: d
    path: dataset.n_records
    operator: at_least
    limit: 1
    side: value
    treshold: 3
""")
    dup = """  - id: x
    description: d
    path: dataset.n_records
    operator: at_least
    limit: 1
    side: value
"""
    assert "check id 'x' is used twice" in _bad(dup + dup)
    with pytest.raises(PolicyError, match=r"invalid policy p.yaml:\n  checks: List should have at least 1 item"):
        parse_policy(b"name: p\nversion: '1'\nchecks: []\n", "p.yaml")


def test_unreadable_or_non_mapping_policy(tmp_path):
    with pytest.raises(PolicyError, match="cannot read policy"):
        load_policy(tmp_path / "absent.yaml")
    (tmp_path / "list.yaml").write_text("- a\n")
    with pytest.raises(PolicyError, match="top level must be a mapping"):
        load_policy(tmp_path / "list.yaml")


def test_paths_resolve_with_wildcards_filters_and_labels():
    data = {"tasks": [{"task": "age", "groups": [{"name": "A", "v": 1}, {"name": "B", "v": 2}],
                       "d": [{"kind": "ratio", "metric": "acc", "x": 3}, {"kind": "difference", "metric": "acc", "x": 4}]}]}
    matches = resolve(data, "tasks.*.groups.*.v")
    assert [(m.path, m.value, m.labels) for m in matches] == [
        ("tasks[age].groups[A].v", 1, {"tasks": "age", "groups": "A"}),
        ("tasks[age].groups[B].v", 2, {"tasks": "age", "groups": "B"}),
    ]
    assert [m.value for m in resolve(data, "tasks.*.d[kind=difference].x")] == [4]
    assert [m.value for m in resolve(data, "tasks.*.d.*[kind=ratio].x")] == [3]
    assert resolve(data, "tasks.*.missing") == []
    with pytest.raises(PathError, match="cannot read segment"):
        parse_path("tasks..x")
