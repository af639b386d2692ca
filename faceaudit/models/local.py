"""The local half of the vision-chat transport: a transformers model on this machine.

Loading (``from_pretrained``, no remote code unless asked), image decoding, prompt
encoding, left-padded batching, moving a batch to the model's device and dtype, and
generation with the finish reason of each row live here once; the evaluation backend
(:class:`faceaudit.models.hf.HFFaceModel`) and the corpus generator
(:class:`faceaudit.corpus.backends.hf.HFBackend`) are adapters over it. Nothing leaves
the machine, so it records no destination.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from faceaudit.errors import InputError
from faceaudit.models.chat import encode_prompt, load_images, pad_batch
from faceaudit.models.identity import checkpoint_identity
from faceaudit.schema.run import ModelIdentity


class LocalVisionClient:
    """A loaded image-text-to-text model and its processor."""

    host: str | None = None  # nothing leaves the machine

    def __init__(
        self, model: Any, processor: Any, *, name: str, identity: ModelIdentity | None = None
    ) -> None:
        self.model = model
        self.processor = processor
        self.name = name
        self.identity = identity or ModelIdentity(name=name, backend="hf")
        self.tokenizer = getattr(processor, "tokenizer", processor)
        pad = self.tokenizer.pad_token_id
        if pad is None:
            pad = self.tokenizer.eos_token_id
        if pad is None:
            raise InputError(
                f"{name}: the tokenizer has neither a pad nor an eos token to pad batches with"
            )
        self.pad_token_id = int(pad)
        self.eos_token_id = self.tokenizer.eos_token_id
        # Batches are encoded in a background thread while the main thread decodes generated
        # text; a fast tokenizer must not be used from two threads at once ("Already
        # borrowed"), so decoding gets its own copy.
        self._decoder = copy.deepcopy(self.tokenizer)

    @classmethod
    def load(
        cls,
        path_or_id: str | Path,
        *,
        adapter: str | Path | None = None,
        dtype: str | None = None,
        device: str | None = None,
        trust_remote_code: bool = False,
        revision: str | None = None,
    ) -> LocalVisionClient:
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
            revision=revision,
        )
        identity = checkpoint_identity(path_or_id, adapter=adapter, revision=revision, model=model)
        name = f"hf:{path_or_id}" + (f"+{adapter}" if adapter is not None else "")
        return cls(model, processor, name=name, identity=identity)

    # -- inputs ------------------------------------------------------------------------------

    def encode(self, image_paths: Sequence[str | Path], text: str) -> dict[str, Any]:
        """One example: images decoded by the transport's one decoder, then the chat prompt."""
        return encode_prompt(self.processor, load_images(image_paths), text)

    def collate(self, examples: Sequence[dict[str, Any]]) -> dict[str, Any]:
        """Left-padded batch: position -1 is every row's last prompt token."""
        return pad_batch(examples, self.pad_token_id, padding_side="left")

    def to_device(self, batch: dict[str, Any]) -> dict[str, Any]:
        parameter = next(self.model.parameters())
        inputs = {k: v.to(parameter.device) for k, v in batch.items() if k != "labels"}
        if "pixel_values" in inputs:
            inputs["pixel_values"] = inputs["pixel_values"].to(parameter.dtype)
        return inputs

    # -- outputs -----------------------------------------------------------------------------

    def generate(
        self, batch: dict[str, Any], *, max_new_tokens: int, temperature: float = 0.0
    ) -> tuple[list[str], list[str]]:
        """Generated text of each row and why it stopped (``stop`` or ``length``)."""
        import torch

        inputs = self.to_device(batch)
        sampling: dict[str, Any] = (
            {"do_sample": True, "temperature": temperature}
            if temperature > 0
            else {"do_sample": False}
        )
        with torch.inference_mode():
            output = self.model.generate(
                **inputs,
                max_new_tokens=max_new_tokens,
                num_beams=1,
                pad_token_id=self.pad_token_id,
                **sampling,
            )
        new_tokens = output[:, inputs["input_ids"].shape[1] :].cpu()
        texts = self._decoder.batch_decode(new_tokens, skip_special_tokens=True)
        finishes = []
        for row in new_tokens.tolist():
            # A row that never produced eos and used every allowed token was cut off.
            stopped = self.eos_token_id is not None and self.eos_token_id in row
            finishes.append("stop" if stopped or len(row) < max_new_tokens else "length")
        return texts, finishes
