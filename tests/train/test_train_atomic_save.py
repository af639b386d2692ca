"""A crash while the LoRA adapter is saved keeps the previous adapter whole (issue #13, item 6).

Lives with the training tests to share their session-wide tiny-model cache.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from train_support import make_square_set

from faceaudit.store import sha256_tree
from faceaudit.train import trainer as trainer_module
from faceaudit.train.recipe import load_recipe
from faceaudit.train.tiny import tiny_internvl_cached


@pytest.mark.slow
def test_a_crash_while_saving_the_adapter_keeps_the_previous_adapter(tmp_path, tmp_path_factory, monkeypatch):
    # The cache the training tests use: built once per session.
    base = tiny_internvl_cached(tmp_path_factory.getbasetemp() / "tiny-models")
    items, _ = make_square_set(tmp_path / "squares", n=4)
    recipe = load_recipe("tiny").model_copy(update={
        "max_steps": 1, "per_device_train_batch_size": 2, "save_steps": 100, "merge": False})
    out = tmp_path / "run"
    adapter = out / trainer_module.ADAPTER
    adapter.mkdir(parents=True)  # the adapter of an earlier, finished training
    (adapter / "adapter_model.safetensors").write_bytes(b"earlier weights")
    (adapter / "preprocessor_config.json").write_text("{}")
    before = sha256_tree(adapter)

    staged: list[list[str]] = []

    def crash(processor, folder):
        staged.append(sorted(p.name for p in Path(folder).iterdir()))
        raise KeyboardInterrupt("killed while the processor files were written")

    monkeypatch.setattr(trainer_module, "save_processor", crash)
    with pytest.raises(KeyboardInterrupt):
        trainer_module.train_lora(base_model=base, corpus=None, image_root=tmp_path / "squares", recipe=recipe,
                                  out_dir=out, train_items=items, eval_items=[], progress=False, resume=False)
    # The new weights were written (to the staging folder) before the crash, never over the old adapter.
    assert len(staged) == 1 and "adapter_model.safetensors" in staged[0]
    assert sha256_tree(adapter) == before
    assert not (out / f".{adapter.name}.partial").exists()
