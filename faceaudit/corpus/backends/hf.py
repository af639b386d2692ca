"""A local transformers vision-language checkpoint writing the answers.

The checkpoint is loaded the way every faceaudit model is (``load_model``:
``from_pretrained``, no remote code unless asked) and prompted through
``faceaudit.models.chat``, the code training and evaluation share. The chat
helpers build user turns only, so the system prompt is placed in front of the
label-injecting user prompt. Nothing leaves the machine.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from itertools import islice
from pathlib import Path
from typing import Any

from faceaudit.corpus.backends.base import (
    CorpusBackendError,
    GenerationRequest,
    GenerationResult,
    ResultSink,
)
from faceaudit.corpus.config import CorpusConfig
from faceaudit.store import utc_now


class HFBackend:
    name = "hf"
    endpoint_host: str | None = None

    def __init__(self, model: Any, processor: Any, *, model_name: str, batch_size: int = 4,
                 max_new_tokens: int = 512, temperature: float = 0.0, seed: int = 0) -> None:
        self.hf_model = model
        self.processor = processor
        self.model = model_name
        self.batch_size = batch_size
        self.max_new_tokens = max_new_tokens
        self.temperature = temperature
        self.seed = seed
        tokenizer = getattr(processor, "tokenizer", processor)
        self._tokenizer = tokenizer
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        if pad is None:
            raise CorpusBackendError(f"{model_name}: the tokenizer has neither a pad nor an eos token")
        self._pad_id = int(pad)
        self._eos_id = tokenizer.eos_token_id

    @classmethod
    def from_config(cls, cfg: CorpusConfig, *, seed: int = 0) -> HFBackend:
        if not cfg.model:
            raise CorpusBackendError(
                "the hf corpus backend needs corpus.model: a local checkpoint directory or hub id"
            )
        import torch

        from faceaudit.models.loading import load_model

        device = "cuda" if torch.cuda.is_available() else "cpu"
        try:
            model, processor = load_model(
                cfg.model, adapter=Path(cfg.adapter) if cfg.adapter else None, device=device
            )
        except OSError as error:
            raise CorpusBackendError(f"cannot load the hf corpus model {cfg.model!r}: {error}") from None
        name = cfg.model + (f"+{cfg.adapter}" if cfg.adapter else "")
        return cls(model, processor, model_name=name, batch_size=cfg.batch_size,
                   max_new_tokens=cfg.max_new_tokens, temperature=cfg.temperature, seed=seed)

    def redact(self, text: str) -> str:
        return text

    def close(self) -> None:
        return None

    def generate(self, requests: Iterable[GenerationRequest], sink: ResultSink) -> None:
        import torch

        torch.manual_seed(self.seed)
        iterator: Iterator[GenerationRequest] = iter(requests)
        while batch := list(islice(iterator, self.batch_size)):
            started = utc_now()
            texts, finishes = self._generate_batch(batch)
            finished = utc_now()
            for request, text, finish in zip(batch, texts, finishes, strict=True):
                sink(request, GenerationResult(text=text, finish_reason=finish,
                                               started_at=started, finished_at=finished))

    def _generate_batch(self, batch: list[GenerationRequest]) -> tuple[list[str], list[str]]:
        import torch

        from faceaudit.models.chat import encode_prompt, load_images, pad_batch

        examples = [
            encode_prompt(self.processor, load_images([r.image_path]),
                          f"{r.system_prompt}\n\n{r.user_prompt}")
            for r in batch
        ]
        inputs = pad_batch(examples, self._pad_id, padding_side="left")
        parameter = next(self.hf_model.parameters())
        inputs = {k: v.to(parameter.device) for k, v in inputs.items()}
        inputs["pixel_values"] = inputs["pixel_values"].to(parameter.dtype)
        sampling: dict[str, Any] = (
            {"do_sample": True, "temperature": self.temperature} if self.temperature > 0
            else {"do_sample": False}
        )
        with torch.inference_mode():
            output = self.hf_model.generate(
                **inputs, max_new_tokens=self.max_new_tokens, num_beams=1,
                pad_token_id=self._pad_id, **sampling,
            )
        new_tokens = output[:, inputs["input_ids"].shape[1]:].cpu()
        texts = self._tokenizer.batch_decode(new_tokens, skip_special_tokens=True)
        finishes = []
        for row in new_tokens.tolist():
            # A row that never produced eos and used every allowed token was cut off.
            stopped = self._eos_id is not None and self._eos_id in row
            finishes.append("stop" if stopped or len(row) < self.max_new_tokens else "length")
        return [t.strip() for t in texts], finishes
