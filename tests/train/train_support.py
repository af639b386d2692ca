"""Shared test data for the training tests: coloured squares whose colour is the attribute."""

from __future__ import annotations

import json
import random
from pathlib import Path

from PIL import Image

from faceaudit.data.records import OPTION_LETTERS, McqItem

COLOURS = {"red": (220, 30, 30), "green": (30, 200, 40), "blue": (30, 40, 220)}


def make_square_set(root: Path, n: int = 24, seed: int = 0) -> tuple[list[McqItem], Path]:
    """Coloured squares (the colour is the attribute), a corpus JSONL and MCQ items."""
    rng = random.Random(seed)
    (root / "images").mkdir(parents=True, exist_ok=True)
    items, records = [], []
    for index in range(n):
        colour = list(COLOURS)[index % 3]
        path = f"images/sq{index:03d}.png"
        Image.new("RGB", (64, 64), COLOURS[colour]).save(root / path)
        options = rng.sample(list(COLOURS), 3)
        items.append(McqItem(
            item_id=f"sq{index}:colour", image_ids=[f"sq{index}"], image_paths=[path], task="colour",
            question="What is the colour of the square?", options=options,
            answer=OPTION_LETTERS[options.index(colour)], groups={"colour": colour},
        ))
        records.append({"key": f"sq{index}:colour", "image_id": f"sq{index}", "image_path": path,
                        "aspect": "colour", "question": "Describe the colour of the image.",
                        "answer": f"The square is {colour}.", "status": "accepted"})
    records.append({"key": "bad", "image_id": "sq0", "image_path": "images/sq000.png", "aspect": "colour",
                    "question": "Describe it.", "answer": "I cannot help.", "status": "rejected"})
    corpus = root / "corpus.jsonl"
    corpus.write_text("".join(json.dumps(r) + "\n" for r in records))
    return items, corpus
