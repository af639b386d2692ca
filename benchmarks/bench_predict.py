"""Benchmark: items/s of the hf backend's scoring mode against generation mode (the baseline).

1. Scoring (one forward pass, last-position logits of the option letters) vs generation
   (``generate()`` with ``--new-tokens`` new tokens, then parsing; how benchmark harnesses
   answer), same items, same batch size: prints items/s of each and the ratio.
2. Image preprocessing overlap: scoring with decoding/preprocessing prefetched in a
   background thread vs done inline on the main loop: prints the ratio.

Runs on the tiny random-weight InternVL (built in a temporary folder) by default, or on a
real checkpoint with ``--model OpenGVLab/InternVL3-1B-hf --device cuda --dtype bfloat16``.
Images are random ``--image-size`` px PNGs (FairFace crops are 224 px), so the image
processor has real resizing to do.

Run: ``.venv/bin/python benchmarks/bench_predict.py [--items 192 --batch-size 16]``
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from faceaudit.data.records import McqItem
from faceaudit.evaluate.predict import predict
from faceaudit.models.hf import HFFaceModel
from faceaudit.train.tiny import build_tiny_internvl

QUESTIONS = [
    ("What is the gender of the person in the image?", ["Male", "Female"]),
    ("What is the age of the person?", ["0-2", "3-9", "10-19", "20-29"]),
    ("Is the person wearing glasses?", ["Yes", "No"]),
]


def make_items(root: Path, n: int, image_size: int) -> list[McqItem]:
    rng = np.random.default_rng(0)
    items = []
    for i in range(n):
        Image.fromarray(rng.integers(0, 256, (image_size, image_size, 3), dtype=np.uint8)).save(root / f"{i}.png")
        question, options = QUESTIONS[i % len(QUESTIONS)]
        items.append(McqItem(item_id=f"q{i}", image_ids=[f"img{i}"], image_paths=[f"{i}.png"], task="t",
                             question=question, options=options, answer="A", groups={"g": str(i % 2)}))
    return items


def timed(label: str, items, root: Path, model: HFFaceModel, work: Path, **kwargs) -> float:
    out = work / f"{label}.jsonl"
    for stale in (out, out.with_name(out.name + ".meta.json")):
        stale.unlink(missing_ok=True)
    start = time.perf_counter()
    predict(items, root, model, out_jsonl=out, progress=False, **kwargs)
    rate = len(items) / (time.perf_counter() - start)
    print(f"{label:<34} {rate:9.1f} items/s")
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=None, help="checkpoint dir or hub id (default: a fresh tiny InternVL)")
    parser.add_argument("--device", default=None)
    parser.add_argument("--dtype", default=None)
    parser.add_argument("--items", type=int, default=192)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--new-tokens", type=int, default=8, help="generation baseline: max_new_tokens")
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--repeats", type=int, default=2, help="best of N runs per setting")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench_predict_"))
    try:
        source = args.model or build_tiny_internvl(work / "tiny")
        model = HFFaceModel.load(source, device=args.device, dtype=args.dtype)
        root = work / "images"
        root.mkdir()
        items = make_items(root, args.items, args.image_size)
        print(f"model {source}, device {model.device}, {args.items} items, batch {args.batch_size}, "
              f"{args.image_size} px images")
        timed("warm-up", items[: args.batch_size * 2], root, model, work, mode="scoring",
              batch_size=args.batch_size)

        def best(label: str, **kwargs) -> float:
            return max(timed(f"{label} #{r + 1}", items, root, model, work, batch_size=args.batch_size, **kwargs)
                       for r in range(args.repeats))

        scoring = best("scoring, prefetch 2", mode="scoring", prefetch=2)
        generation = best(f"generation ({args.new_tokens} tokens), prefetch 2", mode="generation", prefetch=2,
                          max_new_tokens=args.new_tokens)
        inline = best("scoring, preprocessing inline", mode="scoring", prefetch=0)
        print(f"\nscoring vs generation (baseline): {scoring / generation:.2f}x items/s")
        print(f"preprocessing overlap on vs off:  {scoring / inline:.2f}x items/s")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
