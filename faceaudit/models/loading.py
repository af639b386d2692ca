"""Load an image-text-to-text checkpoint (hub id or local directory) and its processor.

One loading path for everything: the tiny test checkpoint, ``OpenGVLab/InternVL3-*-hf``
from the hub cache, a local copy of it, and a trained FaceLLM directory (base + adapter
or merged). ``HF_HUB_OFFLINE=1`` is honoured by ``from_pretrained`` itself: with it set,
hub ids resolve from the local cache only (see training/README.md for pre-downloading).

Two transformers 5.24 pitfalls are handled here (docs/reference.md §5):

* ``InternVLProcessor`` cannot be built when torchvision is absent (its video processor
  lookup raises); :class:`SingleTileInternVLProcessor` accepts ``video_processor=None``.
* the processor defaults to ``crop_to_patches=True`` (dynamic tiling: a 224 px face became
  10 tiles); FaceLLM uses one tile per image (448 px for InternVL3, 256 image tokens), so
  the subclass defaults to ``crop_to_patches=False``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from transformers import InternVLProcessor

from faceaudit.errors import InputError


class RemoteCodeRefused(InputError):
    """A checkpoint needs code shipped with it, and the user did not allow running it."""


class SingleTileInternVLProcessor(InternVLProcessor):
    """``InternVLProcessor`` that works without torchvision and never tiles images.

    ``images_kwargs`` is the processor-level default that wins over the image processor's
    own ``crop_to_patches``; setting it to False gives one tile per image at the image
    processor's ``size`` (448 px for InternVL3, 64 px for the tiny model).
    """

    images_kwargs = {"crop_to_patches": False}

    def check_argument_for_proper_class(self, argument_name: str, argument: Any) -> Any:
        # Without torchvision the video-processor class lookup itself raises; images are
        # all faceaudit feeds this processor, so a missing video processor is fine.
        if argument is None and argument_name == "video_processor":
            return None
        return super().check_argument_for_proper_class(argument_name, argument)


def _hub_kwargs(revision: str | None) -> dict[str, Any]:
    kwargs: dict[str, Any] = {}
    if revision is not None:
        kwargs["revision"] = revision
    return kwargs


def read_model_config(path_or_id: str | Path, *, revision: str | None = None) -> dict[str, Any]:
    """``config.json`` of a checkpoint as a dict, without instantiating anything."""
    from transformers import PretrainedConfig

    config, _ = PretrainedConfig.get_config_dict(str(path_or_id), **_hub_kwargs(revision))
    return config


def check_remote_code(path_or_id: str | Path, trust_remote_code: bool, *, revision: str | None = None) -> None:
    """Raise :class:`RemoteCodeRefused` when a checkpoint needs its own Python code.

    transformers would raise too, but with a message about an interactive prompt; this one
    says what faceaudit allows and how to opt in.
    """
    if trust_remote_code:
        return
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING

    config = read_model_config(path_or_id, revision=revision)
    model_type = config.get("model_type")
    if model_type in CONFIG_MAPPING:
        return
    raise RemoteCodeRefused(
        f"{path_or_id}: model_type {model_type!r} is not built into transformers; loading it "
        "would run Python code shipped with the checkpoint (trust_remote_code). faceaudit refuses "
        "that by default. Use the transformers-native variant (e.g. OpenGVLab/InternVL3-1B-hf "
        "instead of OpenGVLab/InternVL3-1B), or set trust_remote_code: true explicitly in the "
        "recipe / model config if you have reviewed that code."
    )


def _is_internvl(config: dict[str, Any]) -> bool:
    return config.get("model_type") == "internvl"


def _load_internvl_processor(path_or_id: str, trust_remote_code: bool, revision: str | None):
    from transformers import AutoImageProcessor, AutoTokenizer

    kwargs = _hub_kwargs(revision)
    processor_dict, _ = InternVLProcessor.get_processor_dict(path_or_id, **kwargs)
    tokenizer = AutoTokenizer.from_pretrained(path_or_id, trust_remote_code=trust_remote_code, **kwargs)
    image_processor = AutoImageProcessor.from_pretrained(path_or_id, trust_remote_code=trust_remote_code, **kwargs)
    image_processor.crop_to_patches = False
    chat_template = processor_dict.get("chat_template") or tokenizer.chat_template
    return SingleTileInternVLProcessor(
        image_processor=image_processor,
        tokenizer=tokenizer,
        video_processor=None,
        image_seq_length=int(processor_dict.get("image_seq_length", 256)),
        chat_template=chat_template,
    )


def load_processor(
    path_or_id: str | Path, *, trust_remote_code: bool = False, revision: str | None = None
):
    """The processor of a checkpoint: tokenizer + image processor + chat template.

    InternVL checkpoints get :class:`SingleTileInternVLProcessor` (no torchvision needed,
    one tile per image); other architectures go through ``AutoProcessor``.
    """
    path_or_id = str(path_or_id)
    check_remote_code(path_or_id, trust_remote_code, revision=revision)
    config = read_model_config(path_or_id, revision=revision)
    if _is_internvl(config):
        return _load_internvl_processor(path_or_id, trust_remote_code, revision)
    from transformers import AutoProcessor

    return AutoProcessor.from_pretrained(path_or_id, trust_remote_code=trust_remote_code, **_hub_kwargs(revision))


def save_processor(processor: Any, out_dir: Path) -> None:
    """Save a processor so that :func:`load_processor` reads it back from ``out_dir``.

    ``InternVLProcessor.save_pretrained`` fails without torchvision (docs/reference.md §5), so the
    tokenizer, image processor, chat template and ``processor_config.json`` are written one by one.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if not isinstance(processor, InternVLProcessor):
        processor.save_pretrained(out_dir)
        return
    processor.tokenizer.save_pretrained(out_dir)
    processor.image_processor.save_pretrained(out_dir)
    config = {"processor_class": "InternVLProcessor", "image_seq_length": processor.image_seq_length}
    (out_dir / "processor_config.json").write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    if processor.chat_template:
        (out_dir / "chat_template.jinja").write_text(processor.chat_template, encoding="utf-8")


