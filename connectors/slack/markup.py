"""Slack messages to readable text and thread documents; shared by the live connector and the export importer."""

from __future__ import annotations

import hashlib
import html
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from askdocs.connectors.slack.blocks import rich_content
from askdocs.models import PUBLIC, Document, Section

SOURCE = "slack"
Message = dict[str, Any]

# Messages that say something about the channel, not a conversation: never documents or thread text.
NOISE_SUBTYPES = {
    "channel_join", "channel_leave", "group_join", "group_leave", "channel_archive", "channel_unarchive",
    "group_archive", "group_unarchive", "channel_name", "group_name", "bot_add", "bot_remove",
}  # fmt: skip
TOMBSTONE_TEXT = "This message was deleted."

EMOJI = {
    "smile": "😄", "slightly_smiling_face": "🙂", "grinning": "😀", "joy": "😂", "wink": "😉", "blush": "😊",
    "heart": "❤️", "thumbsup": "👍", "+1": "👍", "thumbsdown": "👎", "-1": "👎", "clap": "👏", "pray": "🙏",
    "tada": "🎉", "rocket": "🚀", "fire": "🔥", "eyes": "👀", "wave": "👋", "ok_hand": "👌", "muscle": "💪",
    "thinking_face": "🤔", "white_check_mark": "✅", "heavy_check_mark": "✔️", "x": "❌", "warning": "⚠️",
    "bug": "🐛", "memo": "📝", "point_up": "☝️", "point_right": "👉", "raised_hands": "🙌", "sweat_smile": "😅",
    "sob": "😭", "cry": "😢", "rotating_light": "🚨", "bulb": "💡", "star": "⭐", "sparkles": "✨", "100": "💯",
    "coffee": "☕", "calendar": "📅", "lock": "🔒", "key": "🔑", "link": "🔗", "hourglass": "⌛", "zap": "⚡",
    "heavy_plus_sign": "➕", "no_entry": "⛔", "question": "❓", "exclamation": "❗", "sunny": "☀️", "robot_face": "🤖",
}  # fmt: skip

_ANGLE = re.compile(r"<([^<>\n]+)>")
_EMOJI = re.compile(r"(?<![A-Za-z0-9]):([a-z0-9_+'-]+):(?::skin-tone-\d:)?")


@dataclass
class Directory:
    """What markup and ACLs resolve against: user names and emails, channel names."""

    names: dict[str, str] = field(default_factory=dict)
    emails: dict[str, str] = field(default_factory=dict)
    channels: dict[str, str] = field(default_factory=dict)

    def add_user(self, user: dict[str, Any]) -> None:
        """Record one ``users.list`` / ``users.json`` member."""
        uid = str(user.get("id") or "")
        if not uid:
            return
        profile = user.get("profile") or {}
        self.names[uid] = str(
            profile.get("display_name") or profile.get("real_name") or user.get("real_name") or user.get("name") or uid
        )
        email = str(profile.get("email") or "").strip().lower()
        if email and not re.search(r"\s", email):
            self.emails[uid] = email

    def name(self, uid: str) -> str:
        """Display name of a user id (the id itself when unknown)."""
        return self.names.get(uid, uid)

    def principal(self, uid: str) -> str:
        """``user:<email>``; ``user:slack:<ID>`` when the email is unknown, so the member is never dropped."""
        email = self.emails.get(uid)
        return f"user:{email}" if email else f"user:slack:{uid}"


def ts_key(ts: str | None) -> Decimal:
    """A Slack ``ts`` as an exact number for comparisons ('0' when missing or malformed)."""
    try:
        return Decimal(ts or "0")
    except InvalidOperation:
        return Decimal(0)


def ts_time(ts: str) -> datetime:
    """A Slack ``ts`` as an aware UTC datetime."""
    return datetime.fromtimestamp(float(ts_key(ts)), tz=UTC)


def _angle(match: re.Match[str], directory: Directory) -> str:
    body = match.group(1)
    target, _, label = body.partition("|")
    if target.startswith("@"):
        return "@" + (label or directory.name(target[1:]))
    if target.startswith("#"):
        return "#" + (label or directory.channels.get(target[1:], target[1:]))
    if target.startswith("!"):
        if target.startswith(("!subteam^", "!date^")):
            return label or target[1:].split("^", 1)[0]
        return "@" + (label or target[1:])
    if target.startswith("mailto:"):
        return label or target[len("mailto:") :]
    if label and label != target:
        return f"{label} ({target})"
    return target


def _emoji(match: re.Match[str]) -> str:
    name = match.group(1)
    if name.isdigit() and name not in EMOJI:
        return match.group(0)
    return EMOJI.get(name) or f"({name.replace('_', ' ')})"


def readable(text: str, directory: Directory) -> str:
    """Slack markup as plain text: mentions, channel links, links with labels, emoji codes, HTML entities."""
    text = _ANGLE.sub(lambda m: _angle(m, directory), text or "")
    text = _EMOJI.sub(_emoji, text)
    return html.unescape(text)


def is_thread_root(message: Message) -> bool:
    """A top-level message (not a reply broadcast to the channel, not a join/leave notice)."""
    if message.get("subtype") in NOISE_SUBTYPES or message.get("subtype") in ("message_changed", "message_deleted"):
        return False
    thread_ts = message.get("thread_ts")
    return not thread_ts or thread_ts == message.get("ts")


