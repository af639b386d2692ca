"""A camera's rotation flag: a flagged original and an upright copy are the same picture.

The flag was read after the conversion to RGB, which drops the metadata of an image with alpha
or 16-bit depth, so such an original stopped matching its upright copy (found by review)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from faceaudit.contamination.hashing import fingerprint


def _picture(size: tuple[int, int] = (48, 32)) -> np.ndarray:
    rng = np.random.default_rng(7)
    base = rng.integers(0, 256, (size[1] // 8, size[0] // 8, 3), dtype=np.uint8)
    return np.kron(base, np.ones((8, 8, 1), dtype=np.uint8))  # blocky, so resampling is exact enough


@pytest.mark.parametrize("mode", ["RGB", "RGBA", "I;16"])
def test_a_rotation_flag_is_applied_whatever_the_pixel_format(tmp_path, mode):
    if mode == "I;16":  # 16-bit grey, full range
        upright = Image.fromarray(_picture()[:, :, 0].astype(np.uint16) * 257)
    else:
        upright = Image.fromarray(_picture()).convert(mode)
    stored = upright.transpose(Image.Transpose.ROTATE_90)  # what the camera wrote; flag 6 turns it back
    exif = Image.Exif()
    exif[0x0112] = 6
    stored.save(tmp_path / "flagged.png", exif=exif)
    upright.save(tmp_path / "upright.png")
    flagged, plain = fingerprint(tmp_path / "flagged.png"), fingerprint(tmp_path / "upright.png")
    assert flagged.thumbnail.shape == plain.thumbnail.shape
    assert np.abs(flagged.thumbnail - plain.thumbnail).max() <= 1.0
    assert int(np.unpackbits((flagged.phash ^ plain.phash).view(np.uint8)).sum()) <= 8
