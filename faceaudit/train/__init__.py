"""faceaudit.train: LoRA fine-tuning (FaceLLM recipe) and the tiny InternVL factory.

Heavy imports (torch, transformers, peft) happen inside the functions, so importing this
package stays cheap for the command line's ``--help``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from faceaudit.train.recipe import Recipe, RecipeError, available_recipes, load_recipe

if TYPE_CHECKING:
    from faceaudit.schema.training import TrainingSection


def train_lora(**kwargs: Any) -> TrainingSection:
    """See :func:`faceaudit.train.trainer.train_lora`."""
    from faceaudit.train.trainer import train_lora as _train_lora

    return _train_lora(**kwargs)


__all__ = ["Recipe", "RecipeError", "available_recipes", "load_recipe", "train_lora"]
