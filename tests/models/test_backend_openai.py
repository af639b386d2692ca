"""The OpenAI-compatible backend against a chat-completions server on 127.0.0.1."""

from __future__ import annotations

import base64
import io
import json
import math
import re
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from PIL import Image

from faceaudit.data.records import McqItem
from faceaudit.errors import InputError
from faceaudit.evaluate.config import EvaluateConfig
from faceaudit.evaluate.predict import predict
from faceaudit.models import ScoringUnavailable, make_model
from faceaudit.models.endpoint_config import EndpointSettings
from faceaudit.models.openai_compat import EndpointError, OpenAIChatModel, letter_logprobs


class _Server:
    """Answers "Question <n>" with option (n mod k); can fail, hide logprobs, be slow."""

    def __init__(self) -> None:
        self.fail_first = 0
        self.logprobs = True
        self.delay_s = 0.0
        self.reject = False
        self.requests: list[dict] = []
        self.auth: list[str | None] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with server.lock:
                    server.requests.append(body)
                    server.auth.append(self.headers.get("Authorization"))
                    failing = len(server.requests) <= server.fail_first
                    server.in_flight += 1
                    server.max_in_flight = max(server.max_in_flight, server.in_flight)
                try:
                    time.sleep(server.delay_s)
                    if self.path != "/v1/chat/completions":
                        return self._send(404, {"error": "not found"})
                    if failing:
                        return self._send(503, {"error": "overloaded"}, retry_after="0")
                    if server.reject:
                        return self._send(400, {"error": {"message": "image too large"}})
                    return self._send(200, server.answer(body))
                finally:
                    with server.lock:
                        server.in_flight -= 1

            def _send(self, status: int, payload: dict, retry_after: str | None = None) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                if retry_after is not None:
                    self.send_header("Retry-After", retry_after)
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def answer(self, body: dict) -> dict:
        parts = body["messages"][0]["content"]
        text = next(p["text"] for p in parts if p["type"] == "text")
        number = int(re.search(r"Question (\d+)", text).group(1))
        n_options = len(re.findall(r"^\([A-D]\) ", text, flags=re.MULTILINE))
        letter = "ABCD"[number % n_options]
        other = "ABCD"[(number + 1) % n_options]
        choice: dict = {"index": 0, "finish_reason": "stop",
                        "message": {"role": "assistant", "content": f"The answer is {letter}."}}
        if body.get("logprobs") and self.logprobs:
            top = [{"token": letter, "logprob": math.log(0.6)}, {"token": f" {letter}", "logprob": math.log(0.1)},
                   {"token": other, "logprob": math.log(0.2)}, {"token": "\n", "logprob": math.log(0.05)}]
            choice["message"]["content"] = letter
            choice["logprobs"] = {"content": [{"token": letter, "logprob": top[0]["logprob"], "top_logprobs": top}]}
        return {"id": "x", "object": "chat.completion", "choices": [choice]}

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture()
def server() -> Iterator[_Server]:
    running = _Server()
    yield running
    running.close()


def _items(root: Path, n: int = 6) -> list[McqItem]:
    items = []
    for i in range(n):
        Image.new("RGB", (8, 8), (i * 20, 0, 0)).save(root / f"{i}.png")
        items.append(McqItem(item_id=f"q{i}", image_ids=[f"i{i}"], image_paths=[f"{i}.png"], task="t",
                             question=f"Question {i}", options=["w", "x", "y"] if i % 2 else ["w", "x"],
                             answer="A", groups={"g": str(i % 2)}))
    return items


def _model(server: _Server, **kwargs) -> OpenAIChatModel:
    kwargs = {"backoff_s": 0.01, **kwargs}
    cfg = EvaluateConfig(backend="openai", base_url=server.url, model="facellm-8b", api_key_env="FA_TEST_KEY",
                         **kwargs)
    model = make_model(cfg)
    assert isinstance(model, OpenAIChatModel)
    return model


