"""What every record loader shares, and ``load_dataset`` which picks the loader from the config.

:class:`DatasetBuilder` turns rows into records while enforcing the rules every
format obeys: labels from the vocabulary (spreadsheet damage repaired and
reported, unknown values skipped with the closest valid one suggested), image
paths inside the dataset root, unique ids, and images that exist and decode.
"""

from __future__ import annotations

from pathlib import Path

from faceaudit.data.builder import DatasetBuilder, closest_label, match_label, undo_spreadsheet_date
from faceaudit.data.config import BUILTIN_KINDS, DatasetConfig
from faceaudit.data.dataset import Dataset, DatasetError

__all__ = ["DatasetBuilder", "apply_attribute_choice", "closest_label", "load_dataset", "match_label",
           "undo_spreadsheet_date"]


def load_dataset(
    cfg: DatasetConfig, *, progress: bool = True, check_images: bool = True, render_dir: Path | None = None
) -> Dataset:
    """Load the records ``cfg`` describes, then apply its split, limit and attribute choices.

    Each labelled kind is handled here, so a caller (the pipeline) only says where: the
    synthetic set is rendered into ``render_dir`` first (same config and seed, same images).
    """
    if cfg.kind == "facexbench":
        raise DatasetError(
            "dataset kind 'facexbench' holds ready-made multiple-choice items, not labelled records: "
            "use faceaudit.data.facexbench.load_facexbench(path) to read them"
        )
    if cfg.kind == "synthetic":
        if render_dir is None:
            raise DatasetError(
                "dataset kind 'synthetic' must be rendered first: pass render_dir (where the faces are "
                "written), or render with faceaudit.data.synthetic and load the manifest.csv it writes"
            )
        from faceaudit.data.manifest import load_manifest
        from faceaudit.data.synthetic import render_synthetic

        manifest = render_synthetic(render_dir, cfg.synthetic, progress=progress)
        dataset = load_manifest(manifest, progress=progress).filter(split=cfg.split, limit=cfg.limit)
        return apply_attribute_choice(dataset, cfg.sensitive_attributes, cfg.tasks)
    if cfg.kind not in BUILTIN_KINDS:
        return apply_attribute_choice(
            _plugin_dataset(cfg, progress=progress, check_images=check_images).filter(split=cfg.split, limit=cfg.limit),
            cfg.sensitive_attributes, cfg.tasks)
    if not cfg.path:
        raise DatasetError(
            f"dataset kind {cfg.kind!r} needs 'path' (the FairFace root or the manifest file)"
        )
    if cfg.kind == "fairface":
        from faceaudit.data.fairface import load_fairface

        dataset = load_fairface(
            cfg.path,
            split=cfg.split,
            padding=cfg.padding,
            check_images=check_images,
            progress=progress,
        )
    else:
        from faceaudit.data.manifest import load_manifest

        dataset = load_manifest(
            cfg.path,
            sensitive_attributes=cfg.sensitive_attributes,
            task_attributes=cfg.tasks,
            check_images=check_images,
            progress=progress,
        )
    dataset = dataset.filter(split=cfg.split, limit=cfg.limit)
    return apply_attribute_choice(dataset, cfg.sensitive_attributes, cfg.tasks)


def _plugin_dataset(cfg: DatasetConfig, *, progress: bool, check_images: bool) -> Dataset:
    """The records of the plug-in loader ``cfg.kind`` (entry point group faceaudit.datasets)."""
    from faceaudit.plugins import DATASETS_GROUP, plugin

    loader = plugin(DATASETS_GROUP, cfg.kind)
    if loader is None:  # validated with the config, but the plug-in may be gone since
        raise DatasetError(f"dataset kind {cfg.kind!r}: no installed plug-in declares it")
    dataset = loader(cfg, progress=progress, check_images=check_images)
    if not isinstance(dataset, Dataset):
        raise DatasetError(f"dataset plug-in {cfg.kind!r} returned {type(dataset).__name__}, not a faceaudit Dataset")
    return dataset


def apply_attribute_choice(
    dataset: Dataset, sensitive_attributes: list[str] | None, tasks: list[str] | None
) -> Dataset:
    """Override the loader's sensitive and task attributes, refusing names the data does not have."""
    available = sorted({a for r in dataset.records for a in r.attributes})
    for role, chosen in (("sensitive attribute", sensitive_attributes), ("task", tasks)):
        unknown = [a for a in chosen or [] if a not in available]
        if unknown:
            raise DatasetError(
                f"{role}(s) {', '.join(map(repr, unknown))} not in dataset {dataset.name!r}; "
                f"its attributes are: {', '.join(available)}"
            )
    if sensitive_attributes is not None:
        dataset.sensitive_attributes = list(sensitive_attributes)
    if tasks is not None:
        dataset.task_attributes = list(tasks)
    return dataset
