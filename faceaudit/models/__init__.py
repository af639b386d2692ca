"""Model backends behind one protocol: ``FaceModel`` (see :mod:`faceaudit.models.base`)."""

from faceaudit.models.base import FaceModel, ScoringUnavailable, load_batch_images
from faceaudit.models.registry import BACKENDS, make_model

__all__ = ["BACKENDS", "FaceModel", "ScoringUnavailable", "load_batch_images", "make_model"]
