"""A small OpenAI-compatible chat and embeddings server on 127.0.0.1 for contract tests, and its fixtures.

It serves ``POST .../chat/completions`` (so both ``/v1/chat/completions`` and Azure's
``/openai/deployments/<name>/chat/completions`` work), non-streaming and streaming in the documented SSE chunk
format (``data: {chunk}\\n\\n`` ... ``data: [DONE]\\n\\n``), applies ``stop`` and ``max_tokens`` (one word = one
token), returns scripted errors (status, JSON error body, headers such as ``Retry-After``), waits or stalls
mid-stream when told to, records every request it gets and notices when a streaming client hangs up.

``POST .../embeddings`` (``/v1/embeddings`` and Azure's ``/openai/deployments/<name>/embeddings``) answers
deterministic hashed bag-of-words vectors of ``embedding_dim`` (or ``dimensions``) floats, different per model, so
texts sharing words are near; ``float`` or ``base64`` encoding; a reply's ``delay_s`` counts from the request's
arrival (computing the vectors is part of it, so the answer takes that long and no longer); it counts requests in
flight at once.

``python tests/openai_server.py --delay S`` serves embeddings in a process of its own (a benchmark's endpoint then
takes no CPU time from the client's interpreter): it prints its base URL, serves until its stdin closes, then prints
the most requests it had in flight at once.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np
import pytest


@dataclass
class Reply:
    """What the server answers to one request."""

    text: str = "The answer is in the sources [1]."
    status: int = 200
    error: str = "scripted error"
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    chunk_delay_s: float = 0.0
    chunks: list[str] | None = None
    raw_body: str | None = None
    stall_after: int | None = None
    stall_s: float = 0.0
    echo_credentials: bool = False  # append the request's Authorization / api-key header to the error message
    dim: int | None = None  # embeddings: answer vectors of this size instead of the requested one


@dataclass
class Received:
    """One request as the server got it."""

    path: str
    headers: dict[str, str]
    body: dict[str, Any]

    @property
    def system(self) -> str:
        """The system message."""
        return next(m["content"] for m in self.body["messages"] if m["role"] == "system")

    @property
    def user(self) -> str:
        """The (last) user message."""
        return [m["content"] for m in self.body["messages"] if m["role"] == "user"][-1]


def _apply_limits(text: str, body: dict[str, Any]) -> tuple[str, str]:
    """Cut at the first stop sequence and at ``max_tokens`` words, like a real server; returns (text, finish)."""
    stops = body.get("stop") or []
    stops = [stops] if isinstance(stops, str) else stops
    cuts = [text.index(s) for s in stops if s and s in text]
    if cuts:
        text = text[: min(cuts)]
    words = text.split(" ")
    limit = body.get("max_tokens") or body.get("max_completion_tokens")
    if limit is not None and len(words) > int(limit):
        return " ".join(words[: int(limit)]), "length"
    return text, "stop"


_WORD = re.compile(r"[a-z0-9]+|[\u3040-\u30ff\u4e00-\u9fff]")


def fake_embedding(model: str, text: str, dim: int) -> list[float]:
    """A deterministic vector for ``text``: words (and CJK characters) hashed, per model, into ``dim`` signed
    buckets, so texts sharing words point the same way."""
    row = np.zeros(dim, dtype=np.float64)
    tokens = _WORD.findall(text.lower())
    for a, b in zip(tokens, [*tokens[1:], ""]):
        for token, weight in ((a, 1.0), (a + b, 0.5)):
            digest = hashlib.blake2b(f"{model}\x00{token}".encode(), digest_size=8).digest()
            number = int.from_bytes(digest, "little")
            row[number % dim] += weight if number >> 63 else -weight
    norm = float(np.linalg.norm(row))
    return (row / norm if norm else np.full(dim, 1 / np.sqrt(dim))).tolist()


class FakeOpenAI:
    """The server; ``script`` replies are used first, in order, then ``responder(request_body)``."""

    embedding_dim = 32

    def __init__(self) -> None:
        self.requests: list[Received] = []
        self.script: deque[Reply] = deque()
        self.responder: Callable[[dict[str, Any]], Reply] = lambda body: Reply()
        self.streams_started = 0
        self.streams_completed = 0
        self.streams_aborted = 0
        self.chunks_sent = 0
        self.in_flight = self.max_in_flight = 0
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def base(self) -> str:
        """``http://127.0.0.1:<port>``."""
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def url(self) -> str:
        """The OpenAI-style base URL (``.../v1``)."""
        return f"{self.base}/v1"

    def start(self) -> FakeOpenAI:
        """Serve in a background thread."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and release the port."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def reset(self) -> None:
        """Forget requests, script and counters; answer with the default reply."""
        with self._lock:
            self.requests.clear()
            self.script.clear()
            self.responder = lambda body: Reply()
            self.streams_started = self.streams_completed = self.streams_aborted = self.chunks_sent = 0
            self.in_flight = self.max_in_flight = 0
            self.embedding_dim = FakeOpenAI.embedding_dim

    def queue(self, *replies: Reply) -> None:
        """Answer the next requests with ``replies``, in order."""
        self.script.extend(replies)

    def wait_for(self, predicate: Callable[[], bool], timeout_s: float = 5.0) -> bool:
        """Poll ``predicate`` until true or ``timeout_s`` passes."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if predicate():
                return True
            time.sleep(0.02)
        return predicate()

    def _next_reply(self, body: dict[str, Any]) -> Reply:
        with self._lock:
            if self.script:
                return self.script.popleft()
        return self.responder(body)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # like real servers: a response written in parts is not held back

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet test output
                return

            def _json(self, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    body = json.loads(raw or b"{}")
                except json.JSONDecodeError:
                    self._json(400, {"error": {"message": "invalid JSON", "type": "invalid_request_error"}})
                    return
                with fake._lock:
                    fake.requests.append(Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body))
                if self.path.split("?")[0].endswith("/embeddings"):
                    self._embeddings(body)
                    return
                if not self.path.split("?")[0].endswith("/chat/completions"):
                    self._json(404, {"error": {"message": f"no route {self.path}", "type": "not_found"}})
                    return
                reply = fake._next_reply(body)
                time.sleep(min(reply.delay_s, 30))
                if reply.status != 200:
                    message = reply.error
                    if reply.echo_credentials:
                        sent = self.headers.get("Authorization") or self.headers.get("api-key") or "none"
                        message = f"{message}: received credentials {sent}"
                    error = {"error": {"message": message, "type": "server_error", "code": str(reply.status)}}
                    self._json(reply.status, error, reply.headers)
                    return
                if reply.raw_body is not None:
                    data = reply.raw_body.encode()
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                    return
                text, finish = _apply_limits(reply.text, body)
                model = body.get("model", "fake")
                if body.get("stream"):
                    self._stream(reply, text, finish, model)
                    return
                self._json(
                    200,
                    {
                        "id": "chatcmpl-fake",
                        "object": "chat.completion",
                        "created": int(time.time()),
                        "model": model,
                        "choices": [
                            {
                                "index": 0,
                                "message": {"role": "assistant", "content": text},
                                "finish_reason": finish,
                            }
                        ],
                        "usage": {
                            "prompt_tokens": sum(len(str(m.get("content", "")).split()) for m in body["messages"]),
                            "completion_tokens": len(text.split()),
                            "total_tokens": 0,
                        },
                    },
                    reply.headers,
                )

            def _embeddings(self, body: dict[str, Any]) -> None:
                arrived = time.perf_counter()
                with fake._lock:
                    fake.in_flight += 1
                    fake.max_in_flight = max(fake.max_in_flight, fake.in_flight)
                try:
                    reply = fake._next_reply(body)
                    answer = self._vectors(body, reply.dim) if reply.status == 200 else None
                    # The answer leaves ``delay_s`` after the request arrived: computing it is part of the delay.
                    time.sleep(max(0.0, arrived + min(reply.delay_s, 30) - time.perf_counter()))
                finally:
                    with fake._lock:
                        fake.in_flight -= 1
                if reply.status != 200:
                    error = {"error": {"message": reply.error, "type": "server_error", "code": str(reply.status)}}
                    self._json(reply.status, error, reply.headers)
                elif answer is None:
                    self._json(400, {"error": {"message": "input must be a string or a list of strings"}})
                else:
                    self._json(200, answer, reply.headers)

            def _vectors(self, body: dict[str, Any], dim: int | None = None) -> dict[str, Any] | None:
                """The embeddings response to ``body`` (None when its input is malformed)."""
                inputs = body.get("input")
                inputs = [inputs] if isinstance(inputs, str) else inputs
                if not isinstance(inputs, list) or not inputs or not all(isinstance(t, str) for t in inputs):
                    return None
                deployment = re.search(r"/deployments/([^/]+)/", self.path)
                model = deployment.group(1) if deployment else str(body.get("model", "fake"))
                dim = dim or int(body.get("dimensions") or fake.embedding_dim)
                data = []
                for i, text in enumerate(inputs):
                    row = fake_embedding(model, text, dim)
                    encoded: Any = row
                    if body.get("encoding_format") == "base64":
                        encoded = base64.b64encode(np.asarray(row, dtype="<f4").tobytes()).decode()
                    data.append({"object": "embedding", "index": i, "embedding": encoded})
                tokens = sum(len(_WORD.findall(t.lower())) for t in inputs)
                usage = {"prompt_tokens": tokens, "total_tokens": tokens}
                return {"object": "list", "data": data, "model": model, "usage": usage}

            def _stream(self, reply: Reply, text: str, finish: str, model: str) -> None:
                pieces = reply.chunks if reply.chunks is not None else [w + " " for w in text.split(" ")]
                if reply.chunks is None and pieces:
                    pieces[-1] = pieces[-1][:-1]

                def chunk(delta: dict[str, Any], finish_reason: str | None) -> bytes:
                    payload = {
                        "id": "chatcmpl-fake",
                        "object": "chat.completion.chunk",
                        "created": int(time.time()),
                        "model": model,
                        "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
                    }
                    return f"data: {json.dumps(payload)}\n\n".encode()

                events = [chunk({"role": "assistant", "content": ""}, None)]
                events += [chunk({"content": p}, None) for p in pieces]
                events += [chunk({}, finish), b"data: [DONE]\n\n"]
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Cache-Control", "no-cache")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                with fake._lock:
                    fake.streams_started += 1
                try:
                    for number, event in enumerate(events):
                        if number == reply.stall_after:
                            time.sleep(min(reply.stall_s, 10))
                        self.wfile.write(f"{len(event):x}\r\n".encode() + event + b"\r\n")
                        self.wfile.flush()
                        with fake._lock:
                            fake.chunks_sent += 1
                        time.sleep(min(reply.chunk_delay_s, 5))
                    self.wfile.write(b"0\r\n\r\n")
                    self.wfile.flush()
                except (BrokenPipeError, ConnectionResetError):
                    with fake._lock:
                        fake.streams_aborted += 1
                    self.close_connection = True
                    return
                with fake._lock:
                    fake.streams_completed += 1

        return Handler


@pytest.fixture(scope="session")
def fake_openai_server() -> Iterator[FakeOpenAI]:
    """One fake server for the session."""
    server = FakeOpenAI().start()
    yield server
    server.stop()


@pytest.fixture
def fake_openai(fake_openai_server: FakeOpenAI) -> FakeOpenAI:
    """The fake server, reset for this test."""
    fake_openai_server.reset()
    return fake_openai_server


def _serve(argv: list[str] | None = None) -> None:
    """Serve in this process, every embedding answered after ``--delay`` seconds, until stdin closes."""
    import argparse
    import sys

    parser = argparse.ArgumentParser(description="the fake OpenAI server, for a benchmark")
    parser.add_argument("--delay", type=float, default=0.0, help="seconds each request takes")
    args = parser.parse_args(argv)
    server = FakeOpenAI().start()
    server.responder = lambda body: Reply(delay_s=args.delay)
    print(server.url, flush=True)
    sys.stdin.read()
    server.stop()
    print(server.max_in_flight, flush=True)


if __name__ == "__main__":
    _serve()
