"""The ``gate`` section: the release verdict."""

from __future__ import annotations

from typing import Literal

from faceaudit.schema.common import ResultModel

Verdict = Literal["PASS", "FAIL", "INSUFFICIENT_EVIDENCE"]


class GateSection(ResultModel):
    verdict: Verdict
    reason: str
