"""The ``evaluation`` section: stratified metrics with intervals."""

from __future__ import annotations

from faceaudit.schema.common import ResultModel


class EvaluationSection(ResultModel):
    model: str
