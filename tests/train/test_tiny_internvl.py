"""The tiny InternVL factory: a checkpoint directory that loads like a real one."""

from __future__ import annotations

import json

import pytest
import torch
from transformers import AutoModelForImageTextToText, AutoTokenizer

from faceaudit.train.tiny import (
    BUILD_STAMP,
    INTERNVL_NAMED_TOKENS,
    build_tiny_internvl,
    tiny_internvl_cached,
)


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    return tiny_internvl_cached(tmp_path_factory.getbasetemp() / "tiny-models")


def test_checkpoint_has_the_layout_of_a_real_internvl_hf_directory(tiny_dir):
    names = {p.name for p in tiny_dir.iterdir()}
    for required in ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json",
                     "preprocessor_config.json", "processor_config.json", "chat_template.jinja", BUILD_STAMP):
        assert required in names
    config = json.loads((tiny_dir / "config.json").read_text())
    assert config["model_type"] == "internvl"
    assert config["vision_config"]["hidden_size"] == 32
    assert config["vision_config"]["num_hidden_layers"] == 2
    assert config["vision_config"]["patch_size"] == [8, 8]
    assert config["text_config"]["hidden_size"] == 64
    assert config["text_config"]["num_hidden_layers"] == 2
    # (64 / 8)^2 patches, pixel-shuffled by 0.5 in each direction.
    assert config["image_seq_length"] == 16
    assert json.loads((tiny_dir / "processor_config.json").read_text())["image_seq_length"] == 16
    preprocessor = json.loads((tiny_dir / "preprocessor_config.json").read_text())
    assert preprocessor["crop_to_patches"] is False
    assert preprocessor["size"] == {"height": 64, "width": 64}


def test_tokenizer_has_internvl_tokens_and_chat_template(tiny_dir):
    tokenizer = AutoTokenizer.from_pretrained(tiny_dir)
    for name, token in INTERNVL_NAMED_TOKENS.items():
        assert getattr(tokenizer, name) == token
        assert tokenizer.convert_tokens_to_ids(token) == getattr(tokenizer, f"{name}_id")
    config = json.loads((tiny_dir / "config.json").read_text())
    assert config["image_token_id"] == tokenizer.context_image_token_id
    rendered = tokenizer.apply_chat_template(
        [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "Q?"}]},
         {"role": "assistant", "content": [{"type": "text", "text": "A"}]}],
        tokenize=False,
    )
    assert rendered == "<|im_start|>user\n<IMG_CONTEXT>\nQ?<|im_end|>\n<|im_start|>assistant\nA<|im_end|>\n"
    # Special tokens stay whole; the option letters are single tokens.
    assert tokenizer.tokenize("<img><IMG_CONTEXT></img>") == ["<img>", "<IMG_CONTEXT>", "</img>"]
    for letter in "ABCD":
        assert len(tokenizer(letter, add_special_tokens=False)["input_ids"]) == 1
    # Synthetic-face labels are whole tokens where options put them ("(A) female").
    for label in ("female", "male", "child", "older", "light", "medium", "dark", "yes", "no"):
        assert tokenizer.tokenize(f" {label}") == [f"Ġ{label}"]


def test_model_loads_with_from_pretrained_and_runs_on_an_image(tiny_dir):
    model = AutoModelForImageTextToText.from_pretrained(tiny_dir).eval()
    tokenizer = AutoTokenizer.from_pretrained(tiny_dir)
    ids = [tokenizer.start_image_token_id] + [tokenizer.context_image_token_id] * 16 + [tokenizer.end_image_token_id]
    ids += tokenizer("hello", add_special_tokens=False)["input_ids"]
    pixel_values = torch.zeros(1, 3, 64, 64)
    with torch.no_grad():
        out = model(input_ids=torch.tensor([ids]), pixel_values=pixel_values)
    assert out.logits.shape == (1, len(ids), len(tokenizer))
    assert torch.isfinite(out.logits).all()


def test_build_is_idempotent_and_rebuilds_for_other_parameters(tmp_path):
    first = build_tiny_internvl(tmp_path / "m", seed=3)
    weights = first / "model.safetensors"
    stamp_before = weights.stat().st_mtime_ns
    again = build_tiny_internvl(tmp_path / "m", seed=3)
    assert again == first
    assert weights.stat().st_mtime_ns == stamp_before
    other = build_tiny_internvl(tmp_path / "m", seed=4)
    assert json.loads((other / BUILD_STAMP).read_text())["seed"] == 4
    # Same seed -> same weights, byte for byte.
    twin = build_tiny_internvl(tmp_path / "twin", seed=4)
    assert (twin / "model.safetensors").read_bytes() == (other / "model.safetensors").read_bytes()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_incomplete_directory_is_rebuilt(tmp_path):
    target = tmp_path / "m"
    target.mkdir()
    (target / "config.json").write_text("{}")
    build_tiny_internvl(target)
    assert (target / BUILD_STAMP).is_file()
    assert json.loads((target / "config.json").read_text())["model_type"] == "internvl"


def test_image_size_must_fit_patch_grid(tmp_path):
    with pytest.raises(ValueError, match="multiple of 16"):
        build_tiny_internvl(tmp_path / "m", image_size=60)


def test_other_image_size_gives_matching_token_count(tmp_path):
    path = build_tiny_internvl(tmp_path / "m32", image_size=32)
    config = json.loads((path / "config.json").read_text())
    assert config["image_seq_length"] == 4
    model = AutoModelForImageTextToText.from_pretrained(path).eval()
    with torch.no_grad():
        features = model.get_image_features(pixel_values=torch.zeros(1, 3, 32, 32))
    hidden = features.pooler_output if hasattr(features, "pooler_output") else features
    assert hidden.shape[-2:] == (4, 64)
