"""loss_weighting=example: every example counts the same, however long its answer."""

from __future__ import annotations

import math
from types import SimpleNamespace

import torch

from faceaudit.train.trainer import _trainer_class


class _FixedLogits(torch.nn.Module):
    def __init__(self, logits: torch.Tensor) -> None:
        super().__init__()
        self.logits = logits

    def forward(self, **inputs):  # noqa: ANN003
        return SimpleNamespace(logits=self.logits)


def test_example_mean_loss_weighs_examples_equally() -> None:
    # vocabulary of 2; uniform logits give every token a loss of ln 2,
    # except the one confident wrong token in example 0 (loss ~ 10 + ln(1 + e^-10)).
    logits = torch.zeros(2, 4, 2)
    logits[0, 0] = torch.tensor([0.0, 10.0])  # predicts token 1 at position 1; target is 0
    labels = torch.tensor([[-100, 0, -100, -100], [-100, 1, 1, 1]])
    trainer_class = _trainer_class("example")
    loss = trainer_class.compute_loss(None, _FixedLogits(logits), {"labels": labels.clone()})
    wrong = 10.0 + math.log1p(math.exp(-10.0))
    # example 0: one answer token (wrong); example 1: three tokens at ln 2 each
    expected = (wrong + math.log(2)) / 2
    assert abs(float(loss) - expected) < 1e-5
    token_mean = (wrong + 3 * math.log(2)) / 4
    assert abs(expected - token_mean) > 1.0  # the two weightings really differ here


def test_token_weighting_is_the_plain_trainer() -> None:
    from transformers import Trainer

    assert _trainer_class("token") is Trainer
