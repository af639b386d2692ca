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
from shared_data import (  # noqa: E402  (tests/ is on sys.path, as for tests_support)
    REQUIRE_SHARED_DATA,
    SHARED_FAIRFACE,
    require_shared_fairface,
)


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
