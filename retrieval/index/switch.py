"""A backend that can be swapped for another while it serves: the atomic step of a model switch.

Every operation runs under the read side of a lock; ``switch`` takes the write side, so it waits for operations in
flight on the old collection and none starts on either until the new one is in place. A caller that must see one
collection for several operations (embed a query with a model, then search that model's vectors) holds
``reading()`` around them; the lock is reentrant for readers, so the operations inside do not wait on a switch.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any


class ReadWriteLock:
    """Many readers or one writer; a waiting writer holds off new readers (but not a thread already reading)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._readers = 0
        self._writer = False
        self._waiting_writers = 0
        self._local = threading.local()

    @contextmanager
    def read(self) -> Iterator[None]:
        depth = getattr(self._local, "depth", 0)
        if depth == 0:
            with self._cond:
                while self._writer or self._waiting_writers:
                    self._cond.wait()
                self._readers += 1
        self._local.depth = depth + 1
        try:
            yield
        finally:
            self._local.depth = depth
            if depth == 0:
                with self._cond:
                    self._readers -= 1
                    self._cond.notify_all()

    @contextmanager
    def write(self) -> Iterator[None]:
        with self._cond:
            self._waiting_writers += 1
            while self._writer or self._readers:
                self._cond.wait()
            self._waiting_writers -= 1
            self._writer = True
        try:
            yield
        finally:
            with self._cond:
                self._writer = False
                self._cond.notify_all()


class SwitchableBackend:
    """Delegates every ``IndexBackend`` operation to ``current``, which ``switch`` replaces atomically."""

    def __init__(self, backend: Any, location: str) -> None:
        self.current = backend
        self.location = location  # the physical collection (server) or shard folder name (Edge) serving now
        self.guard = ReadWriteLock()

    def __getattr__(self, name: str) -> Callable[..., Any]:
        if name.startswith("__"):
            raise AttributeError(name)

        def call(*args: Any, **kwargs: Any) -> Any:
            with self.guard.read():
                return getattr(self.current, name)(*args, **kwargs)

        return call

    def switch(self, backend: Any, location: str, during: Callable[[], None] | None = None) -> Any:
        """Serve from ``backend`` from now on; ``during`` runs first, while nothing reads (persisting the pointer,
        swapping the models): if it raises, nothing changes.

        Returns the old backend, which no operation uses any more.
        """
        with self.guard.write():
            if during is not None:
                during()
            old, self.current, self.location = self.current, backend, location
        return old
