"""Where a face sits in its image: the landmarks the occlusions and the shadow are placed by.

Occluders only mean something when they cover the right part of the face: sunglasses cover
the eyes, a mask the mouth and nose, a cap brim the forehead. Every geometry-aware
perturbation therefore receives a :class:`FaceGeometry` in *normalised* image coordinates
(0..1, origin top left, y down), so one definition serves any image size.

Where the geometry comes from, per data set:

- ``synthetic``: the renderer knows its landmarks exactly (``faceaudit.data.synthetic_draw.
  landmarks``), including the head's roll, so every face gets its own geometry.
- ``fairface``: FairFace crops are dlib-aligned, so a fixed template serves. ``FAIRFACE_025``
  was read off the shared FairFace validation sample (padding 0.25, the main release): eye
  centres at (0.35, 0.31) and (0.65, 0.31), nose tip 0.50, mouth 0.64, chin 0.85. The 1.25-
  padding release shows a smaller face: ``FAIRFACE_125`` shrinks the template about the centre
  by 1.5/3.5 (the ratio of the two crops' widths around the same aligned face).
- anything else: ``CENTRED`` (a frontal face filling the middle of the crop) is assumed and the
  robustness section says so in its method notes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace


@dataclass(frozen=True)
class FaceGeometry:
    """Face landmarks in normalised image coordinates, upright face before ``roll``.

    ``roll_deg`` is the head's in-plane rotation, counter-clockwise as seen in the image,
    about ``(cx, chin_y)``: shapes are laid out on the upright face and then rotated with it.
    """

    cx: float
    eye_y: float
    eye_dx: float  # half the distance between the eye centres
    nose_y: float
    mouth_y: float
    chin_y: float
    top_y: float  # top of the forehead (hairline)
    half_width: float  # half the face's width at the cheeks
    roll_deg: float = 0.0

    def to_image(self, x: float, y: float) -> tuple[float, float]:
        """A point laid out on the upright face, rotated with the head (normalised coords)."""
        theta = math.radians(self.roll_deg)
        dx, dy = x - self.cx, y - self.chin_y
        return (
            self.cx + dx * math.cos(theta) + dy * math.sin(theta),
            self.chin_y - dx * math.sin(theta) + dy * math.cos(theta),
        )

    def band(self, x0: float, y0: float, x1: float, y1: float) -> list[tuple[float, float]]:
        """The four corners of an upright-face rectangle, rotated with the head."""
        return [self.to_image(x, y) for x, y in ((x0, y0), (x1, y0), (x1, y1), (x0, y1))]

    def scaled(self, factor: float, centre: tuple[float, float] = (0.5, 0.5)) -> FaceGeometry:
        """The same face shrunk (factor < 1) or grown about ``centre``."""
        ox, oy = centre

        def sx(x: float) -> float:
            return ox + (x - ox) * factor

        def sy(y: float) -> float:
            return oy + (y - oy) * factor

        return replace(
            self,
            cx=sx(self.cx),
            eye_y=sy(self.eye_y),
            eye_dx=self.eye_dx * factor,
            nose_y=sy(self.nose_y),
            mouth_y=sy(self.mouth_y),
            chin_y=sy(self.chin_y),
            top_y=sy(self.top_y),
            half_width=self.half_width * factor,
        )


FAIRFACE_025 = FaceGeometry(
    cx=0.5, eye_y=0.31, eye_dx=0.15, nose_y=0.50, mouth_y=0.64, chin_y=0.85, top_y=0.02, half_width=0.36
)
FAIRFACE_125 = FAIRFACE_025.scaled(1.5 / 3.5)
CENTRED = FaceGeometry(
    cx=0.5, eye_y=0.42, eye_dx=0.13, nose_y=0.55, mouth_y=0.66, chin_y=0.80, top_y=0.18, half_width=0.28
)

TEMPLATES: dict[str, FaceGeometry] = {
    "fairface": FAIRFACE_025,
    "fairface-1.25": FAIRFACE_125,
    "centred": CENTRED,
}


def synthetic_geometries(config: object) -> dict[str, FaceGeometry]:
    """The exact geometry of every face of a synthetic set, keyed by face id.

    Planning is cheap (no pixels are drawn): 3,000 faces take well under a second.
    """
    from faceaudit.data.synthetic_draw import landmarks
    from faceaudit.data.synthetic_plan import plan_faces

    return {spec.id: FaceGeometry(**landmarks(spec)) for spec in plan_faces(config)}  # type: ignore[arg-type]
