"""Evaluation backend for an OpenAI-compatible chat-completions endpoint (vLLM, or a hosted API).

The way to audit a model too big for this machine. An adapter over the transport's
:class:`faceaudit.models.transport.EndpointClient`, which owns retries, the key, image
preparation (re-encoded, metadata stripped) and the record of what was sent where. Each
item is one request carrying the same chat prompt as every other backend
(:func:`faceaudit.models.chat.build_messages`), its images inline.

Scoring asks for one token with ``logprobs``/``top_logprobs`` and reads the option
letters from them; a letter absent from the top list gets an equal share of the mass the
list leaves uncovered (an upper bound on its probability). A server that returns no
logprobs raises :class:`ScoringUnavailable`, and the stage falls back to generation.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from faceaudit.data.records import OPTION_LETTERS, McqItem
from faceaudit.models.base import ScoringUnavailable, resolve_image
from faceaudit.models.chat import build_messages
from faceaudit.models.endpoint_config import EndpointSettings
from faceaudit.models.transport import (
    EndpointClient,
    EndpointError,
    PreparedImage,
    image_part,
    prepare_image,
)
from faceaudit.schema.run import DataTransfer, ModelIdentity

__all__ = ["EndpointError", "OpenAIChatModel", "letter_logprobs"]

_TOP_LOGPROBS = 20


def _letter_of(token: str) -> str | None:
    stripped = token.strip().strip("()[].:").upper()
    return stripped if stripped in OPTION_LETTERS else None


def letter_logprobs(top_logprobs: list[dict[str, Any]], n_options: int) -> list[float]:
    """Option log-probabilities from one position's ``top_logprobs`` entries."""
    best: dict[str, float] = {}
    covered = 0.0
    for entry in top_logprobs:
        logprob = float(entry["logprob"])
        covered += math.exp(logprob)
        letter = _letter_of(str(entry["token"]))
        if letter is not None:
            # " B" and "B" are different tokens meaning the same answer: add their mass.
            previous = best.get(letter)
            best[letter] = logprob if previous is None else float(
                math.log(math.exp(previous) + math.exp(logprob))
            )
    letters = OPTION_LETTERS[:n_options]
    absent = [letter for letter in letters if letter not in best]
    if absent:
        share = max(1.0 - covered, 1e-12) / len(absent)
        for letter in absent:
            best[letter] = math.log(share)
    return [best[letter] for letter in letters]


class OpenAIChatModel:
    """A ``FaceModel`` answering through an :class:`EndpointClient`."""

    def __init__(self, client: EndpointClient) -> None:
        self.client = client
        self.name = client.name
        # The weights behind an endpoint are not visible: the identity is the served name and host.
        self.identity = ModelIdentity(name=client.model, backend="openai", source=client.name)

    @classmethod
    def from_settings(cls, settings: EndpointSettings, model: str, *, seed: int = 0) -> OpenAIChatModel:
        return cls(EndpointClient(settings, model, seed=seed))

    def __repr__(self) -> str:  # never shows the key
        return f"OpenAIChatModel({self.client!r})"

    def close(self) -> None:
        self.client.close()

    def data_sent(self) -> list[DataTransfer]:
        return self.client.transfers.transfers("evaluate")

    def prepare(self, batch: list[McqItem], image_root: str | Path) -> list[list[PreparedImage]]:
        """Decode, strip and re-encode the images (off the main loop)."""
        return [[prepare_image(resolve_image(image_root, p, item.item_id)) for p in item.image_paths]
                for item in batch]

    @staticmethod
    def _messages(item: McqItem, images: list[PreparedImage]) -> list[dict[str, Any]]:
        messages = build_messages(item.prompt(), n_images=len(images))
        remaining = iter(images)
        for message in messages:
            message["content"] = [
                image_part(next(remaining)) if part["type"] == "image" else part for part in message["content"]
            ]
        return messages

    def _score_one(self, pair: tuple[McqItem, list[PreparedImage]]) -> list[float]:
        item, images = pair
        reply = self.client.chat(self._messages(item, images), images=images, max_tokens=1, temperature=0,
                                 logprobs=True, top_logprobs=_TOP_LOGPROBS)
        content = (reply.logprobs or {}).get("content") or []
        if not content or not content[0].get("top_logprobs"):
            raise ScoringUnavailable(
                f"{self.client.host} returned no top_logprobs; use mode 'generation' for this endpoint"
            )
        return letter_logprobs(content[0]["top_logprobs"], len(item.options))

    def _generate_one(self, pair: tuple[McqItem, list[PreparedImage]], max_new_tokens: int) -> str:
        item, images = pair
        reply = self.client.chat(self._messages(item, images), images=images, max_tokens=max_new_tokens,
                                 temperature=0)
        return reply.text or ""

    def score_options(self, batch: list[McqItem], images: list[list[PreparedImage]]) -> list[list[float]]:
        return self.client.map(self._score_one, list(zip(batch, images, strict=True)))

    def generate(self, batch: list[McqItem], images: list[list[PreparedImage]], max_new_tokens: int) -> list[str]:
        return self.client.map(lambda pair: self._generate_one(pair, max_new_tokens),
                               list(zip(batch, images, strict=True)))
