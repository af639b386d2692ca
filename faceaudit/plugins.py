"""Plug-ins through Python entry points: a lab adds a model backend or perturbations without forking.

A plug-in is an installed distribution that declares entry points in one of these groups
(in its ``pyproject.toml``)::

    [project.entry-points."faceaudit.backends"]
    mylab = "mylab_faceaudit:make_backend"      # evaluate.backend: mylab

    [project.entry-points."faceaudit.perturbations"]
    mylab = "mylab_faceaudit.perturbations"     # a module that calls register_perturbation

``faceaudit.backends``: the entry point's name is the backend name the config uses
(``evaluate.backend: mylab``); its object is a factory ``(cfg, model_dir, adapter, seed) ->
FaceModel`` called exactly like the built-in ones (``cfg`` is the ``evaluate`` section).

``faceaudit.perturbations``: the object is loaded (a module is imported) the first time the
perturbation registry is used; it registers its perturbations with
:func:`faceaudit.perturb.register_perturbation`, which are then selected by name
(``perturb.perturbations: [haze]``) or family.

A plug-in that cannot be loaded is an :class:`~faceaudit.errors.InputError` naming the
entry point, its distribution and the error, never a silent omission.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import metadata
from typing import Any

from faceaudit.errors import InputError

BACKENDS_GROUP = "faceaudit.backends"
PERTURBATIONS_GROUP = "faceaudit.perturbations"
GROUPS = (BACKENDS_GROUP, PERTURBATIONS_GROUP)

_loaded: dict[tuple[str, str, str], Any] = {}


def entry_points(group: str) -> dict[str, metadata.EntryPoint]:
    """The installed entry points of ``group`` by name (read afresh: installs take effect at once)."""
    return {ep.name: ep for ep in metadata.entry_points(group=group)}


def _load(entry: metadata.EntryPoint) -> Any:
    key = (entry.group, entry.name, entry.value)
    if key not in _loaded:
        dist = entry.dist.name if entry.dist is not None else "an unknown distribution"
        try:
            _loaded[key] = entry.load()
        except Exception as error:  # noqa: BLE001 - a plug-in can fail any way; say which one
            raise InputError(
                f"plug-in {entry.name!r} ({entry.group} = {entry.value!r}, from {dist}) failed to load: "
                f"{type(error).__name__}: {error}"
            ) from error
    return _loaded[key]


def backend_names() -> list[str]:
    return sorted(entry_points(BACKENDS_GROUP))


def backend_factory(name: str) -> Callable[..., Any] | None:
    """The plug-in backend factory called ``name``, or None when no plug-in declares it."""
    entry = entry_points(BACKENDS_GROUP).get(name)
    if entry is None:
        return None
    factory = _load(entry)
    if not callable(factory):
        raise InputError(f"plug-in backend {name!r} ({entry.value!r}) is not callable")
    return factory


_perturbation_plugins: list[str] | None = None


def load_perturbation_plugins() -> list[str]:
    """Load every ``faceaudit.perturbations`` plug-in; returns their entry-point names.

    The installed distributions are scanned once per process (the registry asks on every
    lookup); :func:`refresh` scans again after an install in a running process.
    """
    global _perturbation_plugins
    if _perturbation_plugins is None:
        names = []
        for name, entry in sorted(entry_points(PERTURBATIONS_GROUP).items()):
            _load(entry)
            names.append(name)
        _perturbation_plugins = names
    return list(_perturbation_plugins)


def refresh() -> None:
    """Forget what was scanned and loaded, so that plug-ins installed since are found."""
    global _perturbation_plugins
    _perturbation_plugins = None
    _loaded.clear()
