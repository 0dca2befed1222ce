"""POST /v1/ask through a live askdocs server whose LLM is the fake OpenAI-compatible server: JSON, SSE, failures."""

from __future__ import annotations

import dataclasses
import logging
import re
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import uvicorn
from api_fixtures import LiveServer, live_server, sse_events  # noqa: F401
from openai_server import FakeOpenAI, Reply, fake_openai, fake_openai_server  # noqa: F401
from pydantic import SecretStr

from askdocs.api.app import create_app
from askdocs.app import Services
from askdocs.retrieval.answer.base import NOT_FOUND
from askdocs.retrieval.answer.llm import LLMAnswerer

KEY = "sk-live-Xy7SECRETkey9876543210"
VPN_Q = "What command do I run to connect to the VPN?"
SWALLOW_Q = "What is the airspeed velocity of an unladen swallow on Mars?"


@dataclass
class LLMServer:
    """askdocs with the LLM generator, sharing the live server's index and models."""

    url: str
    services: Services

    def configure(self, **overrides: Any) -> LLMAnswerer:
        """Swap in an LLMAnswerer built from the base settings plus ``overrides``."""
        settings = self.services.settings.model_copy(update=overrides)
        answerer = LLMAnswerer(settings, self.services.analyzer)
        answerer.backoff_base_s = 0.05
        self.services.answerer = answerer
        return answerer


def first_source_sentence(body: dict[str, Any]) -> str:
    """What a diligent model would say: the first sentence of source 1, cited."""
    user = [m["content"] for m in body["messages"] if m["role"] == "user"][-1]
    match = re.search(r'<source id="1"[^>]*>\n(.*?)\n</source>', user, re.S)
    text = " ".join((match.group(1) if match else "nothing").split())
    return re.split(r"(?<=[.!?。])\s", text)[0].rstrip(".") + " [1]."


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def llm_server(live_server: LiveServer, fake_openai_server: FakeOpenAI) -> Iterator[LLMServer]:  # noqa: F811
    base = live_server.services
    settings = base.settings.model_copy(
        update={"llm_base_url": fake_openai_server.url, "llm_model": "fake-chat", "llm_api_key": SecretStr(KEY)}
    )
    services = dataclasses.replace(base, settings=settings)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings, services), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started, "askdocs did not start"
    yield LLMServer(url, services)
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture
def llm(llm_server: LLMServer, fake_openai: FakeOpenAI) -> LLMServer:  # noqa: F811
    """The LLM server with default LLM settings, the fake answering like a diligent model."""
    fake_openai.responder = lambda body: Reply(text=first_source_sentence(body))
    llm_server.configure(llm_retries=1)
    return llm_server


def ask(url: str, question: str, **extra: Any) -> httpx.Response:
    return httpx.post(f"{url}/v1/ask", json={"question": question, **extra}, timeout=30)


def test_llm_answer_as_json(llm: LLMServer, fake_openai: FakeOpenAI) -> None:  # noqa: F811
    response = ask(llm.url, VPN_Q)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["generator"] == "llm" and answer["model"] == "fake-chat" and answer["found"] is True
    assert "kumolink" in answer["text"] and answer["text"].endswith("[1].")
    assert answer["citations"][0]["doc_id"] == "files:it/vpn-setup.md"
    assert answer["groundedness"] == 1.0 and answer["sentences"][0]["status"] == "supported"
    assert answer["hits"] and answer["usage"]["sources"] >= 1
    assert len(fake_openai.requests) == 1


def test_llm_answer_streams_hits_tokens_citations_done(llm: LLMServer, fake_openai: FakeOpenAI) -> None:  # noqa: F811
    response = ask(llm.url, VPN_Q, stream=True)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/event-stream")
    events = sse_events(response)
    names = [name for name, _ in events]
    assert names[0] == "hits" and names[-2:] == ["citations", "done"]
    assert set(names[1:-2]) == {"token"} and len(names) > 6
    streamed = "".join(data["text"] for name, data in events if name == "token")
    assert streamed == first_source_sentence(fake_openai.requests[-1].body)
    final = events[-2][1]
    assert final["text"] == streamed and final["generator"] == "llm" and "hits" not in final
    assert final["citations"][0]["doc_id"] == "files:it/vpn-setup.md"
    assert events[0][1]["hits"][0]["doc_id"] == "files:it/vpn-setup.md"


