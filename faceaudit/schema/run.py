"""Sections that describe the run itself: what ran, on what, and the data."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from faceaudit.schema.common import ResultModel


class RunSection(ResultModel):
    run_id: str
    started_at: str
    finished_at: str | None = None
    faceaudit_version: str
    python_version: str
    platform: str
    library_versions: dict[str, str] = Field(default_factory=dict)
    seed: int
    config: dict[str, Any]
    stages_run: list[str] = Field(default_factory=list)
    timings_s: dict[str, float] = Field(default_factory=dict)
    command: str | None = None


class DataTransfer(ResultModel):
    """What one stage sent to one destination off this machine (recorded by the transport)."""

    stage: str = Field(description="The stage that sent it: 'corpus' or 'evaluate'.")
    host: str = Field(description="host[:port] of the endpoint; never a key or credential.")
    model: str = Field(description="The model name the requests asked for.")
    n_requests: int = Field(ge=0, description="Requests attempted, retries included.")
    n_images: int = Field(ge=0, description="Images sent, counting each upload.")
    n_distinct_images: int = Field(ge=0, description="Distinct images sent.")
    n_texts: int = Field(ge=0, description="Text parts sent (prompts; some include the face's labels).")
    image_preparation: str | None = Field(
        default=None, description="How images were prepared before they left (None: no image was sent)."
    )
    encrypted: bool | None = Field(
        default=True,
        description="False: sent over plain http:// to another machine (readable in transit); "
        "None: to this machine's loopback address, where it may be tunnelled on.",
    )

    def sentence(self) -> str:
        what = [f"{self.n_distinct_images:,} face image(s) ({self.n_images:,} uploads)"] if self.n_images else []
        what.append(f"{self.n_texts:,} text prompt(s)")
        plain = " over unencrypted http" if self.encrypted is False else ""
        return (f"{self.stage}: {' and '.join(what)} in {self.n_requests:,} request(s) to {self.host}"
                f"{plain} (model {self.model})")


class ModelIdentity(ResultModel):
    """Which model answered: a name a person can read, and what pins it down."""

    name: str = Field(description="Human-readable name, e.g. 'InternVL3-1B-hf + LoRA adapter'.")
    backend: str
    source: str | None = Field(default=None, description="Checkpoint directory, hub id, endpoint or file.")
    sha256: str | None = Field(
        default=None,
        description="Content hash of the weights (and adapter), of the predictions file, or of the "
        "simulated model's parameters; None when the weights are not visible (an endpoint).",
    )
    revision: str | None = Field(default=None, description="Hub commit of the checkpoint, when from the hub.")
    adapter_sha256: str | None = None


class ProvenanceSection(ResultModel):
    """SHA-256 content hashes of everything that determined the result.

    Derived from the sections by ``faceaudit.provenance.derive_provenance``; never set by hand.
    """

    config_sha256: str
    dataset_manifest_sha256: str | None = None
    dataset_fingerprint: str | None = None
    corpus_sha256: str | None = None
    prompt_set_sha256: str | None = None
    base_model: str | None = None
    base_model_sha256: str | None = None
    adapter_sha256: str | None = None
    recipe_sha256: str | None = None
    policy_sha256: str | None = None
    model_sha256: str | None = Field(default=None, description="Content hash of the evaluated model.")
    model_revision: str | None = None
    data_sent_to: list[str] = Field(
        default_factory=list,
        description="One sentence per destination that received images or text during the run "
        "(empty: nothing left the machine).",
    )
    transfers: list[DataTransfer] = Field(
        default_factory=list, description="The transport's record of what was sent where."
    )


class DataIssueSummary(ResultModel):
    kind: str
    count: int
    examples: list[str] = Field(default_factory=list)


class DatasetSection(ResultModel):
    name: str
    kind: str
    root: str
    fingerprint: str
    manifest_sha256: str
    n_records: int
    sensitive_attributes: list[str]
    task_attributes: list[str]
    counts: dict[str, dict[str, int]] = Field(
        default_factory=dict, description="attribute -> label -> number of records"
    )
    intersections: dict[str, dict[str, int]] = Field(
        default_factory=dict,
        description="'attr_a x attr_b' -> 'label_a | label_b' -> number of records",
    )
    splits: dict[str, int] = Field(default_factory=dict)
    issues: list[DataIssueSummary] = Field(default_factory=list)
    conversions: dict[str, int] = Field(
        default_factory=dict, description="image mode conversions applied, e.g. 'L->RGB': 3"
    )
