"""Every statement audit.json and the report make is true (issue 10).

Through the CLI, against a local OpenAI-compatible server: what left the machine is recorded
(host, what, how many) and said on page one, the faces that arrived carry no metadata,
stage commands merge into one audit.json, the gate writes its verdict back and the report
shows it, and no credential reaches any artefact.
"""

from __future__ import annotations

import base64
import io
import json
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml
from PIL import Image

from faceaudit.cli import main
from faceaudit.errors import EXIT_RUNTIME, EXIT_USAGE
from faceaudit.schema import AuditResult

SECRET = "sk-truth-0f9e8d7c6b5a4"
KEY_ENV = "FACEAUDIT_TRUTH_KEY"
CAMERA = "TruthTestCam"
ROWS = [
    (
        f"p{i:02d}",
        ["White", "Black", "Indian"][i % 3],
        ["Male", "Female"][i % 2],
        "train" if i < 12 else "test",
    )
    for i in range(36)
]
SIDECAR = (
    "sensitive_attributes: [race, gender]\n"
    "labels:\n  race: [White, Black, Indian]\n  gender: [Male, Female]\n"
)
FAST = ["--set", "evaluate.n_boot=200", "--set", "evaluate.min_group_n=5"]


class ChatServer:
    """An OpenAI-compatible chat endpoint on 127.0.0.1 that keeps every request it gets."""

    def __init__(self, status: int = 200) -> None:
        self.status = status
        self.requests: list[dict] = []
        self.auth: list[str | None] = []
        self.lock = threading.Lock()
        state = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                return None

            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with state.lock:
                    state.requests.append(body)
                    state.auth.append(self.headers.get("Authorization"))
                corpus = body["messages"][0]["role"] == "system"
                text = (
                    "The person faces the camera in a near-frontal pose under soft, even light."
                    if corpus
                    else "A"
                )
                reply = {
                    "choices": [
                        {
                            "index": 0,
                            "finish_reason": "stop",
                            "message": {"role": "assistant", "content": text},
                        }
                    ]
                }
                data = json.dumps(reply if state.status == 200 else {"error": "down"}).encode()
                self.send_response(state.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.host = f"127.0.0.1:{self.httpd.server_address[1]}"
        self.url = f"http://{self.host}/v1"
        threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True).start()

    def images(self) -> list[bytes]:
        found = []
        for body in self.requests:
            for message in body["messages"]:
                for part in message["content"] if isinstance(message["content"], list) else []:
                    if part["type"] == "image_url":
                        header, data = part["image_url"]["url"].split(",", 1)
                        assert header == "data:image/png;base64"
                        found.append(base64.b64decode(data))
        return found

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture()
def server() -> Iterator[ChatServer]:
    running = ChatServer()
    yield running
    running.close()


@pytest.fixture()
def faces(tmp_path: Path) -> Path:
    """A manifest of JPEG faces that carry camera EXIF, as phone photos do."""
    root = tmp_path / "faces"
    root.mkdir()
    exif = Image.Exif()
    exif[0x010F] = CAMERA  # Make
    for i, (record_id, *_rest) in enumerate(ROWS):
        Image.new("RGB", (12, 12), (i * 7 % 256, 90, i * 13 % 256)).save(
            root / f"{record_id}.jpg", exif=exif
        )
    lines = ["id,image,race,gender,split"] + [f"{i},{i}.jpg,{r},{g},{s}" for i, r, g, s in ROWS]
    (root / "manifest.csv").write_text("\n".join(lines) + "\n")
    (root / "faceaudit-dataset.yaml").write_text(SIDECAR)
    return root / "manifest.csv"


@pytest.fixture(autouse=True)
def _key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_ENV, SECRET)


