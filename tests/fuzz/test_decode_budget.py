"""Decoding threads share one pixel budget (issue #13, item 7 of "what broke").

Up to 16 reader threads, each allowed an 89-megapixel image, could hold several GB of pixels
at once. Here the budget is shrunk to twice one test image and 8 threads check 8 images: at
no moment may more than the budget be decoding. Every place that decodes an image (data
checks, the hf chat backend, the model base, the perturbation stage, the contamination
check) goes through ``faceaudit.data.images``: an oversize header is refused before decoding.
"""

from __future__ import annotations

import pickle
import threading
import time

import pytest
from PIL import Image, ImageFile

from faceaudit.data import images

SIDE = 300  # 90,000 pixels per image


def test_concurrent_decodes_stay_within_the_pixel_budget(tmp_path, monkeypatch):
    for i in range(8):
        Image.new("RGB", (SIDE, SIDE), (i * 30, 0, 0)).save(tmp_path / f"{i}.png")
    budget = 2 * SIDE * SIDE
    monkeypatch.setattr(images, "DECODE_PIXEL_BUDGET", budget, raising=False)
    lock = threading.Lock()
    state = {"now": 0, "peak": 0, "loads": 0}
    real_load = ImageFile.ImageFile.load

    def counting_load(self):
        if getattr(self, "_counted", False):
            return real_load(self)
        self._counted = True
        pixels = self.size[0] * self.size[1]
        with lock:
            state["now"] += pixels
            state["peak"] = max(state["peak"], state["now"])
            state["loads"] += 1
        try:
            time.sleep(0.05)  # long enough for every thread to be decoding at once if allowed
            return real_load(self)
        finally:
            with lock:
                state["now"] -= pixels

    monkeypatch.setattr(ImageFile.ImageFile, "load", counting_load)
    checks = images.check_images(tmp_path, [f"{i}.png" for i in range(8)], workers=8, progress=False)
    assert all(c.ok for c in checks.values()) and state["loads"] == 8
    assert state["peak"] == budget  # two at a time: the budget is used, and never exceeded


def test_an_image_larger_than_the_budget_decodes_alone(tmp_path, monkeypatch):
    Image.new("RGB", (SIDE, SIDE)).save(tmp_path / "big.png")
    monkeypatch.setattr(images, "DECODE_PIXEL_BUDGET", 1000, raising=False)
    image, conversion = images.open_face_image(tmp_path / "big.png")
    assert image.size == (SIDE, SIDE) and conversion is None  # waits for an empty budget, never forever


# 12,000 x 12,000 = 144 Mpx: above faceaudit's limit (89.5 Mpx) but below twice Pillow's own
# warning limit, where Pillow merely warns and decoding allocates ~430 MB before it finds the
# pixel data missing. Every decode must refuse it from the header, before any pixel is read.
OVERSIZE = 12_000


def _oversize_png(path):
    from test_image_properties import png_header_only

    path.write_bytes(png_header_only(OVERSIZE, OVERSIZE))
    return path


def _no_pixel_decoding(monkeypatch):
    loads = []
    real_load = ImageFile.ImageFile.load

    def recording_load(self):
        loads.append(self.size)
        return real_load(self)

    monkeypatch.setattr(ImageFile.ImageFile, "load", recording_load)
    return loads


def test_an_oversize_image_is_refused_before_decoding_in_the_perturbation_stage(tmp_path, monkeypatch):
    from faceaudit.perturb.geometry import CENTRED
    from faceaudit.perturb.stage import _Job, perturb_chunk

    path = _oversize_png(tmp_path / "huge.png")
    loads = _no_pixel_decoding(monkeypatch)
    job = _Job(paths=(str(path),), image_ids=("huge",), geometries=(CENTRED,), perturbation="underexposure",
               severity=3, seed=0)
    with pytest.raises(images.ImageReadError, match=r"huge\.png: refused as a possible decompression bomb: "
                       r"the header declares 12000 x 12000 = 144,000,000 pixels") as caught:
        perturb_chunk(job)
    assert caught.value.kind == "decompression_bomb" and loads == []
    # A worker process hands the error back through pickle: it must come back whole.
    again = pickle.loads(pickle.dumps(caught.value))
    assert (type(again), again.kind, str(again)) == (images.ImageReadError, "decompression_bomb", str(caught.value))


def test_an_oversize_image_is_refused_before_decoding_by_a_model_backend(tmp_path, monkeypatch):
    from faceaudit.data.records import McqItem
    from faceaudit.errors import InputError
    from faceaudit.models.base import load_batch_images

    _oversize_png(tmp_path / "huge.png")
    loads = _no_pixel_decoding(monkeypatch)
    item = McqItem(item_id="q1", image_ids=["huge"], image_paths=["huge.png"], task="age", question="Age?",
                   options=["young", "old"], answer="A", groups={})
    with pytest.raises(InputError, match=r"item 'q1': cannot use image .*huge\.png: refused as a possible "
                       r"decompression bomb: the header declares 12000 x 12000"):
        load_batch_images([item], tmp_path)
    assert loads == []


def test_an_oversize_image_is_refused_before_decoding_by_the_contamination_check(tmp_path, monkeypatch):
    from faceaudit.contamination.hashing import fingerprint
    from faceaudit.errors import InputError

    path = _oversize_png(tmp_path / "huge.png")
    loads = _no_pixel_decoding(monkeypatch)
    with pytest.raises(InputError, match=r"huge\.png: cannot read the image \(refused as a possible decompression bomb"):
        fingerprint(path)
    assert loads == []
