"""faceaudit: fairness and robustness audits for face-understanding multimodal LLMs.

The public API, importable from the package's top level (each name is loaded on first use, so
``import faceaudit`` and ``faceaudit --help`` stay fast); ``docs/api.md`` documents every one
(``python -m faceaudit.apidoc --write docs/api.md`` regenerates it).
"""

from __future__ import annotations

import importlib
import os as _os
from typing import Any

__version__ = "0.1.0"

# Nothing leaves the machine unless a backend that sends data is configured (docs/design.md,
# Privacy). albumentations asks pypi.org for its latest version when it is first imported;
# set here, at the package's import, so the Python API and notebooks are as offline as the
# CLI (which also sets it). A user who exported the variable keeps their value.
_os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
# OpenMP threads that wait at a barrier spin by default (libgomp). When another process is
# busy on the same cores, a spinning thread burns the time slice its partner needs: on 2
# shared cores the tiny model trained at 3.5-5.7 samples/s with 2 spinning threads against
# 28-60 with 2 passive ones (benchmarks/bench_threads.py, benchmarks/results/threads-cpu.json).
# Passive waiting must be chosen before torch loads libgomp; a user's own setting wins.
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

#: Public name -> the module that defines it.
_PUBLIC: dict[str, str] = {
    "run_audit": "faceaudit.pipeline",
    "AuditConfig": "faceaudit.config",
    "load_config": "faceaudit.config",
    "AuditResult": "faceaudit.schema",
    "load_dataset": "faceaudit.data.loaders",
    "load_facexbench": "faceaudit.data.facexbench",
    "build_mcq_items": "faceaudit.data.mcq",
    "FaceModel": "faceaudit.models.base",
    "make_model": "faceaudit.models.registry",
    "register_perturbation": "faceaudit.perturb.registry",
    "register_scanner": "faceaudit.scan.registry",
    "compare_audits": "faceaudit.compare",
    "export_items": "faceaudit.items",
    "import_answers": "faceaudit.items",
    "check_contamination": "faceaudit.contamination.stage",
}

__all__ = ["__version__", *_PUBLIC]


def __getattr__(name: str) -> Any:
    module = _PUBLIC.get(name)
    if module is None:
        raise AttributeError(f"module 'faceaudit' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_PUBLIC})
