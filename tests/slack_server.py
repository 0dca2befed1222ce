"""A contract-faithful fake of the Slack Web API methods the connector calls, served on 127.0.0.1.

Response shapes follow Slack's documented examples (conversations.history / replies / list / members,
users.list, auth.test, chat.getPermalink): ``ok``, ``error``, ``has_more``, ``response_metadata.next_cursor``,
newest-first history without replies, replies with the root first, tombstones for deleted roots that still
have replies. Bearer tokens are enforced and faults (429 with Retry-After, 500, slow responses) can be queued.

Every request and every answer is checked against Slack's published Web API spec (``tests/specs/slack``, with its
errata): the ``slack`` fixture fails the test on any undocumented method, parameter or response field. Rate-limit
tiers (``FakeSlack.limit``) answer 429 with ``Retry-After`` past a method's requests per minute and cap its page
size, on a clock that tests scale down (``minute_s``).
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl

import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from local_server import serve_in_thread
from spec_check import SPECS, SwaggerSpec

TOKEN = "xoxb-test-0000000000-SECRETSECRET"
ALL_SCOPES = {"channels:history", "groups:history", "channels:read", "groups:read", "users:read", "users:read.email"}
NEEDS = {
    "conversations.history": ("channels:history", "groups:history"),
    "conversations.replies": ("channels:history", "groups:history"),
    "conversations.list": ("channels:read", "groups:read"),
    "conversations.members": ("channels:read", "groups:read"),
    "users.list": ("users:read",),
}


@dataclass
class Fault:
    """Answer the next ``count`` calls of ``method`` ('*' for any) with ``kind``: 429, 500 or slow."""

    method: str
    kind: str
    count: int = 1
    retry_after: int = 1
    delay: float = 0.0
    channel: str | None = None


@dataclass(frozen=True)
class Tier:
    """A rate-limit tier: requests per minute per method, and the most objects a page may hold (None: as asked)."""

    per_minute: int
    max_limit: int | None = None


TIER3 = Tier(50)  # conversations.history / replies for Marketplace and internal customer-built apps
NON_MARKETPLACE = Tier(1, 15)  # the same methods for commercially distributed non-Marketplace apps since 2025
SPEC = SwaggerSpec(SPECS / "slack" / "slack_web_openapi_v2.json", SPECS / "slack" / "errata.json")


@dataclass
class FakeChannel:
    """A channel: its top-level messages and each thread's replies."""

    id: str
    name: str
    private: bool = False
    members: list[str] = field(default_factory=list)
    bot_is_member: bool = True
    roots: dict[str, dict[str, Any]] = field(default_factory=dict)
    replies: dict[str, list[dict[str, Any]]] = field(default_factory=dict)


@dataclass
class FakeWorkspace:
    """The state the fake serves; test helpers mutate it the way Slack would."""

    url: str = "https://kumo.slack.com/"
    users: list[dict[str, Any]] = field(default_factory=list)
    channels: dict[str, FakeChannel] = field(default_factory=dict)
    scopes: set[str] = field(default_factory=lambda: set(ALL_SCOPES))
    clock: Decimal = Decimal("1700000000.000100")

    def next_ts(self) -> str:
        self.clock += Decimal("60.000100")
        return f"{self.clock:.6f}"

    def add_user(self, uid: str, name: str, email: str | None, bot: bool = False) -> None:
        profile = {"display_name": name, "real_name": name.title(), "team": "T0KUMO"}
        if email:
            profile["email"] = email
        self.users.append(
            {"id": uid, "team_id": "T0KUMO", "name": name, "deleted": False, "real_name": name.title(),
             "is_bot": bot, "is_admin": False, "tz": "Asia/Tokyo", "updated": 1700000000, "profile": profile}
        )  # fmt: skip

    def add_channel(self, cid: str, name: str, private: bool = False, members: list[str] | None = None) -> FakeChannel:
        channel = FakeChannel(cid, name, private, list(members or []))
        self.channels[cid] = channel
        return channel

    def post(self, cid: str, user: str, text: str, ts: str | None = None) -> str:
        ts = ts or self.next_ts()
        self.channels[cid].roots[ts] = {"type": "message", "user": user, "text": text, "ts": ts}
        return ts

    def reply(self, cid: str, thread_ts: str, user: str, text: str) -> str:
        channel, ts = self.channels[cid], self.next_ts()
        root = channel.roots[thread_ts]
        channel.replies.setdefault(thread_ts, []).append(
            {"type": "message", "user": user, "text": text, "ts": ts, "thread_ts": thread_ts,
             "parent_user_id": root.get("user", "")}
        )  # fmt: skip
        self._summarise(channel, thread_ts)
        return ts

    def _summarise(self, channel: FakeChannel, thread_ts: str) -> None:
        root, replies = channel.roots[thread_ts], channel.replies.get(thread_ts, [])
        for key in ("thread_ts", "reply_count", "reply_users_count", "latest_reply", "reply_users"):
            root.pop(key, None)
        if replies:
            users = sorted({r["user"] for r in replies})
            root.update(thread_ts=thread_ts, reply_count=len(replies), reply_users_count=len(users),
                        latest_reply=replies[-1]["ts"], reply_users=users)  # fmt: skip
        elif root.get("subtype") == "tombstone":
            del channel.roots[thread_ts]

    def edit(self, cid: str, ts: str, text: str) -> None:
        channel = self.channels[cid]
        message = channel.roots.get(ts) or next(r for rs in channel.replies.values() for r in rs if r["ts"] == ts)
        message["text"] = text
        message["edited"] = {"user": message["user"], "ts": self.next_ts()}

    def delete(self, cid: str, ts: str) -> None:
        """Delete a message: a root with replies becomes a tombstone; a reply leaves its thread."""
        channel = self.channels[cid]
        if ts in channel.roots:
            if channel.replies.get(ts):
                channel.roots[ts] = {"type": "message", "subtype": "tombstone", "text": "This message was deleted.",
                                     "user": "USLACKBOT", "hidden": True, "ts": ts}  # fmt: skip
                self._summarise(channel, ts)
            else:
                del channel.roots[ts]
            return
        for thread_ts, replies in channel.replies.items():
            if any(r["ts"] == ts for r in replies):
                channel.replies[thread_ts] = [r for r in replies if r["ts"] != ts]
                self._summarise(channel, thread_ts)
                return


