"""Peak memory of evaluation + perturbation must stay flat in the number of images.

    .venv/bin/python benchmarks/bench_memory.py [--images 60 --factor 10]

Renders ``--images`` and ``factor x --images`` synthetic faces (64 px, the embedded default's
size), and in a fresh child process for each size: loads the tiny InternVL, answers 2
questions per image (``predict``, scoring) and runs the robustness stage on them
(``run_robustness``: ``--perturbations`` at 5 severities each, on a worker thread). Each child
reports its peak RSS (``ru_maxrss``) and its RSS after loading the model, so the growth with
the data is visible apart from the fixed cost of the libraries and the model. Target (issue
#16): 10x the images, the same peak within 20%. Writes ``benchmarks/results/memory-cpu.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))

RESULTS = Path(__file__).resolve().parent / "results"


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**10


def child(work: Path, n: int, perturbations: list[str]) -> dict:
    from bench_perturb import render

    from faceaudit.evaluate.predict import predict
    from faceaudit.models.hf import HFFaceModel
    from faceaudit.perturb.config import PerturbConfig
    from faceaudit.perturb.stage import run_robustness

    root = work / f"images-{n}"
    root.mkdir()
    items, geometry = render(root, n, 64)
    model = HFFaceModel.load(work / "tiny")
    after_load = _rss_mb()
    started = time.perf_counter()
    clean = predict(items, root, model, mode="scoring", out_jsonl=work / f"clean-{n}.jsonl", batch_size=16,
                    progress=False, sensitive_attributes=["skin_tone_group"])
    cfg = PerturbConfig(perturbations=perturbations, max_images=None, workers=1, executor="thread",
                        batch_size=16, min_group_n=2)
    run_robustness(items, root, clean, model, cfg, mode="scoring", sensitive_attributes=["skin_tone_group"],
                   geometry=geometry.__getitem__, geometry_note="synthetic landmarks", progress=False)
    return {"images": n, "items": len(items), "answers": len(items) * (1 + 5 * len(perturbations)),
            "rss_after_model_load_mb": round(after_load, 1), "peak_rss_mb": round(_rss_mb(), 1),
            "wall_s": round(time.perf_counter() - started, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=60)
    parser.add_argument("--factor", type=int, default=10)
    parser.add_argument("--perturbations", default="underexposure,eye_band")
    parser.add_argument("--child", type=int, default=None)
    parser.add_argument("--work", default=None)
    args = parser.parse_args()
    perturbations = args.perturbations.split(",")
    if args.child is not None:
        print(json.dumps(child(Path(args.work), args.child, perturbations)))
        return

    from bench_fast import machine

    from faceaudit.train.tiny import build_tiny_internvl

    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-memory-") as tmp:
        build_tiny_internvl(Path(tmp) / "tiny")
        for n in (args.images, args.images * args.factor):
            done = subprocess.run([sys.executable, __file__, "--child", str(n), "--work", tmp,
                                   "--perturbations", args.perturbations], check=True, capture_output=True, text=True)
            row = json.loads(done.stdout.strip().splitlines()[-1])
            rows.append(row)
            print(f"{row['images']:6d} images  {row['answers']:7d} answers  RSS after model load "
                  f"{row['rss_after_model_load_mb']:7.1f} MB  peak {row['peak_rss_mb']:7.1f} MB  {row['wall_s']:7.1f} s",
                  flush=True)
    small, large = rows
    ratio = large["peak_rss_mb"] / small["peak_rss_mb"]
    growth = (large["peak_rss_mb"] - large["rss_after_model_load_mb"]) - (
        small["peak_rss_mb"] - small["rss_after_model_load_mb"])
    print(f"peak RSS ratio {args.factor}x images / 1x: {ratio:.3f} "
          f"({'within' if ratio <= 1.2 else 'OUTSIDE'} the 20% target); data-dependent growth {growth:+.1f} MB")
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / "memory-cpu.json"
    out.write_text(json.dumps({"machine": machine(), "rows": rows, "peak_ratio": round(ratio, 3)}, indent=2) + "\n")
    print(f"written: {out}")


if __name__ == "__main__":
    main()
