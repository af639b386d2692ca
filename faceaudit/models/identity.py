"""What pins an evaluated model down: a human name, a content hash, a hub revision.

audit.json names the model it judged; a path or a hub id alone does not say which weights
were behind it on the day, so every local checkpoint is hashed (the same hash the
training stage records), a hub checkpoint keeps the commit it resolved to, and an adapter
is hashed on its own. The same identity decides whether stored predictions may be reused.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from faceaudit.schema.run import ModelIdentity
from faceaudit.store import sha256_file, sha256_json, sha256_tree


def checkpoint_sha256(directory: str | Path) -> str:
    """Content hash of a checkpoint directory: its JSON configs and its safetensors weights."""
    directory = Path(directory)
    return sha256_json(
        {
            "json": sha256_tree(directory, "*.json"),
            "safetensors": sha256_tree(directory, "*.safetensors"),
        }
    )


def adapter_sha256(directory: str | Path) -> str:
    """Hash of a peft adapter's weights file: the value the training stage records for it."""
    from faceaudit.models.loading import resolve_adapter_dir

    return sha256_file(resolve_adapter_dir(Path(directory)) / "adapter_model.safetensors")


def _hub_snapshot(repo_id: str, revision: str | None) -> Path | None:
    """The local snapshot of a hub checkpoint (from the cache; never downloads)."""
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(repo_id, revision=revision, local_files_only=True))
    except Exception:  # noqa: BLE001 - not cached, or not a hub id: the identity says so
        return None


def _short_name(source: str) -> str:
    path = Path(source)
    if path.is_dir() and path.name in {"base", "model", "checkpoint"}:
        return f"{path.parent.name}/{path.name}"
    return path.name if path.is_dir() else source


def checkpoint_identity(
    source: str | Path,
    *,
    adapter: str | Path | None = None,
    revision: str | None = None,
    model: Any = None,
) -> ModelIdentity:
    """Identity of a transformers checkpoint (directory or hub id), with an optional adapter."""
    source = str(source)
    path = Path(source)
    sha: str | None
    if path.is_dir():
        sha = checkpoint_sha256(path)
    else:
        snapshot = _hub_snapshot(source, revision)
        commit = getattr(getattr(model, "config", None), "_commit_hash", None)
        revision = commit or (snapshot.name if snapshot is not None else revision)
        sha = checkpoint_sha256(snapshot) if snapshot is not None else None
    adapter_hash = adapter_sha256(adapter) if adapter is not None else None
    name = _short_name(source) + (" + LoRA adapter" if adapter is not None else "")
    combined = (
        sha
        if adapter_hash is None or sha is None
        else sha256_json({"base": sha, "adapter": adapter_hash})
    )
    return ModelIdentity(
        name=name,
        backend="hf",
        source=source + (f" + {adapter}" if adapter else ""),
        sha256=combined,
        revision=revision,
        adapter_sha256=adapter_hash,
    )
