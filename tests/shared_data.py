"""Where the real FairFace sample is, and what its absence does (skip here, fail in CI)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[1]
# FACEAUDIT_SHARED_FAIRFACE points elsewhere (or at nothing, to see the skip message).
SHARED_FAIRFACE = Path(
    os.environ.get("FACEAUDIT_SHARED_FAIRFACE") or PROJECT_ROOT.parent / "shared" / "data" / "fairface"
)


# CI sets this (.ci/run): there the sample must be present and its absence fails the run.
REQUIRE_SHARED_DATA = "FACEAUDIT_REQUIRE_SHARED_DATA"
SHARED_DATA_MISSING = (
    "the real FairFace sample is not at {path} (it lives next to the repository, never in it); "
    "tests that need it are skipped. CI sets " + REQUIRE_SHARED_DATA + "=1, which fails them instead"
)


def require_shared_fairface(path: Path, environ: dict[str, str] | os._Environ = os.environ) -> Path:
    """``path`` when it holds the sample; otherwise skip (outside CI) or fail (in CI)."""
    if (path / "fairface_label_val.csv").is_file():
        return path
    message = SHARED_DATA_MISSING.format(path=path)
    if environ.get(REQUIRE_SHARED_DATA, "") not in ("", "0"):
        pytest.fail(message, pytrace=False)
    pytest.skip(message)
