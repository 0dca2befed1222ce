"""A model switch under a bounded query loop: no failed query, no half-built collection seen, results equal to a
fresh index built with the new model; a killed rebuild resumes, a cancelled one leaves nothing behind."""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from api_fixtures import WORKSPACE, api_key, search_round, serve
from openai_server import FakeOpenAI, fake_openai, fake_openai_server  # noqa: F401
from qdrant_client import QdrantClient
from typer.testing import CliRunner

from askdocs.api.cli import app
from askdocs.app import Services
from askdocs.connectors.files.connector import FilesConnector
from askdocs.ingest.reindex import REBUILD
from askdocs.ingest.runner import run_source
from askdocs.ingest.state import CheckpointStore
from askdocs.ingest.sync import BM25_TOLERANCE
from askdocs.retrieval.index import Index, IndexFilter
from askdocs.retrieval.index.locations import ServerLocations
from askdocs.retrieval.index.server import ServerBackend
from askdocs.settings import Settings

QUERIES = {
    "How many weeks of parental leave?": "files:hr/parental-leave.md",
    "KumoLink VPN connect command": "files:it/vpn-setup.md",
    "東京オフィスの入館カード": "files:tokyo/office-guide.md",
}


def _settings(fake: FakeOpenAI, data: Path, workspace: Path, model: str) -> Settings:
    spec = f"openai-compatible:{model}@{fake.url}"
    return Settings(data_dir=data, workspace_dir=workspace, embedder_en=spec, embedder_ja=spec, scheduler=False)


def _spec(fake: FakeOpenAI, model: str) -> str:
    return f"openai-compatible:{model}@{fake.url}"


def _indexed_with_emb_a(fake: FakeOpenAI, workspace: Path, tmp_path: Path) -> tuple[Settings, Services]:
    """Services over ``workspace``, indexed with the model emb-a (the caller closes them)."""
    settings = _settings(fake, tmp_path / "data", workspace, "emb-a")
    services = Services.build(settings)
    run_source(services.indexer(), FilesConnector(workspace), CheckpointStore(tmp_path / "state"))
    return settings, services


def _results(services: Services) -> dict[str, list[tuple[str, float]]]:
    return {
        query: [(h.doc_id, h.score) for h in services.retriever.search(query, ["public"], top_k=5)]
        for query in [*QUERIES, "expense report receipts", "onboarding laptop"]
    }


def _same(a: dict[str, list[tuple[str, float]]], b: dict[str, list[tuple[str, float]]]) -> bool:
    """Same documents in the same order for every query. Scores agree to 10%: chunks synced during the rebuild were
    weighed with the average chunk length of that moment (refreshed past ``BM25_TOLERANCE``), and DBSF normalises
    the legs by their score spread, which carries such a difference over to the fused score."""
    ids = {q: [d for d, _ in hits] for q, hits in a.items()} == {q: [d for d, _ in hits] for q, hits in b.items()}
    scores = [s for hits in a.values() for _, s in hits] == pytest.approx(
        [s for hits in b.values() for _, s in hits], rel=2 * BM25_TOLERANCE
    )
    return ids and scores


def _wait_rounds(rounds: list[int], target: int, timeout_s: float = 120.0) -> None:
    """Wait until the query loop has run ``target`` rounds (bounded)."""
    deadline = time.monotonic() + timeout_s
    while rounds[0] < target and time.monotonic() < deadline:
        threading.Event().wait(0.05)


class _Serialized:
    """qdrant-client's local mode, one call at a time: it is not thread-safe (a write landing during a query breaks
    its masks: "operands could not be broadcast"), where a Qdrant server is; the cross-lingual queries' nested
    prefetches made that window wide enough to hit under the query loop."""

    def __init__(self, client: QdrantClient) -> None:
        self._client, self._lock = client, threading.RLock()

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._client, name)
        if not callable(attr):
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:
            with self._lock:
                return attr(*args, **kwargs)

        return call


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    for part in ("hr", "it", "tokyo", "_acl.toml"):
        source = WORKSPACE / part
        (shutil.copytree if source.is_dir() else shutil.copy)(source, root / part)
    return root


