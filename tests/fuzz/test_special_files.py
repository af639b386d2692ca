"""A FIFO, a device or a directory named as an input file is refused by name, never read.

Every loader a user hands a path to (configs, policies, sign-off and card YAML, recipes,
prompt sets, FaceXBench JSON, manifests and their sidecars, corpora, predictions, imported
answers, reviewer verdicts, audit.json) must end in faceaudit's ``InputError`` naming the
path and saying it is not a regular file. Before the shared guard
(``faceaudit.store.open_regular``) a FIFO made most of them block forever in ``open()``,
waiting for a writer, and ``/dev/zero`` would have been read until memory ran out.

A loader runs in a thread; if it is still blocked after a few seconds the test opens the
FIFO's write end and closes it (the reader then sees end of file and returns), so a hang
fails the test instead of hanging the suite.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from faceaudit.errors import InputError

HANG_S = 5.0


def _facexbench_folder(path: Path):
    from faceaudit.data.facexbench import load_facexbench

    return load_facexbench(path.parent)


def _manifest_sidecar(path: Path):
    from faceaudit.data.manifest import read_sidecar

    return read_sidecar(path)


def _predictions(path: Path):
    from faceaudit.models.predictions_file import _rows

    return _rows(path)


def _import_answers(path: Path):
    from faceaudit.items import import_answers

    (path.parent / "items.jsonl").write_text('{"item_id": "q1", "index": 0, "facexbench_id": "age-1"}\n')
    return import_answers(path, path.parent, path.parent / "answers.jsonl")


def _loaders() -> dict[str, tuple[str, Callable[[Path], object]]]:
    """name -> (file name the special file gets, call that reads it)."""
    from faceaudit.config import load_config
    from faceaudit.contamination.stage import corpus_image_paths
    from faceaudit.corpus.prompts import load_prompt_set
    from faceaudit.corpus.sharegpt import import_sharegpt
    from faceaudit.data.manifest import load_manifest
    from faceaudit.gate.policy import load_policy
    from faceaudit.report.inputs import load_card, load_signoff
    from faceaudit.scan.review import read_verdicts
    from faceaudit.scan.table import read_labels, read_pair_columns
    from faceaudit.schema import AuditResult
    from faceaudit.store import sha256_file
    from faceaudit.train.data import read_corpus
    from faceaudit.train.recipe import load_recipe

    return {
        "config": ("audit.yaml", load_config),
        "policy": ("policy.yaml", load_policy),
        "sign-off": ("signoff.yaml", load_signoff),
        "model card": ("card.yaml", load_card),
        "recipe": ("recipe.yaml", load_recipe),
        "prompt set": ("prompts.yaml", load_prompt_set),
        "FaceXBench file": ("age.json", lambda p: _facexbench_folder(p)),
        "manifest (csv)": ("manifest.csv", load_manifest),
        "manifest (jsonl)": ("manifest.jsonl", load_manifest),
        "manifest sidecar": ("dataset.yaml", _manifest_sidecar),
        "predictions (csv)": ("predictions.csv", _predictions),
        "predictions (jsonl)": ("predictions.jsonl", _predictions),
        "imported answers": ("results.tsv", _import_answers),
        "ShareGPT import": ("fairfacegpt.json", lambda p: import_sharegpt(p, p.parent / "corpus.jsonl")),
        "training corpus (jsonl)": ("corpus.jsonl", read_corpus),
        "training corpus (ShareGPT)": ("corpus.json", read_corpus),
        "scanned corpus": ("scan.jsonl", read_pair_columns),
        "scan labels": ("labels.csv", read_labels),
        "reviewer verdicts": ("verdicts.csv", read_verdicts),
        "contamination corpus": ("train.json", corpus_image_paths),
        "audit.json": ("audit.json", AuditResult.load),
        "hashed input": ("weights.safetensors", sha256_file),
    }


LOADERS = sorted(_loaders())


def _call_guarded(call: Callable[[], object], fifo: Path | None) -> BaseException | None:
    """Run ``call``; its exception (None if it returned). A hang is failed, then unblocked."""
    outcome: list[BaseException | None] = []

    def target() -> None:
        try:
            call()
            outcome.append(None)
        except BaseException as error:  # noqa: BLE001 - handed back to the test
            outcome.append(error)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(HANG_S)
    if thread.is_alive():
        if fifo is not None:
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))  # the blocked reader sees EOF
        thread.join(HANG_S)
        pytest.fail(f"the loader blocked for {HANG_S:.0f} s on {fifo} instead of refusing it")
    return outcome[0]


def _assert_refused(error: BaseException | None, path: Path, kind: str) -> None:
    assert isinstance(error, InputError), f"expected an InputError naming {path}, got {error!r}"
    assert str(path) in str(error) and f"is {kind}, not a regular file" in str(error), str(error)


@pytest.mark.parametrize("name", LOADERS)
def test_a_fifo_is_refused_by_name_without_blocking(name: str, tmp_path: Path) -> None:
    file_name, load = _loaders()[name]
    fifo = tmp_path / file_name
    os.mkfifo(fifo)
    _assert_refused(_call_guarded(lambda: load(fifo), fifo), fifo, "a FIFO (named pipe)")


@pytest.mark.parametrize("name", ["config", "policy", "sign-off", "predictions (jsonl)", "training corpus (jsonl)",
                                  "scan labels", "audit.json", "hashed input"])
def test_a_directory_is_refused_by_name(name: str, tmp_path: Path) -> None:
    file_name, load = _loaders()[name]
    folder = tmp_path / file_name
    folder.mkdir()
    _assert_refused(_call_guarded(lambda: load(folder), None), folder, "a directory")


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="no /dev/zero on this system")
def test_a_character_device_is_refused_before_it_is_read() -> None:
    # /dev/zero never ends: read whole (a config, a policy) it would fill memory, hashed it would
    # spin forever. It is refused at open. (No whole-file loader is called here: a regression
    # would exhaust the machine's memory before the hang check fired.)
    from faceaudit.store import read_regular_bytes, read_regular_text, sha256_file

    device = Path("/dev/zero")
    for call in (lambda: sha256_file(device), lambda: read_regular_bytes(device), lambda: read_regular_text(device)):
        _assert_refused(_call_guarded(call, None), device, "a device")


def test_open_regular_refuses_write_modes(tmp_path: Path) -> None:
    from faceaudit.store import open_regular

    (tmp_path / "a.txt").write_text("x")
    for mode in ("w", "a", "r+", "wb"):
        with pytest.raises(ValueError, match="reads only"):
            open_regular(tmp_path / "a.txt", mode)
    with open_regular(tmp_path / "a.txt", "r", encoding="utf-8") as handle:
        assert handle.read() == "x"


@pytest.mark.parametrize("fmt", ["vlmevalkit", "facexbench"])
def test_items_export_refuses_a_fifo_image_instead_of_hanging(tmp_path: Path, fmt: str) -> None:
    """`faceaudit items export` copies or embeds every image: a FIFO among them is refused up front
    by name, and the copy and the embedding themselves read only regular files, so a file swapped
    for a FIFO after the check cannot block the export either."""
    from faceaudit.data.records import McqItem
    from faceaudit.items import export_items

    fifo = tmp_path / "face.png"
    os.mkfifo(fifo)
    item = McqItem(item_id="q1", image_ids=["face"], image_paths=["face.png"], task="age", question="How old?",
                   options=["young", "old"], answer="A", groups={"g": "x"})
    error = _call_guarded(lambda: export_items([item], tmp_path, tmp_path / "out", formats=[fmt]), fifo)
    assert isinstance(error, InputError) and "image 'face.png' is not a regular file" in str(error), error
    from faceaudit import items as items_module

    writer = items_module._write_vlmevalkit if fmt == "vlmevalkit" else (
        lambda its, root, out: items_module._write_facexbench(its, root, out, {"q1": ("age", "1")}))
    _assert_refused(_call_guarded(lambda: writer([item], tmp_path, tmp_path / "w"), fifo), fifo, "a FIFO (named pipe)")
