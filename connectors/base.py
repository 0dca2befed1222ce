"""Connector capabilities, each a small protocol a connector implements if it can.

- ``LoadConnector``: yield every current document (a full load).
- ``PollConnector``: from a checkpoint, yield what changed (upserts and deletions) and *return* the
  new checkpoint from the generator, so a crash before the end never advances it.
- ``SlimConnector``: list the ids of every current document, cheaply, for pruning.
- ``IdentityConnector``: the source's accounts, groups and grants (``askdocs.identity.IdentitySnapshot``).
- ``PermissionConnector``: the current ACL of indexed documents, read without their content.

Failures are yielded as ``ConnectorFailure`` values, never raised, so one bad item does not stop a run.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator
from contextlib import contextmanager
from typing import Any, Protocol, TypeVar, runtime_checkable

from pydantic import BaseModel

from askdocs.identity import IdentitySnapshot
from askdocs.models import Document

Checkpoint = dict[str, Any]
T = TypeVar("T")


class ConnectorFailure(BaseModel):
    """Something a connector could not fetch or parse; ``document_id`` when it concerns one document."""

    source: str
    message: str
    document_id: str | None = None
    fatal: bool = False


class Skipped(BaseModel):
    """Items the source holds that the connector leaves out on purpose (not failures), counted by reason."""

    source: str
    reason: str
    count: int = 1


class DocumentDeleted(BaseModel):
    """A document that no longer exists at the source."""

    document_id: str


@runtime_checkable
class LoadConnector(Protocol):
    """Can load everything."""

    source: str

    def load_all(self) -> Iterator[Document | ConnectorFailure | Skipped]:
        """Every current document, failures and skipped items as values."""


@runtime_checkable
class PollConnector(Protocol):
    """Can fetch what changed since a checkpoint."""

    source: str

    def poll(
        self, checkpoint: Checkpoint | None
    ) -> Generator[Document | DocumentDeleted | ConnectorFailure | Skipped, None, Checkpoint]:
        """Changes since ``checkpoint`` (None: everything); the generator's return value is the new checkpoint."""


@runtime_checkable
class SlimConnector(Protocol):
    """Can list the ids of every current document."""

    source: str

    def list_ids(self) -> Iterator[str | ConnectorFailure]:
        """Ids of every current document."""


class DocumentAcl(BaseModel):
    """The principals that may read a document now (a permission refresh writes them without re-reading it)."""

    document_id: str
    acl: list[str]


@runtime_checkable
class IdentityConnector(Protocol):
    """Can list the source's accounts (with e-mails), groups with their members, and grants."""

    source: str

    def identities(self) -> IdentitySnapshot:
        """Everything the source says about who is who; raises the connector's error when it cannot be read."""


@runtime_checkable
class PermissionConnector(Protocol):
    """Can tell the current ACL of indexed documents without reading their content."""

    source: str

    def permissions(self, documents: dict[str, dict[str, Any]]) -> Iterator[DocumentAcl | ConnectorFailure]:
        """An ACL or a failure for each of ``documents`` (doc id -> stored metadata); a fatal failure: none known."""


@runtime_checkable
class Closeable(Protocol):
    """Holds resources (an HTTP client, a file); whoever builds the connector calls ``close`` after the run."""

    def close(self) -> None:
        """Release the connector's resources."""


@contextmanager
def closing_connector(connector: T) -> Iterator[T]:
    """``connector``, closed on leaving the block when it is ``Closeable`` (every runner builds connectors so)."""
    try:
        yield connector
    finally:
        if isinstance(connector, Closeable):
            connector.close()
