"""The perturbation registry: named, seeded image corruptions with five fixed severities.

A perturbation is a pure function of (image, severity parameters, random generator, face
geometry). Its severities are *fixed, documented parameter sets* (never ranges sampled per
image), so "severity 3 of underexposure" means the same thing in every audit and can be cited.
Randomness that a perturbation does have (where a patch lands, which side a shadow falls on)
comes from a generator seeded by (audit seed, perturbation, severity, image id): the same
image gets the same pixels in any order, batch, worker or process.

Users add their own with :func:`register_perturbation`::

    def haze(image, params, rng, geometry):
        veil = np.full_like(image, 200)
        return (image * (1 - params["amount"]) + veil * params["amount"]).astype(np.uint8)

    register_perturbation(
        "haze", family="weather", apply=haze,
        severities=[{"amount": a} for a in (0.1, 0.2, 0.3, 0.45, 0.6)],
        statistic=("luminance_std", -1), description="a grey veil over the scene",
    )

and select it in the config (``perturb.perturbations: [haze]``).
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from faceaudit.perturb.geometry import CENTRED, FaceGeometry

ParamValue = float | int | str
Params = Mapping[str, ParamValue]
ApplyFn = Callable[[np.ndarray, Params, np.random.Generator, FaceGeometry], np.ndarray]

N_SEVERITIES = 5


@dataclass(frozen=True)
class Perturbation:
    """One registered perturbation.

    ``statistic`` names an image statistic (see :data:`STATISTICS`) and the direction it
    moves as severity rises (+1 rises, -1 falls): the tests hold every perturbation to it.
    """

    name: str
    family: str
    description: str
    severities: tuple[dict[str, ParamValue], ...]
    apply_fn: ApplyFn = field(repr=False)
    statistic: tuple[str, int]
    uses_geometry: bool = False
    backend: str = "numpy"  # "albumentations" or "numpy": recorded in the audit

    def apply(
        self,
        image: np.ndarray,
        severity: int,
        *,
        seed: int,
        image_id: str,
        geometry: FaceGeometry | None = None,
    ) -> np.ndarray:
        """The perturbed copy of ``image`` (H x W x 3 uint8) at ``severity`` (1..5)."""
        if not 1 <= severity <= len(self.severities):
            raise ValueError(
                f"perturbation {self.name!r}: severity must be 1..{len(self.severities)}, got {severity}"
            )
        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
            raise ValueError(
                f"perturbation {self.name!r}: expected an H x W x 3 uint8 RGB array, "
                f"got {image.dtype} {image.shape}"
            )
        rng = np.random.default_rng(image_seed(seed, self.name, severity, image_id))
        out = self.apply_fn(image, self.severities[severity - 1], rng, geometry or CENTRED)
        if out.shape != image.shape or out.dtype != np.uint8:
            raise ValueError(
                f"perturbation {self.name!r} returned {out.dtype} {out.shape} for a "
                f"{image.dtype} {image.shape} image; it must keep shape and uint8"
            )
        return out


_REGISTRY: dict[str, Perturbation] = {}


def image_seed(seed: int, name: str, severity: int, image_id: str) -> int:
    """A 63-bit seed that depends on nothing but these four values."""
    digest = hashlib.sha256(f"{seed}\x00{name}\x00{severity}\x00{image_id}".encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1


def register_perturbation(
    name: str,
    *,
    family: str,
    apply: ApplyFn,
    severities: Sequence[Mapping[str, ParamValue]],
    statistic: tuple[str, int],
    description: str = "",
    uses_geometry: bool = False,
    backend: str = "numpy",
    replace: bool = False,
) -> Perturbation:
    """Add a perturbation to the registry (``replace=True`` to overwrite a name)."""
    if not name or not name.replace("_", "").replace("-", "").isalnum():
        raise ValueError(f"perturbation name {name!r}: use letters, digits, '_' or '-'")
    if name in _REGISTRY and not replace:
        raise ValueError(f"perturbation {name!r} is already registered (pass replace=True)")
    if len(severities) != N_SEVERITIES:
        raise ValueError(f"perturbation {name!r}: give exactly {N_SEVERITIES} severities, got {len(severities)}")
    stat, direction = statistic
    if stat not in STATISTICS or direction not in (-1, 1):
        raise ValueError(
            f"perturbation {name!r}: statistic must be (one of {sorted(STATISTICS)}, +1 or -1), "
            f"got {statistic!r}"
        )
    perturbation = Perturbation(
        name=name,
        family=family,
        description=description,
        severities=tuple(dict(s) for s in severities),
        apply_fn=apply,
        statistic=(stat, direction),
        uses_geometry=uses_geometry,
        backend=backend,
    )
    _REGISTRY[name] = perturbation
    return perturbation


def unregister_perturbation(name: str) -> None:
    _REGISTRY.pop(name, None)


#: Modules that register perturbations when imported: the built-in ones, loaded the way a
#: plug-in would be, on first use (albumentations takes seconds to import; `faceaudit --help`
#: must not pay for it), so the registry itself depends on none of them.
PROVIDERS: list[str] = ["faceaudit.perturb.builtin"]


def _ensure_builtins() -> None:
    import importlib

    for module in PROVIDERS:
        importlib.import_module(module)
    from faceaudit.plugins import load_perturbation_plugins

    load_perturbation_plugins()  # installed plug-ins (entry point group faceaudit.perturbations)


def get_perturbation(name: str) -> Perturbation:
    _ensure_builtins()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ValueError(
            f"unknown perturbation {name!r}; registered: {', '.join(sorted(_REGISTRY))}"
        ) from None


def registered(families: Sequence[str] | None = None) -> list[Perturbation]:
    """Registered perturbations (of ``families`` when given), in registration order."""
    _ensure_builtins()
    return [p for p in _REGISTRY.values() if families is None or p.family in families]


# --- albumentations glue ---------------------------------------------------------------------

_local = threading.local()


def albumentations_apply(build: Callable[[Params, int], Any]) -> ApplyFn:
    """An ``apply`` function running the albumentations transform ``build(params, size)``.

    The transform is wrapped in ``A.Compose(strict=True)`` so a misspelt or 1.x-only argument
    is an error rather than a warning (docs/reference.md §7), built once per thread, severity and
    image size, and reseeded from ``rng`` before every image: a Compose holds RNG state, so
    sharing one across threads would make pixels depend on scheduling.
    """
    import albumentations as A

    def apply(image: np.ndarray, params: Params, rng: np.random.Generator, geometry: FaceGeometry) -> np.ndarray:
        cache: dict[tuple[Any, ...], Any] = _local.__dict__.setdefault("composes", {})
        key = (id(build), tuple(sorted(params.items())), image.shape[0])
        compose = cache.get(key)
        if compose is None:
            compose = A.Compose([build(params, image.shape[0])], strict=True, seed=0)
            cache[key] = compose
        compose.set_random_seed(int(rng.integers(0, 2**31 - 1)))
        return compose(image=image)["image"]

    return apply


# --- image statistics the monotonicity tests hold perturbations to --------------------------


def _luminance(image: np.ndarray) -> np.ndarray:
    return image.astype(np.float32) @ np.array([0.299, 0.587, 0.114], dtype=np.float32)


def _sharpness(image: np.ndarray) -> float:
    lum = _luminance(image)
    lap = -4 * lum[1:-1, 1:-1] + lum[:-2, 1:-1] + lum[2:, 1:-1] + lum[1:-1, :-2] + lum[1:-1, 2:]
    return float(lap.var())


STATISTICS: dict[str, Callable[[np.ndarray, np.ndarray], float]] = {
    # (original, perturbed) -> number
    "mean_luminance": lambda original, perturbed: float(_luminance(perturbed).mean()),
    "luminance_std": lambda original, perturbed: float(_luminance(perturbed).std()),
    "sharpness": lambda original, perturbed: _sharpness(perturbed),
    "mean_abs_error": lambda original, perturbed: float(
        np.abs(perturbed.astype(np.float32) - original.astype(np.float32)).mean()
    ),
    "changed_fraction": lambda original, perturbed: float(
        (np.abs(perturbed.astype(np.int16) - original.astype(np.int16)).max(axis=2) > 8).mean()
    ),
}
