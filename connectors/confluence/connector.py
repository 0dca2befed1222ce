"""Confluence Cloud connector: pages (with footer comments and their replies) and attachments, restrictions as ACL.

Listing uses REST v2 (``/spaces/{id}/pages``, ``/pages?id=…&body-format=storage``) with cursor pagination;
incremental polls ask v1 CQL search for pages, comments and attachments modified since the checkpoint (minus an
overlap window) and compare a slim listing of every page (id, parent, version) with the checkpoint, so edits,
moves (an ancestor's restrictions now apply), new pages, deletions and archiving are all seen. Deleted comments
and moved folders change no page version: polls compare comment fingerprints and folder ancestors (``changes``).
Restriction-only changes that touch no page are picked up by ``--full`` runs. Skipped items are counted by reason:
restricted readers whose e-mail the API hides, pages under an ancestor of unknown type (hidden).
"""

from __future__ import annotations

import logging
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from askdocs.connectors.base import Checkpoint, ConnectorFailure, DocumentDeleted, Skipped
from askdocs.connectors.confluence.acl import NOBODY, Restriction, RestrictionReader, effective_acl
from askdocs.connectors.confluence.attachments import SOURCE, attachment_doc_id, attachment_document
from askdocs.connectors.confluence.changes import changed_since, tree_changes
from askdocs.connectors.confluence.client import (
    ConfluenceClient,
    ConfluenceError,
    Listing,
    PageStub,
    Space,
    moved_pages,
    parse_time,
)
from askdocs.connectors.confluence.config import ConfluenceConfig
from askdocs.connectors.confluence.identity import ConfluenceIdentity, load_account_emails
from askdocs.connectors.confluence.storage import storage_to_sections
from askdocs.connectors.confluence.tree import (
    ANCESTOR_TYPES,
    RESTRICTED_TYPES,
    UnknownAncestor,
    ancestors,
    comment_tree,
    tree_fingerprint,
)
from askdocs.errors import SourceError
from askdocs.models import Document, Section
from askdocs.settings import Settings

log = logging.getLogger(__name__)
NO_EMAIL = "restricted reader without a visible e-mail (kept as user:confluence:<accountId>)"
UNKNOWN_ANCESTOR = "page under an ancestor of unknown type (hidden)"


Folders = dict[str, list[Any]]  # non-page ancestor id -> [its type, the ids of its own ancestors]


@dataclass
class Built:
    """What reading one page gave: documents, failures and skips, and what the checkpoint keeps of it."""

    out: list[Document | ConnectorFailure | Skipped] = field(default_factory=list)
    complete: bool = True
    attachments: set[str] = field(default_factory=set)
    comments: str = ""  # fingerprint of its footer comments and replies
    folders: Folders = field(default_factory=dict)


