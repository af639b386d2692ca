"""Configuration of prediction and stratified evaluation."""

from __future__ import annotations

from typing import Literal

from pydantic import ConfigDict, Field, field_validator, model_validator

from faceaudit.models.endpoint_config import EndpointSettings

#: Generation length when none is configured: a letter for faceaudit's own items; on
#: FaceXBench, room for the reasoning models write before the letter (VLMEvalKit's
#: InternVL wrapper allows 4,096 new tokens).
DEFAULT_MAX_NEW_TOKENS = 16
BUILTIN_BACKENDS = ("hf", "openai", "predictions", "simulated")
FACEXBENCH_MAX_NEW_TOKENS = 4096


class EvaluateConfig(EndpointSettings):
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    enabled: bool = True

    # --- which model answers -------------------------------------------------------------
    backend: str = Field(
        default="hf",
        description="hf: a transformers checkpoint; openai: an OpenAI-compatible endpoint; "
        "predictions: a file of answers made elsewhere; simulated: known per-group accuracy; "
        "or the name of an installed plug-in backend (entry point group faceaudit.backends).",
    )
    model: str | None = Field(
        default=None,
        description="hf: checkpoint directory or hub id (default: the model trained in this run); "
        "openai: the served model name.",
    )
    adapter: str | None = Field(
        default=None, description="hf: a peft adapter directory (default: the one trained in this run)."
    )
    trust_remote_code: bool = Field(
        default=False, description="hf: run code shipped with the checkpoint. Off unless you trust it."
    )
    dtype: str | None = Field(default=None, description="hf: torch dtype, e.g. bfloat16 (default: auto).")
    device: str | None = Field(default=None, description="hf: cuda, cuda:1, cpu (default: best available).")

    # --- how it answers --------------------------------------------------------------------
    mode: Literal["scoring", "generation"] = Field(
        default="scoring",
        description="scoring: compare option-letter log-probabilities in one forward pass "
        "(keeps the option distribution); generation: generate text and read the letter with "
        "faceaudit's strict parser (on FaceXBench also with FaceXBench's own extractor).",
    )
    batch_size: int = Field(default=8, ge=1)
    max_new_tokens: int | None = Field(
        default=None,
        ge=1,
        description=f"generation mode only; default {DEFAULT_MAX_NEW_TOKENS}, or "
        f"{FACEXBENCH_MAX_NEW_TOKENS} on FaceXBench questions.",
    )
    prefetch_batches: int = Field(
        default=2, ge=0, description="Batches decoded and preprocessed ahead in a background thread (0: inline)."
    )
    share_vision: bool = Field(
        default=True,
        description="hf backend: run the vision tower once per distinct image of a batch and share its "
        "features among that image's questions (same answers); false: once per question, like model(**batch).",
    )
    predictions_out: str | None = Field(
        default=None,
        description="Where predictions are appended (JSONL, resumable), relative to the run directory "
        "and inside it; default evaluate/predictions-<mode>.jsonl.",
    )

    # --- openai backend: base_url, api_key_env, concurrency, timeout_s, max_retries,
    # backoff_s, max_backoff_s come from EndpointSettings, the one endpoint config.

    # --- predictions backend ---------------------------------------------------------------
    predictions_file: str | None = Field(
        default=None, description="CSV or JSONL with item_id and prediction (letter or raw text)."
    )

    # --- simulated backend -----------------------------------------------------------------
    simulated_accuracy: dict[str, float] = Field(
        default_factory=lambda: {"default": 0.9},
        description="Accuracy per condition, e.g. {'default': 0.9, 'skin_tone=dark': 0.75}.",
    )
    simulated_perturbation_drop: dict[str, float] = Field(
        default_factory=dict,
        description="Accuracy lost per perturbation severity level, per condition (robustness "
        "stage), e.g. {'default': 0.02, 'family=lighting&skin_tone_group=dark': 0.04}.",
    )
    simulated_invalid_rate: float = Field(default=0.0, ge=0.0, le=1.0)
    simulated_overconfidence: float = Field(
        default=0.0, ge=-1.0, le=1.0, description="Added to the reported confidence (0: calibrated)."
    )

    # --- statistics ------------------------------------------------------------------------
    n_boot: int = Field(default=2000, ge=100)
    confidence: float = Field(default=0.95, gt=0.5, lt=1.0)
    min_group_n: int = Field(default=30, ge=1, description="Groups smaller than this are flagged.")
    metrics: list[str] = Field(
        default_factory=list,
        description="Plug-in metrics (entry point group faceaudit.metrics) computed per task and group "
        "beside the built-in ones, with a cluster-bootstrap interval.",
    )
    correction: Literal["holm", "fdr_bh"] = Field(
        default="holm",
        description="Multiple-comparison correction across group comparisons: holm (family-wise "
        "error) or fdr_bh (Benjamini-Hochberg false discovery rate).",
    )
    intersections: bool = Field(
        default=True, description="Also stratify by intersections of the sensitive attributes."
    )
    reference_group: Literal["largest", "best"] | dict[str, str] = Field(
        default="largest",
        description="Reference group of error ratios (Aequitas style): 'largest' (the most items), "
        "'best' (the most accurate of the groups with at least min_group_n items), or a label per "
        "attribute, e.g. {race: White, gender: Female}; attribute sets it does not name use 'largest'.",
    )
    facexbench_report: bool = Field(
        default=True,
        description="Also report accuracy per task and category the FaceXBench way; on FaceXBench "
        "data in generation mode, FaceXBench's own scoring of the same answers beside faceaudit's.",
    )
    facexbench_protocol: Literal["faceaudit", "official"] = Field(
        default="faceaudit",
        description="FaceXBench data only. faceaudit: faceaudit's prompt (task description first). "
        "official: FaceXBench's evaluate.py prompt (zero-shot, no task description), generation "
        "mode; both report FaceXBench's scoring and faceaudit's stricter parsing side by side.",
    )

    @model_validator(mode="after")
    def _official_protocol_generates(self) -> EvaluateConfig:
        if self.facexbench_protocol == "official" and self.mode == "scoring":
            if "mode" in self.model_fields_set:
                raise ValueError(
                    "facexbench_protocol 'official' reads generated answers: set mode to "
                    "'generation' (or leave it unset)"
                )
            self.mode = "generation"
        return self

    @field_validator("backend")
    @classmethod
    def _known_backend(cls, value: str) -> str:
        from faceaudit.plugins import BACKENDS_GROUP, check_name

        return check_name(BACKENDS_GROUP, value, BUILTIN_BACKENDS)

    @field_validator("metrics")
    @classmethod
    def _known_metrics(cls, value: list[str]) -> list[str]:
        from faceaudit.evaluate.metrics import PLUGIN_METRICS_REFUSED
        from faceaudit.plugins import METRICS_GROUP, check_name

        for name in value:
            if name in PLUGIN_METRICS_REFUSED:
                raise ValueError(f"{name!r} is a built-in metric, always computed: list plug-in metrics only")
            check_name(METRICS_GROUP, name, ())
        return value

    @field_validator("simulated_accuracy")
    @classmethod
    def _needs_default(cls, value: dict[str, float]) -> dict[str, float]:
        if "default" not in value:
            raise ValueError("needs a 'default' entry, e.g. {'default': 0.9, 'gender=female': 0.8}")
        bad = {k: v for k, v in value.items() if not 0.0 <= v <= 1.0}
        if bad:
            raise ValueError(f"accuracies must lie in [0, 1], got {bad}")
        return value
