"""The identity store, the same tests on SQLite (the embedded default) and on a real PostgreSQL server."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from postgres_fixtures import fresh_postgres_url, postgres_url  # noqa: F401
from pydantic import SecretStr

from askdocs.database import engine_for
from askdocs.identity import IdentitySnapshot, IdentityStore
from askdocs.settings import Settings


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> IdentityStore:
    settings = Settings(data_dir=tmp_path / "data")
    if request.param == "postgresql":
        settings = settings.model_copy(
            update={"database_url": SecretStr(request.getfixturevalue("fresh_postgres_url"))}
        )
    engine = engine_for(settings)
    assert engine.dialect.name == request.param
    return IdentityStore(engine)


def confluence() -> IdentitySnapshot:
    snap = IdentitySnapshot(
        accounts={"user:confluence:acc-bob": "Bob@Kumo.example", "user:confluence:acc-alice": "alice@kumo.example"},
        unresolved={"user:confluence:acc-ghost"},
    )
    snap.add_member("group:confluence:security", "user:confluence:acc-bob")
    snap.add_member("group:confluence:staff", "group:confluence:security")  # nested: security is in staff
    snap.add_member("group:confluence:all", "group:confluence:staff")
    snap.add_member("group:confluence:staff", "group:confluence:all")  # a cycle: harmless
    snap.add_member("group:confluence:hr", "user:confluence:acc-alice")
    snap.grants = {"space:SEC": {"group:confluence:security"}, "space:ENG": {"group:confluence:all"}}
    return snap


def test_an_email_expands_to_accounts_groups_transitively_and_grants(store: IdentityStore) -> None:
    assert store.generation() == 0
    assert store.replace("confluence", confluence()) == 1
    held = store.expand(["public", "user:bob@kumo.example", "group:idp:eng"])
    assert held[:3] == ["public", "user:bob@kumo.example", "group:idp:eng"], "what the caller brought comes first"
    assert set(held) == {
        "public",
        "user:bob@kumo.example",
        "group:idp:eng",
        "user:confluence:acc-bob",
        "group:confluence:security",
        "group:confluence:staff",
        "group:confluence:all",
        "space:SEC",
        "space:ENG",
    }
    assert "group:confluence:hr" not in store.expand(["user:bob@kumo.example"])
    assert set(store.expand(["public"])) == {"public"}, "anonymous stays public"
    assert store.synced_grants() == {"space:SEC", "space:ENG"}


def test_a_sync_replaces_one_source_and_bumps_the_generation(store: IdentityStore) -> None:
    store.replace("confluence", confluence())
    slack = IdentitySnapshot(accounts={"user:slack:U1": "bob@kumo.example"})
    slack.add_member("group:slack:S1", "user:slack:U1")
    store.replace("slack", slack)
    assert {"group:slack:S1", "group:confluence:security"} <= set(store.expand(["user:bob@kumo.example"]))
    later = confluence()
    later.groups["group:confluence:security"] = {"user:confluence:acc-alice"}  # Bob left the group
    assert store.replace("confluence", later) == 3
    held = set(store.expand(["user:bob@kumo.example"]))
    assert "group:confluence:security" not in held and "space:SEC" not in held
    assert "group:slack:S1" in held, "another source's snapshot is untouched"
    assert "space:SEC" in store.expand(["user:alice@kumo.example"])
    assert store.counts("slack") == {"accounts": 1, "members": 1, "grants": 0}
    store.forget("confluence")
    assert store.counts("confluence") == {"accounts": 0, "members": 0, "grants": 0}


def test_large_groups_and_concurrent_readers(store: IdentityStore) -> None:
    snap = IdentitySnapshot(accounts={f"user:confluence:a{i}": f"p{i}@kumo.example" for i in range(1200)})
    for i in range(1200):
        snap.add_member(f"group:confluence:g{i % 7}", f"user:confluence:a{i}")
    store.replace("confluence", snap)
    errors: list[BaseException] = []

    def read() -> None:
        try:
            for i in range(0, 1200, 150):
                assert f"group:confluence:g{i % 7}" in store.expand([f"user:p{i}@kumo.example"])
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=read) for _ in range(4)]
    for thread in threads:
        thread.start()
    store.replace("confluence", snap)  # a sync while readers expand
    for thread in threads:
        thread.join()
    assert not errors
    assert store.counts("confluence")["members"] == 1200