def resolve_dtype(dtype: Any):
    """``None``/"auto" -> checkpoint dtype; "bf16"/"bfloat16"/"fp16"/"float32" -> torch dtype."""
    import torch

    if dtype is None or isinstance(dtype, torch.dtype):
        return dtype
    names = {
        "auto": "auto",
        "bf16": torch.bfloat16,
        "bfloat16": torch.bfloat16,
        "fp16": torch.float16,
        "float16": torch.float16,
        "fp32": torch.float32,
        "float32": torch.float32,
    }
    if dtype not in names:
        raise ValueError(f"dtype {dtype!r} is not one of {', '.join(names)}")
    return names[dtype]


def resolve_adapter_dir(adapter: Path) -> Path:
    """A peft adapter directory, or a faceaudit training output holding one in ``adapter/``."""
    for candidate in (adapter, adapter / "adapter"):
        if (candidate / "adapter_config.json").is_file():
            return candidate
    raise FileNotFoundError(
        f"{adapter}: not a peft adapter directory (adapter_config.json missing), "
        "nor a faceaudit training output with one in adapter/"
    )


def load_model(
    path_or_id: str | Path,
    *,
    adapter: Path | None = None,
    dtype: Any = None,
    device: str | None = None,
    trust_remote_code: bool = False,
    revision: str | None = None,
):
    """Load ``(model, processor)`` ready for inference (eval mode).

    ``path_or_id`` is a hub id (resolved from the cache when ``HF_HUB_OFFLINE=1``) or a
    local checkpoint directory. ``adapter`` is a peft adapter directory trained on that
    base (``adapter_config.json`` + ``adapter_model.safetensors``); the processor then comes
    from the adapter directory when it holds one (faceaudit saves it there), else from the
    base; a faceaudit training output directory (holding ``adapter/``) is accepted too.
    ``device="auto"`` spreads a large model over the visible GPUs (accelerate).
    """
    from transformers import AutoModelForImageTextToText

    path_or_id = str(path_or_id)
    check_remote_code(path_or_id, trust_remote_code, revision=revision)
    kwargs: dict[str, Any] = {"trust_remote_code": trust_remote_code, **_hub_kwargs(revision)}
    resolved = resolve_dtype(dtype)
    if resolved is not None:
        kwargs["dtype"] = resolved
    if device == "auto":
        kwargs["device_map"] = "auto"
    model = AutoModelForImageTextToText.from_pretrained(path_or_id, **kwargs)
    if device not in (None, "auto"):
        model = model.to(device)
    processor_source = path_or_id
    if adapter is not None:
        from peft import PeftModel

        adapter = resolve_adapter_dir(Path(adapter))
        model = PeftModel.from_pretrained(model, str(adapter), is_trainable=False)
        if (adapter / "tokenizer_config.json").is_file():
            processor_source = str(adapter)
    model.eval()
    processor = (
        load_processor(processor_source, trust_remote_code=trust_remote_code, revision=revision)
        if processor_source == path_or_id
        else _load_local_processor(Path(processor_source), path_or_id, trust_remote_code, revision)
    )
    return model, processor


def _load_local_processor(directory: Path, base: str, trust_remote_code: bool, revision: str | None):
    """Processor saved next to an adapter; its kind follows the base model's config."""
    config = read_model_config(base, revision=revision)
    if _is_internvl(config):
        return _load_internvl_processor(str(directory), trust_remote_code, None)
    from transformers import AutoProcessor

    return AutoProcessor.from_pretrained(str(directory), trust_remote_code=trust_remote_code)
