"""A verified caller's principals expanded through the identity store, cached per caller for a short time.

The cache is keyed by the principals the authenticator established (so an API key made ``--as user:<email>``, a
proxy's e-mail and a signed-in person with the same e-mail and groups share an entry) and is dropped as soon as an
identity sync bumps the store's generation: at once for a sync made in this process, within ``GENERATION_CHECK_S``
for one made by another (the generation is read at most that often, so a cached request costs no query).
Anonymous callers are never expanded: they hold ``public`` only.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from sqlalchemy.exc import SQLAlchemyError

from askdocs.api.auth.principals import Identity, with_spaces
from askdocs.identity import IdentityStore

log = logging.getLogger(__name__)
MAX_ENTRIES = 10_000
GENERATION_CHECK_S = 1.0  # how stale another process's identity sync may be seen (this process's: not at all)


class PrincipalExpander:
    """``principals(identity, space_access)``: what the caller holds, for the ACL filter."""

    def __init__(self, store: IdentityStore, ttl_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.store = store
        self.ttl_s = ttl_s
        self.clock = clock
        self._cache: dict[tuple[str, ...], tuple[int, float, list[str]]] = {}
        self._lock = threading.Lock()
        self._failing = False
        # The store's generation and synced grants, read again after GENERATION_CHECK_S or a sync in this process.
        self._generation = (-1, -1, 0.0, frozenset[str]())  # generation, local syncs seen, read at, synced grants

    def _current(self, now: float) -> tuple[int, frozenset[str]]:
        generation, seen, read_at, synced = self._generation
        local = self.store.local_syncs()
        if generation < 0 or local != seen or now - read_at >= GENERATION_CHECK_S:
            generation, synced = self.store.generation(), frozenset(self.store.synced_grants())
            self._generation = (generation, local, now, synced)
        return generation, synced

    def principals(self, identity: Identity, space_access: dict[str, list[str]]) -> list[str]:
        """The caller's principals plus what the store and configured space grants give them."""
        if identity.via == "anonymous":
            return with_spaces(identity.principals, space_access)
        try:
            now = self.clock()
            generation, synced = self._current(now)
            key = identity.principals
            with self._lock:
                cached = self._cache.get(key)
            if cached is not None and cached[0] == generation and cached[1] > now:
                return cached[2]
            expanded = self.store.expand(identity.principals)
        except SQLAlchemyError as exc:  # fail closed: the caller keeps only what the credential itself carries
            if not self._failing:
                log.error("identity store unreadable (%s); callers get their own principals only", type(exc).__name__)
            self._failing = True
            return with_spaces(identity.principals, space_access)
        self._failing = False
        configured = {key: allowed for key, allowed in space_access.items() if f"space:{key}" not in synced}
        result = list(dict.fromkeys(with_spaces(tuple(expanded), configured)))
        with self._lock:
            if len(self._cache) >= MAX_ENTRIES:
                self._cache.clear()
            self._cache[key] = (generation, now + self.ttl_s, result)
        return result
