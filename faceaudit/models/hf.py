"""Backend for transformers image-text-to-text checkpoints (InternVL3-hf first), plus peft.

Prompts come from :mod:`faceaudit.models.chat`, the code training uses, so an adapter is
evaluated on exactly the prompt it was trained on.

Scoring reads the answer from ONE forward pass: rows are left-padded so that the last
position of every row is its last prompt token, the LM head is evaluated there only
(``logits_to_keep=1``), and the log-softmax over the vocabulary is read at the option
letters' token ids. Position ids are derived from the attention mask exactly as
``generate()`` derives them, so the scored distribution is the one greedy generation
draws its first token from: the two modes agree whenever generation answers with a letter.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from faceaudit.data.records import OPTION_LETTERS, McqItem
from faceaudit.models.base import resolve_image
from faceaudit.models.chat import encode_prompt, load_images, option_letter_token_ids, pad_batch


def _position_ids(attention_mask: Any) -> Any:
    # Same rule as GenerationMixin._prepare_position_ids_for_generation (left padding).
    positions = attention_mask.long().cumsum(-1) - 1
    return positions.masked_fill(attention_mask == 0, 0)


class HFFaceModel:
    """A loaded transformers model and its processor, answering multiple-choice items."""

    def __init__(self, model: Any, processor: Any, *, name: str) -> None:
        self.model = model
        self.processor = processor
        self.name = name
        tokenizer = getattr(processor, "tokenizer", processor)
        self.letter_ids = option_letter_token_ids(tokenizer, OPTION_LETTERS)
        pad_id = tokenizer.pad_token_id
        if pad_id is None:
            pad_id = tokenizer.eos_token_id
        if pad_id is None:
            raise ValueError(f"{name}: the tokenizer has neither a pad nor an eos token to pad batches with")
        self.pad_token_id = int(pad_id)
        # prepare() encodes in a background thread while the main thread decodes generated
        # text; a fast tokenizer must not be used from two threads at once ("Already
        # borrowed"), so decoding gets its own copy.
        self._decoder = copy.deepcopy(tokenizer)

    @classmethod
    def load(
        cls,
        path_or_id: str | Path,
        *,
        adapter: str | Path | None = None,
        dtype: str | None = None,
        device: str | None = None,
        trust_remote_code: bool = False,
    ) -> HFFaceModel:
        import torch

        from faceaudit.models.loading import load_model

        if device is None:
            device = "cuda" if torch.cuda.is_available() else "cpu"
        model, processor = load_model(
            path_or_id,
            adapter=Path(adapter) if adapter is not None else None,
            dtype=dtype,
            device=device,
            trust_remote_code=trust_remote_code,
        )
        name = f"hf:{path_or_id}" + (f"+{adapter}" if adapter is not None else "")
        return cls(model, processor, name=name)

    @property
    def device(self) -> Any:
        return next(self.model.parameters()).device

    def prepare(self, batch: list[McqItem], image_root: str | Path) -> dict[str, Any]:
        """Decode images, run the image processor and tokenizer, left-pad: a model-ready batch."""
        examples = []
        for item in batch:
            paths = [resolve_image(image_root, p, item.item_id) for p in item.image_paths]
            examples.append(encode_prompt(self.processor, load_images(paths), item.prompt()))
        return pad_batch(examples, self.pad_token_id, padding_side="left")

    def prepare_images(self, batch: list[McqItem], images: list[list[Any]], condition: object = None) -> dict[str, Any]:
        """Like :meth:`prepare` for images already in memory (perturbed copies), one list per item."""
        examples = [encode_prompt(self.processor, item_images, item.prompt()) for item, item_images in zip(batch, images, strict=True)]
        return pad_batch(examples, self.pad_token_id, padding_side="left")

    def _inputs(self, prepared: dict[str, Any]) -> dict[str, Any]:
        device = self.device
        dtype = next(self.model.parameters()).dtype
        inputs = {k: v.to(device) for k, v in prepared.items() if k != "labels"}
        if "pixel_values" in inputs:
            inputs["pixel_values"] = inputs["pixel_values"].to(dtype)
        return inputs

    def score_options(self, batch: list[McqItem], images: dict[str, Any]) -> list[list[float]]:
        import torch

        inputs = self._inputs(images)
        inputs["position_ids"] = _position_ids(inputs["attention_mask"])
        with torch.inference_mode():
            logits = self.model(**inputs, logits_to_keep=1, use_cache=False).logits[:, -1, :]
        logprobs = torch.log_softmax(logits.float(), dim=-1)[:, self.letter_ids].cpu()
        return [logprobs[row, : len(item.options)].tolist() for row, item in enumerate(batch)]

    def generate(self, batch: list[McqItem], images: dict[str, Any], max_new_tokens: int) -> list[str]:
        import torch

        inputs = self._inputs(images)
        with torch.inference_mode():
            output = self.model.generate(
                **inputs,
                max_new_tokens=max_new_tokens,
                do_sample=False,
                num_beams=1,
                pad_token_id=self.pad_token_id,
            )
        new_tokens = output[:, inputs["input_ids"].shape[1] :].cpu()
        return self._decoder.batch_decode(new_tokens, skip_special_tokens=True)