@pytest.fixture(params=["edge", "server"])
def built(
    request: pytest.FixtureRequest,
    fake_openai: FakeOpenAI,  # noqa: F811
    workspace: Path,
    tmp_path: Path,
) -> Iterator[Services]:
    settings = _settings(fake_openai, tmp_path / "data", workspace, "emb-a")
    index = None
    if request.param == "server":  # qdrant-client's local mode stands in for a server
        client = _Serialized(QdrantClient(path=str(tmp_path / "qdrant")))
        index = Index.at(ServerLocations(client, settings.collection, drop_grace_s=0.5))  # type: ignore[arg-type]
    services = Services.build(settings, index=index)
    report = run_source(services.indexer(), FilesConnector(workspace), CheckpointStore(tmp_path / "state"))
    assert report.status == "succeeded"
    yield services
    services.close()


def test_switch_under_a_query_loop(built: Services, fake_openai: FakeOpenAI, workspace: Path, tmp_path: Path) -> None:  # noqa: F811
    services = built
    old_location = services.index.location
    problems: list[str] = []
    done = threading.Event()
    rounds = [0]

    def client(url: str) -> None:
        with httpx.Client(base_url=url, timeout=30) as http:
            while not done.is_set() and rounds[0] < 2000:
                rounds[0] += 1
                search_round(http, QUERIES, problems)

    with serve(services.settings, services) as url:
        thread = threading.Thread(target=client, args=(url,))
        thread.start()
        try:
            rebuild = services.reindexer(_spec(fake_openai, "emb-b"), _spec(fake_openai, "emb-b"))
            assert rebuild.start() is False
            # A sync during the rebuild lands in both collections.
            (workspace / "hr" / "parental-leave.md").write_text(
                "# Parental leave\n\nParents get 20 weeks of parental leave, revised for 2027.\n", encoding="utf-8"
            )
            (workspace / "it" / "vpn-setup.md").unlink()
            (workspace / "it" / "vpn-setup.md").write_text("# VPN\n\nKumoLink VPN connect command: kumo up\n")
            report = run_source(services.indexer(), FilesConnector(workspace), CheckpointStore(tmp_path / "state"))
            assert report.status == "succeeded" and report.updated >= 2
            _wait_rounds(rounds, 3)  # queries answered while the rebuild is under way (however slow the machine)
            rebuild.copy()
            new_location = rebuild.switch()
            _wait_rounds(rounds, rounds[0] + 3)  # ... and after the switch
        finally:
            done.set()
            thread.join(60)
    assert problems == [] and rounds[0] >= 6
    assert services.index.location == new_location != old_location
    assert services.embedders.for_language("en").name == "api-emb-b"
    assert services.index.record(REBUILD) is None
    assert services.index.locations is not None and not services.index.locations.exists(old_location or "")
    # The copy carries the cross-lingual vectors (the multilingual model's, of the text and the heading trail).
    multilingual, titles = services.embedders.multilingual, services.embedders.title_vector
    assert multilingual is not None and titles is not None
    doc_ids = sorted({str(p.payload["doc_id"]) for p in services.index.chunks(IndexFilter(), ["doc_id"])})
    copied = services.index.stored_chunks(doc_ids, ["title"])
    assert copied and all(multilingual.name in p.dense for p in copied)
    assert all(titles in p.dense for p in copied if p.payload.get("title"))
    services.indexer().refresh_bm25(tolerance=0.0)  # BM25 weights of every chunk on today's average length
    switched = _results(services)
    fresh_settings = _settings(fake_openai, tmp_path / "fresh", workspace, "emb-b")
    fresh = Services.build(fresh_settings)
    try:
        run_source(fresh.indexer(), FilesConnector(workspace), CheckpointStore(tmp_path / "fresh-state"))
        fresh.indexer().refresh_bm25(tolerance=0.0)  # written in batches: the same exact weights
        fresh_results = _results(fresh)
        assert _same(fresh_results, switched)
        assert fresh.index.count_chunks() == services.index.count_chunks()
    finally:
        fresh.close()
    again = run_source(services.indexer(), FilesConnector(workspace), CheckpointStore(tmp_path / "state"), full=True)
    assert again.unchanged == again.seen and again.embedded_chunks == 0  # the copy counts as built by the new model


def test_a_restart_serves_the_switched_models(fake_openai: FakeOpenAI, workspace: Path, tmp_path: Path) -> None:  # noqa: F811
    settings, services = _indexed_with_emb_a(fake_openai, workspace, tmp_path)
    rebuild = services.reindexer(_spec(fake_openai, "emb-b"), _spec(fake_openai, "emb-b"))
    rebuild.start()
    rebuild.switch(keep_old=True)
    before = _results(services)
    services.close()
    assert (tmp_path / "data" / "edge" / "askdocs").is_dir()  # kept
    restarted = Services.build(settings)  # the environment still names emb-a
    try:
        assert restarted.embedders.for_language("ja").name == "api-emb-b"
        assert _results(restarted) == before
    finally:
        restarted.close()


