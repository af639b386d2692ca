"""The one interface every corpus generator backend implements."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from faceaudit.corpus.labels import LabelView
from faceaudit.errors import StageError
from faceaudit.schema.run import DataTransfer


class CorpusBackendError(StageError):
    """The backend cannot work at all (bad key, unknown model, missing checkpoint): stop the run."""


@dataclass(frozen=True)
class GenerationRequest:
    """One Q&A pair to generate: what the generator is shown and told."""

    key: str
    image_id: str
    image_path: Path  # absolute: the backend reads the bytes
    aspect: str
    system_prompt: str
    user_prompt: str
    labels: LabelView
    input_sha256: str = ""  # everything that determines the answer; a resume checks it


@dataclass(frozen=True)
class GenerationResult:
    """What came back for one request.

    ``error`` set means no usable reply: ``retryable`` errors (the endpoint was
    overloaded or timed out after all retries) are not written, so a rerun asks
    again; other errors are recorded as rejected pairs.
    """

    text: str | None
    finish_reason: str | None = None
    attempts: int = 1
    started_at: str = ""
    finished_at: str = ""
    error: str | None = None
    retryable: bool = False


ResultSink = Callable[[GenerationRequest, GenerationResult], None]


class CorpusBackend(Protocol):
    name: str
    model: str
    model_sha256: str | None  # content hash of a local model; None for an endpoint
    endpoint_host: str | None  # where images are sent; None = nothing leaves the machine
    #: What decides an answer besides the prompt and the image (sampling settings, seed).
    generation_params: dict[str, object]

    def data_sent(self) -> list[DataTransfer]:
        """The transport's record of what this backend sent off the machine."""
        ...

    def generate(self, requests: Iterable[GenerationRequest], sink: ResultSink) -> None:
        """Answer every request, calling ``sink`` as each result is ready (any order)."""
        ...

    def redact(self, text: str) -> str:
        """Remove secrets from text that will be written to disk."""
        ...

    def close(self) -> None: ...