def _page(items: list[Any], params: dict[str, str], default: int = 100) -> tuple[list[Any], str]:
    start = int(base64.b64decode(params["cursor"]).decode().split(":")[1]) if params.get("cursor") else 0
    limit = max(1, min(int(params.get("limit") or default), 1000))
    chunk = items[start : start + limit]
    more = start + limit < len(items)
    return chunk, base64.b64encode(f"next:{start + limit}".encode()).decode() if more else ""


class FakeSlack:
    """The app, its workspace, queued faults and the log of calls."""

    def __init__(self) -> None:
        self.workspace = FakeWorkspace()
        self.faults: list[Fault] = []
        self.calls: list[tuple[str, dict[str, str]]] = []
        self.fail_after: int | None = None
        self.tiers: dict[str, Tier] = {}
        self.minute_s = 60.0
        self.stamps: dict[str, list[float]] = {}
        self.violations: list[str] = []
        self.answered: list[tuple[str, dict[str, str], dict[str, Any]]] = []  # calls past faults and rate limits
        self.url = ""
        self.app = FastAPI()
        self.app.add_api_route("/api/{method}", self.handle, methods=["GET", "POST"])

    def reset(self) -> None:
        self.workspace, self.faults, self.calls, self.fail_after = FakeWorkspace(), [], [], None
        self.tiers, self.minute_s, self.stamps, self.violations, self.answered = {}, 60.0, {}, [], []

    def limit(self, tier: Tier, *methods: str, minute_s: float = 60.0) -> None:
        """Enforce ``tier`` on ``methods``; a Slack minute lasts ``minute_s`` real seconds."""
        self.tiers.update(dict.fromkeys(methods, tier))
        self.minute_s = minute_s

    def _rate_limited(self, method: str, params: dict[str, str]) -> float | None:
        """Seconds to wait when ``method`` is over its tier's budget, else None (and the call is counted)."""
        tier = self.tiers.get(method)
        if tier is None:
            return None
        now = time.monotonic()
        stamps = self.stamps[method] = [t for t in self.stamps.get(method, []) if t > now - self.minute_s]
        if len(stamps) >= tier.per_minute:
            return stamps[0] + self.minute_s - now
        stamps.append(now)
        if tier.max_limit is not None:
            params["limit"] = str(min(int(params.get("limit") or tier.max_limit), tier.max_limit))
        return None

    def _fault(self, method: str, channel: str | None) -> Fault | None:
        for fault in self.faults:
            if fault.count > 0 and fault.method in (method, "*") and fault.channel in (None, channel):
                fault.count -= 1
                return fault
        return None

    async def handle(self, method: str, request: Request) -> JSONResponse:
        params = dict(request.query_params)
        if request.method == "POST":
            if request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
                params.update(parse_qsl((await request.body()).decode(), keep_blank_values=True))
        self.calls.append((method, dict(params)))
        # Slack takes any method by GET or POST with the same (query or form) arguments; the spec lists GET.
        self.violations += SPEC.check_request(f"/{method}", "get", params)
        injected = await self._injected(method, params)
        if injected is not None:  # deliberate faults and rate limits: Slack documents them outside the spec
            return injected
        body, status = self._answer(method, request, params)
        self.answered.append((method, params, body))
        # Slack answers errors with HTTP 200 and ``ok: false``; the spec files them under ``default``.
        self.violations += SPEC.check_response(f"/{method}", "get", "200" if body.get("ok") else "default", body)
        return JSONResponse(body, status_code=status)

    async def _injected(self, method: str, params: dict[str, str]) -> JSONResponse | None:
        if self.fail_after is not None and len(self.calls) > self.fail_after:
            return JSONResponse({"ok": False, "error": "fatal_error"}, status_code=500)
        fault = self._fault(method, params.get("channel"))
        if fault and fault.kind == "429":
            return JSONResponse({"ok": False, "error": "ratelimited"}, 429, {"Retry-After": str(fault.retry_after)})
        if fault and fault.kind == "500":
            return JSONResponse({"ok": False, "error": "internal_error"}, status_code=500)
        if fault and fault.kind == "slow":
            await asyncio.sleep(fault.delay)
        wait = self._rate_limited(method, params)
        if wait is not None:  # Slack sends whole seconds; the scaled clock needs fractions
            return JSONResponse({"ok": False, "error": "ratelimited"}, 429, {"Retry-After": f"{max(wait, 0.001):.3f}"})
        return None

    def _answer(self, method: str, request: Request, params: dict[str, str]) -> tuple[dict[str, Any], int]:
        token = request.headers.get("authorization", "").removeprefix("Bearer ") or params.get("token", "")
        if not token:
            return {"ok": False, "error": "not_authed"}, 200
        if token != TOKEN:
            return {"ok": False, "error": "invalid_auth"}, 200
        needed = NEEDS.get(method)
        if needed and not set(needed) & self.workspace.scopes:
            provided = ",".join(sorted(self.workspace.scopes))
            return {"ok": False, "error": "missing_scope", "needed": needed[0], "provided": provided}, 200
        handler = getattr(self, "m_" + method.replace(".", "_"), None)
        if handler is None:
            return {"ok": False, "error": "unknown_method"}, 404
        return handler(params), 200

    def _channel(self, params: dict[str, str]) -> FakeChannel | None:
        channel = self.workspace.channels.get(params.get("channel", ""))
        return channel if channel and (channel.bot_is_member or not channel.private) else None

    def m_auth_test(self, params: dict[str, str]) -> dict[str, Any]:
        return {"ok": True, "url": self.workspace.url, "team": "Kumo", "user": "askdocs", "team_id": "T0KUMO",
                "user_id": "U0BOT", "bot_id": "B0BOTAPP01", "is_enterprise_install": False}  # fmt: skip

    def m_users_list(self, params: dict[str, str]) -> dict[str, Any]:
        members = [dict(u) for u in self.workspace.users]
        if "users:read.email" not in self.workspace.scopes:
            for member in members:
                member["profile"] = {k: v for k, v in member["profile"].items() if k != "email"}
        page, cursor = _page(members, params, 200)
        return {"ok": True, "members": page, "cache_ts": int(time.time()), "response_metadata": {"next_cursor": cursor}}

    def m_conversations_list(self, params: dict[str, str]) -> dict[str, Any]:
        types = set((params.get("types") or "public_channel").split(","))
        out = []
        for c in self.workspace.channels.values():
            if ("private_channel" if c.private else "public_channel") not in types:
                continue
            if c.private and not c.bot_is_member:
                continue
            out.append(
                {"id": c.id, "name": c.name, "name_normalized": c.name, "is_channel": not c.private,
                 "is_group": False, "is_im": False, "is_mpim": False, "is_private": c.private, "is_archived": False,
                 "is_general": c.name == "general", "is_member": c.bot_is_member, "is_shared": False,
                 "is_ext_shared": False, "is_org_shared": False, "created": 1449252889, "creator": "U0ANA",
                 "num_members": len(c.members), "previous_names": [], "unlinked": 0,
                 "topic": {"value": "", "creator": "", "last_set": 0},
                 "purpose": {"value": "", "creator": "", "last_set": 0}}
            )  # fmt: skip
        page, cursor = _page(out, params)
        return {"ok": True, "channels": page, "response_metadata": {"next_cursor": cursor}}

    def m_conversations_members(self, params: dict[str, str]) -> dict[str, Any]:
        channel = self._channel(params)
        if channel is None:
            return {"ok": False, "error": "channel_not_found"}
        page, cursor = _page(channel.members, params)
        return {"ok": True, "members": page, "response_metadata": {"next_cursor": cursor}}

    def m_conversations_history(self, params: dict[str, str]) -> dict[str, Any]:
        channel = self._channel(params)
        if channel is None:
            return {"ok": False, "error": "channel_not_found"}
        if not channel.bot_is_member:
            return {"ok": False, "error": "not_in_channel"}
        oldest, latest = Decimal(params.get("oldest") or "0"), Decimal(params.get("latest") or "1e12")
        messages = [dict(m) for ts, m in channel.roots.items() if oldest < Decimal(ts) < latest]
        messages.sort(key=lambda m: Decimal(m["ts"]), reverse=True)
        page, cursor = _page(messages, params)
        body: dict[str, Any] = {"ok": True, "messages": page, "has_more": bool(cursor), "pin_count": 0,
                                "channel_actions_ts": None, "channel_actions_count": 0}  # fmt: skip
        body["response_metadata"] = {"next_cursor": cursor}
        return body

    def m_conversations_replies(self, params: dict[str, str]) -> dict[str, Any]:
        channel = self._channel(params)
        if channel is None:
            return {"ok": False, "error": "channel_not_found"}
        root = channel.roots.get(params.get("ts", ""))
        if root is None:
            return {"ok": False, "error": "thread_not_found"}
        thread = [dict(root), *(dict(r) for r in channel.replies.get(root["ts"], []))]
        page, cursor = _page(thread, params, 10)
        return {"ok": True, "messages": page, "has_more": bool(cursor), "response_metadata": {"next_cursor": cursor}}

    def m_chat_getPermalink(self, params: dict[str, str]) -> dict[str, Any]:  # noqa: N802
        channel = self._channel(params)
        if channel is None:
            return {"ok": False, "error": "channel_not_found"}
        ts = params.get("message_ts", "")
        link = f"{self.workspace.url}archives/{channel.id}/p{ts.replace('.', '')}"
        return {"ok": True, "channel": channel.id, "permalink": link}


