"""The one configuration of an OpenAI-compatible endpoint, shared by every stage that uses one.

``corpus`` (generation) and ``evaluate`` both derive from :class:`EndpointSettings`, so the
two stages spell, default and check an endpoint the same way. Secrets never live here:
``api_key_env`` names the environment variable holding the key, and a ``base_url`` that
carries credentials (``https://user:pass@host``, ``?api-key=...``) is refused, because the
config is written to config.yaml and audit.json.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic_core import PydanticCustomError

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
#: The validation error type whose input must never be shown (see ``format_validation_errors``).
SECRET_ERROR_TYPE = "secret_in_url"


def check_base_url(value: str) -> str:
    """``value`` if it is a usable, credential-free http(s) API root; else a ValueError."""
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(
            f"base_url must be an http(s) URL such as http://127.0.0.1:8000/v1, got {value!r}"
        )
    if parts.username or parts.password or parts.query or parts.fragment:
        # A custom error type, so that no error formatter echoes the value: it holds the secret.
        raise PydanticCustomError(
            SECRET_ERROR_TYPE,
            "base_url must not carry credentials (user:password@, a query string or a fragment): "
            "it is saved in config.yaml and audit.json; put the key in the environment variable "
            "named by api_key_env",
        )
    return value.rstrip("/")


def endpoint_host(base_url: str) -> str:
    """``host[:port]`` of ``base_url``: what audit.json names as a destination."""
    parts = urlsplit(base_url)
    if not parts.hostname:
        raise ValueError(f"base_url {base_url!r} names no host")
    return f"{parts.hostname}:{parts.port}" if parts.port else parts.hostname


def is_loopback(base_url: str) -> bool:
    return urlsplit(base_url).hostname in LOOPBACK_HOSTS


class EndpointSettings(BaseModel):
    """Where an OpenAI-compatible chat endpoint is and how hard to try it."""

    # A rejected base_url may hold a password: pydantic's own message must not print it.
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    base_url: str | None = Field(
        default=None,
        description="openai: the API root, e.g. http://127.0.0.1:8000/v1 (vLLM) or "
        "https://api.openai.com/v1; never with credentials in it.",
    )
    api_key_env: str | None = Field(
        default="OPENAI_API_KEY",
        description="openai: name of the environment variable holding the API key (keys are read "
        "only from the environment); null sends no key, e.g. to a local vLLM server.",
    )
    concurrency: int = Field(
        default=4, ge=1, le=512, description="openai: requests in flight at once."
    )
    timeout_s: float = Field(
        default=120.0, gt=0, description="openai: per-request timeout in seconds."
    )
    max_retries: int = Field(
        default=5,
        ge=0,
        description="openai: retries on connection errors, timeouts, 408/409/429/5xx and malformed replies.",
    )
    backoff_s: float = Field(
        default=1.0, ge=0, description="openai: first retry delay; doubles on each retry."
    )
    max_backoff_s: float = Field(default=60.0, ge=0, description="openai: cap of one retry delay.")

    @field_validator("base_url")
    @classmethod
    def _base_url_is_clean(cls, value: str | None) -> str | None:
        return None if value is None else check_base_url(value)
