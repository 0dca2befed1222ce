"""Reading Google Drive for the Google Docs connector: listing (recursive under folders), sharing, export."""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Iterable, Iterator
from typing import Any

from askdocs.connectors.base import ConnectorFailure, Skipped
from askdocs.connectors.google.content import (
    DOC,
    EXTRACTED_EXPORTS,
    FILE_FIELDS,
    FOLDER,
    MAX_EXPORT_BYTES,
    SHEET,
    SLIDES,
    build_document,
    export_formats,
    sections_from_export,
    workbook_of,
)
from askdocs.connectors.google.drive import DriveClient, DriveError
from askdocs.connectors.google.sharing import OWNERS_ONLY, UNREADABLE, Sharing, UnreadableSharing
from askdocs.formats import EXTRACTED_MIMES, XLSX, too_big
from askdocs.models import Blob, Document

log = logging.getLogger(__name__)

MAX_PAGES = 100_000
EXPORT_LIMIT = "export limit"  # the skip reason in the sync report
EXPORT_LIMIT_REASON = "exportSizeLimitExceeded"  # Drive's 403 reason


def _quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


class DriveReader:
    """Lists the documents in scope and turns one Drive file into a document (or a failure value)."""

    source = "google-docs"

    def __init__(
        self,
        client: DriveClient,
        folder_ids: Iterable[str] = (),
        include_shared_drives: bool = True,
        include_sheets_slides: bool = False,
        link_sharing_public: bool = False,
        page_size: int = 1000,
        include_files: bool = True,
        max_file_mb: int = 50,
        use_domain_admin_access: bool = False,
    ) -> None:
        self.client = client
        self.folder_ids = sorted(set(folder_ids))
        self.include_shared_drives = include_shared_drives
        self.include_sheets_slides = include_sheets_slides
        self.page_size = max(1, min(1000, page_size))
        self.include_files = include_files
        self.max_file_mb = max_file_mb
        self.sharing = Sharing(self._call, link_sharing_public, use_domain_admin_access)
        self._incomplete = False

    @property
    def link_sharing_public(self) -> bool:
        """Whether "anyone with the link" (and "anyone in the domain with the link") counts as a grant."""
        return self.sharing.link_sharing_public

    @link_sharing_public.setter
    def link_sharing_public(self, value: bool) -> None:
        self.sharing.link_sharing_public = value

    # --- Drive calls ---------------------------------------------------------------------------------
    def _call(self, resource: str, method: str, **params: Any) -> Any:
        return self.client.call(lambda service: getattr(getattr(service, resource)(), method)(**params))

    def _mime_types(self) -> tuple[str, ...]:
        editors = (DOC, SHEET, SLIDES) if self.include_sheets_slides else (DOC,)
        return (*editors, *sorted(EXTRACTED_MIMES)) if self.include_files else editors

    def _type_clause(self, folders: bool) -> str:
        types = (*self._mime_types(), FOLDER) if folders else self._mime_types()
        return "(" + " or ".join(f"mimeType = {_quote(t)}" for t in types) + ")"

    def _list_files(self, query: str) -> Iterator[dict[str, Any]]:
        """Every file matching ``query``, page by page (explicit ``fields``: Drive's default is id/name only)."""
        params: dict[str, Any] = {
            "q": query,
            "pageSize": self.page_size,
            "fields": f"nextPageToken,incompleteSearch,files({FILE_FIELDS})",
            "supportsAllDrives": True,
            "includeItemsFromAllDrives": self.include_shared_drives,
            "corpora": "allDrives" if self.include_shared_drives else "user",
        }
        for _ in range(MAX_PAGES):
            page = self._call("files", "list", **params)
            self._incomplete = self._incomplete or bool(page.get("incompleteSearch"))
            yield from page.get("files") or []
            token = page.get("nextPageToken")
            if not token:
                return
            params["pageToken"] = token
        raise DriveError(0, "tooManyPages", f"files.list returned more than {MAX_PAGES} pages")

    def _crawl(self, queue: deque[str], folders: dict[str, list[str]]) -> Iterator[dict[str, Any]]:
        """Documents under the folders in ``queue``, recursively; adds every folder found to ``folders``."""
        seen: set[str] = set()
        while queue:  # each folder is queued once, so this ends
            parent = queue.popleft()
            for file in self._list_files(
                f"{_quote(parent)} in parents and trashed = false and {self._type_clause(True)}"
            ):
                if file.get("mimeType") == FOLDER:
                    self.sharing.remember(file)
                    if file["id"] not in folders:
                        folders[file["id"]] = file.get("parents") or []
                        queue.append(file["id"])
                elif file["id"] not in seen:
                    seen.add(file["id"])
                    yield file

    def _walk(self, folders: dict[str, list[str]]) -> Iterator[dict[str, Any]]:
        """Every document in scope; with ``folder_ids``, fills ``folders`` with the in-scope folder tree."""
        self._incomplete = False
        if not self.folder_ids:
            yield from self._list_files(f"trashed = false and {self._type_clause(False)}")
            return
        queue: deque[str] = deque()
        for root in self.folder_ids:
            meta = self._call("files", "get", fileId=root, fields="id,mimeType,trashed,parents", supportsAllDrives=True)
            if meta.get("mimeType") != FOLDER:
                raise DriveError(400, "notAFolder", f"configured folder {root} is not a folder", fatal=True)
            if not meta.get("trashed"):
                folders[root] = meta.get("parents") or []
                queue.append(root)
        yield from self._crawl(queue, folders)

    def _export(self, file: dict[str, Any]) -> tuple[bytes, str]:
        """The first export format Drive converts to and that fits the 10 MB export limit; a Doc's Markdown
        embeds its images (base64), so the HTML and plain-text fallbacks are smaller."""
        too_large = False
        for mime in export_formats(file):
            try:
                body = self._call("files", "export", fileId=file["id"], mimeType=mime)
            except DriveError as exc:
                if exc.fatal:
                    raise
                if exc.reason == EXPORT_LIMIT_REASON:
                    too_large = True
                    continue
                if exc.status == 400:  # conversion not offered: next format
                    continue
                raise
            data = body.encode("utf-8") if isinstance(body, str) else bytes(body)
            if len(data) > MAX_EXPORT_BYTES:
                too_large = True
                continue
            return data, mime
        if too_large and file.get("mimeType") == SHEET:
            return self._sheet_values(file), XLSX
        if too_large:
            raise DriveError(403, EXPORT_LIMIT_REASON, "every export format is larger than 10 MB")
        raise DriveError(400, "notExportable", f"no export format for {file.get('mimeType')}")

    def _sheet_tabs(self, file_id: str) -> dict[str, int]:
        """A Sheet's tab titles -> sheet ids, in order (Sheets API ``spreadsheets.get``)."""
        fields = "sheets.properties(sheetId,title)"
        found = self.client.call(lambda api: api.spreadsheets().get(spreadsheetId=file_id, fields=fields), api="sheets")
        props = [s.get("properties") or {} for s in found.get("sheets") or []]
        return {str(p["title"]): int(p["sheetId"]) for p in props if "title" in p and "sheetId" in p}

    def _sheet_values(self, file: dict[str, Any]) -> bytes:
        """Every tab's values from the Sheets API (no export size limit there), as an XLSX workbook, for a Sheet
        whose XLSX export is over 10 MB (the CSV export would be its first sheet only)."""
        file_id, titles = file["id"], list(self._sheet_tabs(file["id"]))
        ranges = ["'" + title.replace("'", "''") + "'" for title in titles]  # A1 notation: the whole sheet
        found = self.client.call(
            lambda api: (
                api.spreadsheets()
                .values()
                .batchGet(spreadsheetId=file_id, ranges=ranges, majorDimension="ROWS", fields="valueRanges(values)")
            ),
            api="sheets",
        )
        values = [r.get("values") or [] for r in found.get("valueRanges") or []]
        return workbook_of(list(zip(titles, values, strict=False)))

    def _place_anchors(self, file: dict[str, Any]) -> dict[str, str]:
        """A Sheet's sheet titles -> ``gid=<sheetId>`` (Sheets API), a deck's ``slide N`` -> ``slide=id.<pageId>``
        (Slides API), so a citation opens its sheet or slide; empty for files, or when the API says no."""
        kind, file_id = file.get("mimeType"), file["id"]
        try:
            if kind == SHEET:
                return {title: f"gid={sheet_id}" for title, sheet_id in self._sheet_tabs(file_id).items()}
            if kind == SLIDES:
                found = self.client.call(
                    lambda api: api.presentations().get(presentationId=file_id, fields="slides.objectId"),
                    api="slides",
                )
                ids = [str(s["objectId"]) for s in found.get("slides") or [] if s.get("objectId")]
                return {f"slide {n}": f"slide=id.{page_id}" for n, page_id in enumerate(ids, start=1)}
        except DriveError as exc:
            if exc.fatal:
                raise
            log.info("places of %s not readable (%s); links open the file", file_id, exc)
        return {}

    def _download(self, file: dict[str, Any]) -> bytes:
        """A PDF, Office or CSV file's bytes (``alt=media``)."""
        body = self._call("files", "get_media", fileId=file["id"], supportsAllDrives=True)
        return body.encode("utf-8") if isinstance(body, str) else bytes(body)

    def _fetch(self, file: dict[str, Any]) -> Document | ConnectorFailure | Skipped | None:
        """The file as a document, a per-file failure, a skip (export limit, unreadable sharing), or None when
        nobody askdocs knows may see it."""
        name = f"{file.get('name', '')} ({file['id']})"
        size = int(file.get("size") or 0)
        if file.get("mimeType") in EXTRACTED_MIMES and size > self.max_file_mb * 2**20:  # refused unread
            message = f"{name}: {too_big(size, self.max_file_mb)}"
            return ConnectorFailure(source=self.source, document_id=f"{self.source}:{file['id']}", message=message)
        try:
            acl = self.sharing.principals(file)
            if not acl:
                log.info("%s: its sharing grants no principal askdocs can represent; not indexed", file["id"])
                return None
            if file.get("mimeType") in EXTRACTED_MIMES:
                body, mime = self._download(file), str(file["mimeType"])
            else:
                body, mime = self._export(file)
        except UnreadableSharing:
            return Skipped(source=self.source, reason=UNREADABLE)
        except DriveError as exc:
            if exc.fatal:
                raise
            if exc.reason == EXPORT_LIMIT_REASON:
                log.info("%s: every export format is over Drive's 10 MB export limit; skipped", file["id"])
                return Skipped(source=self.source, reason=EXPORT_LIMIT)
            return ConnectorFailure(
                source=self.source, document_id=f"{self.source}:{file['id']}", message=f"{name}: {exc}"
            )
        title = file.get("name") or file["id"]
        if mime in EXTRACTED_MIMES or mime in EXTRACTED_EXPORTS:
            anchors = self._place_anchors(file)
            return build_document(self.source, file, [], acl, mime, Blob.of(title, body, mime, anchors))
        return build_document(self.source, file, sections_from_export(body, mime, title), acl, mime)

    def _owners_only(self) -> Iterator[Skipped]:
        """This run's files indexed for their owners only (sharing unreadable), as one count for the report."""
        if self.sharing.owners_only:
            yield Skipped(source=self.source, reason=OWNERS_ONLY, count=self.sharing.owners_only)
