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
SHARED_FAIRFACE = PROJECT_ROOT.parent / "shared" / "data" / "fairface"


@pytest.fixture(scope="session")
def shared_fairface() -> Path:
    """The real FairFace validation sample in ../shared (never copied into the repo)."""
    if not (SHARED_FAIRFACE / "fairface_label_val.csv").is_file():
        pytest.fail(f"the shared FairFace sample is missing at {SHARED_FAIRFACE}")
    return SHARED_FAIRFACE


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    """Where tests leave files worth looking at (screenshots, contact sheets)."""
    path = PROJECT_ROOT / "test-artifacts"
    path.mkdir(exist_ok=True)
    return path
