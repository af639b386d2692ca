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
from faceaudit.models.chat import encode_prompt, load_images, option_letter_token_ids, prompt_text
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
        self._splice: bool | None = None  # whether _reuse_pixels matches the processor (checked once)

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

        def decode(item: McqItem) -> list[Any]:
            return load_images([resolve_image(image_root, p, item.item_id) for p in item.image_paths])

        return self._share(self.client.collate(self._encode(batch, decode, keys)), keys)

    def prepare_images(self, batch: list[McqItem], images: list[list[Any]], condition: object = None) -> dict[str, Any]:
        """Like :meth:`prepare` for images already in memory (perturbed copies), one list per item."""
        # The same image object asked several questions is one image.
        keys = [[id(image) for image in row] for row in images]
        row_of = {id(item): row for item, row in zip(batch, images, strict=True)}
        return self._share(self.client.collate(self._encode(batch, lambda item: row_of[id(item)], keys)), keys)

    def _encode(self, batch: list[McqItem], images_of: Any, keys: list[list[Any]]) -> list[dict[str, Any]]:
        """One encoded example per item. With ``share_vision``, the images of a question are decoded
        and preprocessed once per batch: the other questions on them reuse the pixels and get only
        their text tokenized (:meth:`_reuse_pixels`); without it, every question does everything."""
        processor = self.client.processor
        encoded: list[dict[str, Any]] = []
        first: dict[tuple[Any, ...], tuple[dict[str, Any], str]] = {}  # images -> (example, its question)
        for item, row_keys in zip(batch, keys, strict=True):
            shared = first.get(tuple(row_keys)) if self.share_vision else None
            example = self._reuse_pixels(*shared, item) if shared is not None else None
            if example is None:
                example = encode_prompt(processor, images_of(item), item.prompt())
                first.setdefault(tuple(row_keys), (example, item.prompt()))
            encoded.append(example)
        return encoded

    def _reuse_pixels(self, shared: dict[str, Any], question: str, item: McqItem) -> dict[str, Any] | None:
        """``item`` encoded with the pixels of ``shared`` (``question`` encoded on the same images), its image
        placeholders expanded as the processor expands them; None where that cannot be done exactly.

        InternVL's processor replaces each image placeholder of the prompt by a start token, the
        context token once per image token of each tile, and an end token; with one tile per image
        (faceaudit's processor never tiles) that text is the same for every image. The first time,
        the result is checked against the processor's own encoding of the example it came from;
        a processor that expands otherwise keeps the plain path for good.
        """
        pixels = shared.get("pixel_values")
        if self._splice is False or pixels is None or pixels.shape[0] != len(item.image_paths):
            return None
        processor = self.client.processor
        try:
            expansion = (processor.start_image_token + processor.image_token * processor.image_seq_length
                         + processor.end_image_token)
        except AttributeError:
            self._splice = False
            return None

        def tokenized(question: str) -> dict[str, Any]:
            prompt = prompt_text(processor, question, n_images=len(item.image_paths))
            text = expansion.join(prompt.split(processor.image_token))
            ids = self.client.tokenizer([text], return_tensors="pt", add_special_tokens=False)
            return {"input_ids": ids["input_ids"], "attention_mask": ids["attention_mask"], "pixel_values": pixels}

        if self._splice is None:
            import torch

            check = tokenized(question)
            self._splice = torch.equal(check["input_ids"], shared["input_ids"])
            if not self._splice:
                return None
        return tokenized(item.prompt())
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
