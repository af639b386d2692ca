"""The procedural synthetic face set: determinism, planted biases, files, cache and signal."""

from __future__ import annotations

import csv
import hashlib
import math
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image
from pydantic import ValidationError

import faceaudit.data.synthetic as synthetic
from faceaudit.data.records import FaceRecord
from faceaudit.data.synthetic import (
    AGE_BANDS,
    ATTRIBUTE_COLUMNS,
    LABELS,
    SENSITIVE_ATTRIBUTES,
    SKIN_TONE_GROUPS,
    TASK_ATTRIBUTES,
    SyntheticConfig,
    config_hash,
    contact_sheet,
    draw_face,
    plan_faces,
    render_synthetic,
)

SIGNAL_CONFIG = SyntheticConfig(
    n=1000, image_size=64, glasses_probability=0.5, helmet_probability=0.5
)


def _rows(manifest: Path) -> list[dict[str, str]]:
    with open(manifest, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _image_hashes(root: Path) -> dict[str, str]:
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted((root / "images").glob("*.png"))
    }


@pytest.fixture(scope="module")
def signal_set(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return render_synthetic(tmp_path_factory.mktemp("signal"), SIGNAL_CONFIG, progress=False)


def test_same_config_gives_identical_pngs_and_another_seed_differs(tmp_path: Path) -> None:
    config = SyntheticConfig(n=16, image_size=64, seed=7)
    first = _image_hashes(render_synthetic(tmp_path / "a", config, progress=False).parent)
    second = _image_hashes(render_synthetic(tmp_path / "b", config, progress=False).parent)
    other = _image_hashes(
        render_synthetic(
            tmp_path / "c", config.model_copy(update={"seed": 8}), progress=False
        ).parent
    )
    assert len(first) == 16
    assert first == second
    assert sum(first[name] != other[name] for name in first) == 16
    assert (tmp_path / "a" / "manifest.csv").read_bytes() == (
        tmp_path / "b" / "manifest.csv"
    ).read_bytes()


def test_a_smaller_rerender_removes_faces_the_manifest_no_longer_lists(tmp_path: Path) -> None:
    render_synthetic(tmp_path, SyntheticConfig(n=12, image_size=32), progress=False)
    rows = _rows(render_synthetic(tmp_path, SyntheticConfig(n=10, image_size=32), progress=False))
    assert sorted(p.name for p in (tmp_path / "images").iterdir()) == sorted(
        Path(r["image"]).name for r in rows
    )
    assert len(rows) == 10


def test_a_face_does_not_depend_on_drawing_order() -> None:
    faces = plan_faces(SyntheticConfig(n=12, image_size=32))
    forward = [np.asarray(draw_face(face, 32)) for face in faces]
    backward = [np.asarray(draw_face(face, 32)) for face in reversed(faces)][::-1]
    assert all(np.array_equal(a, b) for a, b in zip(forward, backward, strict=False))
    # Appearance of face i comes from (seed, i): the same plan twice is the same.
    assert plan_faces(SyntheticConfig(n=12, image_size=32))[5] == faces[5]


def test_default_weights_give_balanced_exact_quotas() -> None:
    faces = plan_faces(SyntheticConfig(n=1200))
    assert Counter(f.true["skin_tone_group"] for f in faces) == {
        "light": 400,
        "medium": 400,
        "dark": 400,
    }
    assert Counter(f.true["gender"] for f in faces) == {"female": 600, "male": 600}
    assert Counter(f.true["age"] for f in faces) == dict.fromkeys(AGE_BANDS, 300)
    assert Counter(f.true["glasses"] for f in faces)["yes"] == 360
    assert Counter(f.true["helmet"] for f in faces)["yes"] == 360
    assert Counter(f.true["expression"] for f in faces)["smiling"] == 600
    # Independent shuffles: each gender holds close to a third of each tone group.
    female_dark = sum(
        f.true["gender"] == "female" and f.true["skin_tone_group"] == "dark" for f in faces
    )
    assert abs(female_dark - 200) < 4 * math.sqrt(400 * 0.25)
    for face in faces:
        assert face.true["skin_tone"] in SKIN_TONE_GROUPS[face.true["skin_tone_group"]]
        if face.true["gender"] == "female" or face.true["age"] == "child":
            assert face.true["facial_hair"] == "none"


def test_planted_group_weights_set_the_proportions() -> None:
    config = SyntheticConfig(
        n=1000,
        skin_tone_group_weights={"light": 6, "medium": 3, "dark": 1},
        age_weights={"older": 1.0},
    )
    faces = plan_faces(config)
    assert Counter(f.true["skin_tone_group"] for f in faces) == {
        "light": 600,
        "medium": 300,
        "dark": 100,
    }
    assert Counter(f.true["age"] for f in faces) == {"older": 1000}


def _within_binomial(hits: int, n: int, p: float) -> bool:
    return abs(hits / n - p) <= 4 * math.sqrt(p * (1 - p) / n)


def test_label_noise_flips_the_named_group_at_the_planted_rate_and_nowhere_else() -> None:
    config = SyntheticConfig(n=3000, label_noise={"skin_tone_group=dark": 0.2})
    faces = plan_faces(config)
    dark = [f for f in faces if f.true["skin_tone_group"] == "dark"]
    others = [f for f in faces if f.true["skin_tone_group"] != "dark"]
    noisy = [f for f in dark if f.flipped]
    assert _within_binomial(len(noisy), len(dark), 0.2)
    assert all(not f.flipped and f.recorded == f.true for f in others)
    expected = [a for a in TASK_ATTRIBUTES if a != "skin_tone_group"]
    for face in noisy:
        assert list(face.flipped) == expected
        for attribute in expected:
            assert face.recorded[attribute] != face.true[attribute]
            assert face.recorded[attribute] in LABELS[attribute]
        assert face.recorded["skin_tone_group"] == "dark"
        assert face.noisy_label == ";".join(f"{a}={face.true[a]}" for a in expected)
    # Noise changes labels only: the drawn face is the same as in the clean set.
    clean = plan_faces(config.model_copy(update={"label_noise": {}}))
    assert all(
        (c.true, c.skin_rgb, c.exposure, c.tilt) == (f.true, f.skin_rgb, f.exposure, f.tilt)
        for c, f in zip(clean, faces, strict=False)
    )


def test_label_noise_of_overlapping_groups_combines_and_keeps_the_groups() -> None:
    config = SyntheticConfig(
        n=4000,
        label_noise={"skin_tone_group=dark": 0.2, "gender=male": 0.1},
        label_noise_attributes=["gender", "skin_tone_group", "glasses"],
    )
    faces = plan_faces(config)
    dark_male = [
        f for f in faces if f.true["skin_tone_group"] == "dark" and f.true["gender"] == "male"
    ]
    light_male = [
        f for f in faces if f.true["skin_tone_group"] == "light" and f.true["gender"] == "male"
    ]
    light_female = [
        f for f in faces if f.true["skin_tone_group"] == "light" and f.true["gender"] == "female"
    ]
    assert _within_binomial(sum(bool(f.flipped) for f in dark_male), len(dark_male), 1 - 0.8 * 0.9)
    assert _within_binomial(sum(bool(f.flipped) for f in light_male), len(light_male), 0.1)
    assert not any(f.flipped for f in light_female)
    assert {tuple(f.flipped) for f in dark_male if f.flipped} == {("glasses",)}
    flipped_tone = [f for f in light_male if f.flipped]
    assert {tuple(f.flipped) for f in flipped_tone} == {("skin_tone_group", "glasses", "skin_tone")}
    for face in flipped_tone:
        assert face.recorded["skin_tone"] in SKIN_TONE_GROUPS[face.recorded["skin_tone_group"]]


def test_lighting_bias_darkens_only_the_chosen_group(tmp_path: Path) -> None:
    config = SyntheticConfig(n=60, image_size=32, lighting_weights={"normal": 1.0})
    biased = config.model_copy(update={"lighting_bias": {"gender=male": -0.3}})
    clean_rows = _rows(render_synthetic(tmp_path / "clean", config, progress=False))
    biased_rows = _rows(render_synthetic(tmp_path / "biased", biased, progress=False))
    for clean, dark in zip(clean_rows, biased_rows, strict=False):
        before = np.asarray(Image.open(tmp_path / "clean" / clean["image"]), dtype=float).mean()
        after = np.asarray(Image.open(tmp_path / "biased" / dark["image"]), dtype=float).mean()
        if clean["gender"] == "male":
            # Exposure 0.86-1.14 minus 0.3: at least 21 % darker, at most 35 %.
            assert 0.62 < after / before < 0.8, clean["id"]
            assert dark["lighting"] in ("dim", "normal")
        else:
            assert after == before
            assert dark["lighting"] == "normal"
    labels = Counter(r["lighting"] for r in biased_rows if r["gender"] == "male")
    assert labels["dim"] >= 0.6 * sum(labels.values())


def test_manifest_and_sidecar_follow_the_schema(signal_set: Path) -> None:
    root = signal_set.parent
    rows = _rows(signal_set)
    with open(signal_set, encoding="utf-8") as handle:
        header = handle.readline().strip().split(",")
    assert header == ["id", "image", "split", *ATTRIBUTE_COLUMNS, "noisy_label"]
    assert len(rows) == 1000
    for row in rows:
        assert row["image"] == f"images/{row['id']}.png"
        assert row["split"] in ("train", "test")
        for attribute, allowed in LABELS.items():
            assert row[attribute] in allowed, (row["id"], attribute)
        assert abs(int(row["head_tilt"])) <= 15
        assert row["noisy_label"] == ""
        FaceRecord(
            id=row["id"],
            image_path=row["image"],
            split=row["split"],
            attributes={a: row[a] for a in ATTRIBUTE_COLUMNS},
        )
    with Image.open(root / rows[0]["image"]) as image:
        assert (image.size, image.mode) == ((64, 64), "RGB")
    meta = yaml.safe_load((root / "faceaudit-dataset.yaml").read_text(encoding="utf-8"))
    assert meta["name"] == "synthetic-faces" and meta["kind"] == "synthetic"
    assert meta["sensitive_attributes"] == ["skin_tone_group", "gender", "age"]
    assert meta["task_attributes"] == ["gender", "age", "skin_tone_group", "helmet"]
    assert meta["ordinal"] == {"age": ["child", "young adult", "middle-aged", "older"]}
    assert meta["labels"]["gender"] == ["female", "male"]
    assert meta["seed"] == 0 and meta["config_hash"] == config_hash(SIGNAL_CONFIG)
    assert SyntheticConfig.model_validate(meta["config"]) == SIGNAL_CONFIG


def test_second_render_of_the_same_config_is_a_cache_hit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = SyntheticConfig(n=10, image_size=32)
    manifest = render_synthetic(tmp_path, config, progress=False)
    before = manifest.stat().st_mtime_ns

    def refuse(*_: object) -> None:
        raise AssertionError("draw_face called on a cache hit")

    monkeypatch.setattr(synthetic, "draw_face", refuse)
    assert render_synthetic(tmp_path, config, progress=False) == manifest
    assert manifest.stat().st_mtime_ns == before
    # A missing image or another config means work to do.
    (tmp_path / "images" / "syn-00003.png").unlink()
    with pytest.raises(AssertionError, match="cache hit"):
        render_synthetic(tmp_path, config, progress=False)
    with pytest.raises(AssertionError, match="cache hit"):
        render_synthetic(tmp_path, config.model_copy(update={"seed": 1}), progress=False)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"colour": 1}, "Extra inputs are not permitted"),
        ({"image_size": 31}, "greater than or equal to 32"),
        ({"image_size": 449}, "less than or equal to 448"),
        ({"skin_tone_group_weights": {"pale": 1.0}}, "'pale' is not a skin_tone_group label"),
        (
            {"gender_weights": {"female": 0.0, "male": 0.0}},
            "at least one gender weight must be > 0",
        ),
        ({"age_weights": {"child": -1.0}}, "must be a finite number >= 0"),
        ({"label_noise": {"race=dark": 0.1}}, "must look like 'attribute=value'"),
        ({"label_noise": {"gender=other": 0.1}}, "'other' is not a label of 'gender'"),
        ({"label_noise": {"gender=male": 1.5}}, "must be a probability in \\[0, 1\\]"),
        ({"lighting_bias": {"age=older": 0.9}}, "exposure shift in \\[-0.7, 0.7\\]"),
        ({"label_noise_attributes": ["lighting"]}, "'lighting' cannot be made noisy"),
        ({"label_noise_attributes": ["mood"]}, "'mood' is not a categorical attribute"),
        ({"test_fraction": 1.0}, "less than 1"),
    ],
)
def test_bad_config_is_rejected_with_a_clear_message(
    overrides: dict[str, object], message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        SyntheticConfig.model_validate(overrides)


def test_large_images_have_the_requested_size(tmp_path: Path) -> None:
    rows = _rows(render_synthetic(tmp_path, SyntheticConfig(n=10, image_size=224), progress=False))
    for row in rows[:3]:
        with Image.open(tmp_path / row["image"]) as image:
            assert np.asarray(image).shape == (224, 224, 3)


def test_splits_are_stratified_and_cover_every_group() -> None:
    faces = plan_faces(SyntheticConfig(n=1200))
    test_share = sum(f.split == "test" for f in faces) / len(faces)
    assert abs(test_share - 0.3) < 0.01
    strata = Counter((f.true["skin_tone_group"], f.true["gender"], f.true["age"]) for f in faces)
    tested = Counter(
        (f.true["skin_tone_group"], f.true["gender"], f.true["age"])
        for f in faces
        if f.split == "test"
    )
    for key, count in strata.items():
        assert tested[key] == round(count * 0.3), key
    small = plan_faces(SyntheticConfig(n=30))
    for attribute in SENSITIVE_ATTRIBUTES:
        for split in ("train", "test"):
            assert {f.true[attribute] for f in small if f.split == split} == set(LABELS[attribute])


def test_contact_sheet_tiles_faces_with_captions(signal_set: Path, artifacts_dir: Path) -> None:
    out = contact_sheet(
        signal_set, artifacts_dir / "synthetic_contact_sheet_64.png", n=20, columns=5
    )
    with Image.open(out) as sheet:
        # 96-px cells (64-px faces are enlarged), 4-px gutters, 4 caption lines of 12 px + 4.
        assert sheet.size == (5 * 100, 4 * (96 + 52 + 4))
    with pytest.raises(ValueError, match="n and columns must be >= 1"):
        contact_sheet(signal_set, artifacts_dir / "unused.png", n=0)


# Convergence to the last digit does not matter for "well above chance".
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_a_linear_model_learns_every_task_attribute_from_32px_pixels(signal_set: Path) -> None:
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import balanced_accuracy_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from threadpoolctl import threadpool_limits

    root, rows = signal_set.parent, _rows(signal_set)
    pixels = (
        np.stack(
            [
                np.asarray(
                    Image.open(root / r["image"]).resize((32, 32), Image.Resampling.BOX),
                    dtype=np.float32,
                ).ravel()
                for r in rows
            ]
        )
        / 255.0
    )
    train = np.array([r["split"] == "train" for r in rows])
    # Chance for balanced accuracy is 1/k. Glasses are thin strokes whose position moves
    # with head tilt, the hardest thing for a linear pixel model; it still clears chance
    # by a wide margin (about 0.67 measured), the others by 0.3 or more.
    margins = {
        "gender": 0.25,
        "age": 0.25,
        "skin_tone_group": 0.25,
        "helmet": 0.25,
        "glasses": 0.12,
    }
    scores = {}
    with threadpool_limits(1):
        for attribute, margin in margins.items():
            labels = np.array([r[attribute] for r in rows])
            model = make_pipeline(StandardScaler(), LogisticRegression(C=0.05, max_iter=300))
            model.fit(pixels[train], labels[train])
            scores[attribute] = balanced_accuracy_score(
                labels[~train], model.predict(pixels[~train])
            )
            assert scores[attribute] >= 1 / len(LABELS[attribute]) + margin, scores
