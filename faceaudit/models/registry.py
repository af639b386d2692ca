"""``make_model``: the evaluation config (plus the training stage's outputs) -> a FaceModel."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from faceaudit.errors import InputError
from faceaudit.models.base import FaceModel

if TYPE_CHECKING:  # the config lives with the evaluate stage; models must not import it at run time
    from faceaudit.evaluate.config import EvaluateConfig

BackendFactory = Callable[..., FaceModel]


def _hf(cfg: EvaluateConfig, model_dir: Path | None, adapter: Path | None, seed: int) -> FaceModel:
    from faceaudit.models.hf import HFFaceModel

    source = cfg.model if cfg.model is not None else model_dir
    if source is None:
        raise InputError(
            "evaluate.backend 'hf' needs a model: set evaluate.model to a checkpoint directory or "
            "hub id, or run the train stage first"
        )
    chosen_adapter = cfg.adapter if cfg.adapter is not None else adapter
    return HFFaceModel.load(
        source,
        adapter=chosen_adapter,
        dtype=cfg.dtype,
        device=cfg.device,
        trust_remote_code=cfg.trust_remote_code,
        share_vision=cfg.share_vision,
    )


def _openai(cfg: EvaluateConfig, model_dir: Path | None, adapter: Path | None, seed: int) -> FaceModel:
    from faceaudit.models.openai_compat import OpenAIChatModel

    if not cfg.base_url or not cfg.model:
        raise InputError(
            "evaluate.backend 'openai' needs evaluate.base_url (e.g. http://127.0.0.1:8000/v1) "
            "and evaluate.model (the served model name)"
        )
    return OpenAIChatModel.from_settings(cfg, cfg.model, seed=seed)


def _predictions(cfg: EvaluateConfig, model_dir: Path | None, adapter: Path | None, seed: int) -> FaceModel:
    from faceaudit.models.predictions_file import PredictionsFileModel

    if not cfg.predictions_file:
        raise InputError("evaluate.backend 'predictions' needs evaluate.predictions_file (CSV or JSONL)")
    return PredictionsFileModel(cfg.predictions_file, name=cfg.model)


def _simulated(cfg: EvaluateConfig, model_dir: Path | None, adapter: Path | None, seed: int) -> FaceModel:
    from faceaudit.models.simulated import SimulatedFaceModel

    return SimulatedFaceModel(
        cfg.simulated_accuracy,
        seed=seed,
        invalid_rate=cfg.simulated_invalid_rate,
        overconfidence=cfg.simulated_overconfidence,
        name=cfg.model or "simulated",
        perturbation_drop=cfg.simulated_perturbation_drop,
    )


BACKENDS: dict[str, BackendFactory] = {
    "hf": _hf,
    "openai": _openai,
    "predictions": _predictions,
    "simulated": _simulated,
}


def make_model(
    cfg: EvaluateConfig,
    *,
    model_dir: Path | None = None,
    adapter: Path | None = None,
    seed: int = 0,
) -> FaceModel:
    """Build the configured backend. ``model_dir``/``adapter`` come from the train stage and
    are used by the hf backend when the config names no model/adapter of its own."""
    factory = BACKENDS.get(cfg.backend)
    if factory is None:
        from faceaudit.plugins import backend_factory, backend_names

        factory = backend_factory(cfg.backend)
        if factory is None:
            accepted = ", ".join([*BACKENDS, *backend_names()])
            raise InputError(f"unknown evaluate.backend {cfg.backend!r} (accepted: {accepted})")
    return factory(cfg, model_dir, adapter, seed)
