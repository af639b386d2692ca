"""`faceaudit run` end to end, on the synthetic set and on the real FairFace sample.

The simulated backend stands in for the model where the test is about the
pipeline (wiring, files, determinism), so these run in seconds; the tiny-model
run of the embedded default is in test_default_run.py.
"""

from __future__ import annotations

import json
import os
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from faceaudit.cli import EXIT_FAIL, EXIT_INSUFFICIENT, EXIT_OK, main
from faceaudit.config import load_config
from faceaudit.corpus.sharegpt import llamafactory_dataset_info
from faceaudit.pipeline import run_audit
from faceaudit.schema import AuditResult
from faceaudit.store import read_jsonl

FAST = [
    "dataset.synthetic.n=300",
    "train.enabled=false",
    "evaluate.backend=simulated",
    "evaluate.n_boot=200",
]

# What legitimately differs between two runs of the same config and seed.
VOLATILE = {"started_at", "finished_at", "timings_s", "run_id", "wall_time_s", "pairs_per_second",
            "computed_at", "evaluated_at", "root", "corpus_path", "output_dir", "command",
            "throughput"}


def _strip(value: object) -> object:
    if isinstance(value, dict):
        return {k: _strip(v) for k, v in value.items() if k not in VOLATILE}
    if isinstance(value, list):
        return [_strip(v) for v in value]
    return value


def _run(tmp_path: Path, run_id: str, extra: list[str] = ()):  # -> RunOutcome
    config = load_config(overrides=[*FAST, f"output_dir={tmp_path}", f"run_id={run_id}", *extra])
    return run_audit(config, progress=False)


def test_simulated_run_writes_every_artefact(tmp_path: Path) -> None:
    outcome = _run(tmp_path, "a")
    run_dir = tmp_path / "a"
    assert outcome.run_dir == run_dir
    result = AuditResult.load(run_dir / "audit.json")
    assert result.run.stages_run == ["dataset", "corpus", "scan", "evaluate", "contamination", "perturb", "gate"]
    assert result.corpus_scan is not None and result.corpus_scan.review.queue_html == "scan/review.html"
    assert (run_dir / "scan" / "review.html").is_file() and (run_dir / "scan" / "review_queue.csv").is_file()
    assert result.dataset is not None and result.dataset.n_records == 300
    assert len(result.dataset.fingerprint) == 64
    assert result.provenance.dataset_fingerprint == result.dataset.fingerprint
    assert result.corpus is not None and result.corpus.n_accepted > 0
    n_train_faces = result.dataset.splits["train"]
    assert result.corpus.n_images == n_train_faces
    corpus_rows = list(read_jsonl(run_dir / "corpus" / "corpus.jsonl"))
    assert len(corpus_rows) == result.corpus.n_requested == n_train_faces * 8
    assert result.training is None  # disabled: absent, never faked
    assert result.evaluation is not None and result.evaluation.model.startswith("simulated")
    assert result.gate is not None and result.gate.verdict in {"PASS", "FAIL", "INSUFFICIENT_EVIDENCE"}
    assert result.provenance.policy_sha256 == result.gate.policy_sha256
    junit = ET.parse(run_dir / "junit.xml").getroot()
    assert int(junit.get("tests") or junit[0].get("tests")) == len(result.gate.checks)
    html = (run_dir / "report.html").read_text()
    assert result.gate.reason.split(":")[0] in html
    assert (run_dir / "config.yaml").is_file()


def test_same_config_and_seed_give_the_same_audit(tmp_path: Path) -> None:
    first = json.loads((_run(tmp_path, "one").audit_path).read_text())
    second = json.loads((_run(tmp_path, "two").audit_path).read_text())
    assert _strip(first) == _strip(second)
    other_seed = json.loads((_run(tmp_path, "three", ["seed=1"]).audit_path).read_text())
    assert _strip(first)["evaluation"] != _strip(other_seed)["evaluation"]


def test_rerun_with_the_same_run_id_resumes(tmp_path: Path) -> None:
    _run(tmp_path, "resume")
    corpus = tmp_path / "resume" / "corpus" / "corpus.jsonl"
    before = corpus.read_bytes()
    outcome = _run(tmp_path, "resume")
    assert corpus.read_bytes() == before  # nothing regenerated, nothing duplicated
    assert outcome.result.corpus is not None
    assert outcome.result.corpus.n_resumed == outcome.result.corpus.n_requested


