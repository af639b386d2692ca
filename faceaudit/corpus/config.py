"""Configuration of corpus generation."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict


class CorpusConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    backend: Literal["template", "openai", "hf"] = "template"
