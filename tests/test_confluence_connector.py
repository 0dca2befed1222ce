"""The Confluence connector against a contract-faithful fake Confluence Cloud on 127.0.0.1."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from collections.abc import Generator, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from api_fixtures import api_key
from confluence_fixtures import confluence_source
from confluence_server import BEARER, EMAIL, TOKEN, FakeServer, confluence_server  # noqa: F401
from index_state import chunk_payloads
from local_server import serve_in_thread
from poll_helpers import drain

from askdocs.api.app import create_app
from askdocs.app import Services
from askdocs.connectors.base import ConnectorFailure, DocumentDeleted
from askdocs.connectors.confluence.client import ConfluenceClient
from askdocs.connectors.confluence.connector import NOBODY, ConfluenceConnector, build
from askdocs.ingest.runner import run_source
from askdocs.ingest.state import CheckpointStore
from askdocs.models import Document
from askdocs.retrieval.index import Index
from askdocs.retrieval.index.edge import EdgeBackend
from askdocs.settings import AuthSettings

REPO = Path(__file__).resolve().parent.parent
Item = Document | DocumentDeleted | ConnectorFailure


def connector(server: FakeServer, sleeps: list[float] | None = None, **kw: Any) -> ConfluenceConnector:
    auth = (
        {"bearer_token": kw.pop("bearer")} if "bearer" in kw else {"email": EMAIL, "api_token": kw.pop("token", TOKEN)}
    )
    client = ConfluenceClient(
        server.url,
        **auth,
        backoff=0.001,
        max_attempts=4,
        sleep=(sleeps.append if sleeps is not None else lambda _s: None),
    )
    return ConfluenceConnector(client, spaces=kw.pop("spaces", ["ENG", "HR"]), **kw)


def docs(items: list[Item]) -> dict[str, Document]:
    return {i.id: i for i in items if isinstance(i, Document)}


def failures(items: list[Item]) -> list[ConnectorFailure]:
    return [i for i in items if isinstance(i, ConnectorFailure)]


def test_full_load_pages_comments_attachments_and_acl(confluence_server: FakeServer) -> None:  # noqa: F811
    items, checkpoint = drain(connector(confluence_server).poll(None))
    assert failures(items) == []
    found = docs(items)
    assert set(found) == {
        f"confluence:page:{p}" for p in ("1001", "1002", "1003", "1004", "1005", "1006", "2001", "2002")
    } | {"confluence:attachment:att5002", "confluence:attachment:att5004"}
    vpn = found["confluence:page:1002"]
    assert vpn.url == f"{confluence_server.url}/wiki/spaces/ENG/pages/1002/VPN+setup"
    assert vpn.acl == ["space:ENG"]
    assert vpn.metadata["breadcrumb"] == "Engineering > Engineering Home > VPN setup"
    assert vpn.metadata["space_name"] == "Engineering"
    assert "```bash\nkumolink connect --region tokyo\n```" in vpn.text and "Tokyo | gw-tyo.kumo.example" in vpn.text
    runbook = found["confluence:page:1003"]
    assert "Warning\nNever deploy on Fridays." in runbook.text and "See VPN setup." in runbook.text
    assert runbook.sections[-1].path == ["Comments"] and "Rollback takes about 7 minutes." in runbook.text
    rollback = found["confluence:attachment:att5002"]
    assert rollback.metadata["page_id"] == "1003" and rollback.acl == runbook.acl and "--last" in rollback.text
    assert found["confluence:page:1004"].acl == [
        "group:confluence:security",
        "user:alice@kumo.example",
        "user:confluence:acc-carol",
        "user:confluence:acc-dave",
    ], "every reader, across pages of a restriction capped below the limit asked for"
    assert found["confluence:page:1005"].acl == ["user:alice@kumo.example", "user:confluence:acc-carol"], (
        "inherited restriction intersects"
    )
    assert found["confluence:page:2002"].acl == ["space:HR"]
    assert "confluence:page:1007" not in found, "archived pages are not indexed"
    assert any("cursor=" in line for line in confluence_server.fake.log), "listing followed _links.next"
    assert set(checkpoint["pages"]) == {"1001", "1002", "1003", "1004", "1005", "1006", "2001", "2002"}


def test_bearer_token_and_cql_scope(confluence_server: FakeServer) -> None:  # noqa: F811
    conn = connector(confluence_server, bearer=BEARER, spaces=None, cql='space = "ENG" and ancestor = 1004')
    items, _ = drain(conn.poll(None))
    assert set(docs(items)) == {"confluence:page:1005"} and failures(items) == []
    assert docs(items)["confluence:page:1005"].metadata["breadcrumb"].endswith("Security > Zephyr incident postmortem")


def test_bad_credentials_fail_fatally_without_leaking_the_token(
    confluence_server: FakeServer,  # noqa: F811
    caplog: pytest.LogCaptureFixture,  # noqa: F811
) -> None:
    caplog.set_level(logging.DEBUG)
    secret = "wrong-s3cr3t-token-123"
    items, _ = drain(connector(confluence_server, token=secret).poll(None))
    assert len(items) == 1 and isinstance(items[0], ConnectorFailure) and items[0].fatal
    assert "401" in items[0].message and "authentication failed" in items[0].message
    assert secret not in items[0].message and secret not in caplog.text and TOKEN not in caplog.text
    assert secret not in repr(connector(confluence_server, token=secret).client)


@pytest.mark.parametrize(
    ("kw", "expected"),
    [({"spaces": ["ENG", "NOPE"]}, "NOPE"), ({"spaces": None, "cql": 'space = "MISSING"'}, "matched no pages")],
)
def test_wrong_scope_is_a_failure_not_an_empty_success(
    confluence_server: FakeServer,  # noqa: F811
    kw: dict[str, Any],
    expected: str,  # noqa: F811
) -> None:
    items, _ = drain(connector(confluence_server, **kw).poll(None))
    assert [type(i) for i in items] == [ConnectorFailure] and items[0].fatal and expected in items[0].message


def test_space_without_visible_pages_is_reported_and_keeps_its_documents(confluence_server: FakeServer) -> None:  # noqa: F811
    conn = connector(confluence_server)
    _, checkpoint = drain(conn.poll(None))
    confluence_server.fake.hidden_spaces.add("HR")
    items, new = drain(conn.poll(checkpoint))
    assert any("space HR lists no pages" in f.message for f in failures(items))
    assert not [i for i in items if isinstance(i, DocumentDeleted)], "a permission loss must not delete documents"
    assert {"2001", "2002"} <= set(new["pages"])


def test_rate_limits_and_server_errors_are_retried(confluence_server: FakeServer) -> None:  # noqa: F811
    from confluence_server import Fail

    sleeps: list[float] = []
    fake = confluence_server.fake
    fake.fails = [
        Fail("/api/v2/spaces/98001/pages", 429, times=2, retry_after="0.05"),
        Fail("/footer-comments", 503, times=1),
        Fail("/restriction/byOperation/read", 502, times=1),
    ]
    items, _ = drain(connector(confluence_server, sleeps).poll(None))
    assert failures(items) == [] and len(docs(items)) == 10
    assert sleeps[:2] == [0.05, 0.05], "Retry-After is honoured"
    assert len(sleeps) == 4 and all(rule.times == 0 for rule in fake.fails)


def test_unreadable_restrictions_hide_the_page_and_its_descendants(confluence_server: FakeServer) -> None:  # noqa: F811
    from confluence_server import Fail

    confluence_server.fake.fails = [Fail("/content/1004/restriction", 403, times=99)]
    items, checkpoint = drain(connector(confluence_server).poll(None))
    found = docs(items)
    assert found["confluence:page:1004"].acl == [NOBODY] and found["confluence:page:1005"].acl == [NOBODY]
    assert found["confluence:page:1002"].acl == ["space:ENG"]
    problems = failures(items)
    assert {f.document_id for f in problems} == {"confluence:page:1004", "confluence:page:1005"}
    assert not any(f.fatal for f in problems) and checkpoint["pages"]["1004"]["v"] == -1, "retried next poll"


def test_outage_after_listing_fails_per_page_and_the_next_poll_heals(confluence_server: FakeServer) -> None:  # noqa: F811
    fake = confluence_server.fake
    conn = connector(confluence_server)
    fake.outage_after = 12  # the listing (user, spaces, 4 pages of pages) and a first page batch get through
    items, checkpoint = drain(conn.poll(None))
    problems = failures(items)
    assert problems and not any(f.fatal for f in problems)
    assert all("HTTP 500 after 4 attempts" in f.message and TOKEN not in f.message for f in problems)
    retry = {pid for pid, entry in checkpoint["pages"].items() if entry["v"] == -1}
    hidden = {f.document_id for f in problems if "restrictions unreadable" in f.message}
    assert retry and all(docs(items)[doc_id].acl == [NOBODY] for doc_id in hidden if doc_id in docs(items))
    fake.outage_after = None
    healed, after = drain(conn.poll(checkpoint))
    assert failures(healed) == [] and all(entry["v"] > 0 for entry in after["pages"].values())
    assert {d.id for d in docs(healed).values()} >= {f"confluence:page:{pid}" for pid in retry}


def test_cql_dates_are_written_in_the_api_users_time_zone(confluence_server: FakeServer) -> None:  # noqa: F811
    fake = confluence_server.fake
    fake.timezone = "Asia/Tokyo"
    conn = connector(confluence_server)
    _, checkpoint = drain(conn.poll(None))
    assert checkpoint["since"] == "2026-03-02T09:04:00+00:00"
    fake.edit("2002", "<p>Parental leave is 24 weeks.</p>")
    items, _ = drain(conn.poll(checkpoint))
    assert fake.searches[-1].endswith('lastmodified >= "2026-03-02 17:54"'), "09:04 UTC - 10 min, in Tokyo time"
    assert "24 weeks" in docs(items)["confluence:page:2002"].text


@pytest.fixture
def index_setup(tmp_path: Path, make_indexer: Any) -> Iterator[tuple[Any, CheckpointStore]]:
    indexer = make_indexer(Index(EdgeBackend(tmp_path / "edge")))
    yield indexer, CheckpointStore(tmp_path / "state")
    indexer.index.close()


def test_incremental_sync_applies_edits_moves_and_deletions(
    confluence_server: FakeServer,  # noqa: F811
    index_setup: tuple[Any, CheckpointStore],  # noqa: F811
) -> None:
    indexer, store = index_setup
    fake = confluence_server.fake
    conn = connector(confluence_server)
    first = run_source(indexer, conn, store)
    assert first.status == "succeeded" and first.added == 10
    fake.now += timedelta(hours=2)
    fake.edit("1006", "<p>The offsite moved to Nikko.</p>")
    fake.add_comment("2002", "<p>Adoption leave is the same.</p>")
    fake.add_page("1008", "New runbook", "ENG", "1003", "<p>Fresh page.</p>")
    fake.pages["1002"].status = "archived"
    fake.pages["2001"].status = "trashed"  # its child moves up, as Confluence does
    fake.move("2002", "")
    fake.pages["2002"].parent = None
    fake.pages["1003"].attachments = [a for a in fake.pages["1003"].attachments if a["title"] != "rollback.md"]
    log_start = len(fake.log)
    report = run_source(indexer, conn, store)
    assert report.status == "succeeded", report.summary()
    searches = [line for line in fake.log[log_start:] if line.startswith("/wiki/rest/api/search")]
    # the first run saw changes up to 09:04 (server time); the window starts 10 minutes earlier
    assert searches and fake.searches[-1].endswith('lastmodified >= "2026-03-02 08:54"')
    hashes = indexer.index.document_hashes("confluence")
    for gone in ("page:1002", "attachment:att5004", "page:2001", "attachment:att5002"):
        assert f"confluence:{gone}" not in hashes
    assert "confluence:page:1008" in hashes
    assert (report.deleted, report.added, report.updated) == (4, 1, 2)  # 1006 edited; 2002 commented and moved up
    again = run_source(indexer, conn, store)
    assert (again.added, again.updated, again.deleted, again.chunks_written) == (0, 0, 0, 0)
    fake.now += timedelta(hours=2)
    later = run_source(indexer, conn, store)
    assert (later.seen, later.deleted) == (0, 0), "nothing changed outside the overlap window: nothing fetched"


def test_page_moved_under_restricted_ancestor_disappears_for_outsiders(
    confluence_server: FakeServer,  # noqa: F811
    tmp_path: Path,  # noqa: F811
) -> None:
    settings, config = confluence_source(
        confluence_server.url, tmp_path, space_access={"ENG": ["group:eng"]},
        auth=AuthSettings(proxy_enabled=True, trusted_proxies=["127.0.0.1/32"]),  # a loopback proxy
    )  # fmt: skip
    services = Services.build(settings)
    store = CheckpointStore(tmp_path / "state")
    assert run_source(services.indexer(), build(config, settings), store).status == "succeeded"
    try:
        with serve_in_thread(create_app(settings, services), "askdocs") as url:

            def hits(headers: dict[str, str]) -> list[str]:
                body = {"query": "Where is the team offsite this year?", "top_k": 10}
                response = httpx.post(f"{url}/v1/search", json=body, headers=headers, timeout=30)
                assert response.status_code == 200, response.text
                return [h["doc_id"] for h in response.json()["hits"]]

            engineer = api_key(settings, "user:dev@kumo.example", "group:eng")
            alice = api_key(settings, "user:alice@kumo.example", "group:eng")
            assert "confluence:page:1006" in hits(engineer)
            guest = {"X-Forwarded-Email": "guest@kumo.example"}  # signed in through the proxy, in no group
            assert "confluence:page:1006" not in hits(guest), "space: needs a grant"
            confluence_server.fake.move("1006", "1004")  # under Security; a move makes no new version
            report = run_source(services.indexer(), build(config, settings), store)
            assert report.status == "succeeded" and report.updated >= 1
            assert "confluence:page:1006" not in hits(engineer)
            assert "confluence:page:1006" in hits(alice)
    finally:
        services.close()


def test_killed_run_resumes_and_converges(
    confluence_server: FakeServer,  # noqa: F811
    tmp_path: Path,
    make_indexer: Any,  # noqa: F811
) -> None:
    clean = make_indexer(Index(EdgeBackend(tmp_path / "clean")))
    assert run_source(clean, connector(confluence_server), CheckpointStore(tmp_path / "s1")).status == "succeeded"
    indexer = make_indexer(Index(EdgeBackend(tmp_path / "killed")))
    indexer.batch_docs = 2
    store = CheckpointStore(tmp_path / "s2")
    doomed = connector(confluence_server)
    real_poll = doomed.poll

    def killed_poll(checkpoint: Any) -> Generator[Item, None, Any]:
        for n, item in enumerate(real_poll(checkpoint)):
            if n == 5:
                raise KeyboardInterrupt("killed")
            yield item
        return {}

    doomed.poll = killed_poll  # type: ignore[method-assign]
    with pytest.raises(KeyboardInterrupt):
        run_source(indexer, doomed, store)
    assert store.load("confluence") is None and 0 < len(indexer.index.document_hashes("confluence")) < 10
    report = run_source(indexer, connector(confluence_server), store)
    assert report.status == "succeeded"
    assert chunk_payloads(indexer.index, "confluence") == chunk_payloads(clean.index, "confluence")
    assert indexer.index.bm25_stats() == clean.index.bm25_stats()
    clean.index.close()
    indexer.index.close()


def test_cli_index_against_the_fake_server(confluence_server: FakeServer, tmp_path: Path) -> None:  # noqa: F811
    env = {
        **os.environ,
        "ASKDOCS_DATA_DIR": str(tmp_path / "data"),
        "ASKDOCS_CONFLUENCE_BASE_URL": confluence_server.url,
        "ASKDOCS_CONFLUENCE_EMAIL": EMAIL,
        "ASKDOCS_CONFLUENCE_API_TOKEN": TOKEN,
        "ASKDOCS_CONFLUENCE_SPACES": '["ENG","HR"]',
        "COLUMNS": "120",
    }
    askdocs = str(Path(sys.executable).parent / "askdocs")
    done = subprocess.run(
        [askdocs, "sync", "--type", "confluence"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert "confluence: succeeded; 10 documents seen, 10 added" in done.stdout
    assert "syncing confluence" in done.stderr and TOKEN not in done.stdout + done.stderr
    env["ASKDOCS_CONFLUENCE_API_TOKEN"] = "not-the-token"
    failed = subprocess.run(
        [askdocs, "sync", "--type", "confluence"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )
    assert failed.returncode == 1 and "401" in failed.stderr and "not-the-token" not in failed.stderr
