"""Slack identity sync and permission refresh against the fake Slack Web API, checked through /v1/search."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from identity_fixtures import index_source, proxy_settings
from local_server import serve_in_thread
from slack_server import TOKEN, FakeSlack, seed

from askdocs.api.app import create_app
from askdocs.connectors.slack.config import SlackConfig
from askdocs.connectors.slack.web import build
from askdocs.ingest.access import refresh_permissions, sync_identities
from askdocs.retrieval.embedders import LanguageEmbedders

BUDGET = "How much does the falcon budget line hold?"
VPN = "How do I reset the VPN token?"


class FakeSlackDirectory(FakeSlack):
    """The fake Slack plus ``usergroups.list`` and channels whose member list fails (``ok: false``)."""

    def __init__(self) -> None:
        super().__init__()
        self.usergroups: list[dict[str, Any]] = []
        self.broken: set[str] = set()

    def m_usergroups_list(self, params: dict[str, str]) -> dict[str, Any]:
        groups = [
            {"id": g["id"], "team_id": "T0KUMO", "is_usergroup": True, "name": g["name"], "handle": g["handle"],
             "user_count": len(g["users"]), **({"users": list(g["users"])} if params.get("include_users") else {})}
            for g in self.usergroups
        ]  # fmt: skip
        return {"ok": True, "usergroups": groups}

    def m_conversations_members(self, params: dict[str, str]) -> dict[str, Any]:
        if params.get("channel") in self.broken:
            return {"ok": False, "error": "internal_error"}
        return super().m_conversations_members(params)


@pytest.fixture
def slack_directory() -> Iterator[FakeSlackDirectory]:
    fake = FakeSlackDirectory()
    seed(fake.workspace)
    fake.usergroups = [{"id": "S0FIN", "name": "Finance leads", "handle": "finance-leads", "users": ["U0BEN"]}]
    with serve_in_thread(fake.app, "fake Slack") as url:
        fake.url = f"{url}/api/"
        yield fake


def test_identities_permissions_and_failures_reach_search(
    slack_directory: FakeSlackDirectory, tmp_path: Path, embedders: LanguageEmbedders
) -> None:
    settings = proxy_settings(tmp_path)
    config = SlackConfig(bot_token=TOKEN, base_url=slack_directory.url)
    indexed = index_source(settings, build(config, settings), embedders, tmp_path)
    assert indexed.report.status in ("succeeded", "partial")
    services, spy, store = indexed.services, indexed.spy, indexed.store
    report = sync_identities("slack", build(config, settings), store)
    assert report.status == "succeeded" and "3 accounts resolved, 1 unresolved, 1 groups" in report.identity
    assert "group:slack:S0FIN" in store.expand(["user:ben@kumo.example"])
    assert "user:slack:U0ANA" in store.expand(["user:ana@kumo.example"])

    def refresh() -> int:
        before, calls = spy.calls, len(slack_directory.calls)
        done = refresh_permissions("slack", build(config, settings), services.indexer())
        read = {m for m, _ in slack_directory.calls[calls:]}
        assert spy.calls == before and not read & {"conversations.history", "conversations.replies"}
        return done.changed

    try:
        with serve_in_thread(create_app(settings, services), "askdocs") as url:

            def finders(query: str) -> set[str]:
                found = set()
                for person in ("ana", "ben", "chie"):
                    body = {"query": query, "top_k": 10}
                    headers = {"X-Forwarded-Email": f"{person}@kumo.example"}
                    response = httpx.post(f"{url}/v1/search", json=body, headers=headers, timeout=60)
                    assert response.status_code == 200, response.text
                    if any(h["doc_id"].startswith("slack:G0FINANCE:") for h in response.json()["hits"]):
                        found.add(person)
                return found

            assert finders(BUDGET) == {"ana", "chie"}
            assert refresh() == 0
            slack_directory.workspace.channels["G0FINANCE"].members.remove("U0ANA")  # Ana leaves the channel
            assert refresh() == 1
            assert finders(BUDGET) == {"chie"}
            slack_directory.broken.add("G0FINANCE")  # its members cannot be read: hidden, the rest unaffected
            assert refresh() == 1
            assert finders(BUDGET) == set()
            slack_directory.broken.clear()
            assert refresh() == 1
            assert finders(BUDGET) == {"chie"}
            slack_directory.workspace.channels.pop("G0FINANCE")  # gone (or the bot removed): no answer, hidden
            refresh()
            assert finders(BUDGET) == set()
    finally:
        services.close()
