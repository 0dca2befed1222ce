"""What a Slack poll reads (only what changed), what it finds (reply edits, integration posts), how it copes with
Slack's rate-limit tiers (a run budget, a resumable checkpoint), and that the fake speaks Slack's published spec."""

from __future__ import annotations

import time
from collections import Counter
from decimal import Decimal
from typing import Any

import httpx
from poll_helpers import drain
from slack_server import NON_MARKETPLACE, SPEC, TIER3, TOKEN, FakeSlack, seed, slack, slack_server  # noqa: F401
from test_slack_connector import Sync, docs_of, sync  # noqa: F401

from askdocs.connectors.base import ConnectorFailure, Skipped
from askdocs.connectors.slack.config import SlackConfig
from askdocs.connectors.slack.state import ChannelState
from askdocs.connectors.slack.web import SlackConnector, build, build_client
from askdocs.settings import Settings


def connector(fake: FakeSlack, **kwargs: Any) -> SlackConnector:
    """Default page limits, fast retries without jitter, the fake workspace's clock."""
    client = build_client(TOKEN, fake.url, timeout=5, retries=2, backoff=0.01, rate_limit_retries=8, jitter=0.0)
    return SlackConnector(client, clock=lambda: float(fake.workspace.clock), **kwargs)


def answered(fake: FakeSlack, method: str) -> list[dict[str, str]]:
    return [params for m, params, _ in fake.answered if m == method]


# --- item 3: a poll reads only what changed ------------------------------------------------------------------
def test_settings_set_the_window_and_polls_read_only_what_changed(slack: FakeSlack) -> None:  # noqa: F811
    ws = slack.workspace
    ts = seed(ws)
    config = SlackConfig(bot_token=TOKEN, base_url=slack.url, rescan_days=1, reply_edit_hours=0, run_budget_minutes=5)
    built = build(config, Settings())
    assert (built.rescan_days, built.reply_edit_hours, built.budget_s) == (1, 0, 300)
    assert SlackConfig().rescan_days == 7, "incremental by default"
    _, checkpoint = drain(built.poll(None))
    assert {p["limit"] for p in answered(slack, "conversations.history")} == {"999"}, "the method's maximum page"
    assert {p["limit"] for p in answered(slack, "users.list")} == {"200"}
    assert not [p for p in answered(slack, "conversations.history") if "oldest" in p], "a first read lists it all"
    ws.reply("C0GENERAL", ts["lunch"], "U0BEN", "Count me in")
    new = ws.post("C0RANDOM", "U0ANA", "Who watered the ficus?")
    slack.answered.clear()
    items, _ = drain(build(config, Settings()).poll(checkpoint))
    assert sorted(docs_of(items)) == sorted([f"slack:C0GENERAL:{ts['lunch']}", f"slack:C0RANDOM:{new}"])
    history = answered(slack, "conversations.history")
    assert history and all(p.get("oldest") for p in history), "incremental polls pass oldest"
    latest = max(Decimal(t) for t in checkpoint["channels"]["C0GENERAL"]["threads"])
    general = next(p for p in history if p["channel"] == "C0GENERAL")
    assert Decimal(general["oldest"]) <= latest - 86400 + 60, "oldest: newest seen minus the rescan window"
    assert [p["ts"] for p in answered(slack, "conversations.replies")] == [ts["lunch"]], "only the changed thread"


