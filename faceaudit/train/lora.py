"""LoRA configuration scoped to the language model (docs/reference.md §5).

``target_modules=["q_proj", ...]`` would also hit the vision tower, whose attention layers
use the same names in some InternVL variants; FaceLLM adapts the language model only. The
target is therefore a regular expression over full module names, built from the Linear
layers actually found under ``language_model``.
"""

from __future__ import annotations

import re
from typing import Any

from faceaudit.train.recipe import LoraSpec

LANGUAGE_MODEL_SCOPE = "language_model"


def language_model_linear_names(model: Any) -> list[str]:
    """Full names of every ``nn.Linear`` inside the language model (not the LM head)."""
    from torch import nn

    return [
        name
        for name, module in model.named_modules()
        if isinstance(module, nn.Linear) and LANGUAGE_MODEL_SCOPE in name.split(".")
    ]


def language_model_target_regex(model: Any) -> tuple[str, list[str]]:
    """(regex peft full-matches against module names, sorted leaf names it covers)."""
    names = language_model_linear_names(model)
    if not names:
        raise ValueError(
            f"no nn.Linear found under a module named {LANGUAGE_MODEL_SCOPE!r}: this model's "
            "architecture is not an InternVL-style image-text-to-text model"
        )
    leaves = sorted({name.rsplit(".", 1)[-1] for name in names})
    alternatives = "|".join(re.escape(leaf) for leaf in leaves)
    return rf"^(?:.*\.)?{LANGUAGE_MODEL_SCOPE}\.(?:.*\.)?(?:{alternatives})$", leaves


def build_lora_config(model: Any, spec: LoraSpec):
    from peft import LoraConfig

    regex, _ = language_model_target_regex(model)
    return LoraConfig(
        r=spec.r,
        lora_alpha=spec.alpha,
        lora_dropout=spec.dropout,
        target_modules=regex,
        modules_to_save=list(spec.modules_to_save) or None,
        bias="none",
    )


def lora_module_names(peft_model: Any) -> list[str]:
    """Full names of the modules that carry a LoRA adapter."""
    from peft.tuners.lora import LoraLayer

    return sorted(name for name, module in peft_model.named_modules() if isinstance(module, LoraLayer))
