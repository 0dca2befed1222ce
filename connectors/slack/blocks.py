"""Readable text of Block Kit ``blocks`` and legacy ``attachments``, where integrations put their words.

A user's message carries its words twice, in ``text`` and in a ``rich_text`` block; an integration's post often
has only a short notification in ``text`` (or none) and the content in ``section``/``header``/``context`` blocks
or in attachments (``pretext``, ``title``, ``text``, ``fields``; ``fallback`` when nothing else is there).
Lines already present in the message text are left out, so nothing is indexed twice.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

Render = Callable[[str], str]  # Slack markup (mentions, links, emoji codes) to plain text

_SPACE = re.compile(r"\s+")
_REFS = {  # rich_text element type -> the markup it stands for, and the field holding the id
    "user": ("<@{}>", "user_id"),
    "channel": ("<#{}>", "channel_id"),
    "usergroup": ("<!subteam^{}>", "usergroup_id"),
}


def _text_object(obj: Any, render: Render) -> str:
    if isinstance(obj, dict) and isinstance(obj.get("text"), str):
        return render(obj["text"]) if obj.get("type") == "mrkdwn" else obj["text"]
    return ""


def _rich_element(element: dict[str, Any], render: Render) -> str:
    kind = element.get("type")
    if kind == "text":
        return str(element.get("text") or "")
    if kind == "link":
        url, label = str(element.get("url") or ""), str(element.get("text") or "")
        return f"{label} ({url})" if label and label != url else url
    if kind == "emoji":
        return render(f":{element.get('name')}:") if element.get("name") else ""
    refs = {
        "user": ("<@{}>", "user_id"),
        "channel": ("<#{}>", "channel_id"),
        "usergroup": ("<!subteam^{}>", "usergroup_id"),
    }
    if kind in refs:
        template, key = refs[kind]
        return render(template.format(element.get(key, "")))
    if kind == "broadcast":
        return "@" + str(element.get("range") or "here")
    if kind == "date":
        return str(element.get("fallback") or "")
    return str(element.get("text") or "")


def _rich_text(block: dict[str, Any], render: Render) -> Iterator[str]:
    for part in block.get("elements") or []:
        if not isinstance(part, dict):
            continue
        if part.get("type") == "rich_text_list":
            for item in part.get("elements") or []:
                if isinstance(item, dict):
                    yield "- " + "".join(
                        _rich_element(e, render) for e in item.get("elements") or [] if isinstance(e, dict)
                    )
        else:
            yield "".join(_rich_element(e, render) for e in part.get("elements") or [] if isinstance(e, dict))


def block_lines(blocks: Any, render: Render, rich_text: bool = True) -> Iterator[str]:
    """Text lines of ``blocks`` (``rich_text`` blocks only when ``rich_text``), in order."""
    for block in blocks if isinstance(blocks, list) else []:
        if not isinstance(block, dict):
            continue
        kind = block.get("type")
        if kind == "rich_text":
            if rich_text:
                yield from _rich_text(block, render)
        elif kind in ("section", "header", "markdown"):
            yield _text_object(block.get("text"), render) if kind != "markdown" else str(block.get("text") or "")
            yield from (_text_object(field, render) for field in block.get("fields") or [])
        elif kind == "context":
            yield from (_text_object(element, render) for element in block.get("elements") or [])
        elif kind in ("image", "video"):
            yield _text_object(block.get("title"), render)


def attachment_lines(attachments: Any, render: Render) -> Iterator[str]:
    """Text lines of legacy attachments (and of blocks inside them)."""
    for attachment in attachments if isinstance(attachments, list) else []:
        if not isinstance(attachment, dict):
            continue
        lines = [render(str(attachment.get(key) or "")) for key in ("pretext", "author_name", "title", "text")]
        for field in attachment.get("fields") or []:
            if isinstance(field, dict):
                title, value = str(field.get("title") or ""), render(str(field.get("value") or ""))
                lines.append(f"{title}: {value}" if title and value else title or value)
        lines.extend(block_lines(attachment.get("blocks"), render))
        if not any(line.strip() for line in lines):
            lines.append(render(str(attachment.get("fallback") or "")))
        yield from lines


def _norm(text: str) -> str:
    return _SPACE.sub(" ", text).strip().lower()


def rich_content(message: dict[str, Any], text: str, render: Render) -> str:
    """What ``blocks`` and ``attachments`` add to a message whose readable ``text`` is given."""
    # A user's rich_text blocks repeat ``text``; read them only when there is no text.
    lines = [*block_lines(message.get("blocks"), render, rich_text=not text.strip())]
    lines += attachment_lines(message.get("attachments"), render)
    seen, added = _norm(text), []
    for line in lines:
        key = _norm(line)
        if key and key not in seen:
            added.append(line.strip())
            seen += "\n" + key
    return "\n".join(added)
