"""Benchmark: perturbed images/s per family, and the robustness stage against a naive loop.

1. Perturbation throughput at ``--image-size`` px (224: FairFace's crop size) on synthetic
   faces: every perturbation of a family at every severity, inline (one thread), on a thread
   pool and on a process pool of ``--workers``; prints images/s per family and executor.
2. The stage (chunked batches, perturbation in a worker overlapping the model) against the
   naive loop (perturb one image, answer its questions one at a time), same images, same
   conditions, same tiny InternVL: prints both wall times and the ratio.

Runs on the tiny random-weight InternVL (built in a temporary folder) by default, or on a
real checkpoint with ``--model OpenGVLab/InternVL3-1B-hf --device cuda --dtype bfloat16``.

Run: ``.venv/bin/python benchmarks/bench_perturb.py [--images 24 --workers 2]``
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from faceaudit.data.records import McqItem  # noqa: E402
from faceaudit.data.synthetic import SyntheticConfig, draw_face, plan_faces  # noqa: E402
from faceaudit.data.synthetic_draw import landmarks  # noqa: E402
from faceaudit.evaluate.predict import answer_batch, predict  # noqa: E402
from faceaudit.models.base import Condition  # noqa: E402
from faceaudit.models.hf import HFFaceModel  # noqa: E402
from faceaudit.perturb.config import PerturbConfig  # noqa: E402
from faceaudit.perturb.geometry import FaceGeometry  # noqa: E402
from faceaudit.perturb.registry import get_perturbation, registered  # noqa: E402
from faceaudit.perturb.stage import _executor, _Job, _stream, run_robustness  # noqa: E402
from faceaudit.train.tiny import build_tiny_internvl  # noqa: E402

TASKS = {"gender": ["female", "male"], "skin_tone_group": ["light", "medium", "dark"]}


def render(root: Path, n: int, size: int) -> tuple[list[McqItem], dict[str, FaceGeometry]]:
    specs = plan_faces(SyntheticConfig(n=max(n, 10), seed=0))[:n]
    items, geometry = [], {}
    for spec in specs:
        draw_face(spec, size).save(root / f"{spec.id}.png")
        geometry[spec.id] = FaceGeometry(**landmarks(spec))
        for task, options in TASKS.items():
            items.append(McqItem(
                item_id=f"{spec.id}-{task}", image_ids=[spec.id], image_paths=[f"{spec.id}.png"], task=task,
                question=f"What is the {task} of the person?", options=options,
                answer="ABC"[options.index(spec.true[task])], groups={"skin_tone_group": spec.true["skin_tone_group"]},
            ))
    return items, geometry


def perturbation_rates(root: Path, geometry: dict[str, FaceGeometry], workers: int) -> None:
    ids = sorted(geometry)
    paths = tuple(str(root / f"{i}.png") for i in ids)
    print(f"\nperturbed images/s at {Image.open(paths[0]).size[0]} px ({len(ids)} images x 5 severities per perturbation)")
    print(f"{'family':<11} {'inline':>9} {'threads':>9} {'processes':>10}   ({workers} workers)")
    for family in ("lighting", "occlusion", "capture"):
        jobs = [(None, _Job(paths, tuple(ids), tuple(geometry[i] for i in ids), p.name, s, 0))
                for p in registered([family]) for s in range(1, 6)]
        n_images = len(jobs) * len(ids)
        rates = []
        for executor_kind, n_workers in (("thread", 0), ("thread", workers), ("process", workers)):
            executor = _executor(PerturbConfig(workers=n_workers, executor=executor_kind))
            try:
                if executor is not None:  # start the workers (and their imports) before timing
                    list(_stream(iter(jobs[:1] * n_workers), executor, 4))
                start = time.perf_counter()
                for _ in _stream(iter(jobs), executor, 4):
                    pass
                rates.append(n_images / (time.perf_counter() - start))
            finally:
                if executor is not None:
                    executor.shutdown()
        print(f"{family:<11} {rates[0]:9.0f} {rates[1]:9.0f} {rates[2]:10.0f}")


def naive(items: list[McqItem], root: Path, model: HFFaceModel, geometry, conditions) -> float:
    """Perturb one image, answer its questions one at a time, repeat."""
    by_image: dict[str, list[McqItem]] = {}
    for item in items:
        by_image.setdefault(item.image_ids[0], []).append(item)
    start = time.perf_counter()
    for perturbation, severity in conditions:
        condition = Condition(perturbation.name, perturbation.family, severity)
        for image_id, questions in by_image.items():
            pixels = np.asarray(Image.open(root / f"{image_id}.png").convert("RGB"))
            picture = Image.fromarray(perturbation.apply(pixels, severity, seed=0, image_id=image_id,
                                                         geometry=geometry[image_id]))
            for item in questions:
                answer_batch(model, [item], model.prepare_images([item], [[picture]], condition),
                             mode="scoring", max_new_tokens=1)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=None, help="checkpoint dir or hub id (default: a fresh tiny InternVL)")
    parser.add_argument("--device", default=None)
    parser.add_argument("--dtype", default=None)
    parser.add_argument("--images", type=int, default=24)
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--perturbations", default="underexposure,eye_band",
                        help="comma-separated perturbations for the stage-vs-naive comparison")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench_perturb_"))
    try:
        root = work / "images"
        root.mkdir()
        items, geometry = render(root, args.images, args.image_size)
        perturbation_rates(root, geometry, args.workers)

        source = args.model or build_tiny_internvl(work / "tiny")
        model = HFFaceModel.load(source, device=args.device, dtype=args.dtype)
        clean = predict(items, root, model, mode="scoring", out_jsonl=work / "clean.jsonl",
                        batch_size=args.batch_size, progress=False, sensitive_attributes=["skin_tone_group"])
        cfg = PerturbConfig(perturbations=args.perturbations.split(","), max_images=None,
                            workers=args.workers, executor="thread", batch_size=args.batch_size, min_group_n=2)
        start = time.perf_counter()
        section = run_robustness(items, root, clean, model, cfg, mode="scoring",
                                 sensitive_attributes=["skin_tone_group"], geometry=geometry.__getitem__,
                                 geometry_note="synthetic landmarks", progress=False)
        stage_s = time.perf_counter() - start
        conditions = [(get_perturbation(n), s) for n in cfg.perturbations or [] for s in cfg.severities]
        naive_s = naive(items, root, model, geometry, conditions)
        answers = len(items) * len(conditions)
        print(f"\nstage vs naive loop: {args.images} images x {len(TASKS)} questions x {len(conditions)} conditions "
              f"= {answers} answers, model {source}, device {model.device}, batch {args.batch_size}")
        print(f"stage (batched, {args.workers} perturbing threads) {stage_s:8.2f} s  "
              f"({section.throughput['answers_per_s']:.0f} answers/s)")
        print(f"naive loop (one image, one question)   {naive_s:8.2f} s  ({answers / naive_s:.0f} answers/s)")
        print(f"speed-up: {naive_s / stage_s:.2f}x")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
