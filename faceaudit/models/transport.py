"""The one vision-chat transport: how any stage asks a model about a face image.

Corpus generation (``faceaudit.corpus.backends``) and evaluation (``faceaudit.models``)
are thin adapters over the two clients here, so each of these exists exactly once:

- **image preparation** (:func:`prepare_image`): every image that leaves the machine is
  decoded and re-encoded as PNG from its RGB pixels, so EXIF (GPS, camera, time), ICC
  profiles and any other metadata of the original file never leave with it;
- **one endpoint config** (:class:`faceaudit.models.endpoint_config.EndpointSettings`) and
  **one key policy**: the key is read from the environment variable the config names,
  lives only in the client's headers, and :meth:`EndpointClient.redact` scrubs it from
  anything written; a remote host without a key is refused before anything is sent, and
  plain ``http://`` to a host that is not this machine is warned about;
- **one retry policy** (:meth:`EndpointClient.chat`): connection errors, timeouts,
  408/409/429/5xx and malformed replies are retried with exponential backoff and jitter,
  honouring ``Retry-After``; 401/403/404 stop the run at once (no retry can fix them);
  any other 4xx is about that one request and is reported, not retried;
- **the record of every destination** (:class:`TransferLog`): host, model, requests,
  images and texts sent. The run's provenance is derived from these records
  (:func:`faceaudit.provenance.derive_provenance`), never written by hand.

Why not the official ``openai`` SDK: its retry delays are fixed in code (0.5 s doubling
to 8 s; ``Retry-After: 0`` is ignored), it does not retry a 200 reply whose body is not
valid JSON (vLLM behind a proxy produces those), and it would add eight dependencies
for one POST route. httpx, which the SDK itself uses, is already a dependency.

The local client (:class:`faceaudit.models.local.LocalVisionClient`) is the other half:
a transformers model on this machine, which records no destination because nothing
leaves.
"""

from __future__ import annotations

import base64
import io
import logging
import os
import random
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
from PIL import Image

from faceaudit.errors import InputError, StageError
from faceaudit.models.endpoint_config import (
    EndpointSettings,
    check_base_url,
    endpoint_host,
    is_loopback,
)
from faceaudit.schema.run import DataTransfer
from faceaudit.store import sha256_bytes

log = logging.getLogger("faceaudit.transport")

#: What audit.json says about every image the transport sends.
IMAGE_PREPARATION = (
    "re-encoded as PNG from decoded RGB pixels; EXIF, ICC and all other metadata removed"
)

_RETRY_STATUS = frozenset({408, 409, 429})

T = TypeVar("T")
R = TypeVar("R")


# --- image preparation ------------------------------------------------------------------


def open_rgb(path: str | Path) -> Image.Image:
    """Decode a face image to RGB pixels (the one decoder for the local and endpoint clients)."""
    from faceaudit.data.images import open_face_image

    image, _ = open_face_image(path)
    return image


@dataclass(frozen=True)
class PreparedImage:
    """An image ready to send: only its pixels, as a PNG data URL."""

    data_url: str
    sha256: str  # of the PNG bytes sent


def prepare_image(path: str | Path) -> PreparedImage:
    """Re-encode ``path`` as a metadata-free PNG of its RGB pixels.

    A fresh image is built from the raw pixels, so nothing of the original file's ``info``
    (EXIF, ICC profile, text chunks, XMP) can be carried over by the encoder.
    """
    pixels = open_rgb(path)
    clean = Image.frombytes("RGB", pixels.size, pixels.tobytes())
    buffer = io.BytesIO()
    clean.save(buffer, format="PNG")
    data = buffer.getvalue()
    return PreparedImage(
        "data:image/png;base64," + base64.b64encode(data).decode("ascii"), sha256_bytes(data)
    )


# --- the record of where data went -----------------------------------------------------------


@dataclass
class _Sent:
    requests: int = 0
    images: int = 0
    texts: int = 0
    distinct: set[str] = field(default_factory=set)