# --- item 7: reply edits -------------------------------------------------------------------------------------
def test_an_edited_reply_is_picked_up_and_unchanged_threads_are_not_re_emitted(slack: FakeSlack) -> None:  # noqa: F811
    ws = slack.workspace
    ts = seed(ws)
    _, checkpoint = drain(connector(slack, rescan_days=7, reply_edit_hours=24).poll(None))
    reply = ws.channels["C0GENERAL"].replies[ts["vpn"]][0]["ts"]
    ws.edit("C0GENERAL", reply, "<@U0ANA> run `kumolink reset --force` then log in again")
    items, checkpoint = drain(connector(slack, rescan_days=7, reply_edit_hours=24).poll(checkpoint))
    docs = docs_of(items)
    assert list(docs) == [f"slack:C0GENERAL:{ts['vpn']}"], "only the thread whose reply changed"
    assert "kumolink reset --force" in docs[f"slack:C0GENERAL:{ts['vpn']}"].text
    items, _ = drain(connector(slack, rescan_days=7, reply_edit_hours=24).poll(checkpoint))
    assert not docs_of(items), "re-read threads that did not change are not emitted again"
    ws.clock += Decimal(3 * 86400)  # days later: the thread's replies are older than the edit window
    slack.answered.clear()
    drain(connector(slack, rescan_days=7, reply_edit_hours=24).poll(checkpoint))
    assert not answered(slack, "conversations.replies"), "no re-reads outside the edit window"


# --- item 12: integration posts --------------------------------------------------------------------------------
def test_text_that_lives_only_in_blocks_or_attachments_is_indexed(slack: FakeSlack) -> None:  # noqa: F811
    ws = slack.workspace
    seed(ws)
    alert, digest = ws.next_ts(), ws.next_ts()
    general = ws.channels["C0GENERAL"]
    runbook = "*Runbook:* <https://wiki.kumo.example/db|db runbook>"
    general.roots[alert] = {"type": "message", "subtype": "bot_message", "username": "PagerBot", "text": "",
        "ts": alert, "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": "Disk almost full on db-7"}},
            {"type": "section", "text": {"type": "mrkdwn", "text": runbook},
             "fields": [{"type": "mrkdwn", "text": "*Owner:* <@U0BEN>"}]},
            {"type": "context", "elements": [{"type": "mrkdwn", "text": "Raised by the capacity monitor"}]},
            {"type": "rich_text", "elements": [{"type": "rich_text_list", "elements": [
                {"type": "rich_text_section", "elements": [{"type": "text", "text": "rotate the WAL archive"}]}]}]},
        ]}  # fmt: skip
    general.roots[digest] = {"type": "message", "subtype": "bot_message", "username": "Deploys", "ts": digest,
        "text": "Deploy digest", "attachments": [
            {"id": 1, "pretext": "Nightly deploys", "title": "payments-api v2.3.1", "text": "Rolled out to tokyo",
             "fields": [{"title": "Duration", "value": "4 min", "short": True}]},
            {"id": 2, "fallback": "search-ui v9 rolled back"},
        ]}  # fmt: skip
    docs = docs_of(drain(connector(slack).poll(None))[0])
    text = docs[f"slack:C0GENERAL:{alert}"].text
    for line in ("Disk almost full on db-7", "*Runbook:* db runbook (https://wiki.kumo.example/db)", "*Owner:* @ben",
                 "Raised by the capacity monitor", "- rotate the WAL archive"):  # fmt: skip
        assert line in text
    assert docs[f"slack:C0GENERAL:{alert}"].title == "#general: Disk almost full on db-7"
    deploys = docs[f"slack:C0GENERAL:{digest}"].text
    for line in ("Deploy digest", "Nightly deploys", "payments-api v2.3.1", "Rolled out to tokyo", "Duration: 4 min",
                 "search-ui v9 rolled back"):  # fmt: skip
        assert line in deploys
    vpn = next(d for d in docs.values() if "VPN" in d.title)
    assert vpn.text.count("kumolink reset") == 1, "a user's rich_text block repeats its text: read once"


