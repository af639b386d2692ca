"""Provenance is derived, never written by hand: one function reads the sections and says it.

Each stage records what it did in its own section (the dataset's hashes, the corpus
generator and what the transport sent, the trained adapter, the evaluated model's
identity and what was sent to its endpoint, the policy). :func:`derive_provenance` turns
those into the ``provenance`` section, and :func:`privacy_statement` into the sentence the
report prints on page one. A stage that sends data cannot forget to declare it, because
the declaration is read from the transport's own record in that stage's section.
"""

from __future__ import annotations

from typing import Any

from faceaudit.schema import AuditResult, ProvenanceSection
from faceaudit.schema.run import DataTransfer
from faceaudit.store import sha256_json

#: Config fields that say where a run is written, not what it computes.
_PLACEMENT_FIELDS = frozenset({"output_dir", "run_id"})


def config_sha256(config: dict[str, Any]) -> str:
    """Hash of the settings that determine the result (the same audit in two directories agrees)."""
    return sha256_json({k: v for k, v in config.items() if k not in _PLACEMENT_FIELDS})


def transfers(result: AuditResult) -> list[DataTransfer]:
    """Every destination any stage of ``result`` sent images or text to."""
    sent: list[DataTransfer] = []
    corpus = result.corpus
    if corpus is not None:
        if corpus.data_sent:
            sent.extend(corpus.data_sent)
        elif corpus.endpoint_host and corpus.n_images_sent:
            # Written before the transport kept a record: the counts the section has.
            sent.append(
                DataTransfer(
                    stage="corpus",
                    host=corpus.endpoint_host,
                    model=corpus.model,
                    n_requests=corpus.n_requested,
                    n_images=corpus.n_images_sent,
                    n_distinct_images=corpus.n_images_sent,
                    n_texts=corpus.n_requested,
                )
            )
    if result.evaluation is not None:
        sent.extend(result.evaluation.data_sent)
    return sent


def derive_provenance(result: AuditResult) -> ProvenanceSection:
    """The ``provenance`` section that ``result``'s sections imply."""
    identity = result.evaluation.model_identity if result.evaluation is not None else None
    training = result.training
    sent = transfers(result)
    return ProvenanceSection(
        config_sha256=config_sha256(result.run.config),
        dataset_manifest_sha256=result.dataset.manifest_sha256 if result.dataset else None,
        dataset_fingerprint=result.dataset.fingerprint if result.dataset else None,
        corpus_sha256=result.corpus.corpus_sha256 if result.corpus else None,
        prompt_set_sha256=result.corpus.prompt_set_sha256 if result.corpus else None,
        base_model=training.base_model if training else None,
        base_model_sha256=training.base_model_sha256 if training else None,
        adapter_sha256=training.adapter_sha256 if training else None,
        recipe_sha256=training.recipe_sha256 if training else None,
        policy_sha256=result.gate.policy_sha256 if result.gate else None,
        model_sha256=identity.sha256 if identity else None,
        model_revision=identity.revision if identity else None,
        data_sent_to=[transfer.sentence() for transfer in sent],
        transfers=sent,
    )


def privacy_statement(provenance: ProvenanceSection) -> str:
    """What left the machine, in one paragraph a compliance officer can quote."""
    if not provenance.data_sent_to:
        return "No image or text left this machine during the run."
    prepared = {t.image_preparation for t in provenance.transfers if t.image_preparation}
    how = f" Images were {'; '.join(sorted(prepared))}." if prepared else ""
    return "Data left this machine: " + "; ".join(provenance.data_sent_to) + "." + how
