"""The openai backend against a scripted OpenAI-protocol server on 127.0.0.1."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from corpus_server import (
    EXIF_MAKE,
    Reply,
    assert_clean_copy_of,
    decode_data_url,
    make_face_set,
    plausible_answer,
)

from faceaudit.corpus.backends import CorpusBackendError
from faceaudit.corpus.config import CorpusConfig
from faceaudit.corpus.generate import RECORD_FIELDS, generate_corpus
from faceaudit.corpus.labels import label_view
from faceaudit.corpus.prompts import ASPECT_IDS, load_prompt_set
from faceaudit.store import read_jsonl

API_KEY = "sk-test-7f3a9c1e5b2d4f608a1b"
ENV = "FACEAUDIT_TEST_OPENAI_KEY"


def _cfg(url: str, **overrides: object) -> CorpusConfig:
    values = dict(backend="openai", model="test-vlm", base_url=url, api_key_env=ENV,
                  concurrency=4, timeout_s=2.0, max_retries=3, backoff_s=0.01, max_backoff_s=0.05)
    values.update(overrides)
    return CorpusConfig(**values)


def _shows(sent: bytes, original: Path) -> bool:
    try:
        assert_clean_copy_of(sent, original)
    except AssertionError:
        return False
    return True


def _no_key_under(directory: Path) -> None:
    for path in directory.rglob("*"):
        if path.is_file():
            assert API_KEY.encode() not in path.read_bytes(), f"API key leaked into {path}"


@pytest.fixture(autouse=True)
def _api_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV, API_KEY)


def test_corpus_openai_full_run_sends_labels_stores_questions_and_keeps_key_out(
    protocol_server, face_set, tmp_path: Path
) -> None:
    root, records = face_set
    server = protocol_server(lambda payload, attempt: Reply())
    out = tmp_path / "run" / "corpus.jsonl"
    section = generate_corpus(records, root, _cfg(server.url), out, progress=False)

    rows = list(read_jsonl(out))
    assert len(rows) == 6 * 8 and len({r["key"] for r in rows}) == 48
    assert all(tuple(r) == RECORD_FIELDS for r in rows)
    assert {r["status"] for r in rows} == {"accepted"}
    assert section.n_accepted == 48 and section.n_failed == 0 and section.n_rejected == 0
    assert section.endpoint_host == f"127.0.0.1:{server.url.split(':')[2].split('/')[0]}"
    assert section.n_images_sent == 6 and section.model == "test-vlm"

    # What was sent: labels injected (child wording for 3-9), the image bytes, the system prompt.
    prompts = load_prompt_set()
    first = next(s for s in server.seen if "East Asian" in s.payload["messages"][1]["content"][0]["text"])
    text = first.payload["messages"][1]["content"][0]["text"]
    assert text.startswith("We know that this is a face image of a boy with East Asian ethnicity "
                           "and 3-9 years old.")
    assert first.payload["messages"][0]["content"] == prompts.system_prompt
    image = decode_data_url(first.payload["messages"][1]["content"][1]["image_url"]["url"])
    assert_clean_copy_of(image, root / "val/1.jpg")
    arrived = {decode_data_url(s.payload["messages"][1]["content"][1]["image_url"]["url"]) for s in server.seen}
    assert len(arrived) == 6  # one metadata-free re-encoding per face
    for record in records:
        assert any(_shows(sent, root / record.image_path) for sent in arrived)
    for sent in arrived:
        assert EXIF_MAKE.encode() not in sent and b"Exif" not in sent
    # The record of what left the machine: host, model, counts.
    [sent] = section.data_sent
    assert (sent.stage, sent.host, sent.model) == ("corpus", section.endpoint_host, "test-vlm")
    assert (sent.n_requests, sent.n_images, sent.n_distinct_images, sent.n_texts) == (48, 48, 6, 96)
    assert "metadata removed" in sent.image_preparation
    assert {s.authorization for s in server.seen} == {f"Bearer {API_KEY}"}

    # What was stored: the question without labels.
    by_key = {r["key"]: r for r in rows}
    assert by_key["val/1:face_pose"]["question"] == (
        "Describe the face pose of the image based on the visual information.")
    assert by_key["val/1:overall_detail"]["question"] == "Describe this image."
    assert all("East Asian" not in r["question"] and "boy" not in r["question"] for r in rows)
    assert by_key["val/1:face_pose"]["answer"].startswith("The boy faces the camera")
    _no_key_under(tmp_path / "run")


def test_corpus_openai_retries_429_5xx_malformed_and_timeouts(
    protocol_server, face_set, tmp_path: Path
) -> None:
    root, records = face_set
    first_failure = {
        "demographic_attributes": Reply("status", 429, retry_after="0"),
        "facial_structure": Reply("status", 503),
        "skin_texture": Reply("malformed"),
        "face_pose": Reply("timeout", delay_s=0.6),
        "forensic_considerations": Reply("status", 500),
    }
    prompts = load_prompt_set()
    instruction_of = {prompts.instruction(a): a for a in ASPECT_IDS}

    def script(payload: dict, attempt: int) -> Reply:
        text = payload["messages"][1]["content"][0]["text"]
        aspect = next(a for i, a in instruction_of.items() if text.endswith(i))
        return first_failure[aspect] if attempt == 1 and aspect in first_failure else Reply()

    server = protocol_server(script)
    out = tmp_path / "corpus.jsonl"
    section = generate_corpus(records[:2], root, _cfg(server.url, timeout_s=0.3), out, progress=False)
    rows = {r["key"]: r for r in read_jsonl(out)}
    assert section.n_accepted == 16 and section.n_failed == 0
    for image_id in ("val/1", "val/2"):
        for aspect in ASPECT_IDS:
            expected = 2 if aspect in first_failure else 1
            assert rows[f"{image_id}:{aspect}"]["attempts"] == expected, aspect


def test_corpus_openai_gives_up_without_writing_then_resumes(
    protocol_server, face_set, tmp_path: Path
) -> None:
    root, records = face_set
    down = protocol_server(lambda payload, attempt: Reply("status", 502))
    out = tmp_path / "corpus.jsonl"
    section = generate_corpus(records[:2], root, _cfg(down.url, max_retries=2), out, progress=False)
    assert section.n_failed == 16 and section.n_accepted == 0
    assert len(down.seen) == 16 * 3  # first try + 2 retries per pair
    assert not out.exists() or out.read_text() == ""

    up = protocol_server(lambda payload, attempt: Reply())
    section = generate_corpus(records[:2], root, _cfg(up.url), out, progress=False)
    assert section.n_accepted == 16 and section.n_failed == 0 and section.n_resumed == 0


def test_corpus_openai_quality_gate_records_rejects_with_reasons(
    protocol_server, face_set, tmp_path: Path
) -> None:
    root, records = face_set  # val/2 is a woman, val/3 a man over 70

    def script(payload: dict, attempt: int) -> Reply:
        text = payload["messages"][1]["content"][0]["text"]
        if "a woman with Black" in text and "facial structure" in text:
            return Reply(content="I'm unable to analyze facial features in this image.")
        if "a woman with Black" in text and "skin texture" in text:
            return Reply("refusal_field")
        if "a woman with Black" in text and "face pose" in text:
            return Reply(content="The man looks straight ahead, and his head is upright.")
        if "a man with Latino" in text and "face pose" in text:
            return Reply(content="The face is turned slightly to the left and the", finish_reason="length")
        if "a man with Latino" in text and "skin texture" in text:
            return Reply(content="   ")
        if "a man with Latino" in text and "demographic" in text:
            return Reply(content="This toddler looks cheerful and curious.")
        return Reply()

    server = protocol_server(script)
    out = tmp_path / "corpus.jsonl"
    section = generate_corpus(records, root, _cfg(server.url), out, progress=False)
    rows = {r["key"]: r for r in read_jsonl(out)}
    assert section.n_rejected == 6 and section.n_accepted == 42
    assert section.rejects_by_reason == {
        "age_contradiction": 1, "empty": 1, "gender_contradiction": 1, "refusal": 2, "truncated": 1,
    }
    assert rows["val/2:facial_structure"]["reject_reason"].startswith("refusal: ")
    assert rows["val/2:skin_texture"]["answer"] == "I can't help with that."
    assert rows["val/2:face_pose"]["reject_reason"] == (
        "gender_contradiction: label female, answer says ['his', 'man']")
    assert rows["val/3:face_pose"]["reject_reason"].startswith("truncated")
    assert rows["val/3:skin_texture"]["reject_reason"].startswith("empty")
    assert rows["val/3:demographic_attributes"]["reject_reason"] == (
        "age_contradiction: label more than 70, answer says ['toddler']")
    assert section.per_aspect["face_pose"].rejected == 2
    assert all(rows[k]["status"] == "rejected" for k in rows if rows[k]["reject_reason"])


@pytest.mark.parametrize(("status", "message"), [
    (401, f"HTTP 401 (authentication); check the key in ${ENV}"),
    (404, "answered HTTP 404: the base_url is wrong or the endpoint does not serve model 'test-vlm'"),
])
def test_corpus_openai_stops_at_once_on_401_and_404(
    protocol_server, face_set, tmp_path: Path, status: int, message: str
) -> None:
    root, records = face_set
    server = protocol_server(lambda payload, attempt: Reply("status", status))
    with pytest.raises(CorpusBackendError) as caught:
        generate_corpus(records, root, _cfg(server.url, concurrency=1), tmp_path / "c.jsonl",
                        progress=False)
    assert message in str(caught.value)
    assert API_KEY not in str(caught.value)
    assert len(server.seen) == 1


def test_corpus_openai_needs_key_from_environment_for_remote_hosts(
    monkeypatch: pytest.MonkeyPatch, face_set, tmp_path: Path
) -> None:
    monkeypatch.delenv(ENV)
    root, records = face_set
    cfg = _cfg("https://api.example.invalid/v1")
    with pytest.raises(CorpusBackendError, match=f"set the environment variable {ENV}"):
        generate_corpus(records, root, cfg, tmp_path / "c.jsonl", progress=False)


def test_corpus_openai_redacts_a_key_the_server_echoes(
    protocol_server, face_set, tmp_path: Path
) -> None:
    root, records = face_set

    def echo(payload: dict, attempt: int) -> Reply:
        return Reply(content=f"The person is seen from the front. Debug: {API_KEY}.")

    server = protocol_server(echo)
    out = tmp_path / "out" / "corpus.jsonl"
    generate_corpus(records[:1], root, _cfg(server.url), out, progress=False)
    assert "Debug: [redacted]." in out.read_text()
    _no_key_under(tmp_path / "out")


_CHILD = """
import sys
from pathlib import Path
sys.path.insert(0, {tests!r})
from corpus_server import make_face_set
from faceaudit.corpus.config import CorpusConfig
from faceaudit.corpus.generate import generate_corpus
root = Path(sys.argv[1])
records = make_face_set(root, n=24)
cfg = CorpusConfig(backend="openai", model="test-vlm", base_url=sys.argv[2], api_key_env={env!r},
                   concurrency=4, timeout_s=5, backoff_s=0.01)
