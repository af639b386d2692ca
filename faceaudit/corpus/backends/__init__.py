"""Corpus generator backends behind one interface (``CorpusBackend``)."""

from __future__ import annotations

from faceaudit.corpus.backends.base import (
    CorpusBackend,
    CorpusBackendError,
    GenerationRequest,
    GenerationResult,
    ResultSink,
)
from faceaudit.corpus.config import CorpusConfig


def make_backend(cfg: CorpusConfig, *, seed: int = 0) -> CorpusBackend:
    """The backend ``cfg.backend`` names, configured from ``cfg``."""
    if cfg.backend == "template":
        from faceaudit.corpus.backends.template import TemplateBackend

        return TemplateBackend(seed=seed)
    if cfg.backend == "openai":
        from faceaudit.corpus.backends.openai import OpenAIBackend

        return OpenAIBackend.from_config(cfg, seed=seed)
    if cfg.backend == "hf":
        from faceaudit.corpus.backends.hf import HFBackend

        return HFBackend.from_config(cfg, seed=seed)
    raise ValueError(f"unknown corpus backend {cfg.backend!r}; accepted: template, openai, hf")


__all__ = [
    "CorpusBackend",
    "CorpusBackendError",
    "GenerationRequest",
    "GenerationResult",
    "ResultSink",
    "make_backend",
]
