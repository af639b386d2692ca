"""Throughput of the template corpus backend on one core, against a same-run baseline.

Target (issue "FairFaceGPT corpus generation"): at least 20,000 Q&A pairs per
second on one core for FairFaceGPT's size, 10,954 images x 8 aspects = 87,632
pairs. The baseline formats the same number of plain f-strings, so the printed
ratio says how many times slower than trivial string work the generator is,
independent of how busy the machine is. The end-to-end figure (generation,
quality gate, JSONL writing and resume bookkeeping through ``generate_corpus``)
is printed as well.

    .venv/bin/python benchmarks/bench_template.py [--images 10954]
"""

from __future__ import annotations

import argparse
import os
import random
import tempfile
import time
from pathlib import Path

from faceaudit.corpus.backends.template import TemplateBackend
from faceaudit.corpus.config import CorpusConfig
from faceaudit.corpus.generate import generate_corpus
from faceaudit.corpus.labels import label_view
from faceaudit.corpus.prompts import ASPECT_IDS
from faceaudit.corpus.quality import check_answer
from faceaudit.data.records import FaceRecord

AGES = ["0-2", "3-9", "10-19", "20-29", "30-39", "40-49", "50-59", "60-69", "more than 70"]
RACES = ["White", "Black", "Latino_Hispanic", "East Asian", "Southeast Asian", "Indian", "Middle Eastern"]


def fake_records(n: int, seed: int = 0) -> list[FaceRecord]:
    rng = random.Random(seed)
    return [
        FaceRecord(id=f"val/{i}", image_path=f"val/{i}.jpg", split="val",
                   attributes={"age": rng.choice(AGES), "gender": rng.choice(["Male", "Female"]),
                               "race": rng.choice(RACES)})
        for i in range(1, n + 1)
    ]


def baseline(records: list[FaceRecord]) -> float:
    start = time.perf_counter()
    out = [f"{r.id}:{a} is a face of a {r.attributes['gender']} aged {r.attributes['age']}."
           for r in records for a in ASPECT_IDS]
    elapsed = time.perf_counter() - start
    assert len(out) == len(records) * len(ASPECT_IDS)
    return elapsed


def template(records: list[FaceRecord], gate: bool) -> float:
    backend = TemplateBackend(seed=0)
    start = time.perf_counter()
    n = 0
    for record in records:
        labels = label_view(record.attributes)
        for aspect in ASPECT_IDS:
            answer = backend.answer(record.id, aspect, labels)
            if gate and check_answer(answer, labels, finish_reason="stop") is not None:
                raise AssertionError(f"template answer rejected: {record.id} {aspect}")
            n += 1
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=10_954)
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core, as the target says
    records = fake_records(args.images)
    pairs = len(records) * len(ASPECT_IDS)

    base = min(baseline(records) for _ in range(3))
    gen = min(template(records, gate=False) for _ in range(3))
    gated = min(template(records, gate=True) for _ in range(2))
    with tempfile.TemporaryDirectory() as tmp:
        section = generate_corpus(records, Path(tmp), CorpusConfig(), Path(tmp) / "c.jsonl",
                                  progress=False)
    print(f"pairs: {pairs:,} ({len(records):,} images x {len(ASPECT_IDS)} aspects), one core")
    print(f"baseline f-strings:          {pairs / base:12,.0f} pairs/s")
    print(f"template backend:            {pairs / gen:12,.0f} pairs/s  "
          f"({gen / base:.1f}x the baseline's time)")
    print(f"template + quality gate:     {pairs / gated:12,.0f} pairs/s  "
          f"({gated / base:.1f}x the baseline's time)")
    print(f"generate_corpus end to end:  {section.pairs_per_second:12,.0f} pairs/s  "
          f"(incl. JSONL writing; {section.n_accepted:,} accepted)")
    target = 20_000
    verdict = "meets" if pairs / gen >= target else "MISSES"
    print(f"target >= {target:,} pairs/s for the template backend: {verdict}")


if __name__ == "__main__":
    main()
