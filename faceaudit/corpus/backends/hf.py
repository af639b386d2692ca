"""Corpus generation by a local transformers vision-language checkpoint.

A thin adapter over the transport's local client
(:class:`faceaudit.models.local.LocalVisionClient`), which loads the checkpoint the way every
faceaudit model is loaded and prompts it through ``faceaudit.models.chat``, the code
training and evaluation share. The chat helpers build user turns only, so the system
prompt is placed in front of the label-injecting user prompt. Nothing leaves the machine.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from itertools import islice

from faceaudit.corpus.backends.base import (
    CorpusBackendError,
    GenerationRequest,
    GenerationResult,
    ResultSink,
)
from faceaudit.corpus.config import CorpusConfig
from faceaudit.models.local import LocalVisionClient
from faceaudit.schema.run import DataTransfer
from faceaudit.store import utc_now


class HFBackend:
    name = "hf"
    endpoint_host: str | None = None

    def __init__(self, client: LocalVisionClient, *, batch_size: int = 4, max_new_tokens: int = 512,
                 temperature: float = 0.0, seed: int = 0) -> None:
        self.client = client
        self.model = client.identity.source or client.name
        self.model_sha256 = client.identity.sha256
        self.batch_size = batch_size
        self.generation_params: dict[str, object] = {
            "max_new_tokens": max_new_tokens, "temperature": temperature, "seed": seed,
        }

    @classmethod
    def from_config(cls, cfg: CorpusConfig, *, seed: int = 0) -> HFBackend:
        if not cfg.model:
            raise CorpusBackendError(
                "the hf corpus backend needs corpus.model: a local checkpoint directory or hub id"
            )
        try:
            client = LocalVisionClient.load(cfg.model, adapter=cfg.adapter)
        except OSError as error:
            raise CorpusBackendError(f"cannot load the hf corpus model {cfg.model!r}: {error}") from None
        return cls(client, batch_size=cfg.batch_size, max_new_tokens=cfg.max_new_tokens,
                   temperature=cfg.temperature, seed=seed)

    def redact(self, text: str) -> str:
        return text

    def close(self) -> None:
        return None

    def data_sent(self) -> list[DataTransfer]:
        return []

    def generate(self, requests: Iterable[GenerationRequest], sink: ResultSink) -> None:
        import torch

        torch.manual_seed(int(self.generation_params["seed"]))  # type: ignore[call-overload]
        iterator: Iterator[GenerationRequest] = iter(requests)
        while batch := list(islice(iterator, self.batch_size)):
            started = utc_now()
            prepared = self.client.collate([
                self.client.encode([r.image_path], f"{r.system_prompt}\n\n{r.user_prompt}") for r in batch
            ])
            texts, finishes = self.client.generate(
                prepared, max_new_tokens=int(self.generation_params["max_new_tokens"]),  # type: ignore[call-overload]
                temperature=float(self.generation_params["temperature"]),  # type: ignore[arg-type]
            )
            finished = utc_now()
            for request, text, finish in zip(batch, texts, finishes, strict=True):
                sink(request, GenerationResult(text=text.strip(), finish_reason=finish,
                                               started_at=started, finished_at=finished))
