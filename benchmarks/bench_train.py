"""Training throughput of the tiny recipe against a forward-only baseline in the same run.

    .venv/bin/python benchmarks/bench_train.py [--steps 40] [--batch 16]

Prints steps/s of ``train_lora`` (data loading, forward, backward, optimiser, logging) and of
a forward-only pass over the same encoded batches, and their ratio. A ratio far below ~0.3
means the training loop (not the model) is the bottleneck. Numbers on a shared CPU are noisy;
compare ratios, not absolute rates.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from pathlib import Path

import torch
from PIL import Image

from faceaudit.data.records import OPTION_LETTERS, McqItem
from faceaudit.models.chat import encode_prompt, load_images, pad_batch
from faceaudit.models.loading import load_model
from faceaudit.train.recipe import load_recipe
from faceaudit.train.tiny import tiny_internvl_cached
from faceaudit.train.trainer import train_lora

COLOURS = {"red": (220, 30, 30), "green": (30, 200, 40), "blue": (30, 40, 220), "grey": (128, 128, 128)}


def square_items(root: Path, n: int) -> list[McqItem]:
    rng = random.Random(0)
    (root / "images").mkdir(parents=True, exist_ok=True)
    items = []
    for index in range(n):
        colour = list(COLOURS)[index % len(COLOURS)]
        path = f"images/{index}.png"
        Image.new("RGB", (64, 64), COLOURS[colour]).save(root / path)
        options = rng.sample(list(COLOURS), 4)
        items.append(McqItem(item_id=str(index), image_ids=[str(index)], image_paths=[path], task="colour",
                             question="What is the colour of the square?", options=options,
                             answer=OPTION_LETTERS[options.index(colour)]))
    return items


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--batch", type=int, default=16)
    args = parser.parse_args()
    torch.set_num_threads(max(1, torch.get_num_threads()))
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        base = tiny_internvl_cached(root / "models")
        items = square_items(root, args.batch * 4)
        recipe = load_recipe("tiny").model_copy(update={
            "max_steps": args.steps, "per_device_train_batch_size": args.batch, "save_steps": 10**6,
            "logging_steps": 10, "include_corpus": False,
        })
        section = train_lora(base_model=base, corpus=None, image_root=root, recipe=recipe,
                             out_dir=root / "out", train_items=items, progress=False)
        train_rate = section.steps_per_second

        model, processor = load_model(base)
        batches = []
        for start in range(0, len(items), args.batch):
            chunk = items[start:start + args.batch]
            batches.append(pad_batch(
                [encode_prompt(processor, load_images(i.image_paths, root), i.prompt(), answer=i.answer) for i in chunk],
                processor.tokenizer.pad_token_id,
            ))
        with torch.no_grad():
            model(**batches[0])  # warm-up
            started = time.perf_counter()
            for step in range(args.steps):
                model(**batches[step % len(batches)])
            forward_rate = args.steps / (time.perf_counter() - started)
    print(f"tiny recipe training: {train_rate:.2f} steps/s (batch {args.batch}, {section.samples_per_second:.1f} samples/s)")
    print(f"forward-only baseline (pre-encoded batches): {forward_rate:.2f} steps/s")
    print(f"ratio training / forward-only: {train_rate / forward_rate:.3f}")


if __name__ == "__main__":
    main()