def test_a_killed_rebuild_resumes_and_a_cancelled_one_cleans_up(
    fake_openai: FakeOpenAI,  # noqa: F811
    workspace: Path,
    tmp_path: Path,
) -> None:
    settings, services = _indexed_with_emb_a(fake_openai, workspace, tmp_path)
    total = len(services.index.document_hashes())
    rebuild = services.reindexer(_spec(fake_openai, "emb-b"), _spec(fake_openai, "emb-b"))
    rebuild.start()
    changed, _ = rebuild._differences()
    rebuild._copy(changed[:10])  # then the process dies
    services.close()

    services = Services.build(settings)
    with pytest.raises(ValueError, match="resume it, or `askdocs reindex --cancel`"):
        services.reindexer(_spec(fake_openai, "emb-c"), _spec(fake_openai, "emb-c")).start()
    rebuild = services.reindexer(_spec(fake_openai, "emb-b"), _spec(fake_openai, "emb-b"))
    assert rebuild.start() is True
    assert rebuild.copy() == total - 10
    assert rebuild.cancel() is True
    assert services.index.record(REBUILD) is None
    assert sorted(p.name for p in (tmp_path / "data" / "edge").iterdir()) == [
        "askdocs",
        "askdocs.askdocs-collection.json",
    ]
    assert services.embedders.for_language("en").name == "api-emb-a"
    assert (
        services.retriever.search("KumoLink VPN connect command", ["public"], top_k=3)[0].doc_id
        == "files:it/vpn-setup.md"
    )
    services.close()


def test_the_reindex_command(fake_openai: FakeOpenAI, workspace: Path, tmp_path: Path) -> None:  # noqa: F811
    settings, services = _indexed_with_emb_a(fake_openai, workspace, tmp_path)
    services.close()
    env = {"ASKDOCS_DATA_DIR": str(tmp_path / "data"), "ASKDOCS_EMBEDDER_EN": settings.embedder_en,
           "ASKDOCS_EMBEDDER_JA": settings.embedder_ja}  # fmt: skip
    runner = CliRunner()
    bad = runner.invoke(app, ["reindex", "--embedder-en", "openai-compatible:x@ftp://nowhere"], env=env)
    assert bad.exit_code == 2 and "expected openai-compatible:<model>@<http(s) base URL>" in " ".join(
        bad.output.split()
    )
    assert bad.exception is None or isinstance(bad.exception, SystemExit)
    done = runner.invoke(app, ["reindex", "--embedder-en", _spec(fake_openai, "emb-b")], env=env)
    assert done.exit_code == 0, done.output
    assert f"switched to askdocs--g2 ({_spec(fake_openai, 'emb-b')} / " in done.output
    assert (tmp_path / "data" / "edge" / "askdocs.active").read_text() == "askdocs--g2"
    assert not (tmp_path / "data" / "edge" / "askdocs").exists()
    none = runner.invoke(app, ["reindex", "--cancel"], env=env)
    assert none.exit_code == 0 and "no rebuild under way" in none.output


def test_the_admin_endpoint_switches_inside_the_serving_process(
    fake_openai: FakeOpenAI,  # noqa: F811
    workspace: Path,
    tmp_path: Path,
) -> None:
    settings, services = _indexed_with_emb_a(fake_openai, workspace, tmp_path)
    key = api_key(settings, admin=True)  # what `askdocs keys create --admin` makes
    reader = api_key(settings, "group:finance")
    try:
        with serve(settings, services) as url, httpx.Client(base_url=url, timeout=60) as http:
            assert http.post("/v1/admin/reindex", json={"embedder_en": _spec(fake_openai, "emb-b")}).status_code == 401
            assert http.get("/v1/admin/reindex", headers=reader).status_code == 403, "a reader is not an admin"
            bad = http.post("/v1/admin/reindex", json={"embedder_en": "openai-compatible:x"}, headers=key)
            assert bad.status_code == 400 and "expected openai-compatible:<model>@<http(s) base URL>" in bad.text
            assert http.delete("/v1/admin/reindex", headers=key).status_code == 404
            started = http.post("/v1/admin/reindex", json={"embedder_en": _spec(fake_openai, "emb-b")}, headers=key)
            assert started.status_code == 202 and started.json()["state"] == "running"
            status = started.json()
            for _ in range(600):
                status = http.get("/v1/admin/reindex", headers=key).json()
                if status["state"] != "running":
                    break
                threading.Event().wait(0.1)
            assert status["state"] == "switched" and status["documents_copied"] == status["documents_total"] > 10
            assert status["target"] == "askdocs--g2" and key["Authorization"][7:] not in str(status)
            hits = http.post("/v1/search", json={"query": "KumoLink VPN connect command"}).json()["hits"]
            assert hits[0]["doc_id"] == "files:it/vpn-setup.md"
        assert services.embedders.for_language("en").name == "api-emb-b"
        assert services.embedders.for_language("ja").name == "api-emb-a"  # left as it was
    finally:
        services.close()


