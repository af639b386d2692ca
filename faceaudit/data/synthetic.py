"""Procedural synthetic faces with known attributes: the embedded default data set.

``render_synthetic`` writes ``images/<id>.png``, ``manifest.csv`` and the
``faceaudit-dataset.yaml`` sidecar (which columns are sensitive, which are
tasks, the allowed labels and the config). ``contact_sheet`` tiles faces with
their labels so a person can check that they look like faces.

Labels live in ``synthetic_config``, sampling in ``synthetic_plan`` and the
drawing in ``synthetic_draw``; this module only orchestrates and writes files.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import yaml
from PIL import Image, ImageDraw, ImageFont
from tqdm import tqdm

from faceaudit.data.synthetic_config import (
    AGE_BANDS,
    ATTRIBUTE_COLUMNS,
    AUDIT_TASKS,
    LABELS,
    METADATA_COLUMNS,
    MST_RGB,
    NUMERIC_ATTRIBUTES,
    RENDERER_VERSION,
    SENSITIVE_ATTRIBUTES,
    SKIN_TONE_GROUPS,
    TASK_ATTRIBUTES,
    SyntheticConfig,
)
from faceaudit.data.synthetic_draw import draw_face
from faceaudit.data.synthetic_plan import FaceSpec, plan_faces
from faceaudit.store import atomic_write_bytes, atomic_write_text, sha256_json

__all__ = [
    "AGE_BANDS",
    "ATTRIBUTE_COLUMNS",
    "DATASET_YAML",
    "LABELS",
    "MANIFEST_CSV",
    "MST_RGB",
    "SENSITIVE_ATTRIBUTES",
    "SKIN_TONE_GROUPS",
    "AUDIT_TASKS",
    "TASK_ATTRIBUTES",
    "FaceSpec",
    "SyntheticConfig",
    "config_hash",
    "contact_sheet",
    "draw_face",
    "plan_faces",
    "render_synthetic",
]

MANIFEST_CSV = "manifest.csv"
DATASET_YAML = "faceaudit-dataset.yaml"
MANIFEST_COLUMNS: tuple[str, ...] = ("id", "image", "split", *ATTRIBUTE_COLUMNS, *METADATA_COLUMNS)
_PNG_COMPRESSION = 3  # near level 6's size at about half the time on these flat images


def config_hash(config: SyntheticConfig) -> str:
    """Cache key: the config and the renderer version (a drawing change invalidates caches)."""
    return sha256_json({"renderer": RENDERER_VERSION, "config": config.model_dump(mode="json")})


def _sidecar(config: SyntheticConfig, digest: str) -> dict[str, object]:
    return {
        "name": "synthetic-faces",
        "kind": "synthetic",
        "manifest": MANIFEST_CSV,
        "renderer_version": RENDERER_VERSION,
        "config_hash": digest,
        "seed": config.seed,
        "n": config.n,
        "image_size": config.image_size,
        "sensitive_attributes": list(SENSITIVE_ATTRIBUTES),
        "task_attributes": list(AUDIT_TASKS),
        "attributes": list(ATTRIBUTE_COLUMNS),
        "numeric_attributes": list(NUMERIC_ATTRIBUTES),
        "metadata_columns": list(METADATA_COLUMNS),
        "ordinal": {"age": list(AGE_BANDS)},
        "labels": {name: list(values) for name, values in LABELS.items()},
        "skin_tone_groups": {group: list(tones) for group, tones in SKIN_TONE_GROUPS.items()},
        "config": config.model_dump(mode="json"),
    }


def _cached(out_dir: Path, digest: str) -> bool:
    sidecar, manifest = out_dir / DATASET_YAML, out_dir / MANIFEST_CSV
    if not (sidecar.is_file() and manifest.is_file()):
        return False
    try:
        meta = yaml.safe_load(sidecar.read_text(encoding="utf-8"))
    except yaml.YAMLError:
        return False
    if not isinstance(meta, dict) or meta.get("config_hash") != digest:
        return False
    with open(manifest, newline="", encoding="utf-8") as handle:
        return all((out_dir / row["image"]).is_file() for row in csv.DictReader(handle))


def _manifest_text(faces: list[FaceSpec]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=MANIFEST_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for face in faces:
        writer.writerow(
            {
                "id": face.id,
                "image": f"images/{face.id}.png",
                "split": face.split,
                **{name: face.recorded[name] for name in ATTRIBUTE_COLUMNS},
                "noisy_label": face.noisy_label,
            }
        )
    return buffer.getvalue()


def render_synthetic(out_dir: Path, config: SyntheticConfig, *, progress: bool = True) -> Path:
    """Render ``config``'s faces into ``out_dir`` and return the manifest path.

    Skips all work when ``out_dir`` already holds a complete render of the same
    config (same hash in the sidecar, every image present). The manifest and
    sidecar are written last and atomically, so an interrupted render is never
    mistaken for a finished one.
    """
    out_dir = Path(out_dir)
    digest = config_hash(config)
    manifest = out_dir / MANIFEST_CSV
    if _cached(out_dir, digest):
        return manifest
    faces = plan_faces(config)
    images = out_dir / "images"
    images.mkdir(parents=True, exist_ok=True)
    # A previous, larger render must not leave faces the new manifest does not list.
    wanted = {f"{face.id}.png" for face in faces}
    for stale in images.glob("syn-*.png"):
        if stale.name not in wanted:
            stale.unlink()
    for face in tqdm(faces, desc="synthetic faces", unit="face", disable=not progress):
        buffer = io.BytesIO()
        draw_face(face, config.image_size).save(
            buffer, format="PNG", compress_level=_PNG_COMPRESSION
        )
        # Plain writes (no fsync per image): the manifest, written atomically last, is the
        # commit point, and a torn image is simply redrawn by the next render.
        (images / f"{face.id}.png").write_bytes(buffer.getvalue())
    atomic_write_text(manifest, _manifest_text(faces))
    atomic_write_text(
        out_dir / DATASET_YAML,
        yaml.safe_dump(_sidecar(config, digest), sort_keys=False, allow_unicode=True),
    )
    return manifest


def _caption(row: dict[str, str]) -> list[str]:
    gender = {"female": "F", "male": "M"}.get(row["gender"], row["gender"])
    extras = [name for name in ("glasses", "helmet") if row.get(name) == "yes"]
    return [
        f"{gender} {row['age']}",
        f"MST{row['skin_tone']} {row['skin_tone_group']}",
        f"{row['expression']} {row['lighting']}",
        " ".join(extras) or f"tilt {row['head_tilt']}",
    ]


def contact_sheet(manifest: Path, out_png: Path, n: int = 48, columns: int = 8) -> Path:
    """A grid of the first ``n`` faces of ``manifest`` with their recorded labels underneath."""
    manifest = Path(manifest)
    if n < 1 or columns < 1:
        raise ValueError(f"contact_sheet: n and columns must be >= 1, got n={n}, columns={columns}")
    with open(manifest, newline="", encoding="utf-8") as handle:
        rows = [row for _, row in zip(range(n), csv.DictReader(handle), strict=False)]
    if not rows:
        raise ValueError(f"{manifest}: no rows to show")
    missing = [
        c for c in ("image", "gender", "age", "skin_tone", "skin_tone_group") if c not in rows[0]
    ]
    if missing:
        raise ValueError(f"{manifest}: missing column(s) {', '.join(missing)}")
    with Image.open(manifest.parent / rows[0]["image"]) as first:
        cell = max(96, first.size[0])
    font = ImageFont.load_default(size=max(10, cell // 11))
    line_height = max(12, cell // 9)
    caption_height = 4 * line_height + 4
    columns = min(columns, len(rows))
    grid_rows = -(-len(rows) // columns)
    sheet = Image.new(
        "RGB", (columns * (cell + 4), grid_rows * (cell + caption_height + 4)), "white"
    )
    pen = ImageDraw.Draw(sheet)
    for k, row in enumerate(rows):
        x, y = (k % columns) * (cell + 4) + 2, (k // columns) * (cell + caption_height + 4) + 2
        with Image.open(manifest.parent / row["image"]) as face:
            sheet.paste(face.convert("RGB").resize((cell, cell), Image.Resampling.LANCZOS), (x, y))
        for j, text in enumerate(_caption(row)):
            pen.text((x + 1, y + cell + 2 + j * line_height), text, fill=(20, 20, 20), font=font)
    buffer = io.BytesIO()
    sheet.save(buffer, format="PNG")
    return atomic_write_bytes(out_png, buffer.getvalue())