def test_client_disconnect_cancels_the_llm_request(llm: LLMServer, fake_openai: FakeOpenAI) -> None:  # noqa: F811
    words = ["word "] * 400
    fake_openai.responder = lambda body: Reply(chunks=words, chunk_delay_s=0.02)
    with httpx.stream("POST", f"{llm.url}/v1/ask", json={"question": VPN_Q, "stream": True}, timeout=30) as response:
        assert response.status_code == 200
        for line in response.iter_lines():
            if line.startswith("event: token"):
                break
    assert fake_openai.wait_for(lambda: fake_openai.streams_aborted == 1, timeout_s=5), "upstream not cancelled"
    assert fake_openai.streams_completed == 0 and fake_openai.chunks_sent < len(words)


def test_llm_down_gives_503_with_hits(llm: LLMServer) -> None:
    llm.configure(llm_base_url=f"http://127.0.0.1:{free_port()}/v1", llm_retries=0)
    for stream in (False, True):
        response = ask(llm.url, VPN_Q, stream=stream)
        assert response.status_code == 503, response.text
        body = response.json()
        assert "unreachable" in body["detail"] and body["generator"] == "llm"
        assert body["hits"][0]["doc_id"] == "files:it/vpn-setup.md", "the search part still returns"


def test_llm_errors_give_502_and_rate_limits_503_with_retry_after(llm: LLMServer, fake_openai: FakeOpenAI) -> None:  # noqa: F811
    fake_openai.responder = lambda body: Reply(status=500, error="model crashed")
    response = ask(llm.url, VPN_Q)
    assert response.status_code == 502 and response.json()["detail"] == "the language model failed: 500"
    assert response.json()["hits"] and len(fake_openai.requests) == 2, "one retry"
    fake_openai.responder = lambda body: Reply(status=429, headers={"Retry-After": "90"})
    response = ask(llm.url, VPN_Q, stream=True)
    assert response.status_code == 503 and response.headers["retry-after"] == "90"
    assert "429" in response.json()["detail"]


def test_error_after_streaming_began_is_an_error_event(llm: LLMServer, fake_openai: FakeOpenAI) -> None:  # noqa: F811
    llm.configure(llm_timeout_s=0.5, llm_retries=0)
    fake_openai.responder = lambda body: Reply(text="Run kumolink connect now", stall_after=3, stall_s=2.0)
    events = sse_events(ask(llm.url, VPN_Q, stream=True))
    names = [name for name, _ in events]
    assert names[0] == "hits" and "token" in names and names[-2:] == ["error", "done"]
    assert events[-2][1]["status"] == 503 and "did not answer within" in events[-2][1]["detail"]


def test_refusal_without_calling_the_llm(llm: LLMServer, fake_openai: FakeOpenAI) -> None:  # noqa: F811
    answer = ask(llm.url, SWALLOW_Q).json()
    assert answer["found"] is False and answer["text"] == NOT_FOUND["en"] and answer["citations"] == []
    assert answer["generator"] == "llm" and answer["groundedness"] is None
    events = sse_events(ask(llm.url, SWALLOW_Q, stream=True))
    assert [name for name, _ in events] == ["hits", "token", "citations", "done"]
    assert events[2][1]["found"] is False
    assert fake_openai.requests == []


def test_api_key_not_in_error_response_or_log(
    llm: LLMServer,
    fake_openai: FakeOpenAI,  # noqa: F811
    caplog: pytest.LogCaptureFixture,  # noqa: F811
) -> None:
    caplog.set_level(logging.DEBUG)
    fake_openai.responder = lambda body: Reply(status=401, error=f"Incorrect API key provided: {KEY}")
    response = ask(llm.url, VPN_Q)
    assert response.status_code == 502 and "rejected the API key" in response.json()["detail"]
    assert KEY not in response.text and KEY not in caplog.text
    assert fake_openai.requests[-1].headers["authorization"] == f"Bearer {KEY}"


def test_extractive_default_streams_too(live_server: LiveServer) -> None:  # noqa: F811
    events = sse_events(ask(live_server.url, VPN_Q, stream=True))
    assert [name for name, _ in events] == ["hits", "token", "citations", "done"]
    final = events[2][1]
    assert final["generator"] == "extractive" and final["found"] and "kumolink connect" in final["text"]
    assert final["groundedness"] == 1.0


@pytest.mark.parametrize(
    ("body", "needle"),
    [({"question": "x", "stream": "sometimes"}, "stream"), ({"question": "  ", "stream": True}, "blank")],
)
def test_bad_stream_requests_are_422(llm: LLMServer, body: dict[str, Any], needle: str) -> None:
    response = httpx.post(f"{llm.url}/v1/ask", json=body, timeout=10)
    assert response.status_code == 422 and needle in response.json()["detail"]
