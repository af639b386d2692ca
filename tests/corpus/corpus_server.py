"""Test helpers: a scripted OpenAI-protocol server on 127.0.0.1 and a small labelled face set."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import re
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from PIL import Image

from faceaudit.data.records import FaceRecord


@dataclass
class Reply:
    """What the server does for one request."""

    kind: str = "ok"  # ok | status | malformed | timeout | refusal_field | drop (connection closed, no reply)
    status: int = 200
    content: str | None = None
    finish_reason: str = "stop"
    delay_s: float = 0.0
    retry_after: str | None = None


@dataclass
class Seen:
    key: tuple[str, str]
    payload: dict
    authorization: str | None
    attempt: int


Script = Callable[[dict, int], Reply]


def plausible_answer(payload: dict) -> str:
    user = payload["messages"][1]["content"][0]["text"]
    subject = re.search(r"face image of a (\w+)", user)
    who = subject.group(1) if subject else "person"
    return f"The {who} faces the camera in a near-frontal pose under soft, even light."


@dataclass
class ProtocolServer:
    script: Script
    seen: list[Seen] = field(default_factory=list)
    attempts: Counter = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)
    url: str = ""
    in_flight: int = 0
    max_in_flight: int = 0  # the most requests the server held at once

    def handle(self, handler: BaseHTTPRequestHandler) -> None:
        with self.lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            self._handle(handler)
        finally:
            with self.lock:
                self.in_flight -= 1

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length", 0))
        payload = json.loads(handler.rfile.read(length))
        if handler.path != "/v1/chat/completions":
            self._send(handler, 404, b'{"error": "not found"}')
            return
        user = payload["messages"][1]["content"]
        image_url = user[1]["image_url"]["url"]
        key = (hashlib.sha256(image_url.encode()).hexdigest()[:16], user[0]["text"])
        with self.lock:
            self.attempts[key] += 1
            attempt = self.attempts[key]
            self.seen.append(Seen(key, payload, handler.headers.get("Authorization"), attempt))
        reply = self.script(payload, attempt)
        if reply.delay_s:
            time.sleep(reply.delay_s)
        if reply.kind == "timeout":
            return  # the client has given up by now; answer nothing
        if reply.kind == "drop":
            handler.close_connection = True
            with contextlib.suppress(OSError):
                handler.connection.shutdown(socket.SHUT_RDWR)
            return
        if reply.kind == "status":
            headers = {"Retry-After": reply.retry_after} if reply.retry_after else {}
            self._send(handler, reply.status, b'{"error": {"message": "scripted"}}', headers)
            return
        if reply.kind == "malformed":
            self._send(handler, 200, b'{"choices": [ this is not json')
            return
        message: dict = {"role": "assistant", "content": reply.content}
        if reply.kind == "refusal_field":
            message = {"role": "assistant", "content": None, "refusal": "I can't help with that."}
        elif reply.content is None:
            message["content"] = plausible_answer(payload)
        body = {
            "id": "chatcmpl-test",
            "object": "chat.completion",
            "model": payload["model"],
            "choices": [{"index": 0, "message": message, "finish_reason": reply.finish_reason}],
        }
        self._send(handler, 200, json.dumps(body).encode())

    @staticmethod
    def _send(handler: BaseHTTPRequestHandler, status: int, body: bytes,
              headers: dict[str, str] | None = None) -> None:
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            handler.send_header(name, value)
        handler.end_headers()
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            handler.wfile.write(body)


def _start(server_state: ProtocolServer) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            server_state.handle(self)

        def log_message(self, *args: object) -> None:
            return None

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    server_state.url = f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    return httpd


@pytest.fixture
def protocol_server() -> Iterator[Callable[[Script], ProtocolServer]]:
    """Factory: ``protocol_server(script)`` starts a server answering per ``script``."""
    started: list[ThreadingHTTPServer] = []

    def make(script: Script) -> ProtocolServer:
        state = ProtocolServer(script=script)
        started.append(_start(state))
        return state

    yield make
    for httpd in started:
        httpd.shutdown()
        httpd.server_close()


FAIRFACE_ROWS = [
    ("val/1", "3-9", "Male", "East Asian"),
    ("val/2", "20-29", "Female", "Black"),
    ("val/3", "more than 70", "Male", "Latino_Hispanic"),
    ("val/4", "40-49", "Female", "Middle Eastern"),
    ("val/5", "30-39", "Male", "Indian"),
    ("val/6", "0-2", "Female", "White"),
]


def make_face_set(root: Path, n: int | None = None) -> list[FaceRecord]:
    """Tiny distinct JPEGs with FairFace-vocabulary labels under ``root``."""
    rows = FAIRFACE_ROWS if n is None else [
        (f"val/{i}", FAIRFACE_ROWS[i % 6][1], FAIRFACE_ROWS[i % 6][2], FAIRFACE_ROWS[i % 6][3])
        for i in range(1, n + 1)
    ]
    records = []
    for i, (image_id, age, gender, race) in enumerate(rows):
        path = root / f"{image_id}.jpg"
        path.parent.mkdir(parents=True, exist_ok=True)
        # Every face carries camera EXIF, as phone photos do: none of it may leave the machine.
        Image.new("RGB", (16, 16), (i * 37 % 256, i * 91 % 256, 128)).save(path, quality=90, exif=camera_exif())
        records.append(FaceRecord(id=image_id, image_path=f"{image_id}.jpg",
                                  attributes={"age": age, "gender": gender, "race": race}, split="val"))
    return records


@pytest.fixture
def face_set(tmp_path: Path) -> tuple[Path, list[FaceRecord]]:
    root = tmp_path / "faces"
    return root, make_face_set(root)


EXIF_MAKE = "FaceauditTestCam"


def camera_exif() -> Image.Exif:
    exif = Image.Exif()
    exif[0x010F] = EXIF_MAKE  # Make
    exif[0x0132] = "2024:06:01 12:00:00"  # DateTime
    return exif


def decode_data_url(url: str) -> bytes:
    header, data = url.split(",", 1)
    assert header == "data:image/png;base64"
    return base64.b64decode(data)


def assert_clean_copy_of(sent: bytes, original: Path) -> None:
    """``sent`` shows the pixels of ``original`` and carries none of its metadata."""
    import io

    with Image.open(io.BytesIO(sent)) as image:
        assert image.format == "PNG"
        assert not image.getexif(), f"metadata left the machine: {dict(image.getexif())}"
        assert set(image.info) <= {"dpi"}, image.info  # no exif, icc_profile, text chunks
        pixels = image.convert("RGB").tobytes()
    with Image.open(original) as source:
        assert source.getexif().get(0x010F) == EXIF_MAKE  # the original did carry it
        assert pixels == source.convert("RGB").tobytes()
    assert EXIF_MAKE.encode() not in sent
