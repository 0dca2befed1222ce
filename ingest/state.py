"""Per-source checkpoints on disk, replaced atomically so a crash never leaves a half-written one."""

from __future__ import annotations

import json
import logging
import os
import re
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)
_NAME = re.compile(r"^[A-Za-z0-9._-]{1,100}$")


class CheckpointStore:
    """One JSON file per source under ``folder``; written only after the index holds what it covers."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)

    def _path(self, source: str) -> Path:
        if not _NAME.match(source):
            raise ValueError(f"invalid source name for a checkpoint: {source!r}")
        return self.folder / f"{source}.json"

    def load(self, source: str) -> dict[str, Any] | None:
        """The stored checkpoint, or None when there is none (an unreadable file counts as none)."""
        path = self._path(source)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            log.error(
                "checkpoint %s is unreadable (%s); ignored: the next run of %s reads everything", path, exc, source
            )
            return None
        if not isinstance(data, dict):
            log.error("checkpoint %s is not a JSON object; ignored: the next run of %s reads everything", path, source)
            return None
        return data

    def save(self, source: str, checkpoint: dict[str, Any]) -> None:
        """Write ``checkpoint`` durably: temp file, fsync, rename over the old one."""
        path = self._path(source)
        self.folder.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".json.tmp")
        with open(tmp, "w", encoding="utf-8") as handle:
            json.dump(checkpoint, handle, ensure_ascii=False, sort_keys=True)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)

    def clear(self, source: str) -> None:
        """Forget the checkpoint (the next poll starts from scratch)."""
        self._path(source).unlink(missing_ok=True)
