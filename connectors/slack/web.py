"""Slack connector: one document per thread, late replies, edits and deletions, private channels as member ACLs.

Every poll lists each channel's top-level messages (``conversations.history``, cursor-paginated) and compares
them with the checkpoint: new roots, roots whose ``latest_reply`` is newer than the channel's checkpoint (late
replies to old threads), edited roots, roots that gained or lost replies are re-read with
``conversations.replies``; roots that vanished are deleted. ``rescan_days`` bounds that listing with ``oldest``
for very large channels (threads older than the window are then left as they are).
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.error import URLError

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.http_retry import RetryHandler, RetryState
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse

from askdocs.errors import SourceError
from askdocs.models import PUBLIC, Document
from askdocs.retry import Backoff, retry_after
from askdocs.settings import Settings
from connectors.base import Checkpoint, ConnectorFailure, DocumentDeleted
from connectors.slack.identity import SlackIdentity
from connectors.slack.markup import (
    SOURCE,
    Directory,
    Message,
    apply_events,
    channel_acl,
    fingerprint,
    is_thread_root,
    is_tombstone,
    thread_document,
    ts_key,
)

log = logging.getLogger(__name__)
AUTH_ERRORS = {"not_authed", "invalid_auth", "token_revoked", "token_expired", "account_inactive", "no_permission"}
SCOPE_ERRORS = {"missing_scope", "not_allowed_token_type"}
MAX_PAGES = 10_000
Change = Document | DocumentDeleted | ConnectorFailure


class SlackError(Exception):
    """A Web API call that failed after retries; the message never contains the token."""

    def __init__(self, method: str, error: str) -> None:
        super().__init__(f"{method}: {error}")
        self.method, self.error = method, error


RATE_LIMIT_MAX_WAIT_S = 300.0


class SlackRetryHandler(RetryHandler):
    """429: wait ``Retry-After`` seconds; 5xx, timeouts, dropped connections: exponential backoff.

    Each kind has its own budget (slack_sdk's shared attempt counter would let a 429 storm use up the 5xx retries).
    """

    def __init__(self, retries: int = 4, backoff: float = 0.5, rate_limit_retries: int = 8, jitter: float = 0.25):
        super().__init__(max_retry_count=retries + rate_limit_retries)
        self.budget = {"429": rate_limit_retries, "5xx": retries, "network": retries}
        self.backoff, self.jitter = backoff, jitter

    @staticmethod
    def _kind(response: HttpResponse | None, error: Exception | None) -> str | None:
        if response is not None:
            if response.status_code == 429:
                return "429"
            return "5xx" if response.status_code in (500, 502, 503, 504) else None
        if isinstance(error, TimeoutError | ConnectionError | URLError):
            return "network"
        return None

    def can_retry(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        kind = self._kind(response, error)
        return kind is not None and (state.custom_values or {}).get(kind, 0) < self.budget[kind]

    def prepare_for_next_attempt(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> None:
        kind = self._kind(response, error) or "network"
        counts = state.custom_values = state.custom_values or {}
        counts[kind] = counts.get(kind, 0) + 1
        asked = retry_after(response.headers) if kind == "429" and response is not None else None
        wait = Backoff(self.backoff, RATE_LIMIT_MAX_WAIT_S).delay(counts[kind] - 1, asked)
        time.sleep(wait + random.random() * self.jitter)
        state.next_attempt_requested = True
        state.increment_current_attempt()


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
        page_size: int = 200,
    ) -> None:
        self.client = client
        self.include = {name.strip().lstrip("#") for name in include or [] if name.strip()}
        self.exclude = {name.strip().lstrip("#") for name in exclude or [] if name.strip()}
        self.public_principal = public_principal
        self.rescan_days = rescan_days
        self.page_size = page_size
        self.directory = Directory()
        self.workspace_url = "https://slack.com"

    # --- Web API ---------------------------------------------------------------------------------------------

    def _call(self, method: str, **params: Any) -> dict[str, Any]:
        try:
            response = self.client.api_call(method, http_verb="GET", params=params)
        except SlackApiError as exc:
            data = exc.response.data if isinstance(exc.response.data, dict) else {}
            status = getattr(exc.response, "status_code", "?")
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
        cursor = ""
        for _ in range(MAX_PAGES):
            data = self._call(method, limit=self.page_size, **params, **({"cursor": cursor} if cursor else {}))
            yield from data.get(key) or []
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
        self.directory = directory
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

    def _roots(self, channel: Channel, oldest: str | None) -> list[Message]:
        params: dict[str, Any] = {"channel": channel.id}
        if oldest:
            params["oldest"] = oldest
        messages = apply_events(self._pages("conversations.history", "messages", **params))
        return [m for m in messages if is_thread_root(m) and (not is_tombstone(m) or m.get("reply_count"))]

    def _thread(self, channel: Channel, root: Message) -> Document | None:
        messages = [root]
        if root.get("reply_count") or root.get("latest_reply"):
            messages = list(self._pages("conversations.replies", "messages", channel=channel.id, ts=root["ts"]))
            if not messages or messages[0].get("ts") != root["ts"]:
                messages = [root, *messages]
        return thread_document(
            channel.id, channel.name, messages, self.directory, channel.acl, self.workspace_url, channel.private
        )

    def _doc_id(self, channel_id: str, ts: str) -> str:
        return f"{self.source}:{channel_id}:{ts}"

    # --- capabilities ----------------------------------------------------------------------------------------

    def poll(self, checkpoint: Checkpoint | None) -> Generator[Change, None, Checkpoint]:
        """New and changed threads since ``checkpoint`` (None: all), deletions; returns the new checkpoint."""
        old_channels: dict[str, Any] = dict((checkpoint or {}).get("channels") or {})
        channels = self._start()
        if isinstance(channels, ConnectorFailure):
            yield channels
            return checkpoint or {}
        new_channels: dict[str, Any] = {}
        failed: list[str] = []
        for channel in channels:
            old = old_channels.get(channel.id)
            state: dict[str, Any] | None = None
            try:
                state = yield from self._poll_channel(channel, old)
            except SlackError as exc:
                failed.append(exc.error)
                yield ConnectorFailure(source=self.source, message=self._redact(f"#{channel.name}: {exc}"))
                state = old
            if state is not None:
                new_channels[channel.id] = state
        if len(failed) == len(channels):
            hint = " (check the app's scopes)" if set(failed) & (SCOPE_ERRORS | AUTH_ERRORS) else ""
            yield self._fatal(f"every channel failed, nothing fetched{hint}: {', '.join(sorted(set(failed)))}")
            return checkpoint or {}
        for cid, state in old_channels.items():
            if cid not in new_channels and cid not in {c.id for c in channels}:
                for ts in state.get("threads") or {}:
                    yield DocumentDeleted(document_id=self._doc_id(cid, ts))
        return {"version": 1, "channels": new_channels}

    def _poll_channel(self, channel: Channel, old: dict[str, Any] | None) -> Generator[Change, None, dict[str, Any]]:
        """One channel: re-read what changed, delete what vanished; returns the channel's new state."""
        channel.acl = self._acl(channel)
        old = old or {}
        refresh_all = old.get("acl") != channel.acl or old.get("name") != channel.name
        latest = str(old.get("latest") or "0")
        old_threads: dict[str, str] = dict(old.get("threads") or {})
        oldest = None
        if self.rescan_days is not None and old and not refresh_all:
            oldest = f"{max(ts_key(latest) - int(self.rescan_days * 86400), 0):.6f}"
        threads: dict[str, str] = {ts: fp for ts, fp in old_threads.items() if oldest and ts_key(ts) < ts_key(oldest)}
        newest = ts_key(latest)
        for root in self._roots(channel, oldest):
            ts = str(root["ts"])
            mark = fingerprint(root)
            late_reply = ts_key(root.get("latest_reply")) > ts_key(latest)
            newest = max(newest, ts_key(ts), ts_key(root.get("latest_reply")))
            if not refresh_all and not late_reply and old_threads.get(ts) == mark:
                threads[ts] = mark
                continue
            try:
                doc = self._thread(channel, root)
            except SlackError as exc:
                if exc.error in AUTH_ERRORS:
                    raise
                yield ConnectorFailure(
                    source=self.source, document_id=self._doc_id(channel.id, ts), message=f"#{channel.name}: {exc}"
                )
                threads[ts] = "!retry"
                continue
            threads[ts] = mark
            if doc is None:
                if ts in old_threads:
                    yield DocumentDeleted(document_id=self._doc_id(channel.id, ts))
                continue
            yield doc
        for ts in sorted(set(old_threads) - set(threads)):
            yield DocumentDeleted(document_id=self._doc_id(channel.id, ts))
        return {"name": channel.name, "acl": channel.acl, "latest": str(newest), "threads": threads}

    def load_all(self) -> Iterator[Document | ConnectorFailure]:
        """Every current thread."""
        for item in self.poll(None):
            if not isinstance(item, DocumentDeleted):
                yield item

    def list_ids(self) -> Iterator[str | ConnectorFailure]:
        """Ids of every current thread (one history listing per channel, no replies)."""
        channels = self._start()
        if isinstance(channels, ConnectorFailure):
            yield channels
            return
        for channel in channels:
            try:
                roots = self._roots(channel, None)
            except SlackError as exc:
                yield ConnectorFailure(source=self.source, message=self._redact(f"#{channel.name}: {exc}"))
                continue
            for root in roots:
                yield self._doc_id(channel.id, str(root["ts"]))


def build_client(token: str, base_url: str, timeout: int = 30, **retry: Any) -> WebClient:
    """A WebClient with :class:`SlackRetryHandler` (``retry`` goes to it)."""
    url = base_url if base_url.endswith("/") else base_url + "/"
    return WebClient(token=token, base_url=url, timeout=timeout, retry_handlers=[SlackRetryHandler(**retry)])


def from_settings(settings: Settings) -> SlackConnector:
    """The Slack connector from ``ASKDOCS_SLACK_*``; SourceError when no token is configured."""
    if settings.slack_bot_token is None or not settings.slack_bot_token.get_secret_value().strip():
        raise SourceError("the slack source needs ASKDOCS_SLACK_BOT_TOKEN (a bot token, xoxb-…)")
    client = build_client(settings.slack_bot_token.get_secret_value().strip(), settings.slack_base_url)
    return SlackConnector(client, settings.slack_channels_include, settings.slack_channels_exclude)
