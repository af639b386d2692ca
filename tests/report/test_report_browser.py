"""The rendered report in a real headless Chromium: no console errors, no network, every
section present, escaped text, and a screenshot + PDF left in test-artifacts/ to look at."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "gate"))
import audit_factory as f  # noqa: E402

from faceaudit.gate import evaluate_gate, load_policy  # noqa: E402
from faceaudit.report import render_report  # noqa: E402

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
XSS = '<script>window.__pwned = 1</script><img src="http://127.0.0.1:9/x.png">'


def rich_audit():
    groups = [f.group("White", (0.91, 0.87, 0.94, 300)), f.group("Black", (0.78, 0.73, 0.83, 300)),
              f.group("Indian", (0.84, 0.79, 0.88, 300)), f.group("Latino_Hispanic", (0.74, 0.62, 0.84, 25), small=True)]
    inter = [f.group("White | Female", (0.93, 0.88, 0.96, 150), attribute="race x gender"),
             f.group("Black | Male", (0.72, 0.64, 0.79, 150), attribute="race x gender")]
    race = f.task("race", groups + inter,
                  [f.disparity("difference", (0.13, 0.06, 0.19, 900), p=0.0004),
                   f.disparity("error_ratio", (2.44, 1.5, 3.9, 300), group_name="race=Black", reference="race=White", p=0.0004),
                   f.disparity("group_vs_rest", (-0.07, -0.12, -0.02, 300), group_name="race=Black", p=0.01)],
                  overall=(0.84, 0.82, 0.86, 925))
    corpus = {
        "backend": "template", "model": f"offline {XSS}", "prompt_set_version": "1",
        "prompt_set_sha256": "e" * 64, "corpus_sha256": "b" * 64, "corpus_path": "runs/x/corpus.jsonl",
        "aspects": ["demographic attributes", "expression and emotion"], "n_images": 120,
        "n_requested": 240, "n_accepted": 236, "n_rejected": 4, "n_failed": 0, "n_resumed": 0,
        "rejects_by_reason": {"refusal": 3, XSS: 1},
        "per_aspect": {"demographic attributes": {"accepted": 118, "rejected": 2}},
        "endpoint_host": None, "n_images_sent": 0, "wall_time_s": 3.2, "pairs_per_second": 75.0,
    }
    result = f.audit(tasks=[race, f.fair_task()], corpus=corpus,
                     warnings=[{"stage": "corpus", "message": f"answer quoted {XSS}", "detail": {"row": 7}}])
    return result.model_copy(update={"gate": evaluate_gate(result, load_policy(None))})


@pytest.mark.browser
def test_report_in_headless_chromium(tmp_path, artifacts_dir):
    from playwright.sync_api import sync_playwright

    assert CHROMIUM.is_file(), "run .ci/install-browser.sh (Debian chromium) first"
    result = rich_audit()
    path = render_report(result, tmp_path / "report.html")
    html = path.read_text(encoding="utf-8")
    assert XSS not in html and "&lt;script&gt;window.__pwned" in html
    assert path.stat().st_size < 5_000_000

    console, requests, errors = [], [], []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        page = browser.new_page(viewport={"width": 1100, "height": 1400})
        page.on("console", lambda m: console.append(f"{m.type}: {m.text}"))
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("request", lambda r: requests.append(r.url))
        page.goto(path.as_uri(), wait_until="load")
        headings = {name: page.locator(f"h2#h-{name}").count() for name in
                    ("gate", "dataset", "evaluation", "corpus", "warnings", "appendix")}
        verdict = page.locator(".verdict-label").inner_text()
        pwned = page.evaluate("() => window.__pwned === undefined")
        images = page.evaluate("() => Array.from(document.images).map(i => [i.alt.length, i.naturalWidth])")
        page.screenshot(path=str(artifacts_dir / "report-page-one.png"))
        page.screenshot(path=str(artifacts_dir / "report-full.png"), full_page=True)
        page.emulate_media(media="print")
        pdf = page.pdf(format="A4", print_background=True)
        (artifacts_dir / "report.pdf").write_bytes(pdf)
        browser.close()

    assert console == [] and errors == []
    assert [u for u in requests if not u.startswith(("data:", "file:"))] == []
    assert [u for u in requests if u.startswith("file:")] == [path.as_uri()]
    assert headings == dict.fromkeys(headings, 1)
    assert "INSUFFICIENT EVIDENCE" in verdict or "FAIL" in verdict
    assert pwned
    assert images and all(alt > 20 and width > 0 for alt, width in images)
    assert pdf.startswith(b"%PDF") and pdf.count(b"/Type /Page") >= 4


@pytest.mark.browser
def test_every_section_of_a_full_audit_fits_1280_px(tmp_path, artifacts_dir):
    """The golden audit (evaluation with reliability diagrams, contamination, robustness with limit
    lines, corpus scan) plus a prompt-sensitivity section and an in-run baseline's two paired
    comparisons (accuracy, robustness): nothing scrolls sideways at 1280 px."""
    from playwright.sync_api import sync_playwright
    from test_report_sections import GOLDEN, _sensitivity

    from faceaudit.schema import AuditResult
    from faceaudit.schema.sensitivity import SensitivitySection

    result = AuditResult.load(GOLDEN)
    result.sensitivity = SensitivitySection.model_validate(_sensitivity(flagged=True))
    result.gate = evaluate_gate(result, load_policy(None))
    _with_baseline_comparisons(result)
    path = render_report(result, tmp_path / "report.html")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 1000})
        page.goto(path.as_uri(), wait_until="load")
        page.evaluate("() => document.querySelectorAll('details').forEach(d => d.open = true)")
        sections = page.evaluate("() => Array.from(document.querySelectorAll('section[id]')).map(s => s.id)")
        alts = page.evaluate("() => Array.from(document.images).map(i => i.naturalWidth > 0 ? i.alt : 'BROKEN')")
        too_wide = page.evaluate("""() => Array.from(document.querySelectorAll('.table-wrap, table, figure'))
            .filter(e => e.scrollWidth > e.clientWidth + 1)
            .map(e => (e.querySelector('caption') || e).textContent.slice(0, 80))""")
        page_width = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
        page.screenshot(path=str(artifacts_dir / "report-full-audit.png"))
        browser.close()

    assert {"evaluation", "contamination", "sensitivity", "robustness", "corpus_scan", "comparison"} <= set(sections)
    assert "BROKEN" not in alts
    for chart in ("worst-calibrated", "Largest extra accuracy drops", "Area under accuracy against severity"):
        assert any(chart in alt for alt in alts), chart
    assert too_wide == [] and page_width[0] <= page_width[1]


def _with_baseline_comparisons(result) -> None:
    """An in-run baseline's comparisons on the golden audit: the audit against itself (every
    group "no clear change"), and one robustness change per stored family and group, the
    longest names first, so both tables hold the widest rows the golden data has."""
    from faceaudit.compare import compare_audits
    from faceaudit.schema.common import Estimate
    from faceaudit.schema.robustness import RobustnessChange, RobustnessComparison

    result.comparison = compare_audits(result, result, a_name="baseline/audit.json", b_name="audit.json")
    rb = result.robustness
    changes, seen = [], set()
    for g in sorted(rb.groups, key=lambda g: -len(f"{g.family}:{g.attribute}={g.group}")):
        if (g.family, g.attribute, g.group) in seen:
            continue
        seen.add((g.family, g.attribute, g.group))
        change = Estimate(value=0.0512, lower=0.0101, upper=0.0923, n=g.n_images, method="paired cluster t",
                          null_value=0.0, p_value=0.004)
        changes.append(RobustnessChange(
            name=f"{g.family}:{g.attribute}={g.group}", family=g.family, attribute=g.attribute,
            group=g.group, n_images=g.n_images, n_items=g.n_images, small_group=g.small_group,
            drop_baseline=0.1234, drop_candidate=0.1746, change=change, p_adjusted=0.0312, direction="worse"))
    rb.baseline_comparison = RobustnessComparison(baseline_model="base-model-with-a-long-name", confidence=0.95,
                                                  baseline_audit="baseline/audit.json", alpha=0.05,
                                                  n_tests=len(changes), changes=changes)
