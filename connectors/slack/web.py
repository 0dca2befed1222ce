"""Slack connector: one document per thread, late replies, edits and deletions, private channels as member ACLs.

A poll reads only what changed. It lists each channel's top-level messages (``conversations.history``) from the
newest message it saw minus ``rescan_days`` (``oldest``; everything on a first read or a full run) and re-reads
with ``conversations.replies`` only threads whose root changed (new, edited, ``latest_reply``/``reply_count``
moved) or whose last reply is younger than ``reply_edit_hours`` (reply edits leave the root untouched); a re-read
thread is emitted only when its fingerprint over every message changed. Roots that vanished inside a listed range
are deleted. Threads older than the window change only on a full run (the scheduler's prune).

A run has a time budget (``budget_s``): under Slack's rate limits (Tier 3, or one request a minute and 15 objects
for non-Marketplace apps) a first read can take hours. Each history page's threads are read before the next page,
so every run indexes something; when the budget is spent the run stops cleanly, reports what is left, and its
checkpoint (``connectors.slack.state``) lets the next run resume without reading anything twice.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from askdocs.connectors.base import Checkpoint, ConnectorFailure, DocumentDeleted, Skipped
from askdocs.connectors.slack.client import SlackError, SlackRetryHandler, build_client
from askdocs.connectors.slack.config import SlackConfig
from askdocs.connectors.slack.identity import SlackIdentity
from askdocs.connectors.slack.markup import (
    SOURCE,
    Directory,
    Message,
    apply_events,
    channel_acl,
    fingerprint,
    is_thread_root,
    is_tombstone,
    thread_document,
    thread_fingerprint,
    ts_key,
)
from askdocs.connectors.slack.state import ChannelState, Range, covers
from askdocs.errors import SourceError
from askdocs.models import PUBLIC, Document
from askdocs.retry import retry_after
from askdocs.settings import Settings

__all__ = ["SlackConnector", "SlackError", "SlackRetryHandler", "build_client", "build"]

log = logging.getLogger(__name__)
AUTH_ERRORS = {"not_authed", "invalid_auth", "token_revoked", "token_expired", "account_inactive", "no_permission"}
SCOPE_ERRORS = {"missing_scope", "not_allowed_token_type"}
GONE_ERRORS = {"thread_not_found", "message_not_found"}
MAX_PAGES = 10_000
# The largest ``limit`` each paginated method takes (history: "maximum of 999"; users.list: "no more than 200").
PAGE_LIMITS = {"conversations.history": 999, "conversations.replies": 999, "conversations.list": 999,
               "conversations.members": 999, "users.list": 200}  # fmt: skip
Change = Document | DocumentDeleted | ConnectorFailure | Skipped


class OutOfBudget(Exception):
    """The run's time budget is spent: stop, keep what was read, resume on the next run."""


@dataclass
class Channel:
    """A conversation in scope."""

    id: str
    name: str
    private: bool
    acl: list[str] = field(default_factory=list)


