"""faceaudit.scan: corpus bias scanners and the human review queue.

Public API::

    run_scan(corpus: ScanCorpus, cfg, *, out_dir=None, seed=0) -> CorpusScanSection
    scan_corpus_file(corpus_path, labels, attributes, cfg=None, *, out_dir=None) -> CorpusScanSection
    build_scan_corpus(pairs, labels, attributes) / load_scan_corpus(path, labels, attributes)
    register_scanner(name)   decorator; the result is stored in corpus_scan.<name>
    read_verdicts(path)      a reviewer's CSV -> {key: "ok" | "error"}
"""

from faceaudit.scan.config import ReviewConfig, ScanConfig
from faceaudit.scan.registry import SCANNERS, ScanContext, register_scanner, scanner_names
from faceaudit.scan.review import read_verdicts, sample_size
from faceaudit.scan.stage import run_scan, scan_corpus_file
from faceaudit.scan.table import (
    ScanCorpus,
    build_scan_corpus,
    load_scan_corpus,
    read_corpus,
    read_labels,
)

__all__ = [
    "SCANNERS",
    "ReviewConfig",
    "ScanConfig",
    "ScanContext",
    "ScanCorpus",
    "build_scan_corpus",
    "load_scan_corpus",
    "read_corpus",
    "read_labels",
    "read_verdicts",
    "register_scanner",
    "run_scan",
    "sample_size",
    "scan_corpus_file",
    "scanner_names",
]
