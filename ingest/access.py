"""Who may read what, kept current without touching content: identity sync and permission refresh of one source.

``sync_identities`` stores a source's accounts, groups and grants in the identity store (the API expands callers
through it). ``refresh_permissions`` asks the source for the current ACL of every indexed document of that source and
rewrites the ACL payload of the chunks whose ACL changed, by document id, with no reading or embedding of content.
Fail closed: a document whose permissions cannot be read (a failure for it, a fatal failure, or no answer at all) is
hidden (``HIDDEN``) until a later refresh or sync can read them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from askdocs.connectors.base import (
    ConnectorFailure,
    DocumentAcl,
    IdentityConnector,
    PermissionConnector,
    closing_connector,
)
from askdocs.connectors.registry import build_connector
from askdocs.errors import AskdocsError
from askdocs.identity import IdentityStore
from askdocs.ingest.sources import SourceConfig
from askdocs.ingest.sync import Indexer, RunStatus, run_status
from askdocs.retrieval.index import IndexFilter
from askdocs.settings import Settings

log = logging.getLogger(__name__)
AccessKind = Literal["identity", "permissions"]
# Run one kind of access job for a source; None when its type has no such capability.
AccessRunFn = Callable[[SourceConfig, AccessKind], "AccessReport | None"]
HIDDEN = "user:askdocs:hidden"  # an ACL no caller matches
# The stored content hash after a refresh rewrote the ACL: the next sync that sees the document rewrites its fields.
REFRESHED = "acl-refreshed"


@dataclass
class AccessReport:
    """What an identity sync or a permission refresh did (counts only: no names, titles or paths)."""

    source: str
    kind: AccessKind
    checked: int = 0
    changed: int = 0
    hidden: int = 0
    generation: int | None = None
    identity: str = ""
    failures: list[ConnectorFailure] = field(default_factory=list)

    @property
    def status(self) -> RunStatus:
        return run_status(self.failures)

    def summary(self) -> str:
        """One line for logs and the CLI."""
        if self.kind == "identity":
            return f"{self.source} identities: {self.status}; {self.identity}; {len(self.failures)} failures"
        return (
            f"{self.source} permissions: {self.status}; {self.checked} documents checked, {self.changed} ACLs "
            f"rewritten, {self.hidden} hidden (permissions unreadable); {len(self.failures)} failures"
        )


def sync_identities(name: str, connector: object, store: IdentityStore) -> AccessReport:
    """Replace the identities stored for source ``name`` with what ``connector`` lists now (kept on failure)."""
    report = AccessReport(source=name, kind="identity")
    if not isinstance(connector, IdentityConnector):
        report.failures.append(ConnectorFailure(source=name, message="this source type has no identity sync"))
        return report
    try:
        snapshot = connector.identities()
    except Exception as exc:  # the connector's own error type: the stored identities stay as they were
        message = f"identity sync failed, the previous identities are kept: {type(exc).__name__}: {exc}"
        report.failures.append(ConnectorFailure(source=name, message=message, fatal=True))
        return report
    report.generation = store.replace(name, snapshot)
    report.identity = snapshot.summary()
    log.info("%s", report.summary())
    return report


def refresh_permissions(name: str, connector: object, indexer: Indexer) -> AccessReport:
    """Rewrite the ACL of every indexed document of ``connector``'s source whose permissions changed."""
    report = AccessReport(source=name, kind="permissions")
    if not isinstance(connector, PermissionConnector):
        report.failures.append(ConnectorFailure(source=name, message="this source type has no permission refresh"))
        return report
    flt = IndexFilter(sources=(connector.source,), chunk_nos=(0,))
    stored = {
        str(p.payload["doc_id"]): p.payload for p in indexer.index.chunks(flt, ["doc_id", "acl", "metadata"])
    }  # fmt: skip
    answered: dict[str, list[str]] = {}
    for item in connector.permissions({d: dict(p.get("metadata") or {}) for d, p in stored.items()}):
        if isinstance(item, DocumentAcl):
            answered.setdefault(item.document_id, item.acl)
            continue
        report.failures.append(item)
        log.warning("%s permissions: %s", name, item.message)
        if item.fatal:
            break
        if item.document_id:
            answered[item.document_id] = [HIDDEN]
    for doc_id, payload in stored.items():
        report.checked += 1
        acl = answered.get(doc_id) or [HIDDEN]  # no answer is no permission
        report.hidden += acl == [HIDDEN]
        if sorted(acl) != sorted(payload.get("acl") or []):
            indexer.set_fields(doc_id, {"acl": sorted(acl), "content_hash": REFRESHED})
            report.changed += 1
    indexer.index.flush()
    log.info("%s", report.summary())
    return report


def access_runner(indexer: Indexer, store: IdentityStore, base: Settings) -> AccessRunFn:
    """``run(source, kind)`` for the access scheduler and the CLI: build the connector, run the job, report."""

    def run(source: SourceConfig, kind: AccessKind) -> AccessReport | None:
        try:
            connector = build_connector(source.type, source.connector_config(), base)
        except AskdocsError as exc:
            report = AccessReport(source=source.name, kind=kind)
            report.failures.append(ConnectorFailure(source=source.name, message=str(exc), fatal=True))
            return report
        with closing_connector(connector):
            if kind == "identity":
                if not isinstance(connector, IdentityConnector):
                    return None
                return sync_identities(source.name, connector, store)
            if not isinstance(connector, PermissionConnector):
                return None
            return refresh_permissions(source.name, connector, indexer)

    return run
