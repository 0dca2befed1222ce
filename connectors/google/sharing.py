"""Who may read a Drive file, as askdocs principals: its permissions, limited-access folders, unreadable sharing.

What the Drive v3 discovery document says, and what follows from it here:

- ``File.permissions`` is "only available if the requesting user can share the file" and is "not populated for
  items in shared drives": then ``permissions.list`` is asked, which answers 403 to a caller who cannot share.
- Unreadable sharing fails closed: a My Drive file is indexed for its owners only; a shared-drive item (no owners)
  is not indexed. Both are counted (``Skipped``) so the sync report shows them. With ``use_domain_admin_access``
  a shared-drive item's readers are the shared drive's members, listed with ``useDomainAdminAccess`` ("the file
  ID parameter refers to a shared drive" and "the requester is an administrator of the domain").
- ``inheritedPermissionsDisabled`` (a limited-access folder): "only organizers, owners, and users with
  permissions added directly on the item can access it". Below such a folder an inherited permission grants
  access only to principals the folder itself grants; a permission not marked direct counts as inherited.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from askdocs.connectors.google.content import PERMISSION_FIELDS, owner_principals, principals_from_permissions
from askdocs.connectors.google.drive import DriveError

log = logging.getLogger(__name__)

UNREADABLE = "unreadable permissions"
OWNERS_ONLY = "unreadable permissions (indexed for owners only)"
FOLDER_FIELDS = (
    f"id,mimeType,parents,driveId,inheritedPermissionsDisabled,owners(emailAddress),permissions({PERMISSION_FIELDS})"
)
MAX_DEPTH = 200  # folder nesting followed upwards before giving up (fail closed)
MAX_PERMISSION_PAGES = 10_000
Call = Callable[..., Any]


class UnreadableSharing(Exception):
    """The file's sharing cannot be read and nobody can be named as its reader."""


class Sharing:
    """Reads sharing through ``call(resource, method, **params)``; caches folders and drive members per run."""

    def __init__(self, call: Call, link_sharing_public: bool = False, use_domain_admin_access: bool = False) -> None:
        self.call = call
        self.link_sharing_public = link_sharing_public
        self.use_domain_admin_access = use_domain_admin_access
        self.owners_only = 0  # files indexed for their owners only in this run
        self._folders: dict[str, dict[str, Any] | None] = {}
        self._members: dict[str, list[dict[str, Any]] | None] = {}

    def start_run(self) -> None:
        """Forget what the last run read (sharing and folders change between runs)."""
        self.owners_only = 0
        self._folders.clear()
        self._members.clear()

    def remember(self, folder: dict[str, Any], replace: bool = False) -> None:
        """A folder already read by a listing or a change (saves a ``files.get`` when climbing to it)."""
        if replace:
            self._folders[folder["id"]] = folder
        else:
            self._folders.setdefault(folder["id"], folder)

    def limited_folders(self) -> set[str]:
        """The folders read in this run that have inherited permissions disabled."""
        return {fid for fid, meta in self._folders.items() if meta and meta.get("inheritedPermissionsDisabled")}

    def principals(self, file: dict[str, Any], for_below: bool = False) -> list[str]:
        """The file's readers; raises ``UnreadableSharing`` when they cannot be known (fail closed).
        ``for_below``: a folder read for the documents below it (not counted in the report)."""
        permissions = self._permissions_of(file)
        if permissions is None:
            owners = owner_principals(file)
            if not owners:
                raise UnreadableSharing(file["id"])
            log.info("sharing of %s is not readable; restricted to its owners", file["id"])
            self.owners_only += 0 if for_below else 1
            return owners
        direct = principals_from_permissions(permissions, self.link_sharing_public, limited=True)
        if file.get("inheritedPermissionsDisabled"):
            return direct
        every = principals_from_permissions(permissions, self.link_sharing_public)
        limited_folder = self._limited_ancestor(file)
        if limited_folder is None:
            return every
        try:
            through_folder = set(self.principals(limited_folder, for_below=True))
        except UnreadableSharing:
            through_folder = set()
        return sorted(set(direct) | (set(every) & through_folder))

    # --- reading ---------------------------------------------------------------------------------
    def _permissions_of(self, file: dict[str, Any]) -> list[dict[str, Any]] | None:
        """The file's permissions, or None when the caller may not read them."""
        if file.get("permissions") is not None:
            return list(file["permissions"])
        try:
            return self._list(file["id"], admin=False)
        except DriveError as exc:
            if exc.fatal or exc.status not in (403, 404):
                raise
        drive_id = file.get("driveId")
        if not (self.use_domain_admin_access and drive_id):
            return None
        members = self._drive_members(str(drive_id))
        if members is None:
            return None
        # The drive's members reach the item by inheritance, never directly.
        return [dict(m, permissionDetails=[{"inherited": True, "inheritedFrom": drive_id}]) for m in members]

    def _drive_members(self, drive_id: str) -> list[dict[str, Any]] | None:
        if drive_id not in self._members:
            try:
                self._members[drive_id] = self._list(drive_id, admin=True)
            except DriveError as exc:
                if exc.fatal or exc.status not in (403, 404):
                    raise
                log.info("members of shared drive %s not readable as domain administrator (%s)", drive_id, exc.reason)
                self._members[drive_id] = None
        return self._members[drive_id]

    def _list(self, file_id: str, admin: bool) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        params: dict[str, Any] = {
            "fileId": file_id,
            "supportsAllDrives": True,
            "pageSize": 100,
            "fields": f"nextPageToken,permissions({PERMISSION_FIELDS})",
        }
        if admin:
            params["useDomainAdminAccess"] = True
        for _ in range(MAX_PERMISSION_PAGES):
            page = self.call("permissions", "list", **params)
            found.extend(page.get("permissions") or [])
            if not page.get("nextPageToken"):
                return found
            params["pageToken"] = page["nextPageToken"]
        raise DriveError(0, "tooManyPages", "permissions.list returned too many pages")

    def _folder(self, folder_id: str) -> dict[str, Any] | None:
        """A folder's metadata (None: not a folder the caller can read, e.g. a shared drive's root id)."""
        if folder_id not in self._folders:
            try:
                meta = self.call("files", "get", fileId=folder_id, fields=FOLDER_FIELDS, supportsAllDrives=True)
            except DriveError as exc:
                if exc.fatal or exc.status not in (403, 404):
                    raise
                meta = None
            self._folders[folder_id] = meta
        return self._folders[folder_id]

    def _limited_ancestor(self, file: dict[str, Any]) -> dict[str, Any] | None:
        """The nearest folder above ``file`` with inherited permissions disabled, if any."""
        seen: set[str] = set()
        queue = list(file.get("parents") or [])
        for _ in range(MAX_DEPTH):
            if not queue:
                return None
            parent = queue.pop(0)
            if parent in seen:
                continue
            seen.add(parent)
            folder = self._folder(parent)
            if folder is None:
                continue
            if folder.get("inheritedPermissionsDisabled"):
                return folder
            queue.extend(folder.get("parents") or [])
        raise DriveError(0, "tooDeep", f"folders above {file['id']} nest deeper than {MAX_DEPTH}")
