"""The ``FaceModel`` protocol every backend implements, and what they share.

A backend answers batches of multiple-choice items in one of two ways:

- ``score_options``: the log-probability of each option letter as the answer
  (one forward pass; the full distribution is kept for calibration);
- ``generate``: free text, read afterwards by ``faceaudit.evaluate.parse``
  (the benchmark-harness way, kept for parity with FaceXBench numbers).

``images`` is whatever the backend's optional ``prepare(batch, image_root)``
returned for the batch; the prediction loop calls ``prepare`` in a background
thread so that decoding and preprocessing overlap with the model. A backend
without ``prepare`` receives decoded PIL images (``load_batch_images``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from PIL import Image

from faceaudit.data.images import ImageReadError, open_face_image
from faceaudit.data.records import McqItem
from faceaudit.errors import InputError, StageError
from faceaudit.schema.run import ModelIdentity


@dataclass(frozen=True)
class Condition:
    """The perturbation an in-memory batch was made under (robustness stage).

    Passed to a backend's optional ``prepare_images(batch, images, condition)``: a real model
    ignores it (the pixels carry the perturbation); the simulated model answers from it.
    """

    perturbation: str
    family: str
    severity: int


class ScoringUnavailable(StageError):
    """The backend cannot give option log-probabilities (use generation mode)."""


class InMemoryImagesUnsupported(RuntimeError):
    """The backend only answers about image files, so it cannot be given perturbed copies."""


@runtime_checkable
class FaceModel(Protocol):
    """What the audit asks of a model: score the options of a batch of multiple-choice items, or
    answer them in free text. Backends: ``hf``, ``openai``, ``predictions``, ``simulated``, and
    plug-ins (entry point group ``faceaudit.backends``, see :mod:`faceaudit.plugins`)."""

    name: str
    #: Human name, content hash and hub revision; decides whether stored answers are reusable.
    identity: ModelIdentity

    def score_options(self, batch: list[McqItem], images: Any) -> list[list[float]]:
        """Log-probability of each option of each item (one list per item, in option order)."""
        ...

    def generate(self, batch: list[McqItem], images: Any, max_new_tokens: int) -> list[str]:
        """The model's free-text answer to each item."""
        ...


def resolve_image(image_root: str | Path, relative: str, item_id: str) -> Path:
    path = Path(image_root) / relative
    if not path.is_file():
        raise FileNotFoundError(
            f"item {item_id!r}: image {relative!r} not found under {image_root} "
            f"(image_paths are relative to the image root)"
        )
    return path


def load_batch_images(batch: Sequence[McqItem], image_root: str | Path) -> list[list[Image.Image]]:
    """Decode every image of every item to RGB (one list per item: items may hold several)."""
    decoded = []
    for item in batch:
        images = []
        for relative in item.image_paths:
            path = resolve_image(image_root, relative, item.item_id)
            try:
                images.append(open_face_image(path)[0])
            except ImageReadError as error:
                raise InputError(f"item {item.item_id!r}: cannot use image {error}") from None
        decoded.append(images)
    return decoded


def prepare_batch(model: FaceModel, batch: list[McqItem], image_root: str | Path) -> Any:
    """The backend's own preparation when it has one, else decoded PIL images."""
    prepare = getattr(model, "prepare", None)
    if prepare is not None:
        return prepare(batch, image_root)
    return load_batch_images(batch, image_root)


def prepare_images(model: FaceModel, batch: list[McqItem], images: list[list[Image.Image]], condition: Condition) -> Any:
    """The backend's preparation of in-memory (perturbed) images, one list per item."""
    prepare = getattr(model, "prepare_images", None)
    if prepare is None:
        raise InMemoryImagesUnsupported(
            f"{model.name} cannot answer about in-memory images (no prepare_images); the robustness "
            "stage supports the hf and simulated backends"
        )
    return prepare(batch, images, condition)
