"""Search keeps answering, completely, while every document is re-indexed underneath it."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import httpx
import pytest
from api_fixtures import WORKSPACE, search_round, serve

from askdocs.app import Services
from askdocs.connectors.files.connector import FilesConnector
from askdocs.ingest.runner import run_source
from askdocs.ingest.state import CheckpointStore
from askdocs.settings import Settings

QUERIES = {
    "How many weeks of parental leave?": "files:hr/parental-leave.md",
    "KumoLink VPN connect command": "files:it/vpn-setup.md",
    "東京オフィスの入館カード": "files:tokyo/office-guide.md",
}


@pytest.fixture
def setup(tmp_path: Path):  # type: ignore[no-untyped-def]
    root = tmp_path / "ws"
    for part in ("hr", "it", "tokyo", "_acl.toml"):
        source = WORKSPACE / part
        (shutil.copytree if source.is_dir() else shutil.copy)(source, root / part)
    settings = Settings(data_dir=tmp_path / "data", workspace_dir=root)
    services = Services.build(settings)
    store = CheckpointStore(tmp_path / "data" / "state")
    assert run_source(services.indexer(), FilesConnector(root), store).status == "succeeded"
    with serve(settings, services) as url:
        yield services, root, store, url
    services.close()


def test_search_never_misses_a_document_during_a_full_reindex(setup) -> None:  # type: ignore[no-untyped-def]
    services, root, store, url = setup
    rewritten = 0
    for path in root.rglob("*.*"):
        if path.suffix in (".md", ".txt", ".html"):
            path.write_text(path.read_text(encoding="utf-8") + "\n\nRevised for the 2027 handbook.\n", encoding="utf-8")
            rewritten += 1
    problems: list[str] = []
    done = threading.Event()
    rounds = 0

    def client() -> None:
        nonlocal rounds
        with httpx.Client(base_url=url, timeout=30) as http:
            while not done.is_set() and rounds < 400:
                rounds += 1
                search_round(http, QUERIES, problems)

    thread = threading.Thread(target=client)
    thread.start()
    try:
        report = run_source(services.indexer(), FilesConnector(root), store, full=True)
    finally:
        done.set()
        thread.join(60)
    assert report.status == "succeeded" and report.updated == rewritten > 10
    assert report.unchanged == report.seen - rewritten, "the untouched PDF and Office files are not rewritten"
    assert rounds >= 3, "the client must have searched while the re-index ran"
    assert problems == []


def test_a_deleted_document_stops_being_returned_after_the_next_sync(setup) -> None:  # type: ignore[no-untyped-def]
    services, root, store, url = setup
    query = {"query": "How many weeks of parental leave?", "top_k": 10}
    assert "files:hr/parental-leave.md" in [
        h["doc_id"] for h in httpx.post(f"{url}/v1/search", json=query).json()["hits"]
    ]
    (root / "hr" / "parental-leave.md").unlink()
    report = run_source(services.indexer(), FilesConnector(root), store)
    assert report.deleted == 1
    hits = httpx.post(f"{url}/v1/search", json=query).json()["hits"]
    assert "files:hr/parental-leave.md" not in [h["doc_id"] for h in hits]
