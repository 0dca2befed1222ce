"""Query-time expansion of a caller's principals: cached per caller, ended by an identity sync, fail closed."""

from __future__ import annotations

from pathlib import Path

from pydantic import SecretStr

from askdocs.api.auth.expansion import PrincipalExpander
from askdocs.api.auth.principals import ANONYMOUS, Identity
from askdocs.database import engine_for
from askdocs.identity import IdentitySnapshot, IdentityStore
from askdocs.settings import Settings

BOB = Identity(via="proxy", principals=("public", "user:bob@kumo.example"), email="bob@kumo.example")


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def snapshot(*members: str) -> IdentitySnapshot:
    snap = IdentitySnapshot(accounts={"user:confluence:acc-bob": "bob@kumo.example"})
    for member in members:
        snap.add_member("group:confluence:security", member)
    snap.grants["space:SEC"] = {"group:confluence:security"}
    return snap


def test_cached_per_caller_until_the_next_sync_or_the_ttl(tmp_path: Path) -> None:
    store = IdentityStore(engine_for(Settings(data_dir=tmp_path)))
    clock = Clock()
    expander = PrincipalExpander(store, ttl_s=60, clock=clock)
    expansions: list[tuple[str, ...]] = []
    real = store.expand
    store.expand = lambda principals: expansions.append(tuple(principals)) or real(principals)  # type: ignore[method-assign]
    store.replace("confluence", snapshot("user:confluence:acc-bob"))
    assert "space:SEC" in expander.principals(BOB, {})
    assert "space:SEC" in expander.principals(BOB, {}) and len(expansions) == 1, "served from the cache"
    store.replace("confluence", snapshot())  # Bob left the group: the sync ends every cached expansion
    assert "space:SEC" not in expander.principals(BOB, {}) and len(expansions) == 2
    clock.now = 61
    expander.principals(BOB, {})
    assert len(expansions) == 3, "expired after the TTL"


def test_anonymous_and_public_are_never_expanded(tmp_path: Path) -> None:
    store = IdentityStore(engine_for(Settings(data_dir=tmp_path)))
    store.replace("confluence", snapshot("public"))  # a group listing "everyone" makes nobody a member
    expander = PrincipalExpander(store, ttl_s=60)
    assert expander.principals(ANONYMOUS, {}) == ["public"]
    assert "group:confluence:security" not in expander.principals(BOB, {})


def test_synced_space_permissions_replace_the_configured_map(tmp_path: Path) -> None:
    store = IdentityStore(engine_for(Settings(data_dir=tmp_path)))
    expander = PrincipalExpander(store, ttl_s=0)
    eng = Identity(via="api-key", principals=("public", "group:eng"))
    configured = {"SEC": ["group:eng"], "HR": ["group:eng"]}
    assert {"space:SEC", "space:HR"} <= set(expander.principals(eng, configured))
    store.replace("confluence", snapshot("user:confluence:acc-bob"))
    held = expander.principals(eng, configured)
    assert "space:SEC" not in held and "space:HR" in held, "a synced space follows the source, not the map"


def test_an_unreachable_store_leaves_the_credentials_own_principals(tmp_path: Path) -> None:
    url = SecretStr("postgresql+psycopg://askdocs@127.0.0.1:1/askdocs?connect_timeout=2")
    store = IdentityStore(engine_for(Settings(data_dir=tmp_path, database_url=url)))
    expander = PrincipalExpander(store, ttl_s=60)
    assert expander.principals(BOB, {"ENG": ["user:bob@kumo.example"]}) == [
        "public",
        "user:bob@kumo.example",
        "space:ENG",
    ]
