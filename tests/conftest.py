"""Fixtures shared by the whole suite."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("MPLBACKEND", "Agg")

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


@pytest.fixture(scope="session")
def shared_fairface() -> Path:
    """The real FairFace validation sample in ../shared (never copied into the repo)."""
    return require_shared_fairface(SHARED_FAIRFACE)


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    """Where tests leave files worth looking at (screenshots, contact sheets)."""
    path = PROJECT_ROOT / "test-artifacts"
    path.mkdir(exist_ok=True)
    return path


def pytest_report_header(config) -> str:
    if (SHARED_FAIRFACE / "fairface_label_val.csv").is_file():
        return f"shared FairFace sample: {SHARED_FAIRFACE}"
    required = os.environ.get(REQUIRE_SHARED_DATA, "") not in ("", "0")
    return f"shared FairFace sample: MISSING at {SHARED_FAIRFACE}; tests that need it will " + (
        "FAIL (" + REQUIRE_SHARED_DATA + " is set)" if required else "be skipped"
    )
