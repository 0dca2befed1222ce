"""Google identities and permissions: Directory groups (nested) and domain users, Drive sharing without content.

``identities`` reads the Admin SDK Directory with domain-wide delegation, impersonating an administrator
(``google_directory_admin``; scopes ``admin.directory.group.readonly`` and ``admin.directory.user.readonly``): every
group as ``group:google:<email>`` with its members (``USER`` -> ``user:<email>``, ``GROUP`` -> the nested group,
``CUSTOMER`` -> everyone in the organisation's domains), and every user as a member of ``group:domain:<domain>``, the
principal Drive's domain sharing gives. Without a Directory administrator configured it syncs nothing.

``permissions`` lists the files in scope with their sharing (the listing the content sync uses, no export or
download) and gives each indexed file its ACL; a file the listing no longer has gets no answer (hidden until the next
content sync removes it), a file whose sharing cannot be read is a failure (hidden).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

from askdocs.connectors.base import ConnectorFailure, DocumentAcl
from askdocs.connectors.google.drive import DriveClient, DriveError
from askdocs.connectors.google.sharing import Sharing, UnreadableSharing
from askdocs.identity import EMAIL, IdentitySnapshot

log = logging.getLogger(__name__)
DIRECTORY_SCOPES = [
    "https://www.googleapis.com/auth/admin.directory.group.readonly",
    "https://www.googleapis.com/auth/admin.directory.user.readonly",
]
GROUP_PREFIX = "group:google:"
MAX_PAGES = 100_000


def domain_principal(email: str) -> str:
    """The principal Drive's ``type=domain`` sharing gives to everyone with an e-mail at that domain."""
    return f"group:domain:{email.rpartition('@')[2].lower()}"


class GoogleIdentity:
    """The identity and permission capabilities of ``GoogleDocsConnector`` (a mixin over its Drive reader)."""

    source: str
    directory: DriveClient | None = None  # Directory API client impersonating an administrator
    sharing: Sharing  # the reader's sharing reader (limited-access folders, unreadable sharing)

    def _walk(self, folders: dict[str, list[str]]) -> Iterator[dict[str, Any]]:
        raise NotImplementedError

    def _directory_pages(self, resource: str, key: str, **params: Any) -> Iterator[dict[str, Any]]:
        client = self.directory
        assert client is not None
        for _ in range(MAX_PAGES):
            page = client.call(lambda api: getattr(api, resource)().list(**params), api="admin")
            yield from page.get(key) or []
            if not page.get("nextPageToken"):
                return
            params["pageToken"] = page["nextPageToken"]
        raise DriveError(0, "tooManyPages", f"{resource}.list returned too many pages")

    def identities(self) -> IdentitySnapshot:
        """Directory groups with members and domain users; raises ``DriveError`` when the Directory fails."""
        snapshot = IdentitySnapshot()
        if self.directory is None:
            log.info("no ASKDOCS_GOOGLE_DIRECTORY_ADMIN: Google groups are not synced")
            return snapshot
        domains: set[str] = set()
        for user in self._directory_pages("users", "users", customer="my_customer", maxResults=500):
            email = str(user.get("primaryEmail") or "").strip().lower()
            if EMAIL.match(email) and not user.get("suspended"):
                snapshot.add_member(domain_principal(email), f"user:{email}")
                domains.add(domain_principal(email))
        for group in self._directory_pages("groups", "groups", customer="my_customer", maxResults=200):
            group_email = str(group.get("email") or "").strip().lower()
            if not EMAIL.match(group_email):
                continue
            principal = f"{GROUP_PREFIX}{group_email}"
            snapshot.groups.setdefault(principal, set())
            for member in self._directory_pages("members", "members", groupKey=group["id"], maxResults=200):
                email = str(member.get("email") or "").strip().lower()
                kind = member.get("type")
                if kind == "CUSTOMER":
                    for domain in domains:
                        snapshot.add_member(principal, domain)
                elif EMAIL.match(email) and member.get("status", "ACTIVE") == "ACTIVE":
                    snapshot.add_member(principal, f"{GROUP_PREFIX}{email}" if kind == "GROUP" else f"user:{email}")
        return snapshot

    def permissions(self, documents: dict[str, dict[str, Any]]) -> Iterator[DocumentAcl | ConnectorFailure]:
        """The sharing of each indexed file, from the listing (no export or download)."""
        self.sharing.start_run()
        try:
            for file in self._walk({}):
                doc_id = f"{self.source}:{file['id']}"
                if doc_id not in documents:
                    continue
                try:
                    yield DocumentAcl(document_id=doc_id, acl=self.sharing.principals(file))
                except UnreadableSharing:
                    message = f"{file['id']}: sharing unreadable, hidden until it can be read"
                    yield ConnectorFailure(source=self.source, document_id=doc_id, message=message)
                except DriveError as exc:
                    if exc.fatal:
                        raise
                    message = f"{file['id']}: sharing unreadable, hidden until it can be read: {exc}"
                    yield ConnectorFailure(source=self.source, document_id=doc_id, message=message)
        except DriveError as exc:
            yield ConnectorFailure(source=self.source, message=f"Drive listing failed: {exc}", fatal=True)
