#!/usr/bin/env bash
# The GPU half of issue #16, one command on a CUDA machine (from the repository root):
#     bash benchmarks/gpu.sh
# Baseline vs fast path for training (FaceLLM's LoRA r16 on the InternVL3-1B shape, random
# weights, bf16, batch 10 like the facellm-1b recipe) and for evaluation (4 questions per
# 448 px image, batch 32). Writes benchmarks/results/bench_fast-internvl3-1b-cuda.json;
# commit it. Tested on a CPU with `--layers 1 --device cpu --dtype float32` (see README).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-.venv/bin/python}"
"$PYTHON" benchmarks/bench_fast.py --shape internvl3-1b --device cuda --dtype bfloat16 \
    --images 64 --image-size 448 --train-batch 10 --train-steps 20 --warmup 3 --lr 1e-5 \
    --eval-batch 32 "$@"
