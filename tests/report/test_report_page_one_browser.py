"""The report of a real FairFace-sample audit in headless Chromium at 1280 px: page one carries the
verdict, plain findings, the worst-groups charts with their limit line and the sign-off block; no
table needs horizontal scrolling, folded details included; `faceaudit report --pdf` prints it."""

from __future__ import annotations

import base64
import re
from pathlib import Path

import pytest

from faceaudit.cli import main
from faceaudit.errors import EXIT_OK
from faceaudit.report.findings import has_path_syntax

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"]


@pytest.fixture(scope="module")
def fairface_report(shared_fairface, tmp_path_factory):
    out = tmp_path_factory.mktemp("ffreport")
    code = main([
        "--quiet", "evaluate", "--dataset", str(shared_fairface), "--backend", "simulated",
        "--output-dir", str(out), "--run-id", "ff", "--set", "dataset.limit=350", "--set", "evaluate.n_boot=100",
        "--set", "evaluate.simulated_accuracy={default: 0.9, 'race=Latino_Hispanic': 0.55}",
    ])
    assert code == EXIT_OK
    signoff = out / "signoff.yaml"
    signoff.write_text("reviewer: Jane Doe\nrole: Compliance officer\ndate: 2026-12-02\ndecision: rejected\n")
    audit = out / "ff" / "audit.json"
    assert main(["--quiet", "report", str(audit), "--policy", "faceaudit/gate/policy-default.yaml",
                 "--signoff", str(signoff), "--pdf"]) == EXIT_OK
    return audit.with_name("report.html")


@pytest.mark.browser
def test_page_one_and_width_in_chromium(fairface_report, artifacts_dir):
    from playwright.sync_api import sync_playwright

    assert CHROMIUM.is_file(), "run .ci/install-browser.sh (Debian chromium) first"
    pdf = fairface_report.with_suffix(".pdf").read_bytes()
    assert pdf.startswith(b"%PDF") and pdf.count(b"/Type /Page") >= 4
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 1000})
        page.goto(fairface_report.as_uri(), wait_until="load")
        verdict = page.locator(".page-one .verdict-label").inner_text()
        findings = page.locator(".page-one .finding-sentences li").all_inner_texts()
        charts = page.locator(".page-one figure img").evaluate_all("els => els.map(e => e.src)")
        signoff = page.locator(".page-one .signoff").inner_text()
        diagrams = page.locator("#evaluation figure img").evaluate_all(
            "els => els.filter(e => e.alt.includes('worst-calibrated')).map(e => [e.naturalWidth, e.clientWidth])")
        page.screenshot(path=str(artifacts_dir / "report-fairface-page-one.png"))
        page.evaluate("() => document.querySelectorAll('details').forEach(d => d.open = true)")
        too_wide = page.evaluate("""() => Array.from(document.querySelectorAll('.table-wrap, table, figure'))
            .filter(e => e.scrollWidth > e.clientWidth + 1)
            .map(e => (e.querySelector('caption') || e).textContent.slice(0, 80))""")
        page_width = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
        browser.close()

    assert "FAIL" in verdict
    assert findings and any("Latino/Hispanic people" in s for s in findings)
    assert not any(has_path_syntax(s) for s in findings), findings
    assert all(re.search(r"\d+(\.\d)?% of .+ and for \d+(\.\d)?% of everyone else", s) for s in findings
               if not s.endswith("listed under Release checks."))
    # one worst-groups chart per task (age, gender, race), each drawing the policy's limit line
    assert len(charts) == 3
    svgs = [base64.b64decode(uri.split(",", 1)[1]).decode("utf-8") for uri in charts]
    assert all("policy limit -10" in svg for svg in svgs)
    assert "Jane Doe" in signoff and "rejected" in signoff and "report.signoff.json" in signoff
    # the simulated backend answers with option probabilities: one reliability diagram per task, drawn
    assert len(diagrams) == 3 and all(natural > 0 and 0 < shown <= 1280 for natural, shown in diagrams)
    assert too_wide == [] and page_width[0] <= page_width[1]
