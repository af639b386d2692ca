"""Cost of the contamination stage on the embedded default's data, against a plain decode pass.

    OMP_NUM_THREADS=1 python benchmarks/bench_contamination.py [--n 3000]

Renders the synthetic set (default 3,000 faces at 64 px, the embedded default), writes a corpus
JSONL naming every training image, and times ``check_contamination`` (fingerprints of both
sides and the matching) against merely opening and decoding the same images once, measured in
the same run. Prints both and their ratio.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from PIL import Image

from faceaudit.contamination.config import ContaminationConfig
from faceaudit.contamination.stage import check_contamination
from faceaudit.data.config import DatasetConfig
from faceaudit.data.loaders import load_dataset
from faceaudit.data.mcq import build_mcq_items


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=3000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        config = DatasetConfig(kind="synthetic", synthetic={"n": args.n})
        dataset = load_dataset(config, progress=False, render_dir=Path(tmp) / "data")
        train = [r for r in dataset.records if r.split == "train"]
        items = build_mcq_items(dataset, dataset.task_attributes, seed=1, split="test", option_order="vocabulary")
        corpus = Path(tmp) / "corpus.jsonl"
        corpus.write_text("".join(json.dumps({"image_path": r.image_path, "status": "accepted"}) + "\n"
                                  for r in train))
        paths = [dataset.root / r.image_path for r in train] + sorted(
            {dataset.root / p for i in items for p in i.image_paths})
        start = time.perf_counter()
        for path in paths:
            with Image.open(path) as image:
                image.convert("RGB")
        decode = time.perf_counter() - start
        start = time.perf_counter()
        section = check_contamination(items, dataset.root, corpus, dataset.root, ContaminationConfig(),
                                      sensitive_attributes=dataset.sensitive_attributes)
        stage = time.perf_counter() - start
    print(f"{section.n_eval_images} evaluation images x {section.n_corpus_images} corpus images, "
          f"{section.n_contaminated_images} matched")
    print(f"decode only: {decode:.2f} s; contamination stage: {stage:.2f} s; ratio {stage / decode:.1f}x")


if __name__ == "__main__":
    main()
