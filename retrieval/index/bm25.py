"""BM25 in one place: the weight formula, the corpus statistics and the policy that keeps old weights fresh.

The engine multiplies in IDF at query time; a chunk's stored weights hold the rest of Lucene's BM25, which depends
on the corpus's average chunk length (``avgdl``). The statistics behind it (chunk count, total analysed length) stay
exact with several writer processes on one Qdrant server because updates commute: every writer (an ``Index``
instance) owns one statistics point holding the running total of its own changes, and a read sums all of them.
Nobody reads, modifies and writes a point another writer owns. ``Index.recount_bm25`` rebuilds them from the chunks.
"""

from __future__ import annotations

import logging
import uuid
from collections import Counter
from collections.abc import Callable
from typing import Protocol

from askdocs.retrieval.analyzer import Analyzer, term_id
from askdocs.retrieval.index.types import POINT_NAMESPACE, IndexPoint, ScoredPayload, StoredVectors

log = logging.getLogger(__name__)

# A chunk's BM25 weights are rebuilt once the corpus's average chunk length is off by more than this share from
# the one they were computed with (within it, a chunk's length normalisation moves by less than 5%).
BM25_TOLERANCE = 0.05
STATS_KIND = "meta"  # the payload ``kind`` of statistics points (chunks are "chunk")
STATS_FIELDS = ["n_chunks", "total_dl"]
SparseWeights = tuple[list[int], list[float]]


def bm25_weights(
    terms: list[str], avgdl: float, k1: float = 1.2, b: float = 0.75
) -> tuple[list[int], list[float], int]:
    """Document-side weights ``tf(k1+1)/(tf+k1(1-b+b*dl/avgdl))`` of analysed ``terms``; returns (ids, values, dl)."""
    counts: Counter[int] = Counter()
    for term, n in Counter(terms).items():
        counts[term_id(term)] += n  # two terms may share an id: their counts add up
    dl = len(terms)
    norm = k1 * (1 - b + b * dl / max(avgdl, 1.0))
    ids = sorted(counts)
    return ids, [counts[i] * (k1 + 1) / (counts[i] + norm) for i in ids], dl


def average_length(stats: tuple[int, int], added_lengths: list[int]) -> float:
    """The average chunk length once chunks of ``added_lengths`` join a corpus with ``stats`` (count, total)."""
    n, total = stats
    return (total + sum(added_lengths)) / max(1, n + len(added_lengths))


def stats_point(writer: str, n_chunks: int, total_dl: int) -> IndexPoint:
    """The statistics point of ``writer``: its own running totals (negative when it deleted others' chunks)."""
    point_id = str(uuid.uuid5(POINT_NAMESPACE, f"askdocs:bm25-stats:{writer}"))
    payload = {"kind": STATS_KIND, "writer": writer, "n_chunks": n_chunks, "total_dl": total_dl}
    return IndexPoint(id=point_id, payload=payload)


def summed_stats(points: list[ScoredPayload]) -> tuple[int, int]:
    """(chunk count, total analysed length) summed over statistics points (a writer's own may be negative)."""
    n = sum(int(p.payload.get("n_chunks", 0)) for p in points)
    total = sum(int(p.payload.get("total_dl", 0)) for p in points)
    return n, total


class ReweighableIndex(Protocol):
    """What a refresh needs of the index (``Index`` has it)."""

    def bm25_stats(self) -> tuple[int, int]: ...

    def documents_weighted_off(self, avgdl: float, tolerance: float, source: str | None = None) -> list[str]: ...

    def stored_chunks(self, doc_ids: list[str], fields: list[str] | None = None) -> list[StoredVectors]: ...

    def replace_bm25(self, chunks: list[tuple[StoredVectors, SparseWeights, int]], avgdl: float) -> None: ...


def refresh_stale(
    index: ReweighableIndex,
    analyzer: Analyzer,
    text_of: Callable[[StoredVectors], str],
    k1: float,
    b: float,
    source: str | None = None,
    tolerance: float = BM25_TOLERANCE,
    batch_docs: int = 32,
) -> int:
    """Recompute the weights of chunks (of ``source``) computed with an average length now off by more than
    ``tolerance``, from their stored text (``text_of``): nothing is read from a source or embedded. Returns how many
    chunks were rewritten; the engine finds the stale ones, so a corpus with none costs one filtered scroll."""
    n, total = index.bm25_stats()
    if n == 0:
        return 0
    avgdl = total / n
    stale = index.documents_weighted_off(avgdl, tolerance, source)
    rewritten = 0
    for start in range(0, len(stale), batch_docs):
        updates: list[tuple[StoredVectors, SparseWeights, int]] = []
        for stored in index.stored_chunks(stale[start : start + batch_docs]):
            terms = analyzer.terms(text_of(stored), stored.payload.get("language"))
            ids, values, dl = bm25_weights(terms, avgdl, k1, b)
            updates.append((stored, (ids, values), dl))
        index.replace_bm25(updates, avgdl)
        rewritten += len(updates)
    if rewritten:
        log.info("%s: BM25 weights of %d chunks rebuilt for average length %.1f", source or "index", rewritten, avgdl)
    return rewritten


__all__ = [
    "BM25_TOLERANCE",
    "average_length",
    "bm25_weights",
    "refresh_stale",
    "stats_point",
    "summed_stats",
]