class TransferLog:
    """Every request the transport sent off this machine, per (host, model). Thread-safe.

    A request is counted when it is attempted, retries included: a request whose reply
    was lost may still have arrived, so the record errs towards saying more was sent.
    """

    def __init__(self, *, encrypted: bool | None = True) -> None:
        self.encrypted = encrypted
        self._lock = threading.Lock()
        self._sent: dict[tuple[str, str], _Sent] = {}

    def record(self, host: str, model: str, images: Sequence[PreparedImage], n_texts: int) -> None:
        with self._lock:
            entry = self._sent.setdefault((host, model), _Sent())
            entry.requests += 1
            entry.images += len(images)
            entry.texts += n_texts
            entry.distinct.update(image.sha256 for image in images)

    def transfers(self, stage: str) -> list[DataTransfer]:
        with self._lock:
            return [
                DataTransfer(
                    stage=stage,
                    host=host,
                    model=model,
                    n_requests=sent.requests,
                    n_images=sent.images,
                    n_distinct_images=len(sent.distinct),
                    n_texts=sent.texts,
                    image_preparation=IMAGE_PREPARATION if sent.images else None,
                    encrypted=self.encrypted,
                )
                for (host, model), sent in sorted(self._sent.items())
                if sent.requests
            ]


# --- the endpoint client ----------------------------------------------------------------------


class EndpointError(StageError):
    """The endpoint did not answer a request usefully. ``retryable``: a rerun may succeed."""

    retryable = False

    def __init__(self, message: str, attempts: int = 1) -> None:
        super().__init__(message)
        self.attempts = attempts


class EndpointRefused(EndpointError):
    """401/403/404: the key, the URL or the model is wrong; no request can succeed. Stop."""


class EndpointRejectedRequest(EndpointError):
    """Another 4xx: the endpoint will not take this one request (e.g. an image too large)."""


class EndpointUnavailable(EndpointError):
    """Every retry failed (overload, timeouts, connection errors, malformed replies)."""

    retryable = True


@dataclass(frozen=True)
class ChatReply:
    text: str | None
    finish_reason: str | None
    attempts: int
    logprobs: dict[str, Any] | None = None


class _Retry(Exception):
    def __init__(self, problem: str, retry_after: float | None = None) -> None:
        super().__init__(problem)
        self.retry_after = retry_after


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None  # an HTTP date: fall back to our own backoff


def image_part(image: PreparedImage) -> dict[str, Any]:
    return {"type": "image_url", "image_url": {"url": image.data_url}}


def text_part(text: str) -> dict[str, Any]:
    return {"type": "text", "text": text}


