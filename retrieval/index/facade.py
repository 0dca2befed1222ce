"""``Index``: one facade over Qdrant Edge (embedded default) and Qdrant server, chunk-level operations."""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass, field
from typing import Any

from askdocs.settings import Settings
from retrieval.index.types import (
    BM25_AVGDL,
    CollectionSpec,
    HybridQuery,
    IndexBackend,
    IndexFilter,
    IndexPoint,
    ScoredPayload,
    StoredVectors,
)

# BM25 term ids and their weights, as the engine stores a sparse vector.
SparseWeights = tuple[list[int], list[float]]

_NAMESPACE = uuid.UUID("6f1d2c52-8a7e-4f1b-9d0e-5b8a3c1e2f40")
META_ID = str(uuid.uuid5(_NAMESPACE, "askdocs:index-meta"))


def point_id(doc_id: str, chunk_no: int) -> str:
    """Deterministic point id: uuid5 of the document id and chunk number."""
    return str(uuid.uuid5(_NAMESPACE, f"{doc_id}\x00{chunk_no}"))


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

    def __init__(self, backend: IndexBackend) -> None:
        self.backend = backend
        self._writes = threading.RLock()  # one writer at a time keeps chunk sets and BM25 stats consistent

    @classmethod
    def open(cls, settings: Settings) -> Index:
        """Qdrant server when ``qdrant_url`` is set, else the embedded Edge shard under ``data_dir``."""
        if settings.qdrant_url:
            from retrieval.index.server import ServerBackend

            key = settings.qdrant_api_key.get_secret_value() if settings.qdrant_api_key else None
            return cls(ServerBackend.connect(settings.qdrant_url, settings.collection, api_key=key))
        from retrieval.index.edge import EdgeBackend

        return cls(EdgeBackend(settings.edge_path))

    def ensure(self, spec: CollectionSpec) -> None:
        """Create the collection if missing (no-op when it exists with the same vectors)."""
        self.backend.ensure(spec)

    def exists(self) -> bool:
        """Whether a collection has been created."""
        return bool(self.backend.dense_names())

    # --- BM25 statistics -------------------------------------------------------------
    def bm25_stats(self) -> tuple[int, int]:
        """(number of chunks, total analysed length) for BM25's average document length."""
        found = self.backend.retrieve([META_ID])
        if not found:
            return 0, 0
        return int(found[0].payload.get("n_chunks", 0)), int(found[0].payload.get("total_dl", 0))

    def _add_stats(self, n: int, dl: int) -> None:
        n0, dl0 = self.bm25_stats()
        payload = {"kind": "meta", "n_chunks": max(0, n0 + n), "total_dl": max(0, dl0 + dl)}
        self.backend.upsert([IndexPoint(id=META_ID, payload=payload)])

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
        return {
            str(p.payload["doc_id"]): (str(p.payload.get("content_hash", "")), str(p.payload.get("embedding_hash", "")))
            for p in self.backend.scroll(flt, fields=["doc_id", "content_hash", "embedding_hash"])
        }

    def document_hashes(self, source: str | None = None) -> dict[str, str]:
        """doc id -> content hash of every indexed document (of one source when given)."""
        flt = IndexFilter(sources=(source,) if source else None, chunk_nos=(0,))
        return {
            str(p.payload["doc_id"]): str(p.payload.get("content_hash", ""))
            for p in self.backend.scroll(flt, fields=["doc_id", "content_hash"])
        }

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

    def chunks(self, flt: IndexFilter) -> list[ScoredPayload]:
        """All chunks matching ``flt`` with their payload."""
        if not self.exists():
            return []
        return self.backend.scroll(flt)

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


def _avgdl_field(avgdl: float | None) -> dict[str, float]:
    """The payload field recording the average length BM25 weights used (none when the writer gave none)."""
    return {} if avgdl is None else {BM25_AVGDL: avgdl}
