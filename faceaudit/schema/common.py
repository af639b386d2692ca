"""Building blocks shared by every section of ``audit.json``."""

from __future__ import annotations

import math

from pydantic import BaseModel, ConfigDict, Field


class ResultModel(BaseModel):
    """Base of every result model.

    ``ser_json_inf_nan="constants"`` writes NaN as ``NaN`` (not ``null`` and not
    0): an undefined number must stay visibly undefined (DESIGN.md).
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
