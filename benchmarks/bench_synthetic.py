"""Synthetic face rendering speed: 1,000 faces at 64 and 224 px on one core.

Target: each size renders in under 60 s. The baseline measured in the same run
is the cost of merely allocating and saving 1,000 blank PNGs of that size into
the same kind of directory, so the printed ratio says how much the drawing
itself costs on top of unavoidable file output, whatever the machine.

    .venv/bin/python benchmarks/bench_synthetic.py [--n 1000] [--sizes 64 224]
"""

from __future__ import annotations

import argparse
import io
import os
import tempfile
import time
from pathlib import Path

# One core: the target is single-threaded rendering.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from PIL import Image  # noqa: E402

from faceaudit.data.synthetic import SyntheticConfig, render_synthetic  # noqa: E402

TARGET_SECONDS = 60.0


def _blank_pngs(directory: Path, n: int, size: int) -> float:
    directory.mkdir(parents=True)
    start = time.perf_counter()
    for i in range(n):
        buffer = io.BytesIO()
        Image.new("RGB", (size, size), (128, 128, 128)).save(buffer, format="PNG", compress_level=3)
        (directory / f"blank-{i:05d}.png").write_bytes(buffer.getvalue())
    return time.perf_counter() - start


def _render(directory: Path, n: int, size: int) -> float:
    start = time.perf_counter()
    render_synthetic(directory, SyntheticConfig(n=n, image_size=size), progress=False)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 224])
    args = parser.parse_args()
    failed = False
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for size in args.sizes:
            baseline = _blank_pngs(root / f"blank{size}", args.n, size)
            seconds = _render(root / f"faces{size}", args.n, size)
            ok = seconds < TARGET_SECONDS * args.n / 1000
            failed |= not ok
            print(
                f"{size:>3} px: {args.n} faces in {seconds:6.2f} s = {args.n / seconds:7.1f} faces/s | "
                f"blank-PNG baseline {baseline:5.2f} s ({args.n / baseline:7.1f}/s) | "
                f"ratio {seconds / baseline:5.1f}x | target < {TARGET_SECONDS * args.n / 1000:.0f} s: "
                f"{'ok' if ok else 'MISSED'}"
            )
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
