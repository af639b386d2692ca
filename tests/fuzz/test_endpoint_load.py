"""The OpenAI-compatible backend under load against a misbehaving server (issue #13, item 5).

A local server answers ~40% of requests badly -- 429 with ``Retry-After``, 500, a connection
dropped without a reply, a slow reply -- chosen by a seeded hash of (item, attempt), so every
run injects the same faults. Asserted on the server side: never more requests in flight than
the configured concurrency, and a 429's ``Retry-After`` is waited out before that item is
asked again. Asserted on the results: every item answered exactly once, with its own answer
(no reply given to the wrong item), nothing lost.
"""

from __future__ import annotations

import hashlib
import json
import re
import socket
import threading
import time
from collections import Counter, defaultdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from PIL import Image

from faceaudit.data.records import McqItem
from faceaudit.evaluate.config import EvaluateConfig
from faceaudit.evaluate.predict import predict
from faceaudit.models import make_model
from faceaudit.store import read_jsonl

N_ITEMS = 40
CONCURRENCY = 4
FAULT_RATE = 0.4
RETRY_AFTER_S = 0.2
FAULTS = ("429", "500", "drop", "slow")


def fault_for(item: int, attempt: int) -> str | None:
    """The fault injected into ``attempt`` (1, 2, ...) of ``item``: seeded, at most 3 per item."""
    if attempt > 3:
        return None
    digest = hashlib.sha256(f"{item}:{attempt}".encode()).digest()
    if digest[0] / 256 >= FAULT_RATE:
        return None
    return FAULTS[digest[1] % len(FAULTS)]


class FaultyServer:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.in_flight = 0
        self.max_in_flight = 0
        self.attempts: Counter[int] = Counter()
        self.injected: Counter[str] = Counter()
        self.answered: Counter[int] = Counter()
        self.retry_after_until: dict[int, float] = {}
        self.early_retries: list[int] = []
        self.log: dict[int, list[str]] = defaultdict(list)
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                text = next(p["text"] for p in body["messages"][0]["content"] if p["type"] == "text")
                item = int(re.search(r"Question (\d+)", text).group(1))
                with server.lock:
                    server.in_flight += 1
                    server.max_in_flight = max(server.max_in_flight, server.in_flight)
                    server.attempts[item] += 1
                    attempt = server.attempts[item]
                    if time.monotonic() < server.retry_after_until.get(item, 0.0):
                        server.early_retries.append(item)
                    fault = fault_for(item, attempt)
                    server.injected[fault or "ok"] += 1
                    server.log[item].append(fault or "ok")
                try:
                    if fault == "429":
                        with server.lock:
                            server.retry_after_until[item] = time.monotonic() + RETRY_AFTER_S
                        return self._send(429, {"error": "slow down"}, {"Retry-After": str(RETRY_AFTER_S)})
                    if fault == "500":
                        return self._send(500, {"error": "internal"})
                    if fault == "drop":
                        self.close_connection = True
                        self.connection.shutdown(socket.SHUT_RDWR)
                        return None
                    if fault == "slow":
                        time.sleep(0.15)
                    with server.lock:
                        server.answered[item] += 1
                    letter = "ABC"[item % 3]
                    return self._send(200, {"id": str(item), "object": "chat.completion", "choices": [
                        {"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": f"The answer is {letter}."}}]})
                finally:
                    with server.lock:
                        server.in_flight -= 1

            def _send(self, status: int, payload: dict, headers: dict | None = None) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture()
def faulty():
    server = FaultyServer()
    yield server
    server.close()


def test_every_item_answered_once_within_the_concurrency_limit(faulty: FaultyServer, tmp_path: Path) -> None:
    items = []
    for i in range(N_ITEMS):
        Image.new("RGB", (8, 8), (i * 5, 0, 0)).save(tmp_path / f"{i}.png")
        items.append(McqItem(item_id=f"q{i}", image_ids=[f"i{i}"], image_paths=[f"{i}.png"], task="t",
                             question=f"Question {i}", options=["w", "x", "y"], answer="A",
                             groups={"g": str(i % 2)}))
    config = EvaluateConfig(backend="openai", base_url=faulty.url, model="facellm-8b", api_key_env="FA_LOAD_KEY",
                            concurrency=CONCURRENCY, max_retries=5, backoff_s=0.01, timeout_s=5)
    out = tmp_path / "predictions.jsonl"
    frame = predict(items, tmp_path, make_model(config), mode="generation", out_jsonl=out,
                    batch_size=16, progress=False)

    # Every kind of fault was injected, at about the configured rate.
    assert set(faulty.injected) == {*FAULTS, "ok"}
    faults = sum(faulty.injected[f] for f in FAULTS)
    assert 0.2 < faults / sum(faulty.injected.values()) < 0.5
    # Server side: concurrency held, Retry-After honoured.
    assert faulty.max_in_flight <= CONCURRENCY
    assert faulty.max_in_flight >= 2  # the limit was actually reached for, not serialised
    assert faulty.early_retries == []
    # Nothing lost, nothing duplicated, nothing crossed over.
    assert sorted(frame["item_id"]) == sorted(f"q{i}" for i in range(N_ITEMS))
    lines = list(read_jsonl(out))
    assert len(lines) == N_ITEMS and len({r["item_id"] for r in lines}) == N_ITEMS
    predicted = dict(zip(frame["item_id"], frame["predicted"], strict=True))
    assert predicted == {f"q{i}": "ABC"[i % 3] for i in range(N_ITEMS)}
    assert all(faulty.answered[i] == 1 for i in range(N_ITEMS)), faulty.answered
    # Each item was retried exactly as often as faults were injected into it.
    for i in range(N_ITEMS):
        assert faulty.log[i][-1] in ("ok", "slow") and all(f in FAULTS for f in faulty.log[i][:-1]), faulty.log[i]
