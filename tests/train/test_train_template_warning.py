"""`faceaudit train` with a real model's recipe and no corpus says that it trains on the offline
template corpus (label sentences, not FairFaceGPT); the tiny recipe and a given corpus do not."""

from __future__ import annotations

import pytest

import faceaudit.cli_stages as cli_stages
from faceaudit.cli import main

WARNING = ("recipe facellm-1b trains OpenGVLab/InternVL3-1B-hf on the offline template corpus (no --corpus, "
           "corpus.backend: template)")


@pytest.fixture()
def stages(monkeypatch):
    """Record the config each command would run instead of training (no model is loaded)."""
    ran = []
    monkeypatch.setattr(cli_stages, "_run_stages", lambda args, config, only: ran.append((config, only)))
    return ran


def test_facellm_recipe_without_corpus_warns(stages, capsys, tmp_path):
    assert main(["--quiet", "train", "--recipe", "facellm-1b", "--output-dir", str(tmp_path)]) == 0
    err = capsys.readouterr().err
    assert WARNING in err and "not FairFaceGPT's descriptions" in err and "Pass --corpus" in err
    assert stages[0][1] == {"corpus", "train"}


@pytest.mark.parametrize("extra", [
    ["--recipe", "tiny"],
    ["--recipe", "facellm-1b", "--corpus", "fairfacegpt.json"],
    ["--recipe", "facellm-1b", "--set", "corpus.backend=openai"],
])
def test_no_warning_with_a_corpus_or_the_tiny_recipe(stages, capsys, tmp_path, extra):
    assert main(["--quiet", "train", "--output-dir", str(tmp_path), *extra]) == 0
    assert "template corpus" not in capsys.readouterr().err
    assert len(stages) == 1
