"""The faceaudit command: help, version, usage errors and their exit codes."""

from __future__ import annotations

import subprocess
import sys

import pytest

from faceaudit import __version__
from faceaudit.cli import EXIT_OK, EXIT_USAGE, build_parser, main

SUBCOMMANDS = [
    ["run"],
    ["data"],
    ["data", "summarize"],
    ["data", "validate"],
    ["data", "render-synthetic"],
    ["generate"],
    ["train"],
    ["evaluate"],
    ["perturb"],
    ["gate"],
    ["report"],
]


@pytest.mark.parametrize("words", SUBCOMMANDS, ids=" ".join)
def test_every_subcommand_has_help(words: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main([*words, "--help"])
    assert exit_info.value.code == EXIT_OK
    out = capsys.readouterr().out
    assert out.startswith("usage: faceaudit " + " ".join(words))
    assert "--help" in out


def test_version_is_printed() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "faceaudit", "--version"], capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == f"faceaudit {__version__}"


def test_top_level_help_documents_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    for line in ("0  pass", "1  fail", "2  insufficient evidence", "3  usage error", "4  runtime error"):
        assert line in out
    for command in ("run", "data", "generate", "train", "evaluate", "gate", "report"):
        assert command in out


def test_unknown_option_exits_with_usage_code(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["run", "--no-such-flag"])
    assert exit_info.value.code == EXIT_USAGE
    assert "unrecognized arguments: --no-such-flag" in capsys.readouterr().err


def test_invalid_config_override_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--set", "dataset.kind=nope", "--print-config"]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert "dataset.kind: unknown dataset kind" in err and "synthetic, fairface, manifest, facexbench" in err
    assert "got 'nope'" in err
    assert "Traceback" not in err


def test_print_config_shows_the_resolved_config(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--print-config", "--set", "dataset.synthetic.n=250"]) == EXIT_OK
    out = capsys.readouterr().out
    assert "n: 250" in out and "kind: synthetic" in out


def test_missing_audit_file_is_a_usage_error(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nope.json"
    assert main(["report", str(missing)]) == EXIT_USAGE
    assert f"cannot read audit result {missing}" in capsys.readouterr().err


def test_parser_builds_without_importing_torch() -> None:
    code = "import sys; import faceaudit.cli as c; c.build_parser(); print('torch' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"
    assert build_parser().prog == "faceaudit"
