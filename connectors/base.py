"""Connector capabilities, each a small protocol a connector implements if it can.

- ``LoadConnector``: yield every current document (a full load).
- ``PollConnector``: from a checkpoint, yield what changed (upserts and deletions) and *return* the
  new checkpoint from the generator, so a crash before the end never advances it.
- ``SlimConnector``: list the ids of every current document, cheaply, for pruning.

Failures are yielded as ``ConnectorFailure`` values, never raised, so one bad item does not stop a run.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator
from contextlib import contextmanager
from typing import Any, Protocol, TypeVar, runtime_checkable

from pydantic import BaseModel

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
