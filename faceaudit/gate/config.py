"""Configuration of the gate and the report."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class GateConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool = True


class ReportConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
