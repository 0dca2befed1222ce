"""The one data model both index backends speak: points, filters, hybrid queries, results."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

# Point ids are uuid5 names in this namespace (chunks: document id and number; statistics: the writer).
POINT_NAMESPACE = uuid.UUID("6f1d2c52-8a7e-4f1b-9d0e-5b8a3c1e2f40")
BM25_VECTOR = "bm25"
# Payload field: the average chunk length a chunk's BM25 weights were computed with.
BM25_AVGDL = "bm25_avgdl"

# Payload fields with a payload index (keyword/integer/float), shared by both backends.
KEYWORD_FIELDS = ("doc_id", "source", "acl", "kind", "language", "container")
INTEGER_FIELDS = ("chunk_no",)
FLOAT_FIELDS = ("updated_ts", BM25_AVGDL)


@dataclass(frozen=True)
class StorageLayout:
    """How a new collection stores its vectors and payload (``ASKDOCS_QDRANT_ON_DISK_*``, ``_QUANTIZATION``), on
    either engine; the defaults are the engine's own (vectors in RAM, payload memory-mapped). ``int8``: scalar
    quantised copies in RAM, rescored from the original vectors."""

    on_disk_vectors: bool = False
    on_disk_payload: bool = True
    quantization: Literal["none", "int8"] = "none"


DEFAULT_LAYOUT = StorageLayout()


@dataclass(frozen=True)
class CollectionSpec:
    """Named dense vectors (name -> dimension, cosine) plus the BM25 sparse vector with IDF."""

    dense: dict[str, int]


@dataclass
class IndexPoint:
    """One stored point: id (uuid string), named dense vectors, BM25 sparse vector, payload."""

    id: str
    payload: dict[str, Any]
    dense: dict[str, list[float]] = field(default_factory=dict)
    sparse: tuple[list[int], list[float]] | None = None


@dataclass(frozen=True)
class Match:
    """Payload field ``key`` holds one of ``values``."""

    key: str
    values: tuple[Any, ...]


@dataclass(frozen=True)
class Between:
    """Numeric payload field ``key`` within the given bounds (None: open on that side)."""

    key: str
    gte: float | None = None
    lte: float | None = None
    gt: float | None = None
    lt: float | None = None


@dataclass(frozen=True)
class Missing:
    """Payload field ``key`` is absent, null or empty."""

    key: str


@dataclass(frozen=True)
class AnyOf:
    """At least one of ``conditions`` holds."""

    conditions: tuple[Condition, ...]


Condition = Match | Between | Missing | AnyOf


@dataclass(frozen=True)
class IndexFilter:
    """Conditions, all of which must hold. ``acl_any``: the caller holds at least one listed principal."""

    acl_any: tuple[str, ...] | None = None
    sources: tuple[str, ...] | None = None
    containers: tuple[str, ...] | None = None
    doc_ids: tuple[str, ...] | None = None
    chunk_nos: tuple[int, ...] | None = None
    chunk_no_gte: int | None = None
    updated_gte: float | None = None
    updated_lte: float | None = None
    kind: str | None = "chunk"
    languages: tuple[str, ...] | None = None  # chunk languages ("en", "ja")
    # Chunks whose BM25 weights used an average length outside [low, high], or that did not record it.
    bm25_avgdl_outside: tuple[float, float] | None = None

    def conditions(self) -> list[Condition]:
        """The filter as engine-neutral conditions, which each backend translates to its own types."""
        out: list[Condition] = []
        matches = (
            ("kind", (self.kind,) if self.kind is not None else None),
            ("acl", self.acl_any),
            ("source", self.sources),
            ("container", self.containers),
            ("doc_id", self.doc_ids),
            ("chunk_no", self.chunk_nos),
        )
        out += [Match(key, tuple(values)) for key, values in matches if values is not None]
        if self.chunk_no_gte is not None:
            out.append(Between("chunk_no", gte=float(self.chunk_no_gte)))
        if self.updated_gte is not None or self.updated_lte is not None:
            out.append(Between("updated_ts", gte=self.updated_gte, lte=self.updated_lte))
        if self.languages is not None:
            out.append(Match("language", tuple(self.languages)))
        if self.bm25_avgdl_outside is not None:
            low, high = self.bm25_avgdl_outside
            out.append(AnyOf((Between(BM25_AVGDL, lt=low), Between(BM25_AVGDL, gt=high), Missing(BM25_AVGDL))))
        return out


@dataclass(frozen=True)
class OtherLanguageBlock:
    """Cross-lingual block of a query: chunks in ``languages`` (not the query's) ranked by multilingual vectors
    (one leg per named vector, e.g. the chunk's text and its heading trail; cosine at least ``min_score``), which
    ``dense_merge`` combines ("sum": the text's cosine plus ``trail_weight`` times each heading trail's; "max":
    the best cosine; "fusion": each is a leg of ``fusion``), fused
    with the BM25 leg, then merged with the query language's block by ``merge``: weighted RRF (``weight``
    against 1, k ``merge_k``) or DBSF."""

    dense: tuple[tuple[str, list[float]], ...]
    languages: tuple[str, ...]
    fusion: Literal["rrf", "dbsf"] = "dbsf"
    rrf_k: int = 60
    dense_weight: float = 1.0
    dense_merge: Literal["sum", "max", "fusion"] = "sum"
    trail_weight: float = 0.25  # "sum": weight of the cosines after the first (the text's)
    bm25: bool = True  # the BM25 leg ranks other-language chunks too
    min_score: float | None = None
    weight: float = 1.0
    own_weight: float = 1.0  # the query language's block's weight in the merge
    merge: Literal["rrf", "dbsf"] = "rrf"
    merge_k: int = 60


@dataclass(frozen=True)
class HybridQuery:
    """Dense leg (vector name + vector) and/or BM25 leg, fused in the engine; with ``other`` set, those legs
    serve the languages in ``filter.languages`` and ``other`` ranks the rest."""

    limit: int
    dense: tuple[str, list[float]] | None = None
    sparse: tuple[list[int], list[float]] | None = None
    filter: IndexFilter = IndexFilter()
    prefetch_limit: int = 100
    fusion: Literal["rrf", "dbsf"] = "rrf"
    rrf_k: int = 60
    dense_weight: float = 1.0
    sparse_weight: float = 1.0
    other: OtherLanguageBlock | None = None


@dataclass(frozen=True)
class ScoredPayload:
    """A query or scroll result: point id, score (0 for scrolls) and payload."""

    id: str
    score: float
    payload: dict[str, Any]


@dataclass
class StoredVectors:
    """A stored point's payload fields and its dense vectors by name (the BM25 sparse vector left out)."""

    id: str
    payload: dict[str, Any]
    dense: dict[str, list[float]]


def dense_only(vectors: Any) -> dict[str, list[float]]:
    """The named dense vectors of a stored point's vectors (the BM25 sparse vector is rebuilt from text)."""
    if not isinstance(vectors, dict):
        return {}
    return {name: list(v) for name, v in vectors.items() if name != BM25_VECTOR and isinstance(v, list)}


def ranked(results: list[ScoredPayload]) -> list[ScoredPayload]:
    """Best first, ties broken by point id, so equal fused scores come back in the same order every time."""
    return sorted(results, key=lambda r: (-r.score, r.id))


class PagedRecords:
    """What both engines share over their own paging (``_records``): payload and vector scrolls, results."""

    def _records(self, flt: IndexFilter, fields: list[str] | None, batch: int, vectors: bool) -> Iterator[Any]:
        """Every point matching ``flt``, page by page (the engine's records: id, payload, vector)."""
        raise NotImplementedError

    @staticmethod
    def _payloads(records: Iterable[Any]) -> list[ScoredPayload]:
        return [ScoredPayload(str(r.id), 0.0, dict(r.payload or {})) for r in records]

    def scroll(self, flt: IndexFilter, fields: list[str] | None = None, batch: int = 1000) -> list[ScoredPayload]:
        return self._payloads(self._records(flt, fields, batch, False))

    def scroll_vectors(self, flt: IndexFilter, fields: list[str] | None) -> list[StoredVectors]:
        return [
            StoredVectors(str(r.id), dict(r.payload or {}), dense_only(r.vector))
            for r in self._records(flt, fields, 256, True)
        ]


class IndexBackend(Protocol):
    """Storage operations, implemented once per engine (Qdrant Edge, Qdrant server)."""

    def ensure(self, spec: CollectionSpec) -> None:
        """Create the collection (and payload indexes) if missing; check vector sizes if present."""

    def dense_names(self) -> dict[str, int]:
        """Dense vector names and sizes of the existing collection ({} when none exists)."""

    def upsert(self, points: list[IndexPoint]) -> None:
        """Insert or replace points by id."""

    def delete(self, flt: IndexFilter) -> None:
        """Delete every point matching ``flt``."""

    def delete_ids(self, ids: list[str]) -> None:
        """Delete points by id."""

    def set_payload(self, flt: IndexFilter, payload: dict[str, Any]) -> None:
        """Overwrite the given payload fields of every point matching ``flt`` (vectors untouched)."""

    def retrieve(self, ids: list[str]) -> list[ScoredPayload]:
        """Points by id, with payload (missing ids are skipped)."""

    def scroll(self, flt: IndexFilter, fields: list[str] | None = None, batch: int = 1000) -> list[ScoredPayload]:
        """Every point matching ``flt``, with the given payload fields (all when None)."""

    def scroll_vectors(self, flt: IndexFilter, fields: list[str] | None) -> list[StoredVectors]:
        """``fields`` of the payload (None: all of it) and the dense vectors of every point matching ``flt``."""

    def count(self, flt: IndexFilter) -> int:
        """Exact number of points matching ``flt``."""

    def facet(self, key: str, flt: IndexFilter, limit: int) -> dict[str, int]:
        """Points matching ``flt`` per value of the keyword field ``key`` (its payload index), most first."""

    def query(self, query: HybridQuery) -> list[ScoredPayload]:
        """Run a dense, sparse or fused hybrid query, filters applied inside the engine."""

    def optimize(self) -> None:
        """Build indexes (HNSW) where the engine supports doing it on demand."""

    def flush(self) -> None:
        """Make every write so far durable on disk."""

    def close(self) -> None:
        """Flush and release resources."""
