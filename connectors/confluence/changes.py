"""What changed since the last poll: CQL search for edited pages, comments and attachments (in the API user's
time zone, with an overlap window), and the changes no page version records: comments deleted, folders moved."""

from __future__ import annotations

from collections.abc import Generator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from askdocs.connectors.base import ConnectorFailure
from askdocs.connectors.confluence.attachments import SOURCE
from askdocs.connectors.confluence.client import ConfluenceClient, ConfluenceError, PageStub, parse_time
from askdocs.connectors.confluence.tree import folder_chains, site_fingerprints


def changed_since(
    client: ConfluenceClient,
    scope: str,
    since: datetime,
    overlap: timedelta,
    zone: ZoneInfo | None,
    window: dict[str, str],
) -> tuple[set[str], datetime | None, dict[str, str]]:
    """Pages whose content, comments or attachments changed since ``since`` (minus the overlap).

    ``window`` holds the content ids and modification times the previous poll already handled, so the
    overlap re-reads nothing it has seen; the hits of this poll are returned as the next window.
    """
    start = since - overlap - (timedelta(hours=14) if zone is None else timedelta(0))
    literal = start.astimezone(zone or UTC).strftime("%Y-%m-%d %H:%M")
    cql = f'{scope} and type in (page,comment,attachment) and lastmodified >= "{literal}"'
    pages: set[str] = set()
    hits: dict[str, str] = {}
    newest: datetime | None = None
    params = {"cql": cql, "limit": 100, "expand": "content.container,content.version"}
    for result in client.paginate("/rest/api/search", params):
        content = result.get("content") or {}
        key, stamp = f"{content.get('type')}:{content.get('id')}", str(result.get("lastModified") or "")
        hits[key] = stamp
        when = parse_time(stamp)
        newest = max(newest, when) if newest and when else (when or newest)
        if window.get(key) == stamp and stamp:
            continue
        if content.get("type") == "page":
            pages.add(str(content.get("id")))
        else:
            container = content.get("container") or {}
            container_id = (
                container.get("id")
                or str((content.get("_expandable") or {}).get("container") or "").rstrip("/").rpartition("/")[2]
            )
            if container_id:
                pages.add(str(container_id))
    return pages, newest, hits


def tree_changes(
    client: ConfluenceClient,
    page_size: int,
    stubs: dict[str, PageStub],
    old_pages: dict[str, Any],
    old_folders: dict[str, Any],
) -> Generator[ConnectorFailure, None, set[str]]:
    """Pages whose comments changed (a deletion changes no page version) or that sit under a moved folder."""
    found: set[str] = set()
    known = [pid for pid in stubs if pid in old_pages]
    try:
        prints = site_fingerprints(client, page_size)
        found |= {pid for pid in known if prints.get(pid, "") != old_pages[pid].get("c", "")}
    except ConfluenceError as exc:
        yield ConnectorFailure(source=SOURCE, message=f"comment listing failed, deletions wait a poll: {exc}")
    try:
        moved = folder_chains(client, old_folders)
    except ConfluenceError as exc:
        yield ConnectorFailure(source=SOURCE, message=f"folder check failed, re-reading pages in folders: {exc}")
        moved = set(old_folders)
    return found | {pid for pid in known if moved & set(old_pages[pid].get("f", []))}
