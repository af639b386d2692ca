"""The ``training`` section: what was trained, how, and how it went."""

from __future__ import annotations

from faceaudit.schema.common import ResultModel


class TrainingSection(ResultModel):
    recipe: str
    base_model: str
