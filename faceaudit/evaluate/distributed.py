"""Data-parallel answering under ``accelerate launch`` or ``torchrun``: shards, barriers, merges.

Under a launcher every process runs the same command. Each takes a deterministic shard of the
images (:meth:`Shard.select`: the distinct image keys in sorted order, every ``world_size``-th
one from its ``rank``; each stage shards its own list: the evaluation all its images, the
perturbation stage its sample), so all of a stage's questions on one image are answered by one
process and share its vision passes. A process appends its answers to its own resumable
file (``<name>.rank<r><suffix>`` next to the single-process file, with its own ``.meta.json``);
after a barrier, rank 0 merges every shard file into the single-process file, in the order a
single process writes it, and removes the shard files. What rank 0 then computes from that
file is what a single process computes: the same audit.json apart from timings.

The assignment depends only on the set of images and the number of processes, never on what
is already answered, so a rerun after a crash resumes each shard where it stopped; answers
already merged into the single-process file (an earlier run, with any number of processes)
are not asked again, and a single process finding shard files a stopped launch left merges
them before answering the rest.

Outside a launcher (no ``WORLD_SIZE`` above 1 in the environment) nothing here does anything:
:func:`current_shard` is ``Shard(0, 1)``, and no process group is created.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from faceaudit.errors import InputError


@dataclass(frozen=True)
class Shard:
    """This process's place among ``world_size`` processes answering one audit."""

    rank: int = 0
    world_size: int = 1

    def __post_init__(self) -> None:
        if self.world_size < 1 or not 0 <= self.rank < self.world_size:
            raise ValueError(f"rank {self.rank} is not one of the {self.world_size} process(es)")

    @property
    def active(self) -> bool:
        """Whether more than one process shares the work."""
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Rank 0: the process that merges, analyses and writes the run's files."""
        return self.rank == 0

    def select(self, keys: Iterable[str]) -> list[str]:
        """This process's keys: the distinct ``keys`` sorted, every ``world_size``-th from ``rank``.

        Deterministic, disjoint across ranks and covering, whatever order the keys come in.
        Refuses more processes than keys: a process with nothing to do could not follow the
        others through a fallback they take on their first batch.
        """
        ordered = sorted(set(keys))
        if self.active and len(ordered) < self.world_size:
            raise InputError(
                f"{self.world_size} processes for {len(ordered)} image(s) to share (the evaluation's images, or "
                "the robustness stage's sample of them, perturb.max_images): launch at most one process per image"
            )
        return ordered[self.rank :: self.world_size]

    def path(self, path: str | os.PathLike[str]) -> Path:
        """This process's answers file beside the single-process one: ``<stem>.rank<r><suffix>``."""
        path = Path(path)
        return path.with_name(f"{path.stem}.rank{self.rank}{path.suffix}")

    def barrier(self) -> None:
        """Wait until every process gets here (nothing to wait for in a single process)."""
        if self.active:
            _state().wait_for_everyone()

    @contextlib.contextmanager
    def main_first(self) -> Iterator[None]:
        """Rank 0 runs the block first (it prepares: renders, builds), then the others (they read)."""
        if not self.is_main:
            self.barrier()
        yield
        if self.is_main:
            self.barrier()


#: How long a process waits at a barrier for the others (README "Scale out").
BARRIER_TIMEOUT_MIN = 30


def _state() -> Any:
    """Accelerate's process state; creating it joins the process group (gloo on CPU, nccl on GPU)."""
    import torch
    from accelerate import PartialState

    # One explicit timeout for every backend (nccl's default is 10 minutes, gloo's 30): a process
    # that finished its share waits at a barrier while rank 0 computes statistics or prepares data.
    return PartialState(cpu=not torch.cuda.is_available(), timeout=timedelta(minutes=BARRIER_TIMEOUT_MIN))


def current_shard() -> Shard:
    """This process's shard under ``accelerate launch``/``torchrun``; ``Shard(0, 1)`` otherwise."""
    world_size = int(os.environ.get("WORLD_SIZE", "1") or 1)
    if world_size <= 1:
        return Shard()
    state = _state()
    if state.num_processes != world_size:
        raise RuntimeError(
            f"WORLD_SIZE is {world_size} but accelerate joined {state.num_processes} process(es); "
            "launch with `accelerate launch --multi_gpu` or `torchrun`"
        )
    return Shard(rank=state.process_index, world_size=world_size)


def shard_files(path: str | os.PathLike[str]) -> list[Path]:
    """Every shard file of the single-process file ``path`` (of any earlier number of processes)."""
    path = Path(path)
    pattern = re.compile(rf"{re.escape(path.stem)}\.rank\d+{re.escape(path.suffix)}")
    if not path.parent.is_dir():
        return []
    return sorted(p for p in path.parent.iterdir() if pattern.fullmatch(p.name))


def complete_records(path: str | os.PathLike[str]) -> Iterator[dict[str, Any]]:
    """The complete records of a JSONL answers file, read only: a last line cut short by a
    crash (no newline, or not JSON) is skipped, as :class:`faceaudit.store.JsonlWriter` would."""
    path = Path(path)
    if not path.is_file():
        return
    with open(path, "rb") as handle:
        for raw in handle:
            if not raw.endswith(b"\n"):
                return
            if raw.strip():
                try:
                    yield json.loads(raw)
                except json.JSONDecodeError:
                    continue  # the writer refuses to resume over such a file; answering it again is harmless


def remove_shard_files(paths: Iterable[Path]) -> None:
    """Delete merged shard files and their ``.meta.json``."""
    for path in paths:
        path.unlink(missing_ok=True)
        path.with_name(path.name + ".meta.json").unlink(missing_ok=True)
