"""Index integrity: the index checked against what the syncs recorded, and rebuilt from the sources when it lost data.

Every sync records its source's document and chunk counts beside the checkpoints (``index-manifest.json``) and
checks them against what it did (documents before + added - deleted), then recounts the BM25 statistics. On open
(``check``) the index is compared with that record: a missing collection spec, an unreadable shard, a source whose
counts changed behind askdocs's back. ``repair`` prepares the rebuild (a damaged shard is set aside; a source that
lost documents has its remaining chunks purged; checkpoints are cleared) and marks the sources "repairing" until a
full sync of each has finished. ``health`` says, cheaply, why the index cannot be trusted right now, or None.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from askdocs.errors import IndexDamaged
from askdocs.ingest.state import CheckpointStore
from askdocs.ingest.sync import SyncReport
from askdocs.retrieval.index import Index, IndexFilter
from askdocs.retrieval.index.edge import EdgeBackend

log = logging.getLogger(__name__)
MANIFEST = "index-manifest.json"
ProblemKind = Literal["missing", "unreadable", "inconsistent", "repairing"]
# What a caller without the admin principal is told; the detail (paths, counts) is for the admin and the log.
SUMMARY: dict[ProblemKind, str] = {
    "missing": "the index is missing; it is being rebuilt from the sources",
    "unreadable": "the index is damaged; it is being rebuilt from the sources",
    "inconsistent": "the index lost documents; the affected sources are being re-read",
    "repairing": "the index is being repaired; searches may miss documents until it finishes",
}
_lock = threading.Lock()  # one read-modify-write of the manifest at a time (syncs of two sources may overlap)


@dataclass
class Problem:
    """Why the index cannot be trusted; ``source`` is the configured source affected (None: the whole index)."""

    kind: ProblemKind
    detail: str
    source: str | None = None


def _manifest_path(folder: Path) -> Path:
    return Path(folder) / MANIFEST


def _load(folder: Path) -> dict[str, dict[str, Any]]:
    """Configured source name -> {source, documents, chunks, repair}; an unreadable file is reported and ignored."""
    path = _manifest_path(folder)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        log.error(
            "integrity record %s is unreadable (%s); ignored: the next sync of each source rewrites it", path, exc
        )
        return {}
    sources = data.get("sources") if isinstance(data, dict) else None
    return {k: v for k, v in sources.items() if isinstance(v, dict)} if isinstance(sources, dict) else {}


def _save(folder: Path, sources: dict[str, dict[str, Any]]) -> None:
    path = _manifest_path(folder)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"sources": sources}, indent=1, sort_keys=True), encoding="utf-8")
    os.replace(tmp, path)


def source_counts(index: Index, source: str) -> tuple[int, int]:
    """(documents, chunks) the index holds for connector source ``source``."""
    documents = index.count_chunks(IndexFilter(sources=(source,), chunk_nos=(0,)))
    return documents, index.count_chunks(IndexFilter(sources=(source,)))


def _readable(index: Index) -> Problem | None:
    """Open the index far enough to count it; a damaged shard or spec becomes a problem."""
    try:
        if index.exists():
            index.bm25_stats()  # one point read: opens the shard
    except IndexDamaged as exc:
        return Problem("unreadable", str(exc))
    return None


def health(index: Index, folder: Path) -> Problem | None:
    """Why the index cannot be trusted now (missing, unreadable, a repair not finished), or None; no recount."""
    recorded = _load(folder)
    problem = _readable(index)
    if problem is not None:
        return problem
    if not index.exists() and any(entry.get("documents") for entry in recorded.values()):
        return Problem("missing", "the index's collection spec is gone, though syncs recorded documents")
    pending = [f"{name}: {entry['repair']}" for name, entry in sorted(recorded.items()) if entry.get("repair")]
    return Problem("repairing", "; ".join(pending)) if pending else None


def check(index: Index, folder: Path, configured: list[str], writer: bool = True) -> list[Problem]:
    """On open: the index against the record of the last syncs; the ``writer`` (the one process that writes the
    index) also recounts the BM25 statistics, fixing them."""
    whole = health(index, folder)
    if whole is not None and whole.kind != "repairing":
        return [whole]
    problems = []
    for name, entry in sorted(_load(folder).items()):
        if name not in configured:
            continue
        if entry.get("repair"):
            problems.append(Problem("repairing", str(entry["repair"]), name))
            continue
        if entry.get("running"):  # a run stopped midway: its counts are unknown; the next run resumes it
            continue
        held = source_counts(index, str(entry.get("source", name)))
        recorded = (int(entry.get("documents", 0)), int(entry.get("chunks", 0)))
        if held != recorded:
            detail = f"{name}: the index holds {held[0]} documents in {held[1]} chunks; the last sync left "
            detail += f"{recorded[0]} in {recorded[1]}"
            problems.append(Problem("inconsistent", detail, name))
    if writer:
        _recount(index)
    return problems


def _recount(index: Index, full: bool = True) -> None:
    """Recount the BM25 statistics (a scroll of every chunk's length); not ``full``: only when the stored chunk
    count disagrees with the engine's exact count, which costs one count."""
    if not full and index.exists() and index.bm25_stats()[0] == index.count_chunks():
        return
    stored, counted = index.recount_bm25_stats()
    if stored != counted:
        log.warning(
            "integrity: BM25 statistics said %d chunks of total length %d, a recount found %d and %d; corrected "
            "(chunk weights follow at the next sync of each source)", *stored, *counted,
        )  # fmt: skip


def repair(
    index: Index, folder: Path, checkpoints: CheckpointStore, problems: list[Problem], configured: list[str]
) -> list[str]:
    """Prepare full syncs that rebuild what ``problems`` affect; returns the configured sources to sync in full."""
    whole = any(p.source is None for p in problems)
    names = list(configured) if whole else sorted({p.source for p in problems if p.source})
    reason = "; ".join(p.detail for p in problems)
    backend = index.serving_backend
    if whole and isinstance(backend, EdgeBackend):
        moved = backend.set_aside()
        log.error("integrity: %s; the damaged index was moved to %s and is rebuilt from every source", reason, moved)
    with _lock:
        recorded = {} if whole else _load(folder)
        for name in names:
            entry = recorded.get(name, {})
            if not whole and entry.get("source"):
                stale = {str(p.payload["doc_id"]) for p in index.chunks(IndexFilter(sources=(str(entry["source"]),)))}
                index.delete_documents(sorted(stale))
                log.error("integrity: %s; purged %d documents of %s to re-read it in full", reason, len(stale), name)
            checkpoints.clear(name)
            recorded[name] = {**entry, "documents": 0, "chunks": 0, "repair": reason[:500]}
        _save(folder, recorded)
    _recount(index)
    return names


def before_sync(index: Index, folder: Path, name: str, source: str) -> tuple[int, Problem | None]:
    """Mark ``name``'s run as started; returns the documents the index holds for it now, and a problem when that
    is not what the last finished run left (documents lost, or written, behind askdocs's back). The record of a
    run that stopped midway proves nothing: killed runs resume and converge."""
    with _lock:
        recorded = _load(folder)
        entry = recorded.get(name)
        documents = source_counts(index, source)[0]
        problem = None
        if entry is not None and not entry.get("running") and int(entry.get("documents", 0)) != documents:
            detail = f"{name}: the index holds {documents} documents; the last sync left {entry.get('documents')}"
            problem = Problem("inconsistent", detail, name)
        recorded[name] = {**(entry or {"source": source, "documents": 0, "chunks": 0}), "running": True}
        _save(folder, recorded)
    return documents, problem


def after_sync(
    index: Index, folder: Path, name: str, source: str, report: SyncReport, full: bool, baseline: int
) -> Problem | None:
    """Record ``name``'s counts after a run and check them against ``baseline`` (``before_sync``) plus what the
    run did (a problem here means the run's own writes were lost); recount the BM25 statistics when the chunk
    count says they drifted. A run stopped by a fatal failure is recorded, not checked.

    A repair mark is cleared by a full run that was not stopped by a fatal failure and left consistent counts.
    """
    with _lock:
        recorded = _load(folder)
        entry = recorded.get(name, {})
        documents, chunks = source_counts(index, source)
        problem = None
        if report.status != "failed":
            expected = baseline + report.added - report.deleted
            if documents != expected:
                detail = (
                    f"{name}: after the sync the index holds {documents} documents, expected {expected} "
                    f"({baseline} before, {report.added} added, {report.deleted} deleted)"
                )
                problem = Problem("inconsistent", detail, name)
        repair_mark = entry.get("repair")
        if repair_mark and problem is None and full and report.status != "failed":
            log.info("integrity: %s repaired (%d documents, %d chunks)", name, documents, chunks)
            repair_mark = None
        recorded[name] = {"source": source, "documents": documents, "chunks": chunks, "repair": repair_mark}
        _save(folder, recorded)
    _recount(index, full=False)
    return problem
