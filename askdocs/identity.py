"""The identity store: who is who across sources, synced from the connectors, read at query time.

A connector's identity sync gives an ``IdentitySnapshot`` of one source: accounts (``user:<source>:<id>``) with the
e-mail they resolve to, groups (``group:<source>:<name>``) with their members (people, accounts or other groups), and
grants (``space:<KEY>`` -> the principals holding it). ``IdentityStore.replace`` swaps a source's snapshot in one
transaction and bumps a generation counter, so per-user caches elsewhere know to expand again. ``expand`` turns a
caller's verified principals into everything they hold: the accounts that resolve to their e-mail, every group that
contains them (transitively, cycles harmless) and the grants any of those hold.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy import Column, Engine, Integer, MetaData, String, Table, delete, insert, select, update

PUBLIC = "public"
EMAIL = re.compile(r"^[^@\s,]+@[^@\s,]+$")
MAX_DEPTH = 64  # nesting levels followed when flattening groups
_BATCH = 500  # rows per IN clause or insert

METADATA = MetaData()
ACCOUNTS = Table(
    "identity_accounts",
    METADATA,
    Column("source", String(64), primary_key=True),
    Column("account", String(300), primary_key=True),
    Column("email", String(320), nullable=False, index=True),
)
MEMBERS = Table(
    "identity_members",
    METADATA,
    Column("source", String(64), primary_key=True),
    Column("principal", String(300), primary_key=True),  # the group
    Column("member", String(330), primary_key=True, index=True),
)
GRANTS = Table(
    "identity_grants",
    METADATA,
    Column("source", String(64), primary_key=True),
    Column("principal", String(300), primary_key=True),  # what is granted, e.g. space:ENG
    Column("holder", String(330), primary_key=True, index=True),
)
GENERATION = Table(
    "identity_generation", METADATA, Column("id", Integer, primary_key=True), Column("value", Integer, nullable=False)
)


@dataclass
class IdentitySnapshot:
    """Everything one identity sync of one source found (the store replaces the source's previous snapshot)."""

    accounts: dict[str, str] = field(default_factory=dict)  # user:<source>:<id> -> e-mail (lower case)
    groups: dict[str, set[str]] = field(default_factory=dict)  # group principal -> member principals
    grants: dict[str, set[str]] = field(default_factory=dict)  # e.g. space:ENG -> principals holding it
    unresolved: set[str] = field(default_factory=set)  # accounts whose e-mail could not be found

    def add_member(self, group: str, member: str) -> None:
        """Record ``member`` (a user, account or group principal) in ``group``."""
        self.groups.setdefault(group, set()).add(member)

    def summary(self) -> str:
        """One line for logs and the CLI (counts only: no names)."""
        members = sum(len(m) for m in self.groups.values())
        return (
            f"{len(self.accounts)} accounts resolved, {len(self.unresolved)} unresolved, {len(self.groups)} groups "
            f"({members} memberships), {len(self.grants)} grants"
        )


def email_principal(principal: str) -> str | None:
    """The e-mail of a ``user:<email>`` principal, else None."""
    if principal.startswith("user:"):
        value = principal[len("user:") :]
        return value if EMAIL.match(value) else None
    return None


_REPLACED: dict[str, int] = {}  # store URL -> syncs this process made (readers here need not wait for a check)


class IdentityStore:
    """The synced identities in the shared SQL store (``askdocs.database.engine_for``)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._ready = False

    def local_syncs(self) -> int:
        """How many syncs this process has written to this store (cheap: no query)."""
        return _REPLACED.get(str(self.engine.url), 0)

    def _ensure(self) -> None:
        if not self._ready:
            METADATA.create_all(self.engine)
            self._ready = True

    def generation(self) -> int:
        """Bumped by every ``replace``: a cache of expansions made at an older generation is stale."""
        self._ensure()
        with self.engine.connect() as conn:
            return int(conn.execute(select(GENERATION.c.value).where(GENERATION.c.id == 1)).scalar() or 0)

    def replace(self, source: str, snapshot: IdentitySnapshot) -> int:
        """Make ``snapshot`` the identities of ``source`` (one transaction); returns the new generation."""
        self._ensure()
        accounts = [{"source": source, "account": a, "email": e.lower()} for a, e in snapshot.accounts.items()]
        members = [{"source": source, "principal": g, "member": m} for g, ms in snapshot.groups.items() for m in ms]
        grants = [{"source": source, "principal": p, "holder": h} for p, hs in snapshot.grants.items() for h in hs]
        with self.engine.begin() as conn:
            for table, rows in ((ACCOUNTS, accounts), (MEMBERS, members), (GRANTS, grants)):
                conn.execute(delete(table).where(table.c.source == source))
                for start in range(0, len(rows), _BATCH):
                    conn.execute(insert(table), rows[start : start + _BATCH])
            generation = self._bump(conn)
        _REPLACED[str(self.engine.url)] = self.local_syncs() + 1
        return generation

    def forget(self, source: str) -> int:
        """Drop everything synced from ``source`` (a source removed from the configuration)."""
        return self.replace(source, IdentitySnapshot())

    @staticmethod
    def _bump(conn: object) -> int:
        execute = conn.execute  # type: ignore[attr-defined]
        done = execute(update(GENERATION).where(GENERATION.c.id == 1).values(value=GENERATION.c.value + 1))
        if not done.rowcount:
            execute(insert(GENERATION).values(id=1, value=1))
        return int(execute(select(GENERATION.c.value).where(GENERATION.c.id == 1)).scalar_one())

    def synced_grants(self) -> set[str]:
        """Every principal some source grants (``space:<KEY>``…): configuration no longer decides those."""
        self._ensure()
        with self.engine.connect() as conn:
            return {str(p) for p in conn.execute(select(GRANTS.c.principal).distinct()).scalars()}

    def expand(self, principals: Iterable[str]) -> list[str]:
        """``principals`` plus the accounts resolving to their e-mails, their groups (transitively) and grants."""
        self._ensure()
        held = dict.fromkeys(principals)
        emails = [e for p in held if (e := email_principal(p))]
        with self.engine.connect() as conn:
            for account in _in(conn, select(ACCOUNTS.c.account), ACCOUNTS.c.email, emails):
                held.setdefault(account)
            frontier = [p for p in held if p != PUBLIC]  # "everyone" is nobody's group membership
            for _ in range(MAX_DEPTH):
                found = [g for g in _in(conn, select(MEMBERS.c.principal), MEMBERS.c.member, frontier) if g not in held]
                if not found:
                    break
                frontier = list(dict.fromkeys(found))
                held.update(dict.fromkeys(frontier))
            for grant in _in(conn, select(GRANTS.c.principal), GRANTS.c.holder, list(held)):
                held.setdefault(grant)
        return list(held)

    def counts(self, source: str) -> dict[str, int]:
        """Rows stored for ``source`` (for status pages: counts, never names)."""
        self._ensure()
        with self.engine.connect() as conn:
            return {
                table.name.removeprefix("identity_"): len(
                    conn.execute(select(table.c.source).where(table.c.source == source)).all()
                )
                for table in (ACCOUNTS, MEMBERS, GRANTS)
            }


def _in(conn: object, query: object, column: object, values: list[str]) -> list[str]:
    """``query`` rows (first column) where ``column`` is one of ``values``, batched."""
    out: list[str] = []
    for start in range(0, len(values), _BATCH):
        chosen = query.where(column.in_(values[start : start + _BATCH])).distinct()  # type: ignore[attr-defined]
        out.extend(str(v) for v in conn.execute(chosen).scalars())  # type: ignore[attr-defined]
    return out
