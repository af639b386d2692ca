"""The ``corpus`` section: how the FairFaceGPT-style corpus was generated."""

from __future__ import annotations

from faceaudit.schema.common import ResultModel


class CorpusSection(ResultModel):
    backend: str
    n_records: int
