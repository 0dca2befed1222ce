"""Google Docs end to end: run_source into a real index, /v1/search as different users, kills, the CLI."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from api_fixtures import api_key
from drive_server import DriveServer, FakeFile, Fault, drive_server_fixture, drive_server_session_fixture, group, user  # noqa: F401
from google_fixtures import ALICE, BOB, CAROL, ENG, FAST_RETRY, config_for, connector_for, seed, write_credentials
from index_state import chunk_payloads

from askdocs.api.app import create_app
from askdocs.app import Services
from askdocs.connectors.google.connector import build
from askdocs.ingest.runner import run_source
from askdocs.ingest.state import CheckpointStore
from askdocs.ingest.sync import Indexer
from askdocs.retrieval.index import Index
from askdocs.retrieval.index.edge import EdgeBackend
from askdocs.settings import Settings

REPO = Path(__file__).resolve().parent.parent
BOB_PRINCIPALS = (f"user:{BOB}",)
ERIN_PRINCIPALS = ("user:erin@kumo.example", "group:domain:kumo.example")  # a member of the kumo.example domain
DOMAIN = {"id": "dom", "type": "domain", "role": "reader", "domain": "kumo.example", "allowFileDiscovery": True}


@contextmanager
def _serve(services: Services) -> Iterator[httpx.Client]:
    """Serve the askdocs API on a free port; yields a client with that base URL."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(services.settings, services), host="127.0.0.1", port=port,
                                           log_level="warning"))  # fmt: skip
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
        for _ in range(300):
            try:
                if client.get("/healthz").status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.05)
        yield client
    server.should_exit = True
    thread.join(timeout=10)


def _doc_ids(client: httpx.Client, query: str, headers: dict[str, str]) -> set[str]:
    response = client.post("/v1/search", json={"query": query, "top_k": 20}, headers=headers)
    assert response.status_code == 200, response.text
    return {hit["doc_id"] for hit in response.json()["hits"]}


def test_incremental_sync_seen_through_search_as_two_users(drive_server: DriveServer, tmp_path: Path) -> None:
    drive = drive_server.drive
    seed(drive)
    settings = Settings(data_dir=tmp_path / "data")
    services = Services.build(settings)
    store = CheckpointStore(tmp_path / "data" / "state")
    connector = build(config_for(drive_server, tmp_path), settings)
    connector.client.retry = FAST_RETRY
    try:
        first = run_source(services.indexer(), connector, store)
        assert first.status == "succeeded" and first.added == 8, first.summary()  # 7 Docs and a PDF
        with _serve(services) as api:
            _check_incremental(api, drive, services, connector, store)
    finally:
        services.close()


def _check_incremental(
    api: httpx.Client, drive: Any, services: Services, connector: Any, store: CheckpointStore
) -> None:
    """Search as Bob and as a member of eng before and after the changes are synced (API keys carry who they are)."""
    as_bob, as_erin = api_key(services.settings, *BOB_PRINCIPALS), api_key(services.settings, *ERIN_PRINCIPALS)
    assert _doc_ids(api, "kumolink tunnel VPN runbook", as_bob) >= {"google-docs:doc-vpn"}
    assert "google-docs:doc-handbook" not in _doc_ids(api, "on-call engineer pages", as_bob)
    assert "google-docs:doc-handbook" in _doc_ids(api, "on-call engineer pages", as_erin)
    assert "google-docs:doc-budget" not in _doc_ids(api, "falcon budget line", as_erin)
    assert "google-docs:doc-roadmap" not in _doc_ids(api, "heron release", {}), "link sharing is not public"
    assert "google-docs:doc-published" in _doc_ids(api, "obon office closes", {})

    drive.change("doc-handbook", body="# Engineering handbook\n\nThe zeppelin rota replaces the pager.")
    drive.change("doc-roadmap", trashed=True)
    drive.change("doc-vpn", parents=["fold-other"])  # moved out of the synced folders
    drive.change("doc-budget", permissions=[user(ALICE, "owner"), group(ENG), DOMAIN])  # shared with new groups
    drive.change("doc-spec", permissions=[user(CAROL)])  # unshared from Bob
    report = run_source(services.indexer(), connector, store)
    assert report.status == "succeeded", report.summary()
    assert (report.seen, report.deleted) == (3, 2), report.summary()
    assert report.metadata_only == 2, "sharing changes update the ACL without re-embedding"

    assert "google-docs:doc-handbook" in _doc_ids(api, "zeppelin rota", as_erin)
    assert "google-docs:doc-handbook" not in _doc_ids(api, "zeppelin rota", as_bob)
    assert "google-docs:doc-vpn" not in _doc_ids(api, "kumolink tunnel VPN runbook", as_bob)
    assert "google-docs:doc-budget" in _doc_ids(api, "falcon budget line", as_erin)
    assert "google-docs:doc-budget" not in _doc_ids(api, "falcon budget line", as_bob)
    assert "google-docs:doc-spec" not in _doc_ids(api, "walrus scorer ranking", as_bob)
    as_carol = api_key(services.settings, f"user:{CAROL}")
    assert "google-docs:doc-spec" in _doc_ids(api, "walrus scorer ranking", as_carol)
    as_eng = services.retriever.search("falcon budget line", ["public", f"group:google:{ENG}"], top_k=20)
    assert "google-docs:doc-budget" in {hit.doc_id for hit in as_eng}, "the group email is a principal too"
    indexed = set(services.index.document_hashes("google-docs"))
    assert "google-docs:doc-roadmap" not in indexed and "google-docs:doc-vpn" not in indexed


