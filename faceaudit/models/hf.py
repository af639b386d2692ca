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

Fast path (``share_vision=True``, the default): the vision tower runs once per distinct
image of a batch, however many questions ask about it (the prediction loop batches the
questions of an image together), and its features are handed to the model through
``mm_encoder_outputs``, the hook transformers provides for precomputed encoder outputs.
``share_vision=False`` runs the tower once per question, as ``model(**batch)`` does; both
choose the same answers (``tests/models/test_hf_fast_path.py``).
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

    def __init__(
        self, model: Any, processor: Any, *, name: str, identity: ModelIdentity | None = None,
        share_vision: bool = True,
    ) -> None:
        self.client = LocalVisionClient(model, processor, name=name, identity=identity)
        self.share_vision = share_vision
        self.name = name
        self.identity = self.client.identity
        self.letter_ids = option_letter_token_ids(self.client.tokenizer, OPTION_LETTERS)

    @classmethod
    def from_client(cls, client: LocalVisionClient, *, share_vision: bool = True) -> HFFaceModel:
        return cls(client.model, client.processor, name=client.name, identity=client.identity,
                   share_vision=share_vision)

    @classmethod
    def load(cls, path_or_id: str | Path, *, share_vision: bool = True, **kwargs: Any) -> HFFaceModel:
        """``LocalVisionClient.load``'s arguments: adapter, dtype, device, trust_remote_code, revision."""
        return cls.from_client(LocalVisionClient.load(path_or_id, **kwargs), share_vision=share_vision)

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
        keys = [[str(Path(image_root) / p) for p in item.image_paths] for item in batch]
        encoded = [
            self.client.encode([resolve_image(image_root, p, item.item_id) for p in item.image_paths],
                               item.prompt())
            for item in batch
        ]
        return self._share(self.client.collate(encoded), keys)

    def prepare_images(self, batch: list[McqItem], images: list[list[Any]], condition: object = None) -> dict[str, Any]:
        """Like :meth:`prepare` for images already in memory (perturbed copies), one list per item."""
        encoded = [
            encode_prompt(self.client.processor, item_images, item.prompt())
            for item, item_images in zip(batch, images, strict=True)
        ]
        # The same image object asked several questions is one image.
        return self._share(self.client.collate(encoded), [[id(image) for image in row] for row in images])

    def _share(self, batch: dict[str, Any], keys: list[list[Any]]) -> dict[str, Any]:
        """Keep one tile per distinct image and, in ``image_index``, which tile each image slot uses."""
        import torch

        pixels = batch.get("pixel_values")
        flat = [key for row in keys for key in row]
        if not self.share_vision or pixels is None or pixels.shape[0] != len(flat):
            return batch  # tiled images (several tiles per image) keep the plain path
        first: dict[Any, int] = {}
        index = [first.setdefault(key, len(first)) for key in flat]
        if len(first) == len(flat):
            return batch
        keep = [flat.index(key) for key in first]
        batch["pixel_values"] = pixels[keep]
        batch["image_index"] = torch.tensor(index, dtype=torch.long)
        return batch

    def score_options(self, batch: list[McqItem], images: dict[str, Any]) -> list[list[float]]:
        import torch

        inputs = self.client.to_device(images)
        inputs["position_ids"] = _position_ids(inputs["attention_mask"])
        with torch.inference_mode():
            index = inputs.pop("image_index", None)
            if index is not None:
                inputs["mm_encoder_outputs"] = {"image": self._shared_features(inputs.pop("pixel_values"), index)}
            logits = self.client.model(**inputs, logits_to_keep=1, use_cache=False).logits[:, -1, :]
        logprobs = torch.log_softmax(logits.float(), dim=-1)[:, self.letter_ids].cpu()
        return [logprobs[row, : len(item.options)].tolist() for row, item in enumerate(batch)]

    def _shared_features(self, pixel_values: Any, index: Any) -> Any:
        """Image features of the distinct images, once each, laid out for every image slot."""
        from transformers.modeling_outputs import BaseModelOutputWithPooling

        model = self.client.model
        features = model.get_image_features(pixel_values=pixel_values, return_dict=True).pooler_output
        return BaseModelOutputWithPooling(pooler_output=features[index.to(features.device)])

    def generate(self, batch: list[McqItem], images: dict[str, Any], max_new_tokens: int) -> list[str]:
        index = images.get("image_index")
        if index is not None:  # generate() takes one tile per image slot
            images = {k: v for k, v in images.items() if k != "image_index"}
            images["pixel_values"] = images["pixel_values"][index]
        texts, _ = self.client.generate(images, max_new_tokens=max_new_tokens)
        return texts
