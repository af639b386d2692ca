"""Face datasets: records, loaders, validation, synthetic faces and MCQ items."""

from faceaudit.data.records import OPTION_LETTERS, FaceRecord, McqItem

__all__ = ["OPTION_LETTERS", "FaceRecord", "McqItem"]
