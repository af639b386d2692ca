"""Baseline vs fast path, training and evaluation, on the same inputs: one entry point.

    # CPU, the tiny InternVL (what the embedded default trains):
    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/bench_fast.py
    # GPU, the InternVL3-1B shape (random weights from a config, docs/reference.md §5), bf16:
    .venv/bin/python benchmarks/bench_fast.py --shape internvl3-1b --device cuda --dtype bfloat16 \\
        --images 64 --train-batch 10 --train-steps 12 --eval-batch 32

Training: the same LoRA model (the tiny recipe's LoRA and trainable projector; for the 1B
shape FaceLLM's r 16) trains ``--train-steps`` steps on the same batches twice, once with the
standard forward (``model(**batch)``: vision tower per example, full-vocabulary logits) and once
with ``faceaudit.train.fast`` (vision features cached per image, LM head at answer tokens),
each path in its own process so that its peak memory is its own. Every image has 4 one-letter
MCQ answers and 1 long descriptive answer, like the embedded default's corpus mix. Agreement:
the two loss curves (same initial weights, same batches, same optimiser).

Evaluation: the hf backend's scoring of 4 questions per image with ``share_vision=False``
(the tower once per question) and ``True`` (once per distinct image); agreement: the same
chosen answers.

Prints samples/s, wall time, peak memory and the fast/baseline ratio of each, and writes them
with the machine's description to ``benchmarks/results/bench_fast-<shape>-<device>.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

RESULTS = Path(__file__).resolve().parent / "results"
ONE_B = {  # InternVL3-1B-hf (docs/reference.md §5)
    "vision": {"hidden_size": 1024, "num_hidden_layers": 24, "num_attention_heads": 16, "intermediate_size": 4096,
               "image_size": [448, 448], "patch_size": [14, 14]},
    "text": {"hidden_size": 896, "num_hidden_layers": 24, "num_attention_heads": 14, "num_key_value_heads": 2,
             "intermediate_size": 4864, "vocab_size": 151674, "rope_theta": 1e6},
}


def machine() -> dict[str, Any]:
    import torch

    info: dict[str, Any] = {
        "platform": platform.platform(), "python": platform.python_version(), "torch": torch.__version__,
        "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(),
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"), "load_average": os.getloadavg(),
    }
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def build_checkpoint(shape: str, work: Path, layers: int | None = None) -> Path:
    """A checkpoint directory: the tiny model, or the 1B shape with random weights."""
    from faceaudit.train.tiny import tiny_internvl_cached

    tiny = tiny_internvl_cached(work / "tiny")
    if shape == "tiny":
        return tiny
    import torch
    from transformers import InternVLConfig, InternVLForConditionalGeneration

    out = work / "internvl3-1b-shape"
    shutil.copytree(tiny, out, ignore=shutil.ignore_patterns("*.safetensors", "config.json"))
    tiny_config = json.loads((tiny / "config.json").read_text())
    vision, text = dict(ONE_B["vision"]), dict(ONE_B["text"])
    if layers is not None:  # a shallower copy of the shape, to test this script on a CPU
        vision["num_hidden_layers"] = text["num_hidden_layers"] = layers
    config = InternVLConfig(
        vision_config=vision,
        text_config={**text, "tie_word_embeddings": True, "eos_token_id": tiny_config["text_config"]["eos_token_id"],
                     "pad_token_id": tiny_config["text_config"].get("pad_token_id")},
        image_token_id=tiny_config["image_token_id"], image_seq_length=256, tie_word_embeddings=True,
    )
    torch.manual_seed(0)
    model = InternVLForConditionalGeneration(config)
    model.save_pretrained(out, safe_serialization=True)
    processor_config = json.loads((out / "processor_config.json").read_text())
    (out / "processor_config.json").write_text(json.dumps({**processor_config, "image_seq_length": 256}))
    image_config = json.loads((out / "preprocessor_config.json").read_text())
    image_config["size"] = {"height": 448, "width": 448}
    (out / "preprocessor_config.json").write_text(json.dumps(image_config))
    return out


def make_data(root: Path, n_images: int, size: int, seed: int = 0):
    from faceaudit.data.records import OPTION_LETTERS, McqItem
    from faceaudit.train.data import SupervisedExample

    rng = np.random.default_rng(seed)
    (root / "images").mkdir(parents=True, exist_ok=True)
    words = ["red", "green", "blue", "grey"]
    examples, items = [], []
    for i in range(n_images):
        path = f"images/{i}.png"
        Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(root / path)
        for task in range(4):
            options = list(rng.permutation(words))
            answer = OPTION_LETTERS[int(rng.integers(0, 4))]
            item = McqItem(item_id=f"{i}:{task}", image_ids=[str(i)], image_paths=[path], task=f"t{task}",
                           question=f"Question {task}: which colour is the square?", options=options, answer=answer)
            items.append(item)
            examples.append(SupervisedExample(image_paths=(path,), question=item.prompt(), answer=answer, source="mcq"))
        long = " ".join(rng.choice(words, size=60))
        examples.append(SupervisedExample(image_paths=(path,), question="Describe the image.", answer=long,
                                          source="corpus"))
    return examples, items


def _peak_mb(device: str) -> float:
    import torch

    if device.startswith("cuda"):
        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**10


def train_path(args: argparse.Namespace, path: str) -> dict[str, Any]:
    """One training path in this process: losses per step, samples/s, peak memory."""
    import random

    import torch
    from peft import get_peft_model

    from faceaudit.models.loading import load_model
    from faceaudit.train.data import (
        FastCollator,
        FastSupervisedDataset,
        SupervisedCollator,
        SupervisedDataset,
    )
    from faceaudit.train.fast import VisionFeatureCache, fast_loss
    from faceaudit.train.lora import build_lora_config
    from faceaudit.train.recipe import LoraSpec, load_recipe
    from faceaudit.train.trainer import _weighted_trainer_class

    work = Path(args.work)
    examples, _ = make_data(work / "data", args.images, args.image_size)
    torch.manual_seed(0)
    model, processor = load_model(str(work / "model"), dtype=args.dtype, device=args.device)
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    spec = load_recipe("tiny").lora if args.shape == "tiny" else LoraSpec(r=16, alpha=32)
    model = get_peft_model(model, build_lora_config(model, spec))
    model.train()
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimiser = torch.optim.AdamW(trainable, lr=args.lr)
    order = list(range(len(examples)))
    random.Random(0).shuffle(order)
    batches = [order[i:i + args.train_batch] for i in range(0, len(order), args.train_batch)]
    batches = (batches * (1 + args.train_steps // len(batches)))[: args.train_steps]
    pad = processor.tokenizer.pad_token_id
    cache = VisionFeatureCache(args.cache_mb * 2**20)
    if path == "fast":
        dataset: Any = FastSupervisedDataset(examples, processor, work / "data", 512, cache)
        collate: Any = FastCollator(pad)
    else:
        dataset, collate = SupervisedDataset(examples, processor, work / "data", 512), SupervisedCollator(pad)
    standard_loss = _weighted_trainer_class("example")
    losses, step_times = [], []
    samples = 0
    for step, indices in enumerate(batches):
        started = time.perf_counter()
        batch = collate([dataset[i] for i in indices])
        batch = {k: v.to(args.device) if hasattr(v, "to") else v for k, v in batch.items()}
        if "pixel_values" in batch:
            batch["pixel_values"] = batch["pixel_values"].to(getattr(torch, args.dtype))
        if path == "fast":
            loss = fast_loss(model, batch, cache=cache, loss_weighting="example")
        else:
            loss = standard_loss.compute_loss(None, model, batch)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(trainable, 1.0)
        optimiser.step()
        optimiser.zero_grad(set_to_none=True)
        losses.append(float(loss.detach()))
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()
        if step >= args.warmup:
            step_times.append(time.perf_counter() - started)
            samples += len(indices)
    wall = sum(step_times)
    return {"path": path, "losses": losses, "timed_steps": len(step_times), "wall_s": round(wall, 3),
            "samples_per_s": round(samples / wall, 2), "peak_memory_mb": round(_peak_mb(args.device), 1),
            "cache": cache.stats() if path == "fast" else None}


def eval_path(args: argparse.Namespace, path: str) -> dict[str, Any]:
    from faceaudit.evaluate.predict import predict
    from faceaudit.models.hf import HFFaceModel

    work = Path(args.work)
    _, items = make_data(work / "data", args.images, args.image_size)
    model = HFFaceModel.load(work / "model", dtype=args.dtype, device=args.device, share_vision=path == "fast")
    out = work / f"predictions-{path}.jsonl"
    out.unlink(missing_ok=True)
    Path(str(out) + ".meta.json").unlink(missing_ok=True)
    warm = items[: args.eval_batch]
    predict(warm, work / "data", model, mode="scoring", out_jsonl=work / f"warm-{path}.jsonl",
            batch_size=args.eval_batch, progress=False)
    started = time.perf_counter()
    frame = predict(items, work / "data", model, mode="scoring", out_jsonl=out, batch_size=args.eval_batch,
                    progress=False)
    wall = time.perf_counter() - started
    return {"path": path, "predicted": list(frame["predicted"]), "wall_s": round(wall, 3),
            "items_per_s": round(len(items) / wall, 2), "peak_memory_mb": round(_peak_mb(args.device), 1)}


def child(args: argparse.Namespace, kind: str, path: str) -> dict[str, Any]:
    command = [sys.executable, __file__, "--child", kind, "--path", path]
    for key, value in vars(args).items():
        if key not in ("child", "path") and value is not None:
            command += [f"--{key.replace('_', '-')}", str(value)]
    done = subprocess.run(command, check=True, capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shape", choices=["tiny", "internvl3-1b"], default="tiny")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--images", type=int, default=96)
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--train-batch", type=int, default=16)
    parser.add_argument("--train-steps", type=int, default=40)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--cache-mb", type=int, default=4096)
    parser.add_argument("--eval-batch", type=int, default=16)
    parser.add_argument("--layers", type=int, default=None,
                        help="internvl3-1b only: layers per tower instead of 24 (a quick CPU check of the script)")
    parser.add_argument("--work", default=None)
    parser.add_argument("--child", choices=["train", "eval"], default=None)
    parser.add_argument("--path", choices=["standard", "fast"], default=None)
    args = parser.parse_args()
    if args.child:
        result = train_path(args, args.path) if args.child == "train" else eval_path(args, args.path)
        print(json.dumps(result))
        return

    own_work = args.work is None
    args.work = args.work or tempfile.mkdtemp(prefix="bench-fast-")
    try:
        checkpoint = build_checkpoint(args.shape, Path(args.work), args.layers)
        if checkpoint != Path(args.work) / "model":
            os.symlink(checkpoint, Path(args.work) / "model")
        train = {p: child(args, "train", p) for p in ("standard", "fast")}
        evaluate = {p: child(args, "eval", p) for p in ("standard", "fast")}
    finally:
        if own_work:
            shutil.rmtree(args.work, ignore_errors=True)
    std, fast = train["standard"], train["fast"]
    gaps = [abs(a - b) / max(abs(a), 1e-8) for a, b in zip(std["losses"], fast["losses"], strict=True)]
    same = sum(a == b for a, b in zip(evaluate["standard"]["predicted"], evaluate["fast"]["predicted"], strict=True))
    n_items = len(evaluate["standard"]["predicted"])
    summary = {
        "machine": machine(),
        "settings": {k: v for k, v in vars(args).items() if k not in ("child", "path", "work")},
        "train": {
            "standard": {k: v for k, v in std.items() if k != "losses"},
            "fast": {k: v for k, v in fast.items() if k != "losses"},
            "ratio_samples_per_s": round(fast["samples_per_s"] / std["samples_per_s"], 2),
            "loss_first": [std["losses"][0], fast["losses"][0]],
            "loss_last": [std["losses"][-1], fast["losses"][-1]],
            "max_relative_loss_gap": max(gaps),
        },
        "evaluate": {
            "standard": {k: v for k, v in evaluate["standard"].items() if k != "predicted"},
            "fast": {k: v for k, v in evaluate["fast"].items() if k != "predicted"},
            "ratio_items_per_s": round(evaluate["fast"]["items_per_s"] / evaluate["standard"]["items_per_s"], 2),
            "same_answers": f"{same}/{n_items}",
        },
    }
    t, e = summary["train"], summary["evaluate"]
    print(f"machine: {summary['machine']}")
    print(f"train  standard {std['samples_per_s']:8.1f} samples/s  {std['wall_s']:7.2f} s  "
          f"peak {std['peak_memory_mb']:8.1f} MB")
    print(f"train  fast     {fast['samples_per_s']:8.1f} samples/s  {fast['wall_s']:7.2f} s  "
          f"peak {fast['peak_memory_mb']:8.1f} MB  ratio {t['ratio_samples_per_s']}x  "
          f"max relative loss gap over {len(gaps)} steps {t['max_relative_loss_gap']:.2e}")
    for p in ("standard", "fast"):
        r = e[p]
        print(f"eval   {p:8s} {r['items_per_s']:8.1f} items/s    {r['wall_s']:7.2f} s  peak {r['peak_memory_mb']:8.1f} MB")
    print(f"eval   ratio {e['ratio_items_per_s']}x, same answers {e['same_answers']}")
    # Float32 sums in another order differ by ~1e-6 per step; bf16 by far more.
    tolerance = 1e-3 if args.dtype == "float32" else 3e-2
    ok = t["max_relative_loss_gap"] < tolerance and same == n_items
    print("agreement:", "OK" if ok else "MISMATCH")
    RESULTS.mkdir(exist_ok=True)
    layers = f"-{args.layers}layers" if args.layers is not None else ""
    out = RESULTS / f"bench_fast-{args.shape}{layers}-{args.device.split(':')[0]}.json"
    out.write_text(json.dumps(summary, indent=2) + "\n")
    print(f"written: {out}")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
