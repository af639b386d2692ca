"""Image fingerprints and the matching of evaluation images against a corpus's images.

Three ways an evaluation image can be in the training corpus:

- ``file``: the same bytes (SHA-256 of the file);
- ``pixels``: the same decoded picture in another container or with other metadata
  (SHA-256 of the RGB pixels and the size);
- ``near``: the same picture re-encoded or resized. A candidate's 256-bit DCT perceptual hash
  (``imagehash.phash`` with ``hash_size=16``) must be within ``phash_max_distance`` bits and
  its 16x16 RGB thumbnail within ``thumbnail_max_difference`` (mean absolute difference, 0-255).
  The hash ignores colour, so it alone confuses similar procedural faces; the thumbnail
  ignores fine structure, so it alone confuses faces on similar backgrounds; together they
  separate every pair of different faces measured (see :mod:`faceaudit.contamination.config`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import imagehash
import numpy as np
from PIL import Image

from faceaudit.data.images import ImageReadError, decode_face_image
from faceaudit.errors import InputError
from faceaudit.store import read_regular_bytes

_THUMB = 16
_PHASH_SIZE = 16  # 16x16 = 256 bits
_CHUNK = 512


@dataclass(frozen=True)
class ImageFingerprint:
    file_sha256: str
    pixel_sha256: str
    phash: np.ndarray  # 4 uint64 words: the 256-bit perceptual hash
    thumbnail: np.ndarray  # float32, 16 x 16 x 3


def fingerprint(path: str | Path) -> ImageFingerprint:
    """The fingerprint of one image file; an unreadable image is an InputError naming it."""
    path = Path(path)
    try:
        data = read_regular_bytes(path)
        # Through the budgeted decode every image takes (pixel limit, shared decode budget, RGB).
        # Upright: a camera's rotation flag changes what the picture shows.
        image = decode_face_image(data, name=str(path), upright=True)[0]
    except ImageReadError as error:
        raise InputError(f"{path}: cannot read the image ({error.reason})") from None
    except OSError as error:
        raise InputError(f"{path}: cannot read the image ({error.strerror or error})") from None
    pixels = hashlib.sha256(f"{image.width}x{image.height}\0".encode() + image.tobytes()).hexdigest()
    bits = imagehash.phash(image, hash_size=_PHASH_SIZE).hash.reshape(-1)
    phash = np.packbits(bits).view(np.uint64).copy()
    thumbnail = np.asarray(image.resize((_THUMB, _THUMB), Image.Resampling.BOX), dtype=np.float32)
    return ImageFingerprint(hashlib.sha256(data).hexdigest(), pixels, phash, thumbnail)


def fingerprints(paths: Sequence[Path], workers: int = 2) -> list[ImageFingerprint]:
    """Fingerprints of ``paths`` in order (PIL and the DCT release the GIL: threads help); the
    first unreadable image is an InputError naming it."""
    found = fingerprints_or_errors(paths, workers)
    for item in found:
        if isinstance(item, InputError):
            raise item
    return found  # type: ignore[return-value]


def fingerprints_or_errors(paths: Sequence[Path], workers: int = 2) -> list[ImageFingerprint | InputError]:
    """Like :func:`fingerprints`, with each unreadable image's InputError in its place."""

    def one(path: Path) -> ImageFingerprint | InputError:
        try:
            return fingerprint(path)
        except InputError as error:
            return error

    if workers <= 1 or len(paths) < 64:
        return [one(p) for p in paths]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(one, paths, chunksize=32))


def _popcount(words: np.ndarray) -> np.ndarray:
    if hasattr(np, "bitwise_count"):  # numpy >= 2.0
        return np.bitwise_count(words).sum(axis=-1, dtype=np.int64)
    table = np.array([bin(i).count("1") for i in range(256)], dtype=np.int64)
    return table[words.view(np.uint8)].reshape(*words.shape[:-1], -1).sum(axis=-1)


@dataclass(frozen=True)
class Match:
    eval_index: int
    corpus_index: int
    kind: str  # 'file', 'pixels' or 'near'
    phash_distance: int
    thumbnail_difference: float


def match_images(
    evaluation: Sequence[ImageFingerprint],
    corpus: Sequence[ImageFingerprint],
    *,
    phash_max_distance: int,
    thumbnail_max_difference: float,
) -> list[Match]:
    """The closest corpus image of every evaluation image that is in the corpus (one per image).

    An exact match (file, then pixels) wins over a near one; among near candidates the one with
    the smallest thumbnail difference is reported.
    """
    by_file = {f.file_sha256: i for i, f in enumerate(corpus)}
    by_pixels = {f.pixel_sha256: i for i, f in enumerate(corpus)}
    matches: list[Match] = []
    pending = []
    for e, fp in enumerate(evaluation):
        if fp.file_sha256 in by_file:
            matches.append(Match(e, by_file[fp.file_sha256], "file", 0, 0.0))
        elif fp.pixel_sha256 in by_pixels:
            matches.append(Match(e, by_pixels[fp.pixel_sha256], "pixels", 0, 0.0))
        else:
            pending.append(e)
    if not pending or not corpus:
        return sorted(matches, key=lambda m: m.eval_index)
    corpus_hash = np.stack([f.phash for f in corpus])
    corpus_thumb = np.stack([f.thumbnail for f in corpus]).reshape(len(corpus), -1)
    for start in range(0, len(pending), _CHUNK):
        rows = pending[start:start + _CHUNK]
        hashes = np.stack([evaluation[e].phash for e in rows])
        distance = _popcount(hashes[:, None, :] ^ corpus_hash[None, :, :])
        candidates = distance <= phash_max_distance
        for r in np.flatnonzero(candidates.any(axis=1)):
            cols = np.flatnonzero(candidates[r])
            thumb = evaluation[rows[r]].thumbnail.reshape(1, -1)
            difference = np.abs(corpus_thumb[cols] - thumb).mean(axis=1)
            best = int(np.argmin(difference))
            if difference[best] <= thumbnail_max_difference:
                matches.append(Match(rows[r], int(cols[best]), "near", int(distance[r, cols[best]]),
                                     round(float(difference[best]), 3)))
    return sorted(matches, key=lambda m: m.eval_index)
