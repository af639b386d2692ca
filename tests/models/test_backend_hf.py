"""The transformers backend on the tiny random-weight InternVL checkpoint.

The tiny model is built once for this module and loaded through the same
``from_pretrained`` path as a real checkpoint.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from faceaudit.data.records import McqItem
from faceaudit.evaluate.config import EvaluateConfig
from faceaudit.evaluate.parse import parse_answer
from faceaudit.evaluate.predict import predict
from faceaudit.models import make_model
from faceaudit.models.hf import HFFaceModel
from faceaudit.models.identity import checkpoint_sha256
from faceaudit.train.tiny import build_tiny_internvl

QUESTIONS = [
    ("What is the gender of the person in the image?", ["Male", "Female"]),
    ("What is the age of the person?", ["0-2", "3-9", "10-19", "20-29"]),
    ("Is the person wearing glasses?", ["Yes", "No", "None of the above"]),
]


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_internvl(tmp_path_factory.mktemp("tiny") / "model", seed=0)


@pytest.fixture(scope="module")
def faces(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[McqItem]]:
    root = tmp_path_factory.mktemp("faces")
    rng = np.random.default_rng(0)
    items = []
    for i in range(18):
        # Different sizes: the image processor must bring them all to one tile.
        Image.fromarray(rng.integers(0, 256, (48 + 4 * i, 64, 3), dtype=np.uint8)).save(root / f"{i}.png")
        question, options = QUESTIONS[i % 3]
        paths = [f"{i}.png"] if i % 6 else [f"{i}.png", f"{(i + 1) % 18}.png"]  # some two-image items
        if len(paths) == 2:
            Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(root / paths[1])
        items.append(McqItem(item_id=f"q{i}", image_ids=[f"img{i}"], image_paths=paths, task="t",
                             question=question + " " + "please " * (i % 4), options=options,
                             answer="A", groups={"skin_tone": "dark" if i % 2 else "light"}))
    return root, items


@pytest.fixture(scope="module")
def letter_model(tiny_dir: Path) -> HFFaceModel:
    """The tiny model with option letters made the likely first answer token.

    Random weights answer with newlines; a trained FaceLLM answers with a letter. Scaling up
    the letters' output-embedding rows gives the same situation without training: which
    letter wins still depends on the image and the question.
    """
    model = HFFaceModel.load(tiny_dir)
    head = model.model.get_output_embeddings().weight
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for token_id in model.letter_ids:
            head[token_id] = torch.randn(head.shape[1], generator=generator) * 40
    return model


def test_scoring_gives_a_distribution_over_each_items_options(tiny_dir: Path, faces, tmp_path: Path) -> None:
    root, items = faces
    model = make_model(EvaluateConfig(backend="hf"), model_dir=tiny_dir)
    assert model.name == f"hf:{tiny_dir}"
    # The evaluated model is pinned by the content of its weights, not by its path.
    assert model.identity.sha256 == checkpoint_sha256(tiny_dir) and model.identity.revision is None
    # A directory named "model" says little: its parent is named too.
    assert model.identity.name == f"{tiny_dir.parent.name}/model" and model.identity.backend == "hf"
    frame = predict(items, root, model, mode="scoring", out_jsonl=tmp_path / "s.jsonl", batch_size=5, progress=False)
    for item, probs, predicted in zip(items, frame["option_probs"], frame["predicted"], strict=True):
        assert len(probs) == len(item.options) and sum(probs) == pytest.approx(1.0)
        assert predicted == "ABCD"[int(np.argmax(probs))]


def test_left_padded_batches_score_like_single_items(tiny_dir: Path, faces) -> None:
    root, items = faces
    model = HFFaceModel.load(tiny_dir)
    batched = model.score_options(items[:7], model.prepare(items[:7], root))
    for item, row in zip(items[:7], batched, strict=True):
        single = model.score_options([item], model.prepare([item], root))[0]
        assert row == pytest.approx(single, abs=1e-4)


def test_scoring_and_generation_agree_whenever_generation_gives_a_letter(letter_model: HFFaceModel, faces,
                                                                         tmp_path: Path) -> None:
    root, items = faces
    scored = predict(items, root, letter_model, mode="scoring", out_jsonl=tmp_path / "s.jsonl", batch_size=6,
                     progress=False)
    generated = predict(items, root, letter_model, mode="generation", out_jsonl=tmp_path / "g.jsonl", batch_size=4,
                        max_new_tokens=1, progress=False)
    valid = generated["valid"].to_numpy()
    assert valid.sum() >= len(items) // 2  # the comparison covers most items
    assert list(scored["predicted"][valid]) == list(generated["predicted"][valid])
    assert scored["predicted"].nunique() >= 2  # answers depend on the input
    # A letter outside an item's options is generated but invalid; scoring cannot pick it.
    for item, raw, ok in zip(items, generated["raw_output"], valid, strict=True):
        assert ok == (raw.strip() in "ABCD"[: len(item.options)] and raw.strip() != "")


def test_longer_generations_are_parsed_into_the_table(letter_model: HFFaceModel, faces, tmp_path: Path) -> None:
    root, items = faces
    frame = predict(items, root, letter_model, mode="generation", out_jsonl=tmp_path / "g.jsonl", batch_size=8,
                    max_new_tokens=6, progress=False)
    for item, raw, predicted in zip(items, frame["raw_output"], frame["predicted"], strict=True):
        assert predicted == parse_answer(raw, item.options)


def test_missing_image_is_named(tiny_dir: Path, faces, tmp_path: Path) -> None:
    root, items = faces
    broken = items[0].model_copy(update={"item_id": "broken", "image_paths": ["nowhere.png"]})
    model = HFFaceModel.load(tiny_dir)
    with pytest.raises(FileNotFoundError, match="item 'broken': image 'nowhere.png' not found under"):
        predict([broken], root, model, mode="scoring", out_jsonl=tmp_path / "x.jsonl", progress=False)


def test_hf_backend_needs_a_model() -> None:
    with pytest.raises(ValueError, match="needs a model"):
        make_model(EvaluateConfig(backend="hf"))
