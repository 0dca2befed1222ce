"""``Index``: one facade over Qdrant Edge (embedded default) and Qdrant server, chunk-level operations."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import Any, cast
from urllib.parse import urlsplit, urlunsplit

from askdocs.errors import IndexUnavailable
from askdocs.retrieval.index.bm25 import STATS_FIELDS, STATS_KIND, stats_point, summed_stats
from askdocs.retrieval.index.locations import EdgeLocations, Locations, ServerLocations
from askdocs.retrieval.index.payload import ChunkPayload
from askdocs.retrieval.index.server import ServerCollectionOptions
from askdocs.retrieval.index.switch import SwitchableBackend
from askdocs.retrieval.index.types import (
    BM25_AVGDL,
    POINT_NAMESPACE,
    CollectionSpec,
    HybridQuery,
    IndexBackend,
    IndexFilter,
    IndexPoint,
    ScoredPayload,
    StorageLayout,
    StoredVectors,
)
from askdocs.settings import Settings

# BM25 term ids and their weights, as the engine stores a sparse vector.
SparseWeights = tuple[list[int], list[float]]


_STATE_FIELDS = ["doc_id", "content_hash", "embedding_hash"]


def storage_layout(settings: Settings) -> StorageLayout:
    """How new collections store vectors and payload, on either engine, as the settings name it."""
    return StorageLayout(settings.qdrant_on_disk_vectors, settings.qdrant_on_disk_payload, settings.qdrant_quantization)


def server_options(settings: Settings) -> ServerCollectionOptions:
    """The cluster layout of new collections that the settings name."""
    return ServerCollectionOptions(
        shards=settings.qdrant_shards,
        replication_factor=settings.qdrant_replication_factor,
        write_consistency=settings.qdrant_write_consistency,
        layout=storage_layout(settings),
    )


def record_id(key: str) -> str:
    """Point id of the record ``key`` (kept in the collection with ``kind: meta``)."""
    return str(uuid.uuid5(POINT_NAMESPACE, f"askdocs:record:{key}"))


def point_id(doc_id: str, chunk_no: int) -> str:
    """Deterministic point id: uuid5 of the document id and chunk number."""
    return str(uuid.uuid5(POINT_NAMESPACE, f"{doc_id}\x00{chunk_no}"))


@dataclass
class IndexedChunk:
    """A chunk ready to store: payload fields, its dense vector (by name) and BM25 weights."""

    payload: dict[str, Any]
    dense_name: str
    dense: list[float]
    sparse: tuple[list[int], list[float]]
    dl: int
    avgdl: float | None = None  # the average chunk length ``sparse`` was weighed with
    extra_dense: dict[str, list[float]] = field(default_factory=dict)  # other models' vectors (multilingual)


class Index:
    """The store of chunks: write whole documents, delete documents, run hybrid queries."""

    def __init__(self, backend: IndexBackend, locations: Locations | None = None) -> None:
        """``locations``: where the collection lives, for a model switch (the backend is then switchable)."""
        self.backend = backend
        self.locations = locations
        self._writes = threading.RLock()  # one writer at a time keeps chunk sets and BM25 stats consistent
        self.writer = uuid.uuid4().hex  # this instance's BM25 statistics point (see retrieval.index.bm25)
        self._own_stats = (0, 0)  # the running totals of this writer's changes (chunks, analysed length)

    def check(self) -> None:
        """Open the backend now (when a collection exists), so an unreachable or locked index fails here with
        ``IndexUnavailable`` / ``IndexLocked`` rather than at the first request."""
        if self.exists():
            self.backend.count(IndexFilter())

    @classmethod
    def open(cls, settings: Settings) -> Index:
        """Qdrant server when ``qdrant_url`` is set, else the embedded Edge shard under ``data_dir``; either way
        the collection that the alias (server) or pointer file (Edge) of ``settings.collection`` names."""
        locations: Locations
        if settings.qdrant_url:
            key = settings.qdrant_api_key.get_secret_value() if settings.qdrant_api_key else None
            from askdocs.retrieval.index.server import checked_client

            try:
                client = checked_client(settings.qdrant_url, api_key=key)
            except IndexUnavailable as exc:
                raise IndexUnavailable(
                    f"ASKDOCS_QDRANT_URL={_without_credentials(settings.qdrant_url)}: {exc}; start that server, fix "
                    "the URL, or unset ASKDOCS_QDRANT_URL to use the embedded index"
                ) from None
            locations = ServerLocations(client, settings.collection, server_options(settings))
        else:
            locations = EdgeLocations(settings.edge_path.parent, settings.collection, storage_layout(settings))
        return cls.at(locations)

    @classmethod
    def at(cls, locations: Locations) -> Index:
        """The index serving ``locations``' active collection, switchable to another."""
        active = locations.active()
        switchable = SwitchableBackend(locations.open(active), active)
        return cls(cast(IndexBackend, switchable), locations)

    @property
    def serving_backend(self) -> IndexBackend:
        """The backend serving now (the one inside a switchable backend)."""
        return cast(IndexBackend, self.backend.current) if isinstance(self.backend, SwitchableBackend) else self.backend

    @property
    def location(self) -> str | None:
        """The physical collection serving now (None for an index opened on a bare backend)."""
        return self.backend.location if isinstance(self.backend, SwitchableBackend) else None

    def reading(self) -> AbstractContextManager[None]:
        """Hold off a switch while several operations must see one collection (embed a query, then search)."""
        return self.backend.guard.read() if isinstance(self.backend, SwitchableBackend) else nullcontext()

    def switch_to(self, backend: IndexBackend, physical: str, during: Callable[[], None] | None = None) -> Any:
        """Serve from ``backend`` (collection ``physical``) from now on; returns the old backend, unused now."""
        if not isinstance(self.backend, SwitchableBackend):
            raise ValueError("this index was not opened at a location; it cannot switch")
        with self._writes:
            return self.backend.switch(backend, physical, during)

    # --- records kept in the collection itself ---------------------------------------
    def record(self, key: str) -> dict[str, Any] | None:
        """The record ``key`` (say, the models a collection was built with), None when absent."""
        found = self.backend.retrieve([record_id(key)])
        return {k: v for k, v in found[0].payload.items() if k != "kind"} if found else None

    def set_record(self, key: str, values: dict[str, Any] | None) -> None:
        """Store (or with None, delete) the record ``key``."""
        if values is None:
            self.backend.delete_ids([record_id(key)])
        else:
            self.backend.upsert([IndexPoint(id=record_id(key), payload={**values, "kind": "meta"})])

    def ensure(self, spec: CollectionSpec) -> None:
        """Create the collection if missing (no-op when it exists with the same vectors)."""
        self.backend.ensure(spec)
        if self.locations is not None and self.location is not None:
            self.locations.settle(self.location)

    def exists(self) -> bool:
        """Whether a collection has been created."""
        return bool(self.backend.dense_names())

    # --- BM25 statistics -------------------------------------------------------------
    def bm25_stats(self) -> tuple[int, int]:
        """(number of chunks, total analysed length) for BM25's average document length: every writer's sum."""
        if not self.exists():
            return 0, 0
        n, total = summed_stats(self.backend.scroll(IndexFilter(kind=STATS_KIND), fields=STATS_FIELDS))
        return max(0, n), max(0, total)

    def _add_stats(self, n: int, dl: int) -> None:
        """Add a change to this writer's own statistics point (commutes with every other writer's)."""
        self._own_stats = (self._own_stats[0] + n, self._own_stats[1] + dl)
        self.backend.upsert([stats_point(self.writer, *self._own_stats)])

    def recount_bm25(self) -> tuple[int, int]:
        """Make the statistics match the stored chunks again (say, after a crash between a write and its statistics):
        counts every chunk and sets this writer's own point to the difference; other writers' points are left as
        they are, so a writer that is running meanwhile is not undone. Returns the corrected (chunks, length)."""
        if not self.exists():
            return 0, 0
        with self._writes:
            lengths = [int(p.payload.get("dl", 0)) for p in self.backend.scroll(IndexFilter(), fields=["dl"])]
            others = [
                p for p in self.backend.scroll(IndexFilter(kind=STATS_KIND), fields=[*STATS_FIELDS, "writer"])
                if p.payload.get("writer") != self.writer
            ]  # fmt: skip
            n, total = summed_stats(others)
            self._own_stats = (len(lengths) - n, sum(lengths) - total)
            self.backend.upsert([stats_point(self.writer, *self._own_stats)])
        return len(lengths), sum(lengths)

    def recount_bm25_stats(self) -> tuple[tuple[int, int], tuple[int, int]]:
        """(stored, recounted) BM25 statistics; the stored ones are corrected to the recount (``recount_bm25``)."""
        if not self.exists():
            return (0, 0), (0, 0)
        with self._writes:
            return self.bm25_stats(), self.recount_bm25()

    # --- writes ----------------------------------------------------------------------
    def write_document(self, doc_id: str, chunks: list[IndexedChunk]) -> None:
        """Replace all chunks of ``doc_id`` with ``chunks``: upsert first, then drop the surplus."""
        self.write_documents([(doc_id, chunks)])

    def write_documents(self, documents: list[tuple[str, list[IndexedChunk]]]) -> None:
        """``write_document`` for a batch: one read of the old chunks, one upsert, one statistics update."""
        latest = dict(documents)  # a document given twice: its last version wins
        if not latest:
            return
        with self._writes:
            old = self.backend.scroll(IndexFilter(doc_ids=tuple(latest)), fields=["doc_id", "dl"])
            old_count: dict[str, int] = {}
            for o in old:
                old_count[o.payload["doc_id"]] = old_count.get(o.payload["doc_id"], 0) + 1
            points = [
                IndexPoint(
                    id=point_id(doc_id, c.payload["chunk_no"]),
                    payload={**c.payload, "kind": "chunk", "dl": c.dl, **_avgdl_field(c.avgdl)},
                    dense={c.dense_name: c.dense, **c.extra_dense},
                    sparse=c.sparse,
                )
                for doc_id, chunks in latest.items()
                for c in chunks
            ]
            self.backend.upsert(points)
            for doc_id, chunks in latest.items():
                if old_count.get(doc_id, 0) > len(chunks):
                    self.backend.delete(IndexFilter(doc_ids=(doc_id,), chunk_no_gte=len(chunks)))
            new_dl = sum(c.dl for chunks in latest.values() for c in chunks)
            self._add_stats(len(points) - len(old), new_dl - sum(int(o.payload.get("dl", 0)) for o in old))

    def replace_bm25(self, chunks: list[tuple[StoredVectors, SparseWeights, int]], avgdl: float) -> None:
        """Store new BM25 weights and lengths for stored chunks (from ``stored_chunks``), keeping their dense
        vectors and payload; records ``avgdl`` as the average length the weights were computed with."""
        if not chunks:
            return
        with self._writes:
            self.backend.upsert(
                [
                    IndexPoint(id=s.id, payload={**s.payload, "dl": dl, BM25_AVGDL: avgdl}, dense=s.dense, sparse=w)
                    for s, w, dl in chunks
                ]
            )
            delta = sum(dl - int(s.payload.get("dl", 0)) for s, _, dl in chunks)
            if delta:
                self._add_stats(0, delta)

    def update_document_fields(self, doc_id: str, fields: dict[str, Any]) -> None:
        """Overwrite document-level payload fields (ACL, url, times…) on every chunk; no re-embedding."""
        with self._writes:
            self.backend.set_payload(IndexFilter(doc_ids=(doc_id,)), fields)

    def delete_documents(self, doc_ids: list[str]) -> int:
        """Delete every chunk of the given documents; returns the number of chunks removed."""
        if not doc_ids:
            return 0
        flt = IndexFilter(doc_ids=tuple(doc_ids))
        with self._writes:
            old = self.backend.scroll(flt, fields=["dl"])
            if old:
                self.backend.delete(flt)
                self._add_stats(-len(old), -sum(int(o.payload.get("dl", 0)) for o in old))
        return len(old)

    # --- reads -----------------------------------------------------------------------
    def document_states(self, source: str | None = None) -> dict[str, tuple[str, str]]:
        """doc id -> (content hash, embedding hash) of every indexed document (of one source when given)."""
        flt = IndexFilter(sources=(source,) if source else None, chunk_nos=(0,))
        stored = [ChunkPayload.from_payload(p.payload) for p in self.backend.scroll(flt, fields=_STATE_FIELDS)]
        return {c.doc_id: (c.content_hash, c.embedding_hash) for c in stored}

    def document_hashes(self, source: str | None = None) -> dict[str, str]:
        """doc id -> content hash of every indexed document (of one source when given)."""
        return {doc_id: content for doc_id, (content, _) in self.document_states(source).items()}

    def stored_chunks(self, doc_ids: list[str], fields: list[str] | None = None) -> list[StoredVectors]:
        """The stored chunks of ``doc_ids`` with their dense vectors and payload ``fields`` (None: all of it)."""
        if not doc_ids or not self.exists():
            return []
        return self.backend.scroll_vectors(IndexFilter(doc_ids=tuple(doc_ids)), fields)

    def documents_weighted_off(self, avgdl: float, tolerance: float, source: str | None = None) -> list[str]:
        """Documents with a chunk whose BM25 weights used an average length off ``avgdl`` by more than
        ``tolerance`` (a share), or that predate recording it; the engine filters, so none found costs little."""
        if not self.exists():
            return []
        flt = IndexFilter(
            sources=(source,) if source else None, bm25_avgdl_outside=(avgdl * (1 - tolerance), avgdl * (1 + tolerance))
        )
        return sorted({str(p.payload["doc_id"]) for p in self.backend.scroll(flt, ["doc_id"])})

    def count_chunks(self, flt: IndexFilter | None = None) -> int:
        """Number of chunks (matching ``flt``)."""
        if not self.exists():
            return 0
        return self.backend.count(flt or IndexFilter())

    def query(self, query: HybridQuery) -> list[ScoredPayload]:
        """Run a hybrid query; an index that was never written answers no results."""
        if not self.exists():
            return []
        return self.backend.query(query)

    def facet(self, key: str, flt: IndexFilter, limit: int = 100) -> dict[str, int]:
        """Chunks matching ``flt`` per value of the keyword field ``key``, most first ({} before the first write)."""
        if not self.exists():
            return {}
        return self.backend.facet(key, flt, limit)

    def chunks(self, flt: IndexFilter, fields: list[str] | None = None) -> list[ScoredPayload]:
        """All chunks matching ``flt`` with their payload (only ``fields`` of it when given)."""
        if not self.exists():
            return []
        return self.backend.scroll(flt, fields)

    def documents(self) -> Iterator[tuple[str, str, str]]:
        """Every indexed document as (id, title, text), its chunks' texts joined in order (overlaps kept)."""
        parts: dict[str, list[tuple[int, str]]] = {}
        titles: dict[str, str] = {}
        for point in self.chunks(IndexFilter(), ["doc_id", "chunk_no", "title", "text"]):
            doc_id = str(point.payload["doc_id"])
            titles[doc_id] = str(point.payload.get("title", ""))
            parts.setdefault(doc_id, []).append((int(point.payload["chunk_no"]), str(point.payload.get("text", ""))))
        for doc_id in sorted(parts):
            yield doc_id, titles[doc_id], "\n\n".join(text for _, text in sorted(parts[doc_id]))

    def flush(self) -> None:
        """Make every write so far durable (call before committing a checkpoint)."""
        if self.exists():
            self.backend.flush()

    def optimize(self) -> None:
        """Build HNSW graphs (Edge); the server does it by itself."""
        if self.exists():
            self.backend.optimize()

    def close(self) -> None:
        """Flush and release the backend."""
        self.backend.close()


def _without_credentials(url: str) -> str:
    """``url`` without a user:password part, fit for an error message."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))


def _avgdl_field(avgdl: float | None) -> dict[str, float]:
    """The payload field recording the average length BM25 weights used (none when the writer gave none)."""
    return {} if avgdl is None else {BM25_AVGDL: avgdl}
