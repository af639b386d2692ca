"""Backend for an OpenAI-compatible chat-completions endpoint (vLLM, or a hosted API).

The way to audit a model too big for this machine. Each item is one request carrying
the same chat prompt as every other backend (:func:`faceaudit.models.chat.build_messages`),
its images inline as base64 data URLs. Requests run ``concurrency`` at a time and are
retried with exponential backoff on connection errors, 408/409/429 and 5xx (honouring
``Retry-After``); any other error fails at once with the server's message.

Scoring asks for one token with ``logprobs``/``top_logprobs`` and reads the option
letters from them; a letter absent from the top list gets an equal share of the mass the
list leaves uncovered (an upper bound on its probability). A server that returns no
logprobs raises :class:`ScoringUnavailable`, and the stage falls back to generation.

Privacy: this backend sends face images to ``base_url``. The API key is read from the
environment variable named in the config, never from a file, and never logged.
"""

from __future__ import annotations

import base64
import contextlib
import math
import mimetypes
import os
import random
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

from faceaudit.data.records import OPTION_LETTERS, McqItem
from faceaudit.models.base import ScoringUnavailable, resolve_image
from faceaudit.models.chat import build_messages

_RETRY_STATUS = {408, 409, 429, 500, 502, 503, 504}
_TOP_LOGPROBS = 20


class EndpointError(RuntimeError):
    """The endpoint refused a request or kept failing after every retry."""


def _data_url(path: Path) -> str:
    mime = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    return f"data:{mime};base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def _letter_of(token: str) -> str | None:
    stripped = token.strip().strip("()[].:").upper()
    return stripped if stripped in OPTION_LETTERS else None


def letter_logprobs(top_logprobs: list[dict[str, Any]], n_options: int) -> list[float]:
    """Option log-probabilities from one position's ``top_logprobs`` entries."""
    best: dict[str, float] = {}
    covered = 0.0
    for entry in top_logprobs:
        logprob = float(entry["logprob"])
        covered += math.exp(logprob)
        letter = _letter_of(str(entry["token"]))
        if letter is not None:
            # " B" and "B" are different tokens meaning the same answer: add their mass.
            previous = best.get(letter)
            best[letter] = logprob if previous is None else float(
                math.log(math.exp(previous) + math.exp(logprob))
            )
    letters = OPTION_LETTERS[:n_options]
    absent = [letter for letter in letters if letter not in best]
    if absent:
        share = max(1.0 - covered, 1e-12) / len(absent)
        for letter in absent:
            best[letter] = math.log(share)
    return [best[letter] for letter in letters]


class OpenAIChatModel:
    """A ``FaceModel`` backed by ``POST {base_url}/chat/completions``."""

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key_env: str = "OPENAI_API_KEY",
        concurrency: int = 4,
        max_retries: int = 5,
        timeout_s: float = 120.0,
        backoff_s: float = 1.0,
        max_backoff_s: float = 30.0,
    ) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise ValueError(f"base_url must start with http:// or https://, got {base_url!r}")
        if concurrency < 1:
            raise ValueError(f"concurrency must be >= 1, got {concurrency}")
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.name = f"openai:{model}@{self.base_url}"
        self.concurrency = concurrency
        self.max_retries = max_retries
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        headers = {"Content-Type": "application/json"}
        api_key = os.environ.get(api_key_env)
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        self._client = httpx.Client(
            headers=headers,
            timeout=timeout_s,
            limits=httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency),
        )
        self.requests_sent = 0

    def __repr__(self) -> str:  # never shows the key
        return f"OpenAIChatModel(base_url={self.base_url!r}, model={self.model!r})"

    def close(self) -> None:
        self._client.close()

    def prepare(self, batch: list[McqItem], image_root: str | Path) -> list[list[str]]:
        """Read and base64-encode the images (off the main loop)."""
        return [
            [_data_url(resolve_image(image_root, p, item.item_id)) for p in item.image_paths]
            for item in batch
        ]

    def _messages(self, item: McqItem, urls: list[str]) -> list[dict[str, Any]]:
        messages = build_messages(item.prompt(), n_images=len(urls))
        remaining = iter(urls)
        for message in messages:
            message["content"] = [
                {"type": "image_url", "image_url": {"url": next(remaining)}}
                if part["type"] == "image"
                else part
                for part in message["content"]
            ]
        return messages

    def _post(self, body: dict[str, Any]) -> dict[str, Any]:
        url = f"{self.base_url}/chat/completions"
        for attempt in range(self.max_retries + 1):
            delay = min(self.max_backoff_s, self.backoff_s * 2**attempt) * (0.5 + random.random() / 2)
            try:
                response = self._client.post(url, json=body)
            except httpx.TransportError as error:
                if attempt == self.max_retries:
                    raise EndpointError(
                        f"{url}: {type(error).__name__} after {attempt + 1} attempts: {error}"
                    ) from None
                time.sleep(delay)
                continue
            self.requests_sent += 1
            if response.status_code == 200:
                try:
                    return response.json()
                except ValueError:
                    raise EndpointError(f"{url}: the response is not JSON: {response.text[:200]!r}") from None
            if response.status_code in _RETRY_STATUS and attempt < self.max_retries:
                retry_after = response.headers.get("Retry-After")
                if retry_after is not None:
                    with contextlib.suppress(ValueError):
                        delay = min(self.max_backoff_s, float(retry_after))
                time.sleep(delay)
                continue
            raise EndpointError(
                f"{url}: HTTP {response.status_code} after {attempt + 1} attempt(s): {response.text[:300]}"
            )
        raise EndpointError(f"{url}: no response after {self.max_retries + 1} attempts")

    def _map(self, function: Any, batch: list[McqItem], images: list[list[str]]) -> list[Any]:
        if self.concurrency == 1 or len(batch) == 1:
            return [function(item, urls) for item, urls in zip(batch, images, strict=True)]
        with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            return list(pool.map(function, batch, images))

    @staticmethod
    def _choice(payload: dict[str, Any]) -> dict[str, Any]:
        try:
            return payload["choices"][0]
        except (KeyError, IndexError, TypeError):
            raise EndpointError(f"response without choices: {str(payload)[:200]}") from None

    def _score_one(self, item: McqItem, urls: list[str]) -> list[float]:
        payload = self._post(
            {
                "model": self.model,
                "messages": self._messages(item, urls),
                "max_tokens": 1,
                "temperature": 0,
                "logprobs": True,
                "top_logprobs": _TOP_LOGPROBS,
            }
        )
        logprobs = self._choice(payload).get("logprobs") or {}
        content = logprobs.get("content") or []
        if not content or not content[0].get("top_logprobs"):
            raise ScoringUnavailable(
                f"{self.base_url} returned no top_logprobs; use mode 'generation' for this endpoint"
            )
        return letter_logprobs(content[0]["top_logprobs"], len(item.options))

    def _generate_one(self, item: McqItem, urls: list[str], max_new_tokens: int) -> str:
        payload = self._post(
            {
                "model": self.model,
                "messages": self._messages(item, urls),
                "max_tokens": max_new_tokens,
                "temperature": 0,
            }
        )
        content = (self._choice(payload).get("message") or {}).get("content")
        return content if isinstance(content, str) else ""

    def score_options(self, batch: list[McqItem], images: list[list[str]]) -> list[list[float]]:
        return self._map(self._score_one, batch, images)

    def generate(self, batch: list[McqItem], images: list[list[str]], max_new_tokens: int) -> list[str]:
        return self._map(lambda item, urls: self._generate_one(item, urls, max_new_tokens), batch, images)
