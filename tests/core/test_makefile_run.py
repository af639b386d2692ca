"""`make run` reports a verdict as a result, not as a make error; real errors still fail."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from tests_support import PROJECT_ROOT


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
@pytest.mark.parametrize(("code", "make_fails", "said"), [
    (0, False, "exited 0 (verdict PASS)"),
    (1, False, "its verdict is FAIL"),
    (2, False, "its verdict is INSUFFICIENT EVIDENCE"),
    (3, True, "failed with exit code 3"),
    (4, True, "failed with exit code 4"),
])
def test_make_run_explains_the_exit_code(tmp_path: Path, code: int, make_fails: bool, said: str) -> None:
    # A stand-in for .venv/bin/faceaudit that exits with the code under test; STAMP is a file made
    # now, newer than pyproject.toml, so make installs nothing.
    fake = tmp_path / "faceaudit"
    fake.write_text(f"#!/bin/sh\necho 'verdict: stand-in'\nexit {code}\n")
    fake.chmod(0o755)
    stamp = tmp_path / "installed"
    stamp.touch()
    done = subprocess.run(["make", "-s", "run", f"BIN={tmp_path}", f"STAMP={stamp}"], cwd=PROJECT_ROOT,
                          capture_output=True, text=True, timeout=60)
    assert (done.returncode != 0) == make_fails, done
    assert said in done.stdout + done.stderr
    if make_fails:
        assert "Error" in done.stderr  # make's own failure line, for a real error only
    else:
        assert "Error" not in done.stderr
