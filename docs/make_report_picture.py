"""Regenerate docs/report-page-one.png, the picture of the report's page one in the README.

    python docs/make_report_picture.py            # from the repository root

Audits the real FairFace sample in ../shared/data/fairface with the simulated backend (a model
planted to be right 90% of the time, and 55% for Latino/Hispanic faces), judges it with the
default policy, renders the report and photographs its first 1,800 px at 1280 px wide in the
headless Chromium the tests use. No face is shown in the report, so none is in the picture.
"""

from __future__ import annotations

import io
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FAIRFACE = ROOT.parent / "shared" / "data" / "fairface"
OUT = ROOT / "docs" / "report-page-one.png"


def main() -> int:
    from playwright.sync_api import sync_playwright

    from faceaudit.cli import main as faceaudit
    from faceaudit.report.pdf import find_chromium

    chromium = find_chromium()
    if chromium is None or not FAIRFACE.is_dir():
        print("needs Chromium (bash .ci/install-browser.sh) and the FairFace sample at ../shared/data/fairface",
              file=sys.stderr)
        return 3
    with tempfile.TemporaryDirectory() as tmp:
        code = faceaudit([
            "--quiet", "evaluate", "--dataset", str(FAIRFACE), "--backend", "simulated", "--output-dir", tmp,
            "--run-id", "picture", "--set", "evaluate.n_boot=200",
            "--set", "evaluate.simulated_accuracy={default: 0.9, 'race=Latino_Hispanic': 0.55}",
        ])
        audit = Path(tmp) / "picture" / "audit.json"
        if code != 0 or faceaudit(["--quiet", "report", str(audit), "--policy",
                                   str(ROOT / "faceaudit" / "gate" / "policy-default.yaml")]) != 0:
            return 4
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=str(chromium), args=["--headless", "--no-sandbox"])
            page = browser.new_page(viewport={"width": 1280, "height": 1800})
            page.goto(audit.with_name("report.html").as_uri(), wait_until="load")
            shot = page.screenshot()
            browser.close()
    # A 256-colour palette keeps the picture a fraction of the size; the page has few colours.
    from PIL import Image

    with Image.open(io.BytesIO(shot)) as image:
        image.convert("RGB").quantize(colors=256).save(OUT, optimize=True)
    print(OUT)
    return 0


if __name__ == "__main__":
    sys.exit(main())
