"""API keys for services: shown once, stored only as a SHA-256 hash in SQLite, revoked by name."""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from askdocs.models import ADMIN, PUBLIC, validate_principal

PREFIX = "askd_"
NAME = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
# A key's last use is written at most this often (a busy key must not write the database on every request).
LAST_USED_EVERY = timedelta(seconds=60)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS api_keys (
    name TEXT PRIMARY KEY,
    hash TEXT NOT NULL UNIQUE,
    principals TEXT NOT NULL,
    created_at TEXT NOT NULL,
    last_used_at TEXT
)
"""


@dataclass(frozen=True)
class ApiKey:
    """A stored key (never its secret): name, the principals it carries, when made and last used."""

    name: str
    principals: tuple[str, ...]
    created_at: datetime
    last_used_at: datetime | None


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def key_principals(principals: list[str], admin: bool = False) -> tuple[str, ...]:
    """The checked principal list of a new key: ``public`` first, ``role:admin`` when ``admin``."""
    checked = [PUBLIC] + [validate_principal(p.strip()) for p in principals if p.strip() != PUBLIC]
    if admin:
        checked.append(ADMIN)
    return tuple(dict.fromkeys(checked))


class KeyStore:
    """The key table in ``path`` (SQLite, one connection per thread); every check reads the table, so a key revoked
    by another process (``askdocs keys revoke``) fails at once."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._local = threading.local()

    @contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, timeout=10)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute(_SCHEMA)
            conn.commit()
            self.path.chmod(0o600)
            self._local.conn = conn
        with conn:
            yield conn

    def create(self, name: str, principals: tuple[str, ...]) -> str:
        """Store a new key named ``name``; returns its secret, which is not kept anywhere."""
        if not NAME.match(name):
            raise ValueError(f"invalid key name {name!r}: use 1-64 letters, digits, '.', '_' or '-'")
        secret = PREFIX + secrets.token_urlsafe(32)
        now = datetime.now(UTC).isoformat()
        with self._db() as db:
            if db.execute("SELECT 1 FROM api_keys WHERE name = ?", (name,)).fetchone():
                raise ValueError(f"a key named {name!r} exists: revoke it first or choose another name")
            db.execute(
                "INSERT INTO api_keys (name, hash, principals, created_at) VALUES (?, ?, ?, ?)",
                (name, _hash(secret), json.dumps(list(principals)), now),
            )
        return secret

    def verify(self, secret: str) -> ApiKey | None:
        """The key ``secret`` belongs to (its last use recorded), or None for an unknown or revoked key."""
        digest = _hash(secret)
        now = datetime.now(UTC)
        with self._db() as db:
            row = db.execute(
                "SELECT name, principals, created_at, last_used_at FROM api_keys WHERE hash = ?", (digest,)
            ).fetchone()
            if row is None:
                return None
            db.execute(
                "UPDATE api_keys SET last_used_at = ? WHERE hash = ? AND (last_used_at IS NULL OR last_used_at < ?)",
                (now.isoformat(), digest, (now - LAST_USED_EVERY).isoformat()),
            )
        return _key(row)

    def list(self) -> list[ApiKey]:
        """Every active key, by name."""
        with self._db() as db:
            rows = db.execute("SELECT name, principals, created_at, last_used_at FROM api_keys ORDER BY name")
            return [_key(row) for row in rows.fetchall()]

    def revoke(self, name: str) -> bool:
        """Delete the key ``name``; False when there is none."""
        with self._db() as db:
            return db.execute("DELETE FROM api_keys WHERE name = ?", (name,)).rowcount > 0


def _key(row: tuple[str, str, str, str | None]) -> ApiKey:
    name, principals, created, used = row
    return ApiKey(
        name=name,
        principals=tuple(json.loads(principals)),
        created_at=datetime.fromisoformat(created),
        last_used_at=datetime.fromisoformat(used) if used else None,
    )
