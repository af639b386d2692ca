"""The scanner registry: a scanner is a function from the scan context to its typed result.

Each scanner's result is stored under its name in ``corpus_scan`` (a field of
:class:`~faceaudit.schema.corpus_scan.CorpusScanSection`), so a new scanner
comes with its schema field. Scanners run in registration order, except those
registered with ``last=True`` (the review queue, which queues what the others
flagged).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from faceaudit.scan.config import ScanConfig
from faceaudit.scan.rates import RateBuilder
from faceaudit.scan.table import ScanCorpus
from faceaudit.schema.common import ResultModel
from faceaudit.schema.corpus_scan import CorpusScanSection


@dataclass
class ScanContext:
    corpus: ScanCorpus
    config: ScanConfig
    out_dir: Path | None
    rates: RateBuilder
    seed: int = 0
    # reason -> bool per pair: what a human reviewer should look at.
    flags: dict[str, np.ndarray] = field(default_factory=dict)

    def flag(self, reason: str, mask: np.ndarray) -> None:
        if mask.any():
            self.flags[reason] = self.flags.get(reason, np.zeros_like(mask)) | mask


ScannerFn = Callable[[ScanContext], ResultModel]
SCANNERS: dict[str, ScannerFn] = {}
_LAST: set[str] = set()


def register_scanner(name: str, *, last: bool = False) -> Callable[[ScannerFn], ScannerFn]:
    """Decorator adding a corpus scanner whose result is stored in ``corpus_scan.<name>``."""
    if name not in CorpusScanSection.model_fields:
        raise ValueError(
            f"scanner {name!r} has no field in CorpusScanSection; add one holding its result type"
        )

    def decorate(fn: ScannerFn) -> ScannerFn:
        SCANNERS[name] = fn
        if last:
            _LAST.add(name)
        return fn

    return decorate


#: Modules that register scanners when imported, in report order: the built-in ones, loaded
#: the way a plug-in would be, so the registry itself depends on none of them.
PROVIDERS: list[str] = [
    "faceaudit.scan.scanners", "faceaudit.scan.association", "faceaudit.scan.hygiene",
    "faceaudit.scan.review", "faceaudit.scan.tone",
]


def scanner_names() -> list[str]:
    """Every scanner in the order they run: built-in, then plug-in (entry point group
    faceaudit.scanners), then the ``last`` ones (the review queue, so it queues their flags)."""
    import importlib

    from faceaudit.plugins import SCANNERS_GROUP, names

    for module in PROVIDERS:
        importlib.import_module(module)
    plugins = [n for n in names(SCANNERS_GROUP) if n not in SCANNERS]

    def rank(name: str) -> int:
        # By provider, not by registration: which module a process happened to import first
        # must not reorder the scanners (scanners_run is part of audit.json). Within a module,
        # and among modules outside PROVIDERS, registration order stands (sorted is stable).
        module = SCANNERS[name].__module__
        return PROVIDERS.index(module) if module in PROVIDERS else len(PROVIDERS)

    ordered = sorted(SCANNERS, key=rank)
    return [n for n in ordered if n not in _LAST] + plugins + [n for n in ordered if n in _LAST]


def scanner(name: str) -> ScannerFn:
    """The scanner called ``name``: a registered one, else the plug-in that declares it."""
    if name in SCANNERS:
        return SCANNERS[name]
    from faceaudit.plugins import SCANNERS_GROUP, plugin

    fn = plugin(SCANNERS_GROUP, name)
    if fn is None:
        raise ValueError(f"unknown scanner {name!r}; registered: {scanner_names()}")
    return fn