def _cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = main(["--quiet", *args])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def test_evaluate_gate_report_through_an_endpoint_tells_the_truth(
    server: ChatServer, faces: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "runs"
    common = ["--dataset", str(faces), "--output-dir", str(out), "--run-id", "truth"]
    code, said = _cli(
        capsys,
        "generate",
        *common,
        "--backend",
        "openai",
        "--base-url",
        server.url,
        "--model",
        "gen-vlm",
        "--api-key-env",
        KEY_ENV,
        "--aspects",
        "face_pose,skin_texture",
    )
    assert code == 0, said
    n_corpus_requests = len(server.requests)
    assert n_corpus_requests == 12 * 2
    code, said = _cli(
        capsys,
        "evaluate",
        *common,
        "--backend",
        "openai",
        "--base-url",
        server.url,
        "--model",
        "judge-vlm",
        "--mode",
        "generation",
        "--set",
        f"evaluate.api_key_env={KEY_ENV}",
        *FAST,
    )
    assert code == 0, said
    audit_path = out / "truth" / "audit.json"

    # One audit.json: the evaluate command merged its section next to the corpus.
    result = AuditResult.load(audit_path)
    assert result.corpus is not None and result.evaluation is not None
    assert result.run.stages_run == ["dataset", "corpus", "evaluate"]
    n_eval_requests = len(server.requests) - n_corpus_requests
    assert n_eval_requests == result.evaluation.n_items

    # What left the machine: host, model, what and how much, for both stages.
    corpus_sent, eval_sent = result.provenance.transfers
    assert (corpus_sent.stage, corpus_sent.host, corpus_sent.model) == (
        "corpus",
        server.host,
        "gen-vlm",
    )
    assert (corpus_sent.n_requests, corpus_sent.n_images, corpus_sent.n_distinct_images) == (
        24,
        24,
        12,
    )
    assert (eval_sent.stage, eval_sent.host, eval_sent.model) == (
        "evaluate",
        server.host,
        "judge-vlm",
    )
    assert eval_sent.n_requests == eval_sent.n_texts == n_eval_requests
    assert eval_sent.n_distinct_images == 24 and "metadata removed" in eval_sent.image_preparation
    assert result.provenance.data_sent_to == [corpus_sent.sentence(), eval_sent.sentence()]
    assert f"to {server.host} (model judge-vlm)" in result.provenance.data_sent_to[1]
    assert result.evaluation.model_identity is not None
    assert result.evaluation.model_identity.name == "judge-vlm"

    # Every face that arrived is a PNG of the pixels, without the camera's EXIF.
    arrived = server.images()
    assert len(arrived) == 24 + n_eval_requests
    for data in arrived:
        with Image.open(io.BytesIO(data)) as image:
            assert image.format == "PNG" and not image.getexif() and "exif" not in image.info
        assert CAMERA.encode() not in data
    assert set(server.auth) == {f"Bearer {SECRET}"}

    # The gate writes its verdict back and beside it; the report shows that verdict.
    gate_code, said = _cli(capsys, "gate", str(audit_path))
    stored = AuditResult.load(audit_path)
    assert stored.gate is not None and stored.corpus is not None and stored.evaluation is not None
    assert stored.run.stages_run == ["dataset", "corpus", "evaluate", "gate"]
    assert (out / "truth" / "junit.xml").is_file()
    assert stored.provenance.policy_sha256 == stored.gate.policy_sha256
    code, said = _cli(capsys, "report", str(audit_path))
    assert code == 0, said
    html = (out / "truth" / "report.html").read_text()
    page_one = (
        html[: html.index('id="h-tested"')]
        if 'id="h-tested"' in html
        else html[: html.index("</section>")]
    )
    label = re.search(r'class="verdict-label">.*?</span>([A-Z ]+)</p>', html).group(1).strip()
    assert {0: "PASS", 1: "FAIL", 2: "INSUFFICIENT EVIDENCE"}[gate_code] == label
    assert "Data sent off this machine:" in page_one and server.host in page_one
    assert "metadata removed" in page_one and "No image or text left" not in html
    assert "judge-vlm" in html

    # No credential anywhere: audit.json, config.yaml, report, junit, corpus, predictions, output.
    for path in (out / "truth").rglob("*"):
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), f"the API key leaked into {path}"
    assert SECRET not in said


