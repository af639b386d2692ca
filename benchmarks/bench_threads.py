"""Why a busy neighbour process slows the tiny model's training far beyond a fair share.

    .venv/bin/python benchmarks/bench_threads.py [--steps 20]

Runs the same tiny-model training steps (``bench_fast.py``'s fast training path, one child
process per setting) with torch using 1 or 2 threads, OpenMP threads waiting ACTIVE (spinning,
libgomp's default) or PASSIVE (sleeping; what faceaudit sets unless the user chose), alone and
next to one CPU-bound neighbour process (a pure-Python busy loop that this script starts and
stops). Prints samples/s of each and writes ``benchmarks/results/threads-cpu.json``. On a
shared machine "alone" means "with whatever else runs": compare within one run.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_fast import RESULTS, build_checkpoint, machine  # noqa: E402

BUSY = "import time\nend = time.time() + 3600\nwhile time.time() < end:\n    pass\n"


def run(work: Path, steps: int, threads: int, policy: str) -> float:
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "OMP_WAIT_POLICY": policy}
    command = [sys.executable, str(Path(__file__).resolve().parent / "bench_fast.py"), "--child", "train",
               "--path", "fast", "--work", str(work), "--images", "48", "--train-steps", str(steps)]
    done = subprocess.run(command, check=True, capture_output=True, text=True, env=env)
    return json.loads(done.stdout.strip().splitlines()[-1])["samples_per_s"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=20)
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-threads-") as tmp:
        work = Path(tmp)
        os.symlink(build_checkpoint("tiny", work), work / "model")
        for neighbour in (False, True):
            busy = subprocess.Popen([sys.executable, "-c", BUSY]) if neighbour else None
            try:
                time.sleep(0.5 if busy else 0)
                for threads in (1, 2):
                    for policy in ("ACTIVE", "PASSIVE"):
                        rate = run(work, args.steps, threads, policy)
                        row = {"neighbour": neighbour, "threads": threads, "wait_policy": policy, "samples_per_s": rate}
                        results.append(row)
                        print(f"neighbour={'busy' if neighbour else 'none':4s} threads={threads} "
                              f"OMP_WAIT_POLICY={policy:7s} {rate:8.1f} samples/s", flush=True)
            finally:
                if busy is not None:
                    busy.kill()
                    busy.wait()
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / "threads-cpu.json"
    out.write_text(json.dumps({"machine": machine(), "steps": args.steps, "results": results}, indent=2) + "\n")
    print(f"written: {out}")


if __name__ == "__main__":
    main()
