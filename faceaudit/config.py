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

from faceaudit.baseline_config import BaselineConfig
from faceaudit.contamination.config import ContaminationConfig
from faceaudit.corpus.config import CorpusConfig
from faceaudit.data.config import DatasetConfig
from faceaudit.errors import InputError, format_validation_errors
from faceaudit.evaluate.config import EvaluateConfig
from faceaudit.gate.config import GateConfig, ReportConfig
from faceaudit.perturb.config import PerturbConfig
from faceaudit.scan.config import ScanConfig
from faceaudit.sensitivity.config import SensitivityConfig
from faceaudit.store import read_regular_text
from faceaudit.tracking import TrackingConfig
from faceaudit.train.config import TrainConfig
from faceaudit.yaml_io import load_yaml


class ConfigError(InputError):
    """A configuration that cannot be used; the message says where and why."""


class AuditConfig(BaseModel):
    """The whole run's configuration, one section per stage; ``faceaudit run --print-config``
    prints it with every field's description. Build it with :func:`load_config`."""

    model_config = ConfigDict(extra="forbid")

    name: str = "embedded-default"
    seed: int = Field(default=0, ge=0)
    output_dir: str = Field(default="runs", description="Runs are written to <output_dir>/<run_id>/.")
    run_id: str | None = Field(default=None, description="Default: a UTC timestamp.")
    dataset: DatasetConfig = Field(default_factory=DatasetConfig)
    corpus: CorpusConfig = Field(default_factory=CorpusConfig)
    scan: ScanConfig = Field(default_factory=ScanConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)
    evaluate: EvaluateConfig = Field(default_factory=EvaluateConfig)
    contamination: ContaminationConfig = Field(default_factory=ContaminationConfig)
    sensitivity: SensitivityConfig = Field(default_factory=SensitivityConfig)
    baseline: BaselineConfig = Field(default_factory=BaselineConfig)
    tracking: TrackingConfig = Field(default_factory=TrackingConfig)
    perturb: PerturbConfig = Field(default_factory=PerturbConfig)
    gate: GateConfig = Field(default_factory=GateConfig)
    report: ReportConfig = Field(default_factory=ReportConfig)


def default_config() -> AuditConfig:
    """The embedded default: synthetic faces, template corpus, tiny model, all offline."""
    return AuditConfig()


def validate_config(data: dict[str, Any], source: str = "config") -> AuditConfig:
    try:
        return AuditConfig.model_validate(data)
    except ValidationError as error:
        raise ConfigError(format_validation_errors(error.errors(), f"configuration in {source}")) from None


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


def _set(data: dict[str, Any], keys: list[str], value: Any, shown: str) -> None:
    node = data
    for key in keys[:-1]:
        child = node.get(key)
        if child is None:
            child = node[key] = {}
        if not isinstance(child, dict):
            raise ConfigError(f"override {shown!r}: {key!r} is not a section")
        node = child
    node[keys[-1]] = value


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply ``section.field=value`` strings; the value is read as YAML (``--set`` only)."""
    for text in overrides:
        keys, value = _parse_override(text)
        _set(data, keys, value, text)
    return data


def apply_values(data: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    """Apply ``{"section.field": value}`` with the values as given: a command-line flag is a
    string and stays one (``--run-id 2024-06-01`` is not a date, ``--run-id 0123`` not 83)."""
    for dotted, value in values.items():
        _set(data, [k for k in dotted.split(".") if k], value, dotted)
    return data


def load_config(
    path: str | Path | None = None,
    overrides: list[str] | None = None,
    values: dict[str, Any] | None = None,
) -> AuditConfig:
    """Read ``path`` (YAML) or start from the embedded default, then apply ``values`` (typed,
    from flags) and ``overrides`` (``--set`` strings, read as YAML; they win)."""
    source = "the embedded default"
    data: dict[str, Any] = {}
    if path is not None:
        path = Path(path)
        source = str(path)
        try:
            text = read_regular_text(path)
        except OSError as error:
            raise ConfigError(f"cannot read config {path}: {error.strerror}") from None
        except UnicodeDecodeError as error:
            raise ConfigError(f"{path}: not UTF-8 text ({error.reason} at byte {error.start})") from None
        loaded = load_yaml(text, str(path), ConfigError)
        if loaded is None:
            loaded = {}
        if not isinstance(loaded, dict):
            raise ConfigError(f"{path}: the top level must be a mapping of sections")
        data = loaded
    if values:
        data = apply_values(data, values)
        source += " with command-line flags"
    if overrides:
        data = apply_overrides(data, overrides)
        source += " with --set overrides"
    return validate_config(data, source)


def described_yaml(model: BaseModel, indent: int = 0) -> str:
    """``model`` as YAML with each field's description as a comment above it (``--print-config``).

    The output parses back to ``model.model_dump(mode="json")``.
    """
    pad = "  " * indent
    lines: list[str] = []
    data = model.model_dump(mode="json")
    for name, field in type(model).model_fields.items():
        if field.description:
            lines.extend(f"{pad}# {line}" for line in field.description.splitlines())
        value = getattr(model, name)
        if isinstance(value, BaseModel):
            lines.append(f"{pad}{name}:")
            lines.append(described_yaml(value, indent + 1))
            continue
        dumped = yaml.safe_dump({name: data[name]}, sort_keys=False, default_flow_style=False).rstrip("\n")
        lines.extend(pad + line for line in dumped.splitlines())
    return "\n".join(lines)
