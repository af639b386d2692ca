"""Every built-in perturbation at every severity: same seed -> same pixels; stronger severity
-> its image statistic moves further; plus the registry's contract for user perturbations."""

from __future__ import annotations

import numpy as np
import pytest

from faceaudit.data.synthetic import SyntheticConfig, draw_face, plan_faces
from faceaudit.data.synthetic_draw import landmarks
from faceaudit.perturb import (
    get_perturbation,
    register_perturbation,
    registered,
    unregister_perturbation,
)
from faceaudit.perturb.geometry import FAIRFACE_025, FaceGeometry, synthetic_geometries
from faceaudit.perturb.registry import STATISTICS, image_seed

BUILTIN = [p.name for p in registered(["lighting", "occlusion", "capture"])]
SEVERITIES = [1, 2, 3, 4, 5]


@pytest.fixture(scope="module")
def faces() -> list[tuple[str, np.ndarray, FaceGeometry]]:
    specs = plan_faces(SyntheticConfig(n=12, image_size=64, seed=3))[:6]
    return [(s.id, np.asarray(draw_face(s, 96)), FaceGeometry(**landmarks(s))) for s in specs]


def test_the_three_families_are_complete() -> None:
    families = {p.family for p in registered()}
    assert {"lighting", "occlusion", "capture"} <= families
    assert [p.name for p in registered(["lighting"])] == [
        "underexposure", "overexposure", "low_contrast", "gamma", "hard_shadow", "side_light"
    ]
    assert [p.name for p in registered(["occlusion"])] == [
        "random_patches", "eye_band", "lower_face_mask", "upper_face_band"
    ]
    assert [p.name for p in registered(["capture"])] == ["blur", "noise", "jpeg", "low_resolution"]


@pytest.mark.parametrize("severity", SEVERITIES)
@pytest.mark.parametrize("name", BUILTIN)
def test_same_seed_same_pixels(name: str, severity: int, faces) -> None:
    perturbation = get_perturbation(name)
    for image_id, image, geometry in faces[:3]:
        first = perturbation.apply(image, severity, seed=7, image_id=image_id, geometry=geometry)
        # Interleave another image and severity: nothing carries over between calls.
        perturbation.apply(faces[-1][1], 6 - severity, seed=1, image_id="other", geometry=geometry)
        again = perturbation.apply(image.copy(), severity, seed=7, image_id=image_id, geometry=geometry)
        assert first.dtype == np.uint8 and first.shape == image.shape
        assert np.array_equal(first, again), f"{name} severity {severity} is not reproducible"
        assert not np.array_equal(first, image), f"{name} severity {severity} changed nothing"


@pytest.mark.parametrize("name", BUILTIN)
def test_strength_is_monotone_in_severity(name: str, faces) -> None:
    perturbation = get_perturbation(name)
    statistic_name, direction = perturbation.statistic
    statistic = STATISTICS[statistic_name]
    levels = [np.mean([statistic(image, image) for _, image, _ in faces])]
    for severity in SEVERITIES:
        levels.append(
            np.mean(
                [
                    statistic(image, perturbation.apply(image, severity, seed=0, image_id=i, geometry=g))
                    for i, image, g in faces
                ]
            )
        )
    steps = np.diff(levels) * direction
    assert (steps > 0).all(), f"{name}: {statistic_name} by severity 0..5 = {np.round(levels, 3)}"


def test_random_placement_depends_on_seed_and_image() -> None:
    perturbation = get_perturbation("random_patches")
    image = np.full((64, 64, 3), 200, dtype=np.uint8)
    a = perturbation.apply(image, 3, seed=0, image_id="a")
    assert not np.array_equal(a, perturbation.apply(image, 3, seed=1, image_id="a"))
    assert not np.array_equal(a, perturbation.apply(image, 3, seed=0, image_id="b"))
    assert image_seed(0, "random_patches", 3, "a") == image_seed(0, "random_patches", 3, "a")


def test_occluders_follow_the_face_geometry() -> None:
    image = np.full((100, 100, 3), 200, dtype=np.uint8)
    low = FaceGeometry(cx=0.5, eye_y=0.6, eye_dx=0.1, nose_y=0.7, mouth_y=0.8, chin_y=0.9, top_y=0.4, half_width=0.2)
    high = FaceGeometry(cx=0.5, eye_y=0.3, eye_dx=0.1, nose_y=0.4, mouth_y=0.5, chin_y=0.6, top_y=0.1, half_width=0.2)
    band = get_perturbation("eye_band")
    for geometry in (low, high):
        out = band.apply(image, 5, seed=0, image_id="x", geometry=geometry)
        rows = np.where((out != 200).any(axis=(1, 2)))[0]
        assert abs(rows.mean() / 100 - geometry.eye_y) < 0.02


def test_synthetic_geometry_matches_the_rendered_eyes() -> None:
    config = SyntheticConfig(n=10, image_size=64, seed=0)
    geometry = synthetic_geometries(config)
    spec = plan_faces(config)[0]
    assert geometry[spec.id] == FaceGeometry(**landmarks(spec))
    assert 0.3 < geometry[spec.id].eye_y < 0.6 and FAIRFACE_025.eye_y < 0.35


def test_user_registered_perturbation_runs_and_is_validated() -> None:
    def haze(image, params, rng, geometry):
        veil = np.full_like(image, 200)
        return (image * (1 - params["amount"]) + veil * params["amount"]).astype(np.uint8)

    try:
        register_perturbation(
            "test_haze", family="weather", apply=haze,
            severities=[{"amount": a} for a in (0.1, 0.2, 0.3, 0.45, 0.6)],
            statistic=("luminance_std", -1),
        )
        assert [p.name for p in registered(["weather"])] == ["test_haze"]
        out = get_perturbation("test_haze").apply(np.zeros((8, 8, 3), np.uint8), 5, seed=0, image_id="i")
        assert out.max() == 120
        with pytest.raises(ValueError, match="already registered"):
            register_perturbation("test_haze", family="weather", apply=haze, severities=[{}] * 5,
                                  statistic=("luminance_std", -1))
    finally:
        unregister_perturbation("test_haze")
    with pytest.raises(ValueError, match="exactly 5 severities"):
        register_perturbation("bad", family="x", apply=haze, severities=[{}], statistic=("sharpness", -1))
    with pytest.raises(ValueError, match="statistic"):
        register_perturbation("bad", family="x", apply=haze, severities=[{}] * 5, statistic=("nope", 1))
    with pytest.raises(ValueError, match="unknown perturbation"):
        get_perturbation("nope")
    with pytest.raises(ValueError, match="severity must be 1..5"):
        get_perturbation("blur").apply(np.zeros((8, 8, 3), np.uint8), 6, seed=0, image_id="i")


def test_geometry_follows_the_data_set() -> None:
    from faceaudit.perturb.geometry import CENTRED
    from faceaudit.perturb.stage import geometry_resolver

    fairface, note = geometry_resolver("auto", "fairface")
    assert fairface("any.jpg") == FAIRFACE_025 and "FairFace" in note
    other, note = geometry_resolver("auto", "manifest")
    assert other("x") == CENTRED and "declares no face geometry" in note
    config = SyntheticConfig(n=10, image_size=64, seed=0)
    synthetic, note = geometry_resolver("auto", "synthetic", config)
    assert synthetic("syn-00003") == FaceGeometry(**landmarks(plan_faces(config)[3]))
