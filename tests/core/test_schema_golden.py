"""The audit.json contract: a golden document, its JSON schema, NaN kept as NaN."""

from __future__ import annotations

import json
import math

import pytest
from tests_support import PROJECT_ROOT

from faceaudit.schema import SCHEMA_VERSION, AuditResult

FIXTURES = PROJECT_ROOT / "tests" / "fixtures"
REGENERATE = "python tests/fixtures/make_golden.py runs/<run-id>/audit.json"


def test_golden_audit_validates_and_round_trips_exactly() -> None:
    text = (FIXTURES / "audit_golden.json").read_text()
    result = AuditResult.load(FIXTURES / "audit_golden.json")
    assert result.schema_version == SCHEMA_VERSION
    for section in ("dataset", "corpus", "training", "evaluation", "robustness", "gate"):
        assert getattr(result, section) is not None, f"the golden file must exercise {section}"
    assert result.to_json() + "\n" == text


def test_schema_is_unchanged_unless_the_version_is_bumped() -> None:
    snapshot = json.loads((FIXTURES / "audit_schema.json").read_text())
    current = json.loads(json.dumps(AuditResult.model_json_schema(), sort_keys=True))
    assert current == snapshot, (
        f"AuditResult's schema changed. If that is deliberate, bump SCHEMA_VERSION when old files "
        f"can no longer be read, then regenerate the fixtures: {REGENERATE}"
    )


def test_nan_stays_nan_through_save_and_load(tmp_path) -> None:
    result = AuditResult.load(FIXTURES / "audit_golden.json")
    task = result.evaluation.tasks[0]
    estimate = task.overall["accuracy"]
    task.overall["accuracy"] = estimate.model_copy(update={"value": math.nan, "lower": math.nan})
    path = result.save(tmp_path / "audit.json")
    assert '"value": NaN' in path.read_text()
    again = AuditResult.load(path)
    assert math.isnan(again.evaluation.tasks[0].overall["accuracy"].value)
    assert not again.evaluation.tasks[0].overall["accuracy"].is_defined


def test_unsupported_schema_version_is_refused_with_a_clear_message(tmp_path) -> None:
    data = json.loads((FIXTURES / "audit_golden.json").read_text().replace("NaN", "null"))
    data["schema_version"] = "0"
    path = tmp_path / "old.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ValueError, match=r"schema_version '0' is not supported \(this faceaudit reads '2'\)"):
        AuditResult.load(path)


def test_a_misspelt_field_is_an_error_not_silently_dropped(tmp_path) -> None:
    text = (FIXTURES / "audit_golden.json").read_text().replace('"provenance": {', '"provenance": {"extra_field": 1,', 1)
    path = tmp_path / "typo.json"
    path.write_text(text)
    with pytest.raises(ValueError, match="extra_field"):
        AuditResult.load(path)


def test_the_golden_audit_renders_as_a_report(tmp_path) -> None:
    # Any valid audit.json must render, including one whose lists were trimmed by hand.
    from faceaudit.report import render_report

    path = render_report(AuditResult.load(FIXTURES / "audit_golden.json"), tmp_path / "report.html")
    html = path.read_text()
    assert 'id="robustness"' in html and "</html>" in html
