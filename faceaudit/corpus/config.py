"""Configuration of corpus generation."""

from __future__ import annotations

from typing import Literal

from pydantic import ConfigDict, Field, field_validator

from faceaudit.models.endpoint_config import EndpointSettings


class CorpusConfig(EndpointSettings):
    """How the FairFaceGPT-style Q&A corpus is generated (docs/reference.md §3).

    Secrets never live here: ``api_key_env`` names the environment variable
    that holds the key, so a saved config can be shared without leaking it.
    """

    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    enabled: bool = True
    backend: Literal["template", "openai", "hf"] = "template"
    # The endpoint fields (api_key_env, timeout_s, max_retries, backoff_s, max_backoff_s)
    # come from EndpointSettings; generation defaults to the hosted API and more requests in flight.
    base_url: str | None = Field(
        default="https://api.openai.com/v1",
        description="openai: the OpenAI-compatible API root (a vLLM server: http://HOST:PORT/v1).",
    )
    concurrency: int = Field(default=8, ge=1, le=512, description="openai: requests in flight.")
    model: str | None = Field(
        default=None,
        description="openai: the model name sent to the endpoint (default gpt-4o-2024-11-20); "
        "hf: a local checkpoint directory or hub id; template: ignored.",
    )
    aspects: list[str] | None = Field(
        default=None, description="Aspect ids to generate (default: all eight FairFaceGPT aspects)."
    )
    limit: int | None = Field(default=None, ge=1, description="Use at most this many images.")
    prompt_file: str | None = Field(
        default=None, description="YAML or JSON prompt set replacing the built-in FairFaceGPT one."
    )
    max_new_tokens: int = Field(default=512, ge=1, description="openai/hf: answer length cap.")
    temperature: float = Field(default=0.0, ge=0, le=2, description="openai/hf: 0 = greedy.")
    batch_size: int = Field(default=4, ge=1, description="hf: images per generate() call.")
    adapter: str | None = Field(default=None, description="hf: optional peft adapter directory.")
    source: str | None = Field(
        default=None,
        description="Use this existing corpus instead of generating one: a corpus JSONL written by "
        "`faceaudit generate`, or a ShareGPT JSON such as the published FairFaceGPT (imported).",
    )
    output: str = Field(
        default="corpus/corpus.jsonl", description="Corpus JSONL path, relative to the run directory."
    )

    @field_validator("aspects")
    @classmethod
    def _aspects_known(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        if not value:
            raise ValueError("aspects must name at least one aspect (or be null for all)")
        # Import here: prompts imports nothing from config, this avoids a cycle at import time.
        from faceaudit.corpus.prompts import ASPECT_IDS

        unknown = [a for a in value if a not in ASPECT_IDS]
        if unknown:
            raise ValueError(f"unknown aspect(s) {unknown}; accepted: {', '.join(ASPECT_IDS)}")
        if len(set(value)) != len(value):
            raise ValueError(f"aspects are repeated: {value}")
        return value
