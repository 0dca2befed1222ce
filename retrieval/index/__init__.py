"""The index: one facade (``Index``) over Qdrant Edge and Qdrant server, one data model."""

from askdocs.retrieval.index.facade import Index, IndexedChunk, point_id
from askdocs.retrieval.index.types import (
    BM25_VECTOR,
    CollectionSpec,
    HybridQuery,
    IndexFilter,
    ScoredPayload,
    StoredVectors,
)

__all__ = [
    "BM25_VECTOR",
    "CollectionSpec",
    "HybridQuery",
    "Index",
    "IndexFilter",
    "IndexedChunk",
    "ScoredPayload",
    "StoredVectors",
    "point_id",
]
