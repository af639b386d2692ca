"""Data-parallel answering without a launcher: shard assignment, merge order, resume.

The ranks of a data-parallel run meet at barriers. Here they run one after the other in one
process, rank 0 last, with a barrier that returns at once: by the time rank 0 merges, every
other rank has finished, as a real barrier guarantees. What rank 0 writes must be, byte for
byte, what a single process writes; a rerun must ask the model nothing.
(tests/scale/test_accelerate_launch.py runs the same code under `accelerate launch`.)
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from PIL import Image

from faceaudit.data.records import McqItem
from faceaudit.errors import InputError, StageError, StaleResultsError
from faceaudit.evaluate.distributed import Shard, complete_records, current_shard, shard_files
from faceaudit.evaluate.predict import predict
from faceaudit.models.simulated import SimulatedFaceModel
from faceaudit.perturb.config import PerturbConfig
from faceaudit.perturb.geometry import CENTRED
from faceaudit.perturb.stage import run_robustness


class Sequential(Shard):
    """A rank whose barrier returns at once: the test runs the ranks in barrier order itself."""

    def barrier(self) -> None:
        return None


class Counting(SimulatedFaceModel):
    """The simulated model, counting the questions it was asked."""

    def __init__(self) -> None:
        super().__init__({"default": 0.7, "skin=dark": 0.5}, seed=3, perturbation_drop={"default": 0.15})
        self.asked: list[str] = []

    def score_options(self, batch, images):
        self.asked.extend(item.item_id for item in batch)
        return super().score_options(batch, images)


def _items(root: Path, n_images: int = 15) -> list[McqItem]:
    items = []
    for k in range(n_images):
        image_id = f"face{k:02d}"
        Image.new("RGB", (32, 32), (30 + 9 * k, 90, 120)).save(root / f"{image_id}.png")
        for task in ("gender", "age", "race"):
            items.append(McqItem(
                item_id=f"{image_id}-{task}", image_ids=[image_id], image_paths=[f"{image_id}.png"], task=task,
                question=f"What is the {task}?", options=["x", "y", "z"], answer="ABC"[k % 3],
                groups={"skin": ("light", "dark")[k % 2]},
            ))
    # Listed in an order that is neither by image nor sorted: the shards must not depend on it.
    return items[1::2] + items[::2]


@pytest.fixture()
def root(tmp_path: Path) -> Path:
    path = tmp_path / "images"
    path.mkdir()
    return path


def _predict(items, root, model, out, shard=None):
    return predict(items, root, model, mode="scoring", out_jsonl=out, batch_size=4, progress=False,
                   sensitive_attributes=["skin"], shard=shard)


def _in_barrier_order(world_size: int, run):
    """Run ``run(shard)`` for every rank, rank 0 last (it merges); rank 0's result."""
    results = {rank: run(Sequential(rank, world_size)) for rank in [*range(1, world_size), 0]}
    return results[0]


# --- shard assignment ---------------------------------------------------------------------

def test_shards_are_disjoint_covering_and_independent_of_listing_order() -> None:
    keys = [f"img{k:03d}" for k in range(23)]
    for world_size in (1, 2, 3, 8):
        shares = [Shard(rank, world_size).select(keys) for rank in range(world_size)]
        assert sorted(k for share in shares for k in share) == sorted(keys)  # covering, disjoint
        assert max(map(len, shares)) - min(map(len, shares)) <= 1  # balanced
        shuffled = [Shard(rank, world_size).select(list(reversed(keys)) + keys[:5]) for rank in range(world_size)]
        assert shuffled == shares  # order and repeats of the keys change nothing
    assert Shard(1, 3).select(keys) == ["img001", "img004", "img007", "img010", "img013", "img016", "img019",
                                        "img022"]


def test_more_processes_than_images_is_refused() -> None:
    with pytest.raises(InputError, match="4 processes for 3 image"):
        Shard(0, 4).select(["a", "b", "c"])
    with pytest.raises(ValueError, match="rank 2 is not one of the 2"):
        Shard(2, 2)


