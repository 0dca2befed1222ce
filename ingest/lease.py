"""Scheduler leases in the shared SQL store: one holder per source at a time, across processes and machines.

A lease is a row (name, holder, expires_at). ``acquire`` is one conditional upsert: it inserts the row, or takes it
over when it has expired or is already ours; ``renew`` extends it only while we still hold it; ``release`` deletes
it only if it is ours. Expiry is measured by the database's clock, so the machines' clocks need not agree. A holder
that crashes stops renewing, and its lease expires ``ttl`` seconds after the last renewal.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import (
    Column,
    ColumnElement,
    Engine,
    Float,
    MetaData,
    String,
    Table,
    delete,
    literal_column,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError

from askdocs.errors import ConfigError

log = logging.getLogger(__name__)

METADATA = MetaData()
LEASES = Table(
    "scheduler_leases",
    METADATA,
    Column("name", String(200), primary_key=True),
    Column("holder", String(200), nullable=False),
    Column("expires_at", Float, nullable=False),  # epoch seconds by the database's clock
)

# The database's own clock in epoch seconds (sub-second precision).
_NOW = {
    "postgresql": "EXTRACT(EPOCH FROM clock_timestamp())",
    "sqlite": "((julianday('now') - 2440587.5) * 86400.0)",
}
_UPSERTS: dict[str, Any] = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}


def holder_id() -> str:
    """An id for this process that no other process on any machine shares."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _create_table(engine: Engine) -> None:
    """Create the table; two processes starting together may race to create it, and the loser retries once."""
    try:
        METADATA.create_all(engine)
    except DBAPIError:
        METADATA.create_all(engine)


class LeaseStore:
    """Leases for ``holder`` that last ``ttl`` seconds unless renewed."""

    def __init__(self, engine: Engine, holder: str | None = None, ttl: float = 60.0) -> None:
        dialect = engine.dialect.name
        if dialect not in _NOW:
            raise ConfigError(
                f"ASKDOCS_DATABASE_URL: scheduler leases need SQLite or PostgreSQL, not {dialect}"
            )  # fmt: skip
        if ttl <= 0:
            raise ValueError("a lease needs a positive ttl")
        self.engine, self.holder, self.ttl = engine, holder or holder_id(), ttl
        self._now: ColumnElement[float] = literal_column(_NOW[dialect], Float)
        self._insert = _UPSERTS[dialect]
        _create_table(engine)

    def acquire(self, name: str) -> bool:
        """Take the lease on ``name`` if it is free, expired or already ours; True when we hold it now."""
        expires = self._now + self.ttl
        statement = self._insert(LEASES).values(name=name, holder=self.holder, expires_at=expires)
        statement = statement.on_conflict_do_update(
            index_elements=[LEASES.c.name],
            set_={"holder": self.holder, "expires_at": expires},
            where=(LEASES.c.expires_at < self._now) | (LEASES.c.holder == self.holder),
        ).returning(LEASES.c.holder)
        with self.engine.begin() as conn:
            return conn.execute(statement).first() is not None  # a row comes back only when it was written

    def renew(self, name: str) -> bool:
        """Extend our lease on ``name`` by ``ttl``; False when it is no longer ours (taken over after expiry)."""
        statement = (
            update(LEASES)
            .where(LEASES.c.name == name, LEASES.c.holder == self.holder)
            .values(expires_at=self._now + self.ttl)
        )
        with self.engine.begin() as conn:
            return conn.execute(statement).rowcount == 1

    def release(self, name: str) -> None:
        """Give up our lease on ``name`` (nothing happens if someone else holds it)."""
        with self.engine.begin() as conn:
            conn.execute(delete(LEASES).where(LEASES.c.name == name, LEASES.c.holder == self.holder))

    def holder_of(self, name: str) -> str | None:
        """Who holds an unexpired lease on ``name`` (None when nobody does)."""
        query = select(LEASES.c.holder).where(LEASES.c.name == name, LEASES.c.expires_at >= self._now)
        with self.engine.connect() as conn:
            return conn.execute(query).scalar_one_or_none()

    @contextmanager
    def held(self, name: str) -> Iterator[Lease | None]:
        """Hold ``name`` for the block, renewed every third of ``ttl``; yields None when another holder has it."""
        if not self.acquire(name):
            yield None
            return
        lease = Lease(self, name)
        lease.start()
        try:
            yield lease
        finally:
            lease.stop()
            try:
                self.release(name)
            except Exception as exc:  # the lease then expires by itself
                log.warning("could not release the lease on %s (%s); it expires in %.0f s", name, exc, self.ttl)


class Lease:
    """A held lease, renewed in a background thread until ``stop``; ``lost`` is set if a renewal fails."""

    def __init__(self, store: LeaseStore, name: str) -> None:
        self.store, self.name = store, name
        self.lost = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._renew, name=f"askdocs-lease-{name}", daemon=True)

    def start(self) -> None:
        """Start renewing."""
        self._thread.start()

    def stop(self) -> None:
        """Stop renewing (the caller releases)."""
        self._stop.set()
        self._thread.join(self.store.ttl)

    def _renew(self) -> None:
        while not self._stop.wait(self.store.ttl / 3):
            try:
                kept = self.store.renew(self.name)
            except Exception as exc:  # the store is down: keep trying until the lease would have expired
                log.warning("renewing the lease on %s failed (%s)", self.name, exc)
                continue
            if not kept:
                log.error("the lease on %s was taken over by another scheduler; this run may overlap it", self.name)
                self.lost.set()
                return


__all__ = ["LEASES", "Lease", "LeaseStore", "holder_id"]
