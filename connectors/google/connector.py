"""Google Docs connector: Drive v3 listing and export, the Changes API for incremental sync, sharing as ACL.

The first poll (no checkpoint) takes a ``changes.getStartPageToken`` token, then lists every document in
scope (My Drive, shared drives, or under ``folder_ids`` recursively) and exports it. Later polls read
``changes.list`` from the stored token until ``newStartPageToken``, so edits, trashing, removals, moves
between folders and sharing changes are all seen. The checkpoint holds the page token, the in-scope folder
tree and the indexed files, and the files whose fetch failed (retried on the next poll).
"""

from __future__ import annotations

import hashlib
import json
from collections import deque
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field
from typing import Any

from askdocs.connectors.base import Checkpoint, ConnectorFailure, DocumentDeleted, Skipped
from askdocs.connectors.google.config import GoogleDocsConfig
from askdocs.connectors.google.content import FILE_FIELDS, FOLDER
from askdocs.connectors.google.drive import DriveClient, DriveError, RetryPolicy, load_credentials
from askdocs.connectors.google.identity import DIRECTORY_SCOPES, GoogleIdentity
from askdocs.connectors.google.reader import MAX_PAGES, DriveReader
from askdocs.errors import SourceError
from askdocs.models import Document
from askdocs.settings import Settings

SOURCE = "google-docs"
CHECKPOINT_VERSION = 1
CHANGE_FIELDS = f"nextPageToken,newStartPageToken,changes(changeType,removed,fileId,time,file({FILE_FIELDS}))"
Item = Document | DocumentDeleted | ConnectorFailure | Skipped
Change = Generator[Item, None, None]


@dataclass
class _State:
    """What a checkpoint remembers besides the page token."""

    page_token: str
    folders: dict[str, list[str]] = field(default_factory=dict)  # in-scope folder -> its parents
    docs: dict[str, list[str]] = field(default_factory=dict)  # indexed file -> its parents
    retry: set[str] = field(default_factory=set)  # files whose last fetch failed
    limited: set[str] = field(default_factory=set)  # folders seen with inherited permissions disabled


