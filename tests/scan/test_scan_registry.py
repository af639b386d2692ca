"""The scanners run, and are listed in audit.json's ``scanners_run``, in one order whatever the
process imported first (the rerun of a killed `faceaudit scan` differed from an uninterrupted
run only in this order, because the test process had imported a scanner module early)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

FIRST_IMPORTS = ["", "import faceaudit.scan.tone, faceaudit.scan.association, faceaudit.scan.review"]


def _names(first: str) -> list[str]:
    code = f"{first}\nimport json\nfrom faceaudit.scan.registry import scanner_names\nprint(json.dumps(scanner_names()))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("first", FIRST_IMPORTS[1:])
def test_scanner_order_does_not_depend_on_import_order(first: str) -> None:
    canonical = _names(FIRST_IMPORTS[0])
    assert canonical[:3] == ["representation", "label_consistency", "association"]
    assert canonical[-1] == "review"  # last: it queues the other scanners' flags
    assert _names(first) == canonical
