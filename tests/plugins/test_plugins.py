"""Plug-ins through entry points: an installed distribution's backend, perturbation, data set
loader, metric and corpus scanner are each used by name from the config.

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


LAB_MODULE = MODULE + '''

from faceaudit.data.manifest import load_manifest


def load_faces(cfg, *, progress, check_images):
    CALLS.append(("dataset", cfg.path))
    dataset = load_manifest(cfg.path, check_images=check_images, progress=progress)
    dataset.name = "lab-faces"
    return dataset


def error_rate(confusion):
    k = confusion.shape[-2]
    hits = np.trace(confusion[..., :k], axis1=-2, axis2=-1)
    return 1.0 - hits / confusion.sum(axis=(-2, -1))


def lab_words(ctx):
    long = np.array([len(a.split()) > 3 for a in ctx.corpus.answers])
    ctx.flag("lab: long answer", long)
    return {"pairs": len(ctx.corpus.answers), "long_answers": int(long.sum())}
'''

LAB_ENTRY_POINTS = """
    [faceaudit.datasets]
    labfaces = fa_lab_plugin:load_faces

    [faceaudit.metrics]
    error_rate = fa_lab_plugin:error_rate

    [faceaudit.scanners]
    lab_words = fa_lab_plugin:lab_words
"""


def test_plugin_loader_metric_and_scanner_are_used_by_name_from_the_config(site: Path, tmp_path: Path) -> None:
    from faceaudit.data.synthetic import render_synthetic
    from faceaudit.data.synthetic_config import SyntheticConfig

    _install(site, LAB_ENTRY_POINTS, module=LAB_MODULE)
    manifest = render_synthetic(tmp_path / "faces", SyntheticConfig(n=60, image_size=32), progress=False)
    config = load_config(overrides=[
        "dataset.kind=labfaces", f"dataset.path={manifest}", "train.enabled=false", "perturb.enabled=false",
        "report.enabled=false", "gate.enabled=false", "contamination.enabled=false",
        "evaluate.backend=simulated", "evaluate.n_boot=100", "evaluate.metrics=[error_rate]",
        "scan.scanners=[representation, lab_words, review]", f"output_dir={tmp_path}", "run_id=lab",
    ])
    result = run_audit(config, progress=False).result
    calls = sys.modules["fa_lab_plugin"].CALLS
    assert calls == [("dataset", str(manifest))]
    assert result.dataset.name == "lab-faces" and result.dataset.n_records == 60
    # The metric: one minus accuracy in every group, with a bootstrap interval around it.
    for task in result.evaluation.tasks:
        for estimates in [task.overall, *(g.metrics for g in task.groups)]:
            error, accuracy = estimates["error_rate"], estimates["accuracy"]
            assert error.value == pytest.approx(1 - accuracy.value)
            assert error.method == "bootstrap-percentile-cluster" and error.lower <= error.value <= error.upper
        assert not any(d.metric == "error_rate" for d in task.disparities)
    # The scanner: its result stored by name, and its flags reach the review queue built after it.
    scan = result.corpus_scan
    assert scan.scanners_run == ["representation", "lab_words", "review"]
    pairs = result.corpus.n_accepted
    assert scan.plugin_results["lab_words"]["pairs"] == pairs
    assert 0 < scan.plugin_results["lab_words"]["long_answers"] <= pairs
    assert scan.review.n_flagged > 0
    assert "lab: long answer" in (tmp_path / "lab" / scan.review.queue_csv).read_text()


@pytest.mark.parametrize(("override", "message"), [
    ("dataset.kind=nope", r"unknown dataset kind 'nope'; accepted: synthetic, fairface, manifest, facexbench, labfaces"),
    ("evaluate.metrics=[nope]", r"unknown metric 'nope'; accepted: error_rate \(plug-ins declare entry points in the group faceaudit.metrics\)"),
    ("evaluate.metrics=[accuracy]", r"'accuracy' is a built-in metric, always computed"),
])
def test_unknown_plugin_names_list_the_available_ones(site: Path, override: str, message: str) -> None:
    _install(site, LAB_ENTRY_POINTS, module=LAB_MODULE)
    with pytest.raises(InputError, match=message):
        load_config(overrides=[override])


def test_an_unknown_scanner_lists_builtins_and_plugins(site: Path) -> None:
    from faceaudit.scan.registry import scanner

    _install(site, LAB_ENTRY_POINTS, module=LAB_MODULE)
    with pytest.raises(ValueError, match=r"unknown scanner 'nope'; registered: \[.*'tone', 'lab_words', 'review'\]"):
        scanner("nope")


def _install_dist(site: Path, dist: str, entry_points: str) -> None:
    info = site / f"{dist.replace('-', '_')}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(textwrap.dedent(entry_points))


def test_two_plugins_declaring_one_name_are_refused_naming_both(site: Path) -> None:
    """Which of two same-named entry points metadata lists first depends on directory order: a
    silent, arbitrary choice. It is an error naming both distributions instead."""
    _install_dist(site, "lab-alpha", '[faceaudit.datasets]\nmylab = lab_alpha:load\n')
    _install_dist(site, "lab-beta", '[faceaudit.datasets]\nmylab = lab_beta:load\n')
    plugins.refresh()
    with pytest.raises(InputError, match=r"two installed plug-ins declare the dataset kind 'mylab'.*lab-alpha.*"
                                         r"lab_alpha:load.*lab-beta.*lab_beta:load|two installed plug-ins declare "
                                         r"the dataset kind 'mylab'.*lab-beta.*lab-alpha"):
        plugins.plugin(plugins.DATASETS_GROUP, "mylab")


def test_a_plugin_named_like_a_builtin_is_reported_unused(site: Path, caplog: pytest.LogCaptureFixture) -> None:
    _install_dist(site, "lab-shadow", '[faceaudit.backends]\nhf = lab_shadow:make_backend\n')
    plugins.refresh()
    with caplog.at_level("WARNING", logger="faceaudit.plugins"):
        assert plugins.check_name(plugins.BACKENDS_GROUP, "hf", ["hf", "openai", "simulated"]) == "hf"
    assert "the installed plug-in backend 'hf' (lab_shadow:make_backend) is not used" in caplog.text