# --- the fake speaks Slack's spec ----------------------------------------------------------------------------
def test_the_spec_check_rejects_undocumented_methods_parameters_and_fields(slack: FakeSlack) -> None:  # noqa: F811
    assert SPEC.check_request("/conversations.history", "get", {"channel": "C0GENERAL", "limit": "999"}) == []
    assert SPEC.check_request("/conversations.historyy", "get", {}) == [
        "GET /conversations.historyy: no such operation in the spec"
    ]
    assert SPEC.check_request("/conversations.history", "get", {"channel": "C0GENERAL", "since": "1"})
    assert SPEC.check_request("/conversations.history", "get", {"limit": "many"}), "a value of the wrong type"
    body = {"ok": True, "messages": [], "has_more": False, "pin_count": 0, "channel_actions_ts": None,
            "channel_actions_count": 0, "response_metadata": {"next_cursor": ""}}  # fmt: skip
    assert SPEC.check_response("/conversations.history", "get", "200", body) == []
    assert SPEC.check_response("/conversations.history", "get", "200", {**body, "unheard_of": 1})
    assert SPEC.check_response("/auth.test", "get", "default", {"ok": False, "error": "no_such_error"})
    assert all(fix["why"] and fix["source"].startswith("https://docs.slack.dev/") for fix in SPEC.errata)
    seed(slack.workspace)  # and the fixture sees every request the fake gets
    httpx.get(slack.url + "conversations.history", params={"channel": "C0GENERAL", "with_everything": "1"},
              headers={"Authorization": f"Bearer {TOKEN}"})  # fmt: skip
    assert any("'with_everything' is not declared" in v for v in slack.violations)
    slack.violations.clear()


# --- rate-limit realism --------------------------------------------------------------------------------------
def big_workspace(fake: FakeSlack) -> None:
    """One channel of 80 threads, each a root and 24 replies: 2,000 messages."""
    ws = fake.workspace
    ws.add_user("U0ANA", "ana", "ana@kumo.example")
    ws.add_user("U0BEN", "ben", "ben@kumo.example")
    ws.add_channel("C0BIGCHAN1", "big", members=["U0ANA", "U0BEN"])
    for n in range(80):
        root = ws.post("C0BIGCHAN1", "U0ANA", f"Incident {n}: the queue worker {n} stalled")
        for k in range(24):
            ws.reply("C0BIGCHAN1", root, "U0BEN", f"Step {k} for incident {n}")


def test_a_2000_message_workspace_under_tier_3_finishes_within_its_budget(slack: FakeSlack, sync: Sync) -> None:  # noqa: F811
    big_workspace(slack)
    slack.limit(TIER3, "conversations.history", "conversations.replies", minute_s=0.05)
    report = sync.run(connector(slack, rescan_days=0, budget_s=60.0))
    assert report.status == "succeeded" and report.added == 80, report.summary()
    history, replies = answered(slack, "conversations.history"), answered(slack, "conversations.replies")
    assert len(history) == 2 and len(replies) == 80, "999 a page: one listing (and the prune's), one call a thread"


def test_a_2000_message_workspace_under_the_strict_tier_stops_cleanly_and_resumes(
    slack: FakeSlack,  # noqa: F811
    sync: Sync,  # noqa: F811
) -> None:
    big_workspace(slack)
    # One request a minute and 15 objects a page, with a Slack minute of 10 ms.
    slack.limit(NON_MARKETPLACE, "conversations.history", "conversations.replies", minute_s=0.01)
    budget_s = 2.0
    reports = []
    while len(reports) < 15:
        report = sync.run(connector(slack, rescan_days=0, budget_s=budget_s))
        reports.append(report)
        if report.status == "succeeded":
            break
        assert report.status == "partial" and len(report.failures) == 1, report.summary()
        message = report.failures[0].message
        assert "run budget of" in message and "min was spent" in message and "next run resumes" in message
        assert sync.store.load("slack") is not None, "a resumable checkpoint is saved"
    first = reports[0]
    assert len(reports) >= 2 and first.status == "partial" and 0 < first.added < 80, "the first run stops early"
    assert first.skipped.get("threads left for the next run (run budget spent)", 0) > 0, first.summary()
    assert reports[-1].status == "succeeded", [r.summary() for r in reports]
    assert len(sync.index.document_hashes("slack")) == 80 and sum(r.added for r in reports) == 80
    pages = Counter((p["ts"], p.get("cursor")) for p in answered(slack, "conversations.replies"))
    firsts = Counter(ts for ts, cursor in pages if not cursor)
    assert len(firsts) == 80 and {n for (_, cursor), n in pages.items() if cursor} == {1}
    # A thread read to the end is never read again; only one cut off by the budget (one a run at most) is re-read.
    assert sum(firsts.values()) - 80 <= len(reports) - 1, "no finished thread is read twice across runs"
    history = [body for method, _, body in slack.answered if method == "conversations.history"]
    listed = [message["ts"] for body in history for message in body["messages"]]
    assert len(listed) == len(set(listed)) == 80, "no history page is read twice across runs"
    assert all(int(p["limit"]) <= 15 for p in answered(slack, "conversations.history")), "the tier's page cap"