def test_killed_run_resumes_from_the_page_token_and_converges(
    drive_server: DriveServer, tmp_path: Path, make_indexer: Any
) -> None:
    drive = drive_server.drive
    seed(drive)
    indexer: Indexer = make_indexer(Index(EdgeBackend(tmp_path / "edge" / "run")))
    indexer.batch_docs = 1  # write each document at once, so a kill leaves a partly written index
    store = CheckpointStore(tmp_path / "state")
    connector = connector_for(drive_server, tmp_path)
    assert run_source(indexer, connector, store).status == "succeeded"
    committed = store.load("google-docs")
    drive.change("doc-handbook", body="# Handbook\n\nRevision 2 of the albatross plan.")
    drive.add(FakeFile("doc-new", "New", body="# New\n\nThe albatross budget.", parents=["fold-sub"], owners=[ALICE],
                       permissions=[user(ALICE, "owner")]))  # fmt: skip
    drive.change("doc-vpn", body="# VPN runbook\n\nRevision 3 of the albatross plan.")
    drive.change("doc-roadmap", trashed=True)
    drive.change("doc-published", permissions=[user(ALICE, "owner"), user(BOB)])

    # 1. the process dies mid-run: the exception escapes after some documents were written.
    calls = {"n": 0}
    real_fetch = connector._fetch

    def dying_fetch(file: dict[str, Any]) -> Any:
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt("killed")
        return real_fetch(file)

    connector._fetch = dying_fetch  # type: ignore[method-assign]
    with pytest.raises(KeyboardInterrupt):
        run_source(indexer, connector, store)
    assert store.load("google-docs") == committed, "a killed run never advances the checkpoint"
    written = repr(chunk_payloads(indexer.index, "google-docs"))
    assert "albatross" in written, "part of the run was written before the kill"
    connector._fetch = real_fetch  # type: ignore[method-assign]

    # 2. the server fails hard on the second changes page: a fatal failure, checkpoint kept.
    connector.page_size = 1
    drive.faults.append(Fault("changes.list", 500, after=1))
    failed = run_source(indexer, connector, store)
    assert failed.status == "failed" and store.load("google-docs") == committed
    drive.faults.clear()

    resumed = run_source(indexer, connector, store)
    assert resumed.status == "succeeded", resumed.summary()
    assert store.load("google-docs") != committed

    fresh: Indexer = make_indexer(Index(EdgeBackend(tmp_path / "edge" / "fresh")))
    clean = run_source(fresh, connector_for(drive_server, tmp_path), CheckpointStore(tmp_path / "fresh-state"))
    assert clean.status == "succeeded"
    resumed_points = chunk_payloads(indexer.index, "google-docs")
    clean_points = chunk_payloads(fresh.index, "google-docs")
    assert len(resumed_points) == len(clean_points) > 5
    assert resumed_points == clean_points


def test_cli_index_against_the_fake_server(drive_server: DriveServer, tmp_path: Path) -> None:
    seed(drive_server.drive)
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASKDOCS_")}
    env.update({
        "ASKDOCS_DATA_DIR": str(tmp_path / "data"),
        "ASKDOCS_GOOGLE_CREDENTIALS_FILE": str(write_credentials(drive_server, tmp_path)),
        "ASKDOCS_GOOGLE_API_ENDPOINT": drive_server.endpoint,
        "ASKDOCS_GOOGLE_FOLDER_IDS": '["fold-root"]',
        "TTY_INTERACTIVE": "1",  # rich draws the progress bar although stderr is a pipe
        "COLUMNS": "160",
    })  # fmt: skip
    askdocs = [str(REPO / ".venv" / "bin" / "askdocs")] if (REPO / ".venv/bin/askdocs").exists() else [
        sys.executable, "-m", "askdocs.api.cli"]  # fmt: skip
    done = subprocess.run([*askdocs, "sync", "--type", "google-docs"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert "google-docs: succeeded; 7 documents seen, 7 added" in done.stdout  # 6 Docs and a PDF
    assert "syncing google-docs" in done.stderr
    assert "PRIVATE KEY" not in done.stdout + done.stderr
    again = subprocess.run([*askdocs, "sync", "--type", "google-docs"], cwd=tmp_path, env=env,
                           capture_output=True, text=True, timeout=120)  # fmt: skip
    assert again.returncode == 0 and "0 documents seen" in again.stdout, "nothing changed: the feed is empty"