@pytest.fixture(scope="session")
def slack_server() -> Iterator[FakeSlack]:
    """The fake Slack Web API, served by uvicorn in a thread on a free 127.0.0.1 port."""
    fake = FakeSlack()
    with serve_in_thread(fake.app, "fake Slack") as url:
        fake.url = f"{url}/api/"
        yield fake


@pytest.fixture
def slack(slack_server: FakeSlack) -> Iterator[FakeSlack]:
    """The fake Slack with a fresh, empty workspace for one test; fails the test on any traffic the spec lacks."""
    slack_server.reset()
    yield slack_server
    violations = sorted(set(slack_server.violations))
    assert not violations, f"{len(violations)} spec violations:\n" + "\n".join(violations[:40])


def seed(ws: FakeWorkspace) -> dict[str, str]:
    """A small workspace: users (one without an email, one bot), two public channels, a private one, one
    public channel the bot is not in; threads with markup, replies and a bot message. Returns named ts values."""
    ws.add_user("U0ANA", "ana", "Ana@Kumo.example")
    ws.add_user("U0BEN", "ben", "ben@kumo.example")
    ws.add_user("U0CHIE", "chie", "chie@kumo.example")
    ws.add_user("U0DAN", "dan", None)
    ws.add_user("U0BOT", "askdocs", None, bot=True)
    ws.add_channel("C0GENERAL", "general", members=["U0ANA", "U0BEN", "U0CHIE", "U0DAN"])
    ws.add_channel("C0RANDOM", "random", members=["U0ANA", "U0BEN"])
    ws.add_channel("G0FINANCE", "finance", private=True, members=["U0ANA", "U0CHIE", "U0DAN", "U0BOT"])
    ws.add_channel("C0NOBOT", "watercooler").bot_is_member = False
    ts: dict[str, str] = {}
    ts["vpn"] = ws.post(
        "C0GENERAL", "U0ANA", "How do I reset the <https://vpn.kumo.example|VPN> token? :thinking_face:"
    )
    ws.reply("C0GENERAL", ts["vpn"], "U0BEN", "<@U0ANA> run `kumolink reset` then log in again :+1:")
    ws.reply("C0GENERAL", ts["vpn"], "U0ANA", "Thanks &amp; it worked, see <#C0RANDOM|random> for more")
    ts["lunch"] = ws.post("C0GENERAL", "U0CHIE", "Lunch order closes at 11:30:00 today :tada:")
    ts["deploy"] = ws.post("C0GENERAL", "U0DAN", "Friday deploy freeze starts at noon\nDetails in the wiki")
    for n in range(3):
        ws.post("C0RANDOM", "U0BEN", f"Random note number {n} about the office plants")
    ts["budget"] = ws.post("G0FINANCE", "U0ANA", "The falcon budget line holds 42 million yen for the quokka project")
    ws.reply("G0FINANCE", ts["budget"], "U0CHIE", "Approved by <!subteam^S0FIN|@finance-leads>")
    ws.post("C0NOBOT", "U0ANA", "nobody indexes this")
    return ts
