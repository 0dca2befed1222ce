"""A model switch without downtime: build a collection with other dense models from the stored chunks, then swap.

The serving collection keeps answering while the new one fills from its stored chunk text (no connector is read:
BM25 weights are recomputed from the text with the average length each chunk recorded, so they come out the same).
A record in the serving collection marks the rebuild, so syncs meanwhile write to both (``Indexer.mirror``) and a
killed rebuild resumes where it stopped. The switch waits for a running sync, copies what changed since, then
moves the alias (server) or pointer file (embedded) and the models in one step no query sees half of.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from askdocs.ingest.sync import Indexer, _stored_embed_text
from askdocs.ingest.vectors import fill_vectors, request_vectors
from askdocs.retrieval.embedders import LanguageEmbedders
from askdocs.retrieval.index import Index, IndexedChunk, IndexFilter
from askdocs.retrieval.index.bm25 import bm25_weights
from askdocs.retrieval.index.facade import record_id
from askdocs.retrieval.index.payload import ChunkPayload
from askdocs.retrieval.index.types import BM25_AVGDL

log = logging.getLogger(__name__)
REBUILD = "rebuild"  # record in the serving collection: target collection and models
MODELS = "models"  # record in every collection: the models it was built with
# Document-level payload that must agree between the two collections before the switch.
_COMPARED = ("content_hash", "acl", "url", "updated_ts", "updated_at", "source", "author", "title", "metadata")
ProgressFn = Callable[[int, int], None]


@dataclass(frozen=True)
class Models:
    """The dense model names of a collection."""

    en: str
    ja: str

    def as_record(self) -> dict[str, Any]:
        return {"embedder_en": self.en, "embedder_ja": self.ja}

    @classmethod
    def from_record(cls, record: dict[str, Any] | None) -> Models | None:
        if not record or "embedder_en" not in record:
            return None
        return cls(str(record["embedder_en"]), str(record["embedder_ja"]))


class RebuildCancelled(Exception):
    """Raised inside a rebuild that was asked to stop."""


class _OnLocations:
    """The serving ``index``, where its physical collections are, its models, and how to write into another one."""

    def __init__(
        self,
        index: Index,
        embedders: LanguageEmbedders,
        make_indexer: Callable[[Index, LanguageEmbedders], Indexer],
    ) -> None:
        if index.locations is None:
            raise ValueError("the index was not opened at a location; it cannot be rebuilt or followed")
        self.index = index
        self.locations = index.locations
        self.embedders = embedders
        self.make_indexer = make_indexer


class Reindexer(_OnLocations):
    """Rebuilds ``index`` with ``models`` (built as ``new``) and switches to it."""

    def __init__(
        self,
        index: Index,
        embedders: LanguageEmbedders,
        new: LanguageEmbedders,
        models: Models,
        make_indexer: Callable[[Index, LanguageEmbedders], Indexer],
        sync_lock: threading.Lock,
        batch_docs: int = 32,
    ) -> None:
        super().__init__(index, embedders, make_indexer)
        self.new = new
        self.models = models
        self.sync_lock = sync_lock
        self.batch_docs = batch_docs
        self.target: Indexer | None = None
        self.physical = ""
        self.stop = threading.Event()  # set to make copy() raise RebuildCancelled between batches

    def start(self) -> bool:
        """Create the new collection and mark the rebuild, or pick up the one a killed run left; True: resumed."""
        marker = self.index.record(REBUILD)
        if marker is not None and Models.from_record(marker) != self.models:
            raise ValueError(
                f"a rebuild with {marker.get('embedder_en')} / {marker.get('embedder_ja')} is under way: run the "
                "same command again to resume it, or `askdocs reindex --cancel` to discard it"
            )
        resumed = marker is not None
        self.physical = str(marker["target"]) if marker else self.locations.next_name()
        target = Index(self.locations.open(self.physical))
        self.target = self.make_indexer(target, self.new)
        self.target.ensure_index()
        target.set_record(MODELS, self.models.as_record())
        if marker is None:
            self.index.set_record(REBUILD, {"target": self.physical, **self.models.as_record()})
        log.info("rebuild into %s %s", self.physical, "resumed" if resumed else "started")
        return resumed

    def mirror(self) -> Indexer | None:
        """The indexer syncs also write to while the rebuild runs."""
        return self.target

    def copy(self, progress: ProgressFn | None = None, passes: int = 3) -> int:
        """Bring the new collection level with the serving one; returns the documents copied."""
        copied = 0
        for _ in range(passes):
            changed, gone = self._differences()
            if not changed and not gone:
                break
            assert self.target is not None
            self.target.index.delete_documents(gone)
            for start in range(0, len(changed), self.batch_docs):
                if self.stop.is_set():
                    raise RebuildCancelled("the rebuild was cancelled")
                copied += self._copy(changed[start : start + self.batch_docs])
                if progress:
                    progress(min(start + self.batch_docs, len(changed)), len(changed))
        return copied

    def switch(self, keep_old: bool = False, progress: ProgressFn | None = None) -> str:
        """Copy, then (no sync running) copy the rest and serve from the new collection; returns its name."""
        assert self.target is not None, "start() first"
        if keep_old and not self.locations.keeps_old_possible():
            raise ValueError(
                "--keep-old is not possible on the first switch of a server collection: its name becomes the alias"
            )
        self.copy(progress)
        with self.sync_lock:
            self.copy(progress)
            if self._differences() != ([], []):
                raise RuntimeError("the new collection did not converge; nothing switched (run again)")
            self.target.index.flush()
            old_physical = self.index.location or ""

            def point() -> None:
                self.locations.point_to(self.physical)
                self.embedders.adopt(self.new)

            old = self.index.switch_to(self.target.index.backend, self.physical, point)
            self.target = None
        if keep_old:
            old.delete_ids([record_id(REBUILD)])
        else:
            time.sleep(self.locations.drop_grace_s)  # other processes still serving it move over meanwhile
            self.locations.drop(old_physical, old)
        log.info("switched to %s (%s)%s", self.physical, self.models, "; old kept" if keep_old else "")
        return self.physical

    def cancel(self) -> bool:
        """Drop the rebuild's collection and its mark; False when none was under way."""
        marker = self.index.record(REBUILD)
        if marker is None:
            return False
        target = self.target.index.backend if self.target is not None else self.locations.open(str(marker["target"]))
        self.target = None
        self.locations.drop(str(marker["target"]), target)
        self.index.set_record(REBUILD, None)
        return True

    # --- copying ---
    def _differences(self) -> tuple[list[str], list[str]]:
        """Documents the new collection lacks or holds otherwise, and documents only it holds."""
        assert self.target is not None
        serving, built = _first_chunks(self.index), _first_chunks(self.target.index)
        changed = sorted(d for d, fields in serving.items() if built.get(d) != fields)
        return changed, sorted(set(built) - set(serving))

    def _copy(self, doc_ids: list[str]) -> int:
        """Embed the stored chunks of ``doc_ids`` with the new models and replace them in the new collection."""
        assert self.target is not None
        indexer = self.target
        stored = sorted(
            self.index.stored_chunks(doc_ids),
            key=lambda p: (p.payload["doc_id"], int(p.payload["chunk_no"])),
        )
        texts = [_stored_embed_text(p.payload) or "" for p in stored]
        # Every vector the new models want (the multilingual ones too); one whose model and text the serving
        # collection already stores (an unchanged model, e.g. the multilingual one) is carried over, not re-embedded.
        vectors, requests = request_vectors(self.new, [ChunkPayload.from_payload(p.payload) for p in stored], stored)
        n, total = self.index.bm25_stats()
        fallback = total / n if n else 1.0
        documents: dict[str, list[IndexedChunk]] = defaultdict(list)
        fill_vectors(vectors, requests)
        for i, point in enumerate(stored):
            payload = {k: v for k, v in point.payload.items() if k not in ("kind", "dl", BM25_AVGDL)}
            avgdl = float(point.payload.get(BM25_AVGDL) or fallback)
            terms = indexer.analyzer.terms(texts[i], payload.get("language"))
            ids, values, dl = bm25_weights(terms, avgdl, indexer.k1, indexer.b)
            document_hash = str(payload.get("embedding_hash", "")).rsplit(":", 1)[0]
            payload["embedding_hash"] = f"{document_hash}:{indexer.pipeline}"
            (name, vector), *extra = vectors[i].items()
            chunk = IndexedChunk(payload, name, vector, (ids, values), dl, avgdl, extra_dense=dict(extra))
            documents[str(payload["doc_id"])].append(chunk)
        indexer.index.write_documents(list(documents.items()))
        return len(documents)


