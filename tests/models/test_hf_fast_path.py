"""The hf backend's fast path: one vision pass per distinct image, the same answers."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from tests_support import MCQ_QUESTIONS as QUESTIONS

from faceaudit.data.records import McqItem
from faceaudit.evaluate.predict import group_by_image, predict
from faceaudit.models.hf import HFFaceModel
from faceaudit.train.tiny import tiny_internvl_cached


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("shared-faces")
    rng = np.random.default_rng(1)
    for i in range(5):
        Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(root / f"{i}.png")
    items = []
    # Task-major order (as items are built): the questions on one image are far apart.
    for q, (question, options) in enumerate(QUESTIONS):
        for i in range(5):
            paths = [f"{i}.png"] if i != 4 else ["4.png", "0.png"]  # one two-image item, sharing image 0
            items.append(McqItem(item_id=f"i{i}q{q}", image_ids=[f"img{i}"], image_paths=paths, task=f"t{q}",
                                 question=question, options=options, answer="A"))
    base = tiny_internvl_cached(tmp_path_factory.getbasetemp() / "tiny-models")
    return root, items, base


def _count_tiles(model: HFFaceModel) -> list[int]:
    seen: list[int] = []
    tower = model.model.model.vision_tower
    tower.register_forward_hook(lambda module, args, kwargs, out: seen.append(kwargs["pixel_values"].shape[0]),
                                with_kwargs=True)
    return seen


def test_group_by_image_keeps_every_item_once_and_puts_an_image_together(setup) -> None:
    _, items, _ = setup
    grouped = group_by_image(items)
    assert sorted(i.item_id for i in grouped) == sorted(i.item_id for i in items)
    assert [i.item_id for i in grouped[:3]] == ["i0q0", "i0q1", "i0q2"]


def test_shared_vision_gives_the_same_answers_with_fewer_tower_rows(setup, tmp_path) -> None:
    root, items, base = setup
    plain = HFFaceModel.load(base, share_vision=False)
    fast = HFFaceModel.load(base)
    plain_rows, fast_rows = _count_tiles(plain), _count_tiles(fast)
    kwargs = {"mode": "scoring", "batch_size": 6, "progress": False, "prefetch": 0}
    expected = predict(items, root, plain, out_jsonl=tmp_path / "plain.jsonl", **kwargs)
    got = predict(items, root, fast, out_jsonl=tmp_path / "fast.jsonl", **kwargs)
    assert list(got["item_id"]) == [i.item_id for i in items]  # the table keeps the input order
    assert list(got["predicted"]) == list(expected["predicted"])
    np.testing.assert_allclose(np.concatenate(got["option_probs"].tolist()),
                               np.concatenate(expected["option_probs"].tolist()), rtol=1e-4, atol=1e-6)
    # 15 items, 18 image slots, 5 distinct images: the plain path runs the tower on every slot,
    # the fast one on each image once per batch (batches of 6 questions, grouped by image).
    assert sum(plain_rows) == 18
    assert fast_rows == [2, 2, 2]


def test_generation_mode_expands_shared_tiles(setup) -> None:
    root, items, base = setup
    fast = HFFaceModel.load(base)
    batch = group_by_image(items)[:4]
    prepared = fast.prepare(batch, root)
    assert prepared["pixel_values"].shape[0] == 2 and prepared["image_index"].tolist() == [0, 0, 0, 1]
    plain = HFFaceModel.load(base, share_vision=False)
    assert fast.generate(batch, prepared, 3) == plain.generate(batch, plain.prepare(batch, root), 3)


def test_config_switch_reaches_the_backend(setup) -> None:
    from faceaudit.evaluate.config import EvaluateConfig
    from faceaudit.models import make_model

    _, _, base = setup
    for share in (True, False):
        cfg = EvaluateConfig(backend="hf", model=str(base), share_vision=share)
        assert make_model(cfg).share_vision is share
