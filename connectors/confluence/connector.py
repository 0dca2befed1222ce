"""Confluence Cloud connector: pages (with footer comments) and text attachments, restrictions as ACL.

Listing uses REST v2 (``/spaces/{id}/pages``, ``/pages?id=…&body-format=storage``) with cursor pagination;
incremental polls ask v1 CQL search for pages, comments and attachments modified since the checkpoint (minus an
overlap window) and compare a slim listing of every page (id, parent, version) with the checkpoint, so edits,
moves (an ancestor's restrictions now apply), new pages, deletions and archiving are all seen. Restriction-only
changes that touch no page are picked up by ``--full`` runs.
"""

from __future__ import annotations

import logging
from collections.abc import Generator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from askdocs.errors import SourceError
from askdocs.formats import extracted_mime, too_big
from askdocs.models import Blob, Document, Section
from askdocs.settings import Settings
from connectors.base import Checkpoint, ConnectorFailure, DocumentDeleted
from connectors.confluence.acl import NOBODY, Restriction, RestrictionReader, effective_acl
from connectors.confluence.client import (
    ConfluenceClient,
    ConfluenceError,
    Listing,
    PageStub,
    Space,
    moved_pages,
    parse_time,
)
from connectors.confluence.identity import ConfluenceIdentity, load_account_emails
from connectors.confluence.storage import attachment_kind, attachment_sections, storage_to_sections

log = logging.getLogger(__name__)
SOURCE = "confluence"
MAX_ATTACHMENT_BYTES = 5 * 1024 * 1024
MAX_DEPTH = 500


def page_doc_id(page_id: str) -> str:
    """Document id of a page."""
    return f"{SOURCE}:page:{page_id}"


def attachment_doc_id(attachment_id: str) -> str:
    """Document id of an attachment."""
    return f"{SOURCE}:attachment:{attachment_id}"


