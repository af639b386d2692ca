"""faceaudit.corpus: FairFaceGPT-style Q&A corpus generation, quality gate, ShareGPT I/O.

Public API (imported lazily so that ``faceaudit.config`` can import the corpus
config without pulling in the generator)::

    generate_corpus(records, image_root, cfg, out_path, *, seed=0, progress=True) -> CorpusSection
    describe_corpus(corpus_jsonl) -> CorpusSection   (a corpus made elsewhere)
    export_sharegpt(corpus_jsonl, out_json, *, image_root_prefix="") -> Path
    import_sharegpt(path, out_jsonl, *, strip_prefix="") -> ImportReport
    llamafactory_dataset_info(file_name) -> dict; llamafactory_instructions(exported, media_dir) -> str
    load_prompt_set(path | None) -> PromptSet   (PromptSet.sha256)
"""

from __future__ import annotations

from typing import Any

_EXPORTS = {
    "generate_corpus": "faceaudit.corpus.generate",
    "RECORD_FIELDS": "faceaudit.corpus.generate",
    "describe_corpus": "faceaudit.corpus.generate",
    "export_sharegpt": "faceaudit.corpus.sharegpt",
    "import_sharegpt": "faceaudit.corpus.sharegpt",
    "llamafactory_dataset_info": "faceaudit.corpus.sharegpt",
    "llamafactory_instructions": "faceaudit.corpus.sharegpt",
    "ImportReport": "faceaudit.corpus.sharegpt",
    "load_prompt_set": "faceaudit.corpus.prompts",
    "PromptSet": "faceaudit.corpus.prompts",
    "ASPECT_IDS": "faceaudit.corpus.prompts",
    "check_answer": "faceaudit.corpus.quality",
    "CorpusConfig": "faceaudit.corpus.config",
    "CorpusBackendError": "faceaudit.corpus.backends.base",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'faceaudit.corpus' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(_EXPORTS[name]), name)
