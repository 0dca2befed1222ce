"""The content tree around a page: typed ancestors (pages, folders, whiteboards, databases, embeds) and footer
comments with their replies.

REST v2 ancestors may be any of ``AncestorType`` (page, whiteboard, database, embed, folder); the endpoint pages by
asking the highest ancestor *of its own type* for its ancestors. Read restrictions exist only for v1 content
(pages here): the v1 spec documents no restrictions for the other types, so they are not asked for. A type outside
the enum raises ``UnknownAncestor`` and the caller hides the page (fail closed).

``/pages/{id}/footer-comments`` returns root comments only; replies come from ``/footer-comments/{id}/children``.
A deleted comment changes no page version, so polls compare a fingerprint of each page's comments, taken from the
site-wide ``/footer-comments`` listing (replies resolved to their page through ``parentCommentId``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Any

from askdocs.connectors.confluence.client import ConfluenceClient, ConfluenceError

ANCESTOR_TYPES = {"page": "pages", "folder": "folders", "whiteboard": "whiteboards", "database": "databases",
                  "embed": "embeds"}  # fmt: skip
RESTRICTED_TYPES = {"page"}  # content types whose read restrictions the API documents (v1 content)
ANCESTOR_LIMIT = 250
MAX_DEPTH = 500
MAX_REPLY_DEPTH = 50


class UnknownAncestor(ConfluenceError):
    """An ancestor of a type the v2 spec does not list: its restrictions cannot be known."""


def ancestor_kind(item: dict[str, Any]) -> str:
    """The ancestor's type; UnknownAncestor when it is missing or not one the spec lists."""
    kind = str(item.get("type") or "")
    if not item.get("id"):
        raise ConfluenceError("ancestors response lists an ancestor without an id")
    if kind not in ANCESTOR_TYPES:
        raise UnknownAncestor(f"ancestor {item.get('id')} has unknown type {kind or '(none)'!r}")
    return kind


def ancestors(client: ConfluenceClient, content_id: str, kind: str = "page") -> list[dict[str, Any]]:
    """Ancestors of a piece of content, highest first, each ``{"id", "type"}``."""
    chain: list[dict[str, Any]] = []
    current, current_kind = content_id, kind
    for _ in range(MAX_DEPTH):
        path = f"/api/v2/{ANCESTOR_TYPES[current_kind]}/{current}/ancestors"
        results = client.get_json(path, {"limit": ANCESTOR_LIMIT}).get("results")
        if not isinstance(results, list):
            raise ConfluenceError(f"ancestors of {content_id}: unexpected response shape")
        found = [r for r in results if isinstance(r, dict)]
        for item in found:
            ancestor_kind(item)
        chain = found + chain
        if len(results) < ANCESTOR_LIMIT:
            return chain
        current, current_kind = str(found[0]["id"]), ancestor_kind(found[0])
    raise ConfluenceError(f"ancestors of {content_id}: deeper than {MAX_DEPTH * ANCESTOR_LIMIT}")


def folder_chains(client: ConfluenceClient, folders: dict[str, Any]) -> set[str]:
    """Non-page ancestors (``{id: [type, [ancestor ids]]}`` from the checkpoint) that moved or went away."""
    moved = set()
    for folder_id, entry in folders.items():
        kind, chain = entry if isinstance(entry, list) and len(entry) == 2 else ("", None)
        if kind not in ANCESTOR_TYPES:  # a checkpoint from elsewhere: read the pages beneath again
            moved.add(folder_id)
            continue
        try:
            now = [str(a.get("id")) for a in ancestors(client, folder_id, kind)]
        except ConfluenceError as exc:
            if exc.status != 404 and not isinstance(exc, UnknownAncestor):
                raise
            now = None
        if now != chain:
            moved.add(folder_id)
    return moved


def fingerprint(comments: Iterable[tuple[str, int]]) -> str:
    """A short digest of a page's comments (id and version of each); empty when there are none."""
    keys = sorted(f"{cid}:{version}" for cid, version in comments)
    return hashlib.sha256("\n".join(keys).encode()).hexdigest()[:16] if keys else ""


def _version(item: dict[str, Any]) -> int:
    return int((item.get("version") or {}).get("number") or 0)


def comment_tree(client: ConfluenceClient, page_id: str, page_size: int) -> list[dict[str, Any]]:
    """The page's footer comments, each root followed by its replies (depth first)."""
    params = {"body-format": "storage", "limit": page_size}
    out: list[dict[str, Any]] = []

    def walk(items: Iterable[dict[str, Any]], depth: int) -> None:
        for item in items:
            out.append(item)
            if depth < MAX_REPLY_DEPTH:
                walk(list(client.paginate(f"/api/v2/footer-comments/{item['id']}/children", params)), depth + 1)

    walk(list(client.paginate(f"/api/v2/pages/{page_id}/footer-comments", params)), 0)
    return out


def tree_fingerprint(comments: list[dict[str, Any]]) -> str:
    """The fingerprint of comments read with ``comment_tree``."""
    return fingerprint((str(c.get("id")), _version(c)) for c in comments)


def site_fingerprints(client: ConfluenceClient, page_size: int) -> dict[str, str]:
    """Page id -> fingerprint of its footer comments, from one site-wide listing."""
    page_of: dict[str, str] = {}
    parent_of: dict[str, str] = {}
    versions: dict[str, int] = {}
    for item in client.paginate("/api/v2/footer-comments", {"limit": page_size}):
        cid = str(item.get("id"))
        versions[cid] = _version(item)
        if item.get("pageId"):
            page_of[cid] = str(item["pageId"])
        elif item.get("parentCommentId"):
            parent_of[cid] = str(item["parentCommentId"])
    grouped: dict[str, list[tuple[str, int]]] = {}
    for cid, version in versions.items():
        current = cid
        for _ in range(MAX_REPLY_DEPTH + 1):
            if current in page_of or current not in parent_of:
                break
            current = parent_of[current]
        if current in page_of:
            grouped.setdefault(page_of[current], []).append((cid, version))
    return {page: fingerprint(items) for page, items in grouped.items()}
