"""Hostile corpus text in a real headless Chromium: the review page and the report never run it,
and the review page's own script still works offline (verdicts download and import back)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from scan_support import random_corpus

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "gate"))
import audit_factory as f  # noqa: E402

from faceaudit.gate import evaluate_gate, load_policy  # noqa: E402
from faceaudit.report import render_report  # noqa: E402
from faceaudit.scan.config import ReviewConfig, ScanConfig  # noqa: E402
from faceaudit.scan.review import read_verdicts  # noqa: E402
from faceaudit.scan.stage import run_scan  # noqa: E402

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
XSS = ('<script>window.__pwned = 1</script><img src="http://127.0.0.1:9/x.png" '
       'onerror="window.__pwned = 2"><svg onload="window.__pwned = 3"></svg>'
       '"><iframe src="javascript:window.top.__pwned = 4"></iframe> call 555-123-4567.')


def hostile_scan(out_dir: Path):
    c = random_corpus(0, images_per_group=40, planted=("aggressive", "B", 0.3, 0.02))
    for i in (3, 4, 45):  # repeated: it reaches the report's most-repeated answers too
        c.answers[i] = XSS
    c.corpus_path = f"corpus {XSS}.jsonl"
    cfg = ScanConfig(min_group_n=5, review=ReviewConfig(precision=0.2, max_flagged=50))
    return run_scan(c, cfg, out_dir=out_dir, seed=1)


def _open(page, path: Path):
    console, requests, errors = [], [], []
    page.on("console", lambda m: console.append(f"{m.type}: {m.text}"))
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("request", lambda r: requests.append(r.url))
    page.goto(path.as_uri(), wait_until="load")
    return console, requests, errors


@pytest.mark.browser
def test_review_page_and_report_never_run_corpus_text(tmp_path, artifacts_dir):
    from playwright.sync_api import sync_playwright

    assert CHROMIUM.is_file(), "run .ci/install-browser.sh (Debian chromium) first"
    section = hostile_scan(tmp_path / "scan")
    page_path = Path(section.review.queue_html)
    assert XSS not in page_path.read_text(encoding="utf-8")
    result = f.audit(tasks=[f.fair_task()]).model_copy(update={"corpus_scan": section})
    result = result.model_copy(update={"gate": evaluate_gate(result, load_policy(None))})
    report = render_report(result, tmp_path / "report.html")
    html = report.read_text(encoding="utf-8")
    assert XSS not in html and "&lt;script&gt;window.__pwned" in html

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        page = browser.new_page(accept_downloads=True)
        console, requests, errors = _open(page, page_path)
        items = page.locator("li.item")
        n = items.count()
        assert n == section.review.n_queued and n > 0
        assert page.locator("#progress").inner_text() == f"0 of {n} reviewed"
        first_keys = [items.nth(i).get_attribute("data-key") for i in (0, 1)]
        items.nth(0).locator("input[value=error]").check()
        items.nth(1).locator("input[value=ok]").check()
        items.nth(1).locator("textarea").fill('odd, "quoted" note')
        assert page.locator("#progress").inner_text() == f"2 of {n} reviewed"
        with page.expect_download() as info:
            page.locator("#download").click()
        download = tmp_path / "verdicts.csv"
        info.value.save_as(download)
        pwned_review = page.evaluate("() => window.__pwned")
        page.screenshot(path=str(artifacts_dir / "review-page.png"))

        report_page = browser.new_page()
        r_console, r_requests, r_errors = _open(report_page, report)
        heading = report_page.locator("h2#h-corpus_scan").count()
        human = report_page.locator(".corpus-review-summary").inner_text()
        pwned_report = report_page.evaluate("() => window.__pwned")
        report_page.screenshot(path=str(artifacts_dir / "report-corpus-scan.png"), full_page=True)
        browser.close()

    for log, reqs, errs, path in ((console, requests, errors, page_path), (r_console, r_requests, r_errors, report)):
        assert errs == [] and [m for m in log if not m.startswith("verbose")] == []
        assert [u for u in reqs if not u.startswith(("data:", "blob:"))] == [path.as_uri()]
    assert pwned_review is None and pwned_report is None
    assert heading == 1 and "0 item(s) checked by a human" in human

    # What the page downloads is what `faceaudit scan --verdicts` reads.
    assert read_verdicts(download) == {first_keys[0]: "error", first_keys[1]: "ok"}
