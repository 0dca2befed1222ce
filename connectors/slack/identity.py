"""Slack identities and permissions: accounts with e-mails, user groups, and thread ACLs from channel membership.

``identities`` reads ``users.list`` (e-mails need ``users:read.email``) as ``user:slack:<ID>`` accounts resolving to
their e-mail, and user groups (``usergroups.list`` with ``include_users``, scope ``usergroups:read``) as
``group:slack:<ID>``; a workspace without user groups (or without the scope) simply has none. ``permissions``
recomputes each indexed thread's ACL from its channel (public: ``public``; private: the members now), reading no
message. A thread whose channel is gone or no longer readable gets no answer, which the refresh turns into hidden.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

from askdocs.connectors.base import ConnectorFailure, DocumentAcl
from askdocs.connectors.slack.client import SlackError
from askdocs.connectors.slack.markup import SOURCE, Directory
from askdocs.identity import IdentitySnapshot

log = logging.getLogger(__name__)
GROUP_SCOPE_ERRORS = {"missing_scope", "not_allowed_token_type", "paid_teams_only", "feature_not_enabled"}


def account_principal(user_id: str) -> str:
    """The principal of a Slack account whose e-mail is not known."""
    return f"user:{SOURCE}:{user_id}"


class SlackIdentity:
    """The identity and permission capabilities of ``SlackConnector`` (a mixin over its Web API helpers)."""

    directory: Directory

    def _pages(self, method: str, key: str, **params: Any) -> Iterator[Any]:
        raise NotImplementedError

    def _call(self, method: str, **params: Any) -> dict[str, Any]:
        raise NotImplementedError

    def _start(self) -> Any:
        raise NotImplementedError

    def _acl(self, channel: Any) -> list[str]:
        raise NotImplementedError

    def identities(self) -> IdentitySnapshot:
        """Accounts and user groups; raises ``SlackError`` when the user list cannot be read."""
        snapshot = IdentitySnapshot()
        directory = Directory()
        for user in self._pages("users.list", "members"):
            directory.add_user(user)
            uid = str(user.get("id") or "")
            if not uid or user.get("is_bot") or user.get("deleted"):
                continue
            if uid in directory.emails:
                snapshot.accounts[account_principal(uid)] = directory.emails[uid]
            else:
                snapshot.unresolved.add(account_principal(uid))
        try:
            groups = self._call("usergroups.list", include_users=True).get("usergroups") or []
        except SlackError as exc:
            if exc.error not in GROUP_SCOPE_ERRORS:
                raise
            log.info("Slack user groups not read (%s): grant usergroups:read to use them", exc.error)
            groups = []
        for group in groups:
            principal = f"group:{SOURCE}:{group.get('id')}"
            snapshot.groups.setdefault(principal, set())
            for uid in group.get("users") or []:
                snapshot.add_member(principal, directory.principal(str(uid)))
        return snapshot

    def permissions(self, documents: dict[str, dict[str, Any]]) -> Iterator[DocumentAcl | ConnectorFailure]:
        """Each indexed thread's ACL from its channel's visibility and members, reading no message."""
        started = self._start()
        if isinstance(started, ConnectorFailure):
            yield started
            return
        channels = {channel.id: channel for channel in started}
        acls: dict[str, list[str] | SlackError] = {}
        for doc_id in documents:
            channel = channels.get(doc_id.split(":")[1] if doc_id.count(":") >= 2 else "")
            if channel is None:
                continue  # out of scope, archived or the bot left it: unanswered, so hidden
            if channel.id not in acls:
                try:
                    acls[channel.id] = self._acl(channel)
                except SlackError as exc:
                    acls[channel.id] = exc
            found = acls[channel.id]
            if isinstance(found, SlackError):
                message = f"members of channel {channel.id} unreadable, hidden until they can be read: {found.error}"
                yield ConnectorFailure(source=SOURCE, document_id=doc_id, message=message)
            else:
                yield DocumentAcl(document_id=doc_id, acl=found)
