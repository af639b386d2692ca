"""Evaluation backend for transformers image-text-to-text checkpoints (InternVL3-hf first).

An adapter over the transport's local client (:class:`faceaudit.models.local.LocalVisionClient`),
which loads, encodes, batches and generates; prompts come from :mod:`faceaudit.models.chat`,
the code training uses, so an adapter is evaluated on exactly the prompt it was trained on.

Scoring reads the answer from ONE forward pass: rows are left-padded so that the last
position of every row is its last prompt token, the LM head is evaluated there only
(``logits_to_keep=1``), and the log-softmax over the vocabulary is read at the option
letters' token ids. Position ids are derived from the attention mask exactly as
``generate()`` derives them, so the scored distribution is the one greedy generation
draws its first token from: the two modes agree whenever generation answers with a letter.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from faceaudit.data.records import OPTION_LETTERS, McqItem
from faceaudit.models.base import resolve_image
from faceaudit.models.chat import encode_prompt, option_letter_token_ids
from faceaudit.models.local import LocalVisionClient
from faceaudit.schema.run import ModelIdentity


def _position_ids(attention_mask: Any) -> Any:
    # Same rule as GenerationMixin._prepare_position_ids_for_generation (left padding).
    positions = attention_mask.long().cumsum(-1) - 1
    return positions.masked_fill(attention_mask == 0, 0)


class HFFaceModel:
    """A local transformers model answering multiple-choice items."""

    def __init__(self, model: Any, processor: Any, *, name: str, identity: ModelIdentity | None = None) -> None:
        self.client = LocalVisionClient(model, processor, name=name, identity=identity)
        self.name = name
        self.identity = self.client.identity
        self.letter_ids = option_letter_token_ids(self.client.tokenizer, OPTION_LETTERS)

    @classmethod
    def from_client(cls, client: LocalVisionClient) -> HFFaceModel:
        return cls(client.model, client.processor, name=client.name, identity=client.identity)

    @classmethod
    def load(cls, path_or_id: str | Path, **kwargs: Any) -> HFFaceModel:
        """``LocalVisionClient.load``'s arguments: adapter, dtype, device, trust_remote_code, revision."""
        return cls.from_client(LocalVisionClient.load(path_or_id, **kwargs))

    @property
    def model(self) -> Any:
        return self.client.model

    @property
    def processor(self) -> Any:
        return self.client.processor

    @property
    def pad_token_id(self) -> int:
        return self.client.pad_token_id

    @property
    def device(self) -> Any:
        return next(self.client.model.parameters()).device

    def prepare(self, batch: list[McqItem], image_root: str | Path) -> dict[str, Any]:
        """Decode images, run the image processor and tokenizer, left-pad: a model-ready batch."""
        return self.client.collate([
            self.client.encode([resolve_image(image_root, p, item.item_id) for p in item.image_paths],
                               item.prompt())
            for item in batch
        ])

    def prepare_images(self, batch: list[McqItem], images: list[list[Any]], condition: object = None) -> dict[str, Any]:
        """Like :meth:`prepare` for images already in memory (perturbed copies), one list per item."""
        return self.client.collate([
            encode_prompt(self.client.processor, item_images, item.prompt())
            for item, item_images in zip(batch, images, strict=True)
        ])

    def score_options(self, batch: list[McqItem], images: dict[str, Any]) -> list[list[float]]:
        import torch

        inputs = self.client.to_device(images)
        inputs["position_ids"] = _position_ids(inputs["attention_mask"])
        with torch.inference_mode():
            logits = self.client.model(**inputs, logits_to_keep=1, use_cache=False).logits[:, -1, :]
        logprobs = torch.log_softmax(logits.float(), dim=-1)[:, self.letter_ids].cpu()
        return [logprobs[row, : len(item.options)].tolist() for row, item in enumerate(batch)]

    def generate(self, batch: list[McqItem], images: dict[str, Any], max_new_tokens: int) -> list[str]:
        texts, _ = self.client.generate(images, max_new_tokens=max_new_tokens)
        return texts