def test_a_budget_spent_before_any_channel_fails_the_run_without_a_checkpoint(slack: FakeSlack) -> None:  # noqa: F811
    seed(slack.workspace)
    items, checkpoint = drain(connector(slack, budget_s=0).poll(None))
    assert [i.fatal for i in items if isinstance(i, ConnectorFailure)] == [True]
    assert "run budget" in items[0].message and not [i for i in items if isinstance(i, Skipped)]
    assert checkpoint == {}


def test_when_a_429_would_outlast_the_budget_the_run_stops_at_once_and_keeps_what_needs_no_request(
    slack: FakeSlack,  # noqa: F811
    sync: Sync,  # noqa: F811
) -> None:
    ws = slack.workspace
    ws.add_user("U0ANA", "ana", "ana@kumo.example")
    ws.add_channel("C0SUPPORT1", "support", members=["U0ANA"])
    for n in range(5):
        ws.reply("C0SUPPORT1", ws.post("C0SUPPORT1", "U0ANA", f"Ticket {n}"), "U0ANA", f"Answer {n}")
    for n in range(30):
        ws.post("C0SUPPORT1", "U0ANA", f"Notice {n}: the canteen opens at nine")
    slack.limit(NON_MARKETPLACE, "conversations.replies", minute_s=600.0)  # Retry-After: about 600 s
    began = time.monotonic()
    report = sync.run(connector(slack, budget_s=60.0))
    assert time.monotonic() - began < 120, "no sleeping through a Retry-After that outlasts the budget"
    assert report.status == "partial" and report.added == 31, report.summary()
    assert report.skipped == {"threads left for the next run (run budget spent)": 4}
    slack.tiers = {}
    again = sync.run(connector(slack, budget_s=60.0))
    assert again.status == "succeeded" and again.added == 4, again.summary()
    assert sorted(Counter(p["ts"] for p in answered(slack, "conversations.replies")).values()) == [1] * 5


def test_gaps_left_by_a_stopped_run_are_listed_once_next_to_the_window() -> None:
    state = ChannelState.load({"name": "big", "acl": ["public"], "latest": "1700100000.000000", "threads": {},
                               "gaps": [["1700099200.000000", None], ["1700099000.000000", None],
                                        [None, "1700050000.000000"],
                                        ["1600000000.000000", "1700099500.000000"]]})  # fmt: skip
    assert state.ranges(0.01) == [
        ("1700099136.000000", None),  # the window: newest seen minus 864 s; a gap inside it is dropped
        ("1700099000.000000", "1700099136.000001"),  # gaps reaching into the window end where it starts
        (None, "1700050000.000000"),  # an older gap, untouched
        ("1600000000.000000", "1700099136.000001"),
    ]
    assert state.ranges(None) == [(None, None)], "no window: the whole history, gaps included"
    assert ChannelState.load(None).ranges(0.01) == [(None, None)], "a channel never read is read whole"