def test_scoring_reads_letters_from_top_logprobs(server: _Server, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("FA_TEST_KEY", "sk-test-123")
    items = _items(tmp_path)
    frame = predict(items, tmp_path, _model(server), mode="scoring", out_jsonl=tmp_path / "s.jsonl", progress=False)
    assert list(frame["predicted"]) == ["ABCD"[i % (2 + i % 2)] for i in range(6)]
    # item 0 has 2 options: A gets 0.6 + 0.1 (" A" is the same answer), B 0.2 -> 0.7/0.9.
    assert frame.loc[0, "option_probs"] == pytest.approx([0.7 / 0.9, 0.2 / 0.9])
    assert server.auth == ["Bearer sk-test-123"] * 6
    request = next(r for r in server.requests if "Question 0" in r["messages"][0]["content"][1]["text"])
    assert request["model"] == "facellm-8b" and request["max_tokens"] == 1 and request["logprobs"] is True
    image_part = request["messages"][0]["content"][0]
    assert image_part["type"] == "image_url"
    prefix, encoded = image_part["image_url"]["url"].split(",", 1)
    assert prefix == "data:image/png;base64"
    with Image.open(io.BytesIO(base64.b64decode(encoded))) as sent, Image.open(tmp_path / "0.png") as original:
        assert sent.tobytes() == original.convert("RGB").tobytes()
    assert request["messages"][0]["content"][1]["text"] == items[0].prompt()


def test_generation_is_parsed_and_concurrency_is_bounded(server: _Server, tmp_path: Path) -> None:
    server.delay_s = 0.05
    items = _items(tmp_path, 12)
    frame = predict(items, tmp_path, _model(server, concurrency=3), mode="generation", out_jsonl=tmp_path / "g.jsonl",
                    batch_size=12, progress=False)
    assert list(frame["raw_output"])[:2] == ["The answer is A.", "The answer is B."]
    assert list(frame["predicted"]) == ["ABCD"[i % (2 + i % 2)] for i in range(12)]
    assert 2 <= server.max_in_flight <= 3
    assert server.auth[0] is None  # no key in the environment: no Authorization header


def test_overload_is_retried_with_backoff(server: _Server, tmp_path: Path) -> None:
    server.fail_first = 3
    model = _model(server, concurrency=1)
    items = _items(tmp_path, 2)
    texts = model.generate(items, model.prepare(items, tmp_path), 8)
    assert texts == ["The answer is A.", "The answer is B."]
    assert len(server.requests) == 5


def test_errors_are_not_retried_forever(server: _Server, tmp_path: Path) -> None:
    items = _items(tmp_path, 1)
    server.reject = True
    model = _model(server)
    with pytest.raises(EndpointError, match="HTTP 400 after 1 attempt.*image too large"):
        model.generate(items, model.prepare(items, tmp_path), 8)
    server.reject, server.fail_first = False, 100
    model = _model(server, max_retries=2)
    with pytest.raises(EndpointError, match="HTTP 503 after 3 attempt"):
        model.generate(items, model.prepare(items, tmp_path), 8)


def test_a_server_without_logprobs_cannot_score(server: _Server, tmp_path: Path) -> None:
    server.logprobs = False
    items = _items(tmp_path, 2)
    model = _model(server)
    with pytest.raises(ScoringUnavailable, match="no top_logprobs"):
        model.score_options(items, model.prepare(items, tmp_path))


def test_letters_missing_from_the_top_list_share_the_uncovered_mass() -> None:
    top = [{"token": "A", "logprob": math.log(0.5)}, {"token": "(B", "logprob": math.log(0.3)},
           {"token": "Hello", "logprob": math.log(0.1)}]
    assert [math.exp(x) for x in letter_logprobs(top, 4)] == pytest.approx([0.5, 0.3, 0.05, 0.05])


def test_configuration_errors_and_key_privacy(monkeypatch, caplog) -> None:
    with pytest.raises(InputError, match="needs evaluate.base_url"):
        make_model(EvaluateConfig(backend="openai", model="m"))
    with pytest.raises(ValueError, match="must be an http"):
        EvaluateConfig(backend="openai", model="m", base_url="localhost:8000")
    for leaky in ("https://user:sk-pw-1@api.example.com/v1", "https://api.example.com/v1?api-key=sk-q-2"):
        with pytest.raises(ValueError, match="must not carry credentials") as caught:
            EvaluateConfig(backend="openai", model="m", base_url=leaky)
        assert "sk-" not in str(caught.value)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-secret-999")
    model = OpenAIChatModel.from_settings(EndpointSettings(base_url="http://127.0.0.1:9/v1"), "m")
    assert "sk-secret" not in repr(model) and "sk-secret" not in model.name
    # A remote host without a key is refused before anything is sent; plain http to one warns.
    monkeypatch.delenv("OPENAI_API_KEY")
    with pytest.raises(InputError, match="needs an API key: set the environment variable OPENAI_API_KEY"):
        OpenAIChatModel.from_settings(EndpointSettings(base_url="https://api.example.invalid/v1"), "m")
    with caplog.at_level("WARNING", logger="faceaudit.transport"):
        plain = OpenAIChatModel.from_settings(EndpointSettings(base_url="http://10.1.2.3:8000/v1", api_key_env=None), "m")
    assert "plain http:// to another machine" in caplog.text
    # ... and audit.json says so beside what was sent.
    plain.client.transfers.record(plain.client.host, "m", [], 1)
    [sent] = plain.data_sent()
    assert sent.encrypted is False and "to 10.1.2.3:8000 over unencrypted http" in sent.sentence()
