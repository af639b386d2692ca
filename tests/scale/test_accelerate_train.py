"""The shipped accelerate configs (training/accelerate/*.yaml).

multi_gpu.yaml (DDP) is run: two CPU processes train the tiny recipe together (gloo) and rank
0 writes an adapter that loads. The others cannot be run on CPU: accelerate turns an FSDP
launch without GPUs into plain data parallelism (so such a run would prove nothing about
sharding) and ZeRO-3 needs deepspeed; they are parsed by accelerate's own config loader and
checked for what they promise.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
from launch_support import cpu_env, free_port
from train.train_support import make_square_set

CONFIGS = Path(__file__).resolve().parents[2] / "training" / "accelerate"


@pytest.mark.slow
def test_the_ddp_config_trains_the_tiny_recipe_on_two_processes(tmp_path: Path) -> None:
    from safetensors.torch import load_file

    from faceaudit.models.loading import load_model

    _, corpus = make_square_set(tmp_path / "data", n=12)
    out = tmp_path / "out"
    command = [sys.executable, "-m", "accelerate.commands.launch", "--config_file", str(CONFIGS / "multi_gpu.yaml"),
               "--num_processes", "2", "--main_process_port", str(free_port()), "-m", "faceaudit.train", "--recipe", "tiny", "--corpus", str(corpus), "--image-root",
               str(tmp_path / "data"), "--out", str(out), "--set", "max_steps=4", "--set", "logging_steps=1",
               "--quiet"]
    done = subprocess.run(command, capture_output=True, text=True, env=cpu_env(), timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-5000:]
    printed = json.loads(done.stdout[done.stdout.index("{"):])  # rank 0 alone prints the section
    section = json.loads((out / "training.json").read_text())
    assert printed == section
    assert section["world_size"] == 2 and section["steps"] == 4
    assert len(section["loss_curve"]) == 4 and all(math.isfinite(p["loss"]) for p in section["loss_curve"])
    # Rank 0 built the tiny base once, the other process loaded it (no second build racing it).
    assert [p.name for p in (out / "base-model").iterdir()] == ["tiny-internvl-s0-64px"]
    weights = load_file(out / "adapter" / "adapter_model.safetensors")
    lora_b = [w for name, w in weights.items() if "lora_B" in name]
    assert lora_b and any(float(w.abs().max()) > 0 for w in lora_b)  # trained away from B = 0
    model, _ = load_model(out / "base-model" / "tiny-internvl-s0-64px", adapter=out / "adapter")
    assert any("lora_" in name for name, _ in model.named_parameters())


@pytest.mark.parametrize(("name", "kind", "processes"), [
    ("single_gpu.yaml", "NO", 1), ("multi_gpu.yaml", "MULTI_GPU", 8), ("fsdp.yaml", "FSDP", 8),
    ("deepspeed_zero3.yaml", "DEEPSPEED", 8),
])
def test_every_shipped_config_loads_in_accelerate(name: str, kind: str, processes: int) -> None:
    from accelerate.commands.config.config_args import load_config_from_file

    config = load_config_from_file(str(CONFIGS / name))
    assert config.distributed_type.value == kind
    assert config.num_processes == processes and config.num_machines == 1
    assert config.mixed_precision == "no"  # precision comes from the recipe, not the launcher
    if kind == "FSDP":
        assert config.fsdp_config["fsdp_state_dict_type"] == "FULL_STATE_DICT"  # the adapter is saved whole
        from transformers.models.internvl import modeling_internvl
        from transformers.models.qwen2 import modeling_qwen2

        wrapped = config.fsdp_config["fsdp_transformer_layer_cls_to_wrap"].split(",")
        assert wrapped == ["Qwen2DecoderLayer", "InternVLVisionLayer"]
        # the classes exist under these names (a renamed class would silently wrap nothing)
        assert modeling_qwen2.Qwen2DecoderLayer and modeling_internvl.InternVLVisionLayer
    if kind == "DEEPSPEED":
        assert config.deepspeed_config["zero_stage"] == 3
    assert sorted(p.name for p in CONFIGS.glob("*.yaml")) == [
        "deepspeed_zero3.yaml", "fsdp.yaml", "multi_gpu.yaml", "single_gpu.yaml"]  # every config is covered
