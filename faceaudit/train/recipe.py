"""Training recipes as data: validated YAML files in ``faceaudit/train/recipes/``.

A recipe fixes everything that decides what a training run produces (base model, LoRA
shape, optimiser, batch, cutoff, precision); the corpus and the seed come from the run.
The FaceLLM recipes reproduce the published settings (docs/reference.md §1); ``tiny`` is the
embedded default that trains the tiny InternVL on 2 CPU cores.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from faceaudit.errors import InputError, format_validation_errors
from faceaudit.store import read_regular_text, sha256_json
from faceaudit.yaml_io import load_yaml

RECIPES_DIR = Path(__file__).resolve().parent / "recipes"
#: ``base_model: tiny`` builds the tiny InternVL (faceaudit.train.tiny) instead of loading one.
TINY_BASE = "tiny"


class RecipeError(InputError):
    """A recipe that cannot be used; the message names the file, the field and what is accepted."""


class LoraSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    r: int = Field(default=16, ge=1, le=1024)
    alpha: int = Field(default=32, ge=1)
    dropout: float = Field(default=0.0, ge=0.0, lt=1.0)
    target: Literal["language_model_linears"] = Field(
        default="language_model_linears",
        description="Every nn.Linear inside the language model (LLaMA-Factory's lora_target=all, "
        "scoped so that the vision tower and projector are never adapted).",
    )
    modules_to_save: list[Literal["vision_tower", "multi_modal_projector"]] = Field(
        default_factory=list,
        description="Modules trained in full and saved with the adapter. FaceLLM: none (frozen). "
        "The tiny recipe trains its random vision tower and projector, which otherwise cannot see.",
    )


class Recipe(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    description: str = ""
    base_model: str = Field(min_length=1, description="Hub id, local directory, or 'tiny'.")
    base_revision: str | None = Field(default=None, description="Hub revision (commit) to pin.")
    trust_remote_code: bool = False
    lora: LoraSpec = Field(default_factory=LoraSpec)
    learning_rate: float = Field(default=1e-5, gt=0.0, le=1.0)
    lr_scheduler_type: Literal["cosine", "linear", "constant", "constant_with_warmup"] = "cosine"
    warmup_ratio: float = Field(default=0.0, ge=0.0, lt=1.0)
    weight_decay: float = Field(default=0.0, ge=0.0)
    max_grad_norm: float = Field(default=1.0, gt=0.0)
    num_train_epochs: float = Field(default=1.0, gt=0.0)
    max_steps: int | None = Field(default=None, ge=1, description="Overrides epochs when set.")
    per_device_train_batch_size: int = Field(default=10, ge=1)
    gradient_accumulation_steps: int = Field(default=8, ge=1)
    cutoff_len: int = Field(default=2048, ge=32)
    precision: Literal["bf16", "fp16", "fp32"] = "bf16"
    gradient_checkpointing: bool = False
    mcq_repeats: int = Field(
        default=1, ge=0, description="Times each multiple-choice training item is repeated in the mix."
    )
    include_corpus: bool = True
    loss_weighting: Literal["token", "example"] = Field(
        default="token",
        description="'token': mean over all answer tokens of a batch (the standard SFT loss, as "
        "FaceLLM trained); 'example': every example weighs the same, however long its answer.",
    )
    corpus_max_examples: int | None = Field(
        default=None,
        ge=1,
        description="Train on at most this many accepted corpus pairs (a seeded random sample); "
        "None uses the whole corpus, as FaceLLM did.",
    )
    save_steps: int = Field(default=500, ge=1)
    save_total_limit: int | None = Field(default=2, ge=1)
    logging_steps: int = Field(default=10, ge=1)
    eval_batch_size: int = Field(default=16, ge=1)
    merge: bool = Field(default=False, description="Also write the adapter merged into the base.")
    dataloader_num_workers: int = Field(default=0, ge=0)
    fast_path: bool = Field(
        default=True,
        description="Training fast path (faceaudit/train/fast.py): vision features computed once per "
        "image and reused by all its Q&A pairs, LM head only at answer tokens; same loss and "
        "gradients as the standard forward. Single-process runs only (a distributed run uses the "
        "standard path). false: the standard model(**batch) forward.",
    )
    group_by_length: bool = Field(
        default=False,
        description="Batch examples of similar length together (transformers' LengthGroupedSampler: "
        "shuffled mega-batches of 50 batches, sorted by length inside), so that a long corpus answer "
        "does not pad a batch of one-letter answers. It changes which examples share a batch, so "
        "training is not identical to the default shuffle; off by default (on the tiny recipe it "
        "left two tasks at chance accuracy: README, Performance).",
    )
    vision_cache_mb: int = Field(
        default=4096, ge=0, description="Memory for cached vision features (fast path); images beyond it are recomputed."
    )

    @field_validator("base_model")
    @classmethod
    def _no_remote_code_variant(cls, value: str) -> str:
        # The non-"-hf" InternVL3 repos hold remote code only; name the native variant early.
        if re.fullmatch(r"OpenGVLab/InternVL3-\d+B", value):
            raise ValueError(f"{value} needs trust_remote_code; use the transformers-native {value}-hf")
        return value

    @property
    def is_tiny(self) -> bool:
        return self.base_model == TINY_BASE

    def sha256(self) -> str:
        return sha256_json(self.model_dump(mode="json"))


def available_recipes() -> list[str]:
    return sorted(p.stem for p in RECIPES_DIR.glob("*.yaml"))


def parse_recipe(data: Any, source: str) -> Recipe:
    if not isinstance(data, dict):
        raise RecipeError(f"{source}: a recipe must be a mapping of fields, got {type(data).__name__}")
    try:
        return Recipe.model_validate(data)
    except ValidationError as error:
        raise RecipeError(format_validation_errors(error.errors(), f"recipe in {source}")) from None


def load_recipe(name_or_path: str | Path) -> Recipe:
    """A recipe by name (``tiny``, ``facellm-1b``, ``facellm-8b``, ``facellm-38b``) or YAML path."""
    candidate = Path(name_or_path)
    if candidate.suffix in (".yaml", ".yml") or candidate.is_file():
        path = candidate
    else:
        path = RECIPES_DIR / f"{name_or_path}.yaml"
        if not path.is_file():
            raise RecipeError(
                f"unknown recipe {str(name_or_path)!r}; accepted: {', '.join(available_recipes())} "
                "or a path to a recipe YAML file"
            )
    try:
        text = read_regular_text(path)
    except OSError as error:
        raise RecipeError(f"cannot read recipe {path}: {error.strerror}") from None
    data = load_yaml(text, str(path), RecipeError)
    return parse_recipe(data, str(path))


def _merge(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def resolve_recipe(
    name_or_path: str | Path, *, overrides: dict[str, Any] | None = None, base_model: str | None = None
) -> Recipe:
    """A recipe with overrides applied (nested dicts merge) and validated like the file itself."""
    recipe = load_recipe(name_or_path)
    changes = dict(overrides or {})
    if base_model is not None:
        changes["base_model"] = base_model
    if not changes:
        return recipe
    data = _merge(recipe.model_dump(mode="json"), changes)
    return parse_recipe(data, f"recipe {name_or_path} with overrides {sorted(changes)}")
