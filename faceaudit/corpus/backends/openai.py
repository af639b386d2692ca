"""Any OpenAI-compatible chat-completions endpoint: a hosted API or a local vLLM server.

One request per (image, aspect), the image inlined as a base64 data URL
(REFERENCE.md §3). Bounded concurrency (asyncio workers sharing one httpx
client), retries with exponential backoff and jitter on 429, 5xx, timeouts,
connection errors and malformed replies (honouring ``Retry-After``), and an
immediate, explicit stop on 401/403/404, which no retry can fix.

The API key is read from the environment variable the config names and lives
only in the client's headers; ``redact`` scrubs it from anything written.
"""

from __future__ import annotations

import asyncio
import base64
import os
import random
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from faceaudit.corpus.backends.base import (
    CorpusBackendError,
    GenerationRequest,
    GenerationResult,
    ResultSink,
)
from faceaudit.corpus.config import CorpusConfig
from faceaudit.store import utc_now

DEFAULT_MODEL = "gpt-4o-2024-11-20"  # FairFaceGPT's generator (REFERENCE.md §3)
_MIME = {".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png", ".webp": "image/webp",
         ".gif": "image/gif", ".bmp": "image/bmp"}
_LOOPBACK = {"127.0.0.1", "localhost", "::1"}


class _Retry(Exception):
    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def endpoint_host(base_url: str) -> str:
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"base_url {base_url!r} must be an http(s) URL such as http://127.0.0.1:8000/v1")
    return f"{parts.hostname}:{parts.port}" if parts.port else parts.hostname


def image_data_url(path: Path) -> str:
    mime = _MIME.get(path.suffix.lower(), "image/jpeg")
    return f"data:{mime};base64,{base64.b64encode(path.read_bytes()).decode('ascii')}"


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None  # an HTTP date: fall back to our own backoff