def test_planted_gap_fails_the_gate_through_the_cli(tmp_path: Path, capsys) -> None:
    code = main([
        "--quiet", "run", "--output-dir", str(tmp_path), "--run-id", "gap",
        "--set", "dataset.synthetic.n=1500", "--set", "train.enabled=false",
        "--set", "corpus.enabled=false", "--set", "evaluate.backend=simulated",
        "--set", "evaluate.n_boot=200",
        "--set", "dataset.tasks=[gender]",
        "--set", "evaluate.simulated_accuracy={default: 0.95, 'skin_tone_group=dark': 0.6}",
    ])
    out = capsys.readouterr().out
    assert code == EXIT_FAIL, out
    assert "verdict: FAIL" in out
    result = AuditResult.load(tmp_path / "gap" / "audit.json")
    failed = [c for c in result.gate.checks if c.verdict == "FAIL"]
    assert failed and any("dark" in json.dumps(c.model_dump()) for c in failed)


def test_real_fairface_sample_runs_with_the_simulated_backend(
    shared_fairface: Path, tmp_path: Path, capsys
) -> None:
    code = main([
        "--quiet", "evaluate", "--dataset", str(shared_fairface), "--backend", "simulated",
        "--output-dir", str(tmp_path), "--run-id", "ff", "--set", "dataset.limit=700",
        "--set", "evaluate.n_boot=200",
    ])
    assert code == EXIT_OK
    result = AuditResult.load(tmp_path / "ff" / "audit.json")
    assert result.dataset.kind == "fairface" and result.dataset.n_records == 700
    assert result.dataset.sensitive_attributes == ["race", "gender", "age"]
    assert {t.task for t in result.evaluation.tasks} == {"race", "gender", "age"}
    assert result.corpus is None and result.training is None and result.gate is None


def test_generate_subcommand_exports_sharegpt_from_real_fairface(
    shared_fairface: Path, tmp_path: Path, capsys
) -> None:
    sharegpt = tmp_path / "fairfacegpt.json"
    code = main([
        "--quiet", "generate", "--dataset", str(shared_fairface), "--limit", "5",
        "--aspects", "demographic_attributes,face_pose", "--sharegpt", str(sharegpt),
        "--output-dir", str(tmp_path), "--run-id", "gen",
    ])
    assert code == EXIT_OK
    rows = list(read_jsonl(tmp_path / "gen" / "corpus" / "corpus.jsonl"))
    assert len(rows) == 10 and {r["aspect"] for r in rows} == {"demographic_attributes", "face_pose"}
    assert all((shared_fairface / r["image_path"]).is_file() for r in rows)
    exported = json.loads(sharegpt.read_text())
    assert len(exported) == 10
    assert exported[0]["conversations"][0]["from"] == "human"
    assert "<image>" in exported[0]["conversations"][0]["value"]
    # The printed dataset_info entry and media_dir make LLaMA-Factory find every image:
    # it opens os.path.join(media_dir, path) (media_dir defaults to dataset_dir).
    printed = capsys.readouterr().out
    entry = json.loads(printed[printed.index("{"):printed.rindex("}") + 1])
    assert entry == {"fairfacegpt": llamafactory_dataset_info("fairfacegpt.json")}
    assert f"dataset_dir: {tmp_path.resolve()}" in printed
    media_dir = printed.split("media_dir: ")[1].split()[0]
    assert media_dir == str(shared_fairface.resolve())
    assert all(os.path.isfile(os.path.join(media_dir, row["images"][0])) for row in exported)


def test_unknown_aspect_is_a_usage_error(shared_fairface: Path, tmp_path: Path, capsys) -> None:
    code = main(["generate", "--dataset", str(shared_fairface), "--aspects", "hair",
                 "--output-dir", str(tmp_path)])
    assert code == 3
    assert "unknown aspect(s) ['hair']" in capsys.readouterr().err


@pytest.mark.parametrize("blocks, expected", [(True, EXIT_INSUFFICIENT), (False, EXIT_OK)])
def test_gate_on_stored_audit_without_evaluation_is_insufficient(
    tmp_path: Path, blocks: bool, expected: int, capsys
) -> None:
    config = load_config(overrides=[*FAST, "evaluate.enabled=false", f"output_dir={tmp_path}",
                                    "run_id=noeval", "report.enabled=false"])
    outcome = run_audit(config, progress=False)
    args = ["gate", str(outcome.audit_path), "--junit", str(tmp_path / "j.xml")]
    code = main(args if blocks else [*args, "--insufficient-ok"])
    assert code == expected
    assert "INSUFFICIENT" in capsys.readouterr().out
    assert (tmp_path / "j.xml").is_file()
