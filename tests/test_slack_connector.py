"""The Slack connector against the fake Slack Web API: full and incremental sync, ACLs, faults, resume."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from index_state import chunk_payloads
from local_server import serve_in_thread
from poll_helpers import drain
from slack_server import TOKEN, FakeSlack, Fault, seed, slack, slack_server  # noqa: F401

from askdocs.connectors.base import Checkpoint, ConnectorFailure, Skipped
from askdocs.connectors.slack.config import SlackConfig
from askdocs.connectors.slack.web import SlackConnector, build, build_client
from askdocs.errors import SourceError
from askdocs.ingest.runner import run_source
from askdocs.ingest.state import CheckpointStore
from askdocs.ingest.sync import Indexer
from askdocs.models import Document
from askdocs.retrieval.index import Index, IndexFilter
from askdocs.retrieval.index.edge import EdgeBackend
from askdocs.settings import AuthSettings, Settings

REPO = Path(__file__).resolve().parent.parent


def make_connector(fake: FakeSlack, token: str = TOKEN, **kwargs: Any) -> SlackConnector:
    client = build_client(token, fake.url, timeout=1, retries=3, backoff=0.05, rate_limit_retries=6, jitter=0.05)
    return SlackConnector(client, page_size=kwargs.pop("page_size", 2), **kwargs)


def docs_of(items: list[Any]) -> dict[str, Document]:
    return {i.id: i for i in items if isinstance(i, Document)}


class Sync:
    """An index, an indexer and a checkpoint store in a temporary folder."""

    def __init__(self, folder: Path, make_indexer: Callable[..., Indexer]) -> None:
        self.index = Index(EdgeBackend(folder / "edge"))
        self.indexer = make_indexer(self.index)
        self.store = CheckpointStore(folder / "state")

    def run(self, connector: Any, full: bool = False) -> Any:
        return run_source(self.indexer, connector, self.store, full=full)

    def points(self) -> dict[str, dict[str, Any]]:
        return chunk_payloads(self.index)

    def text(self, doc_id: str) -> str:
        chunks = sorted(self.index.chunks(IndexFilter(doc_ids=(doc_id,))), key=lambda p: p.payload["chunk_no"])
        return "\n".join(p.payload["text"] for p in chunks)


@pytest.fixture
def sync(tmp_path: Path, make_indexer: Callable[..., Indexer]) -> Iterator[Sync]:
    made = Sync(tmp_path, make_indexer)
    yield made
    made.index.close()


# --- full sync -----------------------------------------------------------------------------------------------
def test_full_poll_builds_one_document_per_thread(slack: FakeSlack) -> None:  # noqa: F811
    ts = seed(slack.workspace)
    items, checkpoint = drain(make_connector(slack).poll(None))
    assert not [i for i in items if isinstance(i, ConnectorFailure)]
    docs = docs_of(items)
    assert len(docs) == 7, "3 general + 3 random + 1 finance; not the channel the bot is not in"
    skipped = [i for i in items if isinstance(i, Skipped)]
    assert len(items) == 8 and [(s.reason, s.count) for s in skipped] == [("channels the bot is not in (invite it)", 1)]
    vpn = docs[f"slack:C0GENERAL:{ts['vpn']}"]
    assert vpn.title == "#general: How do I reset the VPN (https://vpn.kumo.example) token? 🤔"
    assert vpn.author == "ana" and vpn.acl == ["public"] and vpn.source == "slack"
    assert vpn.text.splitlines()[2] == "ben: @ana run `kumolink reset` then log in again 👍"
    assert "ana: Thanks & it worked, see #random for more" in vpn.text
    permalink = httpx.post(slack.url + "chat.getPermalink", data={"channel": "C0GENERAL", "message_ts": ts["vpn"]},
                           headers={"Authorization": f"Bearer {TOKEN}"}).json()["permalink"]  # fmt: skip
    assert vpn.url == permalink
    assert vpn.metadata["messages"] == 3 and vpn.created_at and vpn.updated_at and vpn.updated_at > vpn.created_at
    assert "11:30:00 today 🎉" in docs[f"slack:C0GENERAL:{ts['lunch']}"].text
    assert docs[f"slack:C0GENERAL:{ts['deploy']}"].title == "#general: Friday deploy freeze starts at noon"
    budget = docs[f"slack:G0FINANCE:{ts['budget']}"]
    assert budget.acl == sorted(["user:ana@kumo.example", "user:chie@kumo.example", "user:slack:U0DAN",
                                 "user:slack:U0BOT"])  # fmt: skip
    assert "@finance-leads" in budget.text
    assert set(checkpoint["channels"]) == {"C0GENERAL", "C0RANDOM", "G0FINANCE"}
    users_listings = [p for m, p in slack.calls if m == "users.list" and not p.get("cursor")]
    assert len(users_listings) == 1, "users resolved once per run"
    assert any(m == "conversations.history" and p.get("cursor") for m, p in slack.calls), "cursor pagination"
    listing = next(p for m, p in slack.calls if m == "conversations.list")
    assert listing["types"] == "public_channel,private_channel"


def test_include_and_exclude_lists(slack: FakeSlack) -> None:  # noqa: F811
    seed(slack.workspace)
    only = docs_of(drain(make_connector(slack, include=["#random", "G0FINANCE"]).poll(None))[0])
    assert {d.split(":")[1] for d in only} == {"C0RANDOM", "G0FINANCE"}
    without = docs_of(drain(make_connector(slack, exclude=["random"]).poll(None))[0])
    assert {d.split(":")[1] for d in without} == {"C0GENERAL", "G0FINANCE"}


def test_list_ids_and_load_all_match_poll(slack: FakeSlack) -> None:  # noqa: F811
    seed(slack.workspace)
    connector = make_connector(slack)
    ids = [i for i in connector.list_ids()]
    assert sorted(ids) == sorted(docs_of(list(connector.load_all())))


# --- incremental sync ----------------------------------------------------------------------------------------
def test_incremental_sync_new_message_late_reply_edit_and_deletions(slack: FakeSlack, sync: Sync) -> None:  # noqa: F811
    ws = slack.workspace
    ts = seed(ws)
    first = sync.run(make_connector(slack))
    assert first.status == "succeeded" and first.added == 7
    assert sync.run(make_connector(slack)).seen == 0, "nothing changed, nothing re-read"
    new = ws.post("C0RANDOM", "U0ANA", "Who watered the ficus?")
    ws.reply("C0GENERAL", ts["deploy"], "U0CHIE", "Does the freeze include hotfixes?")  # late reply, old root
    ws.edit("C0GENERAL", ts["lunch"], "Lunch order closes at noon today")
    gone = next(t for t in ws.channels["C0RANDOM"].roots if t != new)
    ws.delete("C0RANDOM", gone)
    ws.delete("C0GENERAL", ts["vpn"])  # a root with replies becomes a tombstone: the replies stay
    slack.calls.clear()
    report = sync.run(make_connector(slack))
    assert report.status == "succeeded", report.summary()
    assert (report.added, report.updated, report.deleted) == (1, 3, 1)
    hashes = sync.index.document_hashes("slack")
    assert f"slack:C0RANDOM:{new}" in hashes and f"slack:C0RANDOM:{gone}" not in hashes
    assert "Does the freeze include hotfixes?" in sync.text(f"slack:C0GENERAL:{ts['deploy']}")
    assert "closes at noon" in sync.text(f"slack:C0GENERAL:{ts['lunch']}")
    vpn = sync.text(f"slack:C0GENERAL:{ts['vpn']}")
    assert "How do I reset" not in vpn and "kumolink reset" in vpn
    replies = [p["ts"] for m, p in slack.calls if m == "conversations.replies"]
    assert ts["deploy"] in replies and ts["budget"] not in replies, "only changed threads are re-read"
    for reply in list(ws.channels["C0GENERAL"].replies[ts["vpn"]]):
        ws.delete("C0GENERAL", reply["ts"])
    assert sync.run(make_connector(slack)).deleted == 1, "a tombstone whose replies are all gone disappears"
    assert f"slack:C0GENERAL:{ts['vpn']}" not in sync.index.document_hashes("slack")


def test_rescan_window_uses_oldest_and_still_sees_late_replies(slack: FakeSlack) -> None:  # noqa: F811
    ws = slack.workspace
    ts = seed(ws)
    _, checkpoint = drain(make_connector(slack, rescan_days=1).poll(None))
    ws.reply("G0FINANCE", ts["budget"], "U0ANA", "Late reply about the falcon line")
    slack.calls.clear()
    items, _ = drain(make_connector(slack, rescan_days=1).poll(checkpoint))
    assert list(docs_of(items)) == [f"slack:G0FINANCE:{ts['budget']}"]
    assert all(p.get("oldest") for m, p in slack.calls if m == "conversations.history")


def test_removed_channel_and_lost_checkpoint_are_pruned(slack: FakeSlack, sync: Sync) -> None:  # noqa: F811
    ws = slack.workspace
    seed(ws)
    sync.run(make_connector(slack))
    ws.channels["G0FINANCE"].bot_is_member = False  # the bot was removed from the private channel
    assert sync.run(make_connector(slack)).deleted == 1
    sync.store.clear("slack")
    ws.delete("C0RANDOM", next(iter(ws.channels["C0RANDOM"].roots)))
    report = sync.run(make_connector(slack), full=True)
    assert report.deleted == 1 and len(sync.index.document_hashes("slack")) == 5


# --- faults --------------------------------------------------------------------------------------------------
def test_429_storm_500s_and_slow_responses_lose_and_duplicate_nothing(slack: FakeSlack, sync: Sync) -> None:  # noqa: F811
    seed(slack.workspace)
    slack.faults = [Fault("conversations.history", "429", count=2), Fault("conversations.replies", "429"),
                    Fault("conversations.history", "500", count=2), Fault("users.list", "slow", delay=1.5)]  # fmt: skip
    started = time.monotonic()
    report = sync.run(make_connector(slack))
    assert report.status == "succeeded", report.summary()
    assert time.monotonic() - started >= 3, "each 429 waits its Retry-After of 1 s"
    assert all(f.count == 0 for f in slack.faults)
    assert report.added == 7 and len(sync.index.document_hashes("slack")) == 7
    clean = docs_of(drain(make_connector(slack).poll(None))[0])
    assert sorted(sync.index.document_hashes("slack").items()) == sorted((k, d.content_hash) for k, d in clean.items())


def test_a_failing_channel_is_reported_and_the_others_continue(slack: FakeSlack, sync: Sync) -> None:  # noqa: F811
    seed(slack.workspace)
    slack.faults = [Fault("conversations.history", "500", count=100, channel="C0RANDOM")]
    report = sync.run(make_connector(slack))
    assert report.status == "partial" and len(report.failures) == 1
    assert "#random" in report.failures[0].message and TOKEN not in report.failures[0].message
    assert {d.split(":")[1] for d in sync.index.document_hashes("slack")} == {"C0GENERAL", "G0FINANCE"}
    assert "C0RANDOM" not in sync.store.load("slack")["channels"]
    slack.faults = []
    again = sync.run(make_connector(slack))
    assert again.status == "succeeded" and again.added == 3


@pytest.mark.parametrize("problem", ["token", "scopes"])
def test_auth_or_scope_errors_fail_the_run(
    slack: FakeSlack,  # noqa: F811
    sync: Sync,
    problem: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    seed(slack.workspace)
    token = TOKEN
    if problem == "token":
        token = "xoxb-wrong-9999-DONOTLEAK"
    else:
        slack.workspace.scopes = {"channels:read", "groups:read", "users:read"}
    report = sync.run(make_connector(slack, token=token))
    assert report.status == "failed" and report.seen == 0
    assert sync.store.load("slack") is None
    for failure in report.failures:
        assert token not in failure.message and "DONOTLEAK" not in failure.message
    assert any("invalid_auth" in f.message or "missing_scope" in f.message for f in report.failures)
    assert token not in caplog.text and "SECRET" not in caplog.text, "the token is never logged"


def test_config_needs_a_token(slack: FakeSlack) -> None:  # noqa: F811
    with pytest.raises(SourceError, match="credentials.bot_token or ASKDOCS_SLACK_BOT_TOKEN"):
        build(SlackConfig(), Settings())
    connector = build(SlackConfig(bot_token=TOKEN, base_url=slack.url, channels_include=["x"]), Settings())
    assert connector.include == {"x"} and TOKEN not in repr(SlackConfig(bot_token=TOKEN))


# --- resume --------------------------------------------------------------------------------------------------
class Killed(Exception):
    """Stands in for the process dying mid-run."""


class KilledAfter:
    """The connector, but its poll dies after ``n`` documents."""

    def __init__(self, inner: SlackConnector, n: int) -> None:
        self.inner, self.n, self.source = inner, n, inner.source

    def poll(self, checkpoint: Checkpoint | None) -> Generator[Any, None, Checkpoint]:
        seen = 0
        for item in self.inner.poll(checkpoint):
            if isinstance(item, Document):
                seen += 1
                if seen > self.n:
                    raise Killed
            yield item
        raise AssertionError("should have been killed")


def test_killed_runs_resume_and_converge_to_a_clean_index(
    slack: FakeSlack,  # noqa: F811
    sync: Sync,
    tmp_path: Path,
    make_indexer: Callable[..., Indexer],
) -> None:
    ws = slack.workspace
    ts = seed(ws)
    sync.indexer.batch_docs = 2
    with pytest.raises(Killed):
        sync.run(KilledAfter(make_connector(slack), 5))
    assert 0 < len(sync.index.document_hashes("slack")) < 7 and sync.store.load("slack") is None
    assert sync.run(make_connector(slack)).status == "succeeded"
    ws.reply("C0GENERAL", ts["lunch"], "U0BEN", "Count me in for ramen")
    ws.edit("G0FINANCE", ts["budget"], "The falcon budget line now holds 40 million yen")
    for n in range(4):
        ws.post("C0GENERAL", "U0ANA", f"Standup notes {n}: shipped the search box")
    with pytest.raises(Killed):
        sync.run(KilledAfter(make_connector(slack), 3))
    resumed = sync.run(make_connector(slack))
    assert resumed.status == "succeeded" and resumed.seen >= 3
    clean = Sync(tmp_path / "clean", make_indexer)
    try:
        clean.run(make_connector(slack))
        assert sync.points() == clean.points(), "same point ids, count and payloads as a clean run"
        assert sync.store.load("slack") == clean.store.load("slack")
    finally:
        clean.index.close()


# --- through the API and the CLI -----------------------------------------------------------------------------
def _search(url: str, query: str, user: str) -> list[str]:
    response = httpx.post(f"{url}/v1/search", json={"query": query, "top_k": 10},
                          headers={"X-Forwarded-Email": user}, timeout=30)  # fmt: skip
    assert response.status_code == 200, response.text
    return [h["doc_id"] for h in response.json()["hits"]]


def test_member_removed_from_private_channel_loses_access(slack: FakeSlack, tmp_path: Path) -> None:  # noqa: F811
    from askdocs.api.app import create_app
    from askdocs.app import Services

    ws = slack.workspace
    ts = seed(ws)
    settings = Settings(
        data_dir=tmp_path / "data", auth=AuthSettings(proxy_enabled=True, trusted_proxies=["127.0.0.1/32"])
    )
    config = SlackConfig(bot_token=TOKEN, base_url=slack.url)
    services = Services.build(settings)
    store = CheckpointStore(tmp_path / "data" / "state")
    assert run_source(services.indexer(), build(config, settings), store).status == "succeeded"
    try:
        with serve_in_thread(create_app(settings, services), "askdocs") as url:  # behind a sign-in proxy on loopback
            budget, query = f"slack:G0FINANCE:{ts['budget']}", "falcon budget line quokka"
            assert budget in _search(url, query, "chie@kumo.example")
            assert budget not in _search(url, query, "ben@kumo.example")
            ws.channels["G0FINANCE"].members.remove("U0CHIE")
            report = run_source(services.indexer(), build(config, settings), store)
            assert report.status == "succeeded" and report.metadata_only == 1
            assert budget not in _search(url, query, "chie@kumo.example")
            assert budget in _search(url, query, "ana@kumo.example")
    finally:
        services.close()


def test_cli_indexes_slack_with_a_progress_bar(slack: FakeSlack, tmp_path: Path) -> None:  # noqa: F811
    seed(slack.workspace)
    env = {**os.environ, "ASKDOCS_DATA_DIR": str(tmp_path / "data"), "ASKDOCS_SLACK_BOT_TOKEN": TOKEN,
           "ASKDOCS_SLACK_BASE_URL": slack.url, "ASKDOCS_SLACK_CHANNELS_EXCLUDE": '["random"]'}  # fmt: skip
    cli = [str(Path(sys.executable).with_name("askdocs")), "sync", "--type", "slack"]
    done = subprocess.run(cli, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "slack: succeeded; 4 documents seen, 4 added" in done.stdout
    assert "syncing slack" in done.stderr and TOKEN not in done.stdout + done.stderr
