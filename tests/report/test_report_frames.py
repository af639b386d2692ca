"""AuditResult.to_frame() tables against audit.json, and the Jupyter HTML."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "gate"))
import audit_factory as f  # noqa: E402

from faceaudit.errors import InputError  # noqa: E402
from faceaudit.schema import AuditResult  # noqa: E402

GOLDEN = Path(__file__).resolve().parents[1] / "fixtures" / "audit_golden.json"


def test_frames_match_audit_json():
    raw = json.loads(GOLDEN.read_text())
    result = AuditResult.load(GOLDEN)
    groups = result.to_frame("groups")
    expected = [(t["task"], g["name"], m, e["value"], e["n"])
                for t in raw["evaluation"]["tasks"] for g in t["groups"] for m, e in g["metrics"].items()]
    assert len(groups) == len(expected)
    for row, (task, name, metric, value, n) in zip(groups.itertuples(), expected, strict=True):
        assert (row.task, row.group, row.metric, row.n) == (task, name, metric, n)
        assert row.value == value or (math.isnan(row.value) and math.isnan(value))  # NaN stays NaN
    disparities = result.to_frame("disparities")
    flat = [d for t in raw["evaluation"]["tasks"] for d in t["disparities"]]
    assert len(disparities) == len(flat)
    assert list(disparities.p_adjusted) == [d["p_adjusted"] for d in flat]
    assert list(disparities.kind) == [d["kind"] for d in flat]
    checks = result.to_frame("checks")
    assert list(checks.id) == [c["id"] for c in raw["gate"]["checks"]]
    assert list(checks.verdict) == [c["verdict"] for c in raw["gate"]["checks"]]
    blocking = {c["id"] for c in raw["gate"]["checks"] if c["severity"] == "blocking" and (
        c["verdict"] == "FAIL" or (c["verdict"] == "INSUFFICIENT_EVIDENCE" and c["insufficient_blocks"]))}
    assert set(checks.id[checks.blocks]) == blocking
    targets = result.to_frame("targets")
    assert len(targets) == sum(len(c["targets"]) for c in raw["gate"]["checks"])


def test_absent_sections_give_empty_tables_and_bad_kinds_are_named():
    bare = f.audit(drop=("evaluation",))
    frame = bare.to_frame("disparities")
    assert frame.empty and "p_adjusted" in frame.columns
    assert bare.to_frame("checks").empty
    with pytest.raises(InputError, match="unknown table 'group'.*groups, disparities, checks, targets"):
        bare.to_frame("group")


def test_jupyter_html_shows_verdict_findings_and_worst_groups():
    result = AuditResult.load(GOLDEN)
    html = result._repr_html_()
    assert f"<strong>{result.gate.verdict.replace('_', ' ')}</strong>" in html
    assert "least accurate groups" in html and "<li>When asked" in html
    assert "NOT JUDGED" in f.audit(tasks=[f.fair_task()])._repr_html_()
