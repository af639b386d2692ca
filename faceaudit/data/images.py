"""Reading face images safely: bombs, truncation and odd modes become clear errors or counted conversions.

Models get RGB. Anything else on disk (grayscale, palette, RGBA, 16-bit, CMYK)
is converted the same way every time, and the conversion is reported so a
reader of the audit knows the model did not see the file's own pixels.
"""

from __future__ import annotations

import hashlib
import io
import os
import threading
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError
from tqdm.auto import tqdm

from faceaudit.errors import InputError
from faceaudit.store import read_regular_bytes

# Pillow's own default limit (about 89 Mpx, a 9,459 x 9,459 image): far above any face crop,
# low enough that a crafted header cannot make us allocate gigabytes.
DEFAULT_MAX_PIXELS = 89_478_485

# Pixels decoded at the same time by all threads of this process together. Each image decodes
# under a share of this budget equal to its pixel count (an image larger than the whole budget
# waits until it can decode alone), so 16 reader threads cannot hold 16 images of
# DEFAULT_MAX_PIXELS (each ~360 MB as RGBA, more while converting) at once: peak decode
# memory stays near max(budget, one image) x ~8 bytes, ~0.8 GB, whatever the thread count.
DECODE_PIXEL_BUDGET = 100_000_000


class _PixelBudget:
    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._used = 0

    @contextmanager
    def hold(self, pixels: int) -> Iterator[None]:
        limit = max(1, int(DECODE_PIXEL_BUDGET))
        need = max(1, min(int(pixels), limit))
        with self._cond:
            while self._used and self._used + need > limit:
                self._cond.wait()
            self._used += need
        try:
            yield
        finally:
            with self._cond:
                self._used -= need
                self._cond.notify_all()


_DECODE_BUDGET = _PixelBudget()

_ALPHA_MODES = frozenset({"RGBA", "LA", "PA", "RGBa", "La"})
_SIXTEEN_BIT_MODES = frozenset({"I;16", "I;16B", "I;16L", "I;16N"})


