"""LoRA training of the tiny InternVL: loss, outputs, adapter round trip, targets, refusal."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from train_support import make_square_set

from faceaudit.data.records import McqItem
from faceaudit.models.chat import encode_prompt, load_images, pad_batch
from faceaudit.models.loading import RemoteCodeRefused, load_model
from faceaudit.schema.training import TrainingSection
from faceaudit.train.recipe import load_recipe
from faceaudit.train.tiny import tiny_internvl_cached
from faceaudit.train.trainer import train_lora


def small_recipe(**changes):
    recipe = load_recipe("tiny")
    # The tiny recipe trains on MCQ items only; these tests exercise the corpus path too.
    base = {"max_steps": 16, "per_device_train_batch_size": 8, "logging_steps": 1, "save_steps": 8,
            "learning_rate": 3e-3, "merge": True, "eval_batch_size": 16, "include_corpus": True}
    lora = recipe.lora.model_copy(update={"modules_to_save": []})
    return recipe.model_copy(update={**base, "lora": lora, **changes})


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    return tiny_internvl_cached(tmp_path_factory.getbasetemp() / "tiny-models")


@pytest.fixture(scope="module")
def squares(tmp_path_factory):
    root = tmp_path_factory.mktemp("squares")
    items, corpus = make_square_set(root)
    return root, items, corpus


@pytest.fixture(scope="module")
def trained(tmp_path_factory, tiny_dir, squares):
    root, items, corpus = squares
    out = tmp_path_factory.mktemp("trained")
    section = train_lora(base_model=tiny_dir, corpus=corpus, image_root=root, recipe=small_recipe(),
                         out_dir=out, train_items=items[:18], eval_items=items[18:], progress=False)
    return section, out


def _eval_loss(model, processor, root: Path, items: list[McqItem]) -> float:
    batch = pad_batch([encode_prompt(processor, load_images(i.image_paths, root), i.prompt(), answer=i.answer)
                       for i in items], processor.tokenizer.pad_token_id)
    with torch.no_grad():
        return float(model(**batch).loss)


def test_loss_falls_and_is_logged_per_step(trained):
    section, out = trained
    assert section.steps == 16
    assert [p.step for p in section.loss_curve] == list(range(1, 17))
    assert section.loss_last < 0.5 * section.loss_first
    lines = [json.loads(line) for line in (out / "training_log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in lines if "loss" in r] == list(range(1, 17))
    summary = lines[-1]
    assert summary["summary"] is True and summary["steps"] == 16
    assert summary["accuracy"]["colour"]["n"] == 6
    assert summary["samples_per_second"] > 0 and summary["peak_memory_mb"] > 0


def test_outputs_and_provenance(trained, tiny_dir, squares):
    section, out = trained
    root, items, corpus = squares
    # 24 accepted corpus records (the rejected one is left out) + 18 items.
    assert (section.n_corpus_examples, section.n_mcq_examples, section.n_examples) == (24, 18, 42)
    adapter = Path(section.adapter_path)
    for name in ("adapter_config.json", "adapter_model.safetensors", "tokenizer.json",
                 "preprocessor_config.json", "processor_config.json"):
        assert (adapter / name).is_file()
    from faceaudit.store import sha256_file
    assert section.adapter_sha256 == sha256_file(adapter / "adapter_model.safetensors")
    assert section.corpus_sha256 == sha256_file(corpus)
    assert section.base_model == str(tiny_dir) and len(section.base_model_sha256 or "") == 64
    assert section.recipe == "tiny" and len(section.recipe_sha256) == 64
    assert set(section.library_versions) >= {"torch", "transformers", "peft", "accelerate"}
    assert set(section.accuracy) == {"colour"}
    estimate = section.accuracy["colour"]
    assert estimate.n == 6 and estimate.method == "wilson" and estimate.lower <= estimate.value <= estimate.upper
    assert section.chance_accuracy == {"colour": pytest.approx(1 / 3)}
    again = TrainingSection.model_validate_json((out / "training.json").read_text())
    assert again.adapter_sha256 == section.adapter_sha256


def test_lora_targets_only_language_model_linears(trained, tiny_dir):
    section, _ = trained
    assert section.lora_target_modules == ["down_proj", "gate_proj", "k_proj", "o_proj", "q_proj", "up_proj", "v_proj"]
    assert section.n_lora_modules == 7 * 2  # 7 Linear layers in each of the 2 decoder layers
    with safe_open(str(Path(section.adapter_path) / "adapter_model.safetensors"), "pt") as handle:
        keys = list(handle.keys())
    assert keys and all(".language_model." in key and "lora_" in key for key in keys)
    assert not any("vision" in key or "projector" in key for key in keys)
    # Vision tower and projector of the merged model are the base's, bit for bit.
    base, _ = load_model(tiny_dir)
    merged, _ = load_model(section.merged_path)
    base_state, merged_state = base.state_dict(), merged.state_dict()
    frozen = [k for k in base_state if "vision_tower" in k or "multi_modal_projector" in k]
    assert frozen and all(torch.equal(base_state[k], merged_state[k]) for k in frozen)
    changed = [k for k in base_state if ".language_model." in k and k.endswith("q_proj.weight")]
    assert changed and not all(torch.equal(base_state[k], merged_state[k]) for k in changed)


def test_saved_adapter_reloads_and_merges_to_the_same_eval_loss(trained, tiny_dir, squares):
    section, _ = trained
    root, items, _ = squares
    with_adapter, processor = load_model(tiny_dir, adapter=Path(section.adapter_path))
    merged_on_disk, merged_processor = load_model(section.merged_path)
    loss_adapter = _eval_loss(with_adapter, processor, root, items[18:])
    loss_merged_disk = _eval_loss(merged_on_disk, merged_processor, root, items[18:])
    loss_merged_memory = _eval_loss(with_adapter.merge_and_unload(), processor, root, items[18:])
    base, _ = load_model(tiny_dir)
    loss_base = _eval_loss(base, processor, root, items[18:])
    assert loss_adapter == pytest.approx(loss_merged_disk, abs=1e-5)
    assert loss_adapter == pytest.approx(loss_merged_memory, abs=1e-5)
    assert abs(loss_adapter - loss_base) > 0.1  # the adapter is not a no-op


def test_in_memory_adapter_equals_reloaded_and_merged(tmp_path, tiny_dir, squares):
    from peft import get_peft_model

    from faceaudit.train.lora import build_lora_config

    root, items, _ = squares
    model, processor = load_model(tiny_dir)
    model = get_peft_model(model, build_lora_config(model, load_recipe("tiny").lora.model_copy(
        update={"modules_to_save": []})))
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if "lora_B" in name:
                parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.05)
    model.eval()
    in_memory = _eval_loss(model, processor, root, items[:6])
    model.save_pretrained(tmp_path / "adapter")
    reloaded, _ = load_model(tiny_dir, adapter=tmp_path / "adapter")
    assert _eval_loss(reloaded, processor, root, items[:6]) == pytest.approx(in_memory, abs=1e-5)
    assert _eval_loss(reloaded.merge_and_unload(), processor, root, items[:6]) == pytest.approx(in_memory, abs=1e-5)


def test_remote_code_base_is_refused_before_training(tmp_path, tiny_dir, squares):
    root, items, corpus = squares
    remote = tmp_path / "remote"
    shutil.copytree(tiny_dir, remote)
    config = json.loads((remote / "config.json").read_text())
    config.update(model_type="internvl_chat", auto_map={"AutoModel": "modeling.InternVLChatModel"})
    (remote / "config.json").write_text(json.dumps(config))
    with pytest.raises(RemoteCodeRefused, match="refuses that by default"):
        train_lora(base_model=remote, corpus=corpus, image_root=root, recipe=small_recipe(),
                   out_dir=tmp_path / "out", progress=False)
    assert not (tmp_path / "out" / "adapter").exists()


def test_nothing_to_train_on_is_an_error(tmp_path, tiny_dir, squares):
    root, _, _ = squares
    empty = tmp_path / "empty.jsonl"
    empty.write_text(json.dumps({"image_path": "images/sq000.png", "question": "q", "answer": "a",
                                 "status": "rejected"}) + "\n")
    with pytest.raises(ValueError, match="no accepted records"):
        train_lora(base_model=tiny_dir, corpus=empty, image_root=root, recipe=small_recipe(),
                   out_dir=tmp_path / "out", progress=False)


def test_training_output_dir_is_accepted_as_adapter(trained, tiny_dir, squares):
    section, out = trained
    root, items, _ = squares
    from_out, processor = load_model(tiny_dir, adapter=out)
    from_adapter, _ = load_model(tiny_dir, adapter=Path(section.adapter_path))
    assert _eval_loss(from_out, processor, root, items[:3]) == _eval_loss(from_adapter, processor, root, items[:3])


def test_corpus_max_examples_takes_a_seeded_sample(tmp_path, tiny_dir, squares):
    root, items, corpus = squares
    recipe = small_recipe(corpus_max_examples=5, max_steps=1, merge=False)
    section = train_lora(base_model=tiny_dir, corpus=corpus, image_root=root, recipe=recipe,
                         out_dir=tmp_path / "sampled", train_items=items[:3], eval_items=items[18:20],
                         progress=False)
    assert (section.n_corpus_examples, section.n_mcq_examples, section.n_examples) == (5, 3, 8)
