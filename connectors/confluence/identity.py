"""Confluence identities and permissions: groups and members, e-mails of accounts, space grants, page ACLs.

``identities`` reads every group (``/rest/api/group``) and its members (``membersByGroupId``) as
``group:confluence:<name>``; an account's e-mail comes from the member listing where the site shows it, else from the
user e-mail lookup (``/rest/api/user/email``, for apps Atlassian permits it; asked once, then skipped when refused),
else from the operator's mapping file (``confluence_account_emails``, CSV ``account_id,email``). Accounts left
without an e-mail are counted. Space permissions (v2 ``/spaces/{id}/permissions``, operation ``read``) become
grants of ``space:<KEY>`` to the groups and accounts holding them.

``permissions`` recomputes the read ACL of indexed pages and their attachments from the slim listing, ancestors and
restrictions only: no body, comment or attachment is read. A page whose restrictions cannot be read is a failure
for that page (and its attachments), which the refresh turns into a hidden document.
"""

from __future__ import annotations

import csv
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from askdocs.connectors.base import ConnectorFailure, DocumentAcl
from askdocs.connectors.confluence.acl import NOBODY, RestrictionReader, group_principal
from askdocs.connectors.confluence.client import ConfluenceClient, ConfluenceError, Listing, PageStub, Space
from askdocs.connectors.confluence.tree import UnknownAncestor
from askdocs.errors import SourceError
from askdocs.identity import EMAIL, IdentitySnapshot

log = logging.getLogger(__name__)
SOURCE = "confluence"
PAGE_PREFIX, ATTACHMENT_PREFIX = f"{SOURCE}:page:", f"{SOURCE}:attachment:"


def account_principal(account_id: str) -> str:
    """The principal of a Confluence account whose e-mail is not on the document."""
    return f"user:{SOURCE}:{account_id}"


def load_account_emails(path: Path | None) -> dict[str, str]:
    """The operator's mapping of account ids to e-mails (CSV with ``account_id,email``); {} without one."""
    if path is None:
        return {}
    try:
        with Path(path).open(encoding="utf-8-sig", newline="") as handle:
            rows = list(csv.DictReader(handle))
    except OSError as exc:
        raise SourceError(f"ASKDOCS_CONFLUENCE_ACCOUNT_EMAILS: cannot read {path}: {exc.strerror}") from None
    if rows and not {"account_id", "email"} <= set(rows[0]):
        raise SourceError(f"ASKDOCS_CONFLUENCE_ACCOUNT_EMAILS: {path} needs the columns account_id,email")
    found = {}
    for line, row in enumerate(rows, start=2):
        account, email = (row.get("account_id") or "").strip(), (row.get("email") or "").strip().lower()
        if not account or not EMAIL.match(email):
            raise SourceError(f"ASKDOCS_CONFLUENCE_ACCOUNT_EMAILS: {path} line {line}: needs an account id and e-mail")
        found[account] = email
    return found


