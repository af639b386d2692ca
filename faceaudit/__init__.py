"""faceaudit: fairness and robustness audits for face-understanding multimodal LLMs."""

import os

__version__ = "0.1.0"

# OpenMP threads that wait at a barrier spin by default (libgomp). When another process is
# busy on the same cores, a spinning thread burns the time slice its partner needs: measured
# on 2 shared cores, a tiny matmul+backward loop ran 3.7x slower with 2 spinning threads than
# with 1, and 4.6x slower than with 2 passive ones (benchmarks/results/threads-cpu.txt).
# Passive waiting must be chosen before torch loads libgomp; a user's own setting wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
