"""Constants shared by tests (importable because pytest puts tests/ on sys.path)."""

from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
