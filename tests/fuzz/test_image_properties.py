"""Image files: any mode, format, size or damage ends in an RGB image or a named, kinded error.

Generated in every Pillow mode a face file may come in (CMYK, 16-bit, palette with and
without transparency, animated GIF, 1-bit, float ...), in the formats that can hold it,
saved under the wrong extension, then possibly truncated or with bytes overwritten. The
decoder must return RGB of the declared size or raise ``ImageReadError`` (an ``InputError``)
naming the file with one of the documented kinds; the image check must report, not raise.
"""

from __future__ import annotations

import io
import struct
import zlib

import pytest
from fuzz_support import CASES
from hypothesis import example, given, settings
from hypothesis import strategies as st
from PIL import Image

from faceaudit.data.images import ImageReadError, check_image, decode_face_image

FUZZ = settings.get_profile("faceaudit-fuzz")
KINDS = {"unreadable_image", "truncated_image", "decompression_bomb"}
MODES = ["RGB", "L", "P", "PA", "RGBA", "LA", "CMYK", "I;16", "I", "F", "1", "YCbCr"]
FORMATS = ["PNG", "JPEG", "TIFF", "GIF", "WEBP", "BMP"]


def png_header_only(width: int, height: int) -> bytes:
    """A valid PNG header declaring ``width x height`` pixels, with almost no pixel data."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 8)) + chunk(b"IEND", b"")


@st.composite
def image_files(draw) -> tuple[bytes, tuple[int, int] | None]:
    """Encoded image bytes and the size a clean decode must give (None once damaged)."""
    mode, fmt = draw(st.sampled_from(MODES)), draw(st.sampled_from(FORMATS))
    size = (draw(st.integers(1, 40)), draw(st.integers(1, 40)))
    pixels = draw(st.binary(min_size=3 * size[0] * size[1], max_size=3 * size[0] * size[1]))
    rgb = Image.frombytes("RGB", size, pixels)
    try:
        image = rgb.convert(mode)
    except (ValueError, OSError):
        image = rgb.convert("L").convert(mode)  # I;16, I, F: Pillow converts them from L only
    buffer = io.BytesIO()
    options = {}
    if mode == "P" and draw(st.booleans()):
        options["transparency"] = 0
    if fmt == "GIF" and draw(st.booleans()):
        options.update(save_all=True, append_images=[Image.new(mode, size)], duration=50)  # animated
    try:
        image.save(buffer, format=fmt, **options)
    except (OSError, ValueError, KeyError, TypeError):
        buffer = io.BytesIO()
        image.convert("RGB").save(buffer, format="PNG")
    data = buffer.getvalue()
    damage = draw(st.sampled_from(["none", "truncate", "overwrite"]))
    if damage == "truncate":
        return data[: draw(st.integers(0, len(data) - 1))], None
    if damage == "overwrite":
        at = draw(st.integers(0, len(data) - 1))
        piece = draw(st.binary(min_size=1, max_size=8))
        return data[:at] + piece + data[at + len(piece):], None
    return data, size


@FUZZ
@given(image_files())
@example((b"", None))  # zero bytes
@example((png_header_only(100_000, 100_000), None))  # 10 gigapixels declared
@example((png_header_only(1, 1)[:30], None))  # cut inside the header
@example((b"GIF89a" + b"\xff" * 20, None))
def test_decode_gives_rgb_or_a_named_error(case):
    CASES["image bytes"] += 1
    data, size = case
    try:
        image, conversion = decode_face_image(data, name="face_017.jpg")
    except ImageReadError as error:
        assert error.kind in KINDS and "face_017.jpg" in str(error)
        return
    assert image.mode == "RGB"
    if size is not None:
        assert image.size == size


@pytest.mark.parametrize("suffix", [".jpg", ".png", ".txt", ""])
def test_image_check_reports_and_never_raises(tmp_path, suffix):
    before = CASES["image file check"]

    @FUZZ
    @given(image_files())
    def prop(case):
        CASES["image file check"] += 1
        data, size = case
        (tmp_path / f"face{suffix}").write_bytes(data)  # the extension says nothing about the bytes
        check = check_image(tmp_path, f"face{suffix}")
        assert check.sha256 is not None
        if check.ok:
            assert size is None or (check.width, check.height) == size
        else:
            assert check.error_kind in KINDS and check.error

    prop()
    assert CASES["image file check"] - before >= 10


def test_the_decoder_ran_its_quota():
    # Runs after the property above in file order: hypothesis' examples plus the generated ones.
    assert CASES["image bytes"] >= 40
