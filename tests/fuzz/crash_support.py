"""The long stages the crash tests kill, run the same way in a child process and in the test.

``python crash_support.py STAGE ROOT OUT [--slow]`` runs one stage writing to ``OUT``; with
``--slow`` every stored record and every fsync takes a few milliseconds more (a slow disk), so
that a kill lands between writes, inside one, or inside a whole-file save instead of after the
end. The test's own uninterrupted run calls :func:`run_stage` without the slowing.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
for folder in ("corpus", "evaluate", "perturb", "scan"):
    if str(TESTS / folder) not in sys.path:
        sys.path.insert(0, str(TESTS / folder))

#: stage -> (key field of its JSONL records, how many records one complete run stores)
STAGES = {"generate": ("key", 24 * 8), "predict": ("item_id", 300), "perturb": ("key", 24 * 2 * 6)}


def section_path(out: Path) -> Path:
    return out.with_name(out.stem + ".section.json")


def run_stage(stage: str, root: Path, out: Path) -> None:
    if stage == "generate":
        from corpus_server import make_face_set

        from faceaudit.corpus.config import CorpusConfig
        from faceaudit.corpus.generate import generate_corpus

        generate_corpus(make_face_set(root, n=24), root, CorpusConfig(backend="template"), out,
                        seed=3, progress=False)
    elif stage == "predict":
        from test_predict import make_items

        from faceaudit.evaluate.predict import predict
        from faceaudit.models.simulated import SimulatedFaceModel

        predict(make_items(300), root, SimulatedFaceModel({"default": 0.7}, seed=9, invalid_rate=0.1),
                mode="generation", out_jsonl=out, batch_size=1, progress=False)
    elif stage == "scan":
        # `faceaudit scan` of a 180-pair ShareGPT corpus with FairFace labels: the run directory
        # OUT gets corpus/corpus.jsonl (imported, resumable), scan/review_queue.csv,
        # scan/review.html and audit.json.
        from test_scan_cli import _files

        from faceaudit.cli import main

        corpus, labels = _files(root)
        code = main(["-q", "scan", str(corpus), "--labels", str(labels), "--attributes", "race,gender",
                     "--output-dir", str(out.parent), "--run-id", out.name,
                     "--set", "dataset.synthetic.n=30", "--set", "scan.review.precision=0.3"])
        if code:
            raise SystemExit(code)
    else:
        # 24 images x 2 questions x (2 perturbations x 3 severities), answers stored as made.
        from test_perturb_resume import Crashing, _items, _robustness

        from faceaudit.evaluate.predict import predict
        from faceaudit.store import atomic_write_json

        items = _items(root)
        clean = predict(items, root, Crashing(None), mode="scoring", out_jsonl=out.with_name(out.stem + ".clean.jsonl"),
                        progress=False, sensitive_attributes=["skin"])
        section = _robustness(items, root, clean, Crashing(None), out).model_dump(mode="json")
        section.pop("throughput")  # timings
        atomic_write_json(section_path(out), section)


def slow_disk(record_s: float = 0.004, fsync_s: float = 0.0) -> None:
    """Every JSONL record (and with ``fsync_s`` every fsync) a little slower: the kill windows widen."""
    import os

    from faceaudit import store

    append = store.JsonlWriter.append

    def slow_append(self, record):
        time.sleep(record_s)
        return append(self, record)

    real_fsync = os.fsync

    def slow_fsync(fd):
        time.sleep(fsync_s)
        return real_fsync(fd)

    store.JsonlWriter.append = slow_append
    os.fsync = slow_fsync


def records(path: Path, key: str, volatile: frozenset[str] = frozenset({"started_at", "finished_at"})) -> list[dict]:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    return sorted(({k: v for k, v in row.items() if k not in volatile} for row in rows), key=lambda r: r[key])


if __name__ == "__main__":
    stage, root, out = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
    if "--slow" in sys.argv[4:]:
        # The scan's whole-file saves are few and fast: each fsync is slowed too, so that a kill
        # can land inside one.
        slow_disk(fsync_s=0.05 if stage == "scan" else 0.0)
    run_stage(stage, root, out)
