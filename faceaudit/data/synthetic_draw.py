"""Draw one planned face: PIL primitives on a supersampled canvas, then lighting in numpy.

Coordinates are in "design units": the canvas is 100 x 100 units whatever its
pixel size, so the same plan gives the same face at 64 or 224 pixels. The head
(hair, ears, face, features, accessories) is drawn on its own transparent layer
and rotated about the chin for head tilt; background, shoulders and neck stay
upright. Drawing at 2-4x the output size and box-reducing anti-aliases the edges.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
from PIL import Image, ImageDraw

from faceaudit.data.synthetic_plan import RGB, FaceSpec


def supersampling(size: int) -> int:
    # Enough canvas pixels that 1-unit strokes survive, few enough to stay fast at 224 px.
    return 4 if size <= 80 else 3 if size <= 160 else 2


def _shade(rgb: tuple[float, float, float] | RGB, factor: float) -> RGB:
    return (
        int(min(255.0, rgb[0] * factor)),
        int(min(255.0, rgb[1] * factor)),
        int(min(255.0, rgb[2] * factor)),
    )


def _mix(a: tuple[float, float, float] | RGB, b: tuple[float, float, float] | RGB, t: float) -> RGB:
    return (
        int(a[0] * (1 - t) + b[0] * t),
        int(a[1] * (1 - t) + b[1] * t),
        int(a[2] * (1 - t) + b[2] * t),
    )


class _Pen:
    """ImageDraw in design units."""

    def __init__(self, image: Image.Image, unit: float) -> None:
        self.draw = ImageDraw.Draw(image)
        self.u = unit

    def _box(self, x0: float, y0: float, x1: float, y1: float) -> list[float]:
        u = self.u
        return [x0 * u, y0 * u, max(x0, x1) * u, max(y0, y1) * u]

    def ellipse(self, cx: float, cy: float, rx: float, ry: float, fill: RGB) -> None:
        self.draw.ellipse(self._box(cx - rx, cy - ry, cx + rx, cy + ry), fill=fill)

    def ring(self, cx: float, cy: float, rx: float, ry: float, colour: RGB, width: float) -> None:
        self.draw.ellipse(
            self._box(cx - rx, cy - ry, cx + rx, cy + ry),
            outline=colour,
            width=max(1, round(width * self.u)),
        )

    def chord(
        self, cx: float, cy: float, rx: float, ry: float, start: float, end: float, fill: RGB
    ) -> None:
        self.draw.chord(self._box(cx - rx, cy - ry, cx + rx, cy + ry), start, end, fill=fill)

    def arc(
        self,
        cx: float,
        cy: float,
        rx: float,
        ry: float,
        start: float,
        end: float,
        colour: RGB,
        width: float,
    ) -> None:
        self.draw.arc(
            self._box(cx - rx, cy - ry, cx + rx, cy + ry),
            start,
            end,
            fill=colour,
            width=max(1, round(width * self.u)),
        )

    def rect(
        self, x0: float, y0: float, x1: float, y1: float, fill: RGB, radius: float = 0.0
    ) -> None:
        self.draw.rounded_rectangle(self._box(x0, y0, x1, y1), radius=radius * self.u, fill=fill)

    def frame(
        self, x0: float, y0: float, x1: float, y1: float, colour: RGB, width: float, radius: float
    ) -> None:
        self.draw.rounded_rectangle(
            self._box(x0, y0, x1, y1),
            radius=radius * self.u,
            outline=colour,
            width=max(1, round(width * self.u)),
        )

    def line(self, points: list[tuple[float, float]], colour: RGB, width: float) -> None:
        self.draw.line(
            [(x * self.u, y * self.u) for x, y in points],
            fill=colour,
            width=max(1, round(width * self.u)),
            joint="curve",
        )

    def polygon(self, points: list[tuple[float, float]], fill: RGB) -> None:
        self.draw.polygon([(x * self.u, y * self.u) for x, y in points], fill=fill)


class _Geometry:
    """Where the features of this face sit, in design units."""

    def __init__(self, spec: FaceSpec) -> None:
        age, male = spec.true["age"], spec.true["gender"] == "male"
        self.child = age == "child"
        self.male = male
        self.cx = 50.0 + spec.face_dx
        self.cy = 43.0 + spec.face_dy
        if self.child:
            # Rounder face with features set lower and larger eyes.
            self.a, self.b = 17.5 * spec.width_scale, 19.5 * spec.height_scale
            self.eye_y = self.cy + 0.12 * self.b
            self.ew, self.eh = 0.27 * self.a, 0.15 * self.b
        else:
            self.a = (18.5 if male else 17.0) * spec.width_scale
            self.b = (23.5 if male else 22.5) * spec.height_scale
            self.eye_y = self.cy - 0.02 * self.b
            self.ew, self.eh = 0.22 * self.a, 0.105 * self.b
        self.eye_dx = 0.4 * self.a
        self.nose_y = self.cy + (0.38 if self.child else 0.33) * self.b
        self.mouth_y = self.cy + (0.62 if self.child else 0.6) * self.b
        self.chin = self.cy + self.b
        self.light_x = 1.0 if math.cos(spec.light_angle) >= 0 else -1.0


def landmarks(spec: FaceSpec) -> dict[str, float]:
    """The drawn face's landmarks in normalised image coordinates (0..1, y down).

    What the perturbation stage places occluders by (``faceaudit.perturb.geometry``):
    the upright face's eye line, nose tip, mouth, chin, forehead top and cheek
    half-width, plus the roll the head is drawn with (counter-clockwise, about the chin).
    """
    g = _Geometry(spec)
    return {
        "cx": g.cx / 100.0,
        "eye_y": g.eye_y / 100.0,
        "eye_dx": g.eye_dx / 100.0,
        "nose_y": g.nose_y / 100.0,
        "mouth_y": g.mouth_y / 100.0,
        "chin_y": g.chin / 100.0,
        "top_y": (g.cy - g.b) / 100.0,
        "half_width": g.a / 100.0,
        "roll_deg": float(spec.tilt),
    }


def _background(spec: FaceSpec, canvas: int) -> Image.Image:
    corners = Image.new("RGB", (2, 2))
    corners.putdata(list(spec.background))
    return corners.resize((canvas, canvas), Image.Resampling.BILINEAR)


def _torso(pen: _Pen, g: _Geometry, spec: FaceSpec) -> None:
    skin = spec.skin_rgb
    half = 28.0 if g.child else 40.0 if g.male else 35.0
    top = g.chin + (6.0 if g.child else 8.0)
    neck = (0.36 if g.child else 0.5 if g.male else 0.42) * g.a
    pen.ellipse(g.cx, top + 30.0, half, 30.0, spec.clothing_rgb)
    pen.ellipse(g.cx, top + 30.0 + 4.0, half * 0.9, 26.0, _shade(spec.clothing_rgb, 0.85))
    pen.rect(g.cx - neck, g.cy + 0.5 * g.b, g.cx + neck, top + 2.0, _shade(skin, 0.78))
    pen.chord(g.cx, top, neck * 1.35, 5.0, 0, 180, _shade(skin, 0.72))
    pen.arc(g.cx, top, neck * 1.45, 5.6, 0, 180, _shade(spec.clothing_rgb, 0.7), 1.2)


def _back_hair(pen: _Pen, g: _Geometry, spec: FaceSpec) -> None:
    style, hair = spec.true["hair"], _shade(spec.hair_rgb, 0.82)
    cx, cy, a, b = g.cx, g.cy, g.a, g.b
    if style == "long":
        pen.ellipse(cx, cy - 0.4 * b, 1.14 * a, 0.72 * b, hair)
        pen.rect(cx - 1.22 * a, cy - 0.4 * b, cx + 1.22 * a, cy + 1.45 * b, hair, radius=0.5 * a)
    elif style == "curly":
        for k in range(15):
            angle = math.radians(160 + 220 * k / 14)
            pen.ellipse(
                cx + 1.02 * a * math.cos(angle),
                cy - 0.1 * b + 1.0 * b * math.sin(angle),
                0.32 * a,
                0.3 * a,
                hair,
            )
        pen.ellipse(cx, cy - 0.35 * b, 1.1 * a, 0.8 * b, hair)
    elif style == "bald":
        pen.ellipse(cx, cy - 0.12 * b, 1.05 * a, 0.42 * b, hair)
    else:
        pen.ellipse(cx, cy - 0.42 * b, 1.08 * a, 0.72 * b, hair)
        if style == "bun" and spec.true["helmet"] != "yes":
            pen.ellipse(cx, cy - 1.12 * b, 0.38 * a, 0.3 * a, hair)


def _face(pen: _Pen, g: _Geometry, spec: FaceSpec) -> None:
    skin = spec.skin_rgb
    cx, cy, a, b = g.cx, g.cy, g.a, g.b
    # Ears sit at eye level, a little behind the cheek line.
    for side in (-1.0, 1.0):
        ex = cx + side * 0.97 * a
        pen.ellipse(ex, g.eye_y + 0.12 * b, 0.17 * a, 0.21 * b, _shade(skin, 0.86))
        pen.ellipse(
            ex + side * 0.02 * a, g.eye_y + 0.12 * b, 0.08 * a, 0.12 * b, _shade(skin, 0.68)
        )
        if spec.earrings:
            pen.ellipse(ex, g.eye_y + 0.34 * b, 0.07 * a, 0.07 * a, (212, 175, 55))
    # Shading: a dark rim and lighter nested ellipses shifted toward the light.
    steps = 6
    pen.ellipse(cx, cy, a, b, _shade(skin, 0.74))
    if g.male and not g.child:
        pen.ellipse(cx, cy + 0.5 * b, 0.9 * a, 0.5 * b, _shade(skin, 0.74))
    for k in range(1, steps + 1):
        t = k / steps
        shrink = 1.0 - 0.05 * k
        pen.ellipse(
            cx + g.light_x * 0.035 * a * k,
            cy - 0.02 * b * k,
            a * shrink,
            b * shrink,
            _shade(skin, 0.72 + 0.28 * t),
        )


def _wrinkles(pen: _Pen, g: _Geometry, spec: FaceSpec) -> None:
    age = spec.true["age"]
    if age not in ("middle-aged", "older"):
        return
    cx, a, b = g.cx, g.a, g.b
    line = _shade(spec.skin_rgb, 0.62)
    width = 0.5 if age == "older" else 0.35
    for side in (-1.0, 1.0):
        # Nasolabial folds from the nose wings to the mouth corners.
        pen.line(
            [
                (cx + side * 0.17 * a, g.nose_y),
                (cx + side * 0.32 * a, (g.nose_y + g.mouth_y) / 2),
                (cx + side * 0.38 * a, g.mouth_y + 0.06 * b),
            ],
            line,
            width,
        )
    if age != "older":
        return
    for k in range(3):
        y = g.cy - (0.52 - 0.08 * k) * b
        pen.arc(cx, y + 0.2 * b, 0.45 * a, 0.2 * b, 230, 310, line, 0.45)
    for side in (-1.0, 1.0):
        ex = cx + side * (g.eye_dx + g.ew * 1.25)
        for dy in (-0.06, 0.0, 0.06):
            pen.line(
                [(ex, g.eye_y + dy * b * 0.5), (ex + side * 0.12 * a, g.eye_y + dy * b * 1.5)],
                line,
                0.35,
            )
        # Bags under the eyes.
        pen.arc(
            cx + side * g.eye_dx, g.eye_y + 0.06 * b, g.ew * 1.0, g.eh * 1.4, 30, 150, line, 0.35
        )


def _eyes(pen: _Pen, g: _Geometry, spec: FaceSpec) -> None:
    skin = spec.skin_rgb
    smiling = spec.true["expression"] == "smiling"
    eh = g.eh * (0.68 if smiling else 1.0)
    ew = g.ew
    brow_colour = (
        _shade(spec.hair_rgb, 0.75)
        if spec.true["hair_colour"] not in ("grey", "white")
        else (_shade(spec.hair_rgb, 0.7))
    )
    if spec.true["hair"] == "bald" or spec.true["hair_colour"] == "blonde":
        brow_colour = _mix(brow_colour, _shade(skin, 0.45), 0.5)
    lid = _mix(_shade(skin, 0.35), (25, 18, 15), 0.6)
    for side in (-1.0, 1.0):
        ex, ey = g.cx + side * g.eye_dx, g.eye_y
        pen.ellipse(ex, ey - 0.2 * eh, ew * 1.25, eh * 1.5, _shade(skin, 0.88))  # socket shadow
        if spec.true["glasses"] == "yes":
            _lens(pen, g, spec, ex)
        pen.ellipse(ex, ey, ew, eh, (238, 236, 230))
        r = min(ew * 0.55, g.eh * 0.95)
        top, bottom = max(ey - r, ey - eh * 0.92), min(ey + r, ey + eh * 0.92)
        pen.draw.ellipse(pen._box(ex - r, top, ex + r, bottom), fill=spec.eye_rgb)
        pr = r * 0.45
        pen.draw.ellipse(
            pen._box(ex - pr, max(ey - pr, top), ex + pr, min(ey + pr, bottom)), fill=(12, 10, 10)
        )
        pen.ellipse(ex + 0.3 * r, ey - 0.3 * min(r, eh), 0.2 * r, 0.2 * r, (250, 250, 250))
        pen.arc(ex, ey, ew, eh, 185, 355, lid, 1.1 if spec.true["gender"] == "female" else 0.8)
        if spec.true["gender"] == "female" and not g.child:
            pen.line(
                [(ex + side * ew * 0.85, ey - eh * 0.45), (ex + side * ew * 1.25, ey - eh * 0.9)],
                lid,
                0.7,
            )
        pen.arc(ex, ey, ew * 0.95, eh * 1.05, 20, 160, _shade(skin, 0.7), 0.4)
        # Brows: thicker for male presentation, higher and thinner for female.
        by = ey - g.eh - (0.1 if spec.true["gender"] == "female" else 0.07) * g.b
        thick = 1.7 if g.male and not g.child else 1.0
        pen.arc(ex, by + 0.16 * g.b, ew * 1.3, 0.18 * g.b, 205, 335, brow_colour, thick)


def _nose(pen: _Pen, g: _Geometry, spec: FaceSpec) -> None:
    skin, cx, a, b, ny = spec.skin_rgb, g.cx, g.a, g.b, g.nose_y
    scale = 0.8 if g.child else 1.0
    shadow_x = -g.light_x
    pen.line(
        [
            (cx + shadow_x * 0.06 * a, g.eye_y + 0.05 * b),
            (cx + shadow_x * 0.1 * a * scale, ny - 0.04 * b),
        ],
        _shade(skin, 0.8),
        0.7,
    )
    pen.ellipse(cx, ny - 0.02 * b, 0.13 * a * scale, 0.08 * b * scale, _shade(skin, 0.9))
    pen.ellipse(
        cx + g.light_x * 0.02 * a,
        ny - 0.04 * b,
        0.07 * a * scale,
        0.045 * b * scale,
        _shade(skin, 1.06),
    )
    for side in (-1.0, 1.0):
        pen.ellipse(
            cx + side * 0.075 * a * scale,
            ny + 0.02 * b,
            0.045 * a * scale,
            0.025 * b,
            _shade(skin, 0.5),
        )


def _beard_outline(g: _Geometry, grow: float) -> list[tuple[float, float]]:
    """The jaw below the cheek line: sideburn, diagonally to the mouth corner, round the chin."""
    cx, cy, a, b = g.cx, g.cy, g.a, g.b
    outer = [
        (cx + grow * a * math.cos(math.radians(t)), cy + grow * b * math.sin(math.radians(t)))
        for t in range(-8, 189, 8)
    ]
    inner = [
        (cx - 0.96 * a, cy - 0.08 * b),
        (cx - 0.7 * a, cy + 0.3 * b),
        (cx - 0.42 * a, g.mouth_y - 0.12 * b),
        (cx, g.mouth_y - 0.16 * b),
        (cx + 0.42 * a, g.mouth_y - 0.12 * b),
        (cx + 0.7 * a, cy + 0.3 * b),
        (cx + 0.96 * a, cy - 0.08 * b),
    ]
    return outer + inner


def _facial_hair(pen: _Pen, g: _Geometry, spec: FaceSpec, kind: str) -> None:
    if kind == "beard":
        pen.polygon(_beard_outline(g, 1.05), spec.hair_rgb)
    elif kind == "stubble":
        pen.polygon(_beard_outline(g, 1.0), _mix(_shade(spec.skin_rgb, 0.88), spec.hair_rgb, 0.2))
    else:
        pen.chord(g.cx, g.mouth_y - 0.05 * g.b, 0.36 * g.a, 0.12 * g.b, 180, 360, spec.hair_rgb)


def _mouth(pen: _Pen, g: _Geometry, spec: FaceSpec) -> None:
    cx, a, b, my = g.cx, g.a, g.b, g.mouth_y
    lip = spec.lip_rgb
    female = spec.true["gender"] == "female"
    if spec.true["expression"] == "smiling":
        mw = (0.3 if g.child else 0.4) * a
        top = my - 0.03 * b
        pen.chord(cx, top, mw, 0.17 * b, 0, 180, (95, 28, 32))
        pen.chord(cx, top, mw * 0.86, 0.075 * b, 0, 180, (245, 242, 236))
        pen.arc(cx, top, mw * 1.02, 0.18 * b, 10, 170, lip, 1.3 if female else 0.9)
        pen.line([(cx - mw, top), (cx + mw, top)], lip, 0.8)
        for side in (-1.0, 1.0):
            pen.arc(
                cx + side * mw,
                top - 0.03 * b,
                0.06 * a,
                0.05 * b,
                0 if side > 0 else 90,
                90 if side > 0 else 180,
                _shade(spec.skin_rgb, 0.6),
                0.5,
            )
    else:
        mw = (0.24 if g.child else 0.31) * a
        fuller = 1.35 if female else 1.0
        pen.chord(cx, my, mw, 0.07 * b * fuller, 180, 360, _shade(lip, 0.88))
        pen.chord(cx, my, mw * 0.88, 0.085 * b * fuller, 0, 180, lip)
        pen.line(
            [
                (cx - mw, my),
                (cx - 0.3 * mw, my + 0.01 * b),
                (cx + 0.3 * mw, my + 0.01 * b),
                (cx + mw, my),
            ],
            _shade(lip, 0.5),
            0.55,
        )


def _front_hair(pen: _Pen, g: _Geometry, spec: FaceSpec) -> None:
    style, hair = spec.true["hair"], spec.hair_rgb
    cx, cy, a, b = g.cx, g.cy, g.a, g.b
    left, right = spec.hair_part
    if style == "bald":
        pen.ellipse(
            cx + g.light_x * 0.2 * a, cy - 0.7 * b, 0.3 * a, 0.12 * b, _shade(spec.skin_rgb, 1.08)
        )
        return
    # A chord of a head-sized ellipse leaves a slanted hairline: a side part.
    pen.chord(cx, cy - 0.04 * b, 1.05 * a, 1.05 * b, 180 + left, 360 - right, hair)
    if style == "curly":
        for k in range(9):
            angle = math.radians(180 + left + (180 - left - right) * k / 8)
            pen.ellipse(
                cx + 0.98 * a * math.cos(angle),
                cy - 0.04 * b + 1.0 * b * math.sin(angle) + 0.08 * b,
                0.16 * a,
                0.14 * a,
                hair,
            )
    elif style == "long":
        for side in (-1.0, 1.0):
            pen.ellipse(cx + side * 0.95 * a, cy - 0.05 * b, 0.17 * a, 0.62 * b, hair)
    elif style == "short" and g.male and not g.child:
        for side in (-1.0, 1.0):
            pen.rect(
                cx + side * 0.97 * a - 0.08 * a,
                cy - 0.5 * b,
                cx + side * 0.97 * a + 0.08 * a,
                g.eye_y + 0.05 * b,
                hair,
            )
    pen.arc(cx, cy - 0.04 * b, 0.8 * a, 0.95 * b, 230, 280, _shade(hair, 1.3), 0.9)


def _lens_box(g: _Geometry) -> tuple[float, float, float]:
    return g.ew * 1.6, max(g.eh * 1.75, 0.16 * g.b), g.eye_y + 0.01 * g.b


def _lens(pen: _Pen, g: _Geometry, spec: FaceSpec, ex: float) -> None:
    """Skin seen through a lens with a cool reflection; drawn under the eye itself."""
    gw, gh, y = _lens_box(g)
    tint = _mix(_shade(spec.skin_rgb, 0.9), (190, 215, 235), 0.45)
    if spec.round_frames:
        pen.ellipse(ex, y, gw, gh, tint)
    else:
        pen.rect(ex - gw, y - gh, ex + gw, y + gh, tint, radius=0.35 * gh)
    # A glare streak across the upper lens, as on most photographed glasses.
    glare = _mix(tint, (255, 255, 255), 0.6)
    pen.polygon(
        [
            (ex - 0.7 * gw, y - 0.25 * gh),
            (ex - 0.2 * gw, y - 0.85 * gh),
            (ex + 0.15 * gw, y - 0.85 * gh),
            (ex - 0.45 * gw, y - 0.05 * gh),
        ],
        glare,
    )


def _glasses(pen: _Pen, g: _Geometry, spec: FaceSpec) -> None:
    colour, width = spec.frame_rgb, 2.0
    gw, gh, y = _lens_box(g)
    for side in (-1.0, 1.0):
        ex = g.cx + side * g.eye_dx
        if spec.round_frames:
            pen.ring(ex, y, gw, gh, colour, width)
        else:
            pen.frame(ex - gw, y - gh, ex + gw, y + gh, colour, width, radius=0.35 * gh)
        outer = ex + side * gw
        pen.line(
            [(outer, y - 0.3 * gh), (g.cx + side * 0.99 * g.a, y - 0.1 * gh)], colour, width * 0.8
        )
    inner = g.eye_dx - gw
    pen.arc(g.cx, y - 0.1 * gh, inner, 0.25 * gh, 200, 340, colour, width * 0.8)


def _helmet(pen: _Pen, g: _Geometry, spec: FaceSpec) -> None:
    colour = spec.helmet_rgb
    cx, a, b = g.cx, g.a, g.b
    base = g.cy - 0.42 * b
    pen.chord(cx, base, 1.12 * a, 0.82 * b, 180, 360, _shade(colour, 0.8))
    pen.chord(cx + g.light_x * 0.06 * a, base, 1.02 * a, 0.78 * b, 180, 360, colour)
    pen.ellipse(
        cx + g.light_x * 0.4 * a,
        base - 0.5 * b,
        0.25 * a,
        0.14 * b,
        _mix(colour, (255, 255, 255), 0.45),
    )
    pen.rect(
        cx - 0.13 * a, base - 0.8 * b, cx + 0.13 * a, base, _shade(colour, 0.9), radius=0.1 * a
    )
    pen.rect(
        cx - 1.32 * a,
        base - 0.05 * b,
        cx + 1.32 * a,
        base + 0.09 * b,
        _shade(colour, 0.72),
        radius=0.06 * b,
    )


@lru_cache(maxsize=8)
def _grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    axis = (np.arange(size, dtype=np.float32) + 0.5) / size - 0.5
    return np.meshgrid(axis, axis)


def _light(image: Image.Image, spec: FaceSpec) -> Image.Image:
    """Overall exposure, a directional ramp and a small white-balance cast."""
    size = image.size[0]
    x, y = _grid(size)
    ramp = 1.0 + spec.light_strength * (
        math.cos(spec.light_angle) * x - math.sin(spec.light_angle) * y
    )
    gain = (ramp * np.float32(spec.exposure))[..., None] * np.asarray(
        spec.white_balance, dtype=np.float32
    )
    pixels = np.asarray(image, dtype=np.float32) * gain
    return Image.fromarray(np.clip(pixels + 0.5, 0, 255).astype(np.uint8), "RGB")


def draw_face(spec: FaceSpec, size: int) -> Image.Image:
    """The RGB face image of ``spec`` at ``size`` x ``size`` pixels."""
    factor = supersampling(size)
    canvas_size = size * factor
    unit = canvas_size / 100.0
    g = _Geometry(spec)

    canvas = _background(spec, canvas_size)
    _torso(_Pen(canvas, unit), g, spec)

    head = Image.new("RGBA", (canvas_size, canvas_size), (0, 0, 0, 0))
    pen = _Pen(head, unit)
    _back_hair(pen, g, spec)
    _face(pen, g, spec)
    _wrinkles(pen, g, spec)
    _eyes(pen, g, spec)
    facial_hair = spec.true["facial_hair"]
    if facial_hair in ("beard", "stubble"):
        _facial_hair(pen, g, spec, facial_hair)
    _nose(pen, g, spec)
    _mouth(pen, g, spec)
    if facial_hair in ("beard", "moustache"):
        _facial_hair(pen, g, spec, "moustache")
    _front_hair(pen, g, spec)
    if spec.true["glasses"] == "yes":
        _glasses(pen, g, spec)
    if spec.true["helmet"] == "yes":
        _helmet(pen, g, spec)
    if spec.tilt:
        head = head.rotate(
            spec.tilt, resample=Image.Resampling.BILINEAR, center=(g.cx * unit, g.chin * unit)
        )
    canvas.paste(head, (0, 0), head)
    return _light(canvas.reduce(factor), spec)
