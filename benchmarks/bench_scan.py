"""The full corpus scan of 1,000,000 Q&A pairs: wall time and peak memory, against a baseline.

Target (issue #12): under 60 s on 2 cores and under 4 GiB of memory, for a corpus
eleven times FairFaceGPT's 87,632 pairs. The corpus is written as the generator's
JSONL (every record field, 125,000 images x 8 aspects, FairFace labels); answers
are 4-6 sentences (about 65 words, FairFaceGPT's mean) drawn from the template
backend's sentences with random numbers, colours and hedges mixed in, so that
nearly every answer is distinct, as a language model's are.

The scan runs in a child process so that its peak RSS is the scan's alone:
reading the file, joining the labels, every registered scanner and writing the
review queue. The baseline, in the same child, is a plain tokenisation pass
(``re.findall`` on each lower-cased answer, what ``CountVectorizer``'s analyser
does and nothing more); the ratio says how many such passes the whole scan costs,
independent of how busy the machine is.

    .venv/bin/python benchmarks/bench_scan.py [--pairs 1000000]
"""

from __future__ import annotations

import argparse
import json
import random
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

AGES = ["0-2", "3-9", "10-19", "20-29", "30-39", "40-49", "50-59", "60-69", "more than 70"]
RACES = ["White", "Black", "Latino_Hispanic", "East Asian", "Southeast Asian", "Indian", "Middle Eastern"]
EXTRAS = [
    "The estimated age is around {n} years.", "A small mark sits about {n} millimetres below the left eye.",
    "The hair looks {c} under the available light.", "The image appears to be roughly {n} pixels across.",
    "This may suggest a slightly {c} tint in the shadows.", "Possibly {n} percent of the face is in shadow.",
]
COLOURS = ["brown", "grey", "warm", "cool", "dark", "light", "golden", "reddish", "pale", "black"]


def write_corpus(path: Path, labels_path: Path, pairs: int, seed: int = 0) -> None:
    from faceaudit.corpus.backends.template import TemplateBackend
    from faceaudit.corpus.labels import label_view
    from faceaudit.corpus.prompts import ASPECT_IDS

    rng = random.Random(seed)
    backend = TemplateBackend(seed=seed)
    n_images = pairs // len(ASPECT_IDS)
    labels = {f"val/{i}": {"race": rng.choice(RACES), "gender": rng.choice(["Male", "Female"]),
                           "age": rng.choice(AGES)} for i in range(n_images)}
    pool: dict[str, list[str]] = {a: [] for a in ASPECT_IDS}
    for image_id in list(labels)[:3000]:
        view = label_view(labels[image_id])
        for aspect in ASPECT_IDS:
            sentences = re.split(r"(?<=[.!?])\s+", backend.answer(image_id, aspect, view))
            pool[aspect].extend(s for s in sentences if s)
    pool = {a: sorted(set(s)) for a, s in pool.items()}
    with path.open("w", encoding="utf-8") as out:
        for image_id in labels:
            for aspect in ASPECT_IDS:
                parts = rng.sample(pool[aspect], min(rng.randint(3, 5), len(pool[aspect])))
                extra = rng.choice(EXTRAS).format(n=rng.randint(2, 900), c=rng.choice(COLOURS))
                parts.insert(rng.randint(0, len(parts)), extra)
                record = {
                    "key": f"{image_id}:{aspect}", "image_id": image_id, "image_path": f"{image_id}.jpg",
                    "aspect": aspect, "question": f"Describe the {aspect.replace('_', ' ')} of the image.",
                    "answer": " ".join(parts), "backend": "bench", "model": "bench", "prompt_sha256": None,
                    "status": "accepted", "reject_reason": None, "started_at": "2026-01-01T00:00:00+00:00",
                    "finished_at": "2026-01-01T00:00:01+00:00", "attempts": 1,
                }  # fmt: skip
                out.write(json.dumps(record) + "\n")
    labels_path.write_text(json.dumps(labels), encoding="utf-8")


def scan_child(corpus: Path, labels_path: Path, out_dir: Path) -> None:
    """Runs in the child: the timed scan, then the baseline, then one JSON line of results."""
    from faceaudit.scan.config import ScanConfig
    from faceaudit.scan.stage import run_scan
    from faceaudit.scan.table import load_scan_corpus
    from faceaudit.scan.tokens import TOKEN_PATTERN

    labels = json.loads(labels_path.read_text(encoding="utf-8"))
    start = time.perf_counter()
    table = load_scan_corpus(corpus, labels, ["race", "gender", "age"])
    loaded = time.perf_counter()
    section = run_scan(table, ScanConfig(), out_dir=out_dir)
    scanned = time.perf_counter()
    pattern = re.compile(TOKEN_PATTERN)
    begin = time.perf_counter()
    words = 0
    for answer in table.answers:
        words += len(pattern.findall(answer.lower()))
    baseline = time.perf_counter() - begin
    usage = resource.getrusage(resource.RUSAGE_SELF)
    peak = usage.ru_maxrss * 1024
    print(json.dumps({
        "pairs": table.n_pairs, "words": words, "load_s": loaded - start, "scan_s": scanned - loaded,
        "total_s": scanned - start, "baseline_s": baseline, "peak_rss": peak,
        "cpu_s": usage.ru_utime + usage.ru_stime,
        "significant": section.association.n_significant if section.association else None,
        "queued": section.review.n_queued if section.review else None,
    }))  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=1_000_000)
    parser.add_argument("--child", nargs=3, metavar=("CORPUS", "LABELS", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        scan_child(*(Path(p) for p in args.child))
        return
    with tempfile.TemporaryDirectory() as tmp:
        corpus, labels, out = Path(tmp) / "corpus.jsonl", Path(tmp) / "labels.json", Path(tmp) / "scan"
        begin = time.perf_counter()
        write_corpus(corpus, labels, args.pairs)
        print(f"corpus: {args.pairs:,} pairs, {corpus.stat().st_size / 2**20:,.0f} MiB JSONL "
              f"(written in {time.perf_counter() - begin:.0f} s)")
        child = subprocess.run(
            [sys.executable, __file__, "--child", str(corpus), str(labels), str(out)],
            check=True, capture_output=True, text=True,
        )
    r = json.loads(child.stdout.strip().splitlines()[-1])
    gib = r["peak_rss"] / 2**30
    print(f"answers: {r['words'] / r['pairs']:.0f} words on average, {r['words']:,} in all")
    print(f"scan:    {r['total_s']:.1f} s  (reading + joining labels {r['load_s']:.1f} s, scanners and "
          f"review queue {r['scan_s']:.1f} s)")
    print(f"baseline plain tokenisation pass: {r['baseline_s']:.1f} s  ->  the scan costs "
          f"{r['total_s'] / r['baseline_s']:.1f}x the baseline")
    print(f"peak RSS of the scanning process: {gib:.2f} GiB; its CPU time (scan and baseline): "
          f"{r['cpu_s']:.1f} s (wall time above this means other processes held the cores)")
    print(f"significant associations: {r['significant']}; review queue: {r['queued']} items")
    ok = r["total_s"] < 60 and gib < 4
    print(f"target < 60 s and < 4 GiB for {r['pairs']:,} pairs: {'meets' if ok else 'MISSES'}")


if __name__ == "__main__":
    main()