class GoogleDocsConnector(DriveReader, GoogleIdentity):
    """Polls (Changes API), loads and lists Google Docs; document ids are ``google-docs:<file id>``."""

    source = SOURCE

    # --- capabilities --------------------------------------------------------------------------------
    def load_all(self) -> Iterator[Document | ConnectorFailure | Skipped]:
        """Every document in scope, exported."""
        self.sharing.start_run()
        try:
            for file in self._walk({}):
                item = self._fetch(file)
                if item is not None:
                    yield item
        except DriveError as exc:
            yield self._fatal(exc)
            return
        if self._incomplete:
            yield self._incomplete_failure()
        yield from self._owners_only()

    def list_ids(self) -> Iterator[str | ConnectorFailure]:
        """Ids of every document in scope (listing only, no export)."""
        try:
            for file in self._walk({}):
                yield f"{self.source}:{file['id']}"
        except DriveError as exc:
            yield self._fatal(exc)
            return
        if self._incomplete:
            yield self._incomplete_failure()

    def poll(self, checkpoint: Checkpoint | None) -> Generator[Item, None, Checkpoint]:
        """Everything (no or foreign checkpoint) or the changes since the stored page token."""
        old = checkpoint or {}
        self.sharing.start_run()
        try:
            state = self._restore(old)
            if state is None:
                new = yield from self._full_run(old)
            else:
                new = yield from self._changes_run(state)
        except DriveError as exc:
            yield self._fatal(exc)
            return old
        yield from self._owners_only()
        return new

    # --- runs --------------------------------------------------------------------------------------
    def _scope_key(self) -> str:
        scope = [self.folder_ids, self.include_shared_drives, self.include_sheets_slides, self.link_sharing_public]
        if self.sharing.use_domain_admin_access:  # readers change: a full run (kept out of older scope keys)
            scope.append("domain-admin")
        return hashlib.sha256(json.dumps(scope).encode()).hexdigest()[:16]

    def _restore(self, old: Checkpoint) -> _State | None:
        if old.get("v") != CHECKPOINT_VERSION or old.get("scope") != self._scope_key():
            return None
        if not isinstance(old.get("page_token"), str):
            return None
        return _State(
            old["page_token"],
            dict(old.get("folders") or {}),
            dict(old.get("docs") or {}),
            set(old.get("retry") or []),
            set(old.get("limited") or []),
        )

    def _checkpoint(self, state: _State) -> Checkpoint:
        return {
            "v": CHECKPOINT_VERSION,
            "scope": self._scope_key(),
            "page_token": state.page_token,
            "folders": state.folders,
            "docs": state.docs,
            "retry": sorted(state.retry),
            "limited": sorted(state.limited | self.sharing.limited_folders()),
        }

    def _full_run(self, old: Checkpoint) -> Generator[Item, None, Checkpoint]:
        # The token comes first, so changes made while listing are seen by the next poll.
        token = self._call("changes", "getStartPageToken", supportsAllDrives=True)["startPageToken"]
        state = _State(str(token))
        for file in self._walk(state.folders):
            yield from self._index(file, state)
        if self._incomplete:
            yield self._incomplete_failure()
        # A changed scope: files indexed under the old one and not listed now are gone.
        for file_id in sorted(set(old.get("docs") or {}) - set(state.docs)):
            yield DocumentDeleted(document_id=f"{self.source}:{file_id}")
        return self._checkpoint(state)

    def _changes_run(self, state: _State) -> Generator[Item, None, Checkpoint]:
        token, handled = state.page_token, set()
        params: dict[str, Any] = {
            "pageSize": self.page_size,
            "includeRemoved": True,
            "spaces": "drive",
            "supportsAllDrives": True,
            "includeItemsFromAllDrives": self.include_shared_drives,
            "fields": CHANGE_FIELDS,
        }
        for _ in range(MAX_PAGES):
            try:
                page = self._call("changes", "list", pageToken=token, **params)
            except DriveError as exc:
                if exc.status in (400, 404) and not exc.fatal:
                    raise DriveError(
                        exc.status, exc.reason, "the stored page token was rejected; run with --full", True
                    ) from None
                raise
            for change in page.get("changes") or []:
                handled.add(change.get("fileId"))
                yield from self._apply(change, state)
            if page.get("newStartPageToken"):
                token = page["newStartPageToken"]
                break
            if not page.get("nextPageToken"):
                raise DriveError(0, "badChangeList", "changes.list returned no page token")
            token = page["nextPageToken"]
        else:
            raise DriveError(0, "tooManyPages", f"changes.list returned more than {MAX_PAGES} pages")
        for file_id in sorted(state.retry - handled):
            yield from self._retry(file_id, state)
        state.page_token = str(token)
        return self._checkpoint(state)

    # --- applying changes --------------------------------------------------------------------------
    def _index(self, file: dict[str, Any], state: _State) -> Change:
        item = self._fetch(file)
        file_id = file["id"]
        if item is None:
            yield from self._forget(file_id, state, explicit=True)
            return
        if isinstance(item, Skipped):  # not retried until the file changes; an older indexed copy is dropped
            yield from self._forget(file_id, state, explicit=True)
            yield item
            return
        state.docs[file_id] = list(file.get("parents") or [])
        if isinstance(item, ConnectorFailure):
            state.retry.add(file_id)
        else:
            state.retry.discard(file_id)
        yield item

    def _in_scope(self, file: dict[str, Any], state: _State) -> bool:
        if not self.include_shared_drives and file.get("driveId"):
            return False
        return not self.folder_ids or any(p in state.folders for p in file.get("parents") or [])

    def _apply(self, change: dict[str, Any], state: _State) -> Change:
        file_id, file = change.get("fileId"), change.get("file")
        if change.get("changeType", "file") != "file" or not file_id:
            return
        if change.get("removed") or not file:
            yield from self._forget(file_id, state, explicit=True)
        elif file.get("mimeType") == FOLDER:
            yield from self._folder_changed(file, state)
        elif file.get("mimeType") not in self._mime_types():
            return
        elif file.get("trashed") or not self._in_scope(file, state):
            yield from self._forget(file_id, state, explicit=True)
        else:
            yield from self._index(file, state)

    def _forget(self, file_id: str, state: _State, explicit: bool) -> Change:
        if file_id in state.folders:
            yield from self._folder_gone(file_id, state)
            return
        known = state.docs.pop(file_id, None) is not None
        state.retry.discard(file_id)
        if known or explicit:  # unknown ids too: a killed earlier run may have written them
            yield DocumentDeleted(document_id=f"{self.source}:{file_id}")

    def _folder_changed(self, folder: dict[str, Any], state: _State) -> Change:
        yield from self._limited_changed(folder, state)
        if not self.folder_ids:
            return
        folder_id, parents = folder["id"], list(folder.get("parents") or [])
        now_in = not folder.get("trashed") and (
            folder_id in self.folder_ids or any(p in state.folders for p in parents if p != folder_id)
        )
        was_in = folder_id in state.folders
        if was_in and not now_in:
            yield from self._folder_gone(folder_id, state)
        elif now_in and not was_in:
            state.folders[folder_id] = parents
            for file in self._crawl(deque([folder_id]), state.folders):
                yield from self._index(file, state)
        elif now_in:
            state.folders[folder_id] = parents

    def _limited_changed(self, folder: dict[str, Any], state: _State) -> Change:
        """A folder that became (or stopped being) limited-access: the indexed documents below it are read again,
        as their inherited permissions now grant more or less."""
        folder_id = folder["id"]
        limited = bool(folder.get("inheritedPermissionsDisabled")) and not folder.get("trashed")
        self.sharing.remember(folder, replace=True)
        if limited == (folder_id in state.limited):
            return
        if limited:
            state.limited.add(folder_id)
        else:
            state.limited.discard(folder_id)
        for file in self._crawl(deque([folder_id]), {}):
            if file["id"] in state.docs:
                yield from self._index(file, state)

    def _folder_gone(self, folder_id: str, state: _State) -> Change:
        """Drop a folder, the folders that were in scope only through it, and the documents under them."""
        state.folders.pop(folder_id, None)
        changed = True
        while changed:  # removes at least one folder per extra pass, so this ends
            changed = False
            for fid, parents in list(state.folders.items()):
                if fid not in self.folder_ids and not any(p in state.folders for p in parents):
                    del state.folders[fid]
                    changed = True
        for file_id, parents in list(state.docs.items()):
            if not any(p in state.folders for p in parents):
                del state.docs[file_id]
                state.retry.discard(file_id)
                yield DocumentDeleted(document_id=f"{self.source}:{file_id}")

    def _retry(self, file_id: str, state: _State) -> Change:
        try:
            file = self._call("files", "get", fileId=file_id, fields=FILE_FIELDS, supportsAllDrives=True)
        except DriveError as exc:
            if exc.fatal:
                raise
            if exc.status == 404:
                yield from self._forget(file_id, state, explicit=True)
                return
            yield ConnectorFailure(
                source=self.source, document_id=f"{self.source}:{file_id}", message=f"{file_id}: {exc}"
            )
            return
        yield from self._apply({"changeType": "file", "fileId": file_id, "file": file}, state)

    def _fatal(self, exc: DriveError) -> ConnectorFailure:
        return ConnectorFailure(source=self.source, fatal=True, message=f"Google Drive: {exc}")

    def _incomplete_failure(self) -> ConnectorFailure:
        return ConnectorFailure(
            source=self.source, message="Google Drive reported an incomplete listing (incompleteSearch)"
        )


