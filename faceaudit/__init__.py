"""faceaudit: fairness and robustness audits for face-understanding multimodal LLMs."""

import os

__version__ = "0.1.0"

# OpenMP threads that wait at a barrier spin by default (libgomp). When another process is
# busy on the same cores, a spinning thread burns the time slice its partner needs: on 2
# shared cores the tiny model trained at 3.5-5.7 samples/s with 2 spinning threads against
# 28-60 with 2 passive ones (benchmarks/bench_threads.py, benchmarks/results/threads-cpu.json).
# Passive waiting must be chosen before torch loads libgomp; a user's own setting wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
