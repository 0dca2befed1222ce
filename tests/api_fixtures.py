"""A real askdocs server on 127.0.0.1 over an indexed copy of the sample workspace."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from local_server import serve_in_thread

from askdocs.api.app import create_app
from askdocs.api.auth.keys import KeyStore, key_principals
from askdocs.api.cli import SERVER_OPTIONS
from askdocs.app import Services
from askdocs.connectors.files.connector import FilesConnector
from askdocs.settings import AuthSettings, Settings

WORKSPACE = Path(__file__).resolve().parent.parent / "examples" / "workspace"


@dataclass
class LiveServer:
    """A running server: its base url and the services behind it."""

    url: str
    services: Services

    def key(self, *principals: str, admin: bool = False) -> dict[str, str]:
        """Headers with a new API key carrying ``principals`` (created in this server's key store)."""
        return api_key(self.services.settings, *principals, admin=admin)


def api_key(settings: Settings, *principals: str, admin: bool = False) -> dict[str, str]:
    """Create an API key in ``settings``' key store, as `askdocs keys create` does; returns request headers."""
    store = KeyStore(settings.auth_dir / "keys.sqlite3")
    secret = store.create(f"test-{len(store.list())}", key_principals(list(principals), admin))
    return {"Authorization": f"Bearer {secret}"}


def with_auth(settings: Settings, **auth: object) -> Settings:
    """``settings`` with another ``auth`` block (same index and data folder)."""
    return settings.model_copy(update={"auth": AuthSettings(**auth)})  # type: ignore[arg-type]


@contextmanager
def serve(settings: Settings, services: Services) -> Iterator[str]:
    """Serve ``services`` with uvicorn in a thread on a free 127.0.0.1 port, as `askdocs serve` does; yields the url."""
    with serve_in_thread(create_app(settings, services), "askdocs", **SERVER_OPTIONS) as url:
        yield url


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """Index a copy of the sample workspace, then serve it with uvicorn in a thread."""
    root = tmp_path_factory.mktemp("api")
    workspace = root / "workspace"
    shutil.copytree(WORKSPACE, workspace)
    settings = Settings(data_dir=root / "data", workspace_dir=workspace)
    services = Services.build(settings)
    report = services.indexer().full_sync(FilesConnector(workspace))
    assert report.status == "succeeded", report.summary()
    with serve(settings, services) as url:
        yield LiveServer(url, services)
    services.close()


@pytest.fixture(scope="session")
def demo_server(live_server: LiveServer) -> Iterator[str]:
    """The same index served in demo mode (what `make run` serves); yields its base url."""
    with serve(with_auth(live_server.services.settings, demo=True), live_server.services) as url:
        yield url


def sse_events(response: httpx.Response) -> list[tuple[str, dict[str, Any]]]:
    """Parse ``event:``/``data:`` blocks of a text/event-stream body."""
    events = []
    for block in response.text.split("\n\n"):
        if block.strip():
            fields = dict(line.split(": ", 1) for line in block.splitlines())
            events.append((fields["event"], json.loads(fields["data"])))
    return events


def ask_streamed(url: str, question: str, headers: dict[str, str] | None = None) -> dict[str, Any]:
    """POST /v1/ask with ``stream: true``; returns the ``hits`` and ``citations`` events' data."""
    response = httpx.post(f"{url}/v1/ask", json={"question": question, "stream": True}, headers=headers, timeout=60)
    assert response.status_code == 200, response.text
    events = dict(sse_events(response))
    return {"hits": events["hits"]["hits"], "citations": events["citations"]["citations"]}


def search_round(http: httpx.Client, expected: dict[str, str], problems: list[str]) -> None:
    """One search per query of ``expected`` (query -> a document it must find); what went wrong goes to ``problems``."""
    for query, doc_id in expected.items():
        response = http.post("/v1/search", json={"query": query, "top_k": 10})
        if response.status_code != 200:
            problems.append(f"{response.status_code}: {response.text[:200]}")
        elif doc_id not in [h["doc_id"] for h in response.json()["hits"]]:
            problems.append(f"{doc_id} missing for {query!r}")