class ImageReadError(InputError):
    """An image that cannot be used; ``kind`` is the issue kind reported for it."""

    def __init__(self, kind: str, path: str | os.PathLike[str], message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.kind = kind
        self.path = str(path)
        self.reason = message

    def __reduce__(self):  # noqa: ANN204 - rebuilt from its three fields when it crosses a process pool
        return type(self), (self.kind, self.path, self.reason)


@dataclass(frozen=True)
class ImageCheck:
    """What checking one image file found. ``error_kind`` is None when the image is usable."""

    path: str
    sha256: str | None = None
    width: int | None = None
    height: int | None = None
    mode: str | None = None
    conversion: str | None = None
    error_kind: str | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error_kind is None


def open_face_image(
    path: str | os.PathLike[str], *, max_pixels: int = DEFAULT_MAX_PIXELS
) -> tuple[Image.Image, str | None]:
    """Open ``path`` as an RGB image; return it and the conversion applied (``"L->RGB"``) or None.

    Raises :class:`ImageReadError` with kind ``missing_file``, ``unreadable_image``,
    ``truncated_image`` or ``decompression_bomb``.
    """
    data = _read_bytes(path)
    return decode_face_image(data, name=str(path), max_pixels=max_pixels)


def decode_face_image(
    data: bytes, *, name: str = "<bytes>", max_pixels: int = DEFAULT_MAX_PIXELS, upright: bool = False
) -> tuple[Image.Image, str | None]:
    """Decode image bytes to RGB with the same guards as :func:`open_face_image`. With
    ``upright``, a camera's EXIF rotation flag is applied first: the conversion to RGB drops
    the metadata of an image with alpha or 16-bit depth, so it cannot be applied after."""
    image = _open_checked(data, name, max_pixels)
    with _DECODE_BUDGET.hold(image.width * image.height):
        return _decode(image, name, upright=upright)


def _decode(image: Image.Image, name: str, *, upright: bool = False) -> tuple[Image.Image, str | None]:
    try:
        image.load()
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        text = str(exc)
        if isinstance(exc, EOFError) or "truncated" in text.lower() or not text:
            raise ImageReadError(
                "truncated_image",
                name,
                f"the image file is truncated or cut short ({text or 'unexpected end'})",
            ) from exc
        raise ImageReadError(
            "unreadable_image", name, f"the image data cannot be decoded ({text})"
        ) from exc
    # Transposing costs as much as a perceptual hash: only when the flag asks for it.
    if upright and image.getexif().get(0x0112, 1) not in (1, None):
        image = ImageOps.exif_transpose(image)
    return to_rgb(image, name=name)


def to_rgb(image: Image.Image, *, name: str = "<image>") -> tuple[Image.Image, str | None]:
    """Convert any Pillow mode to RGB; alpha is composited on white, 16-bit scaled to 8-bit."""
    mode = image.mode
    if mode == "RGB":
        return image, None
    conversion = f"{mode}->RGB"
    try:
        if mode == "P" and "transparency" in image.info:
            image = image.convert("RGBA")
        if image.mode in _ALPHA_MODES:
            rgba = image.convert("RGBA")
            background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
            return Image.alpha_composite(background, rgba).convert("RGB"), conversion
        if mode in _SIXTEEN_BIT_MODES or mode in {"I", "F"}:
            return _high_depth_to_rgb(image), conversion
        return image.convert("RGB"), conversion
    except (OSError, ValueError) as exc:
        raise ImageReadError(
            "unreadable_image", name, f"cannot convert image mode {mode!r} to RGB ({exc})"
        ) from exc


def _high_depth_to_rgb(image: Image.Image) -> Image.Image:
    values = np.asarray(image).astype(np.float64)
    if image.mode in _SIXTEEN_BIT_MODES:
        scaled = values / 257.0  # 65535 -> 255 exactly, 257 -> 1
    else:
        # "I"/"F" carry no bit depth; infer it from the data's range: [0,1] floats,
        # 8-bit values stored wide, or 16-bit values.
        peak = float(values.max()) if values.size else 0.0
        if image.mode == "F" and peak <= 1.0:
            scaled = values * 255.0
        elif peak <= 255.0:
            scaled = values
        else:
            scaled = values / 257.0
    gray = np.clip(np.rint(scaled), 0, 255).astype(np.uint8)
    return Image.fromarray(gray).convert("RGB")


def _read_bytes(path: str | os.PathLike[str]) -> bytes:
    try:
        # A FIFO or device named as an image is refused, not read (it would hang or never end).
        return read_regular_bytes(path)
    except FileNotFoundError as exc:
        raise ImageReadError("missing_file", path, "the image file does not exist") from exc
    except InputError as exc:
        kind = str(exc).removeprefix(f"{path} is ").split(",", 1)[0]
        raise ImageReadError(
            "unreadable_image", path, f"the path is {kind}, not an image file"
        ) from exc
    except IsADirectoryError as exc:
        raise ImageReadError(
            "unreadable_image", path, "the path is a directory, not an image file"
        ) from exc
    except OSError as exc:
        raise ImageReadError(
            "unreadable_image", path, f"the file cannot be read ({exc.strerror or exc})"
        ) from exc


def _open_checked(data: bytes, name: str, max_pixels: int) -> Image.Image:
    try:
        image = Image.open(io.BytesIO(data))
    except Image.DecompressionBombError as exc:
        raise ImageReadError(
            "decompression_bomb", name, _bomb_message(str(exc), max_pixels)
        ) from exc
    except UnidentifiedImageError as exc:
        raise ImageReadError(
            "unreadable_image",
            name,
            "not an image Pillow can read (JPEG, PNG, WebP, TIFF, BMP ...)",
        ) from exc
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        if isinstance(exc, EOFError) or "truncated" in str(exc).lower():
            raise ImageReadError(
                "truncated_image",
                name,
                f"the image file is cut short inside its header ({exc or 'unexpected end'})",
            ) from exc
        raise ImageReadError(
            "unreadable_image", name, f"the image header cannot be read ({exc})"
        ) from exc
    width, height = image.size
    # Checked before any pixel is decoded: the header alone says how much memory decoding would take.
    if width * height > max_pixels:
        raise ImageReadError(
            "decompression_bomb",
            name,
            _bomb_message(
                f"the header declares {width} x {height} = {width * height:,} pixels", max_pixels
            ),
        )
    return image


def _bomb_message(detail: str, max_pixels: int) -> str:
    return (
        f"refused as a possible decompression bomb: {detail}, more than the limit of {max_pixels:,} pixels; "
        "if it is genuine, resize it (a face needs far fewer pixels); no config setting raises the limit"
    )


def check_image(
    root: Path, relative: str, *, max_pixels: int = DEFAULT_MAX_PIXELS, decode: bool = True
) -> ImageCheck:
    """Check one image under ``root``: it exists, and (``decode``) it decodes fully to RGB."""
    path = root / relative
    try:
        data = _read_bytes(path)
    except ImageReadError as exc:
        return ImageCheck(path=relative, error_kind=exc.kind, error=exc.reason)
    sha = hashlib.sha256(data).hexdigest()
    if not decode:
        return ImageCheck(path=relative, sha256=sha)
    try:
        # Mode and size of the file itself, before conversion, for the report.
        with Image.open(io.BytesIO(data)) as probe:
            mode = probe.mode
    except (OSError, SyntaxError, ValueError, EOFError, Image.DecompressionBombError):
        mode = None
    try:
        image, conversion = decode_face_image(data, name=str(path), max_pixels=max_pixels)
    except ImageReadError as exc:
        return ImageCheck(
            path=relative, sha256=sha, mode=mode, error_kind=exc.kind, error=exc.reason
        )
    return ImageCheck(
        path=relative,
        sha256=sha,
        width=image.width,
        height=image.height,
        mode=mode,
        conversion=conversion,
    )


def check_images(
    root: Path,
    paths: Iterable[str],
    *,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    decode: bool = True,
    progress: bool = True,
    workers: int | None = None,
) -> dict[str, ImageCheck]:
    """Check many images in a thread pool (Pillow decodes without the GIL), with a progress bar."""
    unique = list(dict.fromkeys(paths))
    if workers is None:
        workers = min(16, 2 * (os.cpu_count() or 1))

    def one(relative: str) -> ImageCheck:
        return check_image(root, relative, max_pixels=max_pixels, decode=decode)

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        results = tqdm(
            pool.map(one, unique),
            total=len(unique),
            desc="checking images" if decode else "reading images",
            unit="img",
            disable=not progress,
        )
        return {check.path: check for check in results}
