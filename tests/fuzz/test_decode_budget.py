"""Decoding threads share one pixel budget (issue #13, item 7 of "what broke").

Up to 16 reader threads, each allowed an 89-megapixel image, could hold several GB of pixels
at once. Here the budget is shrunk to twice one test image and 8 threads check 8 images: at
no moment may more than the budget be decoding.
"""

from __future__ import annotations

import threading
import time

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
