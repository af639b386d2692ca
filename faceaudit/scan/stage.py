"""Run the registered scanners on a corpus and assemble the ``corpus_scan`` section."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from faceaudit.errors import InputError
from faceaudit.scan.config import ScanConfig
from faceaudit.scan.rates import RateBuilder
from faceaudit.scan.registry import SCANNERS, ScanContext, scanner, scanner_names
from faceaudit.scan.table import ScanCorpus, load_scan_corpus, read_labels
from faceaudit.schema.corpus_scan import CorpusScanSection

log = logging.getLogger("faceaudit")


def run_scan(
    corpus: ScanCorpus,
    cfg: ScanConfig,
    *,
    out_dir: Path | None = None,
    seed: int = 0,
    corpus_sha256: str | None = None,
) -> CorpusScanSection:
    """Every configured scanner on ``corpus``; review files go to ``out_dir`` (None: not written)."""
    started = time.perf_counter()
    available = scanner_names()
    wanted = cfg.scanners or available
    unknown = [name for name in wanted if name not in available]
    if unknown:
        raise ValueError(f"scan.scanners: unknown scanner(s) {unknown}; registered: {available}")
    if "review" in wanted and not cfg.review.enabled:
        wanted = [name for name in wanted if name != "review"]
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
    ctx = ScanContext(corpus, cfg, out_dir, RateBuilder(corpus, cfg.min_group_n), seed=seed)
    results: dict[str, Any] = {}
    plugin_results: dict[str, dict[str, Any]] = {}
    # Registration order, whatever order the config lists them in: review comes last.
    for name in [n for n in available if n in wanted]:
        begin = time.perf_counter()
        result = scanner(name)(ctx)
        if name in SCANNERS:
            results[name] = result
        else:
            plugin_results[name] = _plugin_result(name, result)
        log.info("scan %s: %.1f s", name, time.perf_counter() - begin)
    marginal = [c.attribute for c in corpus.columns if " × " not in c.attribute]
    return CorpusScanSection(
        corpus_path=corpus.corpus_path,
        corpus_sha256=corpus_sha256,
        attributes=marginal,
        intersections=[c.attribute for c in corpus.columns if " × " in c.attribute],
        min_group_n=cfg.min_group_n,
        scanners_run=[n for n in available if n in results or n in plugin_results],
        wall_time_s=round(time.perf_counter() - started, 3),
        plugin_results=plugin_results,
        **results,
    )


def _plugin_result(name: str, result: Any) -> dict[str, Any]:
    """A plug-in scanner's result as the JSON object audit.json stores."""
    if isinstance(result, BaseModel):
        result = result.model_dump(mode="json")
    if not isinstance(result, Mapping):
        raise InputError(f"plug-in scanner {name!r} returned {type(result).__name__}; expected a mapping "
                         "or a pydantic model")
    try:
        return json.loads(json.dumps(dict(result), allow_nan=True))
    except (TypeError, ValueError) as error:
        raise InputError(f"plug-in scanner {name!r} returned a result that is not JSON: {error}") from None


def scan_corpus_file(
    corpus_path: str | Path,
    labels: Mapping[str, Mapping[str, str]] | str | Path,
    attributes: Sequence[str],
    cfg: ScanConfig | None = None,
    *,
    out_dir: Path | None = None,
    seed: int = 0,
) -> CorpusScanSection:
    """Scan a corpus JSONL or ShareGPT JSON with labels (a mapping or a label file)."""
    cfg = cfg or ScanConfig()
    if isinstance(labels, (str, Path)):
        labels = read_labels(labels)
    corpus = load_scan_corpus(
        corpus_path, labels, attributes, intersections=cfg.intersections
    )
    return run_scan(corpus, cfg, out_dir=out_dir, seed=seed)


def scan_run_corpus(
    corpus_path: str | Path,
    cfg: ScanConfig,
    *,
    records: Sequence[object] | None,
    attributes: Sequence[str],
    out_dir: Path | None,
    seed: int = 0,
    corpus_sha256: str | None = None,
) -> CorpusScanSection:
    """The pipeline's scan stage: labels from ``cfg.labels`` or else the dataset's records."""
    if cfg.labels:
        labels: Mapping[str, Mapping[str, str]] = read_labels(cfg.labels)
        source = cfg.labels
    else:
        labels = {r.id: r.attributes for r in records or ()}  # type: ignore[attr-defined]
        source = "the dataset"
    chosen = list(cfg.attributes or attributes)
    if not chosen:
        raise InputError(
            "the corpus scan needs sensitive attributes to compare groups: set scan.attributes "
            "or use a dataset that declares them"
        )
    corpus = load_scan_corpus(
        corpus_path, labels, chosen, intersections=cfg.intersections
    )
    if corpus.n_pairs and not corpus.labelled_pairs.any():
        raise InputError(
            f"none of the {corpus.n_images} image ids of corpus {corpus_path} (e.g. "
            f"{corpus.image_ids[:2]}) has {chosen} labels in {source}; pass the corpus's labels "
            "with scan.labels (a FairFace label CSV or a manifest)"
        )
    return run_scan(corpus, cfg, out_dir=out_dir, seed=seed, corpus_sha256=corpus_sha256)
