"""Plug-ins through entry points: an installed distribution's backend and perturbation are used.

The plug-in is "installed" the way pip leaves it: a module and a ``*.dist-info`` folder with
``METADATA`` and ``entry_points.txt`` in a directory on ``sys.path`` (no network, no build).
"""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from faceaudit import plugins
from faceaudit.config import load_config
from faceaudit.errors import InputError
from faceaudit.pipeline import run_audit

MODULE = '''
import numpy as np

from faceaudit.models.simulated import SimulatedFaceModel
from faceaudit.perturb.registry import register_perturbation

CALLS = []


def make_backend(cfg, model_dir, adapter, seed):
    CALLS.append(cfg.backend)
    return SimulatedFaceModel({"default": 1.0}, seed=seed, name="lab-oracle")


def _veil(image, params, rng, geometry):
    veil = np.full_like(image, 128)
    return (image * (1 - params["amount"]) + veil * params["amount"]).astype(np.uint8)


register_perturbation(
    "lab_veil", family="lab", apply=_veil,
    severities=[{"amount": a} for a in (0.1, 0.2, 0.3, 0.45, 0.6)],
    statistic=("luminance_std", -1), description="a grey veil",
)
'''


def _install(site: Path, entry_points: str, module: str = MODULE) -> None:
    (site / "fa_lab_plugin.py").write_text(module)
    info = site / "fa_lab_plugin-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: fa-lab-plugin\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(textwrap.dedent(entry_points))


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    from faceaudit.perturb import registry

    directory = tmp_path / "site"
    directory.mkdir()
    monkeypatch.syspath_prepend(str(directory))
    plugins.refresh()
    before = dict(registry._REGISTRY)
    yield directory
    registry._REGISTRY.clear()
    registry._REGISTRY.update(before)
    sys.modules.pop("fa_lab_plugin", None)
    plugins.refresh()


def test_a_plugin_backend_is_picked_up_by_name_from_the_config(site: Path, tmp_path: Path) -> None:
    _install(site, """
        [faceaudit.backends]
        lab = fa_lab_plugin:make_backend
    """)
    assert "lab" in plugins.backend_names()
    config = load_config(overrides=[
        "dataset.synthetic.n=60", "dataset.synthetic.image_size=32", "corpus.enabled=false",
        "train.enabled=false", "perturb.enabled=false", "report.enabled=false", "gate.enabled=false",
        "evaluate.backend=lab", "evaluate.n_boot=100", f"output_dir={tmp_path}", "run_id=lab",
    ])
    evaluation = run_audit(config, progress=False).result.evaluation
    assert sys.modules["fa_lab_plugin"].CALLS == ["lab"]
    assert evaluation.model == "lab-oracle"
    assert all(task.overall["accuracy"].value == 1.0 for task in evaluation.tasks)


def test_an_unknown_backend_lists_builtins_and_plugins(site: Path) -> None:
    _install(site, """
        [faceaudit.backends]
        lab = fa_lab_plugin:make_backend
    """)
    with pytest.raises(InputError, match=r"unknown backend 'nope'; accepted: hf, openai, predictions, simulated, lab"):
        load_config(overrides=["evaluate.backend=nope"])


def test_a_plugin_perturbation_is_registered_and_applied(site: Path) -> None:
    from faceaudit.perturb.registry import get_perturbation, registered

    _install(site, """
        [faceaudit.perturbations]
        lab = fa_lab_plugin
    """)
    veil = get_perturbation("lab_veil")
    assert veil.family == "lab" and [p.name for p in registered(["lab"])] == ["lab_veil"]
    image = np.zeros((8, 8, 3), np.uint8)
    assert int(veil.apply(image, 5, seed=0, image_id="x")[0, 0, 0]) == int(128 * 0.6)


def test_a_broken_plugin_is_named_in_the_error(site: Path) -> None:
    _install(site, """
        [faceaudit.backends]
        broken = fa_lab_plugin:make_backend
    """, module="raise RuntimeError('missing weights')\n")
    config = load_config(overrides=["evaluate.backend=broken"]).evaluate
    from faceaudit.models import make_model

    with pytest.raises(InputError, match=r"plug-in 'broken' .*from fa-lab-plugin\) failed to load: RuntimeError: missing weights"):
        make_model(config)
