"""Train/eval contamination: evaluation images found in the training corpus, exactly or nearly."""

from faceaudit.contamination.config import ContaminationConfig
from faceaudit.contamination.hashing import ImageFingerprint, fingerprint, match_images

__all__ = ["ContaminationConfig", "ImageFingerprint", "fingerprint", "match_images"]
