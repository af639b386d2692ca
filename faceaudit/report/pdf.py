"""Print the HTML report to PDF with a headless Chromium (the one the report tests drive).

Optional: needs the ``playwright`` Python package (the ``dev`` extra) and a Chromium
binary. Nothing is downloaded; without either, :func:`export_pdf` says what to install.
The page is opened from the local file with every network request refused, so printing
cannot leak the report, and the print stylesheet of the report (A4, page one on its own
page, sections on new pages) decides the layout.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from faceaudit.errors import InputError, StageError
from faceaudit.store import atomic_write_bytes

#: Where Chromium is looked for, in order, after $FACEAUDIT_CHROMIUM.
CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome")
_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]


def find_chromium() -> Path | None:
    configured = os.environ.get("FACEAUDIT_CHROMIUM")
    if configured:
        return Path(configured) if Path(configured).is_file() else None
    for candidate in CHROMIUM_CANDIDATES:
        if Path(candidate).is_file():
            return Path(candidate)
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    return Path(found) if found else None


def export_pdf(html_path: str | Path, pdf_path: str | Path) -> Path:
    """Print ``html_path`` to ``pdf_path`` (A4, backgrounds kept); returns ``pdf_path``."""
    try:
        from playwright.sync_api import Error as PlaywrightError
        from playwright.sync_api import sync_playwright
    except ImportError as error:
        raise InputError(
            "--pdf needs the playwright package: pip install 'faceaudit[dev]' (or pip install playwright); "
            "the HTML report was written"
        ) from error
    chromium = find_chromium()
    if chromium is None:
        raise InputError(
            "--pdf needs a Chromium browser: install Debian's chromium (bash .ci/install-browser.sh) or set "
            "FACEAUDIT_CHROMIUM to its path; the HTML report was written"
        )
    html_path = Path(html_path).resolve()
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=str(chromium), args=_ARGS)
            try:
                page = browser.new_page()
                own = html_path.as_uri()
                page.route("**/*", lambda route: route.continue_() if route.request.url in (own,)
                           or route.request.url.startswith("data:") else route.abort())
                page.goto(own, wait_until="load")
                page.emulate_media(media="print")
                pdf = page.pdf(format="A4", print_background=True, prefer_css_page_size=True)
            finally:
                browser.close()
    except PlaywrightError as error:
        raise StageError(f"printing {html_path.name} to PDF with {chromium} failed: {error}") from error
    return atomic_write_bytes(pdf_path, pdf)
