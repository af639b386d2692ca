"""The training fast path computes the standard path's loss and gradients, with less work."""

from __future__ import annotations

import pytest
import torch
from train_support import make_square_set

from faceaudit.models.loading import load_model
from faceaudit.train.data import (
    FastCollator,
    FastSupervisedDataset,
    SupervisedCollator,
    SupervisedDataset,
    mcq_examples,
    read_corpus,
)
from faceaudit.train.fast import VisionFeatureCache, fast_loss
from faceaudit.train.lora import build_lora_config
from faceaudit.train.recipe import load_recipe
from faceaudit.train.tiny import tiny_internvl_cached
from faceaudit.train.trainer import _weighted_trainer_class


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    from peft import get_peft_model

    torch.manual_seed(0)
    root = tmp_path_factory.mktemp("fast-squares")
    items, corpus = make_square_set(root, n=6)
    base = tiny_internvl_cached(tmp_path_factory.getbasetemp() / "tiny-models")
    model, processor = load_model(str(base), dtype="float32")
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    spec = load_recipe("tiny").lora  # full-rank LoRA + trainable projector, as the embedded default
    model = get_peft_model(model, build_lora_config(model, spec))
    # LoRA B starts at zero (its A would get no gradient): perturb it so every gradient is tested.
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if "lora_B" in name:
                parameter.normal_(std=0.05)
    model.train()
    # Corpus pairs (long answers) and MCQ items (one letter) of the same images, mixed in a batch.
    examples = read_corpus(corpus)[:3] + mcq_examples(items)[:3]
    return model, processor, root, examples


def _grads(model) -> dict[str, torch.Tensor]:
    grads = {n: p.grad.detach().clone() for n, p in model.named_parameters() if p.requires_grad}
    model.zero_grad(set_to_none=True)
    return grads


def _standard(model, processor, root, examples, weighting, num_items=None):
    dataset = SupervisedDataset(examples, processor, root, 256)
    batch = SupervisedCollator(processor.tokenizer.pad_token_id)([dataset[i] for i in range(len(dataset))])
    if weighting == "token":
        extra = {"num_items_in_batch": num_items} if num_items is not None else {}
        loss = model(**batch, **extra).loss
    else:
        loss = _weighted_trainer_class("example").compute_loss(None, model, batch)
    loss.backward()
    return loss.item(), _grads(model)


def _fast(model, processor, root, examples, weighting, cache, num_items=None):
    dataset = FastSupervisedDataset(examples, processor, root, 256, cache)
    batch = FastCollator(processor.tokenizer.pad_token_id)([dataset[i] for i in range(len(dataset))])
    loss = fast_loss(model, batch, cache=cache, loss_weighting=weighting, num_items_in_batch=num_items)
    loss.backward()
    return loss.item(), _grads(model), batch


@pytest.mark.parametrize(("weighting", "num_items"), [("example", None), ("token", None), ("token", 37)])
def test_fast_path_loss_and_gradients_equal_the_standard_path(setup, weighting, num_items) -> None:
    model, processor, root, examples = setup
    loss, grads = _standard(model, processor, root, examples, weighting, num_items)
    cache = VisionFeatureCache(2**30)
    first_loss, first_grads, first_batch = _fast(model, processor, root, examples, weighting, cache, num_items)
    # 6 examples on 3 images (a corpus pair and an MCQ item each): each image's pixels go in once.
    assert len(first_batch["pixel_keys"]) == 3 and first_batch["pixel_values"].shape[0] == 3
    # Second pass: every image is cached, no pixels at all, same numbers.
    again_loss, again_grads, again_batch = _fast(model, processor, root, examples, weighting, cache, num_items)
    assert again_batch["pixel_keys"] == () and "pixel_values" not in again_batch
    assert cache.stats()["images"] == 3 and cache.stats()["hits"] >= 6

    assert loss > 0.5  # a real loss of an untrained model, not a trivial zero
    trained = [name for name in grads if "lora_" in name or "multi_modal_projector" in name]
    assert any("multi_modal_projector" in name for name in trained) and len(trained) == len(grads)
    for fast_value, fast_grads in ((first_loss, first_grads), (again_loss, again_grads)):
        assert fast_value == pytest.approx(loss, rel=1e-5, abs=1e-6)
        assert fast_grads.keys() == grads.keys()
        for name, grad in grads.items():
            assert grad.abs().max() > 0, name
            torch.testing.assert_close(fast_grads[name], grad, rtol=1e-4, atol=1e-6, msg=name)


def test_cache_budget_bounds_memory_and_stays_exact(setup) -> None:
    model, processor, root, examples = setup
    loss, _ = _standard(model, processor, root, examples, "example")
    cache = VisionFeatureCache(0)  # nothing fits: every image is recomputed every time
    for _ in range(2):
        fast_value, _, batch = _fast(model, processor, root, examples, "example", cache)
        assert len(batch["pixel_keys"]) == 3
        assert fast_value == pytest.approx(loss, rel=1e-5)
    assert len(cache) == 0 and cache.bytes == 0
    with pytest.raises(ValueError, match="max_bytes"):
        VisionFeatureCache(-1)


def test_fast_path_only_where_it_is_exact(monkeypatch) -> None:
    from types import SimpleNamespace

    from faceaudit.train.trainer import _fast_path_applies

    one = SimpleNamespace(world_size=1, n_gpu=0, fsdp=None, deepspeed=None)
    tiny = load_recipe("tiny")
    assert _fast_path_applies(tiny, one)
    assert not _fast_path_applies(tiny.model_copy(update={"fast_path": False}), one)
    trained_tower = tiny.lora.model_copy(update={"modules_to_save": ["vision_tower", "multi_modal_projector"]})
    assert not _fast_path_applies(tiny.model_copy(update={"lora": trained_tower}), one)
    for wrapped in ({"world_size": 2}, {"n_gpu": 2}, {"fsdp": "full_shard"}, {"deepspeed": "zero3.json"}):
        assert not _fast_path_applies(tiny, SimpleNamespace(**{**vars(one), **wrapped})), wrapped
    monkeypatch.setenv("ACCELERATE_USE_FSDP", "true")
    assert not _fast_path_applies(tiny, one)