class OpenAIBackend:
    name = "openai"

    def __init__(
        self,
        *,
        base_url: str,
        model: str = DEFAULT_MODEL,
        api_key: str | None = None,
        api_key_env: str | None = None,
        concurrency: int = 8,
        timeout_s: float = 120.0,
        max_retries: int = 5,
        backoff_s: float = 1.0,
        max_backoff_s: float = 60.0,
        max_new_tokens: int = 512,
        temperature: float = 0.0,
        seed: int = 0,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.endpoint_host: str | None = endpoint_host(self.base_url)
        self.model = model
        self._api_key = api_key
        self._api_key_env = api_key_env
        self.concurrency = concurrency
        self.timeout_s = timeout_s
        self.max_retries = max_retries
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self.max_new_tokens = max_new_tokens
        self.temperature = temperature
        self.seed = seed
        self._jitter = random.Random(seed)

    @classmethod
    def from_config(cls, cfg: CorpusConfig, *, seed: int = 0) -> OpenAIBackend:
        host = endpoint_host(cfg.base_url)
        key = os.environ.get(cfg.api_key_env) if cfg.api_key_env else None
        if cfg.api_key_env and not key and urlsplit(cfg.base_url).hostname not in _LOOPBACK:
            raise CorpusBackendError(
                f"the openai corpus backend needs an API key for {host}: set the environment "
                f"variable {cfg.api_key_env} (keys are read only from the environment, never "
                "from config files), or set corpus.api_key_env to null for a keyless server"
            )
        return cls(
            base_url=cfg.base_url, model=cfg.model or DEFAULT_MODEL, api_key=key or None,
            api_key_env=cfg.api_key_env, concurrency=cfg.concurrency, timeout_s=cfg.timeout_s,
            max_retries=cfg.max_retries, backoff_s=cfg.backoff_s, max_backoff_s=cfg.max_backoff_s,
            max_new_tokens=cfg.max_new_tokens, temperature=cfg.temperature, seed=seed,
        )

    def redact(self, text: str) -> str:
        if self._api_key and self._api_key in text:
            return text.replace(self._api_key, "[redacted]")
        return text

    def close(self) -> None:
        return None

    # -- generation -------------------------------------------------------------------------

    def generate(self, requests: Iterable[GenerationRequest], sink: ResultSink) -> None:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            asyncio.run(self._generate(iter(requests), sink))
            return
        # Called from inside an event loop (a notebook): run ours on a private thread.
        errors: list[BaseException] = []

        def run() -> None:
            try:
                asyncio.run(self._generate(iter(requests), sink))
            except BaseException as error:  # re-raised in the caller's thread
                errors.append(error)

        thread = threading.Thread(target=run, name="faceaudit-openai")
        thread.start()
        thread.join()
        if errors:
            raise errors[0]

    async def _generate(self, requests: Iterator[GenerationRequest], sink: ResultSink) -> None:
        headers = {"Authorization": f"Bearer {self._api_key}"} if self._api_key else {}
        limits = httpx.Limits(max_connections=self.concurrency, max_keepalive_connections=self.concurrency)
        async with httpx.AsyncClient(
            headers=headers, timeout=httpx.Timeout(self.timeout_s), limits=limits
        ) as client:

            async def worker() -> None:
                # Workers pull from one shared iterator, so at most `concurrency`
                # requests (and images in memory) are in flight at any time.
                for request in requests:
                    sink(request, await self._one(client, request))

            tasks = [asyncio.create_task(worker()) for _ in range(self.concurrency)]
            done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
            for task in done:
                if task.exception() is not None:
                    raise task.exception()  # type: ignore[misc]

    def _payload(self, request: GenerationRequest) -> dict[str, Any]:
        return {
            "model": self.model,
            "messages": [
                {"role": "system", "content": request.system_prompt},
                {"role": "user", "content": [
                    {"type": "text", "text": request.user_prompt},
                    {"type": "image_url", "image_url": {"url": image_data_url(request.image_path)}},
                ]},
            ],
            "max_tokens": self.max_new_tokens,
            "temperature": self.temperature,
            "seed": self.seed,
        }

    async def _one(self, client: httpx.AsyncClient, request: GenerationRequest) -> GenerationResult:
        started = utc_now()
        try:
            payload = self._payload(request)
        except OSError as error:
            return GenerationResult(text=None, attempts=0, started_at=started, finished_at=utc_now(),
                                    error=f"cannot read image {request.image_path}: {error.strerror}")
        url = f"{self.base_url}/chat/completions"
        attempts = 0
        while True:
            attempts += 1
            try:
                response = await client.post(url, json=payload)
                return self._parse(response, request, attempts, started)
            except _Retry as retry:
                message, retry_after = str(retry), retry.retry_after
            except httpx.TimeoutException:
                message, retry_after = f"no reply within {self.timeout_s:g} s", None
            except httpx.TransportError as error:
                message, retry_after = f"connection error ({type(error).__name__})", None
            if attempts > self.max_retries:
                return GenerationResult(
                    text=None, attempts=attempts, started_at=started, finished_at=utc_now(),
                    error=f"{message} (gave up after {attempts} attempts)", retryable=True,
                )
            delay = min(self.max_backoff_s, self.backoff_s * 2 ** (attempts - 1))
            delay *= 0.5 + self._jitter.random()  # jitter: concurrent retries do not stampede
            if retry_after is not None:
                delay = max(delay, min(retry_after, self.max_backoff_s))
            await asyncio.sleep(delay)

    def _parse(self, response: httpx.Response, request: GenerationRequest, attempts: int,
               started: str) -> GenerationResult:
        status = response.status_code
        if status in (401, 403):
            hint = (f"check the key in ${self._api_key_env}" if self._api_key
                    else f"no key was sent: set ${self._api_key_env or 'OPENAI_API_KEY'}")
            raise CorpusBackendError(
                f"{self.endpoint_host} refused the request with HTTP {status} (authentication); {hint}"
            )
        if status == 404:
            raise CorpusBackendError(
                f"{self.base_url}/chat/completions answered HTTP 404: the base_url is wrong or the "
                f"endpoint does not serve model {self.model!r}"
            )
        if status == 429 or status >= 500:
            raise _Retry(f"HTTP {status}", _retry_after(response))
        if status >= 400:
            # Other client errors (e.g. 400 for an image the endpoint will not accept)
            # are about this request only: record them and go on.
            return GenerationResult(
                text=None, attempts=attempts, started_at=started, finished_at=utc_now(),
                error=f"HTTP {status}: {response.text[:200]}",
            )
        try:
            body = response.json()
            choice = body["choices"][0]
            message = choice["message"]
            content = message.get("content")
            refusal = message.get("refusal")
            finish = choice.get("finish_reason")
        except (ValueError, KeyError, IndexError, TypeError, AttributeError):
            raise _Retry(f"malformed reply (HTTP {status}): {response.text[:80]!r}") from None
        if content is not None and not isinstance(content, str):
            raise _Retry(f"malformed reply: content is {type(content).__name__}, not text")
        if refusal:
            content, finish = str(refusal), "refusal"
        return GenerationResult(text=content, finish_reason=finish, attempts=attempts,
                                started_at=started, finished_at=utc_now())
