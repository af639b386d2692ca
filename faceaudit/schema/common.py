"""Building blocks shared by every section of ``audit.json``."""

from __future__ import annotations

import math

from pydantic import BaseModel, ConfigDict, Field


class ResultModel(BaseModel):
    """Base of every result model.

    ``ser_json_inf_nan="constants"`` writes NaN as ``NaN`` (not ``null`` and not
    0): an undefined number must stay visibly undefined (docs/design.md).
    ``extra="forbid"`` makes a misspelt field in a hand-edited or older
    ``audit.json`` an error instead of silently lost data.
    """

    model_config = ConfigDict(extra="forbid", ser_json_inf_nan="constants")


class Estimate(ResultModel):
    """A number estimated from a sample: point value, interval and sample size.

    ``n`` is the number of independent units behind the estimate (items, or
    images when rows are clustered by image). ``method`` names how the interval
    was computed (``wilson``, ``bootstrap-percentile``, ``newcombe`` ...).
    """

    value: float
    lower: float
    upper: float
    n: int = Field(ge=0)
    method: str
    confidence: float = Field(default=0.95, gt=0, lt=1)
    null_value: float | None = Field(
        default=None,
        description="for a comparison: the value meaning 'no difference' (0 for a difference, "
        "1 for a ratio); None for a plain estimate",
    )
    p_value: float | None = Field(
        default=None,
        description="for a comparison: two-sided p-value of the test that the true value equals "
        "null_value (unadjusted); the gate turns it into a one-sided test of harm and corrects "
        "it for every target it could FAIL on",
    )

    @property
    def is_defined(self) -> bool:
        return not (math.isnan(self.value) or math.isnan(self.lower) or math.isnan(self.upper))

    def excludes(self, reference: float) -> bool:
        """True when the interval lies entirely on one side of ``reference``."""
        return self.is_defined and (self.lower > reference or self.upper < reference)


class Warning_(ResultModel):
    """Something the reader of the audit must know that is not a failed check."""

    stage: str
    message: str
    detail: dict[str, str | int | float | None] = Field(default_factory=dict)
