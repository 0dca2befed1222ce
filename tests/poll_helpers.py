"""Running a connector's poll generator to its end in a test."""

from __future__ import annotations

from collections.abc import Generator
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