def apply_events(messages: Iterable[Message]) -> list[Message]:
    """Fold ``message_changed`` / ``message_deleted`` records into the messages they concern, in ts order."""
    by_ts: dict[str, Message] = {}
    for message in sorted(messages, key=lambda m: ts_key(m.get("ts"))):
        subtype = message.get("subtype")
        if subtype == "message_changed" and isinstance(message.get("message"), dict):
            new = dict(message["message"])
            if new.get("ts") in by_ts:
                by_ts[new["ts"]] = {**by_ts[new["ts"]], **new}
        elif subtype == "message_deleted":
            by_ts.pop(str(message.get("deleted_ts")), None)
        elif message.get("ts"):
            by_ts[str(message["ts"])] = message
    return sorted(by_ts.values(), key=lambda m: ts_key(m.get("ts")))


def is_tombstone(message: Message) -> bool:
    """A deleted parent that Slack keeps because its thread still has replies."""
    return message.get("subtype") == "tombstone"


def _digest(message: Message) -> str:
    """A short hash of everything a message shows: text, blocks, attachments, file names."""
    files = [f.get("title") or f.get("name") for f in message.get("files") or [] if isinstance(f, dict)]
    shown = [message.get("text"), message.get("blocks"), message.get("attachments"), files]
    return hashlib.sha256(json.dumps(shown, sort_keys=True, default=str).encode()).hexdigest()[:12]


def fingerprint(root: Message) -> str:
    """What a thread root reveals about its thread: changes when it is edited, replied to or loses replies."""
    parts = [
        root.get("latest_reply"), root.get("reply_count"), (root.get("edited") or {}).get("ts"),
        root.get("subtype"), _digest(root),
    ]  # fmt: skip
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()[:16]


def thread_fingerprint(messages: Iterable[Message]) -> str:
    """Every message of a thread, edits included: changes when any reply is edited, added or deleted."""
    parts = [[m.get("ts"), (m.get("edited") or {}).get("ts"), m.get("subtype"), _digest(m)] for m in messages]
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()[:16]


def author_name(message: Message, directory: Directory) -> str:
    """Who wrote a message: the user's display name, or a bot's name."""
    if message.get("user"):
        return directory.name(str(message["user"]))
    return str(message.get("username") or (message.get("bot_profile") or {}).get("name") or "bot")


def _message_text(message: Message, directory: Directory) -> str:
    text = readable(str(message.get("text") or ""), directory).strip()
    extra = rich_content(message, text, lambda markup: readable(markup, directory))
    if extra:
        text = (text + "\n" if text else "") + extra
    files = [str(f.get("title") or f.get("name") or "") for f in message.get("files") or [] if isinstance(f, dict)]
    files = [name for name in files if name]
    if files:
        text = (text + "\n" if text else "") + "Attached: " + ", ".join(files)
    return text


def permalink(workspace_url: str, channel_id: str, ts: str) -> str:
    """The documented permalink form: ``<workspace>/archives/<channel>/p<ts without the dot>``."""
    return f"{workspace_url.rstrip('/')}/archives/{channel_id}/p{ts.replace('.', '')}"


def channel_acl(private: bool, members: Iterable[str], directory: Directory, public: str = PUBLIC) -> list[str]:
    """``public`` for a public channel; the members' ``user:`` principals for a private one."""
    if not private:
        return [public]
    return sorted({directory.principal(uid) for uid in members})


def thread_document(
    channel_id: str,
    channel_name: str,
    messages: list[Message],
    directory: Directory,
    acl: list[str],
    workspace_url: str,
    private: bool,
) -> Document | None:
    """One thread (root first, then replies) as a document; None when nothing readable is left."""
    messages = [m for m in apply_events(messages) if m.get("subtype") not in NOISE_SUBTYPES]
    if not messages:
        return None
    root = messages[0]
    thread_ts = str(root.get("thread_ts") or root["ts"])
    sections: list[Section] = []
    for message in messages:
        if is_tombstone(message) or message.get("hidden"):
            continue
        text = _message_text(message, directory)
        if text:
            sections.append(Section(path=[], text=f"{author_name(message, directory)}: {text}"))
    if not sections or not acl:
        return None
    # A deleted root survives as a tombstone (Web API) or is simply missing (exports): same document either way.
    has_root = str(root.get("ts")) == thread_ts and not is_tombstone(root)
    root_text = _message_text(root, directory) if has_root else ""
    first_line = next((line.strip() for line in root_text.splitlines() if line.strip()), "")
    if len(first_line) > 80:
        first_line = first_line[:79].rstrip() + "…"
    updated = max(
        (max(ts_key(m.get("ts")), ts_key((m.get("edited") or {}).get("ts"))) for m in messages if not is_tombstone(m)),
        default=ts_key(thread_ts),
    )
    return Document(
        id=f"{SOURCE}:{channel_id}:{thread_ts}",
        source=SOURCE,
        title=f"#{channel_name}: {first_line}" if first_line else f"#{channel_name} thread",
        url=permalink(workspace_url, channel_id, thread_ts),
        sections=sections,
        author=author_name(root, directory) if has_root else None,
        created_at=ts_time(thread_ts),
        updated_at=ts_time(str(updated)),
        acl=acl,
        metadata={
            "channel_id": channel_id,
            "channel": channel_name,
            "thread_ts": thread_ts,
            "messages": len(sections),
            "private": private,
        },
    )
