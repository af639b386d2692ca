"""Report rendering without a browser: escaping, absent sections, atomic single file."""

from __future__ import annotations

import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "gate"))
import audit_factory as f  # noqa: E402

from faceaudit.gate import evaluate_gate, load_policy  # noqa: E402
from faceaudit.report import render_html, render_report  # noqa: E402


def test_audit_without_evaluation_or_gate_says_so(tmp_path):
    result = f.audit(drop=("evaluation",))
    html = render_report(result, tmp_path / "out" / "report.html").read_text(encoding="utf-8")
    assert "NOT JUDGED" in html and 'id="h-evaluation"' not in html and 'id="h-gate"' not in html
    for stage in ("evaluation:", "robustness:", "corpus_scan:", "contamination:"):
        assert f"<li>{stage}" in html
    assert 'id="h-dataset"' in html and "No face images are shown" in html
    assert list((tmp_path / "out").iterdir()) == [tmp_path / "out" / "report.html"]  # no temp left


def test_gate_verdict_and_findings_on_page_one():
    result = f.audit(tasks=[f.fair_task(vs_rest=(-0.25, -0.32, -0.18, 300))])
    task = result.evaluation.tasks[0]
    row = next(d for d in task.disparities if d.kind == "group_vs_rest")
    row.estimate.p_value = row.p_value = 1e-9
    result = result.model_copy(update={"gate": evaluate_gate(result, load_policy(None))})
    html = render_html(result)
    page_one = html[html.index('class="page-one"'): html.index('id="gate"')]
    assert "✖</span>FAIL" in page_one and "blocks the release" in page_one
    assert "No group of a single sensitive attribute is more than 10 points less accurate" in page_one
    assert result.gate.policy_sha256 in page_one
    gate_section = html[html.index('id="gate"'):]
    # the decision rule, the rationale and the power beside the check, from the gate's own fields
    assert "Holm correction over 1 comparison(s)" in gate_section
    assert "Why this limit: 10 points is half the gender gap" in gate_section
    assert "Detectable harm" in gate_section and "Items to certify" in gate_section


def test_text_is_escaped_and_nothing_external_is_referenced():
    xss = "<script>alert(1)</script>"
    result = f.audit(tasks=[f.fair_task()], warnings=[{"stage": "corpus", "message": xss}])
    html = render_html(result)
    assert xss not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<script" not in html
    # Every src/href is a data: URI or an in-page anchor: the file opens offline from e-mail.
    links = re.findall(r'(?:src|href)="([^"]*)"', html)
    assert links and all(u.startswith(("data:", "#")) for u in links)