section = generate_corpus(records, root, cfg, Path(sys.argv[3]), progress=False)
print(section.n_resumed, section.n_accepted)
"""


def test_corpus_openai_kill_mid_generation_and_resume(
    protocol_server, tmp_path: Path
) -> None:
    server = protocol_server(lambda payload, attempt: Reply(delay_s=0.01))
    root, out = tmp_path / "faces", tmp_path / "out" / "corpus.jsonl"
    script = _CHILD.format(tests=str(Path(__file__).parent), env=ENV)
    command = [sys.executable, "-c", script, str(root), server.url, str(out)]
    env = {**os.environ, ENV: API_KEY}
    child = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if out.exists() and out.read_bytes().count(b"\n") >= 40:
            break
        time.sleep(0.005)
    child.send_signal(signal.SIGKILL)
    child.wait()
    assert child.returncode == -signal.SIGKILL
    lines_at_kill = out.read_bytes().count(b"\n")
    assert 40 <= lines_at_kill < 192, "the kill must land mid-generation"

    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    resumed, accepted = map(int, done.stdout.split())
    assert resumed >= 40 and accepted == 192
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    keys = [r["key"] for r in rows]
    assert len(keys) == len(set(keys)) == 24 * 8
    assert {k.rsplit(":", 1)[1] for k in keys} == set(ASPECT_IDS)
    # Every pair asked again only if it was not on disk: at most the in-flight ones repeat.
    assert len(server.seen) - 192 <= 8
    _no_key_under(tmp_path / "out")


def test_corpus_openai_under_load_generates_every_pair_once_within_the_concurrency_limit(
    protocol_server, tmp_path: Path
) -> None:
    """The corpus generator against a server that answers ~40% of requests badly -- 429 with a
    Retry-After, 500, a connection dropped without a reply, a slow reply -- chosen by a seeded
    hash of (request, attempt): every pair is written exactly once with the reply to its own
    request, a 429 is waited out, and the server never holds more requests than ``concurrency``
    (the evaluation backend's load test is tests/fuzz/test_endpoint_load.py)."""
    root = tmp_path / "faces"
    records = make_face_set(root, n=12)
    retry_after_s, faults = 0.2, ("429", "500", "drop", "slow")
    lock = threading.Lock()
    injected: dict[str, int] = {}
    blocked_until: dict[str, float] = {}
    early: list[str] = []

    def request_id(payload: dict) -> str:
        user = payload["messages"][1]["content"]
        return hashlib.sha256((user[1]["image_url"]["url"] + user[0]["text"]).encode()).hexdigest()[:12]

    def script(payload: dict, attempt: int) -> Reply:
        rid = request_id(payload)
        digest = hashlib.sha256(f"{rid}:{attempt}".encode()).digest()
        fault = faults[digest[1] % 4] if attempt <= 3 and digest[0] / 256 < 0.4 else None
        with lock:
            injected[fault or "ok"] = injected.get(fault or "ok", 0) + 1
            if time.monotonic() < blocked_until.get(rid, 0.0):
                early.append(rid)
            if fault == "429":
                blocked_until[rid] = time.monotonic() + retry_after_s
        if fault == "429":
            return Reply("status", 429, retry_after=str(retry_after_s))
        if fault == "500":
            return Reply("status", 500)
        if fault == "drop":
            return Reply("drop")
        # The reply names the request it answers, so a reply stored under another pair shows.
        content = plausible_answer(payload)[:-1] + f" (reply {rid})."
        return Reply(content=content, delay_s=0.15 if fault == "slow" else 0.0)

    server = protocol_server(script)
    out = tmp_path / "corpus.jsonl"
    section = generate_corpus(records, root, _cfg(server.url, max_retries=5, timeout_s=5.0, max_backoff_s=1.0), out,
                              progress=False)  # max_backoff_s also caps a Retry-After wait

    assert set(injected) == {*faults, "ok"}
    assert 0.2 < sum(injected[f] for f in faults) / sum(injected.values()) < 0.5
    assert server.max_in_flight <= 4 and server.max_in_flight >= 2  # the limit held, and was reached for
    assert early == []  # no request came back before its Retry-After
    rows = list(read_jsonl(out))
    assert len(rows) == 12 * 8 and len({r["key"] for r in rows}) == 12 * 8
    assert section.n_accepted == 12 * 8 and section.n_failed == 0
    by_pair = {(s.key, json.dumps(s.payload["messages"])) for s in server.seen}
    prompts = load_prompt_set()
    for record in records:
        labels = label_view(record.attributes)
        for aspect in ASPECT_IDS:
            row = next(r for r in rows if r["key"] == f"{record.id}:{aspect}")
            text = prompts.user_prompt(aspect, labels)
            sent = [s for s in server.seen if s.key[1] == text and _shows(
                decode_data_url(s.payload["messages"][1]["content"][1]["image_url"]["url"]), root / record.image_path)]
            assert sent, row["key"]
            assert row["answer"].endswith(f"(reply {request_id(sent[0].payload)}).")
            assert row["attempts"] == len(sent)  # each fault cost one attempt, and no more were made
    # Nothing asked that no row accounts for: 96 distinct requests, every attempt in some row's count.
    assert len(by_pair) == 12 * 8 and sum(r["attempts"] for r in rows) == len(server.seen)