def page_doc_id(page_id: str) -> str:
    """Document id of a page."""
    return f"{SOURCE}:page:{page_id}"


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
            raise SourceError("a confluence source needs options.spaces or options.cql")
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
        self._no_email: set[str] = set()

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

    # --- documents ---------------------------------------------------------------------
    def _seen(self, when: datetime | None) -> None:
        """Remember the newest server-side modification time seen (the next poll's CQL window starts there)."""
        if when is not None and (self._newest is None or when > self._newest):
            self._newest = when

    def _title(self, content_id: str, kind: str, stubs: dict[str, PageStub]) -> str:
        if content_id in stubs:
            return stubs[content_id].title
        if content_id not in self._titles:
            try:
                path = f"/api/v2/{ANCESTOR_TYPES[kind]}/{content_id}"
                self._titles[content_id] = str(self.client.get_json(path).get("title", ""))
            except ConfluenceError:
                self._titles[content_id] = ""
        return self._titles[content_id]

    def _comments(self, page_id: str) -> tuple[list[Section], str]:
        """Sections of the page's footer comments and replies, and their fingerprint."""
        sections = []
        comments = comment_tree(self.client, page_id, self.page_size)
        for item in comments:
            storage = ((item.get("body") or {}).get("storage") or {}).get("value") or ""
            self._seen(parse_time((item.get("version") or {}).get("createdAt")))
            text = "\n\n".join(s.text for s in storage_to_sections(storage))
            if text:
                sections.append(Section(path=["Comments"], text=text))
        return sections, tree_fingerprint(comments)

    def _acl(self, page_id: str, space: Space, stubs: dict[str, PageStub]) -> tuple[list[str], list[str], Folders]:
        """The page's principals, its breadcrumb titles and its non-page ancestors (``{id: [type, chain]}``)."""
        chain = ancestors(self.client, page_id)
        restrictions: list[Restriction] = [
            self.restrictions.read(str(a["id"])) for a in chain if a["type"] in RESTRICTED_TYPES
        ]
        restrictions.append(self.restrictions.read(page_id))
        acl = effective_acl(restrictions, space.key)
        self._no_email.update(p for p in acl if p.startswith("user:confluence:") and p != NOBODY)
        crumbs = [t for a in chain if (t := self._title(str(a["id"]), a["type"], stubs))]
        ids = [str(a["id"]) for a in chain]
        folders = {ids[n]: [a["type"], ids[:n]] for n, a in enumerate(chain) if a["type"] != "page"}
        return acl, crumbs, folders

    def _build(self, item: dict[str, Any], listing: Listing) -> Built:
        """A page's documents, failures and skips, and what the checkpoint keeps of it."""
        stub = PageStub.of(item)
        doc_id = page_doc_id(stub.id)
        space = listing.spaces.get(stub.space_id) or Space(stub.space_id, stub.space_id, stub.space_id)
        built = Built()
        out = built.out
        crumbs = [space.name or space.key]
        try:
            acl, titles, built.folders = self._acl(stub.id, space, listing.stubs)
            crumbs += titles
        except UnknownAncestor:  # fail closed: restrictions of an unknown kind of content cannot be known
            acl, built.complete = [NOBODY], False
            out.append(Skipped(source=SOURCE, reason=UNKNOWN_ANCESTOR))
        except ConfluenceError as exc:  # fail closed: unknown restrictions hide the page from everyone
            acl, built.complete = [NOBODY], False
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
            comments, built.comments = self._comments(stub.id)
        except ConfluenceError as exc:
            comments, built.complete = [], False
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
        attachments = built.attachments
        try:
            for att in self.client.paginate(f"/api/v2/pages/{stub.id}/attachments", {"limit": self.page_size}):
                att_id = attachment_doc_id(str(att.get("id")))
                try:
                    doc = attachment_document(self.client, att, page, self.max_file_mb)
                    self._seen(doc.updated_at if doc else None)
                except ConfluenceError as exc:
                    attachments.add(att_id)
                    built.complete = False
                    out.append(ConnectorFailure(source=SOURCE, document_id=att_id, message=f"attachment: {exc}"))
                    continue
                if doc is not None:
                    attachments.add(doc.id)
                    out.append(doc)
        except ConfluenceError as exc:
            built.complete = False
            out.append(ConnectorFailure(source=SOURCE, document_id=doc_id, message=f"page {stub.id}: {exc}"))
        return built

    # --- capabilities ------------------------------------------------------------------
    def poll(
        self, checkpoint: Checkpoint | None
    ) -> Generator[Document | DocumentDeleted | ConnectorFailure | Skipped, None, Checkpoint]:
        """Pages and attachments added, changed or moved since ``checkpoint``; deletions of those gone."""
        old = checkpoint or {}
        old_pages: dict[str, Any] = old["pages"] if isinstance(old.get("pages"), dict) else {}
        self._last_ids = None
        self._newest = None
        self._no_email = set()
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
                changed, cql_newest, window = changed_since(
                    self.client, self._scope(), since, self.overlap, zone, old.get("window") or {}
                )
                newest = max(newest, cql_newest or newest)
            except ConfluenceError as exc:
                yield ConnectorFailure(source=SOURCE, message=f"CQL search failed, re-reading every page: {exc}")
                changed = set(stubs)
        old_folders: Folders = old["folders"] if isinstance(old.get("folders"), dict) else {}
        moved = moved_pages(stubs, old_pages)
        if checkpoint is not None:
            moved |= yield from tree_changes(self.client, self.page_size, stubs, old_pages, old_folders)
        folders = dict(old_folders)
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
                built = self._build(items[pid], listing)
                yield from built.out
                stub = stubs[pid]
                kept = set(entry.get("a", []))
                if built.complete:
                    for gone in sorted(kept - built.attachments):
                        yield DocumentDeleted(document_id=gone)
                    kept = set()
                complete_run = complete_run and built.complete
                folders.update(built.folders)
                new_pages[pid] = {
                    "v": stub.version if built.complete else -1,
                    "p": stub.parent_id,
                    "s": listing.spaces.get(stub.space_id, Space("", "", "")).key,
                    "a": sorted(built.attachments | kept),
                    **({"c": built.comments} if built.comments else {}),
                    **({"f": sorted(built.folders)} if built.folders else {}),
                }
        for pid, entry in old_pages.items():
            if pid in stubs:
                continue
            if entry.get("s") in listing.empty:
                new_pages[pid] = entry
                continue
            for gone in [page_doc_id(pid), *entry.get("a", [])]:
                yield DocumentDeleted(document_id=gone)
        if self._no_email:
            yield Skipped(source=SOURCE, reason=NO_EMAIL, count=len(self._no_email))
        for pid, entry in new_pages.items():
            ids.add(page_doc_id(pid))
            ids.update(entry.get("a", []))
        used = {fid for entry in new_pages.values() for fid in entry.get("f", [])}
        self._last_ids = ids if complete_run and checkpoint is None else None
        newest = max(newest, self._newest or newest)
        since_out = max(newest, since) if since else newest
        return {
            "since": since_out.isoformat(),
            "pages": new_pages,
            "folders": {fid: data for fid, data in folders.items() if fid in used},
            "window": window,
            "format": 1,
        }

    def load_all(self) -> Iterator[Document | ConnectorFailure | Skipped]:
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


def build(config: ConfluenceConfig, settings: Settings) -> ConfluenceConnector:
    """The connector for ``config``; SourceError names what is missing."""
    if not config.base_url:
        raise SourceError(
            "a confluence source needs its site: options.base_url or ASKDOCS_CONFLUENCE_BASE_URL "
            "(e.g. https://your-site.atlassian.net)"
        )
    token = config.api_token.get_secret_value() if config.api_token else None
    bearer = config.bearer_token.get_secret_value() if config.bearer_token else None
    if not config.spaces and not config.cql:
        raise SourceError(
            "a confluence source needs a scope: options.spaces (space keys) or options.cql "
            "(or ASKDOCS_CONFLUENCE_SPACES / ASKDOCS_CONFLUENCE_CQL)"
        )
    if not bearer and not (config.email and token):
        raise SourceError(
            "a confluence source needs credentials.email and credentials.api_token, or credentials.bearer_token "
            "(or ASKDOCS_CONFLUENCE_EMAIL + ASKDOCS_CONFLUENCE_API_TOKEN / ASKDOCS_CONFLUENCE_BEARER_TOKEN)"
        )
    client = ConfluenceClient(config.base_url, email=config.email, api_token=token, bearer_token=bearer)
    connector = ConfluenceConnector(
        client, spaces=config.spaces, cql=config.cql, max_file_mb=settings.extract_max_file_mb
    )
    connector.account_emails = load_account_emails(config.account_emails)
    return connector
