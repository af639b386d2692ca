"""Starting faceaudit under `accelerate launch` from a test: CPU processes, a free port."""

from __future__ import annotations

import os
import socket
import sys


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch_command(port: int, processes: int = 2) -> list[str]:
    """`accelerate launch` on CPU: --multi_gpu selects its torchrun launcher (on a machine with
    no GPU every process joins a gloo group); --cpu would start one process, not two."""
    return [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", str(processes),
            "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
            "--main_process_port", str(port)]


def cpu_env() -> dict[str, str]:
    return {**os.environ, "CUDA_VISIBLE_DEVICES": "", "OMP_NUM_THREADS": "1", "NO_ALBUMENTATIONS_UPDATE": "1",
            "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
