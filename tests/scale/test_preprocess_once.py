"""The hf backend decodes and preprocesses an image once per batch, however many questions ask
about it, and the batch it builds is the one per-question preprocessing builds."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from tests_support import MCQ_QUESTIONS as QUESTIONS

import faceaudit.models.hf as hf
from faceaudit.data.records import McqItem
from faceaudit.evaluate.predict import group_by_image, predict
from faceaudit.models.hf import HFFaceModel
from faceaudit.train.tiny import tiny_internvl_cached


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("faces")
    rng = np.random.default_rng(4)
    for i in range(4):
        Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(root / f"{i}.png")
    items = [
        McqItem(item_id=f"i{i}q{q}", image_ids=[f"img{i}"], image_paths=[f"{i}.png"] if i != 3 else ["3.png", "0.png"],
                task=f"t{q}", question=question, options=options, answer="A")
        for q, (question, options) in enumerate(QUESTIONS) for i in range(4)
    ]
    base = tiny_internvl_cached(tmp_path_factory.getbasetemp() / "tiny-models")
    return root, group_by_image(items), base


def _counting(monkeypatch) -> list[int]:
    """Number of images each call of the processor path (decode + image processor) was given."""
    calls: list[int] = []
    real = hf.encode_prompt

    def counted(processor, images, text, **kwargs):
        calls.append(len(images))
        return real(processor, images, text, **kwargs)

    monkeypatch.setattr(hf, "encode_prompt", counted)
    return calls


def _assert_same_batch(fast: dict, plain: dict) -> None:
    assert torch.equal(fast["input_ids"], plain["input_ids"])
    assert torch.equal(fast["attention_mask"], plain["attention_mask"])
    index = fast.get("image_index", torch.arange(fast["pixel_values"].shape[0]))
    assert torch.equal(fast["pixel_values"][index], plain["pixel_values"])


def test_an_image_is_preprocessed_once_per_batch_and_the_batch_is_unchanged(setup, monkeypatch) -> None:
    root, items, base = setup
    plain, fast = HFFaceModel.load(base, share_vision=False), HFFaceModel.load(base)
    batch = items[:9]  # images 0, 1 and 2, three questions each
    expected = plain.prepare(batch, root)
    calls = _counting(monkeypatch)
    _assert_same_batch(fast.prepare(batch, root), expected)
    assert calls == [1, 1, 1]  # one per distinct image, not one per question
    assert fast._splice is True  # the check against the processor's own encoding passed
    # the two-image item's questions (images 3 and 0) share too
    expected = plain.prepare(items[9:], root)
    calls.clear()
    _assert_same_batch(fast.prepare(items[9:], root), expected)
    assert calls == [2]


def test_perturbed_images_in_memory_are_preprocessed_once_too(setup, monkeypatch) -> None:
    root, items, base = setup
    plain, fast = HFFaceModel.load(base, share_vision=False), HFFaceModel.load(base)
    batch = items[:9]
    pictures = {i: Image.open(root / f"{i}.png").convert("RGB") for i in range(3)}
    rows = [[pictures[int(item.image_paths[0][0])]] for item in batch]
    expected = plain.prepare_images(batch, rows)
    calls = _counting(monkeypatch)
    _assert_same_batch(fast.prepare_images(batch, rows), expected)
    assert calls == [1, 1, 1]


def test_a_processor_that_expands_otherwise_keeps_the_plain_path(setup, monkeypatch) -> None:
    root, items, base = setup
    fast = HFFaceModel.load(base)
    processor = fast.client.processor
    unchanged = HFFaceModel(fast.model, processor, name="plain", share_vision=False).prepare(items[:9], root)
    real = processor.replace_image_token
    monkeypatch.setattr(processor, "replace_image_token", lambda *args, **kwargs: real(*args, **kwargs) + "\n")
    plain = HFFaceModel(fast.model, processor, name="plain", share_vision=False)
    expected = plain.prepare(items[:9], root)
    assert expected["input_ids"].shape[1] == unchanged["input_ids"].shape[1] + 1  # the processor did change
    calls = _counting(monkeypatch)
    _assert_same_batch(fast.prepare(items[:9], root), expected)
    assert fast._splice is False  # the first check caught it
    assert len(calls) == 9  # and every question was preprocessed, as without sharing


def test_answers_are_unchanged(setup, tmp_path) -> None:
    root, items, base = setup
    kwargs = {"mode": "scoring", "batch_size": 6, "progress": False, "prefetch": 0}
    expected = predict(items, root, HFFaceModel.load(base, share_vision=False), out_jsonl=tmp_path / "a.jsonl", **kwargs)
    got = predict(items, root, HFFaceModel.load(base), out_jsonl=tmp_path / "b.jsonl", **kwargs)
    assert list(got["predicted"]) == list(expected["predicted"])
    np.testing.assert_allclose(np.concatenate(got["option_probs"].tolist()),
                               np.concatenate(expected["option_probs"].tolist()), rtol=1e-5, atol=1e-6)