def test_outside_a_launcher_there_is_one_process_and_no_process_group(monkeypatch) -> None:
    import torch.distributed

    monkeypatch.delenv("WORLD_SIZE", raising=False)
    assert current_shard() == Shard(0, 1)
    assert not current_shard().active and current_shard().is_main
    current_shard().barrier()  # returns at once
    assert not torch.distributed.is_initialized()


def test_a_torn_last_line_is_skipped_when_reading_a_shard(tmp_path: Path) -> None:
    path = tmp_path / "p.jsonl"
    path.write_bytes(b'{"item_id": "a"}\n{"item_id": "b"}\n{"item_id": "c", "pre')
    assert [r["item_id"] for r in complete_records(path)] == ["a", "b"]
    assert list(complete_records(tmp_path / "missing.jsonl")) == []
    assert Shard(3, 4).path(path).name == "p.rank3.jsonl"


# --- evaluation ---------------------------------------------------------------------------

@pytest.mark.parametrize("world_size", [2, 3])
def test_merged_predictions_are_the_single_process_file_byte_for_byte(tmp_path: Path, root: Path,
                                                                     world_size: int) -> None:
    items = _items(root)
    single = _predict(items, root, Counting(), tmp_path / "single" / "p.jsonl")
    models: dict[int, Counting] = {}

    def rank(shard: Shard):
        models[shard.rank] = Counting()
        return _predict(items, root, models[shard.rank], tmp_path / "multi" / "p.jsonl", shard)

    merged = _in_barrier_order(world_size, rank)
    assert merged.equals(single)
    for name in ("p.jsonl", "p.jsonl.meta.json"):
        assert (tmp_path / "multi" / name).read_bytes() == (tmp_path / "single" / name).read_bytes()
    assert shard_files(tmp_path / "multi" / "p.jsonl") == []  # merged, then removed
    asked = [models[r].asked for r in range(world_size)]
    assert sorted(sum(asked, [])) == sorted(item.item_id for item in items)  # each question asked once
    for questions in asked:  # all questions on an image in one process (one vision pass for them)
        images = {q.split("-")[0] for q in questions}
        assert len(questions) == 3 * len(images)


def test_a_crashed_shard_resumes_and_a_finished_run_asks_nothing(tmp_path: Path, root: Path) -> None:
    items = _items(root)
    out = tmp_path / "p.jsonl"
    single = _predict(items, root, Counting(), tmp_path / "single.jsonl")

    class Dies(Counting):
        def score_options(self, batch, images):
            if len(self.asked) >= 8:
                raise KeyboardInterrupt("killed")
            return super().score_options(batch, images)

    with pytest.raises(KeyboardInterrupt):
        _predict(items, root, Dies(), out, Sequential(1, 2))
    assert len(list(complete_records(Shard(1, 2).path(out)))) == 8
    second = {1: Counting(), 0: Counting()}
    merged = _in_barrier_order(2, lambda shard: _predict(items, root, second[shard.rank], out, shard))
    assert merged.equals(single)
    share = Shard(1, 2).select(item.image_ids[0] + ".png" for item in items)
    assert len(second[1].asked) == 3 * len(share) - 8  # the 8 stored answers were not asked again
    third = {1: Counting(), 0: Counting()}
    assert _in_barrier_order(2, lambda shard: _predict(items, root, third[shard.rank], out, shard)).equals(single)
    assert third[0].asked == third[1].asked == []  # everything was merged: nothing asked again
    # and the merged file serves a single process too
    assert _predict(items, root, Counting(), out).equals(single)


def test_one_process_after_a_stopped_launch_reuses_the_shares(tmp_path: Path, root: Path) -> None:
    items = _items(root)
    out = tmp_path / "p.jsonl"
    single = _predict(items, root, Counting(), tmp_path / "single.jsonl")
    share = _predict(items, root, Counting(), out, Sequential(1, 2))  # rank 1 finished, rank 0 never merged
    model = Counting()
    assert _predict(items, root, model, out).equals(single)
    assert sorted(model.asked) == sorted(set(single["item_id"]) - set(share["item_id"]))  # only the rest
    assert shard_files(out) == []


