"""Measured ideas, not defaults: fusing at the document level instead of the chunk level.

The engine fuses the two legs' *chunk* lists; a document whose best BM25 chunk and best dense chunk differ gets
no credit for agreeing. Here each leg is first collapsed to documents (best chunk), then fused client-side.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

from askdocs.eval.beir import Run, RunResult, collapse_to_documents
from askdocs.models import PUBLIC
from askdocs.retrieval.hybrid import HybridRetriever, Mode

DocScores = dict[str, float]


def _minmax(docs: DocScores) -> DocScores:
    if not docs:
        return {}
    lo, hi = min(docs.values()), max(docs.values())
    return {d: (s - lo) / (hi - lo) if hi > lo else 1.0 for d, s in docs.items()}


def _dbsf(docs: DocScores) -> DocScores:
    """Qdrant's distribution-based normalisation: (s - (mean - 3 sd)) / (6 sd), clipped to [0, 1]."""
    if len(docs) < 2:
        return dict.fromkeys(docs, 1.0)
    mean, sd = statistics.fmean(docs.values()), statistics.pstdev(docs.values())
    if sd == 0:
        return dict.fromkeys(docs, 1.0)
    return {d: min(1.0, max(0.0, (s - (mean - 3 * sd)) / (6 * sd))) for d, s in docs.items()}


def _rrf(docs: DocScores, k: int = 60) -> DocScores:
    ordered = sorted(docs, key=lambda d: (-docs[d], d))
    return {d: 1.0 / (k + i + 1) for i, d in enumerate(ordered)}


NORMALISERS: dict[str, Callable[[DocScores], DocScores]] = {"minmax": _minmax, "dbsf": _dbsf, "rrf60": _rrf}


def doc_fusion_run(
    retriever: HybridRetriever,
    queries: dict[str, str],
    method: str,
    dense_weight: float = 1.0,
    chunk_limit: int = 200,
    depth: int = 100,
    extra_ms: dict[str, float] | None = None,
) -> RunResult:
    """Each leg's chunks -> documents (best chunk), normalised by ``method``, summed (dense scaled)."""
    norm = NORMALISERS[method]
    run: Run = {}
    latencies: list[float] = []
    for qid, text in queries.items():
        start = time.perf_counter()
        legs: list[DocScores] = []
        for mode in ("bm25", "dense"):
            m: Mode = "bm25" if mode == "bm25" else "dense"
            hits = retriever.search_chunks(text, [PUBLIC], limit=chunk_limit, mode=m)
            hits = sorted(hits, key=lambda h: (-h.score, h.id))
            legs.append(norm(collapse_to_documents([(str(h.payload["doc_id"]), h.score) for h in hits], depth)))
        fused: DocScores = {}
        for weight, leg in ((1.0, legs[0]), (dense_weight, legs[1])):
            for doc_id, score in leg.items():
                fused[doc_id] = fused.get(doc_id, 0.0) + weight * score
        ranked = sorted(fused.items(), key=lambda kv: (-kv[1], kv[0]))[:depth]
        latencies.append((time.perf_counter() - start) * 1000 + (extra_ms or {}).get(text, 0.0))
        run[qid] = dict(ranked)
    return RunResult(run, latencies)
