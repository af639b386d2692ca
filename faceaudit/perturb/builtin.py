"""The built-in perturbations: lighting, occlusion and capture quality, five severities each.

Every severity is a fixed parameter set (equal range endpoints for albumentations, ``p=1``),
chosen so that severity 1 is a mild, everyday condition and severity 5 a severe but still
plausible one, in the spirit of ImageNet-C's five levels (Hendrycks & Dietterich 2019). The
tables below are the documentation: they are also written into ``audit.json``.

lighting (photometric; albumentations where it has the transform)
    underexposure   RandomBrightnessContrast, brightness -0.15 .. -0.75 (of the max value)
    overexposure    RandomBrightnessContrast, brightness +0.15 .. +0.75
    low_contrast    RandomBrightnessContrast, contrast -0.2 .. -0.9
    gamma           RandomGamma, gamma 1.5 .. 5.0 (darkens mid-tones: a night-shift sensor)
    hard_shadow     a sharp-edged cast shadow through the face centre, one side darkened by
                    25 .. 85 %; the edge's angle (within 30 degrees of vertical) and side are
                    drawn per image. Geometry-placed: albumentations' RandomShadow puts its
                    polygon anywhere in a region and may miss the face.
    side_light      glare from one side at eye level (screen-blended Gaussian glow centred just
                    outside the cheek), strength 0.35 .. 0.95, radius 0.6 .. 1.4 face half-
                    widths; the side is drawn per image. Geometry-placed: albumentations'
                    RandomSunFlare draws its source in a fixed region and mostly misses the face.

occlusion (placed from face geometry except random_patches; grey or dark fills)
    random_patches  CoarseDropout, 2 .. 6 square holes of side 0.08 .. 0.20, mid-grey fill
    eye_band        sunglasses: a dark band over both eyes, height 0.45 .. 1.25 x the eye
                    spacing's half, opacity 0.6 .. 1.0
    lower_face_mask a light-blue surgical mask from the chin up to 30 .. 90 % of the way to
                    the eye line
    upper_face_band a cap brim / helmet: a dark band from above the forehead down to
                    40 .. 120 % of the way from the forehead top to the eye line

capture (sensor and pipeline quality; albumentations)
    blur            GaussianBlur, sigma 1 .. 6 px at 224 px (scaled with the image side)
    noise           GaussNoise, std 0.04 .. 0.25 of the max value, per channel
    jpeg            ImageCompression, JPEG quality 30, 20, 12, 7, 3
    low_resolution  Downscale, scale 0.5 .. 0.12 (area down, linear up)

Fill colours are fixed (mid-grey patches, near-black glasses, light-blue mask, navy brim):
a fixed colour contrasts differently with different skin tones, which is part of what a
real occluder does too; the robustness analysis reports it per group rather than hiding it.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from faceaudit.perturb.geometry import FaceGeometry
from faceaudit.perturb.registry import (
    Params,
    albumentations_apply,
    register_perturbation,
)


def _alb():
    import albumentations as A

    return A


# --- lighting ------------------------------------------------------------------------------


def _brightness(params: Params, size: int):
    b = float(params["brightness"])
    return _alb().RandomBrightnessContrast(brightness_limit=(b, b), contrast_limit=(0.0, 0.0), p=1.0)


def _contrast(params: Params, size: int):
    c = float(params["contrast"])
    return _alb().RandomBrightnessContrast(brightness_limit=(0.0, 0.0), contrast_limit=(c, c), p=1.0)


def _gamma(params: Params, size: int):
    g = float(params["gamma"]) * 100.0  # albumentations takes gamma in percent
    return _alb().RandomGamma(gamma_limit=(g, g), p=1.0)


def _side_light(image: np.ndarray, params: Params, rng: np.random.Generator, g: FaceGeometry) -> np.ndarray:
    h, w = image.shape[:2]
    side = 1.0 if rng.random() < 0.5 else -1.0
    sx, sy = g.to_image(g.cx + side * g.half_width * 1.1, g.eye_y)
    radius = float(params["radius"]) * g.half_width
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    d2 = ((xs + 0.5) / w - sx) ** 2 + ((ys + 0.5) / h - sy) ** 2
    glow = float(params["strength"]) * np.exp(-d2 / (2 * radius * radius))
    # Screen blend: light adds to what is there and saturates at white, as glare does.
    out = 255.0 - (255.0 - image.astype(np.float32)) * (1.0 - glow[..., None])
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


def _hard_shadow(image: np.ndarray, params: Params, rng: np.random.Generator, g: FaceGeometry) -> np.ndarray:
    h, w = image.shape[:2]
    angle = math.radians(float(rng.uniform(-30.0, 30.0)) + g.roll_deg)
    side = 1.0 if rng.random() < 0.5 else -1.0
    px, py = g.to_image(g.cx, (g.eye_y + g.mouth_y) / 2)
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    xs = (xs + 0.5) / w - px
    ys = (ys + 0.5) / h - py
    # Signed distance from the edge line (direction: angle from vertical).
    shaded = side * (xs * math.cos(angle) + ys * math.sin(angle)) > 0
    factor = np.where(shaded, 1.0 - float(params["intensity"]), 1.0).astype(np.float32)
    return np.clip(image.astype(np.float32) * factor[..., None] + 0.5, 0, 255).astype(np.uint8)


# --- occlusion -----------------------------------------------------------------------------


def _coarse_dropout(params: Params, size: int):
    k, s = int(params["holes"]), float(params["side"])
    return _alb().CoarseDropout(
        num_holes_range=(k, k), hole_height_range=(s, s), hole_width_range=(s, s), fill=128, p=1.0
    )


def _fill(image: np.ndarray, polygon: list[tuple[float, float]], colour: tuple[int, int, int], opacity: float) -> np.ndarray:
    h, w = image.shape[:2]
    # 4x sub-pixel precision keeps thin bands on 64 px faces from snapping to whole pixels.
    points = np.array([[round(x * w * 16), round(y * h * 16)] for x, y in polygon], dtype=np.int32)
    mask = np.zeros((h, w), dtype=np.uint8)
    cv2.fillPoly(mask, [points], 255, lineType=cv2.LINE_AA, shift=4)
    alpha = (mask.astype(np.float32) / 255.0 * opacity)[..., None]
    out = image.astype(np.float32) * (1.0 - alpha) + np.array(colour, dtype=np.float32) * alpha
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


def _eye_band(image: np.ndarray, params: Params, rng: np.random.Generator, g: FaceGeometry) -> np.ndarray:
    half = float(params["height"]) * g.eye_dx / 2
    reach = g.eye_dx * 1.75
    polygon = g.band(g.cx - reach, g.eye_y - half, g.cx + reach, g.eye_y + half)
    return _fill(image, polygon, (18, 18, 22), float(params["opacity"]))


def _lower_face_mask(image: np.ndarray, params: Params, rng: np.random.Generator, g: FaceGeometry) -> np.ndarray:
    top = g.chin_y - float(params["reach"]) * (g.chin_y - g.eye_y)
    wide, narrow = g.half_width * 1.05, g.half_width * 0.55
    bottom = g.chin_y + 0.02
    polygon = [
        g.to_image(g.cx - wide, top),
        g.to_image(g.cx + wide, top),
        g.to_image(g.cx + wide, (top + bottom) / 2),
        g.to_image(g.cx + narrow, bottom),
        g.to_image(g.cx - narrow, bottom),
        g.to_image(g.cx - wide, (top + bottom) / 2),
    ]
    return _fill(image, polygon, (150, 195, 225), 1.0)


def _upper_face_band(image: np.ndarray, params: Params, rng: np.random.Generator, g: FaceGeometry) -> np.ndarray:
    start = g.top_y - 0.5 * (g.eye_y - g.top_y)
    bottom = g.top_y + float(params["reach"]) * (g.eye_y - g.top_y)
    wide = g.half_width * 1.35
    return _fill(image, g.band(g.cx - wide, start, g.cx + wide, bottom), (30, 38, 70), 1.0)


# --- capture quality -----------------------------------------------------------------------


def _blur(params: Params, size: int):
    sigma = float(params["sigma_at_224"]) * size / 224.0
    return _alb().GaussianBlur(blur_limit=0, sigma_limit=(sigma, sigma), p=1.0)


def _noise(params: Params, size: int):
    s = float(params["std"])
    return _alb().GaussNoise(std_range=(s, s), mean_range=(0.0, 0.0), per_channel=True, p=1.0)


def _jpeg(params: Params, size: int):
    q = int(params["quality"])
    return _alb().ImageCompression(compression_type="jpeg", quality_range=(q, q), p=1.0)


def _downscale(params: Params, size: int):
    r = float(params["scale"])
    return _alb().Downscale(
        scale_range=(r, r),
        interpolation_pair={"downscale": cv2.INTER_AREA, "upscale": cv2.INTER_LINEAR},
        p=1.0,
    )


def _register_builtins() -> None:
    alb = "albumentations"
    register_perturbation(
        "underexposure", family="lighting", backend=alb, apply=albumentations_apply(_brightness),
        severities=[{"brightness": -b} for b in (0.15, 0.3, 0.45, 0.6, 0.75)],
        statistic=("mean_luminance", -1), description="the whole image darker (too short an exposure)",
    )
    register_perturbation(
        "overexposure", family="lighting", backend=alb, apply=albumentations_apply(_brightness),
        severities=[{"brightness": b} for b in (0.15, 0.3, 0.45, 0.6, 0.75)],
        statistic=("mean_luminance", 1), description="the whole image brighter, highlights clipped",
    )
    register_perturbation(
        "low_contrast", family="lighting", backend=alb, apply=albumentations_apply(_contrast),
        severities=[{"contrast": -c} for c in (0.2, 0.4, 0.6, 0.75, 0.9)],
        statistic=("luminance_std", -1), description="flat, hazy light",
    )
    register_perturbation(
        "gamma", family="lighting", backend=alb, apply=albumentations_apply(_gamma),
        severities=[{"gamma": g} for g in (1.5, 2.0, 3.0, 4.0, 5.0)],
        statistic=("mean_luminance", -1), description="mid-tones crushed (gamma > 1)",
    )
    register_perturbation(
        "hard_shadow", family="lighting", apply=_hard_shadow, uses_geometry=True,
        severities=[{"intensity": i} for i in (0.25, 0.4, 0.55, 0.7, 0.85)],
        statistic=("mean_luminance", -1), description="a sharp cast shadow across half the face",
    )
    register_perturbation(
        "side_light", family="lighting", apply=_side_light, uses_geometry=True,
        severities=[{"strength": a, "radius": r} for a, r in ((0.35, 0.6), (0.5, 0.8), (0.65, 1.0), (0.8, 1.2), (0.95, 1.4))],
        statistic=("mean_luminance", 1), description="strong light / flare from the side",
    )
    register_perturbation(
        "random_patches", family="occlusion", backend=alb, apply=albumentations_apply(_coarse_dropout),
        severities=[{"holes": k, "side": s} for k, s in ((2, 0.08), (3, 0.11), (4, 0.14), (5, 0.17), (6, 0.2))],
        statistic=("changed_fraction", 1), description="grey square patches anywhere in the image",
    )
    register_perturbation(
        "eye_band", family="occlusion", apply=_eye_band, uses_geometry=True,
        severities=[{"height": h, "opacity": o} for h, o in ((0.45, 0.6), (0.65, 0.7), (0.85, 0.8), (1.05, 0.9), (1.25, 1.0))],
        statistic=("mean_abs_error", 1), description="sunglasses: a dark band over the eyes",
    )
    register_perturbation(
        "lower_face_mask", family="occlusion", apply=_lower_face_mask, uses_geometry=True,
        severities=[{"reach": r} for r in (0.3, 0.45, 0.6, 0.75, 0.9)],
        statistic=("changed_fraction", 1), description="a face mask over chin, mouth and nose",
    )
    register_perturbation(
        "upper_face_band", family="occlusion", apply=_upper_face_band, uses_geometry=True,
        severities=[{"reach": r} for r in (0.4, 0.6, 0.8, 1.0, 1.2)],
        statistic=("changed_fraction", 1), description="a cap brim or helmet over the forehead",
    )
    register_perturbation(
        "blur", family="capture", backend=alb, apply=albumentations_apply(_blur),
        severities=[{"sigma_at_224": s} for s in (1.0, 2.0, 3.0, 4.5, 6.0)],
        statistic=("sharpness", -1), description="out of focus or motion-smeared",
    )
    register_perturbation(
        "noise", family="capture", backend=alb, apply=albumentations_apply(_noise),
        severities=[{"std": s} for s in (0.04, 0.08, 0.12, 0.18, 0.25)],
        statistic=("mean_abs_error", 1), description="sensor noise (low light, high ISO)",
    )
    register_perturbation(
        "jpeg", family="capture", backend=alb, apply=albumentations_apply(_jpeg),
        severities=[{"quality": q} for q in (30, 20, 12, 7, 3)],
        statistic=("mean_abs_error", 1), description="JPEG compression artefacts",
    )
    register_perturbation(
        "low_resolution", family="capture", backend=alb, apply=albumentations_apply(_downscale),
        severities=[{"scale": r} for r in (0.5, 0.35, 0.25, 0.18, 0.12)],
        statistic=("mean_abs_error", 1), description="a distant or low-resolution camera, upscaled",
    )


_register_builtins()
