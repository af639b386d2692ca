"""The hf backend: a local (tiny, random-weight) InternVL checkpoint through from_pretrained."""

from __future__ import annotations

from pathlib import Path

import pytest
from corpus_server import make_face_set

from faceaudit.corpus.backends import CorpusBackendError
from faceaudit.corpus.config import CorpusConfig
from faceaudit.corpus.generate import RECORD_FIELDS, generate_corpus
from faceaudit.corpus.quality import REJECT_CODES
from faceaudit.store import read_jsonl


@pytest.mark.slow
def test_corpus_hf_tiny_model_generates_and_the_gate_records_rejects(tmp_path: Path) -> None:
    from faceaudit.train.tiny import build_tiny_internvl

    checkpoint = build_tiny_internvl(tmp_path / "tiny", seed=0, image_size=64)
    root = tmp_path / "faces"
    records = make_face_set(root, n=2)
    cfg = CorpusConfig(backend="hf", model=str(checkpoint), aspects=["face_pose", "overall_detail"],
                       max_new_tokens=6, batch_size=4)
    out = tmp_path / "corpus.jsonl"
    section = generate_corpus(records, root, cfg, out, progress=False)

    rows = list(read_jsonl(out))
    assert len(rows) == 4 and all(tuple(r) == RECORD_FIELDS for r in rows)
    assert {r["backend"] for r in rows} == {"hf"} and {r["model"] for r in rows} == {str(checkpoint)}
    assert section.endpoint_host is None and section.n_images_sent == 0
    assert section.n_accepted + section.n_rejected == 4 and section.n_failed == 0
    # Random weights write gibberish: whatever is rejected carries a known reason.
    rejected = [r for r in rows if r["status"] == "rejected"]
    assert rejected, "a random tiny model's 6-token answers must not all pass the gate"
    assert all(r["reject_reason"].split(":")[0] in REJECT_CODES for r in rejected)
    assert sum(section.rejects_by_reason.values()) == len(rejected)

    again = generate_corpus(records, root, cfg, out, progress=False)
    assert again.n_resumed == 4 and again.corpus_sha256 == section.corpus_sha256


def test_corpus_hf_needs_a_model() -> None:
    from faceaudit.corpus.backends.hf import HFBackend

    with pytest.raises(CorpusBackendError, match="needs corpus.model"):
        HFBackend.from_config(CorpusConfig(backend="hf"))
