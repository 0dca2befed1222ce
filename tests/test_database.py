"""The shared SQL store: SQLite by default, a real PostgreSQL server by URL, and clear errors for a bad URL."""

from __future__ import annotations

from pathlib import Path

import pytest
from postgres_fixtures import fresh_postgres_url, postgres_url  # noqa: F401
from pydantic import SecretStr
from sqlalchemy import Column, Integer, MetaData, String, Table, insert, select

from askdocs.database import database_url, engine_for
from askdocs.errors import ConfigError
from askdocs.settings import Settings

METADATA = MetaData()
NOTES = Table("notes", METADATA, Column("id", Integer, primary_key=True), Column("text", String(100)))


def _round_trip(settings: Settings) -> list[str]:
    engine = engine_for(settings)
    METADATA.create_all(engine)
    with engine.begin() as conn:
        conn.execute(insert(NOTES).values(text="東京 and Portland"))
    with engine.connect() as conn:
        return [row.text for row in conn.execute(select(NOTES))]


def test_default_is_sqlite_in_the_data_folder(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    assert database_url(settings) == f"sqlite:///{(tmp_path / 'data' / 'askdocs.sqlite3').resolve()}"
    assert _round_trip(settings) == ["東京 and Portland"]
    assert (tmp_path / "data" / "askdocs.sqlite3").is_file()
    assert engine_for(settings) is engine_for(settings)


def test_postgresql_by_url(tmp_path: Path, fresh_postgres_url: str) -> None:  # noqa: F811
    settings = Settings(data_dir=tmp_path, database_url=SecretStr(fresh_postgres_url))
    assert engine_for(settings).dialect.name == "postgresql"
    assert _round_trip(settings) == ["東京 and Portland"]


@pytest.mark.parametrize("url", ["not a url", "nosuchdialect://host/db"])
def test_a_bad_url_names_the_setting(tmp_path: Path, url: str) -> None:
    with pytest.raises(ConfigError, match="ASKDOCS_DATABASE_URL"):
        engine_for(Settings(data_dir=tmp_path, database_url=SecretStr(url)))
