"""``AuditConfig``: one validated configuration for a whole run.

Loaded from YAML (or the embedded default, which needs no files and no
network) and refined with ``--set section.field=value`` overrides on the
command line. Validation errors name the field and what would be accepted.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from faceaudit.corpus.config import CorpusConfig
from faceaudit.data.config import DatasetConfig
from faceaudit.evaluate.config import EvaluateConfig
from faceaudit.gate.config import GateConfig, ReportConfig
from faceaudit.perturb.config import PerturbConfig
from faceaudit.train.config import TrainConfig


class ConfigError(ValueError):
    """A configuration that cannot be used; the message says where and why."""


class AuditConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = "embedded-default"
    seed: int = Field(default=0, ge=0)
    output_dir: str = Field(default="runs", description="Runs are written to <output_dir>/<run_id>/.")
    run_id: str | None = Field(default=None, description="Default: a UTC timestamp.")
    dataset: DatasetConfig = Field(default_factory=DatasetConfig)
    corpus: CorpusConfig = Field(default_factory=CorpusConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)
    evaluate: EvaluateConfig = Field(default_factory=EvaluateConfig)
    perturb: PerturbConfig = Field(default_factory=PerturbConfig)
    gate: GateConfig = Field(default_factory=GateConfig)
    report: ReportConfig = Field(default_factory=ReportConfig)


def default_config() -> AuditConfig:
    """The embedded default: synthetic faces, template corpus, tiny model, all offline."""
    return AuditConfig()


def _describe_error(error: dict[str, Any]) -> str:
    location = ".".join(str(part) for part in error["loc"]) or "(top level)"
    message = error["msg"]
    if error["type"] == "extra_forbidden":
        message = "unknown field"
    ctx = error.get("ctx") or {}
    if "expected" in ctx and str(ctx["expected"]) not in message:
        message = f"{message} (accepted: {ctx['expected']})"
    given = error.get("input")
    if error["type"] != "missing" and not isinstance(given, dict):
        return f"{location}: {message}; got {given!r}"
    return f"{location}: {message}"


def validate_config(data: dict[str, Any], source: str = "config") -> AuditConfig:
    try:
        return AuditConfig.model_validate(data)
    except ValidationError as error:
        lines = [_describe_error(e) for e in error.errors()]
        raise ConfigError(f"invalid configuration in {source}:\n  " + "\n  ".join(lines)) from None


def _parse_override(text: str) -> tuple[list[str], Any]:
    if "=" not in text:
        raise ConfigError(f"override {text!r} must look like section.field=value")
    dotted, raw = text.split("=", 1)
    keys = [k for k in dotted.strip().split(".") if k]
    if not keys:
        raise ConfigError(f"override {text!r} names no field")
    # YAML gives ints, floats, booleans, null and lists their natural types.
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    return keys, value


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    for text in overrides:
        keys, value = _parse_override(text)
        node = data
        for key in keys[:-1]:
            child = node.get(key)
            if child is None:
                child = node[key] = {}
            if not isinstance(child, dict):
                raise ConfigError(f"override {text!r}: {key!r} is not a section")
            node = child
        node[keys[-1]] = value
    return data


def load_config(path: str | Path | None = None, overrides: list[str] | None = None) -> AuditConfig:
    """Read ``path`` (YAML) or start from the embedded default, then apply overrides."""
    source = "the embedded default"
    data: dict[str, Any] = {}
    if path is not None:
        path = Path(path)
        source = str(path)
        try:
            loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
        except OSError as error:
            raise ConfigError(f"cannot read config {path}: {error.strerror}") from None
        except yaml.YAMLError as error:
            raise ConfigError(f"{path}: not valid YAML: {error}") from None
        if loaded is None:
            loaded = {}
        if not isinstance(loaded, dict):
            raise ConfigError(f"{path}: the top level must be a mapping of sections")
        data = loaded
    if overrides:
        data = apply_overrides(data, overrides)
        source += " with --set overrides"
    return validate_config(data, source)
