"""What the identity store costs: a sync's write, and expanding a caller per request (cached and not).

``python -m askdocs.eval.bench.identity [--users 5000] [--groups 500] [--n 500] [--database-url URL]`` builds a
directory of
``users`` accounts in ``groups`` groups (each user in three groups, every group nested two levels under others),
writes it as one source's snapshot, and prints milliseconds per sync and microseconds per expansion, on SQLite in a
temporary folder unless a database URL (PostgreSQL) is given.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from pydantic import SecretStr

from askdocs.api.auth.expansion import PrincipalExpander
from askdocs.api.auth.principals import Identity
from askdocs.database import engine_for
from askdocs.eval.bench.auth import per_call_us
from askdocs.identity import IdentitySnapshot, IdentityStore
from askdocs.settings import Settings


def directory(users: int, groups: int) -> IdentitySnapshot:
    """``users`` accounts with e-mails, each in three of ``groups`` groups; group g is nested in g // 4 and g // 16."""
    snapshot = IdentitySnapshot()
    for u in range(users):
        account = f"user:confluence:acc-{u}"
        snapshot.accounts[account] = f"person{u}@kumo.example"
        for k in range(3):
            snapshot.add_member(f"group:confluence:g{(u * 7 + k * 131) % groups}", account)
    for g in range(1, groups):
        snapshot.add_member(f"group:confluence:g{g // 4}", f"group:confluence:g{g}")
        snapshot.add_member(f"group:confluence:g{g // 16}", f"group:confluence:g{g}")
    snapshot.grants = {f"space:S{g}": {f"group:confluence:g{g}"} for g in range(0, groups, 10)}
    return snapshot


def measure(users: int, groups: int, n: int, database_url: str | None) -> dict[str, float]:
    """Sync milliseconds, expansion microseconds (uncached and cached), principals a caller ends up with."""
    with tempfile.TemporaryDirectory() as folder:
        settings = Settings(data_dir=Path(folder), database_url=SecretStr(database_url) if database_url else None)
        store = IdentityStore(engine_for(settings))
        snapshot = directory(users, groups)
        started = time.perf_counter()
        store.replace("bench", snapshot)
        sync_ms = (time.perf_counter() - started) * 1e3
        people = [
            Identity(via="proxy", principals=("public", f"user:person{u}@kumo.example")) for u in range(0, users, 7)
        ]
        uncached, cached = PrincipalExpander(store, ttl_s=0), PrincipalExpander(store, ttl_s=3600)
        turn = iter(range(10**9))
        held = len(uncached.principals(people[0], {}))
        figures = {
            "sync_ms": round(sync_ms, 1),
            "expand_uncached_us": per_call_us(lambda: uncached.principals(people[next(turn) % len(people)], {}), n),
            "expand_cached_us": per_call_us(lambda: cached.principals(people[0], {}), n),
            "principals_per_caller": held,
        }
        store.forget("bench")
        return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--users", type=int, default=5000)
    parser.add_argument("--groups", type=int, default=500)
    parser.add_argument("--n", type=int, default=500, help="calls per figure")
    parser.add_argument("--database-url", default=None, help="e.g. postgresql+psycopg://user@127.0.0.1/db")
    args = parser.parse_args()
    print(json.dumps(measure(args.users, args.groups, args.n, args.database_url), indent=2))


if __name__ == "__main__":
    main()
