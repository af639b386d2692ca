"""A hub checkpoint is identified by the commit it resolved to in the local cache (no network)."""

from __future__ import annotations

from pathlib import Path

import pytest

from faceaudit.models.identity import checkpoint_identity, checkpoint_sha256

COMMIT = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture()
def hub_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A Hugging Face cache laid out as huggingface_hub writes it: refs/main -> snapshots/<commit>."""
    import huggingface_hub.constants as constants

    cache = tmp_path / "hub"
    repo = cache / "models--acme--tiny-face"
    snapshot = repo / "snapshots" / COMMIT
    snapshot.mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(COMMIT)
    (snapshot / "config.json").write_text('{"model_type": "internvl"}')
    (snapshot / "model.safetensors").write_bytes(b"weights")
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return snapshot


def test_hub_id_is_pinned_to_the_cached_commit_and_its_content(hub_cache: Path) -> None:
    identity = checkpoint_identity("acme/tiny-face")
    assert identity.revision == COMMIT
    assert identity.sha256 == checkpoint_sha256(hub_cache)
    assert identity.name == "acme/tiny-face" and identity.backend == "hf"
    # asking for the branch by name resolves to the same commit
    assert checkpoint_identity("acme/tiny-face", revision="main").revision == COMMIT


def test_the_commit_the_loaded_model_reports_wins(hub_cache: Path) -> None:
    class Loaded:
        class config:  # noqa: N801 - stands in for a transformers config object
            _commit_hash = "f" * 40

    assert checkpoint_identity("acme/tiny-face", model=Loaded()).revision == "f" * 40


def test_an_uncached_hub_id_has_no_hash_rather_than_a_guessed_one(hub_cache: Path) -> None:
    identity = checkpoint_identity("acme/not-downloaded", revision="v1")
    assert identity.sha256 is None and identity.revision == "v1"
