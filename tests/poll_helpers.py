"""Running a connector's poll generator to its end in a test; waiting for a condition."""

from __future__ import annotations

import time
from collections.abc import Callable, Generator
from typing import Any, TypeVar

T = TypeVar("T")
MAX_ITEMS = 10_000


def drain(gen: Generator[T, None, Any], max_items: int = MAX_ITEMS) -> tuple[list[T], Any]:
    """All items of a poll generator and its return value (the new checkpoint); fails if it never ends."""
    items: list[T] = []
    for _ in range(max_items):
        try:
            items.append(next(gen))
        except StopIteration as stop:
            return items, stop.value
    raise AssertionError(f"poll did not end within {max_items} items")


def wait_until(predicate: Callable[[], bool], timeout: float = 60.0) -> None:
    """Return once ``predicate()`` holds (checked every 0.2 s); fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError("condition not met in time")