def _first_chunks(index: Index) -> dict[str, dict[str, Any]]:
    """doc id -> the compared document-level fields of its first chunk."""
    if not index.exists():
        return {}
    points = index.backend.scroll(IndexFilter(chunk_nos=(0,)), fields=["doc_id", *_COMPARED])
    return {str(p.payload["doc_id"]): {k: p.payload.get(k) for k in _COMPARED} for p in points}


class RebuildJob:
    """A rebuild and switch in a background thread of the serving process, with its progress for a status page."""

    def __init__(self, rebuild: Reindexer, keep_old: bool) -> None:
        self.rebuild = rebuild
        self.keep_old = keep_old
        self.state = "running"
        self.done = self.total = 0
        self.error: str | None = None
        self.cancel_requested = False  # a stop without it (shutdown) keeps what was copied for a resume
        self.thread = threading.Thread(target=self._run, name="askdocs-rebuild", daemon=True)

    def status(self) -> dict[str, Any]:
        """State (running, switched, failed, cancelled, stopped), documents copied of total, target, error."""
        return {
            "state": self.state,
            "documents_copied": self.done,
            "documents_total": self.total,
            "target": self.rebuild.physical,
            "embedder_en": self.rebuild.models.en,
            "embedder_ja": self.rebuild.models.ja,
            "error": self.error,
        }

    def _progress(self, done: int, total: int) -> None:
        self.done, self.total = done, total

    def _run(self) -> None:
        try:
            self.rebuild.start()
            self.rebuild.switch(self.keep_old, self._progress)
            self.state = "switched"
        except RebuildCancelled:
            if self.cancel_requested:
                self.rebuild.cancel()
            self.state = "cancelled" if self.cancel_requested else "stopped"
        except Exception as exc:  # reported on the status page; the rebuild can be resumed or cancelled
            log.exception("rebuild failed")
            self.state, self.error = "failed", str(exc)


