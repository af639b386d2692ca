"""Without ../shared/data/fairface the data tests skip with one message, except in CI (issue #13, item 8)."""

from __future__ import annotations

from pathlib import Path

import pytest
from shared_data import PROJECT_ROOT, REQUIRE_SHARED_DATA, require_shared_fairface


def test_missing_sample_skips_with_one_clear_message(tmp_path):
    with pytest.raises(pytest.skip.Exception) as caught:
        require_shared_fairface(tmp_path / "absent", {})
    message = str(caught.value)
    assert str(tmp_path / "absent") in message and "skipped" in message and REQUIRE_SHARED_DATA in message


@pytest.mark.parametrize("value", ["1", "true"])
def test_missing_sample_fails_when_ci_requires_it(tmp_path, value):
    with pytest.raises(pytest.fail.Exception, match="not at"):
        require_shared_fairface(tmp_path / "absent", {REQUIRE_SHARED_DATA: value})


def test_present_sample_is_returned(tmp_path):
    (tmp_path / "fairface_label_val.csv").write_text("file,age,gender,race\n")
    assert require_shared_fairface(tmp_path, {REQUIRE_SHARED_DATA: "1"}) == tmp_path


def test_ci_requires_the_data_and_runs_the_readmes_command():
    script = (PROJECT_ROOT / ".ci" / "run").read_text()
    assert f"export {REQUIRE_SHARED_DATA}=1" in script
    commands = [line for line in script.splitlines() if line and not line.startswith(("#", "export", "set ", "cd "))]
    assert commands == ["make test"]
    readme = (Path(PROJECT_ROOT) / "README.md").read_text()
    assert any(line.startswith("make test ") and "CI runs: .ci/run" in line for line in readme.splitlines())
