"""Image reading guards: conversions to RGB, truncation, garbage, missing files, decompression bombs."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from faceaudit.data.images import ImageReadError, check_images, open_face_image


def bomb_png(width: int, height: int) -> bytes:
    """A PNG whose header declares ``width x height`` pixels; its data is a few bytes, nothing is allocated."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\0" * 16))
        + chunk(b"IEND", b"")
    )


def test_grayscale_is_converted_and_named(tmp_path: Path) -> None:
    path = tmp_path / "gray.png"
    Image.new("L", (4, 3), 77).save(path)
    image, conversion = open_face_image(path)
    assert conversion == "L->RGB"
    assert image.mode == "RGB" and image.size == (4, 3)
    assert image.getpixel((0, 0)) == (77, 77, 77)


def test_rgb_needs_no_conversion(tmp_path: Path) -> None:
    path = tmp_path / "rgb.jpg"
    Image.new("RGB", (8, 8), (10, 200, 30)).save(path, quality=95)
    image, conversion = open_face_image(path)
    assert conversion is None and image.mode == "RGB"


def test_rgba_is_composited_on_white(tmp_path: Path) -> None:
    path = tmp_path / "rgba.png"
    pixels = np.zeros((2, 2, 4), dtype=np.uint8)
    pixels[0, 0] = (255, 0, 0, 255)  # opaque red stays red
    pixels[0, 1] = (255, 0, 0, 0)  # fully transparent becomes white
    pixels[1, 0] = (0, 0, 0, 128)  # half-transparent black becomes mid grey
    Image.fromarray(pixels, "RGBA").save(path)
    image, conversion = open_face_image(path)
    assert conversion == "RGBA->RGB"
    assert image.getpixel((0, 0)) == (255, 0, 0)
    assert image.getpixel((1, 0)) == (255, 255, 255)
    grey = image.getpixel((0, 1))
    assert grey[0] == grey[1] == grey[2] and abs(grey[0] - 127) <= 1


def test_sixteen_bit_grayscale_is_scaled_not_clipped(tmp_path: Path) -> None:
    path = tmp_path / "deep.png"
    Image.fromarray(np.array([[0, 257, 32896, 65535]], dtype=np.uint16)).save(path)
    with Image.open(path) as stored:
        assert stored.mode == "I;16"
    image, conversion = open_face_image(path)
    assert conversion == "I;16->RGB"
    assert [image.getpixel((x, 0))[0] for x in range(4)] == [0, 1, 128, 255]


def test_palette_with_transparency_and_cmyk(tmp_path: Path) -> None:
    palette = Image.new("P", (2, 1))
    palette.putpalette([0, 0, 255] + [0, 255, 0] + [0] * 762)
    palette.putpixel((0, 0), 0)
    palette.putpixel((1, 0), 1)
    palette.info["transparency"] = 0
    palette.save(tmp_path / "p.png", transparency=0)
    image, conversion = open_face_image(tmp_path / "p.png")
    assert conversion == "P->RGB"
    assert image.getpixel((0, 0)) == (255, 255, 255)
    assert image.getpixel((1, 0)) == (0, 255, 0)

    Image.new("CMYK", (2, 2), (0, 0, 0, 0)).save(tmp_path / "c.jpg")
    image, conversion = open_face_image(tmp_path / "c.jpg")
    assert conversion == "CMYK->RGB" and image.mode == "RGB"


def test_truncated_jpeg_is_reported_as_truncated(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    noise = np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)
    Image.fromarray(noise).save(buffer, format="JPEG", quality=90)
    path = tmp_path / "cut.jpg"
    path.write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    with pytest.raises(ImageReadError) as caught:
        open_face_image(path)
    assert caught.value.kind == "truncated_image"
    assert "truncated" in str(caught.value) and str(path) in str(caught.value)


def test_not_an_image_and_missing_file(tmp_path: Path) -> None:
    (tmp_path / "notes.jpg").write_text("this is not an image")
    with pytest.raises(ImageReadError) as caught:
        open_face_image(tmp_path / "notes.jpg")
    assert caught.value.kind == "unreadable_image"
    assert "not an image Pillow can read" in str(caught.value)
    with pytest.raises(ImageReadError) as caught:
        open_face_image(tmp_path / "absent.jpg")
    assert caught.value.kind == "missing_file"
    assert "does not exist" in str(caught.value)


def test_crafted_huge_png_header_is_refused_without_allocating(tmp_path: Path) -> None:
    path = tmp_path / "bomb.png"
    path.write_bytes(bomb_png(100_000, 100_000))
    assert path.stat().st_size < 200
    with pytest.raises(ImageReadError) as caught:
        open_face_image(path)
    assert caught.value.kind == "decompression_bomb"
    assert "decompression bomb" in str(caught.value)


def test_max_pixels_limit_is_our_own_check(tmp_path: Path) -> None:
    path = tmp_path / "big.png"
    path.write_bytes(bomb_png(4_000, 3_000))  # 12 Mpx: under Pillow's limit, over ours
    with pytest.raises(ImageReadError) as caught:
        open_face_image(path, max_pixels=10_000_000)
    assert caught.value.kind == "decompression_bomb"
    assert "4000 x 3000 = 12,000,000 pixels" in str(caught.value)
    assert "10,000,000" in str(caught.value)


def test_check_images_reports_each_file_and_hashes_good_ones(tmp_path: Path) -> None:
    Image.new("RGB", (4, 4)).save(tmp_path / "ok.png")
    Image.new("LA", (4, 4)).save(tmp_path / "la.png")
    (tmp_path / "bomb.png").write_bytes(bomb_png(50_000, 50_000))
    checks = check_images(
        tmp_path, ["ok.png", "la.png", "bomb.png", "gone.png", "ok.png"], progress=False
    )
    assert set(checks) == {"ok.png", "la.png", "bomb.png", "gone.png"}
    assert (
        checks["ok.png"].ok
        and checks["ok.png"].conversion is None
        and len(checks["ok.png"].sha256) == 64
    )
    assert checks["la.png"].conversion == "LA->RGB" and checks["la.png"].mode == "LA"
    assert checks["bomb.png"].error_kind == "decompression_bomb"
    assert checks["gone.png"].error_kind == "missing_file"