def test_a_shard_file_of_another_model_is_refused_at_the_merge(tmp_path: Path, root: Path) -> None:
    items = _items(root)
    out = tmp_path / "p.jsonl"
    other = Counting()
    other.identity = other.identity.model_copy(update={"sha256": "f" * 64})
    _predict(items, root, other, out, Sequential(1, 2))  # then rank 0 runs with another model
    with pytest.raises(StaleResultsError, match=r"p\.rank1\.jsonl holds answers.*model_sha256"):
        _predict(items, root, Counting(), out, Sequential(0, 2))


# --- perturbation -------------------------------------------------------------------------

def _robustness(items, root, clean, answers, shard=None):
    cfg = PerturbConfig(perturbations=["underexposure", "eye_band"], severities=[1, 4], max_images=12,
                        questions_per_image=2, workers=0, batch_size=5, min_group_n=2)
    return run_robustness(items, root, clean, Counting(), cfg, mode="scoring", sensitive_attributes=["skin"],
                          geometry=lambda _: CENTRED, geometry_note="a centred template", progress=False,
                          seed=5, answers_jsonl=answers, shard=shard)


def _comparable(section) -> dict:
    data = section.model_dump(mode="json")
    data.pop("throughput")  # wall time and rates
    return data


def test_merged_perturbed_answers_give_the_single_process_section(tmp_path: Path, root: Path) -> None:
    items = _items(root)
    clean = _predict(items, root, Counting(), tmp_path / "clean.jsonl")
    single = _robustness(items, root, clean, tmp_path / "single" / "answers.jsonl")
    sections = {}

    def rank(shard: Shard):
        sections[shard.rank] = _robustness(items, root, clean, tmp_path / "multi" / "answers.jsonl", shard)
        return sections[shard.rank]

    merged = _in_barrier_order(2, rank)
    assert sections[1] is None  # only rank 0 analyses
    assert _comparable(merged) == _comparable(single)
    assert merged.throughput["perturbed_images"] == single.throughput["perturbed_images"] == 12 * 4
    for name in ("answers.jsonl", "answers.jsonl.meta.json"):
        assert (tmp_path / "multi" / name).read_bytes() == (tmp_path / "single" / name).read_bytes()
    assert shard_files(tmp_path / "multi" / "answers.jsonl") == []
    lines = [json.loads(line) for line in (tmp_path / "multi" / "answers.jsonl").read_text().splitlines()]
    assert len(lines) == len({line["key"] for line in lines}) == 12 * 2 * 4  # images x questions x conditions


def test_one_process_after_a_stopped_launch_reuses_the_perturbed_shares(tmp_path: Path, root: Path) -> None:
    items = _items(root)
    clean = _predict(items, root, Counting(), tmp_path / "clean.jsonl")
    single = _robustness(items, root, clean, tmp_path / "single.jsonl")
    answers = tmp_path / "answers.jsonl"
    assert _robustness(items, root, clean, answers, Sequential(1, 2)) is None  # rank 0 never came
    stored = len(list(complete_records(Shard(1, 2).path(answers))))
    assert stored == 6 * 2 * 4  # rank 1's 6 of the 12 images, 2 questions, 4 conditions
    resumed = _robustness(items, root, clean, answers)
    assert _comparable(resumed) == _comparable(single)
    assert shard_files(answers) == []
    assert len((answers).read_text().splitlines()) == 12 * 2 * 4


# --- the pipeline under a launcher ---------------------------------------------------------

@pytest.mark.parametrize(("overrides", "message"), [
    (["run_id=null"], "needs --run-id: every process must work in the same run directory"),
    (["run_id=r"], "stage(s) corpus, scan, train, contamination do not run data-parallel"),
    (["run_id=r", "corpus.enabled=false", "train.enabled=false", "sensitivity.enabled=true"],
     "stage(s) sensitivity do not run data-parallel"),
])
def test_what_cannot_run_data_parallel_is_refused_before_any_work(tmp_path: Path, monkeypatch, overrides,
                                                                 message) -> None:
    import faceaudit.pipeline
    from faceaudit.config import load_config

    monkeypatch.setattr(faceaudit.pipeline, "current_shard", lambda: Shard(0, 2))
    config = load_config(overrides=[f"output_dir={tmp_path / 'runs'}", *overrides])
    with pytest.raises(InputError, match=re.escape(message)):
        faceaudit.pipeline.run_audit(config, progress=False)
    assert not (tmp_path / "runs").exists()