class ConfluenceConnector(ConfluenceIdentity):
    """Polls and lists a Confluence Cloud site (a list of space keys or a CQL expression); its identities and
    permissions come from ``ConfluenceIdentity``."""

    source = SOURCE

    def __init__(
        self,
        client: ConfluenceClient,
        spaces: list[str] | None = None,
        cql: str | None = None,
        overlap: timedelta = timedelta(minutes=10),
        page_size: int = 250,
        batch: int = 25,
        max_file_mb: int = 50,
    ) -> None:
        if not spaces and not cql:
            raise SourceError("Confluence needs ASKDOCS_CONFLUENCE_SPACES or ASKDOCS_CONFLUENCE_CQL")
        self.client = client
        self.space_keys = list(spaces or [])
        self.cql = cql
        self.overlap = overlap
        self.page_size = page_size
        self.batch = batch
        self.max_file_mb = max_file_mb
        self.restrictions = RestrictionReader(client)
        self.account_emails: dict[str, str] = {}  # account id -> e-mail from the operator's mapping
        self._titles: dict[str, str] = {}
        self._last_ids: set[str] | None = None
        self._newest: datetime | None = None

    # --- scope and listing -------------------------------------------------------------
    def _scope(self) -> str:
        if self.cql:
            return f"({self.cql})"
        return "space in (" + ",".join(f'"{key}"' for key in self.space_keys) + ")"

    def _fatal(self, message: str) -> ConnectorFailure:
        return ConnectorFailure(source=SOURCE, message=message, fatal=True)

    def _spaces(self, **params: str) -> dict[str, Space]:
        found = {}
        for item in self.client.paginate("/api/v2/spaces", {**params, "limit": self.page_size}):
            found[str(item["id"])] = Space(str(item["id"]), str(item.get("key") or ""), str(item.get("name") or ""))
        return found

    def _list(self) -> Listing:
        """The slim listing; raises ConfluenceError when it cannot be complete."""
        listing = Listing()
        if self.cql:
            ids = [
                str((r.get("content") or {}).get("id"))
                for r in self.client.paginate(
                    "/rest/api/search", {"cql": f"{self._scope()} and type = page", "limit": 100}
                )
            ]
            for start in range(0, len(ids), self.page_size):
                chunk = ",".join(i for i in ids[start : start + self.page_size] if i != "None")
                for item in self.client.paginate(
                    "/api/v2/pages", {"id": chunk, "status": "current", "limit": self.page_size}
                ):
                    stub = PageStub.of(item)
                    listing.stubs[stub.id] = stub
            space_ids = sorted({s.space_id for s in listing.stubs.values()})
            for start in range(0, len(space_ids), 100):
                listing.spaces.update(self._spaces(ids=",".join(space_ids[start : start + 100])))
            if not listing.stubs:
                raise ConfluenceError(
                    f"CQL {self.cql!r} matched no pages the API user can see (check the "
                    "expression and the token's permissions)"
                )
            return listing
        listing.spaces = self._spaces(keys=",".join(self.space_keys))
        missing = sorted(set(self.space_keys) - {s.key for s in listing.spaces.values()})
        if missing:
            raise ConfluenceError(f"space key(s) not found or not visible to the API user: {', '.join(missing)}")
        for space in listing.spaces.values():
            count = 0
            params = {"status": "current", "limit": self.page_size}
            for item in self.client.paginate(f"/api/v2/spaces/{space.id}/pages", params):
                stub = PageStub.of(item)
                listing.stubs[stub.id] = stub
                count += 1
            if not count:
                listing.empty.add(space.key)
                listing.failures.append(
                    ConnectorFailure(
                        source=SOURCE,
                        message=f"space {space.key} lists no pages the API user can see: check the "
                        "token's space permission (its indexed pages are kept)",
                    )
                )
        if not listing.stubs:
            raise ConfluenceError(
                f"no pages visible in space(s) {', '.join(self.space_keys)}: check the keys "
                "and the API user's permissions"
            )
        return listing

    def _timezone(self) -> ZoneInfo | None:
        """The API user's time zone (CQL dates are read in it); also the authentication check."""
        name = self.client.get_json("/rest/api/user/current").get("timeZone")
        try:
            return ZoneInfo(str(name)) if name else None
        except (ZoneInfoNotFoundError, ValueError):
            return None

    def _changed_since(
        self, since: datetime, zone: ZoneInfo | None, window: dict[str, str]
    ) -> tuple[set[str], datetime | None, dict[str, str]]:
        """Pages whose content, comments or attachments changed since ``since`` (minus the overlap).

        ``window`` holds the content ids and modification times the previous poll already handled, so the
        overlap re-reads nothing it has seen; the hits of this poll are returned as the next window.
        """
        start = since - self.overlap - (timedelta(hours=14) if zone is None else timedelta(0))
        literal = start.astimezone(zone or UTC).strftime("%Y-%m-%d %H:%M")
        cql = f'{self._scope()} and type in (page,comment,attachment) and lastmodified >= "{literal}"'
        pages: set[str] = set()
        hits: dict[str, str] = {}
        newest: datetime | None = None
        params = {"cql": cql, "limit": 100, "expand": "content.container,content.version"}
        for result in self.client.paginate("/rest/api/search", params):
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

    # --- documents ---------------------------------------------------------------------
    def _seen(self, when: datetime | None) -> None:
        """Remember the newest server-side modification time seen (the next poll's CQL window starts there)."""
        if when is not None and (self._newest is None or when > self._newest):
            self._newest = when

    def _title(self, content_id: str, stubs: dict[str, PageStub]) -> str:
        if content_id in stubs:
            return stubs[content_id].title
        if content_id not in self._titles:
            try:
                self._titles[content_id] = str(self.client.get_json(f"/api/v2/pages/{content_id}").get("title", ""))
            except ConfluenceError:
                self._titles[content_id] = ""
        return self._titles[content_id]

    def _ancestors(self, page_id: str) -> list[dict[str, Any]]:
        """Ancestors, highest first (the endpoint pages by re-asking for the highest one's ancestors)."""
        chain: list[dict[str, Any]] = []
        current = page_id
        for _ in range(MAX_DEPTH):
            results = self.client.get_json(f"/api/v2/pages/{current}/ancestors", {"limit": 250}).get("results")
            if not isinstance(results, list):
                raise ConfluenceError(f"ancestors of {page_id}: unexpected response shape")
            chain = [r for r in results if isinstance(r, dict)] + chain
            if len(results) < 250:
                return chain
            current = str(results[0]["id"])
        raise ConfluenceError(f"ancestors of {page_id}: deeper than {MAX_DEPTH * 250}")

    def _comments(self, page_id: str) -> list[Section]:
        sections = []
        params = {"body-format": "storage", "limit": self.page_size}
        for item in self.client.paginate(f"/api/v2/pages/{page_id}/footer-comments", params):
            storage = ((item.get("body") or {}).get("storage") or {}).get("value") or ""
            self._seen(parse_time((item.get("version") or {}).get("createdAt")))
            text = "\n\n".join(s.text for s in storage_to_sections(storage))
            if text:
                sections.append(Section(path=["Comments"], text=text))
        return sections

    def _attachment(self, item: dict[str, Any], page: Document) -> Document | None:
        """A text-like, PDF or Office attachment as its own document (files extracted by ingest); None for others."""
        filename = str(item.get("title") or "")
        kind = attachment_kind(filename, str(item.get("mediaType") or ""))
        binary = None if kind else extracted_mime(filename, str(item.get("mediaType") or ""))
        link = item.get("downloadLink") or (item.get("_links") or {}).get("download")
        if not (kind or binary) or not link:
            return None
        sections, blob = [], None
        if binary:  # the size Confluence reports is checked before the download
            if int(item.get("fileSize") or 0) > self.max_file_mb * 2**20:
                raise ConfluenceError(too_big(int(item["fileSize"]), self.max_file_mb))
            blob = Blob.of(filename, self.client.get_bytes(str(link), self.max_file_mb * 2**20), binary)
        else:
            raw = self.client.get_bytes(str(link), MAX_ATTACHMENT_BYTES).decode("utf-8-sig", errors="replace")
            sections = attachment_sections(raw, kind or "text", filename)
        version = item.get("version") or {}
        self._seen(parse_time(version.get("createdAt")))
        webui = item.get("webuiLink") or (item.get("_links") or {}).get("webui")
        return Document(
            id=attachment_doc_id(str(item["id"])),
            source=SOURCE,
            title=filename,
            url=self.client.url(str(webui)) if webui else page.url,
            sections=sections,
            created_at=parse_time(item.get("createdAt")),
            updated_at=parse_time(version.get("createdAt")),
            acl=page.acl,
            metadata={
                **{k: page.metadata[k] for k in ("space", "space_name")},
                "kind": "attachment",
                "page_id": page.metadata["page_id"],
                "page_title": page.title,
                "page_url": page.url,
                "media_type": str(item.get("mediaType") or ""),
                "breadcrumb": f"{page.metadata['breadcrumb']} > {filename}",
            },
            blob=blob,
        )

    def _build(
        self, item: dict[str, Any], listing: Listing
    ) -> tuple[list[Document | ConnectorFailure], bool, set[str]]:
        """A page's documents and failures, whether everything was read, and its attachment document ids."""
        stub = PageStub.of(item)
        doc_id = page_doc_id(stub.id)
        space = listing.spaces.get(stub.space_id) or Space(stub.space_id, stub.space_id, stub.space_id)
        out: list[Document | ConnectorFailure] = []
        complete = True
        crumbs = [space.name or space.key]
        try:
            ancestors = self._ancestors(stub.id)
            chain: list[Restriction] = [self.restrictions.read(str(a["id"])) for a in ancestors]
            chain.append(self.restrictions.read(stub.id))
            acl = effective_acl(chain, space.key)
            crumbs += [
                t
                for a in ancestors
                if a.get("type", "page") == "page" and (t := self._title(str(a["id"]), listing.stubs))
            ]
        except ConfluenceError as exc:  # fail closed: unknown restrictions hide the page from everyone
            acl, complete = [NOBODY], False
            out.append(
                ConnectorFailure(
                    source=SOURCE,
                    document_id=doc_id,
                    message=f"page {stub.id}: restrictions unreadable, hidden until the next successful sync: {exc}",
                )
            )
        storage = ((item.get("body") or {}).get("storage") or {}).get("value") or ""
        sections = storage_to_sections(storage)
        try:
            comments = self._comments(stub.id)
        except ConfluenceError as exc:
            comments, complete = [], False
            out.append(ConnectorFailure(source=SOURCE, document_id=doc_id, message=f"page {stub.id}: {exc}"))
        page = Document(
            id=doc_id,
            source=SOURCE,
            title=stub.title or f"page {stub.id}",
            url=self.client.url(stub.webui),
            sections=(sections + comments) or [Section(path=[], text=stub.title or stub.id)],
            created_at=parse_time(item.get("createdAt")),
            updated_at=stub.modified,
            acl=acl,
            metadata={
                "kind": "page",
                "page_id": stub.id,
                "space": space.key,
                "space_name": space.name,
                "breadcrumb": " > ".join([*crumbs, stub.title]),
                "version": stub.version,
                "comments": len(comments),
            },
        )
        out.insert(0, page)
        attachments: set[str] = set()
        try:
            for att in self.client.paginate(f"/api/v2/pages/{stub.id}/attachments", {"limit": self.page_size}):
                att_id = attachment_doc_id(str(att.get("id")))
                try:
                    doc = self._attachment(att, page)
                except ConfluenceError as exc:
                    attachments.add(att_id)
                    complete = False
                    out.append(ConnectorFailure(source=SOURCE, document_id=att_id, message=f"attachment: {exc}"))
                    continue
                if doc is not None:
                    attachments.add(doc.id)
                    out.append(doc)
        except ConfluenceError as exc:
            complete = False
            out.append(ConnectorFailure(source=SOURCE, document_id=doc_id, message=f"page {stub.id}: {exc}"))
        return out, complete, attachments

    # --- capabilities ------------------------------------------------------------------
    def poll(
        self, checkpoint: Checkpoint | None
    ) -> Generator[Document | DocumentDeleted | ConnectorFailure, None, Checkpoint]:
        """Pages and attachments added, changed or moved since ``checkpoint``; deletions of those gone."""
        old = checkpoint or {}
        old_pages: dict[str, Any] = old["pages"] if isinstance(old.get("pages"), dict) else {}
        self._last_ids = None
        self._newest = None
        self.restrictions.clear()
        try:
            zone = self._timezone()
            listing = self._list()
        except ConfluenceError as exc:
            yield self._fatal(f"Confluence listing failed, nothing changed: {exc}")
            return old
        yield from listing.failures
        stubs = listing.stubs
        changed: set[str] = set()
        window: dict[str, str] = {}
        newest = max([s.modified for s in stubs.values() if s.modified] or [datetime.min.replace(tzinfo=UTC)])
        since = parse_time(old.get("since")) if checkpoint else None
        if since is not None:
            try:
                changed, cql_newest, window = self._changed_since(since, zone, old.get("window") or {})
                newest = max(newest, cql_newest or newest)
            except ConfluenceError as exc:
                yield ConnectorFailure(source=SOURCE, message=f"CQL search failed, re-reading every page: {exc}")
                changed = set(stubs)
        moved = moved_pages(stubs, old_pages)
        todo = [
            pid
            for pid in sorted(stubs, key=lambda p: (len(p), p))
            if checkpoint is None
            or pid not in old_pages
            or pid in changed
            or pid in moved
            or old_pages[pid].get("v") != stubs[pid].version
        ]
        new_pages = {pid: old_pages[pid] for pid in stubs if pid in old_pages}
        complete_run = not listing.failures
        ids: set[str] = set()
        for start in range(0, len(todo), self.batch):
            batch = todo[start : start + self.batch]
            try:
                params = {"id": ",".join(batch), "body-format": "storage", "status": "current", "limit": len(batch)}
                items = {str(i["id"]): i for i in self.client.paginate("/api/v2/pages", params)}
            except ConfluenceError as exc:
                complete_run = False
                for pid in batch:
                    yield ConnectorFailure(source=SOURCE, document_id=page_doc_id(pid), message=f"page {pid}: {exc}")
                    stub = stubs[pid]
                    new_pages[pid] = {
                        "a": [],
                        **new_pages.get(pid, {}),
                        "v": -1,
                        "p": stub.parent_id,
                        "s": listing.spaces.get(stub.space_id, Space("", "", "")).key,
                    }
                continue
            for pid in batch:
                entry = old_pages.get(pid) or {"a": []}
                if pid not in items:  # archived or deleted since the listing
                    new_pages.pop(pid, None)
                    for gone in [page_doc_id(pid), *entry.get("a", [])]:
                        yield DocumentDeleted(document_id=gone)
                    continue
                out, complete, attachments = self._build(items[pid], listing)
                yield from out
                stub = stubs[pid]
                kept = set(entry.get("a", []))
                if complete:
                    for gone in sorted(kept - attachments):
                        yield DocumentDeleted(document_id=gone)
                    kept = set()
                complete_run = complete_run and complete
                new_pages[pid] = {
                    "v": stub.version if complete else -1,
                    "p": stub.parent_id,
                    "s": listing.spaces.get(stub.space_id, Space("", "", "")).key,
                    "a": sorted(attachments | kept),
                }
        for pid, entry in old_pages.items():
            if pid in stubs:
                continue
            if entry.get("s") in listing.empty:
                new_pages[pid] = entry
                continue
            for gone in [page_doc_id(pid), *entry.get("a", [])]:
                yield DocumentDeleted(document_id=gone)
        for pid, entry in new_pages.items():
            ids.add(page_doc_id(pid))
            ids.update(entry.get("a", []))
        self._last_ids = ids if complete_run and checkpoint is None else None
        newest = max(newest, self._newest or newest)
        since_out = max(newest, since) if since else newest
        return {"since": since_out.isoformat(), "pages": new_pages, "window": window, "format": 1}

    def load_all(self) -> Iterator[Document | ConnectorFailure]:
        """Every current page and text attachment."""
        for item in self.poll(None):
            if not isinstance(item, DocumentDeleted):
                yield item

    def list_ids(self) -> Iterator[str | ConnectorFailure]:
        """Ids of every current page and attachment (reuses a complete full poll of this instance)."""
        if self._last_ids is not None:
            yield from sorted(self._last_ids)
            return
        try:
            listing = self._list()
        except ConfluenceError as exc:
            yield self._fatal(f"Confluence listing failed: {exc}")
            return
        yield from listing.failures
        for pid in listing.stubs:
            yield page_doc_id(pid)
            try:
                for att in self.client.paginate(f"/api/v2/pages/{pid}/attachments", {"limit": self.page_size}):
                    yield attachment_doc_id(str(att.get("id")))
            except ConfluenceError as exc:
                yield ConnectorFailure(source=SOURCE, message=f"attachments of page {pid}: {exc}")

    def close(self) -> None:
        """Release the HTTP client."""
        self.client.close()


def from_settings(settings: Settings) -> ConfluenceConnector:
    """The connector configured by ``ASKDOCS_CONFLUENCE_*``; SourceError names what is missing."""
    if not settings.confluence_base_url:
        raise SourceError("set ASKDOCS_CONFLUENCE_BASE_URL (e.g. https://your-site.atlassian.net)")
    token = settings.confluence_api_token.get_secret_value() if settings.confluence_api_token else None
    bearer = settings.confluence_bearer_token.get_secret_value() if settings.confluence_bearer_token else None
    if not settings.confluence_spaces and not settings.confluence_cql:
        raise SourceError("set ASKDOCS_CONFLUENCE_SPACES (JSON list of space keys) or ASKDOCS_CONFLUENCE_CQL")
    client = ConfluenceClient(
        settings.confluence_base_url, email=settings.confluence_email, api_token=token, bearer_token=bearer
    )
    connector = ConfluenceConnector(
        client, spaces=settings.confluence_spaces, cql=settings.confluence_cql, max_file_mb=settings.extract_max_file_mb
    )
    connector.account_emails = load_account_emails(settings.confluence_account_emails)
    return connector
