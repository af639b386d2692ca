"""recipe.group_by_length: batches of similar length, lengths estimated without encoding images."""

from __future__ import annotations

import random
from types import SimpleNamespace

import torch

from faceaudit.train.data import SupervisedDataset, SupervisedExample
from faceaudit.train.trainer import _trainer_class


class _Tokenizer:
    """Whitespace tokenizer: one id per word."""

    def __call__(self, texts, add_special_tokens=False):  # noqa: ANN001
        return {"input_ids": [text.split() for text in texts]}


def _example(words: int, images: int = 1) -> SupervisedExample:
    return SupervisedExample(image_paths=tuple(f"{i}.png" for i in range(images)), question="what is it",
                             answer=" ".join(["word"] * words), source="corpus")


def test_lengths_count_text_and_image_tokens() -> None:
    processor = SimpleNamespace(tokenizer=_Tokenizer(), image_seq_length=16)
    dataset = SupervisedDataset([_example(1), _example(40), _example(1, images=2)], processor, ".", 256)
    # 3 question words + answer words + (16 image tokens + <img> + </img>) per image
    assert dataset.lengths() == [3 + 1 + 18, 3 + 40 + 18, 3 + 1 + 36]


def test_length_grouped_batches_rarely_mix_long_and_short() -> None:
    processor = SimpleNamespace(tokenizer=_Tokenizer(), image_seq_length=16)
    examples = [_example(200) for _ in range(100)] + [_example(1) for _ in range(300)]
    random.Random(0).shuffle(examples)
    dataset = SupervisedDataset(examples, processor, ".", 256)
    trainer = SimpleNamespace(args=SimpleNamespace(train_batch_size=8, gradient_accumulation_steps=1),
                              train_dataset=dataset)
    torch.manual_seed(0)
    sampler = _trainer_class("example", None, True)._get_train_sampler(trainer)
    order = list(sampler)
    assert sorted(order) == list(range(400))
    lengths = dataset.lengths()

    def mixed(indices: list[int]) -> int:
        return sum(len({lengths[i] for i in indices[b:b + 8]}) > 1 for b in range(0, 400, 8))

    # Mega-batches of 12 x 8 examples, sorted inside: at most one mixed batch per mega-batch
    # (5 of them), where a plain shuffle mixes ~45 of the 50 batches.
    assert mixed(order) <= 5
    assert mixed(list(range(400))) > 30
    assert "LengthGroupedTrainer" not in [c.__name__ for c in _trainer_class("example", None, False).__mro__]
