"""Packaging: every sub-package ships, and the report templates ship inside the wheel."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import tomllib
from tests_support import PROJECT_ROOT


def _pyproject() -> dict:
    return tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())


def test_every_subpackage_is_listed_in_pyproject() -> None:
    listed = set(_pyproject()["tool"]["setuptools"]["packages"])
    on_disk = {
        ".".join(init.parent.relative_to(PROJECT_ROOT).parts)
        for init in (PROJECT_ROOT / "faceaudit").rglob("__init__.py")
    }
    on_disk.add("faceaudit.report.templates")
    assert on_disk == listed, f"add {sorted(on_disk - listed)} / remove {sorted(listed - on_disk)}"


def test_wheel_contains_report_templates_and_policy(tmp_path: Path) -> None:
    # No build isolation: the test must not reach a package index.
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
         "--wheel-dir", str(tmp_path), str(PROJECT_ROOT)],
        check=True,
        capture_output=True,
    )
    (wheel,) = tmp_path.glob("faceaudit-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    templates = {n for n in names if n.startswith("faceaudit/report/templates/")}
    expected = {
        f"faceaudit/report/templates/{p.name}"
        for p in (PROJECT_ROOT / "reports" / "templates").iterdir()
        if p.suffix in {".j2", ".css", ".js", ".py"}
    }
    assert len(expected) > 1 and expected <= templates
    assert "faceaudit/gate/policy-default.yaml" in names
    recipes = {p.name for p in (PROJECT_ROOT / "faceaudit" / "train" / "recipes").glob("*.yaml")}
    assert recipes >= {"tiny.yaml", "facellm-1b.yaml", "facellm-8b.yaml", "facellm-38b.yaml"}
    assert {f"faceaudit/train/recipes/{name}" for name in recipes} <= names
    assert not any(n.startswith(("tests/", "reports/")) for n in names)
