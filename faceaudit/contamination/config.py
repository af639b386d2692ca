"""Configuration of the contamination check (the ``contamination`` section of ``AuditConfig``)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

#: Largest Hamming distance (of 256 bits) between the 16x16 DCT perceptual hashes of two images
#: that may still be the same picture. Measured on this project's data (docs/contamination.md):
#: re-encoding a 224 px FairFace face at JPEG quality 30-95 and resizing it to 0.5-2x moved its
#: hash by at most 10 bits; a 64 px synthetic face by at most 20 (JPEG 30) and 12 (0.75x, JPEG 75);
#: two different FairFace faces of the 2,100-image sample differ by at least 60 bits, two different
#: synthetic faces by as few as 18 — so the hash alone cannot separate synthetic faces, and a
#: candidate must also pass the thumbnail test below.
PHASH_MAX_DISTANCE = 32
#: Largest mean absolute difference (0-255 scale) between the 16x16 RGB box-filtered thumbnails of
#: two images that may be the same picture. Re-encoded and resized copies: at most 2.2 (FairFace)
#: and 4.4 (synthetic); different faces: at least 11.4 (FairFace) and 8.3 (synthetic).
THUMBNAIL_MAX_DIFFERENCE = 6.0


class ContaminationConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(
        default=True,
        description="Compare the evaluation images with the training corpus's images (runs when this "
        "run has a corpus, or contamination.corpus names one).",
    )
    corpus: str | None = Field(
        default=None,
        description="The training corpus of a model trained elsewhere: ShareGPT JSON (FairFaceGPT) or "
        "a corpus JSONL. Default: this run's corpus.",
    )
    media_dir: str | None = Field(
        default=None,
        description="Folder the image paths of contamination.corpus are relative to (LLaMA-Factory's "
        "media_dir; default: the corpus file's folder).",
    )
    phash_max_distance: int = Field(
        default=PHASH_MAX_DISTANCE, ge=0, le=256,
        description="Near duplicate: perceptual-hash Hamming distance (of 256 bits) at most this ...",
    )
    thumbnail_max_difference: float = Field(
        default=THUMBNAIL_MAX_DIFFERENCE, ge=0, le=255,
        description="... and mean absolute difference of 16x16 RGB thumbnails (0-255) at most this.",
    )
    recompute_clean: bool = Field(
        default=True,
        description="Also report each group's accuracy on the items whose images are not in the corpus.",
    )
    workers: int = Field(default=2, ge=1, le=64, description="Threads decoding and hashing images.")
