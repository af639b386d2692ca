"""Labels are data: every output format shows a hostile label literally and stays valid.

Issue #13, items 1-3 of "what broke": a carriage return in a label forged a second
"## faceaudit gate: PASS" heading and raw HTML passed into the Markdown summary; control
characters made junit.xml invalid XML and broke the SVG charts; a label ``$\\nope$`` made
matplotlib's mathtext raise, so no report was written.
"""

from __future__ import annotations

import base64
import re
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from markdown_it import MarkdownIt

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "gate"))
import audit_factory as f  # noqa: E402

from faceaudit.data.dataset import DataIssue  # noqa: E402
from faceaudit.data.validate import ValidationReport  # noqa: E402
from faceaudit.gate import evaluate_gate, junit_xml, load_policy, markdown_summary  # noqa: E402
from faceaudit.report import charts, render_html  # noqa: E402
from faceaudit.report.robustness import heat_map, severity_curves  # noqa: E402
from faceaudit.textsafe import (  # noqa: E402
    LINK_BREAK,
    chart_label,
    markdown_text,
    terminal_text,
    visible,
    xml_text,
)

FORGED_HEADING = "B\r## faceaudit gate: PASS\r"
HTML = "<img src=x onerror=alert(1)>"
CONTROLS = "C\x01\x08\x0b\x1b[31mred\x1b[0m\ud800\u2028end"
MATHTEXT = "$\\nope$"
HOSTILE = [FORGED_HEADING + HTML, CONTROLS, MATHTEXT, "pipe|`tick`*star*_u_[l](x)"]


def harmed_audit(name: str):
    """Group ``name`` clearly worse than the rest, so the gate's reasons name it."""
    return f.audit(tasks=[f.task(
        "gender",
        [f.group("A", (0.9, 0.86, 0.93, 300)), f.group(name, (0.65, 0.6, 0.7, 300))],
        [f.disparity("group_vs_rest", (-0.25, -0.32, -0.18, 300), group_name=f"race={name}", p=1e-9)],
    )])


@pytest.mark.parametrize("label", HOSTILE)
def test_markdown_summary_has_one_heading_and_no_live_html(label):
    gate = evaluate_gate(harmed_audit(label), load_policy(None))
    assert any(label in c.reason for c in gate.checks)  # the label does reach the summary's input
    text = markdown_summary(gate)
    # Every renderer's idea of a line break (\r, U+2028 ...) is checked, not only "\n".
    headings = [line for line in text.splitlines() if line.lstrip().startswith("#")]
    assert headings == ["## faceaudit gate: FAIL"]
    html = MarkdownIt("commonmark").enable("table").render(text)
    assert html.count("<h2>") == 1 and "<img" not in html and "<script" not in html
    table_rows = [line for line in text.split("\n") if line.startswith("| `")]
    assert len(table_rows) == len(gate.checks)
    assert html.count("<tr>") == len(gate.checks) + 1  # header row + one per check: no cell broke out
    if label == HOSTILE[0]:
        assert "&lt;img src=x onerror=alert(1)&gt;" in html  # shown, not rendered


# What a CI page turns into a notification, a cross-reference or a link after rendering the
# Markdown (GitHub's mention and issue-reference filters run on the rendered text, so a
# backslash or an HTML entity does not stop them: github/markup#1168, github/cmark-gfm#181).
LINKY = [
    "@octocat", "team @org/reviewers", "fixes #123", "owner/repo#7", "GH-42", "gitlab !12 ~bug %v1 &3",
    "http://example.com/x?a=1", "<https://example.com>", "www.example.com", "example.org",
    "mailto:a@example.com", "a@example.com", "//example.com/x",
    "deadbeef", "fixed in 0123abc", "a3f9c2e1b4d5f6a7b8c9d0e1f2a3b4c5d6e7f8a9",
]
# GitHub's patterns, as html-pipeline's MentionFilter and IssueReferenceFilter write them (simplified
# to the start of a match), plus GitLab's merge-request, label and milestone references.
REFERENCES = [
    re.compile(r"(?:^|\W)@[a-z0-9][a-z0-9-]*", re.IGNORECASE),
    re.compile(r"(?:^|\W)#\d+\b"),
    re.compile(r"[\w.-]+/[\w.-]+#\d+"),
    re.compile(r"\bGH-\d+", re.IGNORECASE),
    re.compile(r"(?:^|\W)[!%&]\d+|(?:^|\W)[~%]\w"),
    re.compile(r"\b(?=[0-9]*[a-f])[0-9a-f]{7,40}\b", re.IGNORECASE),  # a commit abbreviation
]


