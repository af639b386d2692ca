"""Corpus generation through any OpenAI-compatible chat endpoint: a hosted API or a local vLLM.

One request per (image, aspect), the image inlined (docs/reference.md §3). A thin adapter over
the transport's :class:`faceaudit.models.transport.EndpointClient`, which owns the retry
policy, the key, image preparation (re-encoded, metadata stripped) and the record of what
was sent where. This module only maps the transport's outcomes onto corpus records:

- a reply -> a result the quality gate judges;
- a request the endpoint rejected (a 4xx other than 401/403/404) -> a rejected record;
- a request that outlived every retry -> not written, so a rerun asks again;
- 401/403/404 -> :class:`CorpusBackendError`: stop, no request can succeed.
"""

from __future__ import annotations

from collections.abc import Iterable

from faceaudit.corpus.backends.base import (
    CorpusBackendError,
    GenerationRequest,
    GenerationResult,
    ResultSink,
)
from faceaudit.corpus.config import CorpusConfig
from faceaudit.errors import InputError
from faceaudit.models.transport import (
    EndpointClient,
    EndpointRefused,
    EndpointRejectedRequest,
    EndpointUnavailable,
    image_part,
    prepare_image,
    text_part,
)
from faceaudit.schema.run import DataTransfer
from faceaudit.store import utc_now

DEFAULT_MODEL = "gpt-4o-2024-11-20"  # FairFaceGPT's generator (docs/reference.md §3)


class OpenAIBackend:
    name = "openai"
    model_sha256: str | None = None  # the weights behind an endpoint are not visible

    def __init__(self, client: EndpointClient, *, max_new_tokens: int = 512, temperature: float = 0.0,
                 seed: int = 0) -> None:
        self.client = client
        self.model = client.model
        self.endpoint_host: str | None = client.host
        self.generation_params: dict[str, object] = {
            "max_new_tokens": max_new_tokens, "temperature": temperature, "seed": seed,
        }

    @classmethod
    def from_config(cls, cfg: CorpusConfig, *, seed: int = 0) -> OpenAIBackend:
        try:
            client = EndpointClient(cfg, cfg.model or DEFAULT_MODEL, seed=seed)
        except InputError as error:
            raise CorpusBackendError(f"the openai corpus backend: {error}") from None
        return cls(client, max_new_tokens=cfg.max_new_tokens, temperature=cfg.temperature, seed=seed)

    def redact(self, text: str) -> str:
        return self.client.redact(text)

    def close(self) -> None:
        self.client.close()

    def data_sent(self) -> list[DataTransfer]:
        return self.client.transfers.transfers("corpus")

    def generate(self, requests: Iterable[GenerationRequest], sink: ResultSink) -> None:
        for request, result in self.client.imap(self._one, requests):
            sink(request, result)

    def _one(self, request: GenerationRequest) -> GenerationResult:
        started = utc_now()
        try:
            image = prepare_image(request.image_path)
        except (OSError, ValueError) as error:
            return GenerationResult(text=None, attempts=0, started_at=started, finished_at=utc_now(),
                                    error=f"cannot read image {request.image_path}: {error}")
        messages = [
            {"role": "system", "content": request.system_prompt},
            {"role": "user", "content": [text_part(request.user_prompt), image_part(image)]},
        ]
        params = self.generation_params
        try:
            reply = self.client.chat(messages, images=[image], max_tokens=params["max_new_tokens"],
                                     temperature=params["temperature"], seed=params["seed"])
        except EndpointRefused as error:
            raise CorpusBackendError(str(error)) from None
        except (EndpointRejectedRequest, EndpointUnavailable) as error:
            return GenerationResult(text=None, attempts=error.attempts, started_at=started,
                                    finished_at=utc_now(), error=str(error), retryable=error.retryable)
        return GenerationResult(text=reply.text, finish_reason=reply.finish_reason, attempts=reply.attempts,
                                started_at=started, finished_at=utc_now())