def test_a_corpus_whose_every_request_failed_is_a_runtime_error(
    faces: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    down = ChatServer(status=503)
    try:
        code, said = _cli(
            capsys,
            "generate",
            "--dataset",
            str(faces),
            "--output-dir",
            str(tmp_path),
            "--backend",
            "openai",
            "--base-url",
            down.url,
            "--api-key-env",
            KEY_ENV,
            "--aspects",
            "face_pose",
            "--set",
            "corpus.max_retries=0",
        )
    finally:
        down.close()
    assert code == EXIT_RUNTIME, said
    assert "every one of the 12 request(s) failed" in said


def test_credentials_in_base_url_are_refused_and_never_echoed(
    faces: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for url in (
        f"https://user:{SECRET}@api.example.com/v1",
        f"https://api.example.com/v1?key={SECRET}",
    ):
        code, said = _cli(
            capsys,
            "evaluate",
            "--dataset",
            str(faces),
            "--output-dir",
            str(tmp_path),
            "--backend",
            "openai",
            "--model",
            "m",
            "--base-url",
            url,
        )
        assert code == EXIT_USAGE, said
        assert "must not carry credentials" in said and SECRET not in said
    assert not any(tmp_path.rglob("config.yaml"))


def test_flags_stay_strings_and_run_ids_stay_inside_the_output_dir(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for run_id in ("2024-06-01", "0123", "1e3", "true"):
        code, said = _cli(capsys, "run", "--print-config", "--run-id", run_id)
        assert code == 0, said
        assert yaml.safe_load(said)["run_id"] == run_id  # a string, as typed
    for run_id in ("..", "../elsewhere", str(tmp_path / "abs"), ".hidden"):
        code, said = _cli(
            capsys,
            "evaluate",
            "--backend",
            "simulated",
            "--output-dir",
            str(tmp_path / "o"),
            "--run-id",
            run_id,
        )
        assert code == EXIT_USAGE, (run_id, said)
        assert "must be one directory name" in said
    code, said = _cli(
        capsys,
        "generate",
        "--output-dir",
        str(tmp_path / "o"),
        "--run-id",
        "r",
        "--set",
        "corpus.output=../../escaped.jsonl",
        "--set",
        "dataset.synthetic.n=30",
    )
    assert code == EXIT_USAGE, said
    assert "outside the run directory" in said and not (tmp_path / "escaped.jsonl").exists()


def test_print_config_shows_field_descriptions(capsys: pytest.CaptureFixture[str]) -> None:
    code, said = _cli(capsys, "run", "--print-config")
    assert code == 0
    assert "# Faces to render.\n    n: 3000" in said
    assert "# openai: requests in flight at once." in said


def test_a_changed_model_is_refused_on_resume_and_says_why(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The issue's case: 95% then 20% accuracy under the same run id must not report 0.95."""
    common = [
        "evaluate",
        "--backend",
        "simulated",
        "--output-dir",
        str(tmp_path),
        "--run-id",
        "r",
        "--set",
        "dataset.synthetic.n=60",
        *FAST,
    ]
    code, said = _cli(capsys, *common, "--set", "evaluate.simulated_accuracy={default: 0.95}")
    assert code == 0, said
    code, said = _cli(capsys, *common, "--set", "evaluate.simulated_accuracy={default: 0.2}")
    assert code == EXIT_USAGE, said
    assert "must not reuse, because model_sha256:" in said
    stored = AuditResult.load(tmp_path / "r" / "audit.json")
    assert (
        stored.evaluation is not None
        and stored.evaluation.model_identity.sha256 == stored.provenance.model_sha256
    )


def test_a_run_directory_in_use_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from faceaudit.store import RunStore

    with RunStore.create(tmp_path, "busy").lock():
        code, said = _cli(
            capsys,
            "evaluate",
            "--backend",
            "simulated",
            "--output-dir",
            str(tmp_path),
            "--run-id",
            "busy",
        )
    assert code == EXIT_USAGE, said
    assert f"is in use by pid {__import__('os').getpid()}" in said


def test_runtime_errors_exit_4_with_a_traceback_under_verbose(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import faceaudit.pipeline

    def broken(ctx: object) -> None:
        raise ValueError("a bug deep in a stage")

    monkeypatch.setattr(faceaudit.pipeline, "_stage_evaluate", broken)
    args = [
        "evaluate",
        "--backend",
        "simulated",
        "--output-dir",
        str(tmp_path),
        "--set",
        "dataset.synthetic.n=30",
    ]
    code, said = _cli(capsys, *args)
    assert code == EXIT_RUNTIME and "runtime error: ValueError: a bug deep in a stage" in said
    assert "Traceback" not in said and "--verbose" in said
    code = main(["--verbose", *args])
    said = capsys.readouterr().err
    assert (
        code == EXIT_RUNTIME
        and "Traceback (most recent call last)" in said
        and "def broken" not in said
    )


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["run", "--set", "no_such_field=1"], EXIT_USAGE),  # invalid config
        (
            ["run", "--bogus-flag"],
            EXIT_USAGE,
        ),  # argparse: 3, never its own 2 (our INSUFFICIENT code)
        (["gate", "missing-audit.json"], EXIT_USAGE),
        (["report", "missing-audit.json"], EXIT_USAGE),
        (["data", "summarize", "no/such/dir"], EXIT_USAGE),
        (
            ["evaluate", "--backend", "openai", "--model", "m", "--set", "dataset.synthetic.n=30"],
            EXIT_USAGE,
        ),
    ],
)
def test_exit_code_per_command_and_error_class(
    args: list[str], expected: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    try:
        code = main(["--quiet", *args])
    except SystemExit as exit_:
        code = exit_.code
    assert code == expected


def test_bad_policy_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    common = [
        "evaluate",
        "--backend",
        "simulated",
        "--output-dir",
        str(tmp_path),
        "--run-id",
        "p",
        "--set",
        "dataset.synthetic.n=30",
        *FAST,
    ]
    assert _cli(capsys, *common)[0] == 0
    policy = tmp_path / "bad.yaml"
    policy.write_text("name: x\nchecks: [{nonsense: 1}]\n")
    code, said = _cli(capsys, "gate", str(tmp_path / "p" / "audit.json"), "--policy", str(policy))
    assert code == EXIT_USAGE, said


def test_training_cli_exits_3_on_a_bad_recipe(tmp_path: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "faceaudit.train",
            "--recipe",
            "no-such-recipe",
            "--image-root",
            str(tmp_path),
            "--out",
            str(tmp_path / "o"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == EXIT_USAGE, done.stderr
    assert "unknown recipe 'no-such-recipe'" in done.stderr


def test_a_stage_command_drops_the_verdict_it_invalidates_and_the_gate_run_uses_its_baseline(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    common = [
        "--output-dir",
        str(tmp_path),
        "--run-id",
        "m",
        "--set",
        "dataset.synthetic.n=60",
        *FAST,
    ]
    assert _cli(capsys, "evaluate", "--backend", "simulated", *common)[0] == 0
    audit = tmp_path / "m" / "audit.json"
    _cli(capsys, "gate", str(audit))
    assert _cli(capsys, "report", str(audit))[0] == 0
    assert AuditResult.load(audit).gate is not None and (tmp_path / "m" / "junit.xml").is_file()
    # The report names the model by a human name and the hash that pins it.
    sha = AuditResult.load(audit).evaluation.model_identity.sha256
    assert f"<h1>simulated (sha256 {sha[:12]})</h1>" in (tmp_path / "m" / "report.html").read_text()

    # A new corpus section: the stored verdict no longer judges this audit, so it goes, and
    # junit.xml and the report follow (the report is re-rendered, not left stale).
    assert _cli(capsys, "generate", *common, "--aspects", "face_pose")[0] == 0
    merged = AuditResult.load(audit)
    assert merged.corpus is not None and merged.evaluation is not None and merged.gate is None
    assert any("stored release verdict was dropped" in w.message for w in merged.warnings)
    assert not (tmp_path / "m" / "junit.xml").exists()
    assert "NOT JUDGED" in (tmp_path / "m" / "report.html").read_text()
    _cli(capsys, "gate", str(audit))  # a new verdict answers the warning
    assert not any("verdict was dropped" in w.message for w in AuditResult.load(audit).warnings)

    # gate.baseline reaches the gate of a pipeline run.
    code, said = _cli(
        capsys,
        "run",
        "--output-dir",
        str(tmp_path),
        "--run-id",
        "candidate",
        "--set",
        "dataset.synthetic.n=60",
        "--set",
        "train.enabled=false",
        "--set",
        "evaluate.backend=simulated",
        "--set",
        f"gate.baseline={audit}",
        *FAST,
    )
    judged = AuditResult.load(tmp_path / "candidate" / "audit.json")
    assert judged.gate is not None and judged.gate.baseline is not None
    assert judged.gate.baseline.run_id == "m"
    config_on_disk = yaml.safe_load((tmp_path / "candidate" / "config.yaml").read_text())
    assert config_on_disk == judged.run.config


def test_config_yaml_shows_the_config_that_ran(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """FaceXBench turns corpus and training off; config.yaml and audit.json must say so."""
    questions = {
        str(n): {
            "image_paths": [f"images/q{n}.png"],
            "question_text": "Identify the race of the person.",
            "options": ["White", "Black", "Indian", "Other"],
            "correct_answer_option": "ABCD"[n % 4],
            "answer": ["White", "Black", "Indian", "Other"][n % 4],
        }
        for n in range(1, 41)
    }
    bench = {
        "category": "bias_fairness",
        "sub-category": "race",
        "dataset": "fairface",
        "question_type": "MCQ",
        "num_images": "single",
        "prepend_text": "",
        "postpend_text": "Answer with the letter.",
        "questions": questions,
    }
    path = tmp_path / "fairface_single_mcq_race_test.json"
    path.write_text(json.dumps(bench))
    from PIL import Image

    (tmp_path / "images").mkdir()
    for n in range(1, 41):  # image_paths are relative to the folder holding the JSON
        Image.new("RGB", (16, 16), (n, 2 * n, 3 * n)).save(tmp_path / "images" / f"q{n}.png")
    code, said = _cli(
        capsys,
        "run",
        "--output-dir",
        str(tmp_path),
        "--run-id",
        "fx",
        "--set",
        "dataset.kind=facexbench",
        "--set",
        f"dataset.path={path}",
        "--set",
        "evaluate.backend=simulated",
        "--set",
        "report.enabled=false",
        *FAST,
    )
    assert code in (0, 1, 2), said
    on_disk = yaml.safe_load((tmp_path / "fx" / "config.yaml").read_text())
    assert on_disk["corpus"]["enabled"] is False and on_disk["train"]["enabled"] is False
    assert AuditResult.load(tmp_path / "fx" / "audit.json").run.config == on_disk


def test_train_on_an_evaluated_run_adds_training_and_keeps_the_evaluation(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    common = ["--output-dir", str(tmp_path), "--run-id", "t", "--set", "dataset.synthetic.n=40", *FAST]
    assert _cli(capsys, "evaluate", "--backend", "simulated", *common)[0] == 0
    audit = tmp_path / "t" / "audit.json"
    _cli(capsys, "gate", str(audit))
    before = AuditResult.load(audit)
    assert _cli(capsys, "train", *common, "--set", "train.overrides={max_steps: 2}")[0] == 0
    merged = AuditResult.load(audit)
    # training and its corpus join the audit; the evaluation made before is kept as it was
    assert merged.training is not None and merged.training.adapter_sha256
    assert merged.corpus is not None
    assert merged.evaluation.model_dump() == before.evaluation.model_dump()
    # the verdict judged an audit without training: it is dropped, and the report says so
    assert merged.gate is None
    assert any("stored release verdict was dropped" in w.message for w in merged.warnings)
    assert {"evaluate", "train"} <= set(merged.run.stages_run)