class ConfluenceIdentity:
    """The identity and permission capabilities of ``ConfluenceConnector`` (a mixin: it uses the connector's client,
    listing, ancestors and restriction reader)."""

    client: ConfluenceClient
    space_keys: list[str]
    page_size: int
    restrictions: RestrictionReader
    account_emails: dict[str, str]

    def _list(self) -> Listing:
        raise NotImplementedError

    def _acl(
        self, page_id: str, space: Space, stubs: dict[str, PageStub]
    ) -> tuple[list[str], list[str], dict[str, list[Any]]]:
        raise NotImplementedError

    def _spaces(self, **params: str) -> dict[str, Space]:
        raise NotImplementedError

    # --- identity sync -----------------------------------------------------------------
    def identities(self) -> IdentitySnapshot:
        """Groups, members, account e-mails and space grants; raises ``ConfluenceError`` when a listing fails."""
        snapshot = IdentitySnapshot()
        lookup = _EmailLookup(self.client, self.account_emails)
        group_names: dict[str, str] = {}
        for group in self.client.paginate("/rest/api/group", {"limit": 200}):
            principal = group_principal(group)
            if principal is None:
                continue
            group_names[str(group.get("id") or "")] = principal
            snapshot.groups.setdefault(principal, set())
            if not group.get("id"):
                continue
            path = f"/rest/api/group/{group['id']}/membersByGroupId"
            for member in self.client.paginate(path, {"limit": 200}):
                account = str(member.get("accountId") or "")
                if account:
                    snapshot.add_member(principal, account_principal(account))
                    lookup.note(account, str(member.get("email") or ""))
        spaces = self._spaces(keys=",".join(self.space_keys)) if self.space_keys else self._list().spaces
        for space in spaces.values():
            grant = f"space:{space.key}"
            for permission in self.client.paginate(f"/api/v2/spaces/{space.id}/permissions", {"limit": 250}):
                operation, holder = permission.get("operation") or {}, permission.get("principal") or {}
                if operation.get("key") != "read" or operation.get("targetType") not in (None, "space"):
                    continue
                kind, holder_id = holder.get("type"), str(holder.get("id") or "")
                if kind == "group" and holder_id in group_names:
                    snapshot.grants.setdefault(grant, set()).add(group_names[holder_id])
                elif kind == "user" and holder_id:
                    snapshot.grants.setdefault(grant, set()).add(account_principal(holder_id))
                    lookup.note(holder_id, "")
        snapshot.accounts, snapshot.unresolved = lookup.resolve()
        return snapshot

    # --- permission refresh ------------------------------------------------------------
    def permissions(self, documents: dict[str, dict[str, Any]]) -> Iterator[DocumentAcl | ConnectorFailure]:
        """The current ACL of each indexed document (doc id -> its stored metadata), without reading content."""
        self.restrictions.clear()
        try:
            listing = self._list()
        except ConfluenceError as exc:
            yield ConnectorFailure(source=SOURCE, message=f"Confluence listing failed: {exc}", fatal=True)
            return
        pages: dict[str, list[str]] = {}
        for doc_id, metadata in documents.items():
            if doc_id.startswith(PAGE_PREFIX):
                pages.setdefault(doc_id[len(PAGE_PREFIX) :], []).insert(0, doc_id)
            elif doc_id.startswith(ATTACHMENT_PREFIX) and metadata.get("page_id"):
                pages.setdefault(str(metadata["page_id"]), []).append(doc_id)
            else:
                yield ConnectorFailure(source=SOURCE, document_id=doc_id, message="not a Confluence page or attachment")
        for page_id, doc_ids in pages.items():
            stub = listing.stubs.get(page_id)
            space = listing.spaces.get(stub.space_id) if stub else None
            if stub is None or space is None:  # gone, archived or in a space the API user no longer lists
                yield from (DocumentAcl(document_id=d, acl=[NOBODY]) for d in doc_ids)
                continue
            try:
                acl = self._acl(page_id, space, listing.stubs)[0]
            except UnknownAncestor:  # restrictions of an unknown kind of content cannot be known: hidden
                acl = [NOBODY]
            except ConfluenceError as exc:
                message = f"page {page_id}: restrictions unreadable, hidden until they can be read: {exc}"
                yield from (ConnectorFailure(source=SOURCE, document_id=d, message=message) for d in doc_ids)
                continue
            yield from (DocumentAcl(document_id=d, acl=acl) for d in doc_ids)


class _EmailLookup:
    """Account id -> e-mail: shown by the site, else the e-mail lookup endpoint (while permitted), else the map."""

    def __init__(self, client: ConfluenceClient, mapping: dict[str, str]) -> None:
        self.client = client
        self.mapping = mapping
        self.shown: dict[str, str] = {}
        self.permitted = True

    def note(self, account: str, email: str) -> None:
        email = email.strip().lower()
        if EMAIL.match(email):
            self.shown[account] = email
        else:
            self.shown.setdefault(account, "")

    def resolve(self) -> tuple[dict[str, str], set[str]]:
        accounts, unresolved = {}, set()
        for account, shown in sorted(self.shown.items()):
            email = shown or self._asked(account) or self.mapping.get(account, "")
            if email:
                accounts[account_principal(account)] = email
            else:
                unresolved.add(account_principal(account))
        return accounts, unresolved

    def _asked(self, account: str) -> str:
        if not self.permitted:
            return ""
        try:
            email = str(self.client.get_json("/rest/api/user/email", {"accountId": account}).get("email") or "")
        except ConfluenceError as exc:
            if exc.status == 404:  # no such account
                return ""
            if exc.status in (401, 403):  # not an app Atlassian lets read e-mails: use the mapping
                log.info("Confluence e-mail lookup not permitted (HTTP %s); using the account mapping", exc.status)
                self.permitted = False
                return ""
            raise
        email = email.strip().lower()
        return email if EMAIL.match(email) else ""