class EndpointClient:
    """``POST {base_url}/chat/completions`` with the transport's retry, key and record policies."""

    def __init__(self, settings: EndpointSettings, model: str, *, seed: int = 0) -> None:
        if not settings.base_url:
            raise InputError(
                "an OpenAI-compatible endpoint needs base_url, e.g. http://127.0.0.1:8000/v1"
            )
        if not model:
            raise InputError("an OpenAI-compatible endpoint needs the served model's name (model)")
        self.base_url = check_base_url(settings.base_url)
        self.host = endpoint_host(self.base_url)
        self.model = model
        self.settings = settings
        self._key_env = settings.api_key_env
        self._api_key = (
            (os.environ.get(settings.api_key_env) or None) if settings.api_key_env else None
        )
        if settings.api_key_env and self._api_key is None and not is_loopback(self.base_url):
            raise InputError(
                f"the endpoint {self.host} needs an API key: set the environment variable "
                f"{settings.api_key_env} (keys are read only from the environment, never from config "
                "files), or set api_key_env to null for a server that takes no key"
            )
        if self.base_url.startswith("http://") and not is_loopback(self.base_url):
            log.warning(
                "%s is plain http:// to another machine: face images and any key travel unencrypted; "
                "use https:// or an SSH tunnel to 127.0.0.1",
                self.host,
            )
        encrypted = None if is_loopback(self.base_url) else self.base_url.startswith("https://")
        self.transfers = TransferLog(encrypted=encrypted)
        self._jitter = random.Random(seed)
        headers = {"Authorization": f"Bearer {self._api_key}"} if self._api_key else {}
        self._client = httpx.Client(
            headers=headers,
            timeout=httpx.Timeout(settings.timeout_s),
            limits=httpx.Limits(
                max_connections=settings.concurrency, max_keepalive_connections=settings.concurrency
            ),
        )

    @property
    def name(self) -> str:
        return f"openai:{self.model}@{self.host}"

    def __repr__(self) -> str:  # never shows the key
        return f"EndpointClient(host={self.host!r}, model={self.model!r})"

    def redact(self, text: str) -> str:
        """``text`` with the API key removed (an endpoint may echo it in an error)."""
        return text.replace(self._api_key, "[redacted]") if self._api_key else text

    def close(self) -> None:
        self._client.close()

    # -- one request, retried ---------------------------------------------------------------

    def chat(
        self, messages: list[dict[str, Any]], *, images: Sequence[PreparedImage] = (), **params: Any
    ) -> ChatReply:
        """Send one chat request (``images`` are those inside ``messages``, for the record)."""
        url = f"{self.base_url}/chat/completions"
        body = {"model": self.model, "messages": messages, **params}
        n_texts = sum(1 for m in messages for part in _parts(m) if part.get("type") == "text")
        s = self.settings
        attempts = 0
        while True:
            attempts += 1
            self.transfers.record(self.host, self.model, images, n_texts)
            try:
                response = self._client.post(url, json=body)
                return self._parse(response, url, attempts)
            except _Retry as retry:
                problem, retry_after = str(retry), retry.retry_after
            except httpx.TimeoutException:
                problem, retry_after = f"no reply within {s.timeout_s:g} s", None
            except httpx.TransportError as error:
                problem, retry_after = f"connection error ({type(error).__name__})", None
            if attempts > s.max_retries:
                raise EndpointUnavailable(
                    self.redact(f"{url}: {problem} after {attempts} attempts (gave up)"), attempts
                )
            delay = min(s.max_backoff_s, s.backoff_s * 2 ** (attempts - 1))
            delay *= 0.5 + self._jitter.random()  # concurrent retries do not stampede
            if retry_after is not None:
                delay = max(delay, min(retry_after, s.max_backoff_s))
            time.sleep(delay)

    def _parse(self, response: httpx.Response, url: str, attempts: int) -> ChatReply:
        status = response.status_code
        if status in (401, 403):
            hint = (
                f"check the key in ${self._key_env}"
                if self._api_key
                else f"no key was sent: set ${self._key_env or 'OPENAI_API_KEY'}"
            )
            raise EndpointRefused(
                f"{self.host} refused the request with HTTP {status} (authentication); {hint}"
            )
        if status == 404:
            raise EndpointRefused(
                f"{url} answered HTTP 404: the base_url is wrong or the endpoint does not serve "
                f"model {self.model!r}"
            )
        if status in _RETRY_STATUS or status >= 500:
            raise _Retry(f"HTTP {status}", _retry_after(response))
        if status >= 400:
            raise EndpointRejectedRequest(
                self.redact(
                    f"{url}: HTTP {status} after {attempts} attempt(s): {response.text[:300]}"
                ),
                attempts,
            )
        try:
            choice = response.json()["choices"][0]
            message = choice["message"]
            content, refusal = message.get("content"), message.get("refusal")
            finish = choice.get("finish_reason")
        except (ValueError, KeyError, IndexError, TypeError, AttributeError):
            raise _Retry(f"malformed reply (HTTP {status}): {response.text[:80]!r}") from None
        if content is not None and not isinstance(content, str):
            raise _Retry(f"malformed reply: content is {type(content).__name__}, not text")
        if refusal:
            content, finish = str(refusal), "refusal"
        return ChatReply(
            text=content, finish_reason=finish, attempts=attempts, logprobs=choice.get("logprobs")
        )

    # -- many requests, bounded -----------------------------------------------------------

    def imap(self, function: Callable[[T], R], items: Iterable[T]) -> Iterator[tuple[T, R]]:
        """``(item, function(item))`` as each finishes, at most ``concurrency`` in flight.

        ``items`` is pulled lazily, so a generator of requests (and the images it reads)
        is never further ahead than the requests in flight.
        """
        iterator = iter(items)
        limit = self.settings.concurrency
        with ThreadPoolExecutor(max_workers=limit, thread_name_prefix="faceaudit-endpoint") as pool:
            pending: dict[Future[R], T] = {}

            def fill() -> None:
                for item in iterator:
                    pending[pool.submit(function, item)] = item
                    if len(pending) >= limit:
                        return

            fill()
            try:
                while pending:
                    done, _ = wait(pending, return_when=FIRST_COMPLETED)
                    for future in done:
                        item = pending.pop(future)
                        yield item, future.result()
                    fill()
            finally:
                for future in pending:
                    future.cancel()

    def map(self, function: Callable[[T], R], items: Sequence[T]) -> list[R]:
        """``[function(item) for item in items]``, in order, ``concurrency`` at a time."""
        indexed = list(enumerate(items))
        results: dict[int, R] = {}
        for (index, _), result in self.imap(lambda pair: function(pair[1]), indexed):
            results[index] = result
        return [results[index] for index in range(len(indexed))]


def _parts(message: dict[str, Any]) -> list[dict[str, Any]]:
    content = message.get("content")
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    return list(content or [])