SMALL_RUN = ["dataset.synthetic.n=40", "corpus.enabled=false", "train.enabled=false", "evaluate.backend=simulated",
             "evaluate.n_boot=100", "perturb.max_images=12", "perturb.families=[lighting]", "perturb.severities=[2,5]",
             "report.enabled=false"]


def _differences(one: Path, two: Path) -> list[tuple[str, str]]:
    """Lines of two audit.json files that differ where two runs may not (tests/fuzz/test_reproducibility.py)."""
    from fuzz.test_reproducibility import _volatile

    first, second = one.read_text().splitlines(), two.read_text().splitlines()
    assert len(first) == len(second) > 500
    return [(a, b) for a, b in zip(first, second, strict=True) if a != b and not _volatile(a)]


def test_the_evaluate_and_perturb_commands_share_their_work_and_rank_0_writes(tmp_path: Path, monkeypatch) -> None:
    """`faceaudit evaluate --run-id` and `faceaudit perturb <run>` under a launcher, ranks in barrier order."""
    import faceaudit.pipeline
    from faceaudit.config import load_config
    from faceaudit.pipeline import perturb_existing_run, run_audit

    def config(run_id: str):
        return load_config(overrides=[*SMALL_RUN, f"output_dir={tmp_path}", f"run_id={run_id}"])

    run_audit(config("single"), progress=False, only={"evaluate"})
    perturb_existing_run(tmp_path / "single", progress=False)
    for rank in (1, 0):
        monkeypatch.setattr(faceaudit.pipeline, "current_shard", lambda rank=rank: Sequential(rank, 2))
        outcome = run_audit(config("multi"), progress=False, only={"evaluate"})
        assert outcome.wrote == (rank == 0)
        assert (tmp_path / "multi" / "audit.json").is_file() == (rank == 0)  # rank 1 wrote no audit
    for rank in (1, 0):
        monkeypatch.setattr(faceaudit.pipeline, "current_shard", lambda rank=rank: Sequential(rank, 2))
        before = (tmp_path / "multi" / "audit.json").read_bytes()
        perturb_existing_run(tmp_path / "multi", progress=False)
        assert ((tmp_path / "multi" / "audit.json").read_bytes() == before) == (rank == 1)
    for name in ("evaluate/predictions-scoring.jsonl", "robustness/perturbed_answers.jsonl"):
        assert (tmp_path / "multi" / name).read_bytes() == (tmp_path / "single" / name).read_bytes()
    assert _differences(tmp_path / "single" / "audit.json", tmp_path / "multi" / "audit.json") == []
    assert not list((tmp_path / "multi").rglob("*.rank*"))


def test_a_scoring_fallback_is_refused_under_a_launch_so_every_process_answers_in_one_mode(tmp_path):
    """Each process learns that scoring is unavailable from its own share (here: one item has no
    option probabilities): one process must not fall back to generation while another scores."""
    from faceaudit.evaluate.config import EvaluateConfig
    from faceaudit.evaluate.stage import predict_items
    from faceaudit.models import ScoringUnavailable

    class NoProbsFor(Counting):
        def score_options(self, batch, images):
            if any(i.item_id == "face01-age" for i in batch):
                raise ScoringUnavailable("face01-age has no option_probs")
            return super().score_options(batch, images)

    (tmp_path / "img").mkdir()
    items = _items(tmp_path / "img")
    cfg = EvaluateConfig(backend="simulated", batch_size=4)
    _, mode, notes = predict_items(items, tmp_path / "img", NoProbsFor(), cfg, tmp_path / "one",
                                   sensitive_attributes=["skin"], progress=False)
    assert mode == "generation" and "answers were generated" in notes[0]  # one process falls back
    refused = []
    for rank in (1, 0):  # barrier order: rank 0 merges last
        try:
            predict_items(items, tmp_path / "img", NoProbsFor(), cfg, tmp_path / "launch", sensitive_attributes=["skin"],
                          progress=False, shard=Sequential(rank, 2))
        except StageError as error:
            refused.append(str(error))
    # The process holding that item stops with the instruction (not a mode of its own choosing).
    assert any("every process must answer in the same mode: set evaluate.mode=generation" in r for r in refused)