def _linkify() -> MarkdownIt:
    # Fuzzy linkify (bare domains too) finds more links than GitHub's autolink extension
    # (scheme, www., e-mail) or GitLab's: passing it is the stricter test.
    return MarkdownIt("commonmark", {"linkify": True}).enable(["table", "linkify"])


def _inline(tokens):
    for token in tokens:
        yield token
        yield from _inline(token.children or [])


@pytest.mark.parametrize("label", LINKY)
def test_markdown_summary_pings_no_one_and_links_nothing(label):
    md = _linkify()
    raw = [t for t in _inline(md.parse(label)) if t.type == "text"]
    # The oracle sees the threat in the raw label (so it can fail) ...
    assert any(t.type == "link_open" for t in _inline(md.parse(label))) or any(
        p.search(t.content) for p in REFERENCES for t in raw
    ), label
    gate = evaluate_gate(harmed_audit(label), load_policy(None))
    text = markdown_summary(gate)
    tokens = list(_inline(md.parse(text)))
    # ... and none of it in the rendered summary: no link node, no mention, no reference.
    assert [t.type for t in tokens if t.type in {"link_open", "html_inline", "html_block"}] == []
    shown = [t.content for t in tokens if t.type == "text"]
    assert [m.group() for p in REFERENCES for s in shown for m in p.finditer(s)] == []
    assert "<a " not in md.render(text)
    # The label is still there to read: only zero-width spaces were added.
    assert any(label in s.replace(LINK_BREAK, "") for s in shown)


def test_markdown_text_breaks_mentions_references_and_links_with_zero_width_spaces():
    z = LINK_BREAK
    assert z == "\u200b"
    assert markdown_text("@octocat fixes #12 (GH-3), see <http://x.example/a> or www.y.example") == (
        f"@{z}octocat fixes \\#{z}12 \\(GH-{z}3\\), see &lt;http:{z}/{z}/x.{z}example/a&gt; or www.{z}y.{z}example"
    )
    assert markdown_text("mailto:a@b.org !7 ~bug") == f"mailto:{z}a@{z}b.{z}org \\!{z}7 \\~{z}bug"
    assert markdown_text("commit deadbeef01 or 1234567") == f"commit deadbe{z}ef01 or 1234567"
    # Numbers, times, prose and lone sigils are left alone.
    assert markdown_text("0.62 at 12:30, 50% of C# users; ratio: 2") == "0.62 at 12:30, 50% of C\\# users; ratio: 2"


@pytest.mark.parametrize("label", HOSTILE)
def test_junit_is_valid_xml_and_keeps_the_label_visible(label):
    gate = evaluate_gate(harmed_audit(label), load_policy(None))
    root = ET.fromstring(junit_xml(gate))  # expat rejects any character XML 1.0 forbids
    failure = root.find("testsuite/testcase/failure")
    assert failure is not None
    assert xml_text(label) in failure.get("message")
    if label == CONTROLS:
        assert "\\x01" in failure.get("message") and "\\ud800" in failure.get("message")


def _svg(chart: charts.Chart) -> str:
    return base64.b64decode(chart.uri.split(",", 1)[1]).decode("utf-8")


def _texts(svg: str) -> str:
    return " ".join("".join(node.itertext()) for node in ET.fromstring(svg).iter("{http://www.w3.org/2000/svg}text"))