def test_another_process_mirrors_a_rebuild_and_follows_the_switch(
    fake_openai: FakeOpenAI,  # noqa: F811
    workspace: Path,
    tmp_path: Path,
) -> None:
    """Two processes on one Qdrant server (two Services on one client): the one that did not start the rebuild
    syncs into both collections while it runs, keeps serving the old collection until it follows, then serves the
    new one with the new models."""
    client = QdrantClient(path=str(tmp_path / "qdrant"))
    settings = _settings(fake_openai, tmp_path / "data", workspace, "emb-a")
    store = CheckpointStore(tmp_path / "state")

    def process() -> Services:
        return Services.build(settings, index=Index.at(ServerLocations(client, "askdocs", drop_grace_s=0.5)))

    replica, switcher = process(), process()
    run_source(replica.indexer(), FilesConnector(workspace), store)
    rebuild = switcher.reindexer(_spec(fake_openai, "emb-b"), _spec(fake_openai, "emb-b"))
    rebuild.start()
    (workspace / "it" / "printer.md").write_text("# Printers\n\nKumo-Print is added with the PrintNow app.\n")
    assert run_source(replica.indexer(), FilesConnector(workspace), store).added == 1  # into both collections
    mirrored = rebuild.mirror()
    assert mirrored is not None and "files:it/printer.md" in mirrored.index.document_hashes()
    switched = threading.Thread(target=rebuild.switch)
    switched.start()
    while switcher.index.location == "askdocs--g1":
        threading.Event().wait(0.02)
    # Switched, the old collection not dropped yet: the replica still answers from it with its old model.
    assert replica.retriever.search("Kumo-Print PrintNow", ["public"], top_k=1)[0].doc_id == "files:it/printer.md"
    replica.follow()
    switched.join(30)
    assert replica.index.location == "askdocs--g2" and replica.embedders.for_language("en").name == "api-emb-b"
    assert replica.retriever.search("Kumo-Print PrintNow", ["public"], top_k=1)[0].doc_id == "files:it/printer.md"
    again = run_source(replica.indexer(), FilesConnector(workspace), store, full=True)
    assert again.status == "succeeded" and again.embedded_chunks == 0
    assert {c.name for c in client.get_collections().collections} == {"askdocs--g2"}
    replica.close()


def test_a_collection_made_before_aliases_hands_its_name_to_the_alias(
    fake_openai: FakeOpenAI,  # noqa: F811
    workspace: Path,
    tmp_path: Path,
) -> None:
    client = QdrantClient(path=str(tmp_path / "qdrant"))
    settings = _settings(fake_openai, tmp_path / "data", workspace, "emb-a")
    legacy = Services.build(settings, index=Index(ServerBackend(client, "askdocs")))  # as an older askdocs made it
    run_source(legacy.indexer(), FilesConnector(workspace), CheckpointStore(tmp_path / "state"))
    services = Services.build(settings, index=Index.at(ServerLocations(client, "askdocs", drop_grace_s=0)))
    assert services.index.location == "askdocs"
    rebuild = services.reindexer(_spec(fake_openai, "emb-b"), _spec(fake_openai, "emb-b"))
    rebuild.start()
    with pytest.raises(ValueError, match="--keep-old is not possible on the first switch"):
        rebuild.switch(keep_old=True)
    assert rebuild.switch() == "askdocs--g2"
    assert [(a.alias_name, a.collection_name) for a in client.get_aliases().aliases] == [("askdocs", "askdocs--g2")]
    assert {c.name for c in client.get_collections().collections} == {"askdocs--g2"}
    hits = services.retriever.search("KumoLink VPN connect command", ["public"], top_k=3)
    assert hits[0].doc_id == "files:it/vpn-setup.md"
    services.close()
