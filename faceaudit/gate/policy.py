"""Release policy as code: a versioned YAML file of checks on ``audit.json``.

Each check points at values with a path (see :mod:`faceaudit.gate.paths`), states
a limit (``at_least`` / ``at_most``), which end of the 95% interval must meet it
(``side``), the smallest sample that may be judged (``min_n``) and whether a
failure blocks the release. Errors name the check and the field.
"""

from __future__ import annotations

from functools import partial
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from faceaudit.errors import InputError, format_validation_errors
from faceaudit.gate.paths import PathError, terminal_type
from faceaudit.schema.common import Estimate
from faceaudit.store import read_regular_bytes, sha256_bytes
from faceaudit.yaml_io import load_yaml

DEFAULT_POLICY_RESOURCE = "policy-default.yaml"
POLICY_FORMAT = 1


class PolicyError(InputError):
    """A policy file that cannot be used; the message names the check and field."""


class Check(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    description: str = Field(min_length=1)
    path: str
    operator: Literal["at_least", "at_most"]
    limit: float
    side: Literal["lower", "upper", "value"] = Field(
        description="Which end of the interval must meet the limit for a PASS. 'lower' with "
        "at_least and 'upper' with at_most demand that the whole interval meets it."
    )
    min_n: int = Field(default=0, ge=0)
    severity: Literal["blocking", "warning"] = "blocking"
    aggregate: Literal["each", "count"] = Field(
        default="each", description="each: judge every matched value; count: judge how many matched"
    )
    against_baseline: bool = Field(
        default=False, description="Judge candidate minus baseline (needs --baseline)"
    )
    when_missing: Literal["insufficient", "fail", "skip"] = Field(
        default="insufficient",
        description="Verdict when the path matches nothing (its stage did not run)",
    )
    fail_when: Literal["beyond_limit", "significant_harm"] = Field(
        default="beyond_limit",
        description="beyond_limit: FAIL when even the favourable end of the interval misses the "
        "limit (for exact values and single estimates). significant_harm: for comparisons "
        "(estimates with null_value and p_value): FAIL when the harm is statistically significant "
        "after a family-wise (Holm) correction over every target the gate could FAIL on, and the "
        "interval cannot show it within the limit.",
    )
    insufficient_blocks: bool = Field(
        default=True,
        description="Whether this check's INSUFFICIENT_EVIDENCE counts against the release "
        "(with the gate's insufficient_blocks). False: only a FAIL of this check blocks.",
    )
    rationale: str | None = Field(
        default=None, description="Where the threshold comes from; printed beside the check."
    )
    limit_scale: Literal["raw", "chance_corrected"] = Field(
        default="raw",
        description="raw: the limit is in the value's own units. chance_corrected (accuracy levels "
        "and accuracy gaps of evaluation tasks only): the limit is on the scale kappa = (accuracy - "
        "chance) / (1 - chance), chance being a uniform guess among each item's options, so one "
        "limit means the same for a 2-option and a 9-option question: an accuracy level L becomes "
        "chance + L (1 - chance), a gap L becomes L (1 - chance).",
    )

    @field_validator("path")
    @classmethod
    def _path_fits_schema(cls, value: str) -> str:
        # Imported here: the schema package imports faceaudit.schema.gate, not this module,
        # but keeping the import local avoids a cycle if that ever changes.
        from faceaudit.schema import AuditResult

        try:
            terminal_type(value, AuditResult)
        except PathError as error:
            raise ValueError(str(error)) from None
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Check:
        if self.aggregate == "count" and self.against_baseline:
            raise ValueError("aggregate 'count' cannot be compared against a baseline")
        if self.aggregate == "count" and self.side != "value":
            raise ValueError("aggregate 'count' is exact: use side 'value'")
        if self.limit_scale == "chance_corrected" and (
            self.aggregate == "count" or self.against_baseline or not self.path.startswith("evaluation.tasks")
            or "error_ratio" in self.path or not (".disparities" in self.path or self.path.endswith("accuracy"))
        ):
            raise ValueError(
                "limit_scale 'chance_corrected' applies to accuracy levels and accuracy gaps of "
                "evaluation tasks (paths under evaluation.tasks), not to counts, baseline changes, "
                "ratios or other metrics"
            )
        if self.fail_when == "significant_harm":
            harm_end = "lower" if self.operator == "at_least" else "upper"
            if self.side != harm_end or self.aggregate != "each":
                raise ValueError(
                    f"fail_when 'significant_harm' judges each comparison on its harmful end: with "
                    f"operator {self.operator!r} use side {harm_end!r} and aggregate 'each'"
                )
        from faceaudit.schema import AuditResult

        ends = terminal_type(self.path, AuditResult)
        is_estimate = isinstance(ends, type) and issubclass(ends, Estimate)
        if (
            self.aggregate == "each"
            and isinstance(ends, type)
            and issubclass(ends, BaseModel)
            and not is_estimate
        ):
            raise ValueError(
                f"path {self.path!r} ends on a {ends.__name__}, not a number or an Estimate; "
                "add the field to judge, or use aggregate: count"
            )
        return self


class Policy(BaseModel):
    model_config = ConfigDict(extra="forbid")

    format: Literal[1] = POLICY_FORMAT
    name: str = Field(min_length=1)
    version: str = Field(min_length=1, description="The policy's own version, e.g. 2025.1")
    description: str = ""
    checks: list[Check] = Field(min_length=1)
    alpha: float = Field(
        default=0.05, gt=0, lt=0.5,
        description="Family-wise error rate of FAIL decisions on significant harm: the chance that "
        "a fair model FAILs any blocking check of this policy is at most alpha.",
    )
    certify_power: float = Field(
        default=0.9, gt=0.5, lt=1,
        description="A comparison is 'certifiable' when its sample would PASS a fair model with at "
        "least this probability; smaller ones are judged on clear harm only and named.",
    )
    rationale: str | None = Field(default=None, description="Why this policy, and its sources.")
    # Filled by load_policy, not read from YAML: which bytes the verdict rests on.
    sha256: str = Field(default="", exclude=True)
    source: str = Field(default="", exclude=True)

    @model_validator(mode="after")
    def _unique_ids(self) -> Policy:
        seen: set[str] = set()
        for check in self.checks:
            if check.id in seen:
                raise ValueError(f"check id {check.id!r} is used twice; ids must be unique")
            seen.add(check.id)
        return self


def _locate(raw: dict[str, Any], loc: tuple[Any, ...]) -> str:
    """'check 'gap' (checks[3]), field limit' rather than 'checks.3.limit'."""
    parts = list(loc)
    if len(parts) >= 2 and parts[0] == "checks" and isinstance(parts[1], int):
        checks = raw.get("checks") or []
        item = checks[parts[1]] if parts[1] < len(checks) else None
        check_id = item.get("id") if isinstance(item, dict) else None
        where = f"check {check_id!r} (checks[{parts[1]}])" if check_id else f"checks[{parts[1]}]"
        field = ".".join(str(p) for p in parts[2:])
        return f"{where}, field {field!r}" if field else where
    return ".".join(str(p) for p in parts)


def parse_policy(data: bytes, source: str) -> Policy:
    """Validate policy bytes; the SHA-256 is of these exact bytes (what the verdict cites)."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise PolicyError(f"{source}: not UTF-8 text ({error.reason} at byte {error.start})") from None
    raw = load_yaml(text, source, PolicyError)
    if not isinstance(raw, dict):
        raise PolicyError(f"{source}: the top level must be a mapping with name, version, checks")
    try:
        policy = Policy.model_validate(raw)
    except ValidationError as error:
        raise PolicyError(format_validation_errors(
            error.errors(), f"policy {source}", partial(_locate, raw))) from None
    policy.sha256 = sha256_bytes(data)
    policy.source = source
    return policy


def load_policy(path: str | Path | None = None) -> Policy:
    """Read a policy file, or the shipped default when ``path`` is None."""
    if path is None:
        data = resources.files("faceaudit.gate").joinpath(DEFAULT_POLICY_RESOURCE).read_bytes()
        return parse_policy(data, "built-in default")
    path = Path(path)
    try:
        data = read_regular_bytes(path)
    except OSError as error:
        raise PolicyError(f"cannot read policy {path}: {error.strerror}") from None
    return parse_policy(data, str(path))