class SlackConnector(SlackIdentity):
    """Polls and lists Slack threads; ids are ``slack:<channel id>:<thread ts>`` (identities and permissions:
    ``SlackIdentity``)."""

    source = SOURCE

    def __init__(
        self,
        client: WebClient,
        include: list[str] | None = None,
        exclude: list[str] | None = None,
        public_principal: str = PUBLIC,
        rescan_days: float | None = None,
        page_size: int | None = None,
        reply_edit_hours: float = 0.0,
        budget_s: float | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.client = client
        self.include = {name.strip().lstrip("#") for name in include or [] if name.strip()}
        self.exclude = {name.strip().lstrip("#") for name in exclude or [] if name.strip()}
        self.public_principal = public_principal
        self.rescan_days = rescan_days
        self.page_size = page_size
        self.reply_edit_hours = reply_edit_hours
        self.budget_s = budget_s
        self.clock = clock
        self.directory = Directory()
        self.workspace_url = "https://slack.com"
        self.not_member = 0  # public channels of the last listing that the bot is not in
        self._deadline: float | None = None
        self._spent = False  # the budget ran out: no more requests this run

    # --- Web API ---------------------------------------------------------------------------------------------

    def _arm(self, budget_s: float | None) -> None:
        """Start (or, with None, lift) the run's time budget, here and in the client's retry handlers."""
        self._deadline = None if budget_s is None else time.monotonic() + budget_s
        self._spent = False
        for handler in self.client.retry_handlers or []:
            if isinstance(handler, SlackRetryHandler):
                handler.deadline = self._deadline

    def _call(self, method: str, **params: Any) -> dict[str, Any]:
        if self._spent or (self._deadline is not None and time.monotonic() >= self._deadline):
            self._spent = True
            raise OutOfBudget
        try:
            response = self.client.api_call(method, http_verb="GET", params=params)
        except SlackApiError as exc:
            data = exc.response.data if isinstance(exc.response.data, dict) else {}
            status = getattr(exc.response, "status_code", "?")
            wait = retry_after(getattr(exc.response, "headers", None)) or 0.0
            if status == 429 and self._deadline is not None and time.monotonic() + wait > self._deadline:
                self._spent = True  # waiting as asked would overrun the budget
                raise OutOfBudget from None
            raise SlackError(method, str(data.get("error") or f"HTTP {status}")) from None
        except (SlackClientError, OSError, ValueError) as exc:
            raise SlackError(method, f"{type(exc).__name__}: {self._redact(str(exc))[:200]}") from None
        data = response.data if isinstance(response.data, dict) else {}
        if not data.get("ok"):
            raise SlackError(method, str(data.get("error") or "not ok"))
        return data

    def _redact(self, text: str) -> str:
        token = self.client.token or ""
        return text.replace(token, "***") if token else text

    def _pages(self, method: str, key: str, **params: Any) -> Iterator[Any]:
        for page in self._page_lists(method, key, **params):
            yield from page

    def _page_lists(self, method: str, key: str, **params: Any) -> Iterator[list[Any]]:
        cursor = ""
        for _ in range(MAX_PAGES):
            limit = self.page_size or PAGE_LIMITS[method]
            data = self._call(method, limit=limit, **params, **({"cursor": cursor} if cursor else {}))
            yield list(data.get(key) or [])
            cursor = str((data.get("response_metadata") or {}).get("next_cursor") or "")
            if not cursor:
                return

    def _start(self) -> list[Channel] | ConnectorFailure:
        """auth.test, users (once per run), channels in scope; a fatal failure when any of these fails."""
        try:
            auth = self._call("auth.test")
            self.workspace_url = str(auth.get("url") or self.workspace_url)
        except SlackError as exc:
            reason = "the token was rejected" if exc.error in AUTH_ERRORS else "Slack could not be reached"
            return self._fatal(f"auth.test failed, {reason} ({exc.error}); nothing fetched")
        directory = Directory()
        try:
            for user in self._pages("users.list", "members"):
                directory.add_user(user)
        except SlackError as exc:
            if exc.error in AUTH_ERRORS or exc.error in SCOPE_ERRORS:
                return self._fatal(f"cannot list users ({exc.error}): grant users:read and users:read.email")
            return self._fatal(f"cannot list users: {exc}")
        try:
            raw = list(self._pages("conversations.list", "channels", types="public_channel,private_channel"))
        except SlackError as exc:
            return self._fatal(f"cannot list channels ({exc.error}): grant channels:read and groups:read")
        channels, not_member = [], 0
        for item in raw:
            cid, name = str(item.get("id")), str(item.get("name") or item.get("id"))
            directory.channels[cid] = name
            if not item.get("is_member"):
                not_member += 1
                continue
            if self.include and not {cid, name} & self.include:
                continue
            if {cid, name} & self.exclude:
                continue
            channels.append(Channel(cid, name, bool(item.get("is_private") or item.get("is_group"))))
        self.directory, self.not_member = directory, not_member
        if not_member:
            log.info("%d channels skipped: the bot is not a member (invite it to index them)", not_member)
        if not channels:
            return self._fatal("the bot can read no channel: invite it to channels or check the include/exclude lists")
        return channels

    def _fatal(self, message: str) -> ConnectorFailure:
        return ConnectorFailure(source=self.source, message=self._redact(message), fatal=True)

    def _acl(self, channel: Channel) -> list[str]:
        members = list(self._pages("conversations.members", "members", channel=channel.id)) if channel.private else []
        return channel_acl(channel.private, members, self.directory, self.public_principal)

    def _history(self, channel: Channel, gap: Range) -> Iterator[list[Message]]:
        """Pages of top-level messages in ``gap`` (``(oldest, latest)``), newest first."""
        params: dict[str, Any] = {"channel": channel.id}
        params.update({k: v for k, v in zip(("oldest", "latest"), gap, strict=True) if v})
        return self._page_lists("conversations.history", "messages", **params)

    @staticmethod
    def _roots(messages: list[Message]) -> list[Message]:
        folded = apply_events(messages)
        return [m for m in folded if is_thread_root(m) and (not is_tombstone(m) or m.get("reply_count"))]

    def _thread(self, channel: Channel, ts: str, root: Message | None) -> list[Message]:
        """A thread's messages, root first (``root`` from the listing, or None to read it by ``ts``)."""
        if root is not None and not (root.get("reply_count") or root.get("latest_reply")):
            return [root]
        messages = list(self._pages("conversations.replies", "messages", channel=channel.id, ts=ts))
        if root is not None and (not messages or messages[0].get("ts") != ts):
            messages = [root, *messages]
        return messages

    def _doc_id(self, channel_id: str, ts: str) -> str:
        return f"{self.source}:{channel_id}:{ts}"

    # --- capabilities ----------------------------------------------------------------------------------------

    def poll(self, checkpoint: Checkpoint | None) -> Generator[Change, None, Checkpoint]:
        """New and changed threads since ``checkpoint`` (None: all), deletions; returns the new checkpoint."""
        old_channels: dict[str, Any] = dict((checkpoint or {}).get("channels") or {})
        self._arm(self.budget_s)
        try:
            channels = self._start()
        except OutOfBudget:
            channels = self._fatal("the run budget was spent before any channel was read; raise the budget")
        if isinstance(channels, ConnectorFailure):
            yield channels
            return checkpoint or {}
        if self.not_member:
            yield Skipped(source=self.source, reason="channels the bot is not in (invite it)", count=self.not_member)
        new_channels: dict[str, Any] = {}
        failed: list[str] = []
        stopped: list[Channel] = []
        for channel in channels:
            old = old_channels.get(channel.id)
            if stopped:
                stopped.append(channel)
                if old is not None:
                    new_channels[channel.id] = old
                continue
            state = ChannelState.load(old)
            try:
                yield from self._poll_channel(channel, state)
            except OutOfBudget:
                stopped.append(channel)
                if not state.known:  # stopped before anything was read
                    continue
            except SlackError as exc:
                failed.append(exc.error)
                yield ConnectorFailure(source=self.source, message=self._redact(f"#{channel.name}: {exc}"))
                if old is not None:
                    new_channels[channel.id] = old
                continue
            new_channels[channel.id] = state.dump()
        if stopped:
            yield from self._stopped(channels, stopped, new_channels)
        elif len(failed) == len(channels):
            hint = " (check the app's scopes)" if set(failed) & (SCOPE_ERRORS | AUTH_ERRORS) else ""
            yield self._fatal(f"every channel failed, nothing fetched{hint}: {', '.join(sorted(set(failed)))}")
            return checkpoint or {}
        for cid, saved in old_channels.items():
            if cid not in new_channels and cid not in {c.id for c in channels}:
                for ts in saved.get("threads") or {}:
                    yield DocumentDeleted(document_id=self._doc_id(cid, ts))
        return {"version": 2, "channels": new_channels}

    def _stopped(self, channels: list[Channel], stopped: list[Channel], states: dict[str, Any]) -> Iterator[Change]:
        """The report of a run that spent its budget: what is left, and that the next run resumes there."""
        threads = sum(len(states.get(c.id, {}).get("pending") or []) for c in channels)
        if threads:
            yield Skipped(source=self.source, reason="threads left for the next run (run budget spent)", count=threads)
        minutes = (self.budget_s or 0) / 60
        yield ConnectorFailure(
            source=self.source,
            message=f"stopped when the run budget of {minutes:g} min was spent (Slack rate limits): "
            f"{len(channels) - len(stopped)} of {len(channels)} channels done, #{stopped[0].name} part read, "
            f"{threads} threads waiting; the next run resumes where this one stopped",
        )

    def _poll_channel(self, channel: Channel, state: ChannelState) -> Generator[Change, None, None]:
        """One channel: list what may have changed, re-read changed threads, delete vanished ones; ``state`` is
        kept consistent at every step, so a run that stops (``OutOfBudget``) still saves what it read."""
        channel.acl = self._acl(channel)
        if state.known and (state.acl != channel.acl or state.name != channel.name):
            state.refresh_all()
        ranges, state.gaps = state.ranges(self.rescan_days), []
        state.name, state.acl, state.known = channel.name, channel.acl, True
        done = list(state.pending)  # deferred, failed or re-permissioned threads first, by ts
        yield from self._read_threads(channel, state, done, {})
        edits_since = self.clock() - self.reply_edit_hours * 3600 if self.reply_edit_hours > 0 else None
        listed_roots: set[str] = set()
        listed: list[Range] = []
        for n, gap in enumerate(ranges):
            reached = gap[1]
            try:
                for page in self._history(channel, gap):  # each page's threads are read before the next page
                    roots = {str(root["ts"]): root for root in self._roots(page)}
                    listed_roots.update(roots)
                    for root in roots.values():
                        state.advance(root.get("ts"))
                        state.advance(root.get("latest_reply"))
                    work = [ts for ts in state.to_read(roots, edits_since) if ts not in done]
                    yield from self._read_threads(channel, state, work, roots)
                    reached = min((str(m["ts"]) for m in page if m.get("ts")), key=ts_key, default=reached)
                    if self._spent:
                        raise OutOfBudget
            except OutOfBudget:
                state.gaps = [(gap[0], reached), *ranges[n + 1 :]]
                break
            listed.append(gap)
        gone = [t for t in state.threads if t not in listed_roots and t not in state.pending and covers(listed, t)]
        for ts in gone:
            del state.threads[ts]
            yield DocumentDeleted(document_id=self._doc_id(channel.id, ts))
        if self._spent:
            raise OutOfBudget

    def _read_threads(
        self, channel: Channel, state: ChannelState, work: list[str], roots: dict[str, Message]
    ) -> Generator[Change, None, None]:
        """Read ``work``; out of budget, threads that need a request wait (those listed whole are still read)."""
        for ts in work:
            doc_id = self._doc_id(channel.id, ts)
            try:
                messages = self._thread(channel, ts, roots.get(ts))
            except OutOfBudget:
                state.defer([ts])
                continue
            except SlackError as exc:
                if exc.error in AUTH_ERRORS:
                    raise
                if exc.error in GONE_ERRORS:
                    state.pending = [t for t in state.pending if t != ts]
                    if state.threads.pop(ts, None) is not None:
                        yield DocumentDeleted(document_id=doc_id)
                    continue
                state.defer([ts])
                yield ConnectorFailure(source=self.source, document_id=doc_id, message=f"#{channel.name}: {exc}")
                continue
            root = roots.get(ts) or (messages[0] if messages and messages[0].get("ts") == ts else {"ts": ts})
            thread_mark, known = thread_fingerprint(messages), ts in state.threads
            unchanged = known and state.marks(ts)[1] == thread_mark
            state.remember(ts, fingerprint(root), thread_mark)
            state.advance(messages[-1].get("ts") if messages else None)
            if unchanged:
                continue
            doc = thread_document(
                channel.id, channel.name, messages, self.directory, channel.acl, self.workspace_url, channel.private
            )
            if doc is None:
                if known:
                    yield DocumentDeleted(document_id=doc_id)
                continue
            yield doc

    def load_all(self) -> Iterator[Document | ConnectorFailure | Skipped]:
        """Every current thread."""
        for item in self.poll(None):
            if not isinstance(item, DocumentDeleted):
                yield item

    def list_ids(self) -> Iterator[str | ConnectorFailure]:
        """Ids of every current thread (one history listing per channel, no replies, no time budget)."""
        self._arm(None)
        channels = self._start()
        if isinstance(channels, ConnectorFailure):
            yield channels
            return
        for channel in channels:
            try:
                messages = [m for page in self._history(channel, (None, None)) for m in page]
            except SlackError as exc:
                yield ConnectorFailure(source=self.source, message=self._redact(f"#{channel.name}: {exc}"))
                continue
            for root in self._roots(messages):
                yield self._doc_id(channel.id, str(root["ts"]))


def build(config: SlackConfig, settings: Settings) -> SlackConnector:
    """The Slack connector for ``config``; SourceError when no token is configured."""
    if config.bot_token is None or not config.bot_token.get_secret_value().strip():
        raise SourceError(
            "the slack source needs a bot token (xoxb-…): credentials.bot_token or ASKDOCS_SLACK_BOT_TOKEN"
        )
    client = build_client(config.bot_token.get_secret_value().strip(), config.base_url)
    budget = config.run_budget_minutes * 60 if config.run_budget_minutes else None
    return SlackConnector(
        client,
        config.channels_include,
        config.channels_exclude,
        rescan_days=config.rescan_days,
        reply_edit_hours=config.reply_edit_hours,
        budget_s=budget,
    )