class Follower(_OnLocations):
    """A process that did not start a rebuild (server mode: API replicas, the scheduler) sees it through the store:
    its syncs also write to the rebuild's collection while the mark is there, and it moves to the new collection
    and models once the alias does (``follow``, called before each sync and every few seconds while serving)."""

    def __init__(
        self,
        index: Index,
        embedders: LanguageEmbedders,
        build: Callable[[Models], LanguageEmbedders],
        make_indexer: Callable[[Index, LanguageEmbedders], Indexer],
    ) -> None:
        super().__init__(index, embedders, make_indexer)
        self.build = build
        self._target: tuple[str, Indexer] | None = None
        self._lock = threading.Lock()

    def mirror(self) -> Indexer | None:
        """The rebuild's collection another process started, when the mark says there is one."""
        marker = self.index.record(REBUILD)
        models = Models.from_record(marker)
        with self._lock:
            if marker is None or models is None:
                self._target = None
                return None
            physical = str(marker["target"])
            if self._target is None or self._target[0] != physical:
                target = Index(self.locations.open(physical))
                self._target = (physical, self.make_indexer(target, self.build(models)))
            return self._target[1]

    def follow(self) -> bool:
        """Serve the collection the alias names now, with its models; True when that was a move."""
        active = self.locations.active()
        if active == self.index.location:
            return False
        backend = self.locations.open(active)
        models = Models.from_record(Index(backend).record(MODELS))
        new = self.build(models) if models is not None else None
        self.index.switch_to(backend, active, (lambda: self.embedders.adopt(new)) if new is not None else None)
        with self._lock:
            self._target = None
        log.info("followed the switch to %s", active)
        return True
