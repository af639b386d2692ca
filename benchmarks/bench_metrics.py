"""Benchmark: stratified metrics with bootstrap intervals, and the ratio to fairlearn.

1. 1,000,000 predictions x 98 intersectional groups (7 x 2 x 7), n_boot=1000: seconds for
   ``stratified_metrics`` (target: under 5 s on 2 cores).
2. A size fairlearn's own bootstrap finishes (default 20,000 rows, n_boot=50): fairlearn
   ``MetricFrame(n_boot=...)`` for accuracy against our code on the same table; prints the ratio.

Run: ``.venv/bin/python benchmarks/bench_metrics.py [--small-rows 20000 --small-boot 50]``
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
from fairlearn.metrics import MetricFrame

from faceaudit.evaluate.metrics import stratified_metrics
from faceaudit.stats.simulate import simulate_predictions

GROUPS = {
    "race": ["Black", "East Asian", "Indian", "Latino", "Middle Eastern", "Southeast Asian", "White"],
    "gender": ["Female", "Male"],
    "age": ["0-9", "10-19", "20-29", "30-39", "40-49", "50-59", "60+"],
}
ATTRS = list(GROUPS)


def run_ours(frame, n_boot: int) -> float:
    start = time.perf_counter()
    stratified_metrics(frame, ATTRS, intersections=[tuple(ATTRS)], n_boot=n_boot, seed=0)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--boot", type=int, default=1000)
    parser.add_argument("--small-rows", type=int, default=20_000)
    parser.add_argument("--small-boot", type=int, default=50)
    args = parser.parse_args()

    # The machine may be shared: the load average says how far to trust the seconds.
    print(f"load average before: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    cells = int(np.prod([len(v) for v in GROUPS.values()]))
    big = simulate_predictions(GROUPS, args.rows // cells, accuracy=0.75, invalid_rate=0.02, seed=1)
    seconds = run_ours(big, args.boot)
    print(f"ours: {len(big):,} rows x {cells} intersectional groups, n_boot={args.boot}: {seconds:.2f} s")

    small = simulate_predictions(GROUPS, max(args.small_rows // cells, 1), accuracy=0.75, seed=2)
    ours_small = run_ours(small, args.small_boot)
    start = time.perf_counter()
    frame = MetricFrame(
        metrics={"accuracy": lambda y, p: float(np.mean(np.asarray(y) == np.asarray(p)))},
        y_true=small["answer"].to_numpy(),
        y_pred=small["predicted"].fillna("?").to_numpy(),
        sensitive_features=small[ATTRS],
        n_boot=args.small_boot,
        ci_quantiles=[0.025, 0.975],
        random_state=0,
    )
    frame.by_group_ci  # noqa: B018 - computing the intervals is what is timed
    fairlearn_seconds = time.perf_counter() - start
    print(
        f"same {len(small):,} rows, n_boot={args.small_boot}: fairlearn MetricFrame (accuracy only) "
        f"{fairlearn_seconds:.2f} s, ours (all metrics, all groups) {ours_small:.2f} s, "
        f"ratio {fairlearn_seconds / ours_small:.1f}x"
    )
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
