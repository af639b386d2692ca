"""The public API: importable from the top level, documented, rendered into docs/api.md."""

from __future__ import annotations

import inspect
import subprocess
import sys
from pathlib import Path

import faceaudit
from faceaudit.apidoc import main, render_api_markdown


def test_every_public_name_resolves_and_has_a_docstring() -> None:
    names = [n for n in faceaudit.__all__ if n != "__version__"]
    assert {"run_audit", "AuditConfig", "AuditResult", "load_dataset", "FaceModel", "make_model",
            "register_perturbation", "register_scanner"} <= set(names)
    for name in names:
        obj = getattr(faceaudit, name)
        assert obj.__name__ == name
        assert (inspect.getdoc(obj) or "").strip(), f"{name} has no docstring"


def test_the_page_shows_each_name_with_its_docstring_and_model_fields(tmp_path: Path) -> None:
    page = render_api_markdown()
    for name in faceaudit.__all__[1:]:
        first_line = inspect.getdoc(getattr(faceaudit, name)).splitlines()[0]
        assert f"## `{name}(" in page or f"## `class {name}`" in page
        assert first_line in page
    assert "| `contamination` | `ContaminationSection \\| None` |" in page
    assert main(["--write", str(tmp_path / "api.md")]) == 0
    assert (tmp_path / "api.md").read_text() == page


def test_importing_the_package_loads_nothing_heavy() -> None:
    code = "import sys, faceaudit; print('torch' in sys.modules, 'faceaudit.pipeline' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["False", "False"]
