"""A model whose accuracy per group is set by the auditor: the test bench of the audit.

Planting a known disparity and checking that the audit finds it (and that it
stays quiet on a fair model) is how the auditor itself is tested (docs/design.md,
"Statistics"). Every draw depends only on (seed, item_id), so an item gets
the same answer in scoring and generation mode, in any batch, after a resume.

Accuracy rules map a condition to an accuracy:
``{"default": 0.9, "skin_tone_group=dark": 0.75, "gender=female&age=60-69": 0.5}``.
A condition is ``attr=value`` terms joined by ``&``; ``task`` can be used as an
attribute. The matching rule with the most terms wins; among equally specific
matches the lowest accuracy wins (the conservative reading of an ambiguous
configuration).
"""

from __future__ import annotations

import hashlib
import math
from pathlib import Path

import numpy as np

from faceaudit.data.records import OPTION_LETTERS, McqItem
from faceaudit.models.base import Condition
from faceaudit.schema.run import ModelIdentity
from faceaudit.store import sha256_json

_INVALID_TEXT = "I'm sorry, I cannot tell from this image."
# Rotating answer formats exercise the same parser a real model's output goes through.
_FORMATS = ("{letter}", "({letter})", "Answer: {letter}", "The answer is {letter}.")


def _parse_condition(key: str) -> tuple[tuple[str, str], ...]:
    terms = []
    for term in key.split("&"):
        attribute, sep, value = term.partition("=")
        if not sep or not attribute.strip() or not value.strip():
            raise ValueError(
                f"simulated accuracy key {key!r}: each term must look like attribute=value "
                "(terms joined by '&'), or the key must be 'default'"
            )
        terms.append((attribute.strip(), value.strip()))
    return tuple(terms)


class SimulatedFaceModel:
    """Answers correctly with a configured probability per group; seeded and deterministic."""

    def __init__(
        self,
        accuracy: dict[str, float],
        *,
        seed: int = 0,
        invalid_rate: float = 0.0,
        overconfidence: float = 0.0,
        name: str = "simulated",
        perturbation_drop: dict[str, float] | None = None,
    ) -> None:
        if "default" not in accuracy:
            raise ValueError("simulated accuracy needs a 'default' entry (the accuracy of every other group)")
        for key, value in accuracy.items():
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"simulated accuracy {key!r}={value} must lie in [0, 1]")
        if not 0.0 <= invalid_rate <= 1.0:
            raise ValueError(f"simulated invalid_rate={invalid_rate} must lie in [0, 1]")
        if not -1.0 <= overconfidence <= 1.0:
            raise ValueError(f"simulated overconfidence={overconfidence} must lie in [-1, 1]")
        self.name = name
        self.default = float(accuracy["default"])
        self.rules = [(_parse_condition(k), float(v)) for k, v in accuracy.items() if k != "default"]
        self.seed = seed
        self.invalid_rate = invalid_rate
        self.overconfidence = overconfidence
        # Its parameters are its weights: a changed accuracy is a different model.
        parameters = {"accuracy": dict(sorted(accuracy.items())), "seed": seed,
                      "invalid_rate": invalid_rate, "overconfidence": overconfidence,
                      "perturbation_drop": dict(sorted((perturbation_drop or {}).items()))}
        self.identity = ModelIdentity(name=name, backend="simulated", source="simulated",
                                      sha256=sha256_json(parameters))
        drops = dict(perturbation_drop or {})
        self.default_drop = float(drops.pop("default", 0.0))
        self.drop_rules = [(_parse_condition(k), float(v)) for k, v in drops.items()]

    def prepare(self, batch: list[McqItem], image_root: str | Path) -> None:
        # The answers do not depend on pixels: nothing to decode.
        return None

    def prepare_images(self, batch: list[McqItem], images: object, condition: Condition) -> Condition:
        # The simulated model does not look at pixels: what it "sees" is the condition.
        return condition

    def drop_for(self, item: McqItem, condition: Condition) -> float:
        """Accuracy lost per severity level for ``item`` under ``condition``."""
        facts = {
            **item.groups,
            "task": item.task,
            "perturbation": condition.perturbation,
            "family": condition.family,
            "severity": str(condition.severity),
        }
        best: tuple[int, float] | None = None
        for terms, value in self.drop_rules:
            if all(facts.get(attribute) == wanted for attribute, wanted in terms):
                candidate = (len(terms), value)
                if best is None or candidate > best:
                    best = candidate
        return self.default_drop if best is None else best[1]

    def accuracy_for(self, item: McqItem, condition: Condition | None = None) -> float:
        facts = {**item.groups, "task": item.task}
        best: tuple[int, float] | None = None
        for terms, value in self.rules:
            if all(facts.get(attribute) == wanted for attribute, wanted in terms):
                candidate = (len(terms), -value)
                if best is None or candidate > best:
                    best = candidate
        clean = self.default if best is None else -best[1]
        if condition is None:
            return clean
        return min(1.0, max(0.0, clean - self.drop_for(item, condition) * condition.severity))

    def _draw(self, item: McqItem, condition: Condition | None = None) -> tuple[int, float, bool, int]:
        """(chosen option index, confidence, answer is invalid, format index) for ``item``."""
        digest = hashlib.sha256(item.item_id.encode("utf-8")).digest()
        rng = np.random.default_rng([self.seed, int.from_bytes(digest[:8], "little")])
        correct_u, invalid_u, wrong_u, format_u = rng.random(4)
        k = len(item.options)
        accuracy = self.accuracy_for(item, condition)
        if correct_u < accuracy:
            chosen = item.answer_index
        else:
            wrong = [i for i in range(k) if i != item.answer_index]
            chosen = wrong[int(wrong_u * len(wrong))]
        # Calibrated by default: an item of a group answered right with probability p
        # reports p for its choice. The floor keeps the choice the arg-max.
        confidence = min(max(accuracy + self.overconfidence, 1.0 / k + 1e-3), 0.999)
        return chosen, confidence, invalid_u < self.invalid_rate, int(format_u * len(_FORMATS))

    def option_probs(self, item: McqItem, condition: Condition | None = None) -> list[float]:
        chosen, confidence, _, _ = self._draw(item, condition)
        k = len(item.options)
        rest = (1.0 - confidence) / (k - 1)
        return [confidence if i == chosen else rest for i in range(k)]

    def score_options(self, batch: list[McqItem], images: object) -> list[list[float]]:
        condition = images if isinstance(images, Condition) else None
        return [[math.log(p) for p in self.option_probs(item, condition)] for item in batch]

    def generate(self, batch: list[McqItem], images: object, max_new_tokens: int) -> list[str]:
        condition = images if isinstance(images, Condition) else None
        texts = []
        for item in batch:
            chosen, _, invalid, form = self._draw(item, condition)
            letter = OPTION_LETTERS[chosen]
            texts.append(_INVALID_TEXT if invalid else _FORMATS[form].format(letter=letter))
        return texts
