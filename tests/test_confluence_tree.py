"""Confluence content-tree behaviour against the spec-checked fake: footer-comment replies and deleted comments,
typed ancestors (folders, whiteboards, an unknown type), restriction paging under a server-capped ``limit``, and
restricted readers whose e-mail the API hides (issue 21, items 2, 4, 9 and 10)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
from api_fixtures import api_key, serve
from confluence_fixtures import confluence_source
from confluence_server import EMAIL, TOKEN, FakeServer, confluence_server  # noqa: F401
from poll_helpers import drain

from askdocs.app import Services
from askdocs.connectors.base import ConnectorFailure, Skipped
from askdocs.connectors.confluence.acl import NOBODY, RestrictionReader
from askdocs.connectors.confluence.client import ConfluenceClient
from askdocs.connectors.confluence.connector import NO_EMAIL, UNKNOWN_ANCESTOR, ConfluenceConnector, build
from askdocs.ingest.runner import run_source
from askdocs.ingest.state import CheckpointStore
from askdocs.models import Document


def client(server: FakeServer) -> ConfluenceClient:
    return ConfluenceClient(server.url, email=EMAIL, api_token=TOKEN, backoff=0.001, sleep=lambda _s: None)


def pages(items: list[Any]) -> dict[str, Document]:
    return {i.id.rpartition(":")[2]: i for i in items if isinstance(i, Document) and i.metadata["kind"] == "page"}


def test_replies_are_indexed_and_a_deleted_comment_disappears_on_the_next_poll(
    confluence_server: FakeServer,  # noqa: F811
) -> None:
    fake = confluence_server.fake
    root = fake.pages["1003"].comments[0]["id"]
    reply = fake.add_comment("1003", "<p>Rollback needs the release manager's approval.</p>", parent=root)
    fake.add_comment("1003", "<p>Approval comes from the on-call lead at night.</p>", parent=reply)
    conn = ConfluenceConnector(client(confluence_server), spaces=["ENG"])
    items, checkpoint = drain(conn.poll(None))
    runbook = pages(items)["1003"]
    assert "release manager's approval" in runbook.text and "on-call lead at night" in runbook.text
    assert [s.path for s in runbook.sections[-3:]] == [["Comments"]] * 3 and runbook.metadata["comments"] == 3
    assert any(line.startswith(f"/wiki/api/v2/footer-comments/{reply}/children") for line in fake.log)
    checkpoint = drain(conn.poll(checkpoint))[1]  # the first overlap window re-reads what it has not seen
    fake.now += timedelta(hours=2)
    fake.delete_comment("1003", reply)  # the page keeps its version; the reply's own reply goes with it
    fake.pages["1003"].comments = [c for c in fake.pages["1003"].comments if c["parent"] != reply]
    items, checkpoint = drain(conn.poll(checkpoint))
    assert set(pages(items)) == {"1003"}, "only the page whose comments changed is read again"
    assert "release manager" not in pages(items)["1003"].text and "7 minutes" in pages(items)["1003"].text
    items, _ = drain(conn.poll(checkpoint))
    assert pages(items) == {}, "an unchanged comment thread reads nothing again"


def test_restrictions_page_by_the_servers_limit_not_the_one_asked_for(confluence_server: FakeServer) -> None:  # noqa: F811
    fake = confluence_server.fake
    fake.add_page("3100", "Board minutes", "ENG", None, "<p>minutes</p>", users=[f"acc-u{n}" for n in range(5)],
                  groups=["board", "legal", "audit"])  # fmt: skip
    fake.users["acc-u3"] = {"email": "u3@kumo.example", "name": "U3"}
    reader = RestrictionReader(client(confluence_server), page_size=100)
    allowed = reader.read("3100")
    assert allowed == {
        "group:confluence:board",
        "group:confluence:legal",
        "group:confluence:audit",
        "user:u3@kumo.example",
    } | {f"user:confluence:acc-u{n}" for n in (0, 1, 2, 4)}
    calls = [line for line in fake.log if "/content/3100/restriction" in line]
    assert [c.split("start=")[1].split("&")[0] for c in calls] == ["0", "2", "4"], "2 per page, as the server capped"


def test_folders_and_whiteboards_as_ancestors_and_a_moved_folder(confluence_server: FakeServer) -> None:  # noqa: F811
    fake = confluence_server.fake
    fake.add_folder("3001", "Runbooks", "ENG", "1004")  # under the restricted Security page
    fake.add_page("3002", "Pager duty", "ENG", "3001", "<p>The pager rotates every Monday.</p>")
    fake.add_folder("3003", "Planning board", "ENG", "1001", kind="whiteboard")
    fake.add_page("3004", "Sprint notes", "ENG", "3003", "<p>Sprint 12 closes on Friday.</p>")
    conn = ConfluenceConnector(client(confluence_server), spaces=["ENG"])
    items, checkpoint = drain(conn.poll(None))
    assert [i for i in items if isinstance(i, ConnectorFailure)] == []
    found = pages(items)
    assert found["3002"].acl == found["1004"].acl != [NOBODY], "the folder's restricted page ancestor applies"
    assert found["3002"].metadata["breadcrumb"] == "Engineering > Engineering Home > Security > Runbooks > Pager duty"
    assert found["3004"].acl == ["space:ENG"]
    assert not [line for line in fake.log if "/content/3001/restriction" in line or "/content/3003/" in line], (
        "restrictions are read only for content types that have them"
    )
    checkpoint = drain(conn.poll(checkpoint))[1]  # the first overlap window re-reads what it has not seen
    fake.now += timedelta(hours=2)
    fake.move("3001", "1001")  # the folder moves out of Security: no page changes parent or version
    items, checkpoint = drain(conn.poll(checkpoint))
    assert set(pages(items)) == {"3002"} and pages(items)["3002"].acl == ["space:ENG"]
    assert pages(items)["3002"].metadata["breadcrumb"] == "Engineering > Engineering Home > Runbooks > Pager duty"
    items, _ = drain(conn.poll(checkpoint))
    assert pages(items) == {}


def test_an_ancestor_of_unknown_type_hides_the_page_and_is_counted(confluence_server: FakeServer) -> None:  # noqa: F811
    fake = confluence_server.fake
    fake.add_folder("3010", "Hologram", "ENG", "1001", kind="hologram")  # a type the v2 spec does not list
    fake.add_page("3011", "Beneath", "ENG", "3010", "<p>under a new kind of content</p>")
    items, _ = drain(ConfluenceConnector(client(confluence_server), spaces=["ENG"]).poll(None))
    assert pages(items)["3011"].acl == [NOBODY] and pages(items)["1006"].acl == ["space:ENG"]
    assert [i.reason for i in items if isinstance(i, Skipped)].count(UNKNOWN_ANCESTOR) == 1
    assert fake.violations and all("hologram" in v for v in fake.violations), "the fake had to leave the spec"
    fake.violations.clear()


def test_readers_without_a_visible_email_are_counted_and_cannot_find_their_pages(
    confluence_server: FakeServer,  # noqa: F811
    tmp_path: Path,
) -> None:
    settings, config = confluence_source(confluence_server.url, tmp_path, space_access={"ENG": ["group:eng"]})
    services = Services.build(settings)
    try:
        report = run_source(services.indexer(), build(config, settings), CheckpointStore(tmp_path / "state"))
        assert report.status == "succeeded" and report.skipped == {NO_EMAIL: 2}, report.summary()
        assert f"2 skipped ({NO_EMAIL}: 2)" in report.summary()
        with serve(settings, services) as url:

            def hits(*principals: str) -> list[str]:
                body = {"query": "zephyr outage expired certificate", "top_k": 10}
                response = httpx.post(f"{url}/v1/search", json=body, headers=api_key(settings, *principals))
                assert response.status_code == 200, response.text
                return [h["doc_id"] for h in response.json()["hits"]]

            assert "confluence:page:1005" in hits("user:alice@kumo.example", "group:eng")
            assert "confluence:page:1005" not in hits("user:carol@kumo.example", "group:eng"), (
                "the gap: Carol may read the page in Confluence, but the API hides her e-mail"
            )
            assert "confluence:page:1005" in hits("user:confluence:acc-carol", "group:eng"), "her account id would"
    finally:
        services.close()
