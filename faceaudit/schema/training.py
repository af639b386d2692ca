"""The ``training`` section: what was trained, from what, how, and how it went.

Enough provenance to cite the adapter (base model revision or content hash, corpus hash,
recipe hash, library versions, seed) and enough outcome to judge it (loss curve,
throughput, peak memory, per-attribute multiple-choice accuracy with Wilson intervals).
"""

from __future__ import annotations

from pydantic import Field

from faceaudit.schema.common import Estimate, ResultModel


class LossPoint(ResultModel):
    step: int = Field(ge=0)
    loss: float
    learning_rate: float | None = None


class TrainingSection(ResultModel):
    recipe: str
    recipe_sha256: str
    base_model: str = Field(description="Hub id or local directory the adapter was trained on.")
    base_model_revision: str | None = Field(default=None, description="Hub commit, when loaded from the hub.")
    base_model_sha256: str | None = Field(default=None, description="Content hash of a local checkpoint directory.")
    adapter_path: str
    adapter_sha256: str
    merged_path: str | None = None
    corpus_path: str | None = None
    corpus_sha256: str | None = None
    train_items_sha256: str | None = None
    n_examples: int = Field(ge=0)
    n_corpus_examples: int = Field(ge=0)
    n_mcq_examples: int = Field(ge=0)
    lora_target_modules: list[str] = Field(description="Module names (leaf) LoRA adapted, all inside the language model.")
    n_lora_modules: int = Field(ge=0)
    modules_to_save: list[str] = Field(default_factory=list, description="Modules trained in full.")
    trainable_parameters: int = Field(ge=0)
    total_parameters: int = Field(ge=0)
    steps: int = Field(ge=0)
    epochs: float = Field(ge=0)
    resumed_from_step: int | None = None
    loss_first: float
    loss_last: float
    loss_curve: list[LossPoint] = Field(default_factory=list)
    samples_per_second: float
    steps_per_second: float
    peak_memory_mb: float
    peak_memory_kind: str = Field(description="'cuda_max_allocated' or 'cpu_max_rss'.")
    precision: str
    device: str
    world_size: int = Field(ge=1)
    accuracy: dict[str, Estimate] = Field(
        default_factory=dict, description="Per-task accuracy on held-out multiple-choice items."
    )
    chance_accuracy: dict[str, float] = Field(default_factory=dict)
    log_path: str
    library_versions: dict[str, str] = Field(default_factory=dict)
    seed: int
    wall_time_s: float