def test_interval_and_count_charts_render_hostile_labels_as_text():
    rows = [charts.Row(label, 0.5 + 0.1 * i, 0.4, 0.8, 30) for i, label in enumerate(HOSTILE)]
    for chart in (
        charts.interval_chart(rows, title=f"accuracy by {MATHTEXT}", xlabel="accuracy $"),
        charts.count_chart({label: 10 + i for i, label in enumerate(HOSTILE)}, title=CONTROLS),
    ):
        text = _texts(_svg(chart))  # parses: no control character reached the SVG
        assert MATHTEXT in text  # drawn literally, not as mathtext
        assert "\\x1b[31mred" in text and "\x1b" not in text


def test_robustness_charts_render_hostile_labels():
    severities = [1, 2]
    section = {
        "severities": severities,
        "perturbations": [{"name": MATHTEXT}, {"name": "blur"}],
        "groups": [
            {"attribute": "race", "group": label, "perturbation": p,
             "interaction": {"value": 0.01 * i, "lower": -0.02}}
            for i, label in enumerate(HOSTILE) for p in (MATHTEXT, "blur")
        ],
        "curves": [
            {"family": "lighting$", "attribute": CONTROLS, "group": label, "n_images": 50,
             "auc": {"value": 0.7}, "accuracy_by_severity": [{"value": 0.8, "lower": 0.7, "upper": 0.9}] * 3}
            for label in HOSTILE
        ],
    }
    text = _texts(_svg(heat_map(section)))
    assert f"race={MATHTEXT}" in text
    (curves,) = severity_curves(section)
    assert MATHTEXT in _texts(_svg(curves))


def test_full_report_renders_with_hostile_group_labels():
    result = f.audit(tasks=[f.task(
        "gender", [f.group(label, (0.8, 0.7, 0.9, 100)) for label in HOSTILE], [])])
    html = render_html(result)
    assert html.count("data:image/svg+xml;base64,") >= 1
    for uri in html.split("data:image/svg+xml;base64,")[1:]:
        ET.fromstring(base64.b64decode(uri.split('"', 1)[0]))
    assert "<img src=x" not in html


def test_terminal_output_shows_escapes_not_escape_sequences():
    issue = DataIssue(kind="unknown_label", file="m.csv", row=3, field="race",
                      message=f"unknown race label {CONTROLS!r}")
    report = ValidationReport(path="m.csv", kind="manifest", n_records=1,
                              counts={"race": {CONTROLS: 1}}, issues=[issue])
    text = report.format_text()
    assert "\x1b" not in text and "\u2028" not in text and "\x01" not in text
    assert "\\x1b[31mred" in text
    assert len(text.split("\n")) == len(text.splitlines())  # no hidden line breaks


def test_helpers_on_their_own():
    assert visible("a\x1b[2Jb\u202eZ") == "a\\x1b[2Jb\\u202eZ"
    assert terminal_text("one\ntwo\x07") == "one\ntwo\\x07"
    assert chart_label("$x$\x00") == "\\$x\\$\\x00"
    assert xml_text("ok\t\n\x0c\ud800\uffff") == "ok\t\n\\x0c\\ud800\\uffff"
    assert markdown_text("a\r\n# b <i>|") == "a \\# b &lt;i&gt;\\|"
    assert visible("Ünïcode ✓ 東京") == "Ünïcode ✓ 東京"  # printable text is left alone


def test_log_lines_show_escapes(capsys):
    import logging

    from faceaudit.cli import _configure_logging

    logger = logging.getLogger("faceaudit")
    saved = (logger.handlers[:], logger.level, logger.propagate)
    try:
        _configure_logging(quiet=False, verbose=False)
        logging.getLogger("faceaudit.data").warning("label %s skipped", "\x1b]0;pwned\x07A")
    finally:
        logger.handlers[:], logger.level, logger.propagate = saved
    err = capsys.readouterr().err
    assert "\x1b" not in err and "\x07" not in err
    assert "label \\x1b]0;pwned\\x07A skipped" in err
