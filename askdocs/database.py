"""The shared SQL store: SQLite in the data folder for the embedded default, PostgreSQL (or any SQLAlchemy URL) when
several processes or machines share one deployment. Whoever needs tables (identity store, scheduler leases) declares
them on their own ``MetaData`` and calls ``create_all`` on the engine from ``engine_for``.
"""

from __future__ import annotations

import threading
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy import create_engine as sqlalchemy_engine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.pool import NullPool

from askdocs import redaction
from askdocs.errors import ConfigError
from askdocs.settings import Settings

_ENGINES: dict[str, Engine] = {}
_LOCK = threading.Lock()


def database_url(settings: Settings) -> str:
    """The store's SQLAlchemy URL: ``database_url`` when set, else a SQLite file in ``data_dir``."""
    if settings.database_url is not None:
        return settings.database_url.get_secret_value()
    return f"sqlite:///{settings.database_path.resolve()}"


def engine_for(settings: Settings) -> Engine:
    """One engine per URL and process; ``ConfigError`` names the setting when the URL is not usable."""
    url = database_url(settings)
    with _LOCK:
        engine = _ENGINES.get(url)
        if engine is None:
            engine = _ENGINES[url] = _create(url)
        return engine


def _create(url: str) -> Engine:
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ConfigError(
            "ASKDOCS_DATABASE_URL is not a database URL; use postgresql+psycopg://user:password@host/db"
        ) from None
    if parsed.password:
        redaction.register(str(parsed.password))
    if parsed.get_backend_name() == "sqlite":
        if parsed.database:
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        # One connection per use: SQLite handles concurrency with its own file locks (WAL, busy timeout).
        # WAL is a property of the file: set once here, not on every connection (that costs 8x a connect).
        engine = sqlalchemy_engine(parsed, poolclass=NullPool, connect_args={"timeout": 30})
        with engine.connect() as connection:
            connection.exec_driver_sql("PRAGMA journal_mode=WAL")
        return engine
    try:
        return sqlalchemy_engine(parsed, pool_pre_ping=True, pool_size=5, max_overflow=10)
    except Exception as exc:  # an unknown dialect or a driver that is not installed
        raise ConfigError(f"ASKDOCS_DATABASE_URL: {type(exc).__name__}: {redaction.redact(str(exc))}") from None
