"""Plug-ins through Python entry points: a lab adds model backends, data set loaders, metrics,
perturbations or corpus scanners without forking.

A plug-in is an installed distribution that declares entry points in one of these groups
(in its ``pyproject.toml``)::

    [project.entry-points."faceaudit.backends"]
    mylab = "mylab_faceaudit:make_backend"      # evaluate.backend: mylab

    [project.entry-points."faceaudit.datasets"]
    mylab = "mylab_faceaudit:load_faces"        # dataset.kind: mylab

    [project.entry-points."faceaudit.metrics"]
    balanced_error = "mylab_faceaudit:balanced_error"   # evaluate.metrics: [balanced_error]

    [project.entry-points."faceaudit.perturbations"]
    mylab = "mylab_faceaudit.perturbations"     # a module that calls register_perturbation

    [project.entry-points."faceaudit.scanners"]
    hedging = "mylab_faceaudit:hedging"         # scan.scanners: [..., hedging] (default: all)

``faceaudit.backends``: the entry point's name is the backend name the config uses
(``evaluate.backend: mylab``); its object is a factory ``(cfg, model_dir, adapter, seed) ->
FaceModel`` called exactly like the built-in ones (``cfg`` is the ``evaluate`` section).

``faceaudit.datasets``: the name is a ``dataset.kind``; the object is a loader
``(cfg, *, progress, check_images) -> Dataset`` (``cfg`` is the ``dataset`` section), whose
records then get the config's split, limit and attribute choices like a built-in kind's.

``faceaudit.metrics``: the name is a metric name for ``evaluate.metrics``; the object is a
function of confusion totals of shape ``(..., K, K + 1)`` (gold by predicted class, the last
column invalid answers) returning shape ``(...)``, vectorised over the leading axes like
:mod:`faceaudit.evaluate.metrics_totals`, so it is computed per task and group and gets a
cluster-bootstrap interval from the same resampled totals as the built-in metrics.

``faceaudit.scanners``: the name is a scanner name; the object is a function of the
:class:`~faceaudit.scan.registry.ScanContext` returning a JSON-able mapping (or a pydantic
model), stored in ``corpus_scan.plugin_results[name]``; it may flag pairs for human review
with ``ctx.flag(reason, mask)``, since the review queue is built after it.

``faceaudit.perturbations``: the object is loaded (a module is imported) the first time the
perturbation registry is used; it registers its perturbations with
:func:`faceaudit.perturb.register_perturbation`, which are then selected by name
(``perturb.perturbations: [haze]``) or family.

A plug-in that cannot be loaded is an :class:`~faceaudit.errors.InputError` naming the
entry point, its distribution and the error, never a silent omission.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from importlib import metadata
from typing import Any

from faceaudit.errors import InputError

log = logging.getLogger("faceaudit.plugins")

BACKENDS_GROUP = "faceaudit.backends"
DATASETS_GROUP = "faceaudit.datasets"
METRICS_GROUP = "faceaudit.metrics"
PERTURBATIONS_GROUP = "faceaudit.perturbations"
SCANNERS_GROUP = "faceaudit.scanners"
GROUPS = (BACKENDS_GROUP, DATASETS_GROUP, METRICS_GROUP, PERTURBATIONS_GROUP, SCANNERS_GROUP)
#: What each group's entry points are called in messages.
_WHAT = {BACKENDS_GROUP: "backend", DATASETS_GROUP: "dataset kind", METRICS_GROUP: "metric",
         SCANNERS_GROUP: "scanner"}

_loaded: dict[tuple[str, str, str], Any] = {}


def _dist(entry: metadata.EntryPoint) -> str:
    return entry.dist.name if entry.dist is not None else "an unknown distribution"


def entry_points(group: str) -> dict[str, metadata.EntryPoint]:
    """The installed entry points of ``group`` by name (read afresh: installs take effect at once).

    Two installed distributions declaring one name for different objects is an error naming
    both: which one Python's metadata lists first depends on the order of ``sys.path``
    entries and directory listings, so either choice would be silent and arbitrary.
    """
    found: dict[str, metadata.EntryPoint] = {}
    for entry in metadata.entry_points(group=group):
        other = found.get(entry.name)
        if other is not None and other.value != entry.value:
            raise InputError(
                f"two installed plug-ins declare the {_WHAT.get(group, 'plug-in')} {entry.name!r} in {group}: "
                f"{_dist(other)} ({other.value}) and {_dist(entry)} ({entry.value}); uninstall or rename one")
        found.setdefault(entry.name, entry)
    return found


def _load(entry: metadata.EntryPoint) -> Any:
    key = (entry.group, entry.name, entry.value)
    if key not in _loaded:
        dist = _dist(entry)
        try:
            _loaded[key] = entry.load()
        except Exception as error:  # noqa: BLE001 - a plug-in can fail any way; say which one
            raise InputError(
                f"plug-in {entry.name!r} ({entry.group} = {entry.value!r}, from {dist}) failed to load: "
                f"{type(error).__name__}: {error}"
            ) from error
    return _loaded[key]


def names(group: str) -> list[str]:
    """The names installed plug-ins declare in ``group``, sorted."""
    return sorted(entry_points(group))


def plugin(group: str, name: str) -> Callable[..., Any] | None:
    """The callable the plug-in ``name`` of ``group`` declares, or None when none declares it."""
    entry = entry_points(group).get(name)
    if entry is None:
        return None
    obj = _load(entry)
    if not callable(obj):
        raise InputError(f"plug-in {_WHAT.get(group, group)} {name!r} ({entry.value!r}) is not callable")
    return obj


def check_name(group: str, value: str, builtin: Sequence[str]) -> str:
    """``value`` when it is built in or a plug-in of ``group`` declares it; else the error a config
    validator raises, listing every accepted name."""
    plugins = names(group)
    if value in builtin:
        if value in plugins:
            log.warning("the installed plug-in %s %r (%s) is not used: the built-in %s of that name is; "
                        "rename the plug-in", _WHAT[group], value, entry_points(group)[value].value, _WHAT[group])
        return value
    if value not in plugins:
        raise ValueError(
            f"unknown {_WHAT[group]} {value!r}; accepted: {', '.join([*builtin, *plugins])} "
            f"(plug-ins declare entry points in the group {group})"
        )
    return value


def backend_names() -> list[str]:
    return names(BACKENDS_GROUP)


def backend_factory(name: str) -> Callable[..., Any] | None:
    """The plug-in backend factory called ``name``, or None when no plug-in declares it."""
    return plugin(BACKENDS_GROUP, name)


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
