"""Where a logical collection lives: the physical collection serving it, and how to point it at another.

On a Qdrant server the logical name is a collection alias (or, before the first switch, a collection of that name);
for the embedded engine a pointer file ``<name>.active`` next to the shard folders names the folder serving.
Rebuilt collections are named ``<name>--g<N>``.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from typing import Any, Protocol

from qdrant_client import QdrantClient, models

from askdocs.retrieval.index.edge import SPEC_FILE, EdgeBackend
from askdocs.retrieval.index.server import ServerBackend, ServerCollectionOptions
from askdocs.retrieval.index.types import DEFAULT_LAYOUT, StorageLayout


class Locations(Protocol):
    """The physical collections behind one logical name."""

    name: str
    # Seconds an old collection stays after a switch, for other processes to follow it (``Follower``).
    drop_grace_s: float

    def active(self) -> str:
        """The physical collection serving now."""

    def open(self, physical: str) -> Any:
        """A backend on ``physical`` (created on first ``ensure``)."""

    def exists(self, physical: str) -> bool:
        """Whether ``physical`` holds a collection."""

    def next_name(self) -> str:
        """An unused physical name for a rebuild."""

    def point_to(self, physical: str) -> None:
        """Make ``physical`` the one serving, atomically and durably."""

    def settle(self, physical: str) -> None:
        """After ``physical`` was created as the first collection: make the logical name point at it."""

    def drop(self, physical: str, backend: Any) -> None:
        """Delete ``physical`` (its ``backend`` is closed first; no one may use it any more)."""

    def keeps_old_possible(self) -> bool:
        """Whether the collection serving now can stay after a switch (a server collection named like the alias
        cannot: the alias needs the name)."""


def _next(name: str, taken: list[str]) -> str:
    found = [int(m.group(1)) for t in taken if (m := re.fullmatch(re.escape(name) + r"--g(\d+)", t))]
    return f"{name}--g{max(found, default=1) + 1}"


class EdgeLocations:
    """Shard folders under ``root``; the pointer file is replaced atomically (write, fsync, rename)."""

    drop_grace_s = 0.0  # one process holds an embedded index: nobody else to wait for

    def __init__(self, root: Path, name: str, layout: StorageLayout = DEFAULT_LAYOUT) -> None:
        self.root = Path(root)
        self.name = name
        self.layout = layout

    @property
    def _pointer(self) -> Path:
        return self.root / f"{self.name}.active"

    def active(self) -> str:
        try:
            physical = self._pointer.read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            return self.name
        return physical or self.name

    def open(self, physical: str) -> EdgeBackend:
        return EdgeBackend(self.root / physical, self.layout)

    def exists(self, physical: str) -> bool:
        return (self.root / f"{physical}.{SPEC_FILE}").exists()

    def next_name(self) -> str:
        taken = [p.name for p in self.root.iterdir()] if self.root.is_dir() else []
        return _next(self.name, taken)

    def point_to(self, physical: str) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = self._pointer.with_suffix(".tmp")
        with open(tmp, "w", encoding="utf-8") as handle:
            handle.write(physical)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, self._pointer)

    def settle(self, physical: str) -> None:
        if physical != self.name and self.active() != physical:
            self.point_to(physical)

    def drop(self, physical: str, backend: Any) -> None:
        backend.close()
        (self.root / f"{physical}.{SPEC_FILE}").unlink(missing_ok=True)
        shutil.rmtree(self.root / physical, ignore_errors=True)

    def keeps_old_possible(self) -> bool:
        return True


class ServerLocations:
    """Collections on a Qdrant server; the logical name is an alias moved in one alias update."""

    def __init__(
        self,
        client: QdrantClient,
        name: str,
        options: ServerCollectionOptions | None = None,
        drop_grace_s: float = 15.0,
    ) -> None:
        self.client = client
        self.name = name
        self.options = options or ServerCollectionOptions()
        self.drop_grace_s = drop_grace_s

    def _alias_target(self) -> str | None:
        for alias in self.client.get_aliases().aliases:
            if alias.alias_name == self.name:
                return str(alias.collection_name)
        return None

    def active(self) -> str:
        """The alias's collection; a collection named like the alias (made before aliases were used); else, for a
        new deployment, ``<name>--g1``, so that every switch, the first too, only moves the alias."""
        target = self._alias_target()
        if target is not None:
            return target
        return self.name if self.exists(self.name) else f"{self.name}--g1"

    def settle(self, physical: str) -> None:
        if physical != self.name and self._alias_target() is None:
            self.point_to(physical)

    def open(self, physical: str) -> ServerBackend:
        return ServerBackend(self.client, physical, self.options)

    def exists(self, physical: str) -> bool:
        return physical in {c.name for c in self.client.get_collections().collections}

    def next_name(self) -> str:
        return _next(self.name, [c.name for c in self.client.get_collections().collections])

    def point_to(self, physical: str) -> None:
        operations: list[Any] = []
        if self._alias_target() is not None:
            operations.append(models.DeleteAliasOperation(delete_alias=models.DeleteAlias(alias_name=self.name)))
        elif self.exists(self.name):  # the first switch: the original collection gives its name to the alias
            self.client.delete_collection(self.name)
        create = models.CreateAlias(collection_name=physical, alias_name=self.name)
        operations.append(models.CreateAliasOperation(create_alias=create))
        self.client.update_collection_aliases(change_aliases_operations=operations)

    def drop(self, physical: str, backend: Any) -> None:
        if physical != self.name or self._alias_target() is None:
            self.client.delete_collection(physical)

    def keeps_old_possible(self) -> bool:
        return self._alias_target() is not None or not self.exists(self.name)