def build(config: GoogleDocsConfig, settings: Settings) -> GoogleDocsConnector:
    """The connector for ``config``; SourceError when credentials are missing or unreadable."""
    if config.credentials_file is None:
        raise SourceError(
            "a google-docs source needs a service-account key or an authorized-user JSON: "
            "options.credentials_file or ASKDOCS_GOOGLE_CREDENTIALS_FILE"
        )
    credentials = load_credentials(config.credentials_file, config.subject)
    retry = RetryPolicy(max_retries=config.max_retries, base_delay=config.retry_base_seconds)
    client = DriveClient(credentials, config.api_endpoint, retry)
    connector = GoogleDocsConnector(
        client,
        folder_ids=config.folder_ids,
        include_shared_drives=config.include_shared_drives,
        include_sheets_slides=config.include_sheets_slides,
        link_sharing_public=config.link_sharing_public,
        include_files=config.include_files,
        max_file_mb=settings.extract_max_file_mb,
        use_domain_admin_access=config.use_domain_admin_access,
    )
    if config.directory_admin:  # the identity sync reads the Directory as this administrator
        admin = load_credentials(config.credentials_file, config.directory_admin, DIRECTORY_SCOPES)
        connector.directory = DriveClient(admin, config.api_endpoint, retry)
    return connector
