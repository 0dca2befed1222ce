"""A real askdocs server on 127.0.0.1 over an indexed copy of the sample workspace."""

from __future__ import annotations

import shutil
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import uvicorn

from api.app import create_app
from api.services import Services
from askdocs.settings import Settings
from connectors.files import FilesConnector

WORKSPACE = Path(__file__).resolve().parent.parent / "examples" / "workspace"


@dataclass
class LiveServer:
    """A running server: its base url and the services behind it."""

    url: str
    services: Services


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def serve(settings: Settings, services: Services) -> Iterator[str]:
    """Serve ``services`` with uvicorn in a thread on a free 127.0.0.1 port; yields the base url."""
    port = _free_port()
    config = uvicorn.Config(create_app(settings, services), host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.1)
    else:
        raise RuntimeError("server did not start within 30 s")
    try:
        yield url
    finally:
        server.should_exit = True
        thread.join(timeout=10)


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
