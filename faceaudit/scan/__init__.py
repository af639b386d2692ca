"""faceaudit.scan: corpus bias scanners and the human review queue.

Public API (imported lazily so that ``faceaudit.config`` can import the scan
config without pulling in numpy, pandas and statsmodels)::

    run_scan(corpus: ScanCorpus, cfg, *, out_dir=None, seed=0) -> CorpusScanSection
    scan_corpus_file(corpus_path, labels, attributes, cfg=None, *, out_dir=None) -> CorpusScanSection
    build_scan_corpus(pairs, labels, attributes) / load_scan_corpus(path, labels, attributes)
    register_scanner(name)   decorator; the result is stored in corpus_scan.<name>
    read_verdicts(path)      a reviewer's CSV -> {key: "ok" | "error"}
"""

from __future__ import annotations

from typing import Any

_EXPORTS = {
    "ReviewConfig": "faceaudit.scan.config",
    "ScanConfig": "faceaudit.scan.config",
    "SCANNERS": "faceaudit.scan.registry",
    "ScanContext": "faceaudit.scan.registry",
    "register_scanner": "faceaudit.scan.registry",
    "scanner_names": "faceaudit.scan.registry",
    "read_verdicts": "faceaudit.scan.review",
    "sample_size": "faceaudit.scan.review",
    "run_scan": "faceaudit.scan.stage",
    "scan_corpus_file": "faceaudit.scan.stage",
    "ScanCorpus": "faceaudit.scan.table",
    "build_scan_corpus": "faceaudit.scan.table",
    "load_scan_corpus": "faceaudit.scan.table",
    "read_corpus": "faceaudit.scan.table",
    "read_labels": "faceaudit.scan.table",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'faceaudit.scan' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(_EXPORTS[name]), name)
